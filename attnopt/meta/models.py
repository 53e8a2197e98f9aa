"""Learned optimizers: small networks applied to every coordinate independently.

Both models see one row of features per coordinate (see :mod:`.features`), share their weights
across coordinates and keep a state per coordinate, so a model trained on 2-D functions runs
unchanged on a 100,000-parameter MLP. The update they emit is ``out_scale * network(...)``; the
small scale (0.1) keeps the first steps of an untrained model near the starting point, as in
Andrychowicz et al. (2016).

:class:`LearnedOptimizer` is the unit that gets meta-trained, saved and loaded: it owns the
feature set and one of the two networks, and maps ``(grad, x, state) -> (delta, state)``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attnopt.meta import features as feats

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
