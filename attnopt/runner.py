"""The loop: budgets, stopping, counting and recording, for every optimizer alike.

Following pycma's ask/evaluate/tell shape, the loop itself is a few lines; everything an optimizer
evaluates goes through one :class:`~attnopt.oracle.Oracle`, so every run counts function and
gradient evaluations and wall time the same way and can be compared per evaluation.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from attnopt import optimizers as optimizers_mod
from attnopt.backend import ArraySpec, to_numpy
from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.optimizers.base import Optimizer
from attnopt.oracle import BudgetExhausted, Oracle

if TYPE_CHECKING:
    import pandas as pd

HISTORY_COLUMNS = ["iter", "loss", "best_loss", "f_evals", "g_evals", "time_s", "phase"]
_HISTORY_DTYPES = [np.int64, np.float64, np.float64, np.int64, np.int64, np.float64, np.str_]
STATUSES = ("target_reached", "budget_exhausted", "converged", "diverged")


@dataclass
class Result:
    x: np.ndarray  # the final iterate
    loss: float  # its loss
    best_x: Optional[np.ndarray]  # the best point ever evaluated (trial points included)
    best_loss: float
    history_columns: dict[str, np.ndarray] = field(repr=False)  # the history: column name -> one value per iteration
    f_evals: int
    g_evals: int
    iters: int
    status: str
    time_s: float
    f_opt: Optional[float] = None

    @cached_property
    def history(self) -> pd.DataFrame:
        """The history as a DataFrame, built on first use: pandas takes ~0.4 s to import, more
        than a small run, and writing a run directory does not need it (attnopt.io.write_csv)."""
        import pandas as pd

        return pd.DataFrame(self.history_columns)

    @property
    def final_metrics(self) -> dict:
        """The landscape's extra metrics (e.g. val_loss) at the final iterate, if any."""
        return {c: float(v[-1]) for c, v in self.history_columns.items() if c not in HISTORY_COLUMNS}


#: the largest max_iters / max_evals that counts as bounding a run on its own
BOUNDED_COUNT = 10**12


@dataclass(frozen=True)
class Budget:
    """When a run stops. At least one of max_iters, max_evals, time_limit must be set.

    ``target`` stops once the best loss is <= target; ``tol`` stops ("converged") once the best
    loss has improved by less than ``tol`` over the last ``patience`` iterations.
    """

    max_iters: Optional[int] = 1000
    max_evals: Optional[int] = None
    target: Optional[float] = None
    time_limit: Optional[float] = None
    tol: Optional[float] = None
    patience: int = 100

    def __post_init__(self):
        for name in ("max_iters", "max_evals", "patience"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
                raise ConfigError(f"budget.{name}={value!r} is invalid: must be an integer >= 1")
        for name in ("time_limit", "tol"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ConfigError(f"budget.{name}={value!r} is invalid: must be a finite number > 0")
        if self.target is not None and not (isinstance(self.target, (int, float)) and not math.isnan(self.target)):
            raise ConfigError(f"budget.target={self.target!r} is invalid: must be a number")
        # A count beyond BOUNDED_COUNT is no bound: 1e12 evaluations are days even at a microsecond each.
        if not (self.time_limit is not None or any(v is not None and v <= BOUNDED_COUNT
                                                   for v in (self.max_iters, self.max_evals))):
            given = ", ".join(f"budget.{k}={getattr(self, k)}" for k in ("max_iters", "max_evals")
                              if getattr(self, k) is not None)
            raise ConfigError(
                f"budget is unbounded{f' ({given} is beyond {BOUNDED_COUNT:.0e})' if given else ''}: set at least one "
                f"of budget.max_iters, budget.max_evals (<= {BOUNDED_COUNT:.0e}), budget.time_limit"
            )


def check_x0(x0, dim: int) -> np.ndarray:
    try:
        raw = np.asarray(to_numpy(x0))
        if raw.dtype.kind not in "iuf":  # complex (whose imaginary part float() would drop), text, objects
            raise TypeError
        arr = raw.astype(float)
    except (TypeError, ValueError):
        raise ConfigError(f"x0={x0!r} is invalid: expected a list of {dim} real numbers") from None
    if arr.ndim == 0 and dim == 1:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"x0 has shape {arr.shape}: give a flat list of {dim} numbers (dimension={dim})")
    if arr.shape != (dim,):
        raise ConfigError(f"x0 has {arr.size} values but dimension={dim}: give exactly {dim} numbers")
    if not np.isfinite(arr).all():
        raise ConfigError(f"x0={arr.tolist()} is invalid: every value must be finite")
    return arr


def check_start(landscape: Landscape, x0) -> np.ndarray:
    """x0 checked (:func:`check_x0`) and refused where the landscape's value is not finite: no
    optimizer can move from there (scipy's line searches fail with an IndexError, weights are all
    zero), so such a start is bad input, not a run that diverged."""
    start = check_x0(x0, landscape.dim)
    with np.errstate(all="ignore"):
        value = float(to_numpy(landscape(start)))
    if not math.isfinite(value):
        shown = ", ".join(f"{v:g}" for v in start[:4]) + (", ..." if start.size > 4 else "")
        raise ConfigError(f"x0=[{shown}] is invalid: the landscape's value there is {value}; "
                          "give a start where it is finite")
    return start


def seeded_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for x0 and the optimizer, so changing an optimizer's use of
    randomness never moves the starting point."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r} is invalid: must be an integer >= 0")
    x0_seq, opt_seq = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(x0_seq), np.random.default_rng(opt_seq)


