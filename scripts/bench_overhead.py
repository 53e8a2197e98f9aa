"""Start-up and sweep overhead of the `attnopt` command, printed against issue 13's goals (run: `make bench`).

Each figure is measured here, now, through the installed `attnopt` command as a user would type it
(fresh output directories, so nothing is resumed), and printed beside its goal:

  attnopt --help                                                    <= 0.5 s
  attnopt run optimizer=gd landscape=sphere dimension=2 budget.max_iters=10       <= 1.5 s
  the same with plot=false                                          <= 1.0 s
  40 such runs, -m seed="range(40)", the default -m launcher: per-job overhead <= 20 ms
      (the marginal cost of a job: (wall of 40 - wall of 1) / 39, less the run's own time_s)
  the same 40 runs with the parallel launcher, 2 workers            not slower than serial
  the same 40 runs in one process (the floor)                       (no goal)
  40 runs of attention on 1000-D Rastrigin, 100 iterations, plot=false: in one process / default
      launcher / parallel launcher, 2 workers                       parallel >= 1.7x faster than one process
      (the sweeps without their end-of-sweep report, a fixed ~1 s that the runs in one process do
      not have; then the same with each other --start-methods of attnopt's workers, for comparison)
  Table 1 (`make table1`, fresh sweep dir): wall x workers / sum of the runs' time_s  <= 1.2
      and its wall time                                             (no goal)

The launchers measured are whatever `-m` uses by default and whatever --parallel names; their
Hydra `_target_` is printed, so a figure always says which launcher it is about.
Timings are the best of --repeats (the least disturbed by other processes); the machine's load
average is printed with them, since on a shared machine it, not attnopt, can dominate. Beside each
wall time is its CPU time (user + system of the command and of every process it started, workers
and forkserver included), which others' load does not inflate.
Results are also written to outputs/bench/overhead.md and overhead.json (--out-dir).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
ATTNOPT = str(Path(sys.executable).parent / "attnopt")  # the console script of this interpreter's install
SMALL_RUN = ["optimizer=gd", "landscape=sphere", "dimension=2", "budget.max_iters=10"]
HEAVY_RUN = ["optimizer=attention", "landscape=rastrigin", "dimension=1000", "budget.max_iters=100", "plot=false"]
QUIET = ["progress=false"]  # no per-run bar (the sweep's own bar goes to stderr, which is captured)


def _adopt_orphans() -> None:
    """Become the 'subreaper' of the commands run here (Linux), so that processes they start but do
    not wait for (multiprocessing's forkserver, whose forks are attnopt's workers) are reparented
    here when the command exits, and their CPU time is counted once they are reaped (_reap)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _reap(deadline_s: float = 30.0) -> None:
    """Wait for every descendant left behind by the last command (see _adopt_orphans)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def machine_busy_s() -> float | None:
    """CPU seconds every process on the machine has used since boot (Linux /proc/stat: user, nice,
    system, irq, softirq), or None where there is no /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return sum(int(v) for v in fields[1:4] + fields[6:8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_cpu_s() -> float:
    """CPU seconds of this process and of every process it started and reaped."""
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


class OthersLoad:
    """How much CPU other processes used while the benchmark ran: the machine's CPU time less the
    benchmark's own. The load average cannot say it: the benchmark's own 2-worker sweeps keep two
    cores busy, so on a 2-core machine the load average after them says "busy" by itself."""

    def __init__(self):
        self.start, self.machine0, self.own0 = time.perf_counter(), machine_busy_s(), own_cpu_s()

    def cores(self) -> float | None:
        """Others' average use, in cores, since this was made (None without /proc/stat)."""
        machine = machine_busy_s()
        if machine is None or self.machine0 is None:
            return None
        others = (machine - self.machine0) - (own_cpu_s() - self.own0)
        return max(others, 0.0) / max(time.perf_counter() - self.start, 1e-9)


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the command and of every process it started).
    CPU time is what the command costs on an idle machine; wall time is also what others' load adds."""
    cpu = lambda: sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in ("ru_utime", "ru_stime"))
    cpu0, start = cpu(), time.perf_counter()
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    _reap()
    used = cpu() - cpu0
    if out.returncode != 0:
        raise SystemExit(f"bench_overhead: `{shlex.join(command)}` failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return elapsed, used


def wall(command: list[str], cwd: Path) -> float:
    return timed(command, cwd)[0]


class Fresh:
    """Numbered fresh directories under one temporary root, so no run is ever resumed."""

    def __init__(self, root: Path):
        self.root, self.n = root, 0

    def __call__(self, stem: str) -> Path:
        self.n += 1
        return self.root / f"{stem}_{self.n}"


def best_of(repeats: int, measure) -> float:
    return min(measure() for _ in range(repeats))


def run_times(sweep_dir: Path) -> list[float]:
    """The runs' own time_s, from every summary.json under a sweep directory."""
    return [json.loads(p.read_text())["time_s"] for p in sweep_dir.rglob("summary.json")]


def sweep(cwd: Path, sweep_dir: Path, job: list[str], seeds: int, launcher: list[str]) -> tuple[float, list[float], float]:
    """(wall seconds, the runs' own time_s, CPU seconds of the sweep and its workers)."""
    command = [ATTNOPT, "run", "-m", *job, *QUIET, f"seed=range({seeds})", *launcher, f"hydra.sweep.dir={sweep_dir}"]
    elapsed, used = timed(command, cwd)
    times = run_times(sweep_dir)
    if len(times) != seeds:
        raise SystemExit(f"bench_overhead: {sweep_dir} holds {len(times)} complete runs, expected {seeds}")
    return elapsed, times, used


def launcher_target(cwd: Path, launcher: list[str]) -> str:
    out = subprocess.run([ATTNOPT, "run", *SMALL_RUN, *launcher, "--cfg", "hydra", "-p", "hydra.launcher"],
                         cwd=cwd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.strip().startswith("_target_:"):
            return line.split(":", 1)[1].strip().rsplit(".", 1)[-1]
    return "unknown"


def in_process(job: list[str], seeds, barrier=None, cpu: Optional[list] = None) -> float:
    """The same runs through the library in this process: configs composed and built first, only
    the runs timed (attnopt.minimize's own loop, attnopt.runner.run). ``seeds``: a count or the
    seeds themselves; ``barrier``: waited on before the clock starts (processes timed together);
    ``cpu``: a list the timed runs' CPU seconds are appended to."""
    from hydra import compose, initialize_config_module

    from attnopt.run import build
    from attnopt.runner import run

    seeds = range(seeds) if isinstance(seeds, int) else seeds
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        specs = [build(compose(config_name="config", overrides=[*job, f"seed={s}"])) for s in seeds]
    run(specs[0].landscape, specs[0].optimizer, x0=specs[0].x0, seed=specs[0].seed, budget=specs[0].budget,
        arrays=specs[0].arrays)  # untimed: first calls' caches, as a long-lived worker has them
    if barrier is not None:
        barrier.wait()
    start, start_cpu = time.perf_counter(), time.process_time()
    for spec in specs:
        run(spec.landscape, spec.optimizer, x0=spec.x0, seed=spec.seed, budget=spec.budget, arrays=spec.arrays)
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


def _in_process_share(job, seeds, barrier, results) -> None:
    cpu: list = []
    wall = in_process(job, seeds, barrier, cpu)
    results.put((wall, cpu[0]))


def in_processes(job: list[str], seeds: int, workers: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all) for the same runs split over ``workers`` processes that run
    at the same time, each in the library with nothing else (no CLI, no launcher): what the machine
    itself allows ``workers`` processes, i.e. the ceiling of any launcher's speed-up (two cores that
    share caches and memory bandwidth, or a hypervisor's, do not double the work done)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    shares = [list(range(seeds))[k::workers] for k in range(workers)]
    processes = [ctx.Process(target=_in_process_share, args=(job, share, barrier, results)) for share in shares]
    for process in processes:
        process.start()
    barrier.wait()
    measured = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return max(wall for wall, _ in measured), sum(cpu for _, cpu in measured)


def figure_costs(out_dir: Path, repeats: int = 20) -> tuple[float, float]:
    """(CPU seconds to draw and save the per-run loss.png (Pillow, attnopt.plotting) in a process
    that has drawn one before; the same for a bare matplotlib Axes with one line: matplotlib's
    floor for any PNG with axes, the reason loss.png is not drawn with it), medians."""
    import numpy as np
    from matplotlib.figure import Figure

    from attnopt import io
    from attnopt.plotting import loss_figure

    def median_cpu(draw) -> float:
        draw(0)  # the first draw pays for fonts and caches, once per process
        costs = []
        for i in range(1, repeats + 1):
            start = time.process_time()
            draw(i)
            costs.append(time.process_time() - start)
        return float(np.median(costs))

    n = np.arange(11)
    history = lambda i: {"iter": n, "loss": 16.0 * 0.5 ** (n + i), "best_loss": 16.0 * 0.5 ** (n + i),
                         "f_evals": n + 1, "g_evals": n + 1}
    loss_png = median_cpu(lambda i: io.atomic_write(out_dir / "loss.png",
                                                    loss_figure(history(i), f"gd, seed={i}", 0.0).save))
    fig = Figure(figsize=(7, 4.2), dpi=100)
    ax = fig.subplots()
    (line,) = ax.plot(n, n * 1.0)

    def bare(i):
        line.set_ydata(n * (i + 1.0))
        ax.relim()
        ax.autoscale_view()
        fig.savefig(out_dir / "bare.png", dpi="figure")

    return loss_png, median_cpu(bare)


class Table:
    def __init__(self):
        self.rows: list[dict] = []

    def add(self, what: str, measured: str, goal: str = "", verdict: str = "", value: float | None = None):
        self.rows.append({"what": what, "measured": measured, "goal": goal, "verdict": verdict, "value": value})
        print(f"  {what:<62} {measured:<34} {goal:<22} {verdict}", flush=True)

    def limit(self, what: str, value: float, goal: float, unit: str = "s", detail: str = ""):
        shown = f"{value * 1000:.1f} ms" if unit == "ms" else f"{value:.2f} s"
        goal_shown = f"<= {goal * 1000:.0f} ms" if unit == "ms" else f"<= {goal} s"
        self.add(what, f"{shown}{detail}", goal_shown, "met" if value <= goal else "MISSED", value)

    def ratio(self, what: str, value: float, goal: float, at_least: bool, detail: str = ""):
        met = value >= goal if at_least else value <= goal
        self.add(what, f"{value:.2f}x{detail}", f"{'>=' if at_least else '<='} {goal}x", "met" if met else "MISSED",
                 value)

    def markdown(self) -> str:
        lines = ["| what | measured | goal | |", "| --- | --- | --- | --- |"]
        lines += [f"| {r['what']} | {r['measured']} | {r['goal']} | {r['verdict']} |" for r in self.rows]
        return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each short command (best is kept)")
    parser.add_argument("--sweep-repeats", type=int, default=1, help="repeats of each 40-run sweep")
    parser.add_argument("--seeds", type=int, default=40, help="runs per sweep (the issue's 40)")
    parser.add_argument("--parallel", default="hydra/launcher=parallel hydra.launcher.n_jobs=2",
                        help="overrides naming the parallel launcher and its 2 workers")
    parser.add_argument("--workers", type=int, default=2, help="workers of --parallel and of make table1 (JOBS)")
    parser.add_argument("--scale", default="full",
                        help="make table1 SCALE: full, small, or both as small,full (each timed)")
    parser.add_argument("--skip-heavy", action="store_true", help="skip the 40 attention runs at d=1000")
    parser.add_argument("--skip-table1", action="store_true", help="skip make table1 (minutes at SCALE=full)")
    parser.add_argument("--start-methods", default="forkserver,spawn,fork",
                        help="worker start methods of attnopt's launcher to compare on the heavy runs ('' to skip)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "outputs" / "bench")
    args = parser.parse_args()
    parallel = shlex.split(args.parallel)
    n = args.seeds

    _adopt_orphans()
    tmp_root = Path(tempfile.mkdtemp(prefix="attnopt-bench-"))
    fresh = Fresh(tmp_root)
    load_before = os.getloadavg()
    others_load = OthersLoad()
    print(f"bench_overhead: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} (1 min); "
          f"outputs under {tmp_root}", flush=True)
    serial_name = launcher_target(tmp_root, [])
    parallel_name = launcher_target(tmp_root, parallel)
    print(f"  default -m launcher: {serial_name}; parallel: {parallel_name} ({args.parallel})", flush=True)
    table = Table()

    # 1. start-up of the command itself, also as a multiple of the least any Python command costs
    # here (an interpreter importing numpy: ~0.09 s on an idle 2-core machine), which says how much
    # of a figure is this machine's current speed rather than attnopt
    results = [timed([sys.executable, "-c", "import numpy"], tmp_root) for _ in range(args.repeats)]
    reference = min(r[0] for r in results)
    table.add("reference: `python -c 'import numpy'`", f"{reference:.2f} s (CPU {min(r[1] for r in results):.2f} s)")

    def startup(what: str, command_of, goal: float):
        results = [timed(command_of(), tmp_root) for _ in range(args.repeats)]
        elapsed, used = min(r[0] for r in results), min(r[1] for r in results)
        table.limit(what, elapsed, goal, detail=f" (CPU {used:.2f} s; {elapsed / reference:.1f}x the reference)")

    startup("`attnopt --help`", lambda: [ATTNOPT, "--help"], 0.5)
    single = [ATTNOPT, "run", *SMALL_RUN, *QUIET]
    startup("`attnopt run " + " ".join(SMALL_RUN) + "`", lambda: [*single, f"hydra.run.dir={fresh('run')}"], 1.5)
    startup("the same with plot=false", lambda: [*single, "plot=false", f"hydra.run.dir={fresh('run')}"], 1.0)

    # 2. 40 cheap runs: what a job costs beyond its own run, per launcher
    def per_job(job: list[str], launcher: list[str], label: str) -> float:
        ones = [sweep(tmp_root, fresh("one"), job, 1, launcher) for _ in range(args.sweep_repeats)]
        one, _, one_cpu = min(ones, key=lambda r: r[0])
        results = [sweep(tmp_root, fresh("sweep"), job, n, launcher) for _ in range(args.sweep_repeats)]
        many, times, many_cpu = min(results, key=lambda r: r[0])
        run_s = sum(times) / len(times)
        overhead = (many - one) / (n - 1) - run_s
        cpu_overhead = (many_cpu - one_cpu) / (n - 1) - run_s
        table.limit(f"{n} runs as -m seed=range({n}), {label}: per-job overhead", overhead, 0.020, unit="ms",
                    detail=f" (CPU {cpu_overhead * 1000:.1f} ms; {many:.2f} s in all, CPU {many_cpu:.2f} s; "
                           f"1 run: {one:.2f} s, CPU {one_cpu:.2f} s)")
        return many

    loss_png, bare = figure_costs(tmp_root)
    table.add("loss.png (Pillow) drawn and saved in a process that drew one before (CPU, median)",
              f"{loss_png * 1000:.1f} ms")
    table.add("  for comparison, matplotlib's floor: a bare Axes with one line, saved", f"{bare * 1000:.1f} ms")
    serial_wall = per_job(SMALL_RUN, [], serial_name)
    per_job([*SMALL_RUN, "plot=false"], [], f"{serial_name}, plot=false")
    parallel_runs = [sweep(tmp_root, fresh("par"), SMALL_RUN, n, parallel) for _ in range(args.sweep_repeats)]
    parallel_wall, _, parallel_cpu = min(parallel_runs, key=lambda r: r[0])
    table.ratio(f"the same {n} runs, {parallel_name} with {args.workers} workers, vs {serial_name}",
                parallel_wall / serial_wall, 1.0, at_least=False,
                detail=f" ({parallel_wall:.2f} s, CPU {parallel_cpu:.2f} s, vs {serial_wall:.2f} s)")
    table.add(f"the same {n} runs in one process (the floor)", f"{in_process(SMALL_RUN, n):.3f} s")

    # 3. runs heavy enough for the parallel launcher to pay off. The end-of-sweep report (a fixed
    # ~1 s, the same for every launcher, and nothing the runs in one process do) is left out here;
    # the rows above include it.
    if not args.skip_heavy:
        heavy = [*HEAVY_RUN, "hydra.callbacks.report.report=false"]
        floor_cpu: list = []
        floor = in_process(HEAVY_RUN, n, cpu=floor_cpu)
        serial_heavy, times, serial_heavy_cpu = sweep(tmp_root, fresh("heavy"), heavy, n, [])
        table.add(f"{n} runs of attention, rastrigin d=1000, 100 iters, plot=false: in one process",
                  f"{floor:.2f} s (CPU {floor_cpu[0]:.2f} s; {floor / n:.3f} s a run)")
        table.add(f"  the same through {serial_name}, no report", f"{serial_heavy:.2f} s (CPU {serial_heavy_cpu:.2f} s)")
        # What no launcher can remove: a sweep's fixed cost (the command's start, composing and
        # validating, the run directory), measured as a 1-run sweep less its run. With it, perfect
        # workers give at best floor / (floor / workers + fixed): the ceiling the goal is held against.
        one_wall, one_times, _ = sweep(tmp_root, fresh("heavy_one"), heavy, 1, [])
        fixed = max(one_wall - sum(one_times), 0.0)
        table.add(f"  a sweep's fixed cost (a 1-run sweep less its run's time_s)", f"{fixed:.2f} s")
        table.add(f"  the best {args.workers} perfect workers could do: floor / (floor / {args.workers} + fixed cost)",
                  f"{floor / (floor / args.workers + fixed):.2f}x")
        machine, machine_cpu = in_processes(HEAVY_RUN, n, args.workers)
        table.add(f"  the same runs in {args.workers} library processes at once, nothing else (the machine's "
                  f"own ceiling)", f"{floor / machine:.2f}x ({machine:.2f} s: each run {machine * args.workers / n:.3f} s "
                                   f"while {args.workers} run, {floor / n:.3f} s alone; CPU {machine_cpu:.2f} s, alone "
                                   f"{floor_cpu[0]:.2f} s)")
        table.add(f"  the best {args.workers} workers can do on this machine: floor / (that + fixed cost)",
                  f"{floor / (machine + fixed):.2f}x")
        methods = [m for m in args.start_methods.split(",") if m] or [None]
        for method in methods:  # the first is the launcher's default; the others are for comparison
            extra = [f"hydra.launcher.start_method={method}"] if method else []
            elapsed, _, used = sweep(tmp_root, fresh("heavy_par"), heavy, n, [*parallel, *extra])
            what = f"  the same through {parallel_name}, {args.workers} workers" + (f", {method}" if method else "")
            if method == methods[0]:
                table.ratio(f"{what}: speed-up over one process", floor / elapsed, 1.7, at_least=True,
                            detail=f" ({elapsed:.2f} s, CPU {used:.2f} s)")
            else:
                table.add(f"{what}: speed-up over one process", f"{floor / elapsed:.2f}x ({elapsed:.2f} s, CPU {used:.2f} s)")

    # 4. Table 1 as `make table1` runs it, into a fresh sweep directory
    scales = [] if args.skip_table1 else args.scale.split(",")
    if scales:
        wall(["make", "-s", "-C", str(ROOT), "install"], ROOT)  # untimed: a stale .venv stamp would reinstall
    for scale in scales:
        if scale not in ("small", "full"):
            raise SystemExit(f"bench_overhead: --scale {args.scale}: each must be small or full")
        sweep_dir, report_dir = fresh("table1"), fresh("table1_report")
        command = ["make", "-s", "-C", str(ROOT), "table1", f"SCALE={scale}", f"JOBS={args.workers}",
                   f"REPORT_DIR={report_dir}", f"ARGS=hydra.sweep.dir={sweep_dir} progress=false"]
        elapsed, used = timed(command, ROOT)
        times = run_times(sweep_dir)
        table.ratio(f"`make table1 SCALE={scale}` ({len(times)} runs): wall x {args.workers} workers / "
                    "sum of runs' time_s", elapsed * args.workers / sum(times), 1.2, at_least=False,
                    detail=f" ({sum(times):.1f} s of runs; CPU / sum of time_s: {used / sum(times):.2f}x)")
        table.add(f"`make table1 SCALE={scale}` wall time", f"{elapsed:.1f} s (CPU {used:.1f} s)")
        # The same command again: every run is complete, so it runs none, but starts, composes and
        # checks every job, finds their results (reading each back: a little more than a fresh
        # sweep does) and builds the report: the part of the wall time no launcher can spread over
        # workers. With it, perfect workers reach at best
        # (fixed + sum / workers) x workers / sum.
        again, again_cpu = timed(command, ROOT)
        best = (again + sum(times) / args.workers) * args.workers / sum(times)
        table.add(f"  the same again, every run complete (resumed): its fixed part", f"{again:.1f} s (CPU {again_cpu:.1f} s)")
        # ... of which the end-of-sweep report (the preset's tables and figures) is what the same
        # command without it does not do
        quiet = [*command[:-1], command[-1] + " hydra.callbacks.report.report=false"]
        no_report, no_report_cpu = timed(quiet, ROOT)
        table.add(f"    of which the end-of-sweep report (the same without it: {no_report:.1f} s, CPU {no_report_cpu:.1f} s)",
                  f"{again - no_report:.1f} s (CPU {again_cpu - no_report_cpu:.1f} s)")
        table.add(f"  the best ratio {args.workers} perfect workers could reach with that fixed part", f"{best:.2f}x")

    load_after = os.getloadavg()
    others = others_load.cores()
    others_note = f"; other processes used {others:.2f} cores on average meanwhile" if others is not None else ""
    note = (f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before and {load_after[0]:.1f} after "
            f"(1 min, the benchmark's own work included){others_note}; default -m launcher {serial_name}, "
            f"parallel {parallel_name} ({args.parallel})")
    print(f"bench_overhead: {note}")
    # Others' work, not the benchmark's own (see OthersLoad); without /proc/stat, the load average
    # before the benchmark started
    busy = others > 0.25 * (os.cpu_count() or 1) if others is not None else load_before[0] > (os.cpu_count() or 1)
    if busy:
        print("bench_overhead: other processes kept the machine busy meanwhile: these timings are inflated by "
              "their work (the CPU times beside them are not)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "overhead.md").write_text(f"`make bench` (scripts/bench_overhead.py), {time.strftime('%Y-%m-%d %H:%M')}, "
                                              f"{note}\n\n{table.markdown()}")
    (args.out_dir / "overhead.json").write_text(json.dumps({"note": note, "rows": table.rows}, indent=2) + "\n")
    print(f"bench_overhead: wrote {args.out_dir / 'overhead.md'}")


if __name__ == "__main__":
    main()
