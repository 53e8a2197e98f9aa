"""``hydra/launcher=attnopt``: runs the job configs the CLI has composed and validated, without
composing them again, serially in the CLI process (``n_jobs=1``) or in a pool of long-lived worker
processes that import attnopt once (``n_jobs=N``; -1: one per core).

*Per job*, a job the CLI planned (:func:`attnopt.sweep.plan`) is run the way Hydra's ``run_job``
runs one (Hydra's config singleton set to the job's config, the output directory made, the
callbacks' on_job_start/on_job_end, a JobReturn), but over ONE copy of the sweep's config per
process whose job-specific keys are set in place: ``run_job`` deep-copies the whole config, hydra
node included, four times per job (~30 ms on a 2-core machine) where a small run takes 3 ms. A job
the CLI did not plan (a sweep started without the CLI) is composed by Hydra's config loader and goes
through ``run_job``, as under Hydra's basic launcher.

*The pool* starts its workers with ``spawn`` (a fresh interpreter each: none of the launching
process's threads or state is inherited), each importing attnopt and receiving the sweep's config
once; a job then travels as its small config only. While the workers start (about a second), the
launching process runs jobs itself, so a sweep of small jobs is never slower than running it
serially; once a worker has finished a job, the launching process only hands out jobs.

*Ctrl-C*: the workers ignore SIGINT (the launching process owns the interrupt): it stops the pool,
removes what the interrupted jobs left in their directories (never a complete run) and lets the
KeyboardInterrupt reach the CLI, which says so in one line.
"""
import copy
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, env_override, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write


@dataclass
class AttnoptLauncherConf:
    _target_: str = "hydra_plugins.attnopt_launcher.launcher.AttnoptLauncher"
    n_jobs: int = 1  # 1: every job in the CLI process; N >= 2: N worker processes; -1: one per CPU, -2: all but one
    # start the workers only once the jobs left would take longer than this (CPU seconds, estimated
    # from the jobs run so far) ; about what starting a worker costs. 0: start them at once
    pool_after_s: float = 1.0


ConfigStore.instance().store(group="hydra/launcher", name="attnopt", node=AttnoptLauncherConf, provider="attnopt")

JOB_DIR_KEYS = {"job_dir_key": "hydra.sweep.dir", "job_subdir_key": "hydra.sweep.subdir"}


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class Job:
    """One job to launch: its number, its task overrides, and its composed config (None: compose it)."""

    num: int
    overrides: list
    config: Optional[DictConfig]


