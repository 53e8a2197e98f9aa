"""Attention search (report 2.1.2, 2.4 and 2.5.2): sample, weigh, move.

Per step: draw trial points x_i = x + sigma_i z_i (z_i ~ N(0, I)), evaluate all of them in ONE
batched call, weigh them (softmax(-beta * loss) by default) and move
x <- x + eta * sum_i alpha_i (x_i - x); eta = 1 is the report's weighted average. The new point's
loss is evaluated too, so a step costs n_trials + 1 function evaluations: it asks twice (the
trials, then the new point; see :mod:`.base`).
"""
from __future__ import annotations

from typing import Annotated, Any, NamedTuple, Optional

import numpy as np

from attnopt import backend
from attnopt.errors import ConfigError
from attnopt.optimizers import weights as weightings
from attnopt.optimizers.base import Optimizer, Query
from attnopt.params import Family, ge, gt, le, one_of, takes


# Trial counts have no fixed upper bound: what fits depends on the dimension and the machine, so
# attnopt.memory refuses, in one line with its estimate, a batch that cannot fit (before anything
# is allocated), for attention and for every optimizer that takes its options (the hybrids).


class AttentionState(NamedTuple):
    x: np.ndarray
    loss: float
    # Used only by the scale-free options (sigma_adapt, restarts, sigma_scale); the plain search
    # leaves them at their defaults, so AttentionState(x, loss) stays a complete state.
    scale: float = 1.0  # multiplier on every trial's sigma
    path: Optional[np.ndarray] = None  # CSA's evolution path
    restart: int = 0  # restarts so far; the step then draws n * 2**restart trials
    run_best: float = np.inf  # best loss since the last (re)start
    stall: int = 0  # steps since run_best last improved by more than restart_tol
    recent: tuple = ()  # the losses of x over the last few steps (the convergence test's window)
    best_x: Optional[np.ndarray] = None  # the best point of all restarts
    best_loss: float = np.inf
    # Where the step stands between ask and tell: "start" (x is asked), "" (between steps),
    # "trials" (the trials are asked), "move" (the moved-to point is asked), "restart" (a new
    # start is due), "restarting" (it is asked).
    stage: str = ""
    asked: Any = None  # what is being evaluated: the trials, or the new point
    bounds: Any = None  # the init box (restarts and sigma_scale=domain)


SIGMA_ADAPT = ("none", "success", "csa")
SIGMA_SCALE = ("absolute", "domain")


def sampled_search(sigmas: np.ndarray, eta: float, weigh: weightings.Weighting, *, sigma_adapt: str = "none",
                   sigma_scale: str = "absolute", restarts: int = 0, restart_patience: int = 0,
                   restart_tol: float = 1e-12) -> Optimizer:
    """The shared engine: one trial per entry of ``sigmas`` (its noise scale).

    The keyword options turn on the scale-free machinery (see :func:`adaptive_search`); with
    their defaults the step is the plain sample-weigh-move loop, unchanged.
    """
    if sigma_adapt != "none" or sigma_scale != "absolute" or restarts > 0:
        return adaptive_search(sigmas, eta, weigh, sigma_adapt=sigma_adapt, sigma_scale=sigma_scale,
                               restarts=restarts, restart_patience=restart_patience, restart_tol=restart_tol)
    sigmas = np.asarray(sigmas, dtype=float)
    n = sigmas.size
    uniform = bool(np.all(sigmas == sigmas[0]))
    scale = float(sigmas[0]) if uniform else sigmas[:, None]

    def init(x0, bounds, rng):
        return AttentionState(backend.as_point(x0), float("nan"), stage="start")

    def ask(state, rng):
        if state.stage == "start":
            return state, Query(state.x)
        if state.stage == "move":
            return state, Query(state.asked)
        x = state.x
        trials = backend.normal(rng, (n, x.shape[0]), x)
        # In place: at d = 10,000 every extra pass over the (n, d) block costs ~5% of the step.
        trials *= scale if uniform else backend.like(scale, trials)
        trials += x
        return state._replace(stage="trials", asked=trials), Query(trials)

    def tell(state, values, grads):
        if state.stage == "start":
            return AttentionState(state.x, float(values)), "init"
        if state.stage == "move":
            return AttentionState(state.asked, float(values)), "attention"
        trials, x = state.asked, state.x
        # Weights are computed on the host: n numbers, whatever the device of the trials.
        alpha = weigh(backend.to_numpy(values))
        total = float(np.add.reduce(alpha))
        x_new = x + eta * (backend.like(alpha, trials) @ trials - total * x)
        return state._replace(stage="move", asked=x_new), None

    mean_sigma = float(sigmas.mean())
    return Optimizer(init, ask, tell, sigma=lambda state: mean_sigma)


