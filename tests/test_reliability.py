"""Reliability of the core: numerical extremes, property-based checks, unwritable outputs."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attnopt
from attnopt import cli, landscapes, optimizers
from attnopt.errors import ConfigError

CLASSIC = ["sphere", "rastrigin", "ackley", "griewank", "rosenbrock"]


@pytest.mark.parametrize("name", ["ackley", "griewank", "rastrigin"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_at_a_million_dimensions(name, dtype):
    d = 1_000_000
    f = landscapes.make(name, d)
    low, high = f.init_bounds
    X = np.random.default_rng(0).uniform(low, high, size=(2, d)).astype(dtype)
    values, grads = f(X), f.grad(X)
    assert values.dtype == dtype and grads.dtype == dtype
    assert np.isfinite(values).all() and np.isfinite(grads).all()
    assert f(np.zeros(d, dtype=dtype)) == 0.0


class Exploding(landscapes.Landscape):
    """Sphere whose values blow up (1e300, inf, NaN) on part of every batch."""

    name = "exploding"

    def _value(self, X):
        v = (X**2).sum(axis=1)
        if X.shape[0] > 1:
            v[0::4], v[1::4], v[2::4] = 1e300, np.inf, np.nan
        return v

    def _grad(self, X):
        return 2 * X


@pytest.mark.parametrize("name", ["attention", "attention_explore"])
def test_non_finite_trials_get_no_weight_and_the_run_goes_on(name):
    res = attnopt.minimize(Exploding(5), name, max_iters=200, seed=0)
    assert res.status == "max_iters"
    assert np.isfinite(res.history["loss"]).all()
    assert res.best_loss < res.history["loss"].iloc[0] / 10  # still making progress


def test_a_run_whose_iterate_turns_non_finite_ends_diverged():
    class NanAfter(landscapes.Landscape):
        name = "nan_after"

        def _value(self, X):
            return np.where(np.abs(X).max(axis=1) > 50, np.nan, (X**2).sum(axis=1))

        def _grad(self, X):
            return -2 * X  # ascent: pushes x outward until the loss is NaN

    res = attnopt.minimize(NanAfter(2), "gd", lr=0.5, x0=[1.0, 1.0], max_iters=100)
    assert res.status == "diverged" and np.isnan(res.history["loss"].iloc[-1])


# --- property-based ------------------------------------------------------------------------------

finite_points = st.integers(1, 12).flatmap(
    lambda d: st.lists(st.lists(st.floats(-1e3, 1e3), min_size=d, max_size=d), min_size=1, max_size=5))


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(CLASSIC + ["trapped"]), rows=finite_points)
def test_landscapes_give_finite_values_of_the_right_shape(name, rows):
    X = np.array(rows, dtype=float)
    f = landscapes.make(name, X.shape[1])
    values, grads = f(X), f.grad(X)
    assert values.shape == (X.shape[0],) and grads.shape == X.shape
    assert np.isfinite(values).all() and np.isfinite(grads).all()


attention_params = st.fixed_dictionaries({
    "n_trials": st.integers(1, 40),
    "sigma": st.floats(1e-8, 1e4),
    "beta": st.floats(1e-8, 1e8),
    "eta": st.floats(1e-3, 3.0),
    "weighting": st.sampled_from(["softmax", "rank"]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=attention_params, name=st.sampled_from(CLASSIC), d=st.integers(1, 8), seed=st.integers(0, 2**31))
def test_attention_never_crashes_and_counts_exactly(params, name, d, seed):
    res = attnopt.minimize(landscapes.make(name, d), "attention", seed=seed, max_iters=5, **params)
    assert res.status in ("max_iters", "diverged")
    if res.status == "max_iters":
        assert np.isfinite(res.history["loss"]).all()
        assert res.f_evals == 1 + 5 * (params["n_trials"] + 1)
    assert res.best_loss <= res.history["loss"].min()


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["gd", "sgd", "adam"]), lr=st.floats(1e-12, 1e6), d=st.integers(1, 6),
       seed=st.integers(0, 1000))
def test_gradient_methods_end_finite_or_diverged(name, lr, d, seed):
    res = attnopt.minimize(landscapes.make("rosenbrock", d), name, lr=lr, seed=seed, max_iters=30)
    finite = np.isfinite(res.history["loss"].to_numpy())
    if res.status == "diverged":
        assert finite[:-1].all() and not finite[-1]  # the overflowing step is recorded, then it stops
    else:
        assert res.status == "max_iters" and finite.all()


@settings(max_examples=80, deadline=None)
@given(key=st.sampled_from(["sigma", "beta", "eta", "n_trials"]),
       value=st.one_of(st.floats(allow_nan=True), st.integers(-5, 0), st.text(max_size=4), st.none()))
def test_invalid_parameters_raise_only_config_error(key, value):
    try:
        optimizers.make("attention", **{key: value})
    except ConfigError as exc:
        assert "\n" not in str(exc) and key in str(exc)


# --- outputs ----------------------------------------------------------------------------------------

def test_unwritable_output_directory_fails_in_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", f"hydra.run.dir={blocker}/run", "budget.max_iters=2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot write outputs to" in err and "is not a directory" in err


@pytest.mark.slow
def test_two_sweeps_at_once_into_different_directories_do_not_interfere(tmp_path):
    import json
    import subprocess
    import sys

    def start(name, landscape):
        args = ["run", "-m", f"hydra.sweep.dir={tmp_path / name}", f"landscape={landscape}", "dimension=2,3",
                "seed=0,1", "optimizer=gd", "budget.max_iters=30", "progress=false", "plot=false"]
        return subprocess.Popen([sys.executable, "-m", "attnopt.cli", *args], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    a, b = start("a", "sphere"), start("b", "rastrigin")
    for proc in (a, b):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    for name, landscape in (("a", "sphere"), ("b", "rastrigin")):
        found = [json.loads(p.read_text()) for p in (tmp_path / name).rglob("summary.json")]
        assert len(found) == 4 and {s["landscape"] for s in found} == {landscape}


@pytest.mark.slow
def test_a_sweep_gives_identical_histories_under_every_launcher(tmp_path):
    """basic, attnopt (serial and a pool), joblib (the plugin's own config) and submitit_local: same
    runs, same numbers."""
    import subprocess
    import sys

    import pandas as pd

    launchers = {
        "basic": ["hydra/launcher=basic", "hydra/sweeper=basic"],  # Hydra's own, composing every job
        "attnopt-serial": [],  # the default: attnopt's sweeper and launcher, in the CLI process
        "attnopt-pool": ["hydra.launcher.n_jobs=2", "hydra.launcher.pool_after_s=0"],  # attnopt's launcher, two worker processes
        "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        "submitit": ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    }
    histories = {}
    for name, extra in launchers.items():
        sweep = tmp_path / name
        args = ["run", "-m", f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=${optimizer.name}", "landscape=trapped",
                "optimizer=attention,hybrid2", "seed=4", "budget.max_evals=600", "plot=false", "progress=false",
                *extra]
        out = subprocess.run([sys.executable, "-m", "attnopt.cli", *args], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        histories[name] = {p.parent.name: pd.read_csv(p).drop(columns="time_s")
                           for p in sweep.rglob("history.csv")}
        assert sorted(histories[name]) == ["attention", "hybrid2"]
    for name in ("attnopt-serial", "attnopt-pool", "joblib", "submitit"):
        for job, frame in histories["basic"].items():
            pd.testing.assert_frame_equal(histories[name][job], frame, check_exact=True)
