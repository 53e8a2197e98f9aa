"""Running a sweep's jobs for attnopt's launcher (hydra_plugins/attnopt_launcher/): in this process,
or in long-lived worker processes that import attnopt once and run one job at a time each.

*A job* the CLI planned (:func:`attnopt.sweep.plan`) is run the way Hydra's ``run_job`` runs one
(Hydra's config singleton set to the job's config, the output directory made, the callbacks'
on_job_start/on_job_end, a JobReturn), but over ONE copy of the sweep's config per process whose
job-specific keys are set in place (:class:`JobRunner`): ``run_job`` deep-copies the whole config,
hydra node included, four times per job (~30 ms on a 2-core machine) where a small run takes 3 ms.
A job the CLI did not plan (a sweep started without the CLI) is composed by Hydra's config loader
and goes through ``run_job``, as under Hydra's basic launcher.

*The workers* (:func:`run_jobs`). Jobs run in the launching process until the time workers would
save on the jobs left (estimated from the jobs run so far) outweighs what starting them costs
(``pool_after_s``), so a sweep of tiny runs never pays for processes it does not need. Then ``size`` workers start and, while they
do, the launching process goes on running jobs itself; once they are up it only hands out jobs,
one at a time per worker, so that no job waits behind another in a busy worker's queue.

Each worker is a ``multiprocessing`` Process with its own pipe, watched through its sentinel, not
a ``multiprocessing.Pool``: a Pool re-spawns a worker whose start fails, forever, and the jobs it
had handed out never finish (a sweep whose workers could not import the launcher hung with no
message); ``concurrent.futures.ProcessPoolExecutor`` stops instead but cannot say which worker
died, how, or running which job. Here a worker that cannot start, or dies in a job (segfault,
out-of-memory kill, ``os._exit``), stops the sweep with one line naming the worker, how it ended
and its job (:class:`WorkerDied`); every finished run is kept, what the interrupted jobs left is
removed, and re-running the command runs only the missing jobs.

*Start method* (``hydra.launcher.start_method``): ``forkserver`` by default, with the modules the
jobs run so far imported preloaded in the server: the server is one fresh interpreter that
imports attnopt once, and each worker is a fork of it (milliseconds), where ``spawn`` has every
worker import attnopt again (~0.5 s of CPU each) and ``fork`` copies the launching process, threads
(the sweep bar's) and all: a fork of a threaded process can inherit a lock held by another thread
and hang (Python 3.12 warns about it). ``scripts/bench_overhead.py --start-methods`` measures the three.

*Ctrl-C*: the workers ignore SIGINT (the launching process owns the interrupt): it stops the
workers, removes what the interrupted jobs left in their directories (never a complete run) and
lets the KeyboardInterrupt reach the CLI, which says so in one line.
"""
from __future__ import annotations

import copy
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from hydra.core.utils import JobReturn, JobRuntime, JobStatus, env_override, run_job
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

JOB_DIR_KEYS = {"job_dir_key": "hydra.sweep.dir", "job_subdir_key": "hydra.sweep.subdir"}
START_METHODS = ("forkserver", "spawn", "fork")


def check_launcher_settings(n_jobs, start_method) -> None:
    """attnopt's launcher's settings (hydra_plugins/attnopt_launcher/launcher.py), checked by the CLI
    before anything runs."""
    from attnopt.sweep import check_n_jobs

    check_n_jobs(n_jobs)
    if start_method not in START_METHODS:
        from attnopt.errors import ConfigError

        raise ConfigError(f"hydra.launcher.start_method={start_method!r} is invalid: choose from "
                          f"{', '.join(START_METHODS)}")


class WorkerDied(SystemExit):
    """A worker process could not start, or ended without finishing its job: the sweep stops.

    A SystemExit with a message, i.e. ``sys.exit(message)``: the message is printed as one line on
    stderr and the command exits with status 1. (Hydra turns every Exception escaping a sweep into a
    report several lines long with a hint about HYDRA_FULL_ERROR; a SystemExit passes through it.)"""


@dataclass
class Job:
    """One job to launch: its number, its task overrides, and its composed config (None: compose it)."""

    num: int
    overrides: list
    config: Optional[DictConfig]


