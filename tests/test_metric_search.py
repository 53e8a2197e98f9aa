"""attention_cma (attention search with a learned metric) and hybrid_cma (+ L-BFGS descent):
known answers, CMA-ES's constants, exact budgets, batching, reproducibility."""
import math

import numpy as np
import pytest

import attnopt
from attnopt import landscapes
from attnopt.optimizers import gradient_hybrid, metric_search
from doubles import CallRecorder

NAMES = ["attention_cma", "hybrid_cma"]


def test_constants_are_cma_es_defaults():
    k = metric_search.constants(10, 10)
    assert k.mu == 5
    assert k.weights[:5].sum() == pytest.approx(1.0) and np.all(np.diff(k.weights) < 0)
    assert k.mu_eff == pytest.approx(3.1672, abs=1e-4)  # Hansen's tutorial, d = 10, lambda = 10
    assert k.weights[5:].max() < 0.0  # active CMA: the worse half gets negative weights
    # pycma's own weights and learning rates for the same d and population
    import cma

    sp = cma.CMAEvolutionStrategy(np.zeros(10), 1.0, {"verbose": -9, "seed": 1, "popsize": 10}).sp
    assert k.c_1 == pytest.approx(sp.c1, rel=1e-12) and k.c_mu == pytest.approx(sp.cmu, rel=1e-12)
    assert k.c_c == pytest.approx(sp.cc, rel=1e-12)
    np.testing.assert_allclose(k.weights[:5], np.asarray(sp.weights)[:5], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_solves_a_rotated_ill_conditioned_quadratic(name):
    """A learned metric is what a condition number of 1e4 under a rotation needs; plain
    attention search stalls there."""
    d = 8
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scales = np.logspace(0, 4, d)
    H = Q @ np.diag(scales) @ Q.T

    class Ellipsoid(CallRecorder):
        def _value(self, X):
            return np.einsum("ij,jk,ik->i", X, H, X)

        def _grad(self, X):
            return 2 * X @ H

    res = attnopt.minimize(Ellipsoid(d), name, seed=0, max_iters=None, max_evals=20_000, target=1e-10)
    assert res.status == "target_reached", res.best_loss


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("budget", [997, 5000])
def test_budget_is_spent_exactly(name, budget):
    f = landscapes.make("rastrigin", 6)
    res = attnopt.minimize(f, name, seed=1, max_iters=None, max_evals=budget)
    assert res.f_evals + res.g_evals == budget


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_history(name):
    f = landscapes.make("ackley", 5, rotate=True, shift=True, transform_seed=3)
    run = lambda seed: attnopt.minimize(f, name, seed=seed, max_iters=None, max_evals=4000).history.drop(  # noqa: E731
        columns="time_s")
    a, b, c = run(4), run(4), run(5)
    assert a.equals(b) and not a.equals(c)


def test_attention_cma_evaluates_each_generation_in_one_call_and_never_the_mean():
    f = CallRecorder(7)
    attnopt.minimize(f, "attention_cma", seed=0, max_iters=5)
    n = 4 + int(3 * math.log(7))
    assert f.calls == [(1, 7)] + [(n, 7)] * 5


def test_attention_cma_restarts_with_twice_the_trials_and_narrows_when_settled():
    f = landscapes.make("rastrigin", 5)
    res = attnopt.minimize(f, "attention_cma", seed=2, max_iters=None, max_evals=30_000, target=1e-8)
    phases = res.history["phase"].tolist()
    assert "restart" in phases and "narrow" in phases
    # A narrowed restart runs on with the base population: the evaluations per step drop back.
    evals = (res.history["f_evals"]).diff().iloc[1:].to_numpy()
    base = 4 + int(3 * math.log(5))
    after = phases.index("narrow")
    assert evals[after - 1] > base and evals[after] == base


@pytest.mark.parametrize("name", NAMES)
def test_solves_rastrigin_at_d5(name):
    """The rugged case the restarts are for: 5-D Rastrigin to 1e-8 for three seeds."""
    f = landscapes.make("rastrigin", 5)
    for seed in range(3):
        res = attnopt.minimize(f, name, seed=seed, max_iters=None, max_evals=60_000, target=1e-8)
        assert res.status == "target_reached", (seed, res.best_loss)


def test_hybrid_descends_with_gradients_and_counts_them():
    f = landscapes.make("griewank", 10, rotate=True, shift=True, transform_seed=7)
    res = attnopt.minimize(f, "hybrid_cma", seed=0, max_iters=None, max_evals=20_000, target=1e-8)
    assert res.status == "target_reached"
    assert res.g_evals > 0 and "gd" in set(res.history["phase"])
    # each gradient query asks a value and a gradient at each running descent's point: one function
    # and one gradient evaluation per descent (up to first_descents of them side by side)
    phase = res.history["phase"]
    gd_rows = res.history.index[(phase == "gd") & (phase.shift() == "gd")]
    steps = res.history.loc[gd_rows, ["f_evals", "g_evals"]].to_numpy() - res.history.loc[gd_rows - 1, [
        "f_evals", "g_evals"]].to_numpy()
    assert (steps[:, 0] == steps[:, 1]).all() and steps.min() >= 1 and steps.max() <= 4


def test_hybrid_first_descents_run_side_by_side_in_one_call_per_step():
    """A restart's first descents (from the mean and the 3 best trials) are one batched query per
    step: a call of 4 points first, then fewer as descents finish, never a call per point."""
    f = CallRecorder(6)
    attnopt.minimize(f, "hybrid_cma", seed=0, max_iters=None, max_evals=3000)
    n = 4 + int(3 * math.log(6))
    rows = [r for r, _ in f.calls]
    first = next(i for i, r in enumerate(rows) if 0 < i and r != n)
    assert rows[first] == 4 and all(r == n for r in rows[1:first])
    descent_rows = rows[first:rows.index(n, first)]
    assert descent_rows == sorted(descent_rows, reverse=True) and len(descent_rows) > 4
    assert 1 in rows[rows.index(n, first):]  # the next level's descent: the mean's alone


def test_lbfgs_descent_solves_a_quadratic_from_a_bad_first_step():
    d = 6
    H = np.diag(np.arange(1.0, d + 1.0) ** 2)
    f = lambda x: float(x @ H @ x)  # noqa: E731
    g = lambda x: 2 * H @ x  # noqa: E731
    x = np.ones(d)
    ds = gradient_hybrid.descent_start(x, f(x), g(x), step_length=100.0)  # far too long: backtracks
    while ds.f > 1e-20 and not ds.done:
        q = gradient_hybrid.descent_query(ds)
        ds = gradient_hybrid.descent_tell(ds, f(q), g(q), memory=10, max_queries=200)
    assert ds.f <= 1e-20 and ds.queries < 40, (ds.f, ds.queries)


def test_lbfgs_direction_satisfies_the_secant_equation_and_descends():
    d = 4
    rng = np.random.default_rng(0)
    A = rng.standard_normal((d, d))
    H = A @ A.T + d * np.eye(d)
    S = tuple(rng.standard_normal((3, d)))
    Y = tuple(H @ s for s in S)
    # the inverse-Hessian estimate maps the newest gradient change back to its step
    np.testing.assert_allclose(gradient_hybrid.direction(Y[-1], S, Y), -S[-1], rtol=1e-10)
    g = rng.standard_normal(d)
    assert gradient_hybrid.direction(g, S, Y) @ g < 0
    np.testing.assert_array_equal(gradient_hybrid.direction(g, (), ()), -g)


def test_hybrid_descends_at_each_half_decade_of_shrinking_then_restarts():
    f = landscapes.make("rastrigin", 5, rotate=True, shift=True, transform_seed=1)
    res = attnopt.minimize(f, "hybrid_cma", seed=0, max_iters=None, max_evals=20_000, target=1e-8)
    h = res.history
    phases = h["phase"].tolist()
    first_restart = phases.index("restart")
    # runs of consecutive "gd" rows before the first restart: one per level 0.1, 0.032, 0.01, 0.0032
    starts = [i for i in range(1, first_restart) if phases[i] == "gd" and phases[i - 1] != "gd"]
    assert len(starts) == 4
    # the first level's descents start from the mean and the 3 best trials, side by side (one
    # query of 4 points per step, while all run); the later ones from the mean alone
    per_row = h["g_evals"].diff().to_numpy()
    assert per_row[starts[0]] == 4 and all(per_row[i] == 1 for i in starts[1:])
    with pytest.raises(attnopt.ConfigError, match="optimizer.descend_at=0 is invalid"):
        attnopt.optimizers.make("hybrid_cma", descend_at=0)
