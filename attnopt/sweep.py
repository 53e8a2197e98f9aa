"""Sweeps: the grid, resume, the jobs the CLI planned, one progress bar, a report at the end.

*The grid and the plan.* :func:`expand` is the cross product of a sweep's overrides, in Hydra's
order, through Hydra's public override parser. The CLI composes and validates every job before
Hydra starts and hands each job's config to :func:`plan`; attnopt's sweeper and launcher
(hydra_plugins/attnopt_launcher/, the defaults of ``attnopt run -m``) then use those configs
instead of composing every job again (0.1-0.3 s a job).

*Resume.* Every finished run stores ``config_hash`` in ``summary.json`` and its directory is named
by it (:mod:`attnopt.rundir`), so results are found by what was run, not by where. The sweeper
leaves out of the launch every planned job whose complete run is in the sweep directory
(:func:`leave_out_complete`); a job started any other way checks for itself
(:func:`attnopt.rundir.claim`, in attnopt.run.hydra_main). A partial run is rerun, never trusted.

*Progress and report.* :class:`SweepCallback` (a Hydra callback, configured in conf/config.yaml as
``hydra.callbacks.report``) draws one bar for the whole sweep and builds the report once every job
is done. Jobs may run in other processes or on other machines (attnopt's worker pool, joblib,
submitit, SLURM), so each job leaves a marker file in ``<sweep dir>/.attnopt/done/`` and the bar in
the launching process counts them; that works for every launcher whose workers share the filesystem.
"""
from __future__ import annotations

import itertools
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.experimental.callback import Callback

from attnopt import rundir

DONE_DIR = Path(".attnopt") / "done"


def register_plugins() -> None:
    """Make attnopt's sweeper and launcher (hydra_plugins/attnopt_launcher/) visible to Hydra's
    plugin scan. An installed copy is found on its own. An editable install (`make install`:
    pip install -e) maps the package through an import hook, which Hydra's scan (pkgutil) cannot
    list, so the directory is added to the ``hydra_plugins`` namespace package's search path."""
    import hydra_plugins

    here = str(Path(__file__).resolve().parent.parent / "hydra_plugins")
    if Path(here, "attnopt_launcher").is_dir() and here not in list(hydra_plugins.__path__):
        hydra_plugins.__path__.append(here)


def task_key(job: Sequence[str]) -> tuple[str, ...]:
    """A job's task overrides: what Hydra hands its sweeper (hydra.* and hydra/* are kept apart)."""
    return tuple(o for o in job if not o.lstrip("+~").startswith(("hydra.", "hydra/")))


