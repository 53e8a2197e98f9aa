"""Learning-rate search (report 2.5.5): grid, random, attention search and Optuna's TPE.

The objective is a landscape of one coordinate, ``u = log10(learning rate)``:
:class:`LearningRateLoss` trains the task's model with ``steps`` full-batch gradient-descent steps
from a fixed start and returns its *validation* loss. Every candidate learning rate of a batch is
trained at once (each GD step is one batched gradient call over all candidates), and a rate that
diverges scores +inf.

Each method sees the objective only through an :class:`~attnopt.oracle.Oracle` with
``max_evals = budget``, so all of them get exactly the same number of evaluations (one evaluation =
one training run of ``steps`` GD steps) and none can overshoot; the answer is the best candidate
the oracle saw. Methods:

- ``grid``: ``budget`` points evenly spaced in [log10 lr_min, log10 lr_max], one batched call.
- ``random``: ``budget`` uniform points in the same interval, one batched call.
- ``attention``: ``rounds`` rounds; each evaluates its share of the budget spread evenly (one
  uniform point per equal sub-interval) over the current region, weighs the candidates with
  softmax(-beta * log(loss)), moves the region's centre to the weighted mean of log lr and shrinks
  its width by ``shrink``. Taking the log makes beta independent of the loss's units (weights are
  proportional to loss^-beta); ``losses="raw"`` is the report's softmax(-beta * loss) exactly.
  Diverged candidates get weight 0.
- ``tpe``: Optuna's TPESampler, default settings, one trial at a time (TPE is sequential by design).

Use it from Python (:func:`search`, :func:`compare`) or as ``attnopt hpo key=value ...``.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Optional, Union

import numpy as np

from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.lazy import LazyModule
from attnopt.optimizers.weights import softmax
from attnopt.oracle import BudgetExhausted, Oracle
from attnopt.params import Family, bind, ge, gt, le, one_of, takes

# Imported when results are tabulated: the settings' declarations below are read without it
# (attnopt/conf_store.py makes conf/hpo.yaml's defaults from them).
pd = LazyModule("pandas")

METHODS = ("grid", "random", "attention", "tpe")


def search_settings(
    *,
    budget: Annotated[int, ge(1)] = 20,
    steps: Annotated[int, ge(1)] = 20,
    lr_min: Annotated[float, gt(0)] = 1e-4,
    lr_max: Annotated[float, gt(0)] = 1.0,
    reference: Annotated[int, ge(0)] = 1000,
):
    """What every method's search gets, declared once (for :func:`compare` and `attnopt hpo`):
    ``budget`` trainings of ``steps`` GD steps each, rates in [``lr_min``, ``lr_max``], and a
    ``reference`` grid of that many rates (0: none) for the regret."""


def attention_settings(
    *,
    rounds: Annotated[int, ge(1)] = 4,
    beta: Annotated[float, gt(0)] = 5.0,
    shrink: Annotated[float, gt(0), le(1)] = 0.5,
    losses: Annotated[str, one_of("log", "raw")] = "log",
):
    """The attention method's settings (`attnopt hpo attention.*`), declared once: the budget is
    split over ``rounds``; weights softmax(-``beta`` * log loss) (``losses=raw``: of the loss);
    the region shrinks by ``shrink`` every round."""


SEARCH_SETTINGS = Family(search_settings)
ATTENTION_SETTINGS = Family(attention_settings)


class LearningRateLoss(Landscape):
    """``u = log10(lr)`` -> validation loss of ``task`` after ``steps`` GD steps from ``x0``."""

    name = "lr_loss"

    def __init__(self, task: Landscape, steps: int, x0: np.ndarray, bounds: tuple[float, float]):
        super().__init__(1)
        if not hasattr(task, "validation_loss"):
            raise ConfigError(f"landscape {task.name} has no validation split; tune a task landscape: linreg, logreg, mlp")
        self.task, self.steps, self.x0 = task, int(steps), np.asarray(x0, dtype=float)
        self.init_bounds = tuple(bounds)

    def _value(self, U):
        lr = 10.0 ** U[:, 0]
        W = np.repeat(self.x0[None, :], len(lr), axis=0)
        with np.errstate(all="ignore"):  # rates past the stable range overflow; they score +inf below
            for _ in range(self.steps):  # over steps; all candidates move together in one call
                W = W - lr[:, None] * self.task.grad(W)
            val = self.task.validation_loss(W)
        return np.where(np.isfinite(val), val, np.inf)


# --- the methods: (evaluate, lo, hi, budget, rng, **params) -> None; answers come from the oracle --


def _grid(evaluate, lo, hi, budget, rng):
    evaluate(np.linspace(lo, hi, budget))


def _random(evaluate, lo, hi, budget, rng):
    evaluate(rng.uniform(lo, hi, budget))


# A twin of the core's attention search, on purpose: the core's optimizers spend an evaluation on x0
# (attention search one per step on its new mean) and sample unbounded Gaussians, which at hpo's 20
# trainings over a bounded interval leaves a higher regret (scripts/bench_hpo_attention.py measures it).
@takes(ATTENTION_SETTINGS)
def _attention(evaluate, lo, hi, budget, rng, **settings):
    rounds, beta, shrink, losses = (settings[k] for k in ("rounds", "beta", "shrink", "losses"))
    sizes = np.full(rounds, budget // rounds)
    sizes[: budget % rounds] += 1
    weigh = softmax(beta)
    centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    for k in sizes[sizes > 0]:
        centre = min(max(centre, lo + half), hi - half)  # keep the region inside the bounds, whole
        a = centre - half
        u = a + 2.0 * half * (np.arange(k) + rng.uniform(size=k)) / k
        found = evaluate(u)
        with np.errstate(divide="ignore"):
            alpha = weigh(np.log(found) if losses == "log" else found)
        if alpha.sum() > 0:  # every candidate diverged: search the same region again
            centre = float(alpha @ u)
            half *= shrink


def _tpe(evaluate, lo, hi, budget, rng):
    try:
        import optuna
    except ImportError:
        raise ConfigError("method tpe needs optuna: pip install 'attnopt[baselines]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=int(rng.integers(2**31 - 1))))
    for _ in range(budget):
        trial = study.ask()
        loss = float(evaluate(np.array([trial.suggest_float("log10_lr", lo, hi)]))[0])
        study.tell(trial, loss)


_SEARCHERS: dict[str, Callable] = {"grid": _grid, "random": _random, "attention": _attention, "tpe": _tpe}


@dataclass
class SearchResult:
    method: str
    best_lr: float
    min_val_loss: float
    evals: int
    time_s: float
    trials: pd.DataFrame  # every evaluation: eval, log10_lr, lr, val_loss


def search(objective: Landscape, method: str, budget: int, rng: np.random.Generator, **params) -> SearchResult:
    """Run one method on a one-coordinate objective over its ``init_bounds`` with ``budget``
    evaluations (through an Oracle, which enforces the budget and keeps the best point)."""
    if method not in _SEARCHERS:
        raise ConfigError(f"unknown method '{method}'; choose from: {', '.join(METHODS)}")
    oracle = Oracle(objective, max_evals=budget)
    trials: list[tuple[np.ndarray, np.ndarray]] = []

    def evaluate(u):
        u = np.asarray(u, dtype=float)
        losses = oracle.f(u[:, None])
        trials.append((u, losses))
        return losses

    lo, hi = objective.init_bounds
    start = time.perf_counter()
    try:
        _SEARCHERS[method](evaluate, lo, hi, budget, rng, **params)
    except BudgetExhausted:  # a method may try to overspend; what it evaluated still counts
        pass
    elapsed = time.perf_counter() - start
    u = np.concatenate([t[0] for t in trials]) if trials else np.empty(0)
    losses = np.concatenate([t[1] for t in trials]) if trials else np.empty(0)
    frame = pd.DataFrame({"eval": np.arange(1, len(u) + 1), "log10_lr": u, "lr": 10.0**u, "val_loss": losses})
    best = oracle.best_x
    return SearchResult(method, float(10.0 ** best[0]) if best is not None else math.nan, float(oracle.best_loss),
                        oracle.f_evals, elapsed, frame)


@takes(SEARCH_SETTINGS)
def compare(make_task: Callable[[int], Landscape], *, methods=METHODS, seeds=(0,), attention: Optional[dict] = None,
            progress: bool = False, **settings):
    """Every method on every seed's task: (results, one row per method x seed; trials, every evaluation).

    Per seed, ``make_task(seed)`` gives the task (its data may depend on the seed), the GD start is
    the task's ``sample_x0`` from the seed, and every method searches the same objective.
    ``reference`` > 0 also evaluates that many evenly spaced rates (outside any budget) to give
    ``regret`` = a method's min val loss - the reference grid's; they are in ``trials`` as method
    "reference". Returns ``(results, trials)``, two DataFrames; the settings are
    :func:`search_settings`.
    """
    budget, steps, lr_min, lr_max, reference = (settings[k] for k in ("budget", "steps", "lr_min", "lr_max",
                                                                      "reference"))
    attention = dict(attention or {})
    rows, all_trials = [], []
    jobs = [(s, m) for s in seeds for m in methods]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="hpo", unit="search", disable=not progress, leave=False)
    lo, hi = math.log10(lr_min), math.log10(lr_max)
    for seed in seeds:
        task = make_task(seed)
        x0 = task.sample_x0(np.random.default_rng(np.random.SeedSequence([seed, 0])))
        objective = LearningRateLoss(task, steps, x0, (lo, hi))
        ref = math.nan
        if reference > 0:
            grid = np.linspace(lo, hi, reference)
            curve = objective(grid[:, None])
            ref = float(np.min(curve))
            all_trials.append(pd.DataFrame({"eval": np.arange(1, reference + 1), "log10_lr": grid, "lr": 10.0**grid,
                                            "val_loss": curve, "method": "reference", "seed": seed}))
        for i, method in enumerate(methods):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 1 + METHODS.index(method)]))
            res = search(objective, method, budget, rng, **(attention if method == "attention" else {}))
            rows.append({"method": method, "seed": seed, "best_lr": res.best_lr, "min_val_loss": res.min_val_loss,
                         "regret": res.min_val_loss - ref, "evals": res.evals, "time_s": res.time_s,
                         "reference_loss": ref})
            all_trials.append(res.trials.assign(method=method, seed=seed))
            bar.update(1)
    bar.close()
    trials = pd.concat(all_trials, ignore_index=True) if all_trials else pd.DataFrame()
    return pd.DataFrame(rows), trials


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Report Table 3: per method, medians over seeds (and the regret's inter-quartile range)."""
    # one definition, in the report (which must not import this module's optimizers)
    from attnopt.report.tables import summarize_search

    return summarize_search(results)


