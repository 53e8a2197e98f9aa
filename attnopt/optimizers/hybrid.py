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
``attn_n_trials``, attn_sigma, attn_beta, lr_attn_beta); the ``attn_*`` options are attention
search's own (:func:`attention_options`, declared once) under a prefix.

Defaults are scale-free (issue 16), so one configuration serves a [-5, 5] box and a [-600, 600]
one: attention's sigma is a fraction of the init box's width and its softmax temperature is set
per step from the losses (``weighting=ess``); gradient descent takes a backtracking (Armijo) line
search instead of a fixed rate, its first step a fraction of the box; hybrid4's candidate rates
are spread around the last chosen rate. The report's fixed scales remain options (``gd_lr``,
``attn_sigma_scale=absolute``, ``attn_weighting=softmax``, ``lr_min``/``lr_max``).
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Callable, NamedTuple, Optional

import numpy as np

from attnopt import backend
from attnopt.errors import ConfigError
from attnopt.optimizers import weights as weightings
from attnopt.optimizers.attention import attention, attention_options
from attnopt.optimizers.base import Optimizer, Query
from attnopt.optimizers.gradient import gd, gd_backtracking
from attnopt.params import Family, ge, gt, one_of, takes


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


def attention_part(**defaults) -> Family:
    """The hybrids' attention options: attention's own family (one declaration, see
    :func:`attention_options`) under the prefix ``attn_``, with the hybrid's defaults. The defaults
    are scale-free: sigma a fraction of the init box's width (``sigma_scale=domain``) and softmax
    weights whose temperature is set per step so that the effective sample size is a quarter of
    the trials (``weighting=ess``), so neither depends on the landscape's box or its loss's scale.
    Restarts are the hybrid controller's job, not the part's, so attention's restart options are
    left out."""
    return Family(attention_options, prefix="attn_", exclude=("restarts", "restart_patience", "restart_tol"),
                  defaults=dict(dict(sigma_scale="domain", weighting="ess"), **defaults))


def _parts(gd_lr: Optional[float], gd_step0: float, params: dict, family: Family) -> dict[str, Optimizer]:
    """The two parts. ``gd_lr`` None (the default): gradient descent with Barzilai-Borwein rates
    safeguarded by a backtracking (Armijo) line search, its first step ``gd_step0`` of the init
    box's width (:func:`gd_backtracking`); a number: the report's fixed-rate gd. An adapted sigma or rate starts again at every phase, since a switch starts the
    part afresh."""
    descent = gd_backtracking(step0=gd_step0) if gd_lr is None else gd(lr=gd_lr)
    return {"gd": descent, "attention": attention(**family.pick(params))}


#: gd_lr: None is the scale-free line search, a number the report's fixed rate
GdLr = Annotated[Optional[float], gt(0)]
GdStep0 = Annotated[float, gt(0)]

# attn_sigma, a fraction of the init box's width, chosen (with hybrid1's plateau_tol and hybrid2's
# gd_steps_per_cycle) on seeds 1000-1005 of the compare problems at D = 10, which the grid does not
# use (docs/findings.md, "The report's hybrids off their home landscape"); hybrid3's restarts are
# wider, as in the report.
HYBRID1_ATTENTION = attention_part(sigma=0.1)
HYBRID2_ATTENTION = attention_part(sigma=0.1)
HYBRID3_ATTENTION = attention_part(sigma=0.3)


