"""How long `attnopt report` takes over many runs, figures included, against the goal of
1,000 runs in <= 30 s on 2 cores.

    python scripts/bench_report.py                 # 1,000 runs: a Table-1-like grid, 5,000 evaluations each
    python scripts/bench_report.py --runs 300 --keep /tmp/bench_runs

`make bench` runs it (SCALE=small: 300 runs) and it writes its result to outputs/bench/report.md
(--out-dir): wall and CPU time (user + system) of each phase and the load average around them.

The runs are real run directories: one of each (landscape, optimizer, dimension) is run by attnopt
itself, then copied to further seeds (their seed and config hash rewritten), so the report reads
files of the true size and shape without spending minutes running optimizers. Prints the time of
each phase and the ratio to the goal (< 1 meets it).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
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
    p.add_argument("--out-dir", type=Path, default=Path("outputs/bench"), help="where report.md goes")
    args = p.parse_args(argv)

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_report_"))
    sweep = root / "sweep"
    if not sweep.is_dir():
        t0 = time.perf_counter()
        n = make_runs(sweep, args.runs, args.max_evals)
        print(f"made {n} run directories in {time.perf_counter() - t0:.1f} s (not part of the measurement)")
    from attnopt.report import load_runs
    from attnopt.report.build import build_report

    def cpu() -> float:
        t = os.times()  # this process: the report runs in it
        return t.user + t.system

    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), cpu()
    runs, _ = load_runs(sweep, with_history=True)
    t_load, c_load = time.perf_counter() - t0, cpu() - c0
    t0, c0 = time.perf_counter(), cpu()
    result = build_report(sweep, root / "report", progress=False)
    t_all, c_all = time.perf_counter() - t0, cpu() - c0
    load_after = os.getloadavg()
    built = sorted(Path(p).name for p in result["written"])
    print(f"{len(runs)} runs: loading {t_load:.1f} s (CPU {c_load:.1f} s); whole report (load + tables + figures + "
          f"index.html) {t_all:.1f} s (CPU {c_all:.1f} s); goal {GOAL_S:.0f} s for {GOAL_RUNS} runs")
    note = "" if len(runs) >= GOAL_RUNS else f" (measured at {len(runs)} runs; the goal is for {GOAL_RUNS})"
    ratio = t_all / GOAL_S
    print(f"ratio to goal: {ratio:.2f}{note}; < 1 meets it")
    load = f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (1-minute load average, {os.cpu_count()} cores)"
    verdict = "met" if len(runs) >= GOAL_RUNS and ratio <= 1 else ("MISSED" if ratio > 1 else "not measured at 1,000")
    text = (f"`make bench` (scripts/bench_report.py --runs {args.runs}), {time.strftime('%Y-%m-%d %H:%M')}, "
            f"load {load}:\n\n"
            "| what | wall | CPU (user + system) | goal | |\n| --- | --- | --- | --- | --- |\n"
            f"| loading {len(runs)} run directories (summary, config, history) | {t_load:.1f} s | {c_load:.1f} s | | |\n"
            f"| `attnopt report` over them: load, every table and figure, index.html | {t_all:.1f} s | {c_all:.1f} s "
            f"| {GOAL_S:.0f} s for {GOAL_RUNS:,} runs | {verdict} |\n\n"
            f"Built: {', '.join(built)}.\n")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "report.md").write_text(text)
    print(f"bench_report: wrote {args.out_dir / 'report.md'}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