# --- `attnopt hpo` ---------------------------------------------------------------------------


@takes(SEARCH_SETTINGS)
def cli_settings(
    *,
    landscape: dict,
    dimension: Annotated[int, ge(1)],
    seed: Annotated[int, ge(0)] = 0,
    n_seeds: Annotated[int, ge(1)] = 1,
    methods: Annotated[list[str], one_of(*METHODS)] = list(METHODS),
    attention: Optional[dict] = None,  # attention_settings
    out: Optional[str] = None,
    progress: Union[bool, str] = "auto",
    **search,
):
    """The keys of `attnopt hpo` (conf/hpo.yaml): this signature is their schema and holds their
    defaults (attnopt/conf_store.py composes the config from it)."""


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from attnopt.errors import one_line as _one_line

    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        try:
            cfg = compose(config_name="hpo", overrides=overrides)
        except (HydraException, OmegaConfBaseException, ValueError) as exc:
            try:  # lets an unknown key be answered with the keys that exist
                base = compose(config_name="hpo", overrides=[o for o in overrides if o.startswith("landscape=")])
            except (HydraException, OmegaConfBaseException, ValueError):
                base = None
            raise ConfigError(_one_line(exc, base).replace("attnopt run --help", "attnopt hpo --help")) from None
    try:
        # resolved for the settings; raw for the tasks, whose ${seed} must resolve per seed
        return OmegaConf.to_container(cfg, resolve=True), OmegaConf.to_container(cfg, resolve=False)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config cannot be resolved: {str(exc).splitlines()[0]}") from None


