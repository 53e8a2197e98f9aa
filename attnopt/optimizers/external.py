"""Outside baselines in the same runner: ``cma`` (pycma) and scipy's ``dual_annealing`` and
``basinhopping``, evaluating through the same :class:`~attnopt.oracle.Oracle` as every attnopt
optimizer, so their budgets are counted and enforced the same way.

**cma** maps pycma's ask/tell loop directly onto ``step``: one step asks for a population,
evaluates it in one batched oracle call and tells pycma the values. The population's sampler draws
from a generator seeded from the run's rng (pycma's ``randn`` option), never from numpy's global
state, so a run is reproducible even beside other code. When the budget left is smaller than a
population, the step evaluates the first ``remaining`` candidates, so the run ends exactly at
``max_evals``. With ``ipop`` the strategy restarts when pycma's own stopping criteria fire, from a
uniform point of the init box and with twice the population.

**dual_annealing** and **basinhopping** are callback-driven: scipy calls the objective and
owns the loop. Each runs in a worker thread that hands control back and forth with the caller
(only one of them ever runs, so the run is as deterministic as a plain loop): a ``step`` lets
scipy go on until the best loss improves or ``evals_per_step`` evaluations have passed, then
returns the best point so far. The oracle raises BudgetExhausted inside the objective, which ends
scipy's call and the run exactly at ``max_evals``. When scipy finishes before the budget, it is
started again from a uniform point of the init box (a multi-start), so every baseline spends the
same budget. The local searches are L-BFGS-B with the landscape's analytic gradient, each (f, grad)
pair costing one function and one gradient evaluation, as for gradient descent.

These wrappers hold a mutable pycma object or a thread inside their state: unlike attnopt's own
optimizers a state can be stepped only once (the next step continues from the newest state).
"""
from __future__ import annotations

import queue
import threading
import weakref
from typing import Annotated, Any, Callable, NamedTuple, Optional

import numpy as np

from attnopt.errors import ConfigError
from attnopt.optimizers.base import Optimizer
from attnopt.oracle import BudgetExhausted
from attnopt.params import ge, gt, le, one_of

SIGMA_SCALE = ("absolute", "domain")


def _box(oracle) -> tuple[np.ndarray, np.ndarray]:
    """The landscape's init box as two (d,) arrays: where restarts are drawn and what sigma0 and
    dual_annealing's bounds refer to (the same information x0 is drawn from)."""
    low, high = oracle.landscape.init_bounds
    d = oracle.dim
    return (np.broadcast_to(np.asarray(low, dtype=float), (d,)).copy(),
            np.broadcast_to(np.asarray(high, dtype=float), (d,)).copy())


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(1, 2**31 - 1))


# --- CMA-ES -----------------------------------------------------------------------------------

class CMAState(NamedTuple):
    x: np.ndarray  # the best candidate of the latest population
    loss: float
    es: Any  # the pycma CMAEvolutionStrategy (mutable)
    popsize: int
    restarts: int
    best_x: np.ndarray
    best_loss: float