@takes(HYBRID1_ATTENTION)
def hybrid1(
    *,
    gd_lr: GdLr = None,
    gd_step0: GdStep0 = 0.01,
    plateau_tol: Annotated[float, ge(0)] = 1e-8,
    plateau_patience: Annotated[int, gt(0)] = 5,
    attn_steps_per_phase: Annotated[int, gt(0)] = 10,
    **attn,
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

    return phased(_parts(gd_lr, gd_step0, attn, HYBRID1_ATTENTION), "gd", controller, plateau_tol=plateau_tol)


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


@takes(HYBRID2_ATTENTION)
def hybrid2(
    *,
    gd_lr: GdLr = None,
    gd_step0: GdStep0 = 0.01,
    gd_steps_per_cycle: Annotated[int, gt(0)] = 200,
    attn_steps_per_cycle: Annotated[int, gt(0)] = 5,
    **attn,
) -> Optimizer:
    """Alternating optimization (report 3.2): ``gd_steps_per_cycle`` gradient-descent steps, then
    ``attn_steps_per_cycle`` attention-search steps, repeated until the budget ends."""
    return phased(_parts(gd_lr, gd_step0, attn, HYBRID2_ATTENTION), "gd",
                  _cycle(gd_steps_per_cycle, attn_steps_per_cycle))


@takes(HYBRID3_ATTENTION)
def hybrid3(
    *,
    gd_lr: GdLr = None,
    gd_step0: GdStep0 = 0.01,
    gd_steps_per_restart: Annotated[int, gt(0)] = 100,
    attn_steps_per_restart: Annotated[int, gt(0)] = 5,
    num_restarts: Annotated[int, gt(0)] = 10,
    **attn,
) -> Optimizer:
    """Attention-restarted GD (report 3.3): per cycle, ``gd_steps_per_restart`` gradient-descent
    steps, then ``attn_steps_per_restart`` attention-search steps (wide, ``attn_sigma``) that
    re-initialise gradient descent; ``num_restarts`` cycles.

    Unlike the report's code it answers with the best iterate seen across all cycles (``x`` and
    ``loss`` of its state, hence the history's ``loss`` column, are that best iterate), and once
    the cycles are done it runs gradient descent from that best iterate until the budget ends.
    """
    return phased(_parts(gd_lr, gd_step0, attn, HYBRID3_ATTENTION), "gd",
                  _cycle(gd_steps_per_restart, attn_steps_per_restart, num_restarts), answer_best=True)


class LrSearchState(NamedTuple):
    x: np.ndarray
    loss: float
    sub: Any  # the gd state (x, loss, grad, ...) the step is applied to
    lr: float  # the learning rate chosen at the last step (nan before the first)
    stage: str = "init"  # "init" (x0 asked), "" (between steps), "lrs" (candidates asked), "move" (gd step asked)
    asked: Any = None  # the next query, once the rate is chosen
    center: float = float("nan")  # relative candidates: the rate they are spread around (nan: not yet set)
    width: float = 1.0  # mean width of the init box (the first center's step length is a fraction of it)


def hybrid4(
    *,
    lr_min: Annotated[Optional[float], gt(0)] = None,
    lr_max: Annotated[Optional[float], gt(0)] = None,
    lr_span: Annotated[float, gt(1)] = 100.0,
    lr_step0: Annotated[float, gt(0)] = 0.01,
    n_lrs: Annotated[int, ge(2)] = 9,
    lr_weighting: Annotated[str, one_of(*weightings.WEIGHTINGS)] = "ess",
    lr_attn_beta: Annotated[float, gt(0)] = 10.0,
    lr_choice: Annotated[str, one_of("weighted", "best")] = "weighted",
) -> Optimizer:
    """Attention as a learning-rate meta-optimizer (report 3.4).

    Each step, for ``n_lrs`` candidate rates, the hypothetical next points x - lr * grad are asked
    for in one batch (each counts as a function evaluation); the rates are weighted by their
    losses with ``lr_weighting`` (``softmax``: softmax(-lr_attn_beta * loss), the report's;
    ``ess``, the default: softmax with its temperature set per step so that the effective sample
    size is a quarter of the candidates, whatever the loss's scale; ``rank``) and gradient descent
    steps with the weighted rate (``lr_choice=best``: the rate of the lowest loss). A step costs
    n_lrs + 1 function and 1 gradient evaluations.

    Where the candidates lie: by default (``lr_min``, ``lr_max`` unset) log-spaced over
    [c / lr_span, c * lr_span] around the rate c chosen at the last step, so the search follows the
    landscape's scale; the first c makes a step of ``lr_step0`` of the init box's width, and no
    candidate step is longer than the box is wide. With
    ``lr_min`` and/or ``lr_max`` set: log-spaced over that fixed interval, as in the report (1e-5,
    0.1); one of them alone: the other is ``lr_span**2`` away, the same ratio as the relative one.
    """
    fixed = lr_min is not None or lr_max is not None
    if fixed and lr_min is None:
        lr_min = lr_max / lr_span**2
    if fixed and lr_max is None:
        lr_max = lr_min * lr_span**2
    if fixed and lr_min >= lr_max:
        raise ConfigError(f"optimizer.lr_min={lr_min:g} and optimizer.lr_max={lr_max:g} are invalid: "
                          "lr_min must be < lr_max")
    lrs = np.geomspace(lr_min, lr_max, n_lrs) if fixed else np.geomspace(1.0 / lr_span, lr_span, n_lrs)
    weigh = weightings.make(lr_weighting, lr_attn_beta, target=0.25)
    base = gd(lr=1.0)  # its init and tell; each step's rate is chosen afresh

    def init(x0, bounds, rng):
        sub = base.init(x0, bounds, rng)
        low, high = bounds
        return LrSearchState(sub.x, float("nan"), sub, float("nan"),
                             width=float(np.mean(np.asarray(high) - np.asarray(low))))

    def candidates_of(state) -> np.ndarray:
        if fixed:
            return lrs
        norm = float((state.sub.grad * state.sub.grad).sum()) ** 0.5
        longest = state.width / norm if norm > 0 else state.width
        center = state.center
        if not center == center:  # NaN: the first step, a fraction of the domain long
            center = lr_step0 * longest
        # No candidate step is longer than the init box is wide: where the gradient vanishes (a
        # plateau) ever longer steps would otherwise look no worse and run off to infinity.
        return np.minimum(center * lrs, longest)

    def ask(state, rng):
        if state.stage == "init":
            sub, query = base.ask(state.sub, rng)
            return state._replace(sub=sub), query
        if state.stage == "move":
            return state, state.asked
        sub = state.sub
        rates = candidates_of(state)
        candidates = sub.x[None, :] - backend.like(rates, sub.x)[:, None] * sub.grad[None, :]
        return state._replace(stage="lrs", asked=rates), Query(candidates)

    def tell(state, values, grads):
        if state.stage == "lrs":
            rates, losses = state.asked, backend.to_numpy(values)
            if lr_choice == "best":
                finite = np.isfinite(losses)
                lr = float(rates[np.argmin(np.where(finite, losses, np.inf))]) if finite.any() else 0.0
            else:
                lr = float(weigh(losses) @ rates)  # 0 (stay) when no candidate is finite
            # The next candidates centre on this rate; none finite: a span lower.
            center = lr if lr > 0 else float(rates[0])
            sub, query = gd(lr=lr).ask(state.sub, None)  # the unchanged gd step at that rate
            return state._replace(sub=sub, lr=lr, stage="move", asked=query, center=center), None
        sub, phase = base.tell(state.sub, values, grads)  # gd's tell applies the step it asked for
        if state.stage == "init":
            return state._replace(x=sub.x, loss=sub.loss, sub=sub, stage=""), "init"
        return state._replace(x=sub.x, loss=sub.loss, sub=sub, stage="", asked=None), "lr_search"

    return Optimizer(init, ask, tell)


__all__ = ["HybridState", "LrSearchState", "phased", "hybrid1", "hybrid2", "hybrid3", "hybrid4"]
