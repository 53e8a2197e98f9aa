"""Rotated and shifted landscapes (attnopt.landscapes.transforms): the optimum stays known and
inside the init box, gradients stay exact, and instances are drawn reproducibly from the seed."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from attnopt import ConfigError, landscapes
from attnopt.landscapes.base import Landscape
from attnopt.landscapes.transforms import Transformed, random_rotation

CLASSIC = ["sphere", "rastrigin", "ackley", "griewank", "rosenbrock"]
OPTIONS = [dict(rotate=True), dict(shift=True), dict(rotate=True, shift=True)]


@pytest.mark.parametrize("name", CLASSIC + ["trapped"])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("dim", [2, 7])
def test_optimum_is_kept_and_inside_the_init_box(name, options, dim):
    plain = landscapes.make(name, dim)
    f = landscapes.make(name, dim, transform_seed=3, **options)
    assert isinstance(f, Transformed)
    assert f.f_opt == plain.f_opt
    assert f(f.x_opt) == pytest.approx(f.f_opt, abs=1e-10)
    # every other point is worse than the optimum (a crude check that it really is one)
    rng = np.random.default_rng(0)
    low, high = f.init_bounds
    X = rng.uniform(low, high, size=(200, dim))
    assert np.all(f(X) >= f.f_opt - 1e-10)
    assert np.all((f.x_opt > low) & (f.x_opt < high))
    if options.get("shift"):
        assert not np.allclose(f.x_opt, plain.x_opt)


@pytest.mark.parametrize("name", CLASSIC)
@pytest.mark.parametrize("options", OPTIONS)
def test_gradient_matches_finite_differences(name, options):
    f = landscapes.make(name, 6, transform_seed=1, **options)
    rng = np.random.default_rng(2)
    low, high = f.init_bounds
    # near the optimum as well as across the box, where the terms of the gradient differ in size
    points = np.vstack([f.x_opt + 0.3 * rng.standard_normal((3, 6)), rng.uniform(low, high, size=(3, 6)) * 0.5])
    G = f.grad(points)
    values, G2 = f.value_and_grad(points)
    np.testing.assert_array_equal(G, G2)
    np.testing.assert_array_equal(values, f(points))
    for x, g in zip(points, G):
        fd = approx_fprime(x, lambda z: float(f(z)), 1e-7 * max(1.0, float(np.abs(x).max())))
        np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(g).max())))


def test_rotation_is_orthogonal_and_makes_rastrigin_non_separable():
    R = random_rotation(8, np.random.default_rng(0))
    np.testing.assert_allclose(R @ R.T, np.eye(8), atol=1e-12)
    f = landscapes.make("rastrigin", 8, rotate=True, transform_seed=0)
    plain = landscapes.make("rastrigin", 8)
    # plain Rastrigin's minima lie on the integer grid; rotated, a grid point is no longer one
    e = np.zeros(8)
    e[0] = 1.0
    assert plain(e) == pytest.approx(1.0)
    assert f(e) > 1.5
    assert f(R.T @ e) != pytest.approx(f(e))  # rotation invariance would make these equal


def test_seed_draws_the_instance_reproducibly():
    a = landscapes.make("ackley", 5, rotate=True, shift=True, transform_seed=4)
    b = landscapes.make("ackley", 5, rotate=True, shift=True, transform_seed=4)
    c = landscapes.make("ackley", 5, rotate=True, shift=True, transform_seed=5)
    np.testing.assert_array_equal(a.x_opt, b.x_opt)
    np.testing.assert_array_equal(a.R, b.R)
    assert not np.allclose(a.x_opt, c.x_opt)
    assert not np.allclose(a.R, c.R)


def test_without_options_the_landscape_is_untouched():
    assert type(landscapes.make("rastrigin", 3)) is landscapes.Rastrigin
    assert type(landscapes.make("rastrigin", 3, rotate=False, shift=False, transform_seed=9)) is landscapes.Rastrigin


def test_metrics_are_forwarded_only_where_the_base_has_some():
    class WithMetric(landscapes.Sphere):
        def metrics(self, x):
            return {"first": float(x[0])}

    f = Transformed(WithMetric(3), shift=True, transform_seed=0)
    assert type(f).metrics is Landscape.metrics  # the plain wrapper records no metric columns
    from attnopt.landscapes.transforms import transform

    g = transform(WithMetric(3), shift=True, transform_seed=0)
    assert g.metrics(g.x_opt) == {"first": pytest.approx(0.0)}


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="rotate"):
        landscapes.make("sphere", 3, rotat=True)  # the list of allowed keys names rotate
    with pytest.raises(ConfigError, match="landscape.transform_seed"):
        landscapes.make("sphere", 3, rotate=True, transform_seed=-1)

    class NoOptimum(Landscape):
        name = "no_optimum"

    with pytest.raises(ConfigError, match="optimum is not known"):
        Transformed(NoOptimum(3), rotate=True)


def test_config_ties_the_instance_to_the_run_seed():
    from hydra import compose, initialize_config_module

    from attnopt.run import build

    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        spec = build(compose(config_name="config", overrides=["landscape=griewank", "landscape.rotate=true",
                                                              "landscape.shift=true", "seed=7", "dimension=4"]))
    assert isinstance(spec.landscape, Transformed)
    assert spec.landscape.transform_seed == 7
    assert spec.config["landscape"]["transform_seed"] == 7
