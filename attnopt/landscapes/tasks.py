"""Machine-learning tasks as landscapes over a flat parameter vector (report 2.5.1, 2.5.3).

``linreg`` (mean squared error), ``logreg`` (binary cross-entropy) and ``mlp`` (ReLU hidden layer,
sigmoid output, binary cross-entropy) are one model family: a stack of fully connected layers of
widths ``[n_features, *hidden, 1]``. A point ``x`` of the landscape is every weight and bias of the
model flattened in ``torch.nn.Sequential(Linear, ReLU, Linear, ...)``'s ``parameters()`` order:
per layer the ``(out, in)`` weight row by row, then its ``(out,)`` bias. So ``x`` can be loaded into
a torch module with ``torch.nn.utils.vector_to_parameters`` and back.

The loss is the *training* loss; the validation split is only reported, through :meth:`metrics`
(``val_loss``, plus ``val_accuracy`` for classification), so optimizers never see it and it is not
counted as an evaluation.

Evaluation is batched: ``n`` parameter vectors are ``n`` models evaluated by batched matrix products
(``torch.baddbmm``) in one call, never a Python loop over models. This was measured 3-5x faster than
``torch.func.vmap(functional_call)`` at the sizes used here and gives identical numbers (tested
against a loop over ``nn.Sequential`` modules). Gradients come from torch autograd: the losses of
different rows are independent, so the gradient of their sum is every row's own gradient. The
Landscape API speaks numpy float64, so arrays are converted at the boundary (zero-copy).

Data: scikit-learn's shipped sets (read from the installed package, no download) or sets generated
from ``data_seed``. The split is a seeded shuffle; features, and for regression the target, are
standardised with the *training* split's mean and standard deviation.
"""
from __future__ import annotations

import contextlib
from typing import Annotated, Callable, NamedTuple, Optional

import numpy as np

from attnopt.backend import to_numpy
from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.lazy import LazyModule
from attnopt.params import Family, ge, gt, le, one_of, takes

# Imported when a task first computes: the classes and their signatures (the configs' defaults,
# attnopt/conf_store.py) are read without torch's ~2 s import.
torch = LazyModule("torch")


class Split(NamedTuple):
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


# --- data sets ---------------------------------------------------------------------------------
# Each loader: (n_samples, n_features, noise, seed) -> (X, y). Shipped sets ignore the first three
# (their shape is fixed; _check_shape says so when a config asks otherwise).


def _diabetes(n_samples, n_features, noise, seed):
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True)