def cma(
    *,
    sigma0: Annotated[float, gt(0)] = 0.2,
    sigma_scale: Annotated[str, one_of(*SIGMA_SCALE)] = "domain",
    popsize: Annotated[int, ge(0)] = 0,
    ipop: bool = True,
    max_restarts: Annotated[int, ge(0)] = 9,
    incpopsize: Annotated[float, ge(1), le(100)] = 2.0,  # as attention_cma's: 9 restarts then multiply by 1e18
) -> Optimizer:
    """CMA-ES (pycma) with optional IPOP restarts.

    ``sigma0`` is the initial step size; with ``sigma_scale=domain`` (default) a fraction of the
    init box's width (0.2 is the BBOB convention, 2 on [-5, 5]), with ``absolute`` as given.
    ``popsize`` 0 means pycma's default 4 + 3 ln d. With ``ipop`` the strategy restarts (at most
    ``max_restarts`` times) whenever pycma's stopping criteria hold, with the population multiplied
    by ``incpopsize``.
    """
    if popsize == 1:  # pycma weighs the best half of a population: it needs two at least
        raise ConfigError("optimizer.popsize=1 is invalid: must be 0 (pycma's default, 4 + 3 ln d) or >= 2")
    try:
        import cma as pycma
    except ImportError:
        raise ConfigError("optimizer=cma needs pycma, which is not installed: pip install 'attnopt[baselines]' "
                          "(or pip install cma)") from None

    def new_es(x0, oracle, rng, size: int):
        low, high = _box(oracle)
        sigma = sigma0 * float(np.mean(high - low)) if sigma_scale == "domain" else sigma0
        gen = np.random.default_rng(_seed(rng))
        opts = {
            "randn": lambda *shape: gen.standard_normal(shape),
            "seed": float("nan"),  # pycma would otherwise re-seed numpy's global generator
            "verbose": -9, "verb_log": 0, "verb_disp": 0,
            "maxfevals": np.inf, "maxiter": np.inf,  # the oracle owns the budget
        }
        if size:
            opts["popsize"] = size
        es = pycma.CMAEvolutionStrategy(np.asarray(x0, dtype=float), sigma, opts)
        return es, int(es.popsize)

    def init(x0, oracle, rng):
        x0 = np.asarray(x0, dtype=float)
        loss = float(oracle.f(x0))
        es, size = new_es(x0, oracle, rng, popsize)
        return CMAState(x0, loss, es, size, 0, x0, loss)

    def step(state, oracle, rng):
        es, size, restarts, phase = state.es, state.popsize, state.restarts, "cma"
        if ipop and restarts < max_restarts and es.stop():
            low, high = _box(oracle)
            size = int(round(size * incpopsize))
            es, size = new_es(rng.uniform(low, high), oracle, rng, size)
            restarts, phase = restarts + 1, "restart"
        X = np.asarray(es.ask(), dtype=float)
        remaining = oracle.remaining()
        if remaining is not None and 0 < remaining < len(X):
            # The last, partial population: spend the budget to the last evaluation, and leave
            # pycma untold (it cannot learn from part of a population).
            X = X[:remaining]
            values = np.asarray(oracle.f(X), dtype=float)
        else:
            values = np.asarray(oracle.f(X), dtype=float)
            # pycma cannot rank NaN; +inf keeps such a candidate last, as the oracle's best does.
            es.tell(list(X), list(np.where(np.isnan(values), np.inf, values)))
        i = int(np.argmin(np.where(np.isnan(values), np.inf, values)))
        best_x, best_loss = state.best_x, state.best_loss
        if values[i] < best_loss:
            best_x, best_loss = X[i].copy(), float(values[i])
        return CMAState(X[i].copy(), float(values[i]), es, size, restarts, best_x, best_loss), phase

    return Optimizer(init, step, any_backend=False)


# --- scipy routines driven from a worker thread --------------------------------------------

class _Stop(BaseException):
    """Raised inside the objective to unwind scipy when the run no longer needs the worker."""


class _Channel:
    """The two hand-off queues between the runner's thread and one scipy worker thread."""

    def __init__(self):
        self.to_worker: queue.Queue = queue.Queue()
        self.to_main: queue.Queue = queue.Queue()

    def stop(self):
        self.to_worker.put(("stop", None))


class _Driver:
    """Owns a worker thread; when the last state referring to it is dropped (the run ended), the
    finalizer tells the worker to unwind, so no thread outlives its run."""

    def __init__(self, channel: _Channel, thread: threading.Thread):
        self.channel = channel
        self.thread = thread
        weakref.finalize(self, channel.stop)

    def resume(self, oracle):
        self.channel.to_worker.put(("go", oracle))
        kind, payload = self.channel.to_main.get()
        if kind == "pause":
            return payload
        if kind == "exhausted":
            raise BudgetExhausted
        raise payload  # an error inside scipy or the landscape: the caller sees it as it is


class ScipyState(NamedTuple):
    x: np.ndarray  # the best point so far
    loss: float
    driver: _Driver


Routine = Callable[[Callable, Callable, Callable, np.ndarray, np.ndarray, np.ndarray, np.random.Generator], None]


