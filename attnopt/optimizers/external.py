"""Outside baselines behind the same ask/tell interface: ``cma`` (pycma) and scipy's
``dual_annealing`` and ``basinhopping``, so the one driver counts and enforces their budgets as
for every attnopt optimizer.

**cma** maps pycma's ask/tell loop directly: one ask is a population, one tell gives pycma its
values. The population's sampler draws from a generator seeded from the run's rng (pycma's
``randn`` option), never from numpy's global state, so a run is reproducible even beside other
code. Its query may be cut: when the budget left is smaller than a population, the driver
evaluates the first ``remaining`` candidates, so the run ends exactly at ``max_evals`` (pycma is
left untold: it cannot learn from part of a population). With ``ipop`` the strategy restarts when
pycma's own stopping criteria fire, from a uniform point of the init box and with twice the
population.

**dual_annealing** and **basinhopping** are callback-driven: scipy calls the objective and owns
the loop. Each runs in a worker thread that hands control back and forth with the caller (only one
of them ever runs, so the run is as deterministic as a plain loop): each objective call scipy makes
becomes one query (``ask``), and its answer (``tell``) lets scipy go on. An iteration ends (a
history row) when the best loss improves or ``evals_per_step`` evaluations have passed. When the
driver refuses a query (the budget is spent) the run ends there, and the thread is unwound when
the state is dropped. When scipy finishes before the budget, it is started again from a uniform
point of the init box (a multi-start), so every baseline spends the same budget. The local
searches are L-BFGS-B with the landscape's analytic gradient, each (f, grad) pair costing one
function and one gradient evaluation, as for gradient descent.

These wrappers hold a mutable pycma object or a thread inside their state: unlike attnopt's own
optimizers a state can be asked and told only once (the next call continues from the newest one).
"""
from __future__ import annotations

import math
import queue
import threading
import weakref
from typing import Annotated, Any, Callable, NamedTuple, Optional

import numpy as np

from attnopt.errors import ConfigError
from attnopt.optimizers.base import Optimizer, Query
from attnopt.params import ge, gt, le, one_of

SIGMA_SCALE = ("absolute", "domain")


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
    bounds: Any = None
    stage: str = "start"  # "start" (x0 asked), "" (between generations), or the phase of the asked population
    asked: Any = None  # the population being evaluated


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

    def new_es(x0, bounds, rng, size: int):
        low, high = bounds
        sigma = sigma0 * float(np.mean(high - low)) if sigma_scale == "domain" else sigma0
        gen = np.random.default_rng(_seed(rng))
        opts = {
            "randn": lambda *shape: gen.standard_normal(shape),
            "seed": float("nan"),  # pycma would otherwise re-seed numpy's global generator
            "verbose": -9, "verb_log": 0, "verb_disp": 0,
            "maxfevals": np.inf, "maxiter": np.inf,  # the driver owns the budget
        }
        if size:
            opts["popsize"] = size
        es = pycma.CMAEvolutionStrategy(np.asarray(x0, dtype=float), sigma, opts)
        return es, int(es.popsize)

    def init(x0, bounds, rng):
        x0 = np.asarray(x0, dtype=float)
        es, size = new_es(x0, bounds, rng, popsize)
        return CMAState(x0, float("nan"), es, size, 0, x0, float("nan"), bounds)

    def ask(state, rng):
        if state.stage == "start":
            return state, Query(state.x)
        es, size, restarts, phase = state.es, state.popsize, state.restarts, "cma"
        if ipop and restarts < max_restarts and es.stop():
            low, high = state.bounds
            size = int(round(size * incpopsize))
            es, size = new_es(rng.uniform(low, high), state.bounds, rng, size)
            restarts, phase = restarts + 1, "restart"
        X = np.asarray(es.ask(), dtype=float)
        return state._replace(es=es, popsize=size, restarts=restarts, stage=phase, asked=X), Query(X, cut=True)

    def tell(state, values, grads):
        if state.stage == "start":
            loss = float(values)
            return state._replace(loss=loss, best_loss=loss, stage=""), "init"
        values = np.asarray(values, dtype=float)
        X = state.asked[: len(values)]
        if len(values) == len(state.asked):  # a partial, last population leaves pycma untold
            # pycma cannot rank NaN; +inf keeps such a candidate last, as the ledger's best does.
            state.es.tell(list(X), list(np.where(np.isnan(values), np.inf, values)))
        i = int(np.argmin(np.where(np.isnan(values), np.inf, values)))
        best_x, best_loss = state.best_x, state.best_loss
        if values[i] < best_loss:
            best_x, best_loss = X[i].copy(), float(values[i])
        return CMAState(X[i].copy(), float(values[i]), state.es, state.popsize, state.restarts, best_x, best_loss,
                        state.bounds, ""), state.stage

    return Optimizer(init, ask, tell, any_backend=False, sigma=lambda state: float(state.es.sigma))


