"""The driver: one loop of ask, evaluate, tell for every optimizer alike.

Following pycma's shape, the loop is a few lines; every query an optimizer asks goes through one
:class:`~attnopt.oracle.Oracle`, so every run counts function and gradient evaluations and wall
time the same way, the budget is exact (a query that does not fit is refused, or cut where the
optimizer allows it) and nothing evaluates behind the ledger. The driver also owns the history
(one row per completed iteration) and the stopping rules.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from attnopt import optimizers as optimizers_mod
from attnopt.backend import ArraySpec, to_numpy
from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.optimizers.base import Optimizer, box
from attnopt.oracle import BudgetExhausted, Oracle

if TYPE_CHECKING:
    import pandas as pd

HISTORY_COLUMNS = ["iter", "loss", "best_loss", "f_evals", "g_evals", "time_s", "phase"]
_HISTORY_DTYPES = [np.int64, np.float64, np.float64, np.int64, np.int64, np.float64, np.str_]
#: Why a run ended. ``max_iters``: the iteration cap; ``budget_exhausted``: the evaluation budget
#: (``max_evals``) cannot pay for the next query; ``time_limit``: the wall-clock limit;
#: ``target_reached``: the best loss reached ``target``; ``converged``: the best loss improved by
#: less than ``tol`` over ``patience`` iterations; ``diverged``: the iterate's loss is not finite;
#: ``stopped``: the callback asked to stop.
STATUSES = ("target_reached", "converged", "max_iters", "budget_exhausted", "time_limit", "diverged", "stopped")
MESSAGES = {
    "target_reached": "the best loss reached the target",
    "converged": "the best loss improved by less than tol over the last patience iterations",
    "max_iters": "the iteration cap (max_iters) was reached",
    "budget_exhausted": "the evaluation budget (max_evals) cannot pay for the next evaluation",
    "time_limit": "the time limit was reached",
    "diverged": "the iterate's loss is not finite",
    "stopped": "the callback asked to stop",
}
#: the phase of a history row whose iteration the budget cut short: its evaluations are counted
#: (so the last row's totals are the run's), its iterate is the last complete one
CUT = "cut"


@dataclass
class Result:
    """A run's outcome. Also answers to scipy.optimize.OptimizeResult's names: ``fun`` (the best
    loss), ``x`` (here: the final iterate; ``best_x`` is the best point), ``nfev``, ``njev``,
    ``nit``, ``success``, ``message``; ``status`` is a word from :data:`STATUSES`."""

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

    # scipy's names
    @property
    def fun(self) -> float:
        return self.best_loss

    @property
    def nfev(self) -> int:
        return self.f_evals

    @property
    def njev(self) -> int:
        return self.g_evals

    @property
    def nit(self) -> int:
        return self.iters

    @property
    def success(self) -> bool:
        """True when the run ended for a reason of its own (target, convergence), False when a
        limit stopped it or it diverged, as scipy reports an exhausted maxiter."""
        return self.status in ("target_reached", "converged")

    @property
    def message(self) -> str:
        return MESSAGES.get(self.status, self.status)


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
    """x0 as a (dim,) float64 array of finite numbers, or a one-line ConfigError. The one place a
    starting point is checked (the CLI, minimize and ask_tell all come here)."""
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
    """x0 checked (:func:`check_x0`) and refused where the landscape's value is not finite, before a
    run (the CLI checks every job of a sweep up front with it; one evaluation outside any run's
    ledger). Inside a run the driver makes the same check on its first answer (:func:`start`)."""
    start_x = check_x0(x0, landscape.dim)
    with np.errstate(all="ignore"):
        value = float(to_numpy(landscape(start_x)))
    if not math.isfinite(value):
        raise ConfigError(_infinite_start(start_x, value))
    return start_x


def _infinite_start(x0: np.ndarray, value: float) -> str:
    shown = ", ".join(f"{v:g}" for v in x0[:4]) + (", ..." if x0.size > 4 else "")
    return f"x0=[{shown}] is invalid: the landscape's value there is {value}; give a start where it is finite"


def check_bounds(bounds, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A box as two (dim,) arrays: ``(low, high)`` (scalars or sequences) or scipy's list of
    ``(low, high)`` pairs, one per coordinate; every low < high and finite."""
    try:
        arr = np.asarray(bounds, dtype=float)
    except (TypeError, ValueError):
        arr = None
    if arr is not None and arr.ndim == 2 and arr.shape == (dim, 2) and dim != 2:
        low, high = arr[:, 0], arr[:, 1]
    elif arr is not None and arr.ndim == 2 and arr.shape == (2, 2) and dim == 2:
        low, high = arr[:, 0], arr[:, 1]  # scipy's [(low0, high0), (low1, high1)]
    elif arr is not None and arr.ndim in (1, 2) and arr.shape[0] == 2 and (arr.ndim == 1 or arr.shape[1] == dim):
        low, high = arr[0], arr[1]
    else:
        raise ConfigError(f"bounds={bounds!r} is invalid: give (low, high) or a list of {dim} (low, high) pairs")
    low, high = box((low, high), dim)
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (low < high).all()):
        raise ConfigError(f"bounds={bounds!r} is invalid: every low must be < its high, both finite")
    return low, high


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


