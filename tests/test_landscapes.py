"""Landscapes: analytic gradients vs finite differences, optima, batching, extreme dimensions."""
import numpy as np
import pytest

from attnopt import landscapes
from attnopt.errors import ConfigError

CLASSIC = ["sphere", "rastrigin", "ackley", "griewank", "rosenbrock"]
ALL = CLASSIC + ["trapped"]


def central_difference(f, x, h=1e-6):
    """Central differences for every coordinate at once: one batched call of 2d points."""
    d = x.size
    steps = np.eye(d) * h
    return (f(x + steps) - f(x - steps)) / (2 * h)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dim", [1, 2, 10, 1000])
def test_gradient_matches_finite_differences(name, dim):
    f = landscapes.make(name, dim)
    rng = np.random.default_rng(dim)
    low, high = f.init_bounds
    # Griewank/Ackley domains are huge; probe where curvature is visible to h = 1e-6.
    x = rng.uniform(max(low, -3.0), min(high, 3.0), size=dim)
    fd = central_difference(f, x)
    g = f.grad(x)
    scale = max(1.0, np.abs(fd).max())
    assert np.allclose(g, fd, rtol=1e-5, atol=1e-6 * scale), np.abs(g - fd).max()


@pytest.mark.parametrize("name", ALL)
def test_value_at_optimum_is_f_opt(name):
    f = landscapes.make(name, 7 if name != "trapped" else 3)
    assert f(f.x_opt) == pytest.approx(f.f_opt, abs=1e-12)
    if name != "trapped":
        assert np.abs(f.grad(f.x_opt)).max() < 1e-12


@pytest.mark.parametrize("name", ALL)
def test_batched_equals_row_by_row(name):
    f = landscapes.make(name, 5)
    X = np.random.default_rng(0).uniform(-3, 3, size=(17, 5))
    rows = np.array([f(x) for x in X])
    # Equal to rounding: BLAS may sum a batched matrix product in another order than a single row.
    np.testing.assert_allclose(f(X), rows, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(f.grad(X), np.array([f.grad(x) for x in X]), rtol=1e-13, atol=1e-13)
    assert f(X[0]).shape == () and f.grad(X[0]).shape == (5,)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dim", [1, 100_000])
def test_finite_everywhere_in_domain_at_any_dimension(name, dim):
    f = landscapes.make(name, dim)
    rng = np.random.default_rng(1)
    low, high = f.init_bounds
    X = rng.uniform(low, high, size=(2, dim))
    X[1] = high  # the domain's corner: the largest coordinates
    assert np.isfinite(f(X)).all()
    assert np.isfinite(f.grad(X)).all()


def test_griewank_gradient_where_a_cosine_is_zero():
    f = landscapes.make("griewank", 3)
    x = np.array([np.pi / 2, 1.0, 2.0])  # cos(x_1 / sqrt(1)) == 0 (to rounding)
    assert np.allclose(f.grad(x), central_difference(f, x), atol=1e-7)


@pytest.mark.parametrize("dim,starts", [(3, 60), (10, 120)])
def test_trapped_optimum_beats_a_multistart_search(dim, starts):
    """At d = 10 neighbouring rings differ by 0.002, less than the optimum's grid can resolve; the
    computed optimum must still be the lowest (a regression: it once picked the wrong ring)."""
    from scipy.optimize import minimize

    f = landscapes.make("trapped", dim)
    rng = np.random.default_rng(0)
    found = min(minimize(f, rng.uniform(-5, 5, dim), jac=f.grad, method="L-BFGS-B").fun for _ in range(starts))
    assert f.f_opt <= found + 1e-9
    assert np.linalg.norm(f.grad(f.x_opt)) < 1e-5  # a stationary point


def test_trapped_traps_gradient_descent():
    """The point of the testbed: GD from a random start stops far above the global minimum."""
    import attnopt

    f = landscapes.make("trapped", 3)
    stuck = [attnopt.minimize(f, "gd", lr=1e-3, seed=s, max_iters=2000).loss - f.f_opt for s in range(5)]
    assert np.median(stuck) > 0.5


def test_trapped_optimum_when_parameters_outnumber_samples():
    f = landscapes.make("trapped", 300, n_samples=100)
    assert f.f_opt == pytest.approx(-f.lambda_osc, abs=1e-9)
    assert f(f.x_opt) == pytest.approx(f.f_opt, abs=1e-9)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "x", True])
def test_bad_dimension(bad):
    with pytest.raises(ConfigError, match="dimension"):
        landscapes.make("sphere", bad)


def test_unknown_landscape_names_the_choices():
    with pytest.raises(ConfigError, match="unknown landscape 'spherre'.*sphere"):
        landscapes.make("spherre", 2)


def test_landscape_params_are_validated():
    with pytest.raises(ConfigError, match="landscape.noise=-1 is invalid"):
        landscapes.make("trapped", 3, noise=-1)
    with pytest.raises(ConfigError, match="unknown key 'landscape.nois'"):
        landscapes.make("trapped", 3, nois=1)
