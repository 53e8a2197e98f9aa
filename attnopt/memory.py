"""Memory estimates, made before anything large is allocated.

A size that cannot fit (``dimension=1000000000``, a rotation matrix at d = 200,000, an hpo budget
of a billion trainings evaluated in one batch, a plot grid of 100,000^2 points) is refused in one
line naming the value, the estimate and the limit, instead of growing until the operating system
kills the process (and other work on the machine with it) or ending in a MemoryError traceback.

**The limit** is the memory available now: Linux's ``MemAvailable`` (``/proc/meminfo``), lowered
to what a cgroup v2 limit leaves where one applies. The environment variable
``ATTNOPT_MEMORY_LIMIT`` replaces it: bytes or a size with a unit (``500M``, ``8G``, ``1.5GiB``;
units are binary), or ``none`` to turn the check off. Where no figure can be read the check is off.

**The estimates** count the arrays a command holds at once: the (points x dimension) batch an
optimizer evaluates in one call, with the temporaries numpy makes evaluating a landscape and its
gradient on it (:data:`BATCH_COPIES`, :data:`VECTOR_COPIES`, measured), plus the d x d matrices of CMA-ES and of rotated
landscapes, the data sets of the ML tasks, hpo's batched trainings and plot grids. They cover
the measured peaks (scripts/memory_factor.py) with some room, to catch what cannot fit, not to pack
a machine to the last byte: the limit is what is free now, and other processes share it.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
from typing import Any, Iterator, Mapping, Optional

from attnopt.errors import ConfigError

ENV_VAR = "ATTNOPT_MEMORY_LIMIT"

#: Copies of an (n, d) batch alive while its values are computed (the points and the formula's
#: temporaries: Rastrigin's cos, Griewank's products ...), and (d,) vectors alive while a point's
#: value and gradient are computed and a first-order step applied. Measured with
#: scripts/memory_factor.py: peak growth of 3.1 n d numbers for attention search's step (n = 64)
#: and of 2-8 for the landscapes' value + gradient of a batch; 9 d for a gd step on Rastrigin.
BATCH_COPIES = 4
VECTOR_COPIES = 10
#: bytes per grid cell of one `attnopt plot` panel (coordinates, values, matplotlib's mesh and
#: its rendering), measured at resolution 1,500 (113) and 500 (276, fixed costs included)
PLOT_CELL_BYTES = 150

_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


def parse_size(text: str) -> Optional[int]:
    """Bytes from ``"123"``, ``"500M"``, ``"8G"``, ``"1.5GiB"``; None for ``"none"``/``"off"``."""
    raw = str(text).strip().lower()
    if raw in ("none", "off", "inf", "unlimited"):
        return None
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgtp]?)(?:i?b)?", raw)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{ENV_VAR}={text!r} is invalid: give bytes or a size such as 500M, 8G, 1.5GiB, "
                          "or 'none' to turn the memory check off")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def fmt_bytes(n: float) -> str:
    """``1.5 GiB``-style, three significant digits."""
    for unit, scale in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom() -> Optional[int]:
    """What a cgroup v2 memory limit still allows this process's group (None where unlimited)."""
    try:
        with open("/proc/self/cgroup") as fh:
            rel = next((ln.strip().split("::", 1)[1] for ln in fh if ln.startswith("0::")), None)
        if rel is None:
            return None
        base = os.path.join("/sys/fs/cgroup", rel.lstrip("/"))
        with open(os.path.join(base, "memory.max")) as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(base, "memory.current")) as fh:
            current = int(fh.read().strip())
        return max(int(limit) - current, 0)
    except (OSError, ValueError, StopIteration):
        return None


def limit() -> tuple[Optional[int], str]:
    """(bytes, how it was found) that a command may allocate; (None, why) when unchecked."""
    configured = os.environ.get(ENV_VAR)
    if configured is not None and configured.strip():
        value = parse_size(configured)
        return value, f"limit {ENV_VAR}={configured.strip()}" if value is not None else f"{ENV_VAR}=none"
    candidates = [(v, what) for v, what in ((_meminfo_available(), "available (MemAvailable)"),
                                            (_cgroup_headroom(), "left under this cgroup's memory.max"))
                  if v is not None]
    if not candidates:
        return None, "unknown"
    value, what = min(candidates)
    return value, f"{fmt_bytes(value)} {what}"


#: how many jobs share the limit at once, and the setting that says so (see :func:`shared_by`)
_sharing: tuple[int, str] = (1, "")


@contextlib.contextmanager
def shared_by(workers: int, setting: str) -> Iterator[None]:
    """Inside, every job gets ``1/workers`` of the limit: a sweep's jobs run ``workers`` at a time
    (``setting``, e.g. ``hydra.launcher.n_jobs=2``), each holding its own arrays, so a job is
    checked against its share, not against the whole machine."""
    global _sharing
    before, _sharing = _sharing, (max(int(workers), 1), setting)
    try:
        yield
    finally:
        _sharing = before


def require(nbytes: float, what: str) -> None:
    """Refuse, in one line, a command whose arrays would need more than the limit (or than its
    share of it, inside :func:`shared_by`).

    ``what`` names the value responsible and the arrays, e.g. ``"dimension=1000000000 (64 trials x
    1000000000 coordinates, float64)"``."""
    available, source = limit()
    configured = source.startswith(f"limit {ENV_VAR}")
    workers, setting = _sharing
    if available is not None and workers > 1:
        available //= workers
        source = f"1/{workers} share ({fmt_bytes(available)}) of the {source} for each of the {workers} jobs " \
                 f"that run at once ({setting})"
    if available is None or nbytes <= available:
        return
    hint = f"; set {ENV_VAR} (e.g. 64G, or none) to change the limit" if not configured else ""
    amount = f"about {fmt_bytes(nbytes)} of memory" if math.isfinite(nbytes) else "unbounded memory"
    raise ConfigError(f"{what} needs {amount}, more than the {source}{hint}")