def settings_from(plain: dict) -> dict:
    """Validated settings of `attnopt hpo` from a composed (unresolved) config, or ConfigError."""
    from attnopt.landscapes.tasks import Task
    from attnopt.landscapes import REGISTRY

    name = plain.get("landscape", {}).get("name") if isinstance(plain.get("landscape"), dict) else None
    if not (name in REGISTRY and issubclass(REGISTRY[name], Task)):
        tasks = sorted(k for k, v in REGISTRY.items() if issubclass(v, Task))
        raise ConfigError(f"landscape={name} is invalid for attnopt hpo: it tunes a model on a train/validation "
                          f"split; choose landscape= one of: {', '.join(tasks)}")
    s = bind(cli_settings, plain)
    if s["lr_min"] >= s["lr_max"]:
        raise ConfigError(f"lr_min={s['lr_min']} and lr_max={s['lr_max']} are invalid: lr_min must be < lr_max")
    if not s["methods"]:
        raise ConfigError(f"methods=[] is invalid: give one or more of {', '.join(METHODS)}")
    if s["progress"] not in (True, False, "auto"):
        raise ConfigError(f"progress={s['progress']!r} is invalid: must be auto, true or false")
    s["attention"] = bind(attention_settings, s["attention"] or {}, where="attention")
    if s["attention"]["rounds"] > s["budget"]:
        raise ConfigError(f"attention.rounds={s['attention']['rounds']} is invalid: must be <= budget={s['budget']}")
    return s


