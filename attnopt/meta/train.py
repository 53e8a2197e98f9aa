"""Meta-training: unrolled inner loops, truncated backpropagation, and checkpoints.

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

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Optional

import torch

from attnopt import io
from attnopt.errors import ConfigError
from attnopt.meta import features as feats
from attnopt.meta.models import KINDS, LearnedOptimizer, detach_state
from attnopt.meta.rules import learned
from attnopt.meta.tasks import Family, Tasks
from attnopt.params import bind, ge, gt, le, one_of

FORMAT = "attnopt-learned-optimizer"
VERSION = 1


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


# ---------------------------------------------------------------------------------------- checkpoints

def save_checkpoint(path: Path | str, model: LearnedOptimizer, info: Optional[dict] = None) -> Path:
    """Weights plus everything needed to rebuild the model (and how it was trained), atomically.
    A JSON twin beside it says the same for people."""
    info = {k: v for k, v in (info or {}).items() if k != "meta_loss"} | {
        "final_meta_loss": (info or {}).get("meta_loss", [math.nan])[-1]}
    payload = {"format": FORMAT, "version": VERSION, "arch": dict(model.arch), "info": info,
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    path = Path(path)
    io.atomic_write(path, lambda p: torch.save(payload, p))
    io.write_json(path.with_suffix(".json"), {"format": FORMAT, "version": VERSION, "arch": model.arch, "info": info})
    return path


def _arch_fields(*, kind: Annotated[str, one_of(*KINDS)], features: Annotated[str, one_of(*feats.FEATURE_SETS)],
                 hidden: Annotated[int, ge(1), le(4096)] = 20, layers: Annotated[int, ge(1), le(16)] = 2,
                 window: Annotated[int, ge(1), le(1024)] = 8, out_scale: Annotated[float, gt(0)] = 0.1):
    """A checkpoint's ``arch`` (LearnedOptimizer's arguments), with the sizes a coordinatewise
    network can have: beyond 4,096 hidden units one LSTM layer alone holds 67 million weights."""


def load_checkpoint(path: Path | str, features: Optional[str] = None) -> LearnedOptimizer:
    """The model stored at ``path`` (loaded with weights_only=True: no code runs), or ConfigError.

    ``features``, when given, must match the checkpoint's feature set.
    """
    path = Path(path)
    where = f"optimizer.checkpoint={str(path)!r}"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file; create one with `make l2l` (checkpoints go to outputs/l2l/<scale>/checkpoints/)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/garbled/unsafe files
        # torch's own messages run to many lines of advice about weights_only; one line is enough.
        raise ConfigError(f"{where} is not a readable checkpoint: torch.load(weights_only=True) failed with "
                          f"{type(exc).__name__} (corrupt, truncated, not a .pt file, or holding arbitrary "
                          f"Python objects)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(f"{where} is not an attnopt learned-optimizer checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") != VERSION:
        raise ConfigError(f"{where} has checkpoint version {payload.get('version')!r}; this attnopt reads version {VERSION}")
    arch = payload.get("arch")
    if not isinstance(arch, dict) or arch.get("kind") not in KINDS or arch.get("features") not in feats.FEATURE_SETS:
        raise ConfigError(f"{where} has an invalid arch {arch!r}: kind must be one of {', '.join(KINDS)} and "
                          f"features one of {', '.join(feats.FEATURE_SETS)}")
    try:  # every field's type and range, before a network of that shape is allocated
        arch = bind(_arch_fields, arch, where="arch")
    except ConfigError as exc:
        raise ConfigError(f"{where} has an invalid {exc}") from None
    if features is not None and features != arch["features"]:
        raise ConfigError(f"{where} was trained with features={arch['features']}, not optimizer.features={features}; "
                          f"use a checkpoint trained on {features} or set optimizer.features=null")
    try:
        model = LearnedOptimizer(**arch)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} has an invalid arch {arch!r} ({exc})") from None
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise ConfigError(f"{where} has no state_dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ConfigError(f"{where} does not fit a {arch['kind']} model with features={arch['features']}: "
                          f"missing weights {missing[:3]}, unexpected weights {extra[:3]}")
    for k, v in expected.items():
        if not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape:
            got = tuple(state[k].shape) if isinstance(state[k], torch.Tensor) else type(state[k]).__name__
            raise ConfigError(f"{where} does not fit a {arch['kind']} model with features={arch['features']} "
                              f"({feats.n_features(arch['features'])} inputs, hidden={arch['hidden']}): "
                              f"weight {k} has shape {got}, expected {tuple(v.shape)}")
    model.load_state_dict(state)
    model.eval()
    return model