def check_arrays(optimizer: Optimizer, arrays: ArraySpec, name: str = "this optimizer") -> None:
    """Refuse, in one line, an array type the optimizer cannot compute with."""
    if not optimizer.any_backend and not arrays.is_default:
        raise ConfigError(
            f"backend={arrays.backend} dtype={arrays.dtype} is invalid for {name}: it runs on numpy float64 "
            "only; use backend=numpy dtype=float64"
        )


def run(
    landscape: Landscape,
    optimizer: Optimizer,
    *,
    x0=None,
    seed: int = 0,
    budget: Budget = Budget(),
    progress: bool = False,
    arrays: ArraySpec = ArraySpec(),
) -> Result:
    """Run ``optimizer`` on ``landscape`` until ``budget`` ends. ``arrays`` chooses the array type
    the run computes in (numpy or torch, device, dtype); x0 is drawn, or checked, as float64 numpy
    and then converted, so a seed gives the same start on every backend."""
    check_arrays(optimizer, arrays)
    x0_rng, opt_rng = seeded_streams(seed)
    x0 = landscape.sample_x0(x0_rng) if x0 is None else check_start(landscape, x0)
    x0 = arrays.asarray(x0)
    oracle = Oracle(landscape, budget.max_evals)
    # Overflow and NaN are outcomes here, not errors: the loop turns a non-finite loss into
    # status "diverged" and the weightings give non-finite trials weight 0, so numpy's warnings
    # are silenced once for the whole run instead of in every step of every optimizer.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _loop(landscape, optimizer, x0, oracle, opt_rng, budget, progress)


