"""Where a run's arrays live: numpy (the default) or torch tensors on any torch device.

A landscape computes in the array type it is given and an optimizer in the type of its iterate,
so the only decision is the type of x0, made once by :class:`ArraySpec`. Everything else asks the
array it holds, through the few functions below; numpy arrays take a direct path in each, because
at small d the per-call overhead of a dispatch layer is a visible share of a step.

Landscape formulas are written once against the array API (``namespace(X)`` is numpy itself, or
array-api-compat's torch namespace), so one formula serves every backend. Random numbers always
come from the run's ``numpy.random.Generator``: a torch draw is seeded from it, so a run stays a
pure function of its seed on every device, and no generator is hidden in a global.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attnopt.errors import ConfigError

BACKENDS = ("numpy", "torch")
DTYPES = ("float32", "float64")
_FLOAT64 = np.dtype(np.float64)  # builtin dtypes are singletons: `is` is the cheapest test


def namespace(a):
    """The array-API namespace of ``a``: numpy itself for numpy arrays (numpy >= 2.1 implements
    the standard), array-api-compat's wrapper for torch tensors."""
    if isinstance(a, (np.ndarray, np.generic, float, int)):
        return np
    import array_api_compat

    return array_api_compat.array_namespace(a)


def rowsum(X):
    """Sum over the last axis of a 2-D batch (numpy's ufunc reduction skips np.sum's wrapper)."""
    if isinstance(X, np.ndarray):
        return np.add.reduce(X, axis=1)
    return X.sum(dim=1)


def to_numpy(a) -> np.ndarray:
    """A numpy view/copy of any backend's array (copies from GPU memory); numpy arrays and
    scalars are returned as they are."""
    if isinstance(a, (np.ndarray, np.generic)):
        return a
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def as_point(x):
    """An optimizer's starting point as an array: floating numpy arrays and tensors unchanged
    (keeping their dtype and device), anything else (a list, an int array) as float64 numpy."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x
    if hasattr(x, "device") and not isinstance(x, np.ndarray):
        return x
    return np.asarray(x, dtype=float)


def copy(a):
    return a.copy() if isinstance(a, np.ndarray) else a.clone()


def like(array: np.ndarray, ref):
    """The numpy constant ``array`` in ``ref``'s backend, dtype and device (no copy when it
    already is)."""
    if isinstance(ref, np.ndarray):
        return array if array.dtype is ref.dtype or array.dtype == ref.dtype else array.astype(ref.dtype)
    import torch

    return torch.as_tensor(array, dtype=ref.dtype, device=ref.device)


def _torch_generator(rng: np.random.Generator, device):
    import torch

    # A fresh generator per draw, seeded from the run's numpy stream: no generator state lives
    # outside the run, and the noise is the same for the same seed on every run of a device.
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(2**63 - 1)))
    return gen


def normal(rng: np.random.Generator, shape: tuple[int, ...], ref):
    """Standard normal noise of ``shape`` in ``ref``'s backend, dtype and device."""
    if isinstance(ref, np.ndarray):
        if ref.dtype is _FLOAT64:
            return rng.standard_normal(shape)
        return rng.standard_normal(shape, dtype=ref.dtype)
    import torch

    return torch.randn(shape, generator=_torch_generator(rng, ref.device), dtype=ref.dtype, device=ref.device)


def uniform(rng: np.random.Generator, low, high, size: int, ref):
    """Uniform draws in [low, high) (bounds broadcast over ``size`` coordinates) like ``ref``."""
    x = rng.uniform(low, high, size=size)
    return like(x, ref)


@dataclass(frozen=True)
class ArraySpec:
    """The array type of a run: ``backend`` numpy or torch, ``device`` (torch only: cpu, cuda,
    cuda:1, ...) and ``dtype`` float32 or float64."""

    backend: str = "numpy"
    device: str = "cpu"
    dtype: str = "float64"

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r} is invalid: must be one of {', '.join(BACKENDS)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype={self.dtype!r} is invalid: must be one of {', '.join(DTYPES)}")
        if self.backend == "numpy":
            if str(self.device) != "cpu":
                raise ConfigError(f"device={self.device!r} is invalid with backend=numpy: numpy runs on cpu only; "
                                  "use backend=torch for other devices")
            return
        import torch

        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError, ValueError):
            raise ConfigError(f"device={self.device!r} is invalid: expected a torch device such as cpu, cuda, "
                              "cuda:0") from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError(f"device={self.device!r} is not available: this machine has no CUDA GPU "
                                  "visible to torch (torch.cuda.is_available() is False); use device=cpu")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise ConfigError(f"device={self.device!r} is not available: this machine has "
                                  f"{torch.cuda.device_count()} CUDA device(s)")
        elif device.type != "cpu":
            try:
                # Results come back to the host: a device that holds no data (meta) cannot run.
                torch.ones(1, device=device).cpu().item()
            except (RuntimeError, AssertionError, NotImplementedError):
                raise ConfigError(f"device={self.device!r} cannot run a computation on this machine (it must hold "
                                  "data that can be read back); use device=cpu or a CUDA device") from None

    @property
    def is_default(self) -> bool:
        return self == ArraySpec()

    def asarray(self, x) -> Any:
        """``x`` (a numpy array, list or tensor) as this spec's array type."""
        if self.backend == "numpy":
            return np.asarray(to_numpy(x), dtype=self.dtype)
        import torch

        return torch.as_tensor(to_numpy(x) if not isinstance(x, torch.Tensor) else x,
                               dtype=getattr(torch, self.dtype), device=self.device)