def adaptive_search(sigmas: np.ndarray, eta: float, weigh: weightings.Weighting, *, sigma_adapt: str = "none",
                    sigma_scale: str = "absolute", restarts: int = 0, restart_patience: int = 0,
                    restart_tol: float = 1e-12) -> Optimizer:
    """Attention search that does not depend on the loss's or the domain's scale.

    - ``sigma_scale="domain"``: every sigma is a fraction of the width of the landscape's init box
      (as CMA-ES's sigma0 is usually set), so one setting serves [-5, 5] and [-600, 600].
    - ``sigma_adapt``: one multiplier on all sigmas, adapted every step. ``success``: the 1/5th
      rule on the trials, grown when more than 20% of them beat x, shrunk when fewer do. ``csa``: CMA-ES's cumulative step-size adaptation on the weighted step
      sum_i alpha_i z_i, with mu_eff = ESS of the weights: grown when successive steps point the
      same way, shrunk when they cancel. With rank weights and eta = 1 this is a
      (mu/mu_w, lambda) evolution strategy with isotropic mutations.
    - ``restarts`` (IPOP): start again from a uniform point of the init box with twice the trials
      and the initial sigma, at most ``restarts`` times, when the search has converged or stagnated,
      with pycma's windows: the loss of x has varied by less than ``restart_tol`` (relative;
      absolute below 1) over the last 10 + 30 d / n steps, or the best loss since the last start
      has not improved by more than that for ``restart_patience`` steps (0: 100 + 100 d^1.5 / n).
      The best point of all starts is kept in the state (``best_x``, ``best_loss``).
    A step costs n * 2**restart + 1 function evaluations, all trials in one batched call.
    """
    base = np.asarray(sigmas, dtype=float)
    tiled: dict[int, np.ndarray] = {}
    ref_sigma = float(base.mean())

    def trial_sigmas(restart: int) -> np.ndarray:
        if restart not in tiled:
            tiled[restart] = np.tile(base, 2**restart)[:, None]
        return tiled[restart]

    def initial_scale(bounds) -> float:
        if sigma_scale == "absolute":
            return 1.0
        low, high = bounds
        return float(np.mean(high - low))

    def init(x0, bounds, rng):
        return AttentionState(backend.as_point(x0), float("nan"), scale=initial_scale(bounds), stage="start",
                              bounds=bounds)

    def ask(state, rng):
        if state.stage == "start":
            return state, Query(state.x)
        if state.stage == "move":
            return state, Query(state.asked[0])
        if state.stage == "restart":
            low, high = state.bounds
            x0 = backend.uniform(rng, low, high, state.x.shape[0], state.x)
            return state._replace(stage="restarting", asked=x0), Query(x0)
        x, d = state.x, state.x.shape[0]
        sig = trial_sigmas(state.restart)
        trials = backend.normal(rng, (sig.shape[0], d), x)
        trials *= backend.like(state.scale * sig, trials)
        trials += x
        return state._replace(stage="trials", asked=trials), Query(trials)

    def tell(state, values, grads):
        if state.stage == "start":
            loss = float(values)
            return state._replace(loss=loss, run_best=loss, best_x=state.x, best_loss=loss, stage=""), "init"
        if state.stage == "restarting":
            x0, loss0 = state.asked, float(values)
            best_x, best_loss = state.best_x, state.best_loss
            if loss0 < best_loss:
                best_x, best_loss = x0, loss0
            return AttentionState(x0, loss0, initial_scale(state.bounds), None, state.restart + 1, loss0, 0, (),
                                  best_x, best_loss, bounds=state.bounds), "restart"
        if state.stage == "trials":
            trials, x = state.asked, state.x
            losses = backend.to_numpy(values)  # n numbers: host-side bookkeeping is cheap
            alpha = weigh(losses)
            x_new = x + eta * (backend.like(alpha, trials) @ trials - float(alpha.sum()) * x)
            return state._replace(stage="move", asked=(x_new, trials, losses, alpha)), None
        return after_move(state, float(values))

    def after_move(state, loss):
        """The step's bookkeeping once the moved-to point's loss is known: sigma, best, restart test."""
        x_new, trials, losses, alpha = state.asked
        x, d, n = state.x, state.x.shape[0], trials.shape[0]
        scale, path = state.scale, state.path
        if sigma_adapt == "success":
            # The 1/5th rule applied to the trials: a weighted mean of many trials beats x about half
            # the time whatever sigma is, so "the new x is better" cannot steer sigma; the fraction of
            # trials better than x can (-> 1/2 as sigma -> 0, -> 0 as sigma -> inf).
            p_success = float(np.mean(losses < state.loss))
            scale *= np.exp((p_success - 0.2) / 0.8 / (1.0 + np.sqrt(d) / 4.0))
        elif sigma_adapt == "csa" and alpha.any():
            mu_eff = 1.0 / float(alpha @ alpha)
            c = (mu_eff + 2.0) / (d + mu_eff + 5.0)
            damps = 1.0 + 2.0 * max(0.0, np.sqrt((mu_eff - 1.0) / (d + 1.0)) - 1.0) + c
            chi_d = np.sqrt(d) * (1.0 - 1.0 / (4.0 * d) + 1.0 / (21.0 * d * d))
            y = (x_new - x) / (eta * state.scale * ref_sigma)
            path = (1.0 - c) * (0.0 if path is None else path) + np.sqrt(c * (2.0 - c) * mu_eff) * y
            norm = float(backend.namespace(path).linalg.vector_norm(path))
            if np.isfinite(norm):
                scale *= np.exp(min(1.0, (c / damps) * (norm / chi_d - 1.0)))
            else:
                path = None

        finite = np.isfinite(losses)
        best_x, best_loss = state.best_x, state.best_loss
        step_best = float(losses[finite].min()) if finite.any() else np.inf
        if np.isfinite(loss) and loss <= step_best:
            step_best, step_x = loss, x_new
        elif finite.any():
            step_x = trials[int(np.argmin(np.where(finite, losses, np.inf)))]
        if step_best < best_loss:
            best_x, best_loss = backend.copy(step_x), step_best

        run_best, stall = state.run_best, state.stall + 1
        if step_best < run_best - restart_tol * max(1.0, abs(run_best)):
            stall = 0
        run_best = min(run_best, step_best)
        window = int(10 + np.ceil(30.0 * d / n))
        recent = (state.recent + (loss,))[-window:]
        converged = len(recent) == window and max(recent) - min(recent) <= restart_tol * max(1.0, abs(min(recent)))
        stagnated = stall >= (restart_patience or int(100 + np.ceil(100.0 * d**1.5 / n)))
        if state.restart < restarts and (converged or stagnated or not np.isfinite(loss)):
            # The new start is drawn and evaluated within this same iteration (the next ask).
            return state._replace(path=path, best_x=best_x, best_loss=best_loss, stage="restart", asked=None), None
        return AttentionState(x_new, loss, scale, path, state.restart, run_best, stall, recent, best_x,
                              best_loss, bounds=state.bounds), "attention"

    return Optimizer(init, ask, tell, sigma=lambda state: state.scale * ref_sigma)


