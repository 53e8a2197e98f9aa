"""Speed of attention search, printed as ratios (run: `make bench`).

Goals (issue "Core", section 8):
  1. n_trials=64, d=10: our step (runner included) >= 20x faster than the report's per-trial Python
     loop, and < 2 microseconds per function evaluation.
  2. d=10,000: one step, runner included, <= 1.15x the unavoidable work of that step measured alone
     (drawing its 64 x 10,000 normal noise + one bare batched evaluation of the 64 trial points).
  3. (no goal) the array backends at d=100,000: numpy and torch, float64 and float32, CUDA where
     present, each as seconds per step, runner included, and as a ratio to numpy float64.
  4. (a ceiling for goal 1) the whole d=10 step compiled with numba, no runner around it
     (scripts/compiled_step.py); needs the optional extra `pip install -e ".[bench]"`, which
     `make bench` installs.
Timings are the best of several repeats (the least disturbed by other processes).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import attnopt
from attnopt import landscapes


def best_time(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def report_loop_steps(loss, steps: int, n_trials: int, dim: int, sigma=0.3, beta=1.0) -> None:
    """The report's attention step (section 2.4): one Python call of the loss per trial."""
    rng = np.random.default_rng(0)
    w = rng.uniform(-5.12, 5.12, dim)
    for _ in range(steps):
        trials = w + rng.standard_normal((n_trials, dim)) * sigma
        losses = np.array([loss(t) for t in trials])
        scores = -beta * losses
        alpha = np.exp(scores - scores.max())
        alpha /= alpha.sum()
        w = alpha @ trials
        loss(w)  # the report records the loss of each new point, as our runner does


def handwritten_rastrigin(w):
    """The cheapest single-point loss a loop could call: no shape checks, five numpy calls."""
    return 10.0 * w.shape[0] + np.sum(w**2 - 10.0 * np.cos(2 * np.pi * w))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=2000, help="steps per timing at d=10")
    parser.add_argument("--backend-dim", type=int, default=100_000, help="dimension of the backend comparison")
    args = parser.parse_args()
    n = 64

    # 1. small d: per-evaluation overhead of the whole machinery
    f10 = landscapes.make("rastrigin", 10)
    ours = best_time(lambda: attnopt.minimize(f10, "attention", n_trials=n, max_iters=args.steps), args.repeats)
    loop = best_time(lambda: report_loop_steps(f10, args.steps // 10, n, 10), args.repeats) * 10
    cheap = best_time(lambda: report_loop_steps(handwritten_rastrigin, args.steps // 10, n, 10), args.repeats) * 10
    per_eval_us = ours / (args.steps * (n + 1)) * 1e6
    print(f"d=10, n_trials=64, {args.steps} steps (runner included):")
    print(f"  attnopt                      {ours / args.steps * 1e6:8.1f} us/step  {per_eval_us:6.2f} us/evaluation")
    print(f"  report's loop, same f        {loop / args.steps * 1e6:8.1f} us/step")
    print(f"  report's loop, handwritten f {cheap / args.steps * 1e6:8.1f} us/step")
    print(f"  speed-up vs the same f       {loop / ours:8.1f}x   (goal >= 20x)  {'OK' if loop / ours >= 20 else 'MISSED'}")
    print(f"  speed-up vs handwritten f    {cheap / ours:8.1f}x")
    print(f"  per evaluation               {per_eval_us:8.2f} us  (goal < 2 us)   {'OK' if per_eval_us < 2 else 'MISSED'}")

    # 2. large d: the step must cost little beyond its noise and its one batched evaluation
    dim = 10_000
    f = landscapes.make("rastrigin", dim)
    steps = 20
    ours = best_time(lambda: attnopt.minimize(f, "attention", n_trials=n, max_iters=steps), args.repeats) / steps
    rng = np.random.default_rng(0)

    def unavoidable():
        for _ in range(steps):
            z = rng.standard_normal((n, dim))
            f(z)

    bare = best_time(unavoidable, args.repeats) / steps
    print(f"d=10,000, n_trials=64 (per step):")
    print(f"  attnopt step                 {ours * 1e3:8.2f} ms (runner included)")
    print(f"  noise + 1 batched eval       {bare * 1e3:8.2f} ms")
    print(f"  ratio                        {ours / bare:8.3f}   (goal <= 1.15)  {'OK' if ours / bare <= 1.15 else 'MISSED'}")

    # 3. backends: the same run on each array type
    import torch

    dim, steps = args.backend_dim, 5
    f = landscapes.make("rastrigin", dim)
    specs = [("numpy", "cpu", "float64"), ("numpy", "cpu", "float32"), ("torch", "cpu", "float64"),
             ("torch", "cpu", "float32")]
    if torch.cuda.is_available():
        specs += [("torch", "cuda", "float64"), ("torch", "cuda", "float32")]
    print(f"d={dim:,}, n_trials=64, {steps} steps (runner included; torch uses {torch.get_num_threads()} CPU threads):")
    base = None
    for backend, device, dtype in specs:
        def one_run():
            attnopt.minimize(f, "attention", n_trials=n, max_iters=steps, backend=backend, device=device, dtype=dtype)
            if device == "cuda":
                torch.cuda.synchronize()

        one_run()  # warm-up: CUDA context, kernels, cached constants
        per_step = best_time(one_run, max(2, args.repeats // 3)) / steps
        base = base or per_step
        label = f"{backend} {device} {dtype}"
        print(f"  {label:28s} {per_step * 1e3:8.2f} ms/step   {base / per_step:6.2f}x numpy float64")

    # 4. the ceiling: how close to 20x can a step come at all
    try:
        import compiled_step  # imports numba
    except SystemExit as missing:  # numba is an optional extra; say what is missing, measure the rest
        print(f"compiled step: skipped ({missing})")
    else:
        compiled_step.measure(args.repeats, args.steps)


if __name__ == "__main__":
    main()