# --- scipy routines driven from a worker thread --------------------------------------------

class _Stop(BaseException):
    """Raised inside the objective to unwind scipy when the run no longer needs the worker."""


class _Channel:
    """The two hand-off queues between the driver's thread and one scipy worker thread."""

    def __init__(self):
        self.to_worker: queue.Queue = queue.Queue()
        self.to_main: queue.Queue = queue.Queue()

    def stop(self):
        self.to_worker.put(("stop", None))


class _Worker:
    """Owns a worker thread; when the last state referring to it is dropped (the run ended), the
    finalizer tells the worker to unwind, so no thread outlives its run."""

    def __init__(self, channel: _Channel, thread: threading.Thread):
        self.channel = channel
        self.thread = thread
        weakref.finalize(self, channel.stop)

    def send(self, message) -> tuple[str, Any]:
        """Hand control to the worker with ``message``; it answers with ("eval", Query) or
        ("pause", (best_x, best_loss)) once scipy needs an evaluation or an iteration ends."""
        self.channel.to_worker.put(message)
        kind, payload = self.channel.to_main.get()
        if kind == "error":
            raise payload  # an error inside scipy or the landscape: the caller sees it as it is
        return kind, payload


class ScipyState(NamedTuple):
    x: np.ndarray  # the best point so far
    loss: float
    worker: _Worker
    started: bool = False  # x0's iteration has ended
    asked: Optional[Query] = None  # the evaluation scipy waits for


Routine = Callable[[Callable, Callable, Callable, np.ndarray, np.ndarray, np.ndarray, np.random.Generator], None]


def scipy_driven(routine: Routine, phase: str, evals_per_step: int) -> Optimizer:
    """Wrap ``routine(f, grad, fg, x0, low, high, rng)`` (which calls scipy once, to completion)
    as an ask/tell optimizer; see the module docstring for the protocol."""

    def worker(channel: _Channel, x0: np.ndarray, bounds, seed: int):
        from threadpoolctl import threadpool_limits

        rng = np.random.default_rng(seed)
        env = {"count": 0, "best_x": None, "best": np.inf}

        def wait():
            cmd, payload = channel.to_worker.get()
            if cmd == "stop":
                raise _Stop
            return payload

        def evaluate(x, value: bool, grad: bool):
            channel.to_main.put(("eval", Query(np.array(x, dtype=float), value=value, grad=grad)))
            return wait()

        def after(n: int, x, value):
            env["count"] += n
            improved = value is not None and value < env["best"]
            if improved:
                env["best"], env["best_x"] = float(value), np.array(x, dtype=float, copy=True)
            if improved or env["count"] >= evals_per_step:
                # Until a finite value is seen, the iterate is the last point, its loss NaN (so a
                # landscape that is non-finite everywhere ends the run "diverged").
                found = env["best_x"] is not None
                payload = (env["best_x"], env["best"]) if found else (np.array(x, dtype=float), float("nan"))
                channel.to_main.put(("pause", payload))
                wait()
                env["count"] = 0

        def f(x):
            value = float(evaluate(x, True, False)[0])
            after(1, x, value if np.isfinite(value) else None)
            return value

        def grad(x):
            g = evaluate(x, False, True)[1]
            after(1, x, None)
            return g

        def fg(x):
            value, g = evaluate(x, True, True)
            value = float(value)
            after(2, x, value if np.isfinite(value) else None)
            return value, g

        try:
            wait()
            low, high = bounds
            start = x0
            # L-BFGS-B's (d x 10) linear algebra gains nothing from BLAS threads, and on a machine
            # whose cores are busy their spin-waiting made each iteration ~100x slower (6 ms).
            with threadpool_limits(limits=1, user_api="blas"):
                while True:  # scipy finished before the budget: start again elsewhere
                    routine(f, grad, fg, start, low, high, rng)
                    start = rng.uniform(low, high)
        except _Stop:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the driver's thread to raise there
            channel.to_main.put(("error", exc))

    def init(x0, bounds, rng):
        channel = _Channel()
        thread = threading.Thread(target=worker, args=(channel, np.asarray(x0, dtype=float), bounds, _seed(rng)),
                                  name=f"attnopt-{phase}", daemon=True)
        handle = _Worker(channel, thread)
        thread.start()
        return ScipyState(np.asarray(x0, dtype=float), float("nan"), handle)

    def ask(state, rng):
        if state.asked is not None:
            return state, state.asked
        kind, query = state.worker.send(("go", None))
        return state._replace(asked=query), query

    def tell(state, values, grads):
        kind, payload = state.worker.send(("answer", (values, grads)))
        if kind == "eval":  # scipy goes on within the same iteration
            return state._replace(asked=payload), None
        x, loss = payload
        return ScipyState(x, loss, state.worker, True), (phase if state.started else "init")

    return Optimizer(init, ask, tell, any_backend=False)


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