# --- driving the interface ---------------------------------------------------------------------

def iterate(optimizer: Optimizer, state, oracle: Oracle, rng: np.random.Generator,
            check: Optional[Callable[[Any], None]] = None):
    """Ask and tell until one iteration completes: ``(state, phase)``. Raises BudgetExhausted when
    the budget refuses a query (the state passed in is then the last complete one). ``check`` sees
    the first answer's values before the optimizer does (and may refuse them)."""
    while True:
        state, query = optimizer.ask(state, rng)
        values, grads = oracle.answer(query)
        if check is not None:
            check(values)
            check = None
        state, phase = optimizer.tell(state, values, grads)
        if phase is not None:
            return state, phase


def start(optimizer: Optimizer, x0, oracle: Oracle, rng: np.random.Generator, bounds=None,
          finite_start: bool = False):
    """``init`` and the evaluation of x0: the state the first iteration starts from.

    ``finite_start``: refuse (ConfigError) an x0 where the landscape is not finite. No optimizer
    can move from there (scipy's line searches fail with an IndexError, weights are all zero), so
    such a start is bad input, not a run that diverged. It is checked on the first answer (every
    optimizer asks for x0 first), so the check costs no evaluation beyond the ledger's."""

    def finite(values) -> None:
        if values is not None and not np.isfinite(to_numpy(values)).all():
            value = float(np.asarray(to_numpy(values), dtype=float).reshape(-1)[0])
            raise ConfigError(_infinite_start(np.asarray(to_numpy(x0), dtype=float), value))

    bounds = box(oracle.landscape.init_bounds if bounds is None else bounds, oracle.dim)
    state, _ = iterate(optimizer, optimizer.init(x0, bounds, rng), oracle, rng, check=finite if finite_start else None)
    return state


def run(
    landscape: Landscape,
    optimizer: Optimizer,
    *,
    x0=None,
    seed: int = 0,
    budget: Budget = Budget(),
    progress: bool = False,
    arrays: ArraySpec = ArraySpec(),
    bounds=None,
    callback: Optional[Callable[["Iteration"], Any]] = None,
    verbose: int = 0,
) -> Result:
    """Run ``optimizer`` on ``landscape`` until ``budget`` ends. ``arrays`` chooses the array type
    the run computes in (numpy or torch, device, dtype); x0 is drawn, or checked, as float64 numpy
    and then converted, so a seed gives the same start on every backend.

    ``bounds`` (default: the landscape's ``init_bounds``) is the box x0 is drawn from and
    restarts draw in. ``callback(info)`` is called after every iteration with an
    :class:`Iteration`; returning True (or raising StopIteration) ends the run, status
    ``stopped``. ``verbose=k`` prints a pycma-style line (iteration, evaluations, best f, sigma
    where the optimizer has one) every k iterations to stderr."""
    check_arrays(optimizer, arrays)
    x0_rng, opt_rng = seeded_streams(seed)
    box_ = None if bounds is None else check_bounds(bounds, landscape.dim)
    given = x0 is not None  # a start the user chose must be one where the landscape is finite
    if x0 is not None:
        x0 = check_x0(x0, landscape.dim)
    elif box_ is None:
        x0 = landscape.sample_x0(x0_rng)
    else:
        x0 = x0_rng.uniform(box_[0], box_[1])
    x0 = arrays.asarray(x0)
    oracle = Oracle(landscape, budget.max_evals)
    # Overflow and NaN are outcomes here, not errors: the loop turns a non-finite loss into
    # status "diverged" and the weightings give non-finite trials weight 0, so numpy's warnings
    # are silenced once for the whole run instead of in every step of every optimizer.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _loop(landscape, optimizer, x0, box_, oracle, opt_rng, budget, progress, callback, verbose, given)