def attention_options(
    *,
    n_trials: Annotated[int, gt(0)] = 64,
    sigma: Annotated[float, gt(0)] = 0.3,
    beta: Annotated[float, gt(0)] = 1.0,
    eta: Annotated[float, gt(0)] = 1.0,
    weighting: Annotated[str, one_of(*weightings.WEIGHTINGS)] = "softmax",
    ess_target: Annotated[float, gt(0), le(1)] = 0.25,
    sigma_adapt: Annotated[str, one_of(*SIGMA_ADAPT)] = "none",
    sigma_scale: Annotated[str, one_of(*SIGMA_SCALE)] = "absolute",
    restarts: Annotated[int, ge(0)] = 0,
    restart_patience: Annotated[int, ge(0)] = 0,
    restart_tol: Annotated[float, ge(0)] = 1e-12,
):
    """The options of attention search, declared once: every attention variant and the hybrids'
    attention parts take them from here (see :class:`attnopt.params.Family`).

    ``n_trials`` Gaussian trials of scale ``sigma``, weighted by ``weighting`` (softmax with
    ``beta``; ``rank``; ``ess``: softmax with beta chosen per step so that ESS = ``ess_target`` *
    n_trials), moved with step ``eta``; the scale-free options (see :func:`adaptive_search`):
    ``sigma_adapt``, ``sigma_scale=domain`` and IPOP-style ``restarts`` (``restart_patience``,
    ``restart_tol``)."""


