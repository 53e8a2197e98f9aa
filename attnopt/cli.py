"""The `attnopt` command. Hydra has no subcommands, so this dispatches on the first argument and
hands the rest to the Hydra app with ``sys.argv`` rewritten.

Before Hydra starts, every job of the requested run or sweep is composed and validated with
:func:`attnopt.run.build`: a bad value then fails as one line on stderr with exit code 2, before
any run directory exists, instead of as a traceback or halfway through a sweep.
"""
from __future__ import annotations

import sys
from typing import Callable, Optional

from attnopt.errors import ConfigError
from attnopt.errors import one_line as _one_line

# omegaconf, hydra and numpy (attnopt.io, the registries) are imported by the commands that need
# them, not here: `attnopt --help` then costs a bare interpreter and a listing of attnopt.conf.

# Hydra flags after which the run does not happen (help, config printing, info).
_INFO_FLAGS = {"-h", "--help", "--hydra-help", "--version", "-c", "--cfg", "-i", "--info", "-sc",
               "--shell-completion", "--experimental-rerun"}
_FLAGS_WITH_VALUE = {"-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name", "-cd",
                     "--config-dir", "-sc", "--shell-completion", "--experimental-rerun", "-i", "--info"}
_MULTIRUN_FLAGS = {"-m", "--multirun"}


def group_choices(group: str) -> list[str]:
    """The choices of a config group (``optimizer=gd``): the YAML files shipped in attnopt.conf/<group>/.
    Read from the files, not from the registries, which import numpy and every optimizer module,
    and without importing attnopt.conf, which fills Hydra's ConfigStore (~0.25 s in all): `attnopt
    --help` lists them at the cost of a directory listing."""
    from importlib.util import find_spec
    from pathlib import Path

    locations = find_spec("attnopt.conf").submodule_search_locations or []
    return sorted({p.stem for location in locations for p in Path(location, group).glob("*.yaml")})


def _usage() -> str:
    return f"""usage: attnopt <command> [options] [key=value ...]

commands:
  run       run one optimizer on one landscape; -m sweeps over comma-separated values
            (attnopt run --help lists every config key)
  report    tables and figures from the run directories under a directory
            (attnopt report DIR [--out outputs/report] [--tables ...] [--figures ...])
  hpo       tune gradient descent's learning rate on a task: grid, random, attention search, TPE
            (attnopt hpo --help)
  list      optimizers, landscapes, experiment presets and report items, with their defaults
            (attnopt list [optimizers|landscapes|experiments|report])
  plot      a 2-D landscape as a heat map with gd, attention and hybrid trajectories on it
            (attnopt plot landscape=trapped gd.lr=0.001; attnopt plot --help)

config groups for `attnopt run`:
  optimizer=   {', '.join(group_choices("optimizer"))}
  landscape=   {', '.join(group_choices("landscape"))}

examples:
  attnopt run                                   # attention search on 10-D Rastrigin
  attnopt run optimizer=gd optimizer.lr=0.01 landscape=sphere dimension=100
  attnopt run -m landscape=sphere,rastrigin dimension=2,10 seed=0,1
  attnopt run -m +experiment=table1_small       # a preset sweep; re-running it resumes
  attnopt report outputs/sweeps/table1_small
"""


def fail(message: str) -> int:
    print(f"attnopt: error: {message}", file=sys.stderr)
    return 2


def config_groups() -> set[str]:
    """Names of the config groups shipped in attnopt.conf (optimizer, landscape, ...)."""
    from importlib.resources import files

    return {p.name for p in files("attnopt.conf").iterdir() if p.is_dir() and not p.name.startswith("_")}


def split_args(args: list[str]) -> tuple[list[str], bool, bool]:
    """(overrides, multirun, informational) from a Hydra command line."""
    overrides, multirun, info = [], False, False
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        flag = arg.split("=", 1)[0]
        if flag in _MULTIRUN_FLAGS:
            multirun = True
        elif flag in _INFO_FLAGS:
            info = True
            skip = flag in _FLAGS_WITH_VALUE and "=" not in arg and flag not in ("-i", "--info")
        elif flag in _FLAGS_WITH_VALUE:
            skip = "=" not in arg
        elif arg.startswith("-"):
            continue
        else:
            overrides.append(arg)
    return overrides, multirun, info


def job_overrides(overrides: list[str], multirun: bool, sweep_params: Optional[dict] = None) -> list[list[str]]:
    """The override list of every job the sweep will launch (attnopt.sweep.expand: the grid)."""
    if not multirun:
        return [overrides]
    from attnopt.sweep import expand

    configured = [f"{k}={v}" for k, v in (sweep_params or {}).items()]
    return expand(configured + overrides)


