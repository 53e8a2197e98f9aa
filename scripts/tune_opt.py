"""Prototype/tuning harness for issue 16's optimizers, on instances the compare grid never uses.

Runs each optimizer on the compare problems with seeds >= 1000 (the grid uses 0-9, and the
rotation/shift instance is drawn from the seed, so these are other instances too) in one process,
through attnopt.minimize (the same driver and budget counting as the sweeps), and prints
solved/N and the median evaluations of solved runs, per problem, plus the ratio to cma.

    .venv/bin/python scripts/tune_opt.py --dims 10 --seeds 3 --opts cma attention_cma
    .venv/bin/python scripts/tune_opt.py --opts 'attention_cma:incpopsize=2' ...
    make tune ARGS="--dims 10 --seeds 30 --first-seed 2000 --problems trapped --opts cma hybrid_cma"

``--out FILE.csv`` also writes the rows as CSV (make tune: outputs/tune/tune.csv), the record
that docs/findings.md's "How the defaults were chosen" tables cite.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

import attnopt
from attnopt import landscapes

PROBLEMS = {
    "rastrigin": ("rastrigin", False), "rastrigin_rot": ("rastrigin", True),
    "ackley": ("ackley", False), "ackley_rot": ("ackley", True),
    "griewank": ("griewank", False), "griewank_rot": ("griewank", True),
    "trapped": ("trapped", False),
}


def parse(spec: str):
    name, _, rest = spec.partition(":")
    params = {}
    for kv in filter(None, rest.split(",")):
        k, v = kv.split("=")
        for cast in (int, float):
            try:
                v = cast(v)
                break
            except ValueError:
                pass
        if v in ("true", "false"):
            v = v == "true"
        params[k] = v
    return name, params


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", type=int, nargs="+", default=[10])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--max-evals", type=int, default=100_000)
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    ap.add_argument("--opts", nargs="+", default=["cma", "attention_cma"])
    ap.add_argument("--grad-cost", type=float, default=1.0, help="evaluations a gradient counts for in the printout")
    ap.add_argument("--out", type=Path, help="also write the rows to this CSV file")
    args = ap.parse_args()
    rows = []
    for d in args.dims:
        for prob in args.problems:
            name, rot = PROBLEMS[prob]
            med = {}
            for spec in args.opts:
                opt, params = parse(spec)
                solved, evals, evals2, t0 = 0, [], [], time.time()
                for s in range(args.first_seed, args.first_seed + args.seeds):
                    f = landscapes.make(name, d, rotate=rot, shift=rot, transform_seed=s)
                    target = (f.f_opt or 0.0) + 1e-8
                    r = attnopt.minimize(f, opt, seed=s, max_iters=None, max_evals=args.max_evals, target=target,
                                         **params)
                    if r.best_loss <= target:
                        solved += 1
                        evals.append(r.f_evals + r.g_evals)
                        evals2.append(r.f_evals + args.grad_cost * r.g_evals)
                m = float(np.median(evals)) if evals else np.nan
                med[spec] = m
                ratio = m / med[args.opts[0]] if spec != args.opts[0] else 1.0
                print(f"d={d:3d} {prob:14s} {spec:45s} {solved}/{args.seeds} median {m:9.0f} "
                      f"(g x{args.grad_cost:g}: {np.median(evals2) if evals2 else np.nan:9.0f}) ratio {ratio:5.2f} "
                      f"max {max(evals) if evals else np.nan:8.0f} {time.time() - t0:6.1f}s", flush=True)
                rows.append(dict(dim=d, problem=prob, optimizer=spec, solved=solved, runs=args.seeds,
                                 first_seed=args.first_seed, median_evals=m,
                                 median_evals_grad_cost=float(np.median(evals2)) if evals2 else np.nan,
                                 grad_cost=args.grad_cost, ratio_to_first=ratio,
                                 max_evals_solved=max(evals) if evals else np.nan))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
