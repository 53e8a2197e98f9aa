"""``hydra/launcher=attnopt``: runs the job configs the CLI has composed and validated, without
composing them again, serially in the CLI process (``n_jobs=1``) or in long-lived worker processes
that import attnopt once (``n_jobs=N``; -1: one per core). How, and what happens when a worker
dies: :mod:`attnopt.pool` (kept in the attnopt package, so that a worker needs nothing from this
plugin package to start, and names its trouble when it cannot).
"""
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class AttnoptLauncherConf:
    _target_: str = "hydra_plugins.attnopt_launcher.launcher.AttnoptLauncher"
    n_jobs: int = 1  # 1: every job in the CLI process; N >= 2: N worker processes; -1: one per CPU, -2: all but one
    # start the workers only once the time they would save on the jobs left (CPU seconds, estimated
    # from the jobs run so far) exceeds this: what starting them costs, their first imports and
    # caches included (make bench measures it). 0: start them at once
    pool_after_s: float = 2.0
    # how workers start: forkserver (one interpreter imports attnopt, the workers are its forks),
    # spawn (each worker a fresh interpreter) or fork (copies of the CLI process); see attnopt.pool
    start_method: str = "forkserver"


ConfigStore.instance().store(group="hydra/launcher", name="attnopt", node=AttnoptLauncherConf, provider="attnopt")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class AttnoptLauncher(Launcher):
    def __init__(self, n_jobs: int = 1, pool_after_s: float = 2.0, start_method: str = "forkserver") -> None:
        from attnopt.pool import check_launcher_settings

        super().__init__()
        check_launcher_settings(n_jobs, start_method)
        self.n_jobs = n_jobs if n_jobs > 0 else max(1, cpu_count() + 1 + n_jobs)  # -1: all CPUs, -2: all but one
        self.pool_after_s = float(pool_after_s)
        self.start_method = start_method
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from attnopt import pool, sweep

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = [pool.Job(initial_job_idx + i, list(overrides), sweep.planned_config(overrides))
                for i, overrides in enumerate(job_overrides)]
        runner = pool.JobRunner(self.config, self.hydra_context, self.task_function)
        if self.n_jobs == 1 or len(jobs) <= 1:
            return pool.run_serially(runner, jobs)
        return pool.run_jobs(runner, jobs, min(self.n_jobs, len(jobs)), self.pool_after_s, self.start_method)