@dataclass(frozen=True)
class Iteration:
    """What a callback sees after each iteration."""

    iter: int
    x: np.ndarray
    loss: float
    best_x: Optional[np.ndarray]
    best_loss: float
    f_evals: int
    g_evals: int
    phase: str
    time_s: float
    state: Any = field(repr=False, default=None)


class ProgressLine:
    """pycma's display: a header, then one line per shown iteration (the first three, every
    ``every``-th, and the last)."""

    HEADER = "Iterat  #Fevals  #Gevals     best f          f(x)       sigma   t[s]"

    def __init__(self, every: int, sigma: Optional[Callable], stream=None):
        self.every, self.sigma, self.stream = every, sigma, stream or sys.stderr
        self.shown = -1
        print(self.HEADER, file=self.stream, flush=True)

    def show(self, it: int, state, row: tuple, force: bool = False) -> None:
        if not (force or it <= 3 or it % self.every == 0) or it == self.shown:
            return
        self.shown = it
        sigma = self.sigma(state) if self.sigma is not None else None
        shown_sigma = f"{sigma:9.2e}" if sigma is not None and math.isfinite(sigma) else "        -"
        print(f"{it:6d} {row[3]:8d} {row[4]:8d}  {row[2]:.6e}  {row[1]:.6e} {shown_sigma} {row[5]:6.1f}",
              file=self.stream, flush=True)


def _loop(landscape, optimizer, x0, box_, oracle, opt_rng, budget, progress, callback, verbose, given) -> Result:
    rows: list[tuple] = []
    extras: list[dict] = []
    has_metrics = type(landscape).metrics is not Landscape.metrics
    start_time = time.perf_counter()
    metrics_time = 0.0  # validation metrics are for the history, not the optimizer: keep them off its clock

    def record(it: int, state, phase: str) -> None:
        nonlocal metrics_time
        now = time.perf_counter()
        rows.append((it, state.loss, oracle.best_loss, oracle.f_evals, oracle.g_evals,
                     now - start_time - metrics_time, phase))
        if has_metrics:
            extras.append(landscape.metrics(state.x))
            metrics_time += time.perf_counter() - now

    try:
        state = start(optimizer, x0, oracle, opt_rng, box_, finite_start=given)
    except BudgetExhausted:
        raise ConfigError(
            f"budget.max_evals={budget.max_evals} is too small: the optimizer's initial evaluation does not fit"
        ) from None
    record(0, state, "init")

    bar = line = None
    if verbose:
        line = ProgressLine(int(verbose), optimizer.sigma)
        line.show(0, state, rows[-1])
    elif progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=budget.max_iters, unit="it", leave=False, mininterval=0.5)
    status = "max_iters"
    it = 0
    max_iters = budget.max_iters if budget.max_iters is not None else math.inf
    stall_ref = oracle.best_loss
    try:
        while it < max_iters:
            try:
                new_state, phase = iterate(optimizer, state, oracle, opt_rng)
            except BudgetExhausted:
                status = "budget_exhausted"
                break
            state = new_state
            it += 1
            record(it, state, phase)
            if bar is not None:
                bar.update(1)
            if line is not None:
                line.show(it, state, rows[-1])
            if not math.isfinite(state.loss):
                status = "diverged"
                break
            if budget.target is not None and oracle.best_loss <= budget.target:
                status = "target_reached"
                break
            if budget.time_limit is not None and rows[-1][5] >= budget.time_limit:
                status = "time_limit"
                break
            if budget.tol is not None and it % budget.patience == 0:
                if stall_ref - oracle.best_loss < budget.tol:
                    status = "converged"
                    break
                stall_ref = oracle.best_loss
            if callback is not None and _ask_callback(callback, it, state, oracle, phase, rows[-1][5]):
                status = "stopped"
                break
    finally:
        if bar is not None:
            bar.close()
    if (oracle.f_evals, oracle.g_evals) != rows[-1][3:5]:
        # The budget ended inside an iteration: what it evaluated is counted, so the history says
        # so too (the iterate is the last complete one), and the totals equal the last row.
        it += 1
        record(it, state, CUT)
    if line is not None:
        line.show(it, state, rows[-1], force=True)

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


