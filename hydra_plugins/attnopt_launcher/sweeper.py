"""``hydra/sweeper=attnopt``: the basic sweeper's grid, minus the work the CLI has already done.

Why a sweeper of our own (Hydra's public Sweeper plugin API): Hydra's basic sweeper composes every
job's config once more before launching any ("validate_batch_is_legal"; 0.1-0.3 s a job, minutes for
a large sweep on a busy machine) although `attnopt run` has composed and validated every job before
Hydra starts, and it cannot leave out the jobs whose results are complete (resume). This one expands
the same grid in the same order (:func:`attnopt.sweep.expand`), leaves out complete jobs, and hands
the rest to the launcher: attnopt's, or any other (joblib, submitit, slurm).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


@dataclass
class AttnoptSweeperConf:
    _target_: str = "hydra_plugins.attnopt_launcher.sweeper.AttnoptSweeper"
    max_batch_size: Optional[int] = None  # jobs handed to the launcher at once (null: all)
    params: Optional[Dict[str, str]] = None  # a preset's grid: {key: "a,b,c"}, as for the basic sweeper


ConfigStore.instance().store(group="hydra/sweeper", name="attnopt", node=AttnoptSweeperConf, provider="attnopt")


class AttnoptSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None) -> None:
        super().__init__()
        if max_batch_size is not None and max_batch_size < 1:
            from attnopt.errors import ConfigError

            raise ConfigError(f"hydra.sweeper.max_batch_size={max_batch_size} is invalid: must be >= 1 or null")
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        from attnopt import sweep

        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        jobs = sweep.expand(lines, self.hydra_context.config_loader)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")  # as Hydra's sweepers do
        todo = sweep.leave_out_complete(jobs, sweep_dir)
        size = self.max_batch_size or max(len(todo), 1)
        returns = []
        try:
            for start in range(0, len(todo), size):
                results = self.launcher.launch(todo[start:start + size], initial_job_idx=start)
                for result in results:
                    _ = result.return_value  # raises a failed job's exception, as Hydra's sweepers do
                returns.append(results)
        except BaseException:
            sweep.stop_bar()  # Ctrl-C or a failed job: no bar left spinning on a dead sweep
            raise
        return returns
