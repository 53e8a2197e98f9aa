"""How fast can an attention step at d=10 get at all? A ceiling for the ">= 20x" goal.

The goal compares our step with the report's per-trial Python loop at n_trials=64, d=10. Batching
removes the loop's 64 Python calls of the loss, but both still draw the same 640 normal numbers and
take the same 640 cosines, and at d=10 those are a large share of the loop's own cost. This
script measures the fastest step we know how to write: the whole step (draw, evaluate, weigh,
move, evaluate the new point) compiled to machine code by numba, with no runner, no oracle and no
history around it. If even that falls short of 20x on a machine, no numpy implementation there can
reach it.

    pip install -e ".[bench]"   # numba: an optional extra, not a dependency of attnopt
    python scripts/compiled_step.py     # or `make bench`, whose first part runs it too
"""
from __future__ import annotations

import sys
import time

import numpy as np

from bench_attention import best_time, handwritten_rastrigin, report_loop_steps

try:
    import numba
except ImportError:
    sys.exit('compiled_step.py needs numba, an optional extra of attnopt: pip install -e ".[bench]"')

TWO_PI = 2.0 * np.pi


@numba.njit(cache=False)
def _rastrigin_rows(X, out):
    n, d = X.shape
    for i in range(n):
        total = 10.0 * d
        for j in range(d):
            v = X[i, j]
            total += v * v - 10.0 * np.cos(TWO_PI * v)
        out[i] = total


@numba.njit(cache=False)
def _steps(x, rng, steps, n, sigma, beta):
    d = x.shape[0]
    losses = np.empty(n)
    new_loss = np.empty(1)
    for _ in range(steps):
        trials = rng.standard_normal((n, d))  # numba's Generator: numpy's stream, numba's code
        for i in range(n):
            for j in range(d):
                trials[i, j] = x[j] + sigma * trials[i, j]
        _rastrigin_rows(trials, losses)
        weights = np.exp(-beta * (losses - losses.min()))
        weights /= weights.sum()
        x = np.zeros(d)
        for i in range(n):
            for j in range(d):
                x[j] += weights[i] * trials[i, j]
        _rastrigin_rows(x.reshape(1, d), new_loss)
    return x


def measure(repeats: int = 7, steps: int = 2000, n: int = 64, dim: int = 10) -> None:
    """Print the compiled step's time beside numpy's draws alone and the report's loop (per step)."""
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-5.12, 5.12, dim)
    _steps(x0, rng, 1, n, 0.3, 1.0)  # compile outside the timing
    compiled = best_time(lambda: _steps(x0, rng, steps, n, 0.3, 1.0), repeats) / steps

    def draws_only():
        for _ in range(steps):
            rng.standard_normal((n, dim))

    draws = best_time(draws_only, repeats) / steps
    from attnopt import landscapes

    f = landscapes.make("rastrigin", dim)
    loop = best_time(lambda: report_loop_steps(f, steps // 10, n, dim), repeats) / (steps // 10)
    cheap = best_time(lambda: report_loop_steps(handwritten_rastrigin, steps // 10, n, dim), repeats) / (steps // 10)
    print(f"d={dim}, n_trials={n}, the whole step compiled (numba {numba.__version__}, numpy {np.__version__}), per step:")
    print(f"  numpy's {n * dim} normal draws alone   {draws * 1e6:8.1f} us")
    print(f"  whole step compiled (no runner)  {compiled * 1e6:8.1f} us")
    print(f"  report's loop, attnopt's f       {loop * 1e6:8.1f} us  -> ceiling {loop / compiled:5.1f}x")
    print(f"  report's loop, handwritten f     {cheap * 1e6:8.1f} us  -> ceiling {cheap / compiled:5.1f}x")
    print(f"  (goal >= 20x; timed {time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    measure()