def expand(lines: Sequence[str], config_loader=None) -> list[list[str]]:
    """Every job's override list: the cross product of the sweep overrides (``a=1,2 b=x,y``), in
    the order Hydra's basic sweeper launches them, through Hydra's public override parser. A key
    given twice takes its last value, in the place it first appeared (as Hydra does)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from attnopt.errors import ConfigError

    values: dict[str, list[str]] = {}
    for override in OverridesParser.create(config_loader=config_loader).parse_overrides(list(lines)):
        key = override.get_key_element()
        if not override.is_sweep_override():
            values[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            values[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise ConfigError(f"'{override.input_line}': an interval can be sampled, not listed; "
                              "give values (a,b,c) or range(start, stop, step)")
    return [list(job) for job in itertools.product(*values.values())]


def sweep_lines(config) -> list[str]:
    """The overrides a multirun config sweeps: hydra.sweeper.params (a preset's grid), then the
    command line's task overrides."""
    params = config.hydra.sweeper.get("params") or {}
    return [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)


# What the CLI composed and validated, per job (task overrides -> (job config without the hydra
# node, config hash or None when the job has resume=false)), so that neither the sweeper nor the
# launcher composes a job again: composing costs 0.1-0.3 s a job, running a small job 3 ms.
_planned: dict[tuple[str, ...], tuple[Any, Optional[str]]] = {}


def plan(job: Sequence[str], spec, config) -> None:
    """Called by the CLI for each job it validated (``config``: the composed job config)."""
    _planned[task_key(job)] = (config, rundir.config_hash(spec.config) if spec.resume else None)


# Config hashes of planned jobs with no complete run under the sweep directory when the sweeper
# searched it (:func:`leave_out_complete`): their jobs need not search it again (rundir.claim's
# ``absent``). attnopt's workers receive it with the rest of the sweep (attnopt.pool).
absent: set[str] = set()


def leave_out_complete(jobs: list[list[str]], sweep_dir: Path) -> list[list[str]]:
    """The jobs to launch: those without a complete run of their config in ``sweep_dir``.

    Known only for the jobs the CLI planned (it has their configs); any other job is launched and
    checks for itself (:func:`attnopt.rundir.claim`, in attnopt.run.hydra_main)."""
    hashes = {i: _planned[task_key(job)][1] for i, job in enumerate(jobs) if task_key(job) in _planned}
    wanted = {h for h in hashes.values() if h}
    done = rundir.complete_runs(sweep_dir, wanted) if wanted else {}
    absent.clear()  # this sweep's (a process may run several)
    absent.update(wanted - set(done))
    todo = [job for i, job in enumerate(jobs) if hashes.get(i) not in done]
    skipped = len(jobs) - len(todo)
    if skipped:
        print(f"resuming {sweep_dir}: {skipped} of {len(jobs)} runs are complete already and are not rerun "
              "(resume=false reruns them)", file=sys.stderr, flush=True)
        if _monitor is not None:
            _monitor.skipped(skipped)
    return todo


def check_n_jobs(n_jobs) -> None:
    """``hydra.launcher.n_jobs`` as attnopt's and joblib's launchers read it: a number of worker
    processes >= 1, or negative for all CPUs but |n_jobs| - 1 (-1: one per CPU)."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        from attnopt.errors import ConfigError

        raise ConfigError(f"hydra.launcher.n_jobs={n_jobs!r} is invalid: must be an integer >= 1 (or negative: "
                          "all CPUs but |n_jobs| - 1)")


def planned_config(overrides: Sequence[str]):
    """The job config the CLI composed for these job overrides (no hydra node), or None."""
    planned = _planned.get(task_key(overrides))
    return None if planned is None else planned[0]


def override_dirname(task: Sequence[str], how) -> str:
    """``hydra.job.override_dirname``, as Hydra forms it: the sorted overrides minus excluded keys."""
    lines = sorted(line for line in task if line.lstrip("+~").partition("=")[0] not in set(how.exclude_keys))
    return how.item_sep.join(lines).replace("=", how.kv_sep)


# ----------------------------------------------------------------------------------------------
# The sweep bar and the end-of-sweep report


def sweep_root(hydra_config) -> Path:
    """The sweep directory of a job, from its Hydra config: ``hydra.sweep.dir`` as the launching
    process saw it (relative to ``hydra.runtime.cwd``), the directory every launcher puts the job's
    ``hydra.sweep.subdir`` in. (Not from the job's output dir less its subdir: resolving the subdir,
    ``${attnopt.run_name:}``, hashes the config, ~1 ms a job.)"""
    return Path(str(hydra_config.runtime.cwd), str(hydra_config.sweep.dir))


class _Monitor:
    """The bar, in the launching process: counts the done markers the jobs leave."""

    def __init__(self, done_dir: Path, total: Optional[int], already: int = 0, interval: float = 0.5):
        # tqdm.auto is this plus tqdm.asyncio, whose asyncio import costs ~20 ms per sweep
        from tqdm.autonotebook import tqdm

        self.done_dir, self.total, self.already, self.interval = done_dir, total, already, interval
        self.stop_event, self.lock = threading.Event(), threading.Lock()
        self.bar = tqdm(total=total, initial=already, desc="sweep", unit="job", mininterval=interval,
                        dynamic_ncols=True)
        self.thread = threading.Thread(target=self._poll, name="attnopt-sweep-bar", daemon=True)
        self.thread.start()

    def skipped(self, n: int) -> None:
        """``n`` jobs are left out: their results are complete already."""
        self.already += n
        self._update()

    def count(self) -> int:
        try:
            return sum(1 for _ in self.done_dir.iterdir())
        except OSError:
            return 0

    def _poll(self) -> None:
        while not self.stop_event.wait(self.interval):
            self._update()

    def _update(self) -> None:
        with self.lock:  # the poll thread and the sweeper's thread
            n = self.already + self.count()
            n = n if self.total is None else min(n, self.total)
            if n > self.bar.n:
                self.bar.update(n - self.bar.n)

    def close(self) -> dict[str, int]:
        self.stop_event.set()
        self.thread.join(timeout=5)
        self._update()
        self.bar.close()
        outcomes: dict[str, int] = {"skipped": self.already} if self.already else {}
        for marker in self.done_dir.iterdir() if self.done_dir.is_dir() else []:
            word = marker.read_text().strip() or "ran"
            outcomes[word] = outcomes.get(word, 0) + 1
        return outcomes


# One per launching process; kept out of the callback object, which Hydra pickles to the workers.
_monitor: Optional[_Monitor] = None


def stop_bar() -> None:
    """Close the sweep bar without a word (an interrupted sweep: the CLI says it in one line)."""
    global _monitor
    if _monitor is not None:
        _monitor.close()
        _monitor = None


class SweepCallback(Callback):
    """``hydra.callbacks.report``: the sweep bar, done markers, and the report after the last job.

    tables/figures: names for ``attnopt report`` (null: every registered one); out: where the
    report goes (null: ``<sweep dir>/report``); report: false skips it.
    """

    def __init__(self, report: bool = True, tables: Optional[Sequence[str]] = None,
                 figures: Optional[Sequence[str]] = None, out: Optional[str] = None, progress: bool = True):
        self.report, self.out, self.progress = report, out, progress
        # a name or "none"/"all" as given on the command line, or a list of names
        self.tables = tables if tables is None or isinstance(tables, str) else list(tables)
        self.figures = figures if figures is None or isinstance(figures, str) else list(figures)

    def on_multirun_start(self, config, **kwargs: Any) -> None:
        global _monitor
        done_dir = Path(config.hydra.sweep.dir) / DONE_DIR
        shutil.rmtree(done_dir, ignore_errors=True)  # markers of an earlier, interrupted attempt
        done_dir.mkdir(parents=True, exist_ok=True)
        if self.progress:
            try:
                total = len(expand(sweep_lines(config)))
            except Exception:  # e.g. a glob() sweep, which needs Hydra's config loader: a bar without a total
                total = None
            _monitor = _Monitor(done_dir, total)

    def on_job_end(self, config, job_return, **kwargs: Any) -> None:
        from hydra.core.utils import JobStatus
        from hydra.types import RunMode

        hc = config.hydra
        if hc.mode != RunMode.MULTIRUN:
            return
        if job_return.status == JobStatus.COMPLETED:
            value = job_return.return_value
            word = "skipped" if isinstance(value, dict) and value.get("skipped") else "ran"
        else:
            word = "failed"
        done = sweep_root(hc) / DONE_DIR
        from attnopt import io

        io.write_text(done / str(hc.job.num), word + "\n")

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        global _monitor
        sweep_dir = Path(config.hydra.sweep.dir)
        if _monitor is not None:
            outcomes = _monitor.close()
            _monitor = None
            parts = [f"{n} {word}" for word, n in sorted(outcomes.items())]
            print(f"sweep {sweep_dir}: {', '.join(parts) or 'no jobs'}", file=sys.stderr, flush=True)
        if self.report:
            from attnopt.report.build import build_report

            from attnopt.errors import ConfigError

            out = Path(self.out) if self.out else sweep_dir / "report"
            # In a shared report dir (make report: every preset into outputs/report), each sweep's
            # per-run table gets its own name instead of overwriting the last one's runs.csv.
            runs_name = "runs" if not self.out else f"runs_{sweep_dir.name}"
            try:
                build_report(sweep_dir, out, self.tables, self.figures, progress=False, runs_name=runs_name)
            except ConfigError as exc:  # e.g. no run finished; the sweep itself did its work
                print(f"attnopt: warning: no report: {exc}", file=sys.stderr, flush=True)


__all__ = ["expand", "plan", "leave_out_complete", "planned_config", "SweepCallback"]
