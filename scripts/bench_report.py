"""How long `attnopt report` takes over many runs, figures included, against the goal of
1,000 runs in <= 30 s on 2 cores.

    python scripts/bench_report.py                 # 1,000 runs: a Table-1-like grid, 5,000 evaluations each
    python scripts/bench_report.py --runs 300 --keep /tmp/bench_runs

The runs are real run directories: one of each (landscape, optimizer, dimension) is run by attnopt
itself, then copied to further seeds (their seed and config hash rewritten), so the report reads
files of the true size and shape without spending minutes running optimizers. Prints the time of
each phase and the ratio to the goal (< 1 meets it).
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 30.0
GOAL_RUNS = 1000


def make_runs(root: Path, n_runs: int, max_evals: int) -> int:
    from hydra import compose, initialize_config_module

    from attnopt import rundir
    from attnopt.run import build, execute

    grid = [(land, opt, dim) for land in ("sphere", "rastrigin", "ackley", "griewank")
            for opt in ("gd", "attention") for dim in (2, 5, 10, 50, 100)]
    seeds = max(1, -(-n_runs // len(grid)))
    made = 0
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        for land, opt, dim in grid:
            cfg = compose(config_name="config", overrides=[
                f"landscape={land}", f"optimizer={opt}", f"dimension={dim}", "seed=0", "budget.max_iters=null",
                f"budget.max_evals={max_evals}", "plot=false", "progress=false"])
            first = root / rundir.run_name(cfg)  # named as attnopt names run directories
            execute(build(copy.deepcopy(cfg)), first)
            made += 1
            for seed in range(1, seeds):
                if made >= n_runs:
                    break
                seeded = copy.deepcopy(cfg)
                seeded.seed = seed
                target = root / rundir.run_name(seeded)
                shutil.copytree(first, target)
                summary = json.loads((target / "summary.json").read_text())
                summary["seed"] = seed
                summary["config_hash"] = rundir.config_hash(seeded)
                (target / "summary.json").write_text(json.dumps(summary))
                text = (target / "config.yaml").read_text()
                (target / "config.yaml").write_text(text.replace("seed: 0\n", f"seed: {seed}\n", 1))
                made += 1
            if made >= n_runs:
                break
    return made


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=GOAL_RUNS)
    p.add_argument("--max-evals", type=int, default=5000, help="budget of each run (sets the history length)")
    p.add_argument("--keep", type=Path, help="write the runs here and keep them (default: a temporary directory)")
    args = p.parse_args(argv)

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_report_"))
    sweep = root / "sweep"
    if not sweep.is_dir():
        t0 = time.perf_counter()
        n = make_runs(sweep, args.runs, args.max_evals)
        print(f"made {n} run directories in {time.perf_counter() - t0:.1f} s (not part of the measurement)")
    from attnopt.report import load_runs
    from attnopt.report.build import build_report

    t0 = time.perf_counter()
    runs, _ = load_runs(sweep, with_history=True)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = build_report(sweep, root / "report", progress=False)
    t_all = time.perf_counter() - t0
    print(f"{len(runs)} runs: loading {t_load:.1f} s; whole report (load + tables + figures + index.html) "
          f"{t_all:.1f} s; goal {GOAL_S:.0f} s for {GOAL_RUNS} runs")
    note = "" if len(runs) >= GOAL_RUNS else f" (measured at {len(runs)} runs; the goal is for {GOAL_RUNS})"
    print(f"ratio to goal: {t_all / GOAL_S:.2f}{note}; < 1 meets it")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