def task_factory(plain: dict) -> Callable[[int], Landscape]:
    """seed -> the task the config describes for that seed (``${seed}`` in it resolves per seed).
    Every seed's task is built once here, so a bad value fails before any search starts."""
    from omegaconf import OmegaConf

    from attnopt import landscapes

    def build(seed: int) -> Landscape:
        node = OmegaConf.create({**plain, "seed": seed})
        try:
            section = OmegaConf.to_container(node.landscape, resolve=True)
        except Exception as exc:  # interpolation errors, from OmegaConf
            raise ConfigError(f"config cannot be resolved: {str(exc).splitlines()[0]}") from None
        if not isinstance(section, dict) or "name" not in section:
            raise ConfigError(f"landscape must be a config with a 'name'; choose landscape= one of: {', '.join(landscapes.names())}")
        section = dict(section)
        return landscapes.make(section.pop("name"), int(plain["dimension"]), **section)

    return build


HPO_USAGE = """usage: attnopt hpo [key=value ...]

Tune the learning rate of gradient descent on a task (validation loss after `steps` GD steps) with
grid search, random search, attention search and Optuna TPE, each with `budget` trainings.
Writes results.csv (method x seed), trials.csv (every evaluation, and the reference grid) and
table.csv/.md (medians).

keys (conf/hpo.yaml): landscape=linreg|logreg|mlp (and landscape.*), dimension, seed, n_seeds,
  methods=[grid,random,attention,tpe], budget, steps, lr_min, lr_max, reference,
  attention.rounds, attention.beta, attention.shrink, attention.losses=log|raw, out, progress

examples:
  attnopt hpo
  attnopt hpo n_seeds=10 budget=30 methods=[attention,tpe]
  attnopt hpo landscape=logreg steps=50 lr_max=10
"""