class _Runner:
    """Runs jobs in one process (the launching one or a worker) over one copy of the sweep config."""

    def __init__(self, master: DictConfig, hydra_context: HydraContext, task_function: TaskFunction):
        self.master, self.hydra_context, self.task_function = master, hydra_context, task_function
        self.full: Optional[DictConfig] = None

    def run(self, job: Job) -> JobReturn:
        if job.config is None:
            return self._run_composed(job)
        from attnopt import sweep

        if self.full is None:
            self.full = copy.deepcopy(self.master)  # once per process
        full, task = self.full, [str(o) for o in job.overrides]
        with read_write(full), open_dict(full):
            for key in [k for k in full.keys() if k != "hydra" and k not in job.config]:
                del full[key]
            for key in job.config.keys():
                full[key] = job.config[key]
            h = full.hydra
            h.job.num, h.job.id = job.num, f"{h.job.name}_{job.num}"
            h.overrides.task = task
            h.job.override_dirname = sweep.override_dirname(task, h.job.config.override_dirname)
            for line in task:
                group, _, choice = line.lstrip("+").partition("=")
                if group in h.runtime.choices:
                    h.runtime.choices[group] = choice
            out = Path(str(h.sweep.dir)) / str(h.sweep.subdir)
            h.runtime.output_dir = str(out.absolute())
        return self._run(full, job.config, task, out)

    def _run(self, full: DictConfig, task_cfg: DictConfig, task: list, out: Path) -> JobReturn:
        """What hydra.core.utils.run_job does for a job, minus its copies of the config."""
        from hydra.core.hydra_config import HydraConfig

        previous = HydraConfig.instance().cfg
        HydraConfig.instance().cfg = full  # what HydraConfig.get() answers inside the job
        out.mkdir(parents=True, exist_ok=True)
        chdir = bool(full.hydra.job.chdir)
        old_cwd = os.getcwd()
        ret = JobReturn(overrides=task, cfg=task_cfg, working_dir=str(out) if chdir else old_cwd)
        if full.hydra.output_subdir is not None:  # asked for: Hydra's record before the run, as Hydra writes it
            record = out / str(full.hydra.output_subdir)
            record.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(task_cfg, record / "config.yaml")
            OmegaConf.save(OmegaConf.create({"hydra": full.hydra}), record / "hydra.yaml")
            OmegaConf.save(full.hydra.overrides.task, record / "overrides.yaml")
        callbacks = self.hydra_context.callbacks
        try:
            if chdir:
                os.chdir(out)
            with env_override(dict(full.hydra.job.env_set)):
                callbacks.on_job_start(config=full, task_function=self.task_function)
                try:
                    ret.return_value = self.task_function(task_cfg)
                    ret.status = JobStatus.COMPLETED
                except Exception as exc:  # as run_job: the sweeper raises it after the batch
                    ret.return_value = exc
                    ret.status = JobStatus.FAILED
            ret.task_name = JobRuntime.instance().get("name")
            callbacks.on_job_end(config=full, job_return=ret)
        finally:
            HydraConfig.instance().cfg = previous
            if chdir:
                os.chdir(old_cwd)
        return ret

    def _run_composed(self, job: Job) -> JobReturn:
        config = self.hydra_context.config_loader.load_sweep_config(self.master, list(job.overrides))
        with open_dict(config):
            config.hydra.job.id = f"{config.hydra.job.name}_{job.num}"
            config.hydra.job.num = job.num
        return run_job(hydra_context=self.hydra_context, task_function=self.task_function, config=config,
                       **JOB_DIR_KEYS)

    def remove_partial(self, job: Job) -> None:
        """What an interrupted job left in its directory (never a complete run: attnopt.rundir)."""
        from attnopt import rundir

        config = job.config
        if config is None:  # composed by Hydra: run_job's own directory, not known here
            return
        try:
            full = copy.deepcopy(self.master)
            with read_write(full), open_dict(full):
                for key in config.keys():
                    full[key] = config[key]
            job_dir = Path(str(full.hydra.sweep.dir)) / str(full.hydra.sweep.subdir)
        except Exception:  # a directory that cannot be named was never made either
            return
        rundir.remove_partial(job_dir)


class AttnoptLauncher(Launcher):
    def __init__(self, n_jobs: int = 1, pool_after_s: float = 1.0) -> None:
        from attnopt.sweep import check_n_jobs

        super().__init__()
        check_n_jobs(n_jobs)
        self.n_jobs = n_jobs if n_jobs > 0 else max(1, cpu_count() + 1 + n_jobs)  # -1: all CPUs, -2: all but one
        self.pool_after_s = float(pool_after_s)
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from attnopt import sweep

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = [Job(initial_job_idx + i, list(overrides), sweep.planned_config(overrides))
                for i, overrides in enumerate(job_overrides)]
        runner = _Runner(self.config, self.hydra_context, self.task_function)
        if self.n_jobs == 1 or len(jobs) <= 1:
            results = []
            for job in jobs:
                try:
                    results.append(runner.run(job))
                except BaseException:  # Ctrl-C: nothing half-done left behind
                    runner.remove_partial(job)
                    raise
            return results
        return _Pool(self, runner, min(self.n_jobs, len(jobs))).run(jobs)


# ----------------------------------------------------------------------------------------------
# The worker pool

_worker: dict = {}  # in each worker process: its _Runner



def _task_reference(task_function: TaskFunction) -> tuple:
    """(module, name) of the task function, so a worker imports it instead of unpickling it (the
    module attribute is the @hydra.main wrapper; the worker unwraps it)."""
    import sys

    module = task_function.__module__
    if module == "__main__":  # `python -m attnopt.run`: the module's real name
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else module
    return module, task_function.__qualname__


