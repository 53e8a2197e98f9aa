"""Sweeps that survive interruption: resume by config hash, one progress bar, a report at the end.

*Resume.* Every finished run stores ``config_hash`` (a hash of its resolved config, output-only
keys left out) in ``summary.json``, so results are found by what was run, not by where. The CLI,
which resolves every job's config while validating, leaves jobs with complete results out of the
sweep before Hydra launches it (:func:`skip_complete_jobs`); a job started any other way checks
for itself (:func:`find_complete`: its own directory, then anywhere in the sweep directory). A
directory is complete when summary.json parses, carries the hash, and history.csv has the
iterations it claims; anything less (a run killed before summary.json, a truncated file) is named
and rerun.

*Progress and report.* :class:`SweepCallback` (a Hydra callback, configured in conf/config.yaml as
``hydra.callbacks.report``) draws one bar for the whole sweep and builds the report once every job
is done. Jobs may run in other processes or on other machines (joblib, submitit), so each job
leaves a marker file in ``<sweep dir>/.attnopt/done/`` and the bar in the launching process counts
them; that works for every launcher whose workers share the filesystem.
"""
from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.experimental.callback import Callback

from attnopt import rundir

DONE_DIR = Path(".attnopt") / "done"


def _task_key(job: Sequence[str]) -> tuple[str, ...]:
    # Hydra hands its sweeper the task overrides only (hydra.* and hydra/* are kept apart)
    return tuple(o for o in job if not o.lstrip("+~").startswith(("hydra.", "hydra/")))


#: jobs left out of this process's sweep because their results are complete (for the bar)
_preskipped = 0


def skip_complete_jobs(planned: Sequence[tuple]) -> int:
    """Leave out of the sweep Hydra is about to launch every job whose results are complete.

    ``planned``: (job overrides, RunSpec, composed base config) per job, from the CLI's up-front
    validation, which has every job's resolved config anyway. Without this, each complete job would
    still be launched just to find out it has nothing to do: Hydra composes its config in the worker
    first (~0.3 s), which made resuming a finished 280-run sweep take as long as running it. The
    job-side check in attnopt.run.hydra_main stays for jobs started any other way.
    """
    global _preskipped
    from omegaconf import OmegaConf

    sweep_dir = Path(str(OmegaConf.select(planned[0][2], "hydra.sweep.dir")))
    hashes = {job_key: rundir.config_hash(spec.config) for job_key, spec in ((_task_key(job), spec) for job, spec, _ in planned)
              if spec.resume}
    done = rundir.complete_runs(sweep_dir, set(hashes.values()))
    skip = {key for key, h in hashes.items() if h in done}
    _preskipped = len(skip)
    if not skip:
        return 0
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    split = BasicSweeper.split_arguments

    def split_without_complete(overrides, max_batch_size):
        batches = [[job for job in batch if tuple(job) not in skip] for batch in split(overrides, max_batch_size)]
        return [batch for batch in batches if batch]

    BasicSweeper.split_arguments = staticmethod(split_without_complete)
    print(f"resuming {sweep_dir}: {len(skip)} of {len(planned)} runs are complete already and are not rerun "
          "(resume=false reruns them)", file=sys.stderr, flush=True)
    return len(skip)


# ----------------------------------------------------------------------------------------------
# The sweep bar and the end-of-sweep report


def sweep_root(output_dir: Path, subdir: str) -> Path:
    """The sweep directory of a job, from its output dir (subdir may itself contain '/')."""
    return output_dir.parents[len(Path(subdir).parts) - 1]


def count_jobs(config) -> int:
    """How many jobs the basic sweeper will launch for this multirun config."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = config.hydra.sweeper.get("params") or {}
    lines = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    batches = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(lines), None)
    return sum(len(batch) for batch in batches)


class _Monitor:
    """The bar, in the launching process: counts the done markers the jobs leave."""

    def __init__(self, done_dir: Path, total: int, already: int = 0, interval: float = 0.5):
        from tqdm.auto import tqdm

        self.done_dir, self.total, self.already, self.interval = done_dir, total, already, interval
        self.stop_event = threading.Event()
        self.bar = tqdm(total=total, initial=already, desc="sweep", unit="job", mininterval=interval,
                        dynamic_ncols=True)
        self.thread = threading.Thread(target=self._poll, name="attnopt-sweep-bar", daemon=True)
        self.thread.start()

    def count(self) -> int:
        try:
            return sum(1 for _ in self.done_dir.iterdir())
        except OSError:
            return 0

    def _poll(self) -> None:
        while not self.stop_event.wait(self.interval):
            self._update()

    def _update(self) -> None:
        n = min(self.already + self.count(), self.total)
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
            # count_jobs sees the sweep without the jobs skip_complete_jobs left out
            _monitor = _Monitor(done_dir, count_jobs(config) + _preskipped, already=_preskipped)

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
        output_dir = Path(hc.runtime.output_dir)
        done = sweep_root(output_dir, str(hc.sweep.subdir)) / DONE_DIR
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


__all__ = ["skip_complete_jobs", "SweepCallback"]