class JobRunner:
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

    def job_dir(self, job: Job) -> Optional[Path]:
        """The directory a planned job runs in (None: composed by Hydra, not known here)."""
        if job.config is None:
            return None
        try:
            full = copy.deepcopy(self.master)
            with read_write(full), open_dict(full):
                for key in job.config.keys():
                    full[key] = job.config[key]
            return Path(str(full.hydra.sweep.dir)) / str(full.hydra.sweep.subdir)
        except Exception:  # a directory that cannot be named was never made either
            return None

    def remove_partial(self, job: Job) -> None:
        """What an interrupted job left in its directory (never a complete run: attnopt.rundir)."""
        from attnopt import rundir

        job_dir = self.job_dir(job)
        if job_dir is not None:
            rundir.remove_partial(job_dir)


def run_serially(runner: JobRunner, jobs: list) -> list:
    results = []
    for job in jobs:
        try:
            results.append(runner.run(job))
        except BaseException:  # Ctrl-C: nothing half-done left behind
            runner.remove_partial(job)
            raise
    return results


def run_jobs(runner: JobRunner, jobs: list, size: int, pool_after_s: float, start_method: str) -> list:
    """Every job's JobReturn, in order: here until the jobs left would outlast starting ``size``
    workers, then in the workers (and here while they start)."""
    pending = deque(range(len(jobs)))
    done: dict = {}
    costs: list = []  # CPU seconds of each job run here before the workers started
    workers = None
    here = None
    try:
        while pending and workers is None:
            # 40 runs of 3 ms finish here before a worker would have imported numpy. Workers pay
            # when the time they save, the jobs left x (1 - 1/size), outweighs what starting them
            # costs (pool_after_s: forks, their first imports and caches). The cheapest job so far
            # is the estimate, once there are two (the first one pays for first imports); CPU
            # time, not wall time: other work on the machine slows both alike.
            saved = min(costs, default=0.0) * len(pending) * (1 - 1 / size)
            if (len(costs) >= 2 or not pool_after_s) and saved >= pool_after_s:
                workers = _Workers(runner, jobs, pending, done, size, start_method)
                break
            if len(costs) == 1 and saved >= pool_after_s and start_method == "forkserver":
                # The first job alone, an overestimate, says workers may pay: the forkserver's
                # imports (~0.5 s of CPU) then run on another core while the next job runs here,
                # and forks are at hand if the workers are wanted (if not, it idles, and exits with us).
                start_forkserver()
            here = pending.popleft()
            started = time.process_time()
            done[here] = runner.run(jobs[here])
            costs.append(time.process_time() - started)
            here = None
        if workers is not None:
            while True:
                here = workers.next_job_here()  # None: every job is done or handed out
                if here is None:
                    break
                ret = runner.run(jobs[here])
                workers.finished_here(here, ret)
                here = None
            workers.close()
    except BaseException:
        interrupted = {here} if here is not None else set()
        if workers is not None:
            interrupted |= workers.stop()
        for index in interrupted - set(done):
            runner.remove_partial(jobs[index])
        raise
    for index, ret in done.items():
        if ret.cfg is None:  # sent back without it (the launching process has it)
            ret.cfg = jobs[index].config
    return [done[i] for i in range(len(jobs))]


# ----------------------------------------------------------------------------------------------
# The workers


def _task_reference(task_function: TaskFunction) -> tuple:
    """(module, name) of the task function, so a worker imports it instead of unpickling it (the
    module attribute is the @hydra.main wrapper; the worker unwraps it)."""
    module = task_function.__module__
    if module == "__main__":  # `python -m attnopt.run`: the module's real name
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else module
    return module, task_function.__qualname__


def _payload(runner: JobRunner) -> bytes:
    """What a worker needs, pickled once: Hydra's singletons (config store, plugins, job runtime),
    the Hydra context (callbacks, config loader), the sweep's config, the task function's name and
    the configs known to have no complete run yet (attnopt.sweep.absent)."""
    from hydra.core.singleton import Singleton

    from attnopt import sweep

    return pickle.dumps((Singleton.get_state()["instances"], runner.hydra_context, runner.master,
                         _task_reference(runner.task_function), set(sweep.absent)))