def _start_worker(singleton_state: Any, hydra_context: HydraContext, master: DictConfig, task: tuple) -> None:
    import importlib
    import inspect

    from hydra.core.singleton import Singleton

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launching process's to handle
    setup_globals()  # Hydra's resolvers (now, hydra, ...)
    module, name = task
    task_function = inspect.unwrap(getattr(importlib.import_module(module), name))  # attnopt's resolvers
    import attnopt.runner  # noqa: F401  (what every job needs, imported once per worker)

    # Hydra's singletons (config store, plugins, job runtime) as in the launching process; the
    # resolvers are this process's own, registered by the imports above (they are closures, which
    # pickle cannot carry)
    Singleton.set_state({**Singleton.get_state(), "instances": singleton_state})

    _worker["runner"] = _Runner(master, hydra_context, task_function)


def _run_in_worker(job: Job) -> JobReturn:
    ret = _worker["runner"].run(job)
    ret.cfg = None  # the launching process has it; spare pickling it back
    return ret


class _Pool:
    """``size`` spawned workers, each given one job at a time, the launching process helping until
    the first worker has finished a job (while the pool starts)."""

    def __init__(self, launcher: AttnoptLauncher, runner: _Runner, size: int):
        self.launcher, self.runner, self.size = launcher, runner, size
        self.changed = threading.Condition()
        self.done: dict = {}
        self.errors: list = []
        self.workers_ready = False

    def _finished(self, index: int, ret: JobReturn) -> None:
        with self.changed:
            self.done[index] = ret
            self.workers_ready = True
            self.changed.notify_all()

    def _failed(self, exc: BaseException) -> None:
        with self.changed:
            self.errors.append(exc)
            self.changed.notify_all()

    def _start(self):
        import multiprocessing

        from hydra.core.singleton import Singleton

        launcher = self.launcher
        ctx = multiprocessing.get_context("spawn")
        # Workers are born ignoring SIGINT (a disposition a spawned interpreter keeps): a Ctrl-C while
        # one is still starting must not make it print a KeyboardInterrupt traceback.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return ctx.Pool(self.size, initializer=_start_worker,
                            initargs=(Singleton.get_state()["instances"], launcher.hydra_context, launcher.config,
                                      _task_reference(launcher.task_function)))
        finally:
            signal.signal(signal.SIGINT, previous)

    def run(self, jobs: list) -> list:
        import time

        pending = list(range(len(jobs)))[::-1]  # a stack: pop() gives the next job in grid order
        in_pool: set = set()
        here = None
        pool = None
        costs: list = []  # CPU seconds of each job run here before the pool started
        try:
            while len(self.done) < len(jobs):
                if pool is None and (len(costs) >= 2 or not self.launcher.pool_after_s):
                    # Start the workers only for work that outlasts starting them (pool_after_s):
                    # 40 runs of 3 ms finish here before a worker would have imported numpy. The
                    # cheapest job so far is the estimate (the first one pays for first imports);
                    # CPU time, not wall time: other work on the machine slows both alike.
                    if min(costs, default=0.0) * len(pending) >= self.launcher.pool_after_s:
                        pool = self._start()
                if pool is None:
                    here = pending.pop()
                    started = time.process_time()
                    self.done[here] = self.runner.run(jobs[here])
                    costs.append(time.process_time() - started)
                    here = None
                    continue
                with self.changed:
                    if self.errors:
                        raise self.errors[0]
                    in_pool -= set(self.done)
                    # every worker busy with exactly one job, so that no job waits in a worker's queue
                    while pending and len(in_pool) < self.size:
                        index = pending.pop()
                        in_pool.add(index)
                        pool.apply_async(_run_in_worker, (jobs[index],),
                                         callback=lambda ret, i=index: self._finished(i, ret),
                                         error_callback=self._failed)
                    if not pending or self.workers_ready:
                        self.changed.wait(timeout=1.0)
                        continue
                    here = pending.pop()
                ret = self.runner.run(jobs[here])  # the pool is still starting: run one job here
                with self.changed:
                    self.done[here] = ret
                here = None
            if pool is not None:
                pool.close()
                pool.join()
        except BaseException:
            if pool is not None:
                pool.terminate()
                pool.join()
            for index in (in_pool | ({here} if here is not None else set())) - set(self.done):
                self.runner.remove_partial(jobs[index])
            raise
        for index, ret in self.done.items():
            if ret.cfg is None:
                ret.cfg = jobs[index].config
        return [self.done[i] for i in range(len(jobs))]
