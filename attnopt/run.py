"""`attnopt run`: the Hydra entry point. A thin sequence: validate the config, build the landscape
and optimizer, run, write the run directory.

:func:`build` is the single place a composed config is checked; the CLI calls it for every job of a
sweep before any job starts, so a bad value fails in one line instead of halfway through a sweep.
"""
from __future__ import annotations

import functools
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import hydra
from omegaconf import DictConfig, OmegaConf

import attnopt
from attnopt import landscapes, optimizers, rundir, sweep
from attnopt.backend import ArraySpec
from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.optimizers.base import Optimizer
from attnopt.params import bind, ge
from attnopt.runner import Budget, Result, check_arrays, check_start, run


@dataclass
class RunSpec:
    landscape: Landscape
    optimizer: Optimizer
    optimizer_name: str
    landscape_name: str
    dimension: int
    seed: int
    x0: Optional[list]
    budget: Budget
    progress: Union[bool, int, str]  # auto, true/false (a tqdm bar), or k: a pycma-style line every k iterations
    plot: bool
    config: dict  # the resolved config, hydra node excluded
    resume: bool = True  # skip the run when a complete run of the same config exists (attnopt.sweep)
    arrays: ArraySpec = ArraySpec()  # numpy or torch, device, dtype


def _settings(
    *,
    optimizer: Optional[dict] = None,  # required: None (~optimizer) is answered with the choices
    landscape: Optional[dict] = None,
    dimension: Annotated[int, ge(1)],
    seed: Annotated[int, ge(0)],
    budget: dict,
    x0: Optional[list] = None,  # checked by check_x0, which names the whole list
    progress: Union[bool, int, str] = "auto",
    plot: bool = True,
    resume: bool = True,
    backend: str = "numpy",
    device: str = "cpu",
    dtype: str = "float64",
):
    """The top-level keys of a run config (its signature is the schema)."""


def _named_section(section: Any, where: str, registry_names: list[str]) -> tuple[str, dict]:
    if not isinstance(section, dict) or "name" not in section:
        raise ConfigError(f"{where} must be a config with a 'name'; choose {where}= one of: {', '.join(registry_names)}")
    params = dict(section)
    return str(params.pop("name")), params


def build(cfg: DictConfig) -> RunSpec:
    """Validate a composed config and build what the run needs, or raise ConfigError."""
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except Exception as exc:  # interpolation errors and the like, from OmegaConf
        key = getattr(exc, "full_key", None)
        where = f" at {key}" if key else ""
        raise ConfigError(f"config cannot be resolved{where}: {str(exc).splitlines()[0]}") from None
    plain.pop("hydra", None)
    s = bind(_settings, plain)
    if not (s["progress"] in (True, False, "auto") or (type(s["progress"]) is int and s["progress"] >= 1)):
        raise ConfigError(f"progress={s['progress']!r} is invalid: must be auto, true, false, or an integer k >= 1 "
                          "(a pycma-style progress line every k iterations)")
    budget = Budget(**bind(Budget, s["budget"], where="budget"))
    landscape_name, landscape_params = _named_section(s["landscape"], "landscape", landscapes.names())
    optimizer_name, optimizer_params = _named_section(s["optimizer"], "optimizer", optimizers.names())
    landscape = landscapes.make(landscape_name, s["dimension"], **landscape_params)  # checks its own data's size
    optimizer = optimizers.make(optimizer_name, **optimizer_params)
    arrays = ArraySpec(str(s["backend"]), str(s["device"]), str(s["dtype"]))
    check_arrays(optimizer, arrays, f"optimizer={optimizer_name}")
    check_run_fits(landscape, optimizer, optimizer_name, optimizer_params, arrays, budget, s["seed"], s["x0"])
    return RunSpec(landscape, optimizer, optimizer_name, landscape_name, s["dimension"], s["seed"], s["x0"], budget,
                   s["progress"], s["plot"], plain, s["resume"], arrays)


def check_run_fits(landscape: Landscape, optimizer: Optimizer, optimizer_name: str, optimizer_params: dict,
                   arrays: ArraySpec, budget: Budget, seed: int, x0) -> None:
    """What no single key's check can see, refused before the run starts: arrays larger than the
    memory available (attnopt.memory), a start where the loss is not finite, and an evaluation
    budget that cannot pay for the initial evaluation and one step."""
    from attnopt import memory

    params = bind(optimizers.REGISTRY[optimizer_name], optimizer_params, where="optimizer")
    memory.check_run(optimizer_name, params, landscape, arrays.dtype, optimizer)
    if x0 is not None:
        check_start(landscape, x0)
    if budget.max_evals is not None and budget.max_evals < memory.largest_batch(params, landscape.dim) + 4:
        # Small enough that the first step may not fit: try it on a stand-in of the same
        # dimension (a sphere: the costs of an optimizer's first step do not depend on the values).
        from attnopt.landscapes import Sphere

        probe = Budget(max_iters=1, max_evals=budget.max_evals)
        try:
            steps = run(Sphere(landscape.dim), optimizer, x0=x0, seed=seed, budget=probe).iters
        except ConfigError:
            steps = -1
        if steps < 1:
            paid = "the initial evaluation" if steps < 0 else "one step after the initial evaluation"
            raise ConfigError(f"budget.max_evals={budget.max_evals} is too small for optimizer={optimizer_name}: it "
                              f"cannot pay for {paid}, so the run would do nothing; raise budget.max_evals")


