"""Measure attnopt.memory's constants: the peak memory of one optimizer step and of one plot grid,
as a multiple of the arrays the estimates count.

    .venv/bin/python scripts/memory_factor.py          # ~1 min, ~2 GB of memory at its peak

Each case runs in a fresh process and prints peak RSS growth / (points x dimension x 8 bytes) for
a batched evaluation of a landscape and its gradient (what attnopt.memory.BATCH_COPIES must
cover), the bytes per grid cell of `attnopt plot`'s figure (attnopt.memory.PLOT_CELL_BYTES), and
the float32 numbers per coordinate of three learned-optimizer steps (what
attnopt.optimizers.learned_nets.LearnedOptimizer.state_bytes must cover).
"""
from __future__ import annotations

import subprocess
import sys

STEP = """
import resource, numpy as np
from attnopt import landscapes
n, d = {n}, {d}
f = landscapes.make("{name}", d)
rng = np.random.default_rng(0)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
X = rng.standard_normal((n, d))
f(X); f.grad(X); f.value_and_grad(X)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((peak - base) / (n * d * 8))
"""

RUN = """
import resource
import attnopt
from attnopt import landscapes
n, d = {n}, {d}
f = landscapes.make("{name}", d)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
attnopt.minimize(f, "{optimizer}", max_iters=3, **{params})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((peak - base) / (n * d * 8))
"""

PLOT = """
import resource
from attnopt.landscape_plot import main
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
main(["resolution={res}", "out=/tmp/attnopt_memory_factor.png", "max_evals=50"])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((peak - base) / (2 * {res} ** 2))
"""

LEARNED = """
import resource, torch
from attnopt.optimizers.learned_nets import LearnedOptimizer
d = {d}
torch.manual_seed(0)
model = LearnedOptimizer(kind="{kind}", features="logsign", hidden={hidden})
x, g = torch.zeros(d), torch.randn(d)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
state = model.init_state(x)
with torch.no_grad():
    for _ in range(3):
        delta, state = model(g, x, state)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((peak - base) / d / 4, model.state_bytes(d) / d / 4)
"""


def measure(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    n, d = 64, 200_000
    print(f"batch of {n} x {d}: peak RSS growth / (n d 8 bytes)")
    for name in ("sphere", "rastrigin", "ackley", "griewank", "rosenbrock", "trapped"):
        print(f"  {name:12s} f, grad, value_and_grad: {measure(STEP.format(n=n, d=d, name=name)):.2f}")
    for optimizer, params in (("attention", {"n_trials": n}), ("gd", {})):
        rows = n if optimizer == "attention" else 1
        dd = d if optimizer == "attention" else 20_000_000
        ratio = measure(RUN.format(n=rows, d=dd, name="rastrigin", optimizer=optimizer, params=params))
        print(f"  minimize({optimizer}) on rastrigin, {rows} x {dd}: {ratio:.2f}")
    for res in (500, 1500):
        print(f"attnopt plot resolution={res}: {measure(PLOT.format(res=res)):.0f} bytes per grid cell")
    for kind, hidden, dd in (("lstm", 20, 1_000_000), ("lstm", 64, 500_000), ("attention", 16, 500_000),
                             ("attention", 32, 300_000)):
        out = subprocess.run([sys.executable, "-c", LEARNED.format(kind=kind, hidden=hidden, d=dd)],
                             capture_output=True, text=True, check=True)
        measured, estimated = map(float, out.stdout.split())
        print(f"learned {kind} hidden={hidden} at d={dd}: {measured:.0f} float32 numbers per coordinate "
              f"(state_bytes estimates {estimated:.0f})")


if __name__ == "__main__":
    main()