def validate(overrides: list[str], multirun: bool, on_job: Optional[Callable] = None,
             on_sweep: Optional[Callable] = None) -> int:
    """Compose and validate every job; returns the number of jobs or raises ConfigError.

    Composing is slow (~0.1-0.3 s: Hydra re-reads every YAML file each time), so a sweep is not
    composed job by job: each distinct set of config-group choices (optimizer=..., landscape=...)
    is composed once, and each job's value overrides (seed=3, dimension=100) are applied to a copy
    the way Hydra applies them after composing. A 280-job sweep then costs 8 compositions, not 280.

    ``on_job(job_overrides, spec, job_config)`` is called with each distinct job's validated
    :class:`~attnopt.run.RunSpec` and composed config (attnopt's sweeper and launcher then neither
    compose the job again nor launch it when its results are complete). For a single run it is
    called once every check has passed, inside Hydra's compose context, with the config Hydra
    composed, hydra node included (:func:`run_single` then runs it).

    ``on_sweep(overrides, config)``: for a sweep, called once every job has passed, inside Hydra's
    compose context, with the sweep's config, hydra node included (:func:`run_sweep` then runs it).
    """
    import contextlib
    import copy

    from hydra import compose, initialize_config_module
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    from attnopt import memory
    from attnopt.run import build

    errors = (HydraException, OmegaConfBaseException, ValueError)

    def composed(job: list[str], with_hydra: bool = False):
        try:
            return compose(config_name="config", overrides=job, return_hydra_config=with_hydra)
        except errors as exc:
            group_choices = [o for o in job if o.split("=", 1)[0].lstrip("+~") in config_groups()]
            try:
                base = compose(config_name="config", overrides=group_choices)
            except errors:
                base = None
            raise ConfigError(_one_line(exc, base)) from None

    parser, known = OverridesParser.create(), {}

    def parse(lines: list[str]):
        # each distinct line once (~2 ms a line): a sweep's jobs share all their lines but one or two
        new = list(dict.fromkeys(line for line in lines if line not in known))
        try:
            known.update(zip(new, parser.parse_overrides(new)) if new else ())
        except errors as exc:
            raise ConfigError(_one_line(exc)) from None
        return [known[line] for line in lines]

    groups = config_groups()

    def is_group_choice(o) -> bool:
        key = o.key_or_group.split("@")[0]
        return "/" in key or key in groups

    # job_name: what @hydra.main names attnopt.run's jobs (hydra.job.name in .hydra/hydra.yaml)
    with initialize_config_module(config_module="attnopt.conf", version_base=None, job_name="run"), \
            contextlib.ExitStack() as scope:
        fixed = overrides if not multirun else [o.input_line for o in parse(overrides) if not o.is_sweep_override()]
        if multirun:
            hydra_sweeps = [o.input_line for o in parse(overrides) if o.is_sweep_override() and o.is_hydra_override()]
            if hydra_sweeps:  # Hydra's own rule, said before anything runs
                raise ConfigError(f"'{hydra_sweeps[0]}': a sweep cannot sweep over Hydra's own configuration "
                                  "(hydra.*); give it one value")
        base = composed(fixed, with_hydra=True)
        params = OmegaConf.select(base, "hydra.sweeper.params") if multirun else None
        sweep_params = OmegaConf.to_container(params) if params else None
        try:
            jobs = job_overrides(overrides, multirun, sweep_params)
        except (HydraException, OmegaConfBaseException) as exc:
            raise ConfigError(_one_line(exc)) from None
        by_choices: dict[tuple, object] = {}
        if not multirun:  # the one job is `base` less its hydra node, as compose() gives it: no second compose
            job_cfg = copy.deepcopy(base)
            with open_dict(job_cfg):
                del job_cfg["hydra"]
            spec = build(job_cfg)
            check_outputs(base, multirun)
            if on_job is not None:  # inside Hydra's context, after every check (run_single runs the job)
                on_job(list(overrides), spec, base)
            return 1
        # The jobs that choose the groups the command line fixed (no group swept) start from `base`
        # less its hydra node: `base` is that composition with the fixed values set, which each
        # job sets again with its own. One composition fewer (~0.1 s) for most sweeps.
        fixed_choices = tuple(o.input_line for o in parse(fixed) if is_group_choice(o))
        if not sweep_params:
            by_choices[fixed_choices] = copy.deepcopy(base)
            with open_dict(by_choices[fixed_choices]):
                del by_choices[fixed_choices]["hydra"]
        seen = set()
        # the jobs run n_jobs at a time: each is checked against its share of the memory
        scope.enter_context(memory.shared_by(*concurrent_jobs(base, len({tuple(job) for job in jobs}))))
        for job in jobs:
            key = tuple(job)
            if key in seen:
                continue
            seen.add(key)
            parsed = parse(list(job))
            choices = tuple(o.input_line for o in parsed if is_group_choice(o))
            values = [o for o in parsed if not is_group_choice(o) and not o.key_or_group.startswith("hydra.")]
            if choices not in by_choices:
                by_choices[choices] = composed(list(choices))
            cfg = copy.deepcopy(by_choices[choices])
            try:
                # key=value: set as Hydra sets it after composing (OmegaConf.update, merge=True);
                # anything else (+key, ++key, ~key, key@pkg, extend_list(...)) is left to Hydra
                plain = (str, int, float, bool, type(None), list, dict)
                if any(o.is_add() or o.is_force_add() or o.is_delete() or o.package is not None
                       or not isinstance(o.value(), plain) for o in values):
                    raise ValueError("composed by Hydra")
                for o in values:
                    OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True)
            except errors:
                cfg = composed(list(job))  # exactly as Hydra composes it, or Hydra's own message
            spec = build(cfg)
            if on_job is not None:
                on_job(list(job), spec, cfg)
        check_outputs(base, multirun)
        if on_sweep is not None:  # inside Hydra's context, after every check (run_sweep runs the sweep)
            on_sweep([o.input_line for o in parse(overrides) if not o.is_hydra_override()], base)
    return len(jobs)