def _ask_callback(callback, it, state, oracle, phase, time_s) -> bool:
    best_x = None if oracle.best_x is None else np.asarray(to_numpy(oracle.best_x), dtype=float)
    info = Iteration(it, np.asarray(to_numpy(state.x), dtype=float), float(state.loss), best_x,
                     float(oracle.best_loss), oracle.f_evals, oracle.g_evals, phase, time_s, state)
    try:
        return bool(callback(info))
    except StopIteration:
        return True


def minimize(
    fun,
    optimizer: str | Optimizer = "attention",
    *,
    x0=None,
    seed: int = 0,
    bounds=None,
    grad: Optional[Callable] = None,
    jac=None,
    vectorized: bool = False,
    dim: Optional[int] = None,
    callback: Optional[Callable[[Iteration], Any]] = None,
    max_iters: Optional[int] = 1000,
    max_evals: Optional[int] = None,
    target: Optional[float] = None,
    time_limit: Optional[float] = None,
    tol: Optional[float] = None,
    patience: int = 100,
    progress: bool = False,
    verbose: int = 0,
    backend: str = "numpy",
    device: str = "cpu",
    dtype: str = "float64",
    **optimizer_params: Any,
) -> Result:
    """Minimise ``fun`` with a named optimizer, scipy style.

    ``fun`` is a :class:`Landscape`, a landscape name (its dimension from ``x0``, ``bounds`` or
    ``dim``), or a plain callable: ``fun(x) -> float`` for one point ``(d,)``, or with
    ``vectorized=True`` ``fun(X) -> (n,)`` for a batch ``(n, d)`` (one call for all trial points).
    Gradient methods need ``grad=`` (same convention) or ``jac=True`` (``fun`` returns
    ``(value, gradient)``, as in scipy). ``bounds`` (``(low, high)`` or a list of ``(low, high)``
    pairs) is the box x0 is drawn from and restarts draw in; it does not constrain the search.
    ``callback(info)`` is called after every iteration (see :class:`Iteration`); returning True
    stops the run. ``verbose=k`` prints a pycma-style progress line every k iterations.

    ``backend="torch"`` (with ``device="cuda"`` where present, ``dtype="float32"``) runs the
    landscape and the optimizer on torch tensors; the result holds numpy arrays either way.

    >>> from attnopt import minimize
    >>> res = minimize("sphere", "gd", dim=5, lr=0.1, max_iters=200)
    >>> res.status, res.fun < 1e-8, res.nit
    ('max_iters', True, 200)
    """
    from attnopt.problem import as_landscape

    landscape = as_landscape(fun, x0=x0, bounds=bounds, dim=dim, grad=grad, jac=jac, vectorized=vectorized)
    optimizer_name = optimizer if isinstance(optimizer, str) else None
    optimizer, name = optimizers_mod.resolve(optimizer, optimizer_params)
    if optimizer_name is not None:
        from attnopt import memory
        from attnopt.params import bind

        bound = bind(optimizers_mod.REGISTRY[optimizer_name], optimizer_params, where="optimizer")
        # before the run allocates its batches; an Optimizer object's are checked by the driver
        # as they come (attnopt.oracle: every batch larger than those before it)
        memory.check_run(optimizer_name, bound, landscape, dtype, optimizer)
    arrays = ArraySpec(backend, device, dtype)
    check_arrays(optimizer, arrays, name)
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose < 0:
        raise ConfigError(f"verbose={verbose!r} is invalid: must be an integer >= 0 (0: no progress line)")
    budget = Budget(max_iters, max_evals, target, time_limit, tol, patience)
    return run(landscape, optimizer, x0=x0, seed=seed, budget=budget, progress=progress, arrays=arrays,
               bounds=bounds, callback=callback, verbose=int(verbose))


__all__ = ["Budget", "Result", "Iteration", "run", "minimize", "iterate", "start", "STATUSES"]
