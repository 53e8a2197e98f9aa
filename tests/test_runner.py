"""The runner: budgets are exact, every stopping rule and status, recorded history."""
import numpy as np
import pytest

import attnopt
from attnopt import landscapes
from attnopt.errors import ConfigError
from attnopt.runner import HISTORY_COLUMNS


@pytest.mark.parametrize(
    "name,params,max_evals",
    [("attention", dict(n_trials=64), 1000), ("gd", {}, 11), ("adam", {}, 100), ("attention_explore", {}, 777)],
)
def test_max_evals_is_never_exceeded(name, params, max_evals):
    res = attnopt.minimize(landscapes.make("rastrigin", 5), name, max_iters=None, max_evals=max_evals, **params)
    assert res.status == "budget_exhausted"
    total = res.f_evals + res.g_evals
    assert total <= max_evals
    per_step = np.diff((res.history["f_evals"] + res.history["g_evals"]).to_numpy())
    assert max_evals - total < per_step.max()  # stopped only because the next step would not fit


def test_counts_are_exact_per_step():
    res = attnopt.minimize(landscapes.make("sphere", 3), "attention", n_trials=10, max_iters=4)
    assert res.history["f_evals"].tolist() == [1, 12, 23, 34, 45]
    res = attnopt.minimize(landscapes.make("sphere", 3), "gd", max_iters=4)
    assert res.history["g_evals"].tolist() == [1, 2, 3, 4, 5] == res.history["f_evals"].tolist()


def test_history_is_complete_and_monotone():
    res = attnopt.minimize(landscapes.make("ackley", 4), "attention", max_iters=30)
    h = res.history
    assert list(h.columns) == HISTORY_COLUMNS
    assert h["iter"].tolist() == list(range(31)) and res.iters == 30
    assert (np.diff(h["best_loss"]) <= 0).all() and (np.diff(h["time_s"]) >= 0).all()
    assert h["phase"].iloc[0] == "init" and set(h["phase"].iloc[1:]) == {"attention"}
    assert res.best_loss == h["best_loss"].iloc[-1] <= h["loss"].min()
    assert res.best_loss == pytest.approx(float(landscapes.make("ackley", 4)(res.best_x)))


def test_target_stops_the_run():
    res = attnopt.minimize(landscapes.make("sphere", 5), "gd", lr=0.1, target=1e-6, max_iters=10_000)
    assert res.status == "target_reached" and res.best_loss <= 1e-6 and res.iters < 200


def test_converged_when_progress_stalls():
    res = attnopt.minimize(landscapes.make("sphere", 5), "gd", lr=0.1, tol=1e-12, patience=20, max_iters=10_000)
    assert res.status == "converged" and res.iters % 20 == 0 and res.iters < 10_000


def test_overflowing_step_ends_as_diverged_and_is_recorded():
    with np.errstate(all="ignore"):
        res = attnopt.minimize(landscapes.make("sphere", 5), "gd", lr=10.0, max_iters=10_000)
    assert res.status == "diverged"
    assert not np.isfinite(res.history["loss"].iloc[-1]) and np.isfinite(res.history["loss"].iloc[-2])
    assert res.iters == len(res.history) - 1 < 10_000


def test_time_limit():
    res = attnopt.minimize(landscapes.make("rastrigin", 50), "attention", max_iters=None, time_limit=0.05)
    assert res.status == "time_limit" and 0.05 <= res.time_s < 1.0


def test_x0_is_used_and_checked():
    f = landscapes.make("sphere", 3)
    res = attnopt.minimize(f, "gd", x0=[1, 2, 3], max_iters=0 or 1)
    assert res.history["loss"].iloc[0] == 14.0
    with pytest.raises(ConfigError, match="x0 has 2 values but dimension=3"):
        attnopt.minimize(f, "gd", x0=[1, 2])
    with pytest.raises(ConfigError, match="every value must be finite"):
        attnopt.minimize(f, "gd", x0=[1, np.nan, 3])


def test_x0_is_drawn_from_the_domain_by_seed():
    f = landscapes.make("griewank", 20)
    a = attnopt.minimize(f, "gd", seed=1, max_iters=1).history["loss"].iloc[0]
    b = attnopt.minimize(f, "attention", seed=1, max_iters=1).history["loss"].iloc[0]
    c = attnopt.minimize(f, "gd", seed=2, max_iters=1).history["loss"].iloc[0]
    assert a == b != c  # the start depends on the seed only, not on the optimizer


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(max_iters=None), "budget is unbounded"),
        (dict(max_iters=0), "budget.max_iters=0 is invalid"),
        (dict(max_evals=-5), "budget.max_evals=-5 is invalid"),
        (dict(max_evals=1), "budget.max_evals=1 is too small"),
        (dict(seed=-1), "seed=-1 is invalid"),
        (dict(time_limit=0), "budget.time_limit=0 is invalid"),
    ],
)
def test_bad_budgets(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        attnopt.minimize(landscapes.make("sphere", 2), "gd", **kwargs)


def test_minimize_takes_a_landscape_name_with_its_dimension():
    with pytest.raises(ConfigError, match="the dimension of landscape 'sphere' is unknown: pass x0=, bounds= or dim="):
        attnopt.minimize("sphere", "gd")
    by_name = attnopt.minimize("sphere", "gd", dim=3, seed=2, max_iters=5).history.drop(columns="time_s")
    by_object = attnopt.minimize(landscapes.make("sphere", 3), "gd", seed=2, max_iters=5).history.drop(columns="time_s")
    assert by_name.equals(by_object)