def scipy_driven(routine: Routine, phase: str, evals_per_step: int) -> Optimizer:
    """Wrap ``routine(f, grad, fg, x0, low, high, rng)`` (which calls scipy once, to completion)
    as an (init, step) optimizer; see the module docstring for the protocol."""

    def worker(channel: _Channel, x0: np.ndarray, seed: int):
        from threadpoolctl import threadpool_limits

        rng = np.random.default_rng(seed)
        env = {"oracle": None, "count": 0, "best_x": None, "best": np.inf}

        def wait():
            cmd, oracle = channel.to_worker.get()
            if cmd == "stop":
                raise _Stop
            env["oracle"], env["count"] = oracle, 0

        def after(n: int, x, value):
            env["count"] += n
            if value is not None and value < env["best"]:
                env["best"], env["best_x"] = float(value), np.array(x, dtype=float, copy=True)
                improved = True
            else:
                improved = False
            if improved or env["count"] >= evals_per_step:
                channel.to_main.put(("pause", (env["best_x"], env["best"])))
                wait()

        def f(x):
            value = float(env["oracle"].f(np.asarray(x, dtype=float)))
            after(1, x, value if np.isfinite(value) else None)
            return value

        def grad(x):
            g = env["oracle"].grad(np.asarray(x, dtype=float))
            after(1, x, None)
            return g

        def fg(x):
            value, g = env["oracle"].value_and_grad(np.asarray(x, dtype=float))
            value = float(value)
            after(2, x, value if np.isfinite(value) else None)
            return value, g

        try:
            wait()
            low, high = _box(env["oracle"])
            start = x0
            # L-BFGS-B's (d x 10) linear algebra gains nothing from BLAS threads, and on a machine
            # whose cores are busy their spin-waiting made each iteration ~100x slower (6 ms).
            with threadpool_limits(limits=1, user_api="blas"):
                while True:  # scipy finished before the budget: start again elsewhere
                    routine(f, grad, fg, start, low, high, rng)
                    start = rng.uniform(low, high)
        except _Stop:
            return
        except BudgetExhausted:
            try:
                if env["count"]:  # evaluations since the last pause: let the history record them
                    channel.to_main.put(("pause", (env["best_x"], env["best"])))
                    wait()
            except _Stop:
                return
            channel.to_main.put(("exhausted", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the runner's thread to raise there
            channel.to_main.put(("error", exc))

    def init(x0, oracle, rng):
        channel = _Channel()
        thread = threading.Thread(target=worker, args=(channel, np.asarray(x0, dtype=float), _seed(rng)),
                                  name=f"attnopt-{phase}", daemon=True)
        driver = _Driver(channel, thread)
        thread.start()
        x, loss = driver.resume(oracle)  # runs until x0 is evaluated: the first improvement
        return ScipyState(x, loss, driver)

    def step(state, oracle, rng):
        x, loss = state.driver.resume(oracle)
        return ScipyState(x, loss, state.driver), phase

    return Optimizer(init, step, any_backend=False)


def _rng_kwarg(rng: np.random.Generator) -> dict:
    """scipy >= 1.15 takes ``rng=``; older releases (pyproject allows >= 1.10) take ``seed=``."""
    import scipy

    major, minor = (int(p) for p in scipy.__version__.split(".")[:2])
    return {"rng": rng} if (major, minor) >= (1, 15) else {"seed": rng}


def _lbfgsb_options(d: int) -> dict:
    # scipy's own default for dual_annealing's local search (LocalSearchWrapper)
    return {"maxiter": min(max(6 * d, 100), 1000)}


def dual_annealing(
    *,
    maxiter: Annotated[int, ge(1)] = 1000,
    initial_temp: Annotated[float, gt(0.01), le(5e4)] = 5230.0,
    restart_temp_ratio: Annotated[float, gt(0), le(0.999999)] = 2e-5,
    visit: Annotated[float, gt(1), le(3)] = 2.62,
    accept: Annotated[float, gt(-1e4), le(-5)] = -5.0,
    no_local_search: bool = False,
    evals_per_step: Annotated[int, ge(1)] = 100,
) -> Optimizer:
    """scipy.optimize.dual_annealing on the landscape's init box, its local searches L-BFGS-B with
    the analytic gradient. Parameters are scipy's (same defaults); ``evals_per_step`` only sets how
    often the history records a row when the best loss does not improve."""
    from scipy import optimize

    def routine(f, grad, fg, x0, low, high, rng):
        kwargs = {} if no_local_search else {"minimizer_kwargs": {
            "method": "L-BFGS-B", "jac": grad, "bounds": list(zip(low, high)),
            "options": _lbfgsb_options(len(x0))}}
        optimize.dual_annealing(f, list(zip(low, high)), maxiter=maxiter, initial_temp=initial_temp,
                                restart_temp_ratio=restart_temp_ratio, visit=visit, accept=accept,
                                maxfun=10**15, no_local_search=no_local_search, x0=x0, **kwargs, **_rng_kwarg(rng))

    return scipy_driven(routine, "dual_annealing", evals_per_step)


def basinhopping(
    *,
    niter: Annotated[int, ge(1)] = 100,
    T: Annotated[float, ge(0)] = 1.0,
    stepsize: Annotated[float, gt(0)] = 0.5,
    interval: Annotated[int, ge(1)] = 50,
    evals_per_step: Annotated[int, ge(1)] = 100,
) -> Optimizer:
    """scipy.optimize.basinhopping: random hops of size ``stepsize`` (adapted every ``interval``
    hops), each followed by an L-BFGS-B local search with the analytic gradient, accepted by the
    Metropolis rule at temperature ``T``. Parameters are scipy's (same defaults); after ``niter``
    hops it starts again from a uniform point of the init box."""
    from scipy import optimize

    def routine(f, grad, fg, x0, low, high, rng):
        optimize.basinhopping(fg, x0, niter=niter, T=T, stepsize=stepsize, interval=interval,
                              minimizer_kwargs={"method": "L-BFGS-B", "jac": True}, **_rng_kwarg(rng))

    return scipy_driven(routine, "basinhopping", evals_per_step)


__all__ = ["cma", "dual_annealing", "basinhopping", "scipy_driven"]
