"""Meta-testing: run any rule on a batch of held-out tasks, tune baselines, summarise with intervals."""
from __future__ import annotations

import math
import time
from typing import Callable, Optional

import numpy as np
import torch

from attnopt.meta.rules import BASELINES, Rule
from attnopt.meta.tasks import Family, Tasks


def run_rule(rule: Rule, family: Family, tasks: Tasks, steps: int, chunk: Optional[int] = None,
             final_at: Optional[list[int]] = None) -> dict:
    """Optimise every task for ``steps`` inner steps (no meta-graph).

    Returns ``curve`` (steps + 1, B): the loss each step's gradient was taken at (minibatch loss for
    the MLP); the family's final metrics (B,) at each step of ``final_at`` (default: the last) as
    ``"final_loss@<step>"`` etc., so one long run serves several horizons; and ``update_s`` / ``step_s``: seconds per step
    spent in the rule's update alone and in the whole step (gradient included). ``chunk`` bounds how
    many tasks run at once (memory); each chunk of MLP tasks then draws its own (deterministic)
    minibatch sequence.
    """
    if chunk is not None and len(tasks) > chunk:
        parts = [run_rule(rule, family, _slice(tasks, i, i + chunk), steps, final_at=final_at)
                 for i in range(0, len(tasks), chunk)]
        out = {k: torch.cat([p[k] for p in parts], dim=-1) for k in parts[0] if isinstance(parts[0][k], torch.Tensor)}
        out.update({k: sum(p[k] for p in parts) for k in ("update_s", "step_s")})
        return out
    final_at = sorted(set(final_at or [steps]))
    if final_at[0] < 0 or final_at[-1] > steps:
        raise ValueError(f"final_at={final_at} must lie in [0, {steps}]")
    x = tasks.x0.clone()
    state = rule.init(x)
    curve = []
    finals = {}
    t_update = 0.0
    start = time.perf_counter()
    for t in range(steps + 1):
        x = x.detach().requires_grad_()
        with torch.enable_grad():
            f = family.loss(x, family.inputs(tasks, t))
            (g,) = torch.autograd.grad(f.sum(), x)
        curve.append(f.detach())
        if t in final_at:
            with torch.no_grad():
                finals.update({f"{k}@{t}": v for k, v in family.final(x.detach(), tasks).items()})
        if t == steps:
            break
        with torch.no_grad():
            _sync(x)  # on a GPU, time the update itself, not whatever was queued before it
            t0 = time.perf_counter()
            delta, state = rule.update(g, x, state)
            _sync(delta)
            t_update += time.perf_counter() - t0
            x = x + delta
    step_s = (time.perf_counter() - start) / max(steps, 1)
    return {"curve": torch.stack(curve), **finals, "update_s": t_update / max(steps, 1), "step_s": step_s}


def _sync(t: torch.Tensor) -> None:
    if t.is_cuda:
        torch.cuda.synchronize(t.device)


def _slice(tasks: Tasks, a: int, b: int) -> Tasks:
    # The MLP's minibatches depend on (seed, row), so a chunk keeps its own seed offset per start row.
    return Tasks(tasks.x0[a:b], tuple(c[a:b] for c in tasks.ctx), tasks.seed + a)


def relative(values: torch.Tensor, f0: torch.Tensor, f_opt: float, clip: float) -> torch.Tensor:
    rel = (values - f_opt) / (f0 - f_opt).clamp_min(1e-12)
    return torch.nan_to_num(rel, nan=clip, posinf=clip).clamp(max=clip)


def tune_lr(name: str, family: Family, tasks: Tasks, steps: int, grid: np.ndarray, clip: float = 10.0) -> dict:
    """Grid-tune a baseline's learning rate on training tasks for ``steps`` steps, all learning rates
    in one batched run. Criterion: mean over tasks of the clipped relative final loss (the training
    objective's own scale; a diverged run counts as the clip value). Returns lr and the scores."""
    L = len(grid)
    rep = tasks.repeat(L)
    lr = torch.tensor(np.tile(grid, len(tasks)), dtype=tasks.x0.dtype, device=tasks.x0.device)[:, None]
    out = run_rule(BASELINES[name](lr), family, rep, steps)
    score = relative(out[f"final_loss@{steps}"], out["curve"][0], family.f_opt, clip).view(len(tasks), L).mean(0)
    best = int(torch.argmin(score))
    if best in (0, L - 1):
        import warnings

        warnings.warn(f"{name} on {family.name}: best lr {grid[best]:g} is at the edge of the grid")
    return {"lr": float(grid[best]), "grid": grid.tolist(), "scores": score.tolist()}


# ---------------------------------------------------------------------------------------- statistics

def bootstrap_ci(values: np.ndarray, stat: Callable, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of ``stat`` (vectorised over resamples)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    stats = stat(values[idx], axis=1)
    # "nearest" never interpolates between resampled statistics, so inf (diverged runs) stays inf
    # instead of becoming inf - inf = NaN.
    lo, hi = np.percentile(stats, [2.5, 97.5], method="nearest")
    return float(lo), float(hi)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def summarize(values, success_below: Optional[float] = None) -> dict:
    """Mean and median with bootstrap 95% intervals; non-finite values (diverged runs) count as +inf,
    which makes the mean infinite and is reported as such rather than dropped."""
    v = np.asarray(values, dtype=float)
    v = np.where(np.isfinite(v), v, np.inf)
    out = {"n_tasks": len(v), "diverged": int(np.isinf(v).sum())}
    if np.isinf(v).any():
        out.update(mean=math.inf, mean_lo=math.inf, mean_hi=math.inf)
    else:
        lo, hi = bootstrap_ci(v, np.mean)
        out.update(mean=float(v.mean()), mean_lo=lo, mean_hi=hi)
    lo, hi = bootstrap_ci(v, np.median)
    out.update(median=float(np.median(v)), median_lo=lo, median_hi=hi)
    if success_below is not None:
        k = int((v < success_below).sum())
        lo, hi = wilson(k, len(v))
        out.update(success=k / len(v), success_lo=lo, success_hi=hi)
    return out


def overtake_step(learned_curve: np.ndarray, adam_curve: np.ndarray) -> Optional[int]:
    """First step from which Adam's median loss stays strictly below the learned optimizer's to
    the end of the run, or None if it never overtakes. Curves of a meta-test share x0, so they tie
    at step 0 and 1 means "ahead from the first step on"; 0 only for curves that do not tie there."""
    ahead = np.asarray(adam_curve) < np.asarray(learned_curve)
    if not ahead[-1]:
        return None
    behind = np.flatnonzero(~ahead)
    return 0 if behind.size == 0 else int(behind[-1] + 1)
