"""The report's hybrids (section 3): gradient descent and attention search, composed.

Hybrids 1-3 are one mechanism, :func:`phased`: a set of *parts* (the unchanged ``gd`` and
``attention`` optimizers of :mod:`.gradient` and :mod:`.attention`) and a small *controller* that,
before each step, names the part that acts. The hybrid's state holds the active part's own state,
and its ask/tell pass each query and answer through to that part; on a switch the new part is
started with its own ``init`` at the current working point, so a switch costs what that part asks
for its start (gd: 1 f + 1 grad, attention: 1 f), counted by the driver like everything else. Every step records which part made it (``gd`` / ``attention``).

Hybrid 4 is gradient descent whose learning rate is chosen afresh each step by an attention
weighting over candidate rates (phase ``lr_search``); its update is the unchanged ``gd`` step.

Parameter names follow the report's code (gd_learning_rate -> ``gd_lr``, attn_n_samples ->
``attn_n_trials``, attn_sigma, attn_beta, lr_attn_beta).
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Callable, NamedTuple, Optional

import numpy as np

from attnopt import backend
from attnopt.errors import ConfigError
from attnopt.optimizers import weights as weightings
from attnopt.optimizers.attention import SIGMA_ADAPT, attention
from attnopt.optimizers.base import Optimizer, Query
from attnopt.optimizers.gradient import gd
from attnopt.params import ge, gt, le, one_of


class HybridState(NamedTuple):
    x: np.ndarray  # what the hybrid answers now: the working point, or the best iterate (hybrid3)
    loss: float
    phase: str  # the part that made the last step
    sub: Any  # that part's own state; sub.x is the working point
    steps_in_phase: int  # steps the current part has made since it took over
    phases_done: int  # completed phases (a gd phase then an attention phase make one cycle)
    plateau: int  # consecutive gd steps that improved the phase's best loss by less than plateau_tol
    phase_best: float  # best loss of the working trajectory since the current part took over
    best_x: np.ndarray  # best iterate of the working trajectory (trial points excluded)
    best_loss: float
    # "init" (the first part's start is asked), "" (between steps), "start" (a new part's start is
    # asked), "step" (the part's step is under way)
    stage: str = ""
    bounds: Any = None


# A controller looks at the state before a step and returns (part to act, start it from the best
# iterate instead of the working point). Only a change of part starts a part afresh.
Controller = Callable[[HybridState], "tuple[str, bool]"]


def relative_improvement(before: float, after: float) -> float:
    """(before - after) / |before|; the loss may be negative (the trapped landscape's is)."""
    return (before - after) / max(abs(before), 1e-12)


def phased(parts: dict[str, Optimizer], first: str, controller: Controller, *, plateau_tol: float = 0.0,
           answer_best: bool = False) -> Optimizer:
    """Compose ``parts`` under ``controller``, starting with part ``first``.

    ``plateau_tol``: after each gd step the relative improvement of the phase's best loss is
    compared with it, and ``plateau`` counts consecutive steps below it (hybrid1's trigger). The
    best loss, not the last one, so that gradient descent bouncing across a narrow valley (loss up,
    down, up) counts as stuck rather than resetting the count on every down-step.
    ``answer_best``: the state's ``x``/``loss`` are the best iterate so far rather than the working
    point (hybrid3).
    """

    def init(x0, bounds, rng):
        sub = parts[first].init(x0, bounds, rng)
        return HybridState(sub.x, float("nan"), first, sub, 0, 0, 0, float("nan"), sub.x, float("nan"), "init",
                           bounds)

    def ask(state, rng):
        if state.stage == "":  # a new step: the controller names the part that makes it
            phase, from_best = controller(state)
            if phase != state.phase:  # a switch starts the part afresh, at its own init's cost
                start = state.best_x if from_best else state.sub.x
                sub = parts[phase].init(start, state.bounds, rng)
                state = state._replace(phase=phase, sub=sub, steps_in_phase=0, phases_done=state.phases_done + 1,
                                       plateau=0, stage="start")
            else:
                state = state._replace(stage="step")
        sub, query = parts[state.phase].ask(state.sub, rng)
        return state._replace(sub=sub), query

    def tell(state, values, grads):
        sub, done = parts[state.phase].tell(state.sub, values, grads)
        state = state._replace(sub=sub)
        if done is None:  # the part's step needs more evaluations
            return state, None
        if state.stage == "init":
            return HybridState(sub.x, sub.loss, first, sub, 0, 0, 0, sub.loss, sub.x, sub.loss, "", state.bounds), "init"
        if state.stage == "start":  # the new part's start is evaluated; its first step follows
            return state._replace(phase_best=sub.loss, stage="step"), None
        phase, phase_best, plateau = state.phase, state.phase_best, state.plateau
        # NaN never becomes the best, and a NaN start is replaced by the first real loss.
        new_best = sub.loss if (sub.loss < phase_best or math.isnan(phase_best)) else phase_best
        if phase == "gd":
            plateau = plateau + 1 if relative_improvement(phase_best, new_best) < plateau_tol else 0
        best_x, best_loss = state.best_x, state.best_loss
        if sub.loss < best_loss:  # NaN never wins
            best_x, best_loss = sub.x, sub.loss
        x, loss = (best_x, best_loss) if answer_best else (sub.x, sub.loss)
        return HybridState(x, loss, phase, sub, state.steps_in_phase + 1, state.phases_done, plateau, new_best, best_x,
                           best_loss, "", state.bounds), phase

    def sigma(state):
        part = parts[state.phase]
        return part.sigma(state.sub) if part.sigma is not None else None

    return Optimizer(init, ask, tell, sigma=sigma)


def _parts(gd_lr: float, attn_n_trials: int, attn_sigma: float, attn_beta: float, attn_weighting: str = "softmax",
           attn_ess_target: float = 0.25, attn_sigma_adapt: str = "none") -> dict[str, Optimizer]:
    """The two parts. The scale-free options of attention search reach it as ``attn_weighting``
    (softmax | rank | ess), ``attn_ess_target`` and ``attn_sigma_adapt``; an adapted sigma starts
    again from ``attn_sigma`` at every attention phase, since a switch starts the part afresh."""
    return {"gd": gd(lr=gd_lr),
            "attention": attention(n_trials=attn_n_trials, sigma=attn_sigma, beta=attn_beta, weighting=attn_weighting,
                                   ess_target=attn_ess_target, sigma_adapt=attn_sigma_adapt)}


def hybrid1(
    *,
    gd_lr: Annotated[float, gt(0)] = 1e-3,
    plateau_tol: Annotated[float, ge(0)] = 1e-5,
    plateau_patience: Annotated[int, gt(0)] = 5,
    attn_steps_per_phase: Annotated[int, gt(0)] = 10,
    attn_n_trials: Annotated[int, gt(0)] = 64,
    attn_sigma: Annotated[float, gt(0)] = 0.3,
    attn_beta: Annotated[float, gt(0)] = 1.0,
    attn_weighting: Annotated[str, one_of(*weightings.WEIGHTINGS)] = "softmax",
    attn_ess_target: Annotated[float, gt(0), le(1)] = 0.25,
    attn_sigma_adapt: Annotated[str, one_of(*SIGMA_ADAPT)] = "none",
) -> Optimizer:
    """GD with reactive escape (report 3.1): gradient descent until its relative improvement has
    been below ``plateau_tol`` for ``plateau_patience`` consecutive steps, then ``attn_steps_per_phase``
    attention-search steps, then gradient descent again. (``plateau_patience``, not the
    issue's ``patience``, because :func:`attnopt.minimize` already takes ``patience`` for its
    stopping rule and would swallow it.)"""

    def controller(s: HybridState) -> tuple[str, bool]:
        if s.phase == "gd":
            return ("attention" if s.plateau >= plateau_patience else "gd"), False
        return ("gd" if s.steps_in_phase >= attn_steps_per_phase else "attention"), False

    parts = _parts(gd_lr, attn_n_trials, attn_sigma, attn_beta, attn_weighting, attn_ess_target, attn_sigma_adapt)
    return phased(parts, "gd", controller, plateau_tol=plateau_tol)


def _cycle(gd_steps: int, attn_steps: int, num_cycles: Optional[int] = None) -> Controller:
    """gd for ``gd_steps`` steps, attention for ``attn_steps``, repeated; after ``num_cycles``
    cycles (if given), gradient descent from the best iterate for the rest of the run."""

    def controller(s: HybridState) -> tuple[str, bool]:
        if s.phase == "gd":
            if num_cycles is not None and s.phases_done >= 2 * num_cycles:
                return "gd", False  # the final descent
            return ("attention" if s.steps_in_phase >= gd_steps else "gd"), False
        if s.steps_in_phase >= attn_steps:
            last = num_cycles is not None and s.phases_done + 1 >= 2 * num_cycles
            return "gd", last
        return "attention", False

    return controller


def hybrid2(
    *,
    gd_lr: Annotated[float, gt(0)] = 1e-3,
    gd_steps_per_cycle: Annotated[int, gt(0)] = 50,
    attn_steps_per_cycle: Annotated[int, gt(0)] = 5,
    attn_n_trials: Annotated[int, gt(0)] = 64,
    attn_sigma: Annotated[float, gt(0)] = 0.3,
    attn_beta: Annotated[float, gt(0)] = 1.0,
    attn_weighting: Annotated[str, one_of(*weightings.WEIGHTINGS)] = "softmax",
    attn_ess_target: Annotated[float, gt(0), le(1)] = 0.25,
    attn_sigma_adapt: Annotated[str, one_of(*SIGMA_ADAPT)] = "none",
) -> Optimizer:
    """Alternating optimization (report 3.2): ``gd_steps_per_cycle`` gradient-descent steps, then
    ``attn_steps_per_cycle`` attention-search steps, repeated until the budget ends."""
    parts = _parts(gd_lr, attn_n_trials, attn_sigma, attn_beta, attn_weighting, attn_ess_target, attn_sigma_adapt)
    return phased(parts, "gd",
                  _cycle(gd_steps_per_cycle, attn_steps_per_cycle))


def hybrid3(
    *,
    gd_lr: Annotated[float, gt(0)] = 1e-3,
    gd_steps_per_restart: Annotated[int, gt(0)] = 100,
    attn_steps_per_restart: Annotated[int, gt(0)] = 5,
    num_restarts: Annotated[int, gt(0)] = 10,
    attn_n_trials: Annotated[int, gt(0)] = 64,
    attn_sigma: Annotated[float, gt(0)] = 1.0,
    attn_beta: Annotated[float, gt(0)] = 1.0,
    attn_weighting: Annotated[str, one_of(*weightings.WEIGHTINGS)] = "softmax",
    attn_ess_target: Annotated[float, gt(0), le(1)] = 0.25,
    attn_sigma_adapt: Annotated[str, one_of(*SIGMA_ADAPT)] = "none",
) -> Optimizer:
    """Attention-restarted GD (report 3.3): per cycle, ``gd_steps_per_restart`` gradient-descent
    steps, then ``attn_steps_per_restart`` attention-search steps (wide, ``attn_sigma``) that
    re-initialise gradient descent; ``num_restarts`` cycles.

    Unlike the report's code it answers with the best iterate seen across all cycles (``x`` and
    ``loss`` of its state, hence the history's ``loss`` column, are that best iterate), and once
    the cycles are done it runs gradient descent from that best iterate until the budget ends.
    """
    parts = _parts(gd_lr, attn_n_trials, attn_sigma, attn_beta, attn_weighting, attn_ess_target, attn_sigma_adapt)
    return phased(parts, "gd",
                  _cycle(gd_steps_per_restart, attn_steps_per_restart, num_restarts), answer_best=True)


class LrSearchState(NamedTuple):
    x: np.ndarray
    loss: float
    sub: Any  # the gd state (x, loss, grad, ...) the step is applied to
    lr: float  # the learning rate chosen at the last step (nan before the first)
    stage: str = "init"  # "init" (x0 asked), "" (between steps), "lrs" (candidates asked), "move" (gd step asked)
    asked: Any = None  # the next query, once the rate is chosen


def hybrid4(
    *,
    lr_min: Annotated[float, gt(0)] = 1e-5,
    lr_max: Annotated[float, gt(0)] = 1e-1,
    n_lrs: Annotated[int, ge(2)] = 9,
    lr_attn_beta: Annotated[float, gt(0)] = 10.0,
    lr_choice: Annotated[str, one_of("weighted", "best")] = "weighted",
) -> Optimizer:
    """Attention as a learning-rate meta-optimizer (report 3.4).

    Each step, for ``n_lrs`` candidate rates log-spaced over [lr_min, lr_max], the hypothetical
    next points x - lr * grad are asked for in one batch (each counts as a function evaluation);
    the rates are weighted with softmax(-lr_attn_beta * loss) and gradient descent steps with the
    weighted rate (``lr_choice=best``: the rate of the lowest loss). A step costs n_lrs + 1
    function and 1 gradient evaluations.
    """
    if lr_min >= lr_max:
        raise ConfigError(f"optimizer.lr_min={lr_min:g} and optimizer.lr_max={lr_max:g} are invalid: "
                          "lr_min must be < lr_max")
    lrs = np.geomspace(lr_min, lr_max, n_lrs)
    weigh = weightings.softmax(lr_attn_beta)
    base = gd(lr=lr_max)  # its init and tell; each step's rate is chosen afresh

    def init(x0, bounds, rng):
        sub = base.init(x0, bounds, rng)
        return LrSearchState(sub.x, float("nan"), sub, float("nan"))

    def ask(state, rng):
        if state.stage == "init":
            sub, query = base.ask(state.sub, rng)
            return state._replace(sub=sub), query
        if state.stage == "move":
            return state, state.asked
        sub = state.sub
        candidates = sub.x[None, :] - backend.like(lrs, sub.x)[:, None] * sub.grad[None, :]
        return state._replace(stage="lrs"), Query(candidates)

    def tell(state, values, grads):
        if state.stage == "lrs":
            losses = backend.to_numpy(values)
            if lr_choice == "best":
                finite = np.isfinite(losses)
                lr = float(lrs[np.argmin(np.where(finite, losses, np.inf))]) if finite.any() else 0.0
            else:
                lr = float(weigh(losses) @ lrs)  # 0 (stay) when no candidate is finite
            sub, query = gd(lr=lr).ask(state.sub, None)  # the unchanged gd step at that rate
            return state._replace(sub=sub, lr=lr, stage="move", asked=query), None
        sub, phase = base.tell(state.sub, values, grads)  # gd's tell applies the step it asked for
        if state.stage == "init":
            return LrSearchState(sub.x, sub.loss, sub, float("nan"), ""), "init"
        return LrSearchState(sub.x, sub.loss, sub, state.lr, ""), "lr_search"

    return Optimizer(init, ask, tell)


__all__ = ["HybridState", "LrSearchState", "phased", "hybrid1", "hybrid2", "hybrid3", "hybrid4"]