def _loop(landscape, optimizer, x0, oracle, opt_rng, budget, progress) -> Result:
    rows: list[tuple] = []
    extras: list[dict] = []
    has_metrics = type(landscape).metrics is not Landscape.metrics
    start = time.perf_counter()
    metrics_time = 0.0  # validation metrics are for the history, not the optimizer: keep them off its clock

    def record(it: int, state, phase: str) -> None:
        nonlocal metrics_time
        now = time.perf_counter()
        rows.append((it, state.loss, oracle.best_loss, oracle.f_evals, oracle.g_evals, now - start - metrics_time,
                     phase))
        if has_metrics:
            extras.append(landscape.metrics(state.x))
            metrics_time += time.perf_counter() - now

    try:
        state = optimizer.init(x0, oracle, opt_rng)
    except BudgetExhausted:
        raise ConfigError(
            f"budget.max_evals={budget.max_evals} is too small: the optimizer's initial evaluation does not fit"
        ) from None
    record(0, state, "init")

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=budget.max_iters, unit="it", leave=False, mininterval=0.5)
    status = "budget_exhausted"
    it = 0
    max_iters = budget.max_iters if budget.max_iters is not None else math.inf
    stall_ref = oracle.best_loss
    try:
        while it < max_iters:
            try:
                new_state, phase = optimizer.step(state, oracle, opt_rng)
            except BudgetExhausted:
                break
            state = new_state
            it += 1
            record(it, state, phase)
            if bar is not None:
                bar.update(1)
            if not math.isfinite(state.loss):
                status = "diverged"
                break
            if budget.target is not None and oracle.best_loss <= budget.target:
                status = "target_reached"
                break
            if budget.time_limit is not None and rows[-1][5] >= budget.time_limit:
                break
            if budget.tol is not None and it % budget.patience == 0:
                if stall_ref - oracle.best_loss < budget.tol:
                    status = "converged"
                    break
                stall_ref = oracle.best_loss
    finally:
        if bar is not None:
            bar.close()
    if (oracle.f_evals, oracle.g_evals) != rows[-1][3:5]:
        # The budget ended inside a step: what it evaluated is counted, so the history says so too
        # (the iterate is the last complete one), and the totals equal the last row.
        it += 1
        record(it, state, "cut")

    history = {name: np.array([row[i] for row in rows], dtype=dtype)
               for i, (name, dtype) in enumerate(zip(HISTORY_COLUMNS, _HISTORY_DTYPES))}
    for name in extras[0] if extras else ():
        history[name] = np.array([metrics[name] for metrics in extras], dtype=np.float64)
    return Result(
        x=np.asarray(to_numpy(state.x), dtype=float),
        loss=float(state.loss),
        best_x=None if oracle.best_x is None else np.asarray(to_numpy(oracle.best_x), dtype=float),
        best_loss=float(oracle.best_loss),
        history_columns=history,
        f_evals=oracle.f_evals,
        g_evals=oracle.g_evals,
        iters=it,
        status=status,
        time_s=float(history["time_s"][-1]),
        f_opt=landscape.f_opt,
    )


def minimize(
    landscape: Landscape,
    optimizer: str | Optimizer = "attention",
    *,
    x0=None,
    seed: int = 0,
    max_iters: Optional[int] = 1000,
    max_evals: Optional[int] = None,
    target: Optional[float] = None,
    time_limit: Optional[float] = None,
    tol: Optional[float] = None,
    patience: int = 100,
    progress: bool = False,
    backend: str = "numpy",
    device: str = "cpu",
    dtype: str = "float64",
    **optimizer_params: Any,
) -> Result:
    """Minimise ``landscape`` with a named optimizer, scipy style.

    ``backend="torch"`` (with ``device="cuda"`` where present, ``dtype="float32"``) runs the
    landscape and the optimizer on torch tensors; the result holds numpy arrays either way.

    >>> from attnopt import landscapes, minimize
    >>> res = minimize(landscapes.make("sphere", 5), "gd", lr=0.1, max_iters=200)
    >>> res.status, res.best_loss < 1e-8
    ('budget_exhausted', True)
    """
    if not isinstance(landscape, Landscape):
        raise ConfigError(
            f"landscape={landscape!r} is invalid: pass a Landscape, e.g. attnopt.landscapes.make('rastrigin', 10)"
        )
    name = "this optimizer"
    if not isinstance(optimizer, (str, Optimizer)):
        raise ConfigError(f"optimizer={optimizer!r} is invalid: give an optimizer's name (one of "
                          f"{', '.join(optimizers_mod.names())}) or an attnopt Optimizer")
    if isinstance(optimizer, str):
        from attnopt import memory
        from attnopt.params import bind

        opt_name, name = optimizer, f"optimizer={optimizer}"
        optimizer = optimizers_mod.make(opt_name, **optimizer_params)
        bound = bind(optimizers_mod.REGISTRY[opt_name], optimizer_params, where="optimizer")
        memory.check_run(opt_name, bound, landscape, dtype)  # before the run allocates its batches
    elif optimizer_params:
        raise ConfigError("optimizer parameters are only accepted with an optimizer name")
    arrays = ArraySpec(backend, device, dtype)
    check_arrays(optimizer, arrays, name)
    budget = Budget(max_iters, max_evals, target, time_limit, tol, patience)
    return run(landscape, optimizer, x0=x0, seed=seed, budget=budget, progress=progress,
               arrays=arrays)


__all__ = ["Budget", "Result", "run", "minimize"]
