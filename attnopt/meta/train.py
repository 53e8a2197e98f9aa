"""Meta-training: unrolled inner loops and truncated backpropagation (checkpoints: optimizers.learned_nets).

One meta-iteration unrolls the learned optimizer for ``unroll`` inner steps on a batch of tasks
from every training family, scores the trajectory with the meta-loss and takes one Adam step on
the optimizer's weights. A task batch lives for ``horizon`` inner steps, i.e. horizon/unroll
truncations; between truncations the iterate and optimizer state are detached (truncated BPTT).

Meta-loss: the mean over the truncation's steps and tasks of ``min((f_t - f*) / (f_0 - f*), clip)``,
the loss relative to the task's starting loss (so families of very different scales weigh alike),
clipped so that one exploding task cannot dominate (inner-loss clipping). The meta-gradient is
first order by default: the inner gradients are treated as constants (Andrychowicz et al. 2016);
``second_order=True`` backpropagates through them too. The meta-gradient norm is clipped.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from attnopt.meta.rules import learned
from attnopt.meta.tasks import Family, Tasks
from attnopt.optimizers.learned_nets import LearnedOptimizer, detach_state



@dataclass
class TrainConfig:
    meta_iters: int = 300
    meta_batch: int = 64  # tasks per family per meta-iteration
    horizon: int = 20  # inner steps a task batch is optimised for (the "training unroll")
    unroll: int = 10  # truncation length: inner steps per meta-gradient
    meta_lr: float = 3e-3
    grad_clip: float = 1.0  # max norm of the meta-gradient
    loss_clip: float = 10.0  # max relative inner loss in the meta-loss
    second_order: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.horizon % self.unroll:
            raise ValueError(f"horizon={self.horizon} must be a multiple of unroll={self.unroll}")


def meta_unroll(rule, family: Family, tasks: Tasks, x: torch.Tensor, state, step0: int, steps: int,
                f0: torch.Tensor, loss_clip: float, second_order: bool = False):
    """Unroll ``steps`` inner steps from ``x`` keeping the graph; returns (meta_loss, x, state)."""
    terms = []
    for j in range(steps):
        if not x.requires_grad:
            x = x.requires_grad_()
        f = family.loss(x, family.inputs(tasks, step0 + j))
        if j > 0:
            terms.append(f)
        (g,) = torch.autograd.grad(f.sum(), x, create_graph=second_order, retain_graph=True)
        if not second_order:
            g = g.detach()
        delta, state = rule.update(g, x, state)
        x = x + delta
    terms.append(family.loss(x, family.inputs(tasks, step0 + steps)))
    rel = (torch.stack(terms) - family.f_opt) / f0
    # NaN (an inner loss that overflowed) counts as the clip value, like any other explosion.
    rel = torch.nan_to_num(rel, nan=loss_clip, posinf=loss_clip).clamp(max=loss_clip)
    return rel.mean(), x, state


def meta_train(model: LearnedOptimizer, families: list[Family], cfg: TrainConfig, progress: bool = True,
               desc: str = "meta-train") -> dict:
    """Meta-train ``model`` in place; returns a log with the meta-loss curve and timings."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    meta_opt = torch.optim.Adam(model.parameters(), lr=cfg.meta_lr)
    rule = learned(model)
    per_batch = cfg.horizon // cfg.unroll
    live: list = [None] * len(families)
    curve = []
    from tqdm.auto import tqdm

    bar = tqdm(range(cfg.meta_iters), desc=desc, leave=False, disable=not progress, mininterval=1.0)
    start = time.perf_counter()
    for it in bar:
        k = it % per_batch
        total = 0.0
        for i, fam in enumerate(families):
            if k == 0:
                tasks = fam.sample(cfg.meta_batch, gen)
                with torch.no_grad():
                    f0 = (fam.loss(tasks.x0, fam.inputs(tasks, 0)) - fam.f_opt).clamp_min(1e-12)
                live[i] = (tasks, tasks.x0.clone(), rule.init(tasks.x0), f0)
            tasks, x, state, f0 = live[i]
            loss, x, state = meta_unroll(rule, fam, tasks, x, state, k * cfg.unroll, cfg.unroll, f0, cfg.loss_clip,
                                         cfg.second_order)
            live[i] = (tasks, x.detach(), detach_state(state), f0)
            total = total + loss / len(families)
        meta_opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        meta_opt.step()
        curve.append(float(total.detach()))
        if it % 10 == 0:
            bar.set_postfix(meta_loss=f"{curve[-1]:.3g}")
    elapsed = time.perf_counter() - start
    return {"meta_loss": curve, "time_s": elapsed, "time_per_meta_iter_s": elapsed / max(cfg.meta_iters, 1),
            "families": [f.name for f in families], **{f"cfg.{k}": v for k, v in asdict(cfg).items()}}
