"""Learned optimizers: small networks applied to every coordinate independently.

Both models see one row of features per coordinate (see :mod:`.learned_features`), share their weights
across coordinates and keep a state per coordinate, so a model trained on 2-D functions runs
unchanged on a 100,000-parameter MLP. The update they emit is ``out_scale * network(...)``; the
small scale (0.1) keeps the first steps of an untrained model near the starting point, as in
Andrychowicz et al. (2016).

:class:`LearnedOptimizer` is the unit that gets meta-trained, saved and loaded: it owns the
feature set and one of the two networks, and maps ``(grad, x, state) -> (delta, state)``.
Checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`) are here too. All of it lives in the
core, beside the ``learned`` optimizer that runs it, so that the core never imports
:mod:`attnopt.meta` (which trains these networks and imports them from here).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import torch
from torch import nn

from attnopt import io
from attnopt.errors import ConfigError
from attnopt.optimizers import learned_features as feats
from attnopt.params import bind, ge, gt, le, one_of

KINDS = ("lstm", "attention")


class CoordinateLSTM(nn.Module):
    """A stack of LSTM cells over the coordinate batch; state (h, c), each (layers, n, hidden)."""

    def __init__(self, n_in: int, hidden: int = 20, layers: int = 2):
        super().__init__()
        self.cells = nn.ModuleList(nn.LSTMCell(n_in if i == 0 else hidden, hidden) for i in range(layers))
        self.head = nn.Linear(hidden, 1)
        self.hidden, self.layers = hidden, layers

    def init_state(self, n: int, like: torch.Tensor):
        z = like.new_zeros((self.layers, n, self.hidden))
        return z, z.clone()

    def forward(self, inp: torch.Tensor, state):
        h_all, c_all = state
        hs, cs = [], []
        out = inp
        for i, cell in enumerate(self.cells):
            h, c = cell(out, (h_all[i], c_all[i]))
            hs.append(h)
            cs.append(c)
            out = h
        return self.head(out).squeeze(-1), (torch.stack(hs), torch.stack(cs))


class HistoryAttention(nn.Module):
    """"Optimus-inspired" attention over time (report 4.3.1).

    The query is the coordinate's current features; keys and values are its last ``window`` steps
    (features plus the update then taken), with a learned embedding of each step's age. Optimus
    attends across parameters and predicts a BFGS-like preconditioner; this model attends over a
    coordinate's own history, so it stays coordinatewise like the LSTM. Each history item is a
    step's features and the update that preceded it. State: the window (n, window, n_in + 1), how
    many of its slots are filled, and the last update.
    """

    def __init__(self, n_in: int, d_model: int = 16, window: int = 8):
        super().__init__()
        self.window = window
        self.embed = nn.Linear(n_in + 1, d_model)
        self.age = nn.Parameter(torch.zeros(window, d_model))
        self.q = nn.Linear(d_model, d_model, bias=False)
        self.k = nn.Linear(d_model, d_model, bias=False)
        self.v = nn.Linear(d_model, d_model, bias=False)
        self.mlp = nn.Sequential(nn.Linear(2 * d_model, d_model), nn.Tanh(), nn.Linear(d_model, 1))
        self.scale = d_model**-0.5

    def init_state(self, n: int, like: torch.Tensor):
        return like.new_zeros((n, self.window, self.embed.in_features)), like.new_zeros(()), like.new_zeros((n,))

    def forward(self, inp: torch.Tensor, state):
        hist, filled, prev_delta = state
        item = torch.cat([inp, prev_delta[:, None]], dim=-1)
        hist = torch.cat([hist[:, 1:], item[:, None]], dim=1)  # oldest slot drops out
        filled = torch.clamp(filled + 1, max=self.window)
        e_now = self.embed(item)
        e_hist = self.embed(hist) + self.age
        scores = torch.einsum("nd,nwd->nw", self.q(e_now), self.k(e_hist)) * self.scale
        empty = torch.arange(self.window, device=inp.device) < self.window - filled
        scores = scores.masked_fill(empty, float("-inf"))  # the newest slot is always filled
        attended = torch.einsum("nw,nwd->nd", torch.softmax(scores, dim=-1), self.v(e_hist))
        delta = self.mlp(torch.cat([e_now, attended], dim=-1)).squeeze(-1)
        return delta, (hist, filled, delta)


class LearnedOptimizer(nn.Module):
    """Features + network: ``forward(g, x, state) -> (delta, state)`` on flat (n,) tensors."""

    def __init__(self, kind: str = "lstm", features: str = "logsign", hidden: int = 20, layers: int = 2,
                 window: int = 8, out_scale: float = 0.1):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r}; choose from {KINDS}")
        if features not in feats.FEATURE_SETS:
            raise ValueError(f"unknown feature set {features!r}; choose from {feats.FEATURE_SETS}")
        n_in = feats.n_features(features)
        self.net = CoordinateLSTM(n_in, hidden, layers) if kind == "lstm" else HistoryAttention(n_in, hidden, window)
        self.kind, self.features, self.out_scale = kind, features, out_scale
        self.arch = {"kind": kind, "features": features, "hidden": hidden, "layers": layers, "window": window,
                     "out_scale": out_scale}

    def init_state(self, x: torch.Tensor) -> tuple[Any, Any]:
        return feats.init_state(self.features, x), self.net.init_state(x.shape[0], x)

    def state_bytes(self, dim: int) -> float:
        """Peak memory of a step at ``dim`` coordinates (float32): the per-coordinate state and
        activations, old and new alive together. Measured with scripts/memory_factor.py (peak RSS
        growth over three steps at d = 300,000-1,000,000): lstm ~300 numbers per coordinate (hidden
        20, 2 layers), ~910 (hidden 64); attention ~410-430 (d_model 16, window 8), ~700 (d_model
        32); covered with some room."""
        a = self.arch
        per_coordinate = (10 * a["layers"] * a["hidden"] + 20 if self.kind == "lstm"
                          else a["window"] * (3 * a["hidden"] + 24))
        return 4.0 * per_coordinate * dim

    def forward(self, g: torch.Tensor, x: torch.Tensor, state):
        f_state, n_state = state
        inp, f_state = feats.compute(self.features, g, x, f_state)
        raw, n_state = self.net(inp, n_state)
        return self.out_scale * raw, (f_state, n_state)


def detach_state(state):
    """The same nested state with every tensor cut from the graph (truncated backpropagation)."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple):
        return type(state)(*(detach_state(s) for s in state)) if hasattr(state, "_fields") else tuple(
            detach_state(s) for s in state)
    return state


FORMAT = "attnopt-learned-optimizer"
VERSION = 1


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