def _make_regression(n_samples, n_features, noise, seed):
    from sklearn.datasets import make_regression

    return make_regression(n_samples=n_samples, n_features=n_features, n_informative=max(1, n_features // 2),
                           noise=noise, random_state=seed)


def _breast_cancer(n_samples, n_features, noise, seed):
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


def _digits(n_samples, n_features, noise, seed):
    """Handwritten digits 0-9 (8x8 pixels), as the binary task "odd digit?"."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X, y % 2


def _make_classification(n_samples, n_features, noise, seed):
    from sklearn.datasets import make_classification

    informative = max(1, n_features // 2)
    return make_classification(n_samples=n_samples, n_features=n_features, n_informative=informative,
                               n_redundant=0, n_repeated=0, n_clusters_per_class=2 if informative >= 2 else 1,
                               flip_y=noise, random_state=seed)


def _moons(n_samples, n_features, noise, seed):
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n_samples, noise=noise, random_state=seed)


REGRESSION_SETS: dict[str, Callable] = {"synthetic": _make_regression, "diabetes": _diabetes}
CLASSIFICATION_SETS: dict[str, Callable] = {"synthetic": _make_classification, "breast_cancer": _breast_cancer,
                                            "digits": _digits, "moons": _moons}
GENERATED = ("synthetic", "moons")  # the sets drawn from data_seed, whose size the config chooses
FIXED_FEATURES = {"moons": 2}  # generated, but always in this many features


def load_split(sets: dict[str, Callable], dataset: str, n_samples: int, n_features: Optional[int], noise: float,
               val_fraction: float, data_seed: int, standardise_target: bool) -> Split:
    if sets[dataset] is _make_classification and not 0.0 <= noise <= 1.0:
        raise ConfigError(f"landscape.noise={noise} is invalid for dataset={dataset}: it is the fraction of "
                          "flipped labels, in [0, 1]")
    try:
        X, y = sets[dataset](n_samples, n_features, noise, data_seed)
    except ValueError as exc:  # scikit-learn's own check of a generator's arguments
        raise ConfigError(f"dataset={dataset} cannot be generated from n_samples={n_samples}, "
                          f"n_features={n_features}, noise={noise}: {str(exc).splitlines()[0]}") from None
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    perm = np.random.default_rng(data_seed).permutation(len(y))
    n_val = int(round(val_fraction * len(y)))
    if n_val < 1 or len(y) - n_val < 2:
        raise ConfigError(
            f"landscape.val_fraction={val_fraction} is invalid for {len(y)} samples: "
            "it must leave at least 1 validation and 2 training samples"
        )
    tr, va = perm[n_val:], perm[:n_val]
    mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
    std[std == 0] = 1.0  # a constant feature stays 0 instead of becoming NaN
    X = (X - mean) / std
    if standardise_target:
        y = (y - y[tr].mean()) / (y[tr].std() or 1.0)
    return Split(X[tr], y[tr], X[va], y[va])


@contextlib.contextmanager
def one_thread():
    """Run torch single-threaded inside. These products are small (a few MB at most), so intra-op
    threads only add synchronisation; on a busy 2-core machine they made one MLP gradient 20x slower
    (27 ms against 1.3 ms). Restored on exit, so other torch code in the process is unaffected."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- the model family --------------------------------------------------------------------------


def task_options(
    *,
    n_samples: Annotated[Optional[int], ge(4)] = None,
    n_features: Annotated[Optional[int], ge(1)] = None,
    noise: Annotated[float, ge(0)] = 0.05,
    val_fraction: Annotated[float, gt(0), le(0.9)] = 0.2,
    data_seed: Annotated[int, ge(0)] = 0,
):
    """The options every ML task takes, declared once (their meaning: :class:`Task`); each task adds
    its ``dataset`` choices (and the MLP its ``hidden``)."""


TASK_OPTIONS = Family(task_options)


class Task(Landscape):
    """A fully connected model ``[n_features, *hidden, 1]`` on a train/validation split.

    Subclasses set ``name``, ``DATASETS``, ``loss_kind`` ("mse" or "bce") and pass ``hidden``.

    Parameters shared by every task: ``dataset`` (a key of ``DATASETS``); ``n_samples`` /
    ``n_features`` size generated data (null: 500 samples, 10 features) and must be null for shipped
    sets; ``noise`` is the generator's noise; ``val_fraction`` of the samples form the validation
    split; ``data_seed`` draws generated data and the split (``${seed}`` in a config: new data per
    run seed).
    """

    DATASETS: dict[str, Callable] = {}
    loss_kind = "mse"
    init_bounds = (-1.0, 1.0)  # nominal; sample_x0 uses each layer's own fan-in scale

    def __init__(self, dim: int, *, dataset: str, n_samples: Optional[int], n_features: Optional[int], noise: float,
                 val_fraction: float, data_seed: int, hidden: tuple[int, ...] = ()):
        super().__init__(dim)
        self.dataset = dataset
        self.data_seed = int(data_seed)
        self.hidden = tuple(int(h) for h in hidden)
        generated = dataset in GENERATED
        if not generated:
            for key, value in (("n_samples", n_samples), ("n_features", n_features)):
                if value is not None:
                    raise ConfigError(
                        f"landscape.{key}={value} only applies to generated data ({', '.join(GENERATED)}); "
                        f"dataset={dataset} has a fixed size: set landscape.{key}=null"
                    )
        if dataset in FIXED_FEATURES and n_features not in (None, FIXED_FEATURES[dataset]):
            raise ConfigError(
                f"landscape.n_features={n_features} is invalid for dataset={dataset}: it always has "
                f"{FIXED_FEATURES[dataset]} features; set landscape.n_features=null"
            )
        n_samples = 500 if n_samples is None else int(n_samples)
        n_features = FIXED_FEATURES.get(dataset, 10 if n_features is None else int(n_features))
        if generated:
            from attnopt import memory

            # scikit-learn's generator, the standardised copy and the split: ~4 copies of the data
            memory.require(4 * 8.0 * n_samples * (n_features + 1),
                           f"landscape.n_samples={n_samples} with n_features={n_features} (the data set)")
        self.split = load_split(self.DATASETS, dataset, n_samples, n_features, noise, val_fraction, self.data_seed,
                                standardise_target=self.loss_kind == "mse")
        self.n_features = self.split.X_train.shape[1]
        self.widths = (self.n_features, *self.hidden, 1)
        self.shapes = [((o, i), (o,)) for i, o in zip(self.widths[:-1], self.widths[1:])]
        n_params = sum(o * i + o for (o, i), _ in self.shapes)
        if self.dim != n_params:
            arch = f" and hidden={self.hidden[0] if len(self.hidden) == 1 else list(self.hidden)}" if self.hidden else ""
            raise ConfigError(
                f"dimension={self.dim} does not match landscape {self.name}: dataset={dataset} has "
                f"{self.n_features} features{arch}, which gives {n_params} parameters; set dimension={n_params}"
            )
        self._t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.split._asdict().items()}

    @property
    def numbers_per_point(self) -> int:
        # every layer's outputs on every training sample, kept for the gradient
        return self.dim + len(self.split.y_train) * sum(self.widths[1:])

    # -- model ---------------------------------------------------------------------------------
    def _unflatten(self, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        n, layers, at = theta.shape[0], [], 0
        for (o, i), _ in self.shapes:
            W = theta[:, at:at + o * i].reshape(n, o, i)
            at += o * i
            b = theta[:, at:at + o]
            at += o
            layers.append((W, b))
        return layers

    def _outputs(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        """Model outputs (n_models, n_samples): every model on every sample, in batched matmuls."""
        h = X.expand(theta.shape[0], *X.shape)
        layers = self._unflatten(theta)
        for k, (W, b) in enumerate(layers):
            h = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))
            if k < len(layers) - 1:
                h = torch.relu(h)
        return h.squeeze(-1)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.loss_kind == "mse":
            return ((out - y) ** 2).mean(dim=-1)
        # sigmoid + cross-entropy, fused so that confident wrong outputs give large, finite losses
        return torch.nn.functional.binary_cross_entropy_with_logits(out, y.expand_as(out), reduction="none").mean(-1)

    def _data(self, X, key: str) -> torch.Tensor:
        """A split array as a tensor where the computation for ``X`` runs (numpy input: the CPU
        float64 copy made once; a tensor: converted once per device and dtype)."""
        return self._t[key] if isinstance(X, np.ndarray) else self.const(getattr(self.split, key), X)

    @staticmethod
    def _tensor(X) -> torch.Tensor:
        if isinstance(X, torch.Tensor):
            return X
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))

    @staticmethod
    def _like_input(X, t: torch.Tensor):
        """Results in the input's array type: numpy in, numpy out; tensors stay tensors."""
        return t.numpy() if isinstance(X, np.ndarray) else t

    # -- Landscape API ---------------------------------------------------------------------------
    @one_thread()
    def _value(self, X):
        with torch.no_grad():
            out = self._loss(self._outputs(self._tensor(X), self._data(X, "X_train")), self._data(X, "y_train"))
        return self._like_input(X, out)

    @one_thread()
    def _value_and_grad(self, X):
        theta = self._tensor(X).detach().clone().requires_grad_(True)
        losses = self._loss(self._outputs(theta, self._data(X, "X_train")), self._data(X, "y_train"))
        (grad,) = torch.autograd.grad(losses.sum(), theta)
        return self._like_input(X, losses.detach()), self._like_input(X, grad)

    def _grad(self, X):
        return self._value_and_grad(X)[1]

    def value_and_grad(self, X):
        X, single = self._as_batch(X)
        values, grads = self._value_and_grad(X)
        return (values[0], grads[0]) if single else (values, grads)

    def validation_loss(self, X):
        """Loss on the validation split, batched like the training loss (not an oracle evaluation)."""
        X, single = self._as_batch(X)
        with one_thread(), torch.no_grad():
            out = self._loss(self._outputs(self._tensor(X), self._data(X, "X_val")), self._data(X, "y_val"))
        out = self._like_input(X, out)
        return out[0] if single else out

    def metrics(self, x):
        with one_thread(), torch.no_grad():
            out = self._outputs(self._tensor(to_numpy(x)[None, :]), self._t["X_val"])
            found = {"val_loss": float(self._loss(out, self._t["y_val"])[0])}
            if self.loss_kind == "bce":
                found["val_accuracy"] = float(((out[0] > 0).double() == self._t["y_val"]).double().mean())
        return found

    def sample_x0(self, rng):
        """torch.nn.Linear's default initialisation: every weight and bias of a layer with fan-in
        ``i`` uniform in +-1/sqrt(i). Same stream of draws as the base class (one uniform each)."""
        scale = np.concatenate([np.full(o * i + o, 1.0 / np.sqrt(i)) for (o, i), _ in self.shapes])
        return rng.uniform(-1.0, 1.0, size=self.dim) * scale

    def as_module(self, x) -> torch.nn.Sequential:
        """The torch module that parameter vector ``x`` describes (for inspection and tests)."""
        layers: list[torch.nn.Module] = []
        for k, ((o, i), _) in enumerate(self.shapes):
            layers.append(torch.nn.Linear(i, o, dtype=torch.float64))
            if k < len(self.shapes) - 1:
                layers.append(torch.nn.ReLU())
        module = torch.nn.Sequential(*layers)
        torch.nn.utils.vector_to_parameters(self._tensor(np.asarray(x, dtype=np.float64)), module.parameters())
        return module

    def __repr__(self):
        return f"{type(self).__name__}(dim={self.dim}, dataset={self.dataset!r}, widths={list(self.widths)})"