# --- estimates ---------------------------------------------------------------------------------

#: optimizers that keep a full d x d covariance matrix (pycma, and attention search's CMA metric)
FULL_COVARIANCE = ("cma", "attention_cma", "hybrid_cma")

#: optimizer parameters that are a number of points evaluated in one batched call
_BATCH_KEYS = ("n_trials", "attn_n_trials", "n_exploit", "n_explore", "popsize", "n_lrs")


def largest_batch(params: Mapping[str, Any], dim: int) -> float:
    """The most points an optimizer with these (validated) parameters evaluates in one call, at
    its start.

    Read from the parameters every batched optimizer names alike: trial counts (summed, as
    attention_explore's exploit and explore trials share one call) and pycma's ``popsize`` (0 for
    ``popsize`` or ``n_trials``: CMA-ES's default 4 + 3 ln d). A gradient method evaluates one
    point (with its gradient). Restarts that grow the population (IPOP) are not counted: they
    happen only if the search stalls, and counting the last one (2^30 trials for 30 restarts)
    would refuse runs that never get there; their growth factor is bounded instead (cma's
    ``incpopsize`` <= 100)."""
    rows = 0.0
    for key in _BATCH_KEYS:
        value = params.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            default = value == 0 and key in ("popsize", "n_trials")
            rows += 4 + int(3 * math.log(max(dim, 1))) if default else value
    return max(rows, 1.0)


def _count(n: float) -> str:
    return str(int(n)) if n < 1e15 else f"{n:.3g}"


def _batch_source(params: Mapping[str, Any]) -> str:
    """The parameter that sets the batch size, as ``optimizer.key=value`` (the largest count)."""
    counts = {k: params[k] for k in _BATCH_KEYS if isinstance(params.get(k), (int, float))
              and not isinstance(params.get(k), bool)}
    return ", ".join(f"optimizer.{k}={counts[k]}" for k in sorted(counts, key=counts.get, reverse=True)[:1])


def check_optimizer(params: Mapping[str, Any]) -> None:
    """Refuse batch sizes whose per-trial arrays (sigmas, ranks, weights: a few numbers per trial)
    cannot fit, before an optimizer's factory allocates them; the dimension comes later
    (:func:`check_run`)."""
    rows = largest_batch(params, 1)
    require(4 * 8.0 * rows, f"{_batch_source(params)} ({_count(rows)} points per batch)")


def check_run(optimizer_name: str, params: Mapping[str, Any], landscape, dtype: str = "float64",
              optimizer=None) -> None:
    """Refuse a run whose largest arrays (:func:`run_estimate`) cannot fit; ``optimizer`` (the
    built one) adds what its state holds (``Optimizer.state_bytes``: the learned optimizer's)."""
    nbytes, arrays = run_estimate(optimizer_name, params, landscape, 4 if dtype == "float32" else 8)
    state_bytes = getattr(optimizer, "state_bytes", None)
    if state_bytes is not None:
        nbytes += state_bytes(landscape.dim)
        arrays += " and the optimizer's state"
    source = _batch_source(params)
    require(nbytes, f"dimension={landscape.dim} with optimizer={optimizer_name}"
                    f"{f' ({source})' if source else ''}: {arrays}, {dtype},")


def run_estimate(optimizer_name: str, params: Mapping[str, Any], landscape, itemsize: int = 8) -> tuple[float, str]:
    """(bytes, description) of a run's largest arrays: the batch of points with its temporaries
    (each point taking ``landscape.numbers_per_point`` numbers while evaluated: a task's
    activations on every training sample too), the (d,) vectors of a first-order step, and
    the d x d covariance, eigenvectors and their update of :data:`FULL_COVARIANCE` optimizers."""
    dim = landscape.dim
    rows = largest_batch(params, dim)
    nbytes = (BATCH_COPIES * rows * landscape.numbers_per_point + VECTOR_COPIES * dim) * itemsize
    described = f"{_count(rows)} points x {dim} coordinates" if rows > 1 else f"{dim} coordinates"
    if optimizer_name in FULL_COVARIANCE:
        nbytes += 4 * float(dim) ** 2 * 8  # C, B, and the rank-mu update's temporaries (float64)
        described += f" and {dim} x {dim} covariance matrices"
    return nbytes, described


def check_batch(rows: int, landscape, itemsize: int) -> None:
    """Refuse a batch of ``rows`` points whose evaluation cannot fit, before the landscape computes
    it. The driver (attnopt.oracle) asks this of every batch larger than any before in the run, so
    what no up-front estimate sees is covered too: an Optimizer object given to ``run`` or
    ``minimize`` by itself (no parameters to read), and IPOP restarts that grow the population."""
    require(BATCH_COPIES * rows * landscape.numbers_per_point * itemsize,
            f"a batch of {_count(rows)} points x {landscape.dim} coordinates (evaluating it)")


__all__ = ["ENV_VAR", "BATCH_COPIES", "VECTOR_COPIES", "PLOT_CELL_BYTES", "parse_size", "fmt_bytes", "limit",
           "require", "shared_by", "largest_batch", "check_optimizer", "check_run", "check_batch", "run_estimate"]