def check_memory(s: dict, task: Landscape) -> None:
    """Refuse settings whose largest batch of trainings cannot fit: grid and random search train
    all ``budget`` rates at once, attention search a round's share, the reference grid
    ``reference`` rates; each holds the task's parameters and activations (attnopt.memory)."""
    from attnopt import memory

    batches = {"reference": s["reference"]}
    for method in s["methods"]:
        size = {"grid": s["budget"], "random": s["budget"], "tpe": 1}.get(
            method, -(-s["budget"] // s["attention"]["rounds"]))
        batches["budget"] = max(batches.get("budget", 0), size)
    key = max(batches, key=batches.get)
    rows = batches[key]
    nbytes = memory.BATCH_COPIES * rows * task.numbers_per_point * 8.0
    memory.require(nbytes, f"{key}={s[key]} ({rows} trainings of {task.dim} parameters evaluated in one batch)")


def run_hpo(overrides: list[str], check_outputs: Optional[Callable[[dict], None]] = None,
            ) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Compose conf/hpo.yaml with ``overrides``, validate it, run every method on every seed:
    (settings, results, trials, table). Shared by `attnopt hpo` and `make table3`.
    ``check_outputs(settings)`` is called once the settings are valid, before any computation."""
    bad = [a for a in overrides if "=" not in a]
    if bad:
        raise ConfigError(f"argument '{bad[0]}' is invalid: give key=value overrides (see attnopt hpo --help)")
    resolved, raw = _compose(overrides)
    s = settings_from(resolved)
    make_task = task_factory(raw)
    seeds = list(range(s["seed"], s["seed"] + s["n_seeds"]))
    tasks = {seed: make_task(seed) for seed in seeds}
    check_memory(s, tasks[seeds[0]])
    if check_outputs is not None:
        check_outputs(s)
    progress = sys.stderr.isatty() if s["progress"] == "auto" else bool(s["progress"])
    results, trials = compare(tasks.__getitem__, methods=s["methods"], seeds=seeds, budget=s["budget"],
                              steps=s["steps"], lr_min=s["lr_min"], lr_max=s["lr_max"], reference=s["reference"],
                              attention=s["attention"], progress=progress)
    return s, results, trials, summarize(results)


def main(args: list[str]) -> int:
    if any(a in ("-h", "--help") for a in args):
        from attnopt.params import defaults

        shown = [f"{k}={v}" for k, v in defaults(cli_settings, skip=("landscape", "dimension", "attention")).items()]
        shown += [f"attention.{k}={v}" for k, v in defaults(attention_settings).items()]
        print(HPO_USAGE + "\ndefaults (landscape=linreg with landscape.dataset=diabetes, conf/hpo.yaml):\n  "
              + ", ".join(shown))
        return 0
    chosen: dict = {}

    def check_outputs(s: dict) -> None:  # before the searches: a bad `out` must not waste them
        from attnopt.io import check_writable

        chosen["out"] = Path(s["out"] or f"outputs/hpo/{time.strftime('%Y-%m-%d_%H-%M-%S')}")
        check_writable(chosen["out"])

    s, results, trials, table = run_hpo(args, check_outputs)
    out = chosen["out"]
    from attnopt import io
    from attnopt.report import to_markdown, write_table

    io.write_csv(out / "trials.csv", trials)
    io.write_csv(out / "results.csv", results)
    write_table(table, out, "table")
    print(to_markdown(table), end="")
    print(f"wrote {out}/results.csv, trials.csv, table.csv, table.md", flush=True)
    return 0


__all__ = ["LearningRateLoss", "SearchResult", "search", "compare", "summarize", "run_hpo", "METHODS"]