def _worker_runner(payload: bytes) -> JobRunner:
    import importlib
    import inspect

    from hydra.core.singleton import Singleton
    from hydra.core.utils import setup_globals

    from attnopt import sweep

    # before unpickling: the payload names attnopt's plugin classes, which an editable install
    # maps in a way Hydra's plugin scan (and so a worker) may not see
    sweep.register_plugins()
    instances, hydra_context, master, (module, name), absent = pickle.loads(payload)
    sweep.absent.update(absent)
    setup_globals()  # Hydra's resolvers (now, hydra, ...)
    task_function = inspect.unwrap(getattr(importlib.import_module(module), name))  # attnopt's resolvers
    import attnopt.runner  # noqa: F401  (what every job needs, imported once per worker)

    # Hydra's singletons as in the launching process; the resolvers are this process's own,
    # registered by the imports above (they are closures, which pickle cannot carry)
    Singleton.set_state({**Singleton.get_state(), "instances": instances})
    return JobRunner(master, hydra_context, task_function)


def serve(conn, payload: bytes) -> None:
    """A worker process's main: start, say so, then run the jobs sent until told to stop (None) or
    until the launching process is gone (the pipe closes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launching process's to handle
    try:
        runner = _worker_runner(payload)
    except BaseException as exc:  # said in the launching process's one line
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        sys.exit(1)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        ret = runner.run(job)
        ret.cfg = None  # the launching process has it; spare pickling it back
        try:
            conn.send(("done", ret))
        except (pickle.PicklingError, TypeError, AttributeError):  # a failed job's exception pickle cannot carry
            ret.return_value = RuntimeError(f"{type(ret.return_value).__name__}: {ret.return_value}")
            conn.send(("done", ret))


def how_it_ended(exitcode: Optional[int]) -> str:
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = " (the kernel's out-of-memory killer sends it, as does kill -9)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by signal {-exitcode}, {name}{why}"
    return f"exited with code {exitcode}"


class _Worker:
    def __init__(self, ctx, payload: bytes):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=serve, args=(child, payload), name="attnopt-worker", daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.job: Optional[int] = None  # the index of the job it is running


class _Workers:
    """``size`` worker processes and the thread that starts them, hands out jobs and collects
    results; the launching process's own thread asks it for jobs to run itself while the workers
    start (:meth:`next_job_here`)."""

    def __init__(self, runner: JobRunner, jobs: list, pending: deque, done: dict, size: int, start_method: str):
        import multiprocessing

        self.runner, self.jobs, self.pending, self.done, self.size = runner, jobs, pending, done, size
        self.changed = threading.Condition()
        self.workers: list[_Worker] = []
        self.n_ready = 0
        self.failure: Optional[str] = None
        self.stopping = False
        self.ctx = multiprocessing.get_context(start_method)
        self.payload = _payload(runner)
        # The workers are born ignoring SIGINT: a Ctrl-C while one is still starting must not make
        # it print a KeyboardInterrupt traceback (see start_forkserver; spawn and fork start every
        # worker here, in the main thread: a spawned interpreter keeps an ignored SIGINT ignored).
        if start_method == "forkserver":
            start_forkserver()  # if run_jobs has not already
        else:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self.workers = [_Worker(self.ctx, self.payload) for _ in range(size)]
            finally:
                signal.signal(signal.SIGINT, previous)
        self.thread = threading.Thread(target=self._serve, name="attnopt-workers", daemon=True)
        self.thread.start()

    # -- the launching process's thread

    def next_job_here(self) -> Optional[int]:
        """A job for the launching process to run while workers are still starting; else waits
        until every job is done (None) or a worker died (raises WorkerDied)."""
        with self.changed:
            while True:
                if self.failure is not None:
                    raise WorkerDied(self.failure)
                if len(self.done) == len(self.jobs):
                    return None
                if self.pending and self.n_ready < self.size:
                    return self.pending.popleft()
                self.changed.wait(timeout=1.0)

    def finished_here(self, index: int, ret: JobReturn) -> None:
        with self.changed:
            self.done[index] = ret
            self.changed.notify_all()

    def close(self) -> None:
        """Every job is done: the workers are told to stop, and waited for."""
        with self.changed:
            self.stopping = True
        self.thread.join()
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()

    def stop(self) -> set:
        """Stop at once (Ctrl-C, a dead worker): the workers are killed; returns the jobs they were in."""
        with self.changed:
            self.stopping = True
        self.thread.join(timeout=30)
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(timeout=10)
        with self.changed:
            return {w.job for w in self.workers if w.job is not None}

    # -- the workers' thread

    def _serve(self) -> None:
        from multiprocessing.connection import wait

        try:
            while len(self.workers) < self.size and not self.stopping:
                worker = _Worker(self.ctx, self.payload)  # forkserver: waits for its preloading, once
                with self.changed:
                    self.workers.append(worker)
            while True:
                with self.changed:
                    if self.stopping or self.failure is not None:
                        return
                    for worker in self.workers:
                        if worker.ready and worker.job is None and self.pending:
                            worker.job = self.pending.popleft()
                            self._send(worker)
                    busy = any(w.job is not None for w in self.workers)
                    if not busy and not self.pending and len(self.done) == len(self.jobs):
                        return
                handles = [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]
                wait(handles, timeout=0.5)
                for worker in self.workers:
                    self._hear(worker)
        except BaseException as exc:  # a failure of this machinery itself: the sweep must not wait forever
            with self.changed:
                self.failure = self.failure or f"attnopt: error: the worker pool failed: {type(exc).__name__}: {exc}"
                self.changed.notify_all()

    def _send(self, worker: _Worker) -> None:
        try:
            worker.conn.send(self.jobs[worker.job])
        except OSError:  # it died: its sentinel says so next
            pass

    def _hear(self, worker: _Worker) -> None:
        message = None
        try:
            if worker.conn.poll():
                message = worker.conn.recv()
        except (EOFError, OSError):
            pass
        with self.changed:
            if message is not None:
                kind, value = message
                if kind == "ready":
                    worker.ready = True
                    self.n_ready += 1
                elif kind == "done":
                    self.done[worker.job] = value
                    worker.job = None
                else:  # "failed": it could not start
                    worker.process.join(timeout=10)
                    self.failure = f"attnopt: error: a worker process could not start: {value}"
                self.changed.notify_all()
            elif not worker.process.is_alive() and self.failure is None:
                worker.process.join()
                self.failure = self._death(worker)
                self.changed.notify_all()

    def _death(self, worker: _Worker) -> str:
        how = how_it_ended(worker.process.exitcode)
        if not worker.ready:
            return f"attnopt: error: a worker process (pid {worker.process.pid}) {how} before it could start"
        if worker.job is None:
            return f"attnopt: error: worker process {worker.process.pid} {how} between jobs"
        job = self.jobs[worker.job]
        finished = len(self.done)
        return (f"attnopt: error: worker process {worker.process.pid} {how} while running job {job.num} "
                f"({' '.join(map(str, job.overrides)) or 'no overrides'}); the sweep stops: the {finished} "
                f"finished run{'s are' if finished != 1 else ' is'} kept, the interrupted ones removed; run the "
                "same command again to run only the missing ones")


def start_forkserver() -> None:
    """Start multiprocessing's forkserver (once per process), preloading attnopt, with SIGINT
    ignored: its forks, the workers, inherit that disposition (a Ctrl-C while one starts must not
    make it print a KeyboardInterrupt traceback). Signal dispositions are per process and only the
    main thread may change them, so this runs in the main thread; the workers' thread then only
    asks the server for forks."""
    import multiprocessing
    from multiprocessing import forkserver

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.get_context("forkserver").set_forkserver_preload(_preload())
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _preload() -> list[str]:
    """The modules the forkserver imports once for all workers: attnopt's, as this process has
    imported them so far (the CLI's checks built every job's optimizer and landscape; the jobs run
    here so far imported what they use, plotting included), and Hydra's job machinery."""
    loaded = sorted(name for name in sys.modules if name == "attnopt" or name.startswith("attnopt."))
    # attnopt.plotting imports Pillow when it first draws: once for all workers here
    drawing = ["PIL.Image", "PIL.ImageDraw", "PIL.ImageFont"] if "PIL.ImageDraw" in sys.modules else []
    return ["attnopt.run", "attnopt.runner", "attnopt.pool", *loaded, *drawing]