class LinReg(Task):
    r"""Linear regression, :math:`f(w, b) = \frac1n \|X w + b - y\|^2` on the training split, with
    standardised features and target. ``dimension = n_features + 1``.

    Data: ``synthetic`` (``make_regression``, half the features informative, ``noise`` = std of the
    label noise before standardising) or ``diabetes`` (442 x 10, shipped).

    **Optimum**: least squares, in closed form (``x_opt``, ``f_opt``).
    """

    name = "linreg"
    DATASETS = REGRESSION_SETS
    loss_kind = "mse"

    @takes(Family(task_options, defaults=dict(noise=10.0)))
    def __init__(self, dim: int = 11, dataset: Annotated[str, one_of(*REGRESSION_SETS)] = "synthetic", **options):
        super().__init__(dim, dataset=dataset, **options)

    def _compute_optimum(self):
        A = np.hstack([self.split.X_train, np.ones((len(self.split.y_train), 1))])
        x = np.linalg.lstsq(A, self.split.y_train, rcond=None)[0]
        return x, float(self(x))



class LogReg(Task):
    r"""Logistic regression: binary cross-entropy of :math:`\sigma(X w + b)` on the training split.
    ``dimension = n_features + 1``. Optimum not known in closed form (and at infinity when the
    training data are separable).

    Data: ``breast_cancer`` (569 x 30, shipped), ``digits`` (1797 x 64, shipped; label: odd digit),
    ``synthetic`` (``make_classification``, half the features informative, two clusters per class,
    ``noise`` = fraction of flipped labels) or ``moons`` (2 features, ``noise`` = coordinate noise).
    """

    name = "logreg"
    DATASETS = CLASSIFICATION_SETS
    loss_kind = "bce"

    @takes(TASK_OPTIONS)
    def __init__(self, dim: int = 31, dataset: Annotated[str, one_of(*CLASSIFICATION_SETS)] = "breast_cancer",
                 **options):
        super().__init__(dim, dataset=dataset, **options)


class MLP(Task):
    r"""Two-layer network (report 2.5.3): ``Linear(n_features, hidden) -> ReLU -> Linear(hidden, 1)
    -> sigmoid``, binary cross-entropy on the training split.
    ``dimension = (n_features + 2) * hidden + 1``. Optimum unknown.

    Data as for ``logreg``.
    """

    name = "mlp"
    DATASETS = CLASSIFICATION_SETS
    loss_kind = "bce"

    @takes(TASK_OPTIONS)
    def __init__(self, dim: int = 193, dataset: Annotated[str, one_of(*CLASSIFICATION_SETS)] = "synthetic",
                 hidden: Annotated[int, ge(1)] = 16, **options):
        super().__init__(dim, dataset=dataset, hidden=(hidden,), **options)