@functools.cache  # once per process: a sweep's jobs share it, and git costs ~15 ms a call
def environment() -> dict:
    """What is needed to re-run this exactly: versions and, when available, the git commit (of the
    code this process loaded: asked once, when first needed)."""
    from importlib.metadata import version

    # The installed versions, read from package metadata: importing torch, scipy and pandas just
    # to ask would cost a small run ~3 s.
    env = {
        "attnopt": attnopt.__version__,
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "scipy": version("scipy"),
        "pandas": version("pandas"),
        "hydra": version("hydra-core"),
        "torch": version("torch"),
        "platform": platform.platform(),
    }
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode == 0:
            env["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return env


def summary_of(spec: RunSpec, result: Result) -> dict:
    return {
        "optimizer": spec.optimizer_name,
        "landscape": spec.landscape_name,
        "dimension": spec.dimension,
        "seed": spec.seed,
        "final_loss": result.loss,
        "best_loss": result.best_loss,
        "f_opt": result.f_opt,
        "iters": result.iters,
        "f_evals": result.f_evals,
        "g_evals": result.g_evals,
        "time_s": result.time_s,
        "status": result.status,
        "backend": spec.arrays.backend,
        "device": spec.arrays.device,
        "dtype": spec.arrays.dtype,
        **result.final_metrics,
    }


def execute(spec: RunSpec, out_dir: Path, hydra_files: Optional[dict] = None) -> dict:
    """Run one job and write its directory: config.yaml, history.csv, loss.png, summary.json (last)."""
    line_every = spec.progress if type(spec.progress) is int else 0  # the progress line instead of the bar
    progress = sys.stderr.isatty() if spec.progress == "auto" else (bool(spec.progress) and not line_every)
    result = run(spec.landscape, spec.optimizer, x0=spec.x0, seed=spec.seed, budget=spec.budget, progress=progress,
                 arrays=spec.arrays, verbose=line_every)
    summary = {**summary_of(spec, result), "environment": dict(environment())}
    figure = None
    if spec.plot:
        from attnopt.plotting import loss_figure

        title = f"{spec.optimizer_name} on {spec.landscape_name}, d={spec.dimension}, seed={spec.seed}"
        figure = loss_figure(result.history_columns, title, result.f_opt)
    rundir.write(out_dir, config=spec.config, history=result.history_columns, summary=summary, figure=figure,
                 hydra_files=hydra_files)
    print(
        f"{result.status}: {spec.optimizer_name} on {spec.landscape_name} d={spec.dimension} seed={spec.seed}: "
        f"final loss {result.loss:.6g}, best {result.best_loss:.6g}, {result.iters} iters, "
        f"{result.f_evals} f-evals, {result.g_evals} g-evals, {result.time_s:.3g}s -> {out_dir}",
        flush=True,
    )
    summary.pop("environment")
    return summary


rundir.register_resolver()  # ${attnopt.run_name:} names run and sweep directories in conf/config.yaml
sweep.register_plugins()  # conf/config.yaml's hydra/sweeper=attnopt and hydra/launcher=attnopt


@hydra.main(version_base=None, config_path="conf", config_name="config")
def hydra_main(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig

    from hydra.types import RunMode

    from attnopt import sweep

    spec = build(cfg)
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    if multirun and spec.progress == "auto":
        spec.progress = False  # the sweep has one bar (attnopt.sweep); one per job would bury it
    sweep_dir = sweep.sweep_root(hc) if multirun else None
    found = rundir.claim(out_dir, spec.config, sweep_dir, spec.resume, absent=sweep.absent if multirun else ())
    if found.note:
        print(f"attnopt: warning: {found.note}", file=sys.stderr, flush=True)
    if found.dir != out_dir:
        rundir.remove_partial(out_dir)  # the empty directory Hydra made for this job (never a complete run)
    if found.complete:
        print(f"complete already, skipped: {spec.optimizer_name} on {spec.landscape_name} d={spec.dimension} "
              f"seed={spec.seed} -> {found.dir}", flush=True)
        summary = rundir.read_summary(found.dir)
        summary.pop("environment", None)
        return {**summary, "skipped": True}
    # Hydra's own record of the job (.hydra/), written with the results rather than before the run
    # (hydra.output_subdir is null in conf/config.yaml), so an interrupted run leaves nothing behind.
    # A sweep's jobs share one hydra config, written once as <sweep dir>/multirun.yaml: a hydra.yaml
    # per job would cost more than a small run.
    hydra_files = {"config.yaml": spec.config, "overrides.yaml": list(hc.overrides.task)}
    if not multirun:
        hydra_files["hydra.yaml"] = HydraConfig.instance().cfg
    try:
        return execute(spec, found.dir, hydra_files)
    except BaseException:
        rundir.remove_partial(found.dir)  # interrupted or failed: leave nothing a later command complains about
        raise