def concurrent_jobs(base, n_distinct: int) -> tuple[int, str]:
    """How many of a sweep's jobs run at once, and the setting that says so: attnopt's (and
    joblib's) launcher runs ``hydra.launcher.n_jobs`` workers (negative: all CPUs but |n| - 1),
    never more than there are jobs; other launchers (SLURM) give each job its own machine."""
    import os

    from omegaconf import OmegaConf

    n_jobs = OmegaConf.select(base, "hydra.launcher.n_jobs", default=None)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        return 1, ""  # none, or a bad value that check_launcher names after the jobs
    workers = n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return min(workers, max(n_distinct, 1)), f"hydra.launcher.n_jobs={n_jobs}"


def check_outputs(base, multirun: bool) -> None:
    """The output directory and the launcher, checked after the jobs (so that a value the
    directory's name interpolates, ${seed}, is named by build() first)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from attnopt.io import check_writable

    out_key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        check_writable(OmegaConf.select(base, out_key))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{out_key} cannot be resolved: {str(exc).splitlines()[0]}") from None
    if multirun:
        check_launcher(base)


def check_launcher(cfg) -> None:
    """The launcher's settings that would otherwise fail inside the launcher, after the sweep started."""
    from omegaconf import OmegaConf

    from attnopt.pool import check_launcher_settings
    from attnopt.sweep import check_n_jobs

    n_jobs = OmegaConf.select(cfg, "hydra.launcher.n_jobs", default=None)
    start_method = OmegaConf.select(cfg, "hydra.launcher.start_method", default=None)
    if start_method is not None:  # attnopt's launcher
        check_launcher_settings(n_jobs, start_method)
    elif n_jobs is not None:  # joblib's
        check_n_jobs(n_jobs)


class _Callbacks:
    """The config's Hydra callbacks (hydra.callbacks), each hook called on each of them in order, the
    end hooks in reverse order, as Hydra calls them (its own class for this is private)."""

    def __init__(self, config):
        from hydra.utils import instantiate

        self.callbacks = [instantiate(node) for node in (config.hydra.callbacks or {}).values()]

    def _notify(self, hook: str, reverse: bool = False, **kwargs) -> None:
        for callback in reversed(self.callbacks) if reverse else self.callbacks:
            getattr(callback, hook)(**kwargs)

    def on_run_start(self, **kwargs) -> None:
        self._notify("on_run_start", **kwargs)

    def on_run_end(self, **kwargs) -> None:
        self._notify("on_run_end", reverse=True, **kwargs)

    def on_multirun_start(self, **kwargs) -> None:
        self._notify("on_multirun_start", **kwargs)

    def on_multirun_end(self, **kwargs) -> None:
        self._notify("on_multirun_end", reverse=True, **kwargs)

    def on_job_start(self, **kwargs) -> None:
        self._notify("on_job_start", **kwargs)

    def on_job_end(self, **kwargs) -> None:
        self._notify("on_job_end", reverse=True, **kwargs)