ATTENTION = Family(attention_options)


def _search(sigmas, o: dict) -> Optimizer:
    return sampled_search(sigmas, o["eta"], weightings.make(o["weighting"], o["beta"], target=o["ess_target"]),
                          sigma_adapt=o["sigma_adapt"], sigma_scale=o["sigma_scale"], restarts=o["restarts"],
                          restart_patience=o["restart_patience"], restart_tol=o["restart_tol"])


@takes(ATTENTION)
def attention(**options) -> Optimizer:
    """Attention search: ``n_trials`` Gaussian trials of scale ``sigma`` around x (options:
    :func:`attention_options`)."""
    return _search(np.full(options["n_trials"], options["sigma"]), options)


@takes(Family(attention_options, defaults=dict(n_trials=10, sigma=0.2, weighting="rank", sigma_adapt="csa",
                                               sigma_scale="domain", restarts=9)))
def attention_ipop(**options) -> Optimizer:
    """Attention search with every scale-free option on: rank weights, CSA step size, sigma as a
    fraction (0.2) of the init box, 10 trials (CMA-ES's default population at d = 10) and up to 9
    IPOP restarts doubling them. The same function as ``attention``; only the defaults differ, so
    it can be named in sweeps."""
    return attention(**options)


@takes(Family(attention_options, exclude=("n_trials", "sigma")))
def attention_explore(
    *,
    n_exploit: Annotated[int, ge(0)] = 48,
    sigma_exploit: Annotated[float, gt(0)] = 0.1,
    n_explore: Annotated[int, ge(0)] = 16,
    sigma_explore: Annotated[float, gt(0)] = 1.0,
    **options,
) -> Optimizer:
    """Enhanced attention search (report 2.5.2): ``n_exploit`` trials close to x (scale
    ``sigma_exploit``) plus ``n_explore`` wide ones (scale ``sigma_explore``), weighed together.

    Takes the same options as ``attention`` (see :func:`adaptive_search`): an adapted step size
    scales both sigmas together, keeping their ratio (CSA measures the step in units of the
    trials' mean sigma, an approximation where the sigmas differ); ``sigma_scale=domain`` makes
    both fractions of the init box; restarts double both trial counts."""
    if n_exploit + n_explore < 1:
        raise ConfigError(
            f"optimizer.n_exploit={n_exploit} and optimizer.n_explore={n_explore} are invalid: "
            "they must sum to at least 1"
        )
    return _search(np.repeat([sigma_exploit, sigma_explore], [n_exploit, n_explore]), options)