def run_single(overrides: list[str], spec, config) -> None:
    """`attnopt run key=value ...` (no -m) from the config :func:`validate` composed, as Hydra's
    @hydra.main runs a job (callbacks' on_run_start and on_run_end around Hydra's public run_job,
    the same output directory and HydraConfig), without composing the config twice more."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import run_job
    from hydra.types import HydraContext, RunMode
    from omegaconf import open_dict

    from attnopt.run import hydra_main

    with open_dict(config):
        config.hydra.mode = RunMode.RUN
        config.hydra.overrides.hydra.append("hydra.mode=RUN")  # as @hydra.main records it
    callbacks = _Callbacks(config)
    callbacks.on_run_start(config=config, config_name="config")
    context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=callbacks)
    ret = run_job(hydra_context=context, task_function=hydra_main, config=config, job_dir_key="hydra.run.dir",
                  job_subdir_key=None)
    callbacks.on_run_end(config=config, config_name="config", job_return=ret)
    _ = ret.return_value  # a failed run raises its exception here, as under @hydra.main


def run_sweep(task: list[str], config) -> None:
    """`attnopt run -m key=a,b ...` from the config :func:`validate` composed, as Hydra's multirun
    runs a sweep (the config in MULTIRUN mode, the callbacks' on_multirun_start and on_multirun_end
    around the Sweeper plugin the config names, found through Hydra's public plugin registry),
    without the two compositions @hydra.main makes first (~0.1 s each: once to learn the mode, once
    to run). ``task``: the command line's task overrides, sweeps included, as Hydra records them."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.core.utils import configure_log
    from hydra.types import HydraContext, RunMode
    from omegaconf import open_dict

    from attnopt.run import hydra_main
    from attnopt.sweep import override_dirname

    # What Hydra's MULTIRUN composition has beyond the RUN one of the fixed overrides: the mode,
    # and the sweep overrides among the task's (in order) and in hydra.job.override_dirname
    with open_dict(config):
        config.hydra.mode = RunMode.MULTIRUN
        config.hydra.overrides.hydra.append("hydra.mode=MULTIRUN")  # as @hydra.main records it
        config.hydra.overrides.task = list(task)
        config.hydra.job.override_dirname = override_dirname(task, config.hydra.job.config.override_dirname)
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    callbacks = _Callbacks(config)
    callbacks.on_multirun_start(config=config, config_name="config")
    context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=callbacks)
    sweeper = Plugins.instance().instantiate_sweeper(config=config, hydra_context=context, task_function=hydra_main)
    sweeper.sweep(arguments=list(task))
    callbacks.on_multirun_end(config=config, config_name="config")


# Hydra refuses these together with -m (with a traceback); the config they print is the same without -m.
_SINGLE_MODE_FLAGS = {"-c", "--cfg", "-i", "--info", "-sc", "--shell-completion"}


def run_command(args: list[str]) -> int:
    overrides, multirun, info = split_args(args)
    clash = sorted({a.split("=", 1)[0] for a in args} & _SINGLE_MODE_FLAGS)
    if multirun and clash:
        return fail(f"-m cannot be combined with {', '.join(clash)} (Hydra does one or the other): drop -m to "
                    "print the config")
    if not info:
        from attnopt import sweep

        # A run or sweep with no Hydra flags (-cn, -cd, --cfg, ...) is run from the config composed
        # here; otherwise Hydra composes again (@hydra.main: once to learn the mode, once to run).
        ours = not any(a.startswith("-") and a.split("=", 1)[0] not in _MULTIRUN_FLAGS for a in args)
        single = not multirun and ours
        try:
            validate(overrides, multirun, on_job=sweep.plan if multirun else run_single if single else None,
                     on_sweep=run_sweep if multirun and ours else None)
        except ConfigError as exc:
            return fail(str(exc))
        if ours:
            return 0
    from attnopt.run import hydra_main

    sys.argv = ["attnopt run", *args]
    hydra_main()
    return 0


def report_command(args: list[str]) -> int:
    from attnopt.report.build import main as report_main

    return report_main(args)


def hpo_command(args: list[str]) -> int:
    from attnopt.hpo import main as hpo_main

    return hpo_main(args)


def plot_command(args: list[str]) -> int:
    from attnopt.landscape_plot import main as plot_main

    return plot_main(args)


def list_command(args: list[str]) -> int:
    from attnopt.listing import main as list_main

    return list_main(args)


COMMANDS: dict[str, Callable[[list[str]], int]] = {"run": run_command, "report": report_command, "hpo": hpo_command,
                                                   "plot": plot_command, "list": list_command}


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from attnopt import __version__

        print(f"attnopt {__version__}")
        return 0
    command = COMMANDS.get(argv[0])
    if command is None:
        return fail(f"unknown command '{argv[0]}'; choose from: {', '.join(COMMANDS)} (see attnopt --help)")
    try:
        return command(argv[1:])
    except ConfigError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("attnopt: interrupted; finished runs are complete on disk", file=sys.stderr)
        return 130


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `attnopt --help | head`: the reader left; say nothing more (Python's own advice).
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    entry()
