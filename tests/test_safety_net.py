"""The safety net of the ask/tell refactor: golden histories, and the gaps a mutation audit of the
suite found (one-line bugs no other test caught)."""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

import attnopt
from attnopt import landscapes
from doubles import Counting
from golden import make_golden


@pytest.fixture(scope="module")
def regenerated():
    return make_golden.generate()


PINNED = json.loads(make_golden.FILE.read_text())


@pytest.mark.parametrize("case", sorted(PINNED))
def test_golden_history_is_reproduced(case, regenerated):
    """Exact floats: an optimizer whose arithmetic, random stream or evaluation order moved fails
    here. Regenerate (tests/golden/make_golden.py) only on purpose, and say why in the commit."""
    assert regenerated[case]["totals"] == PINNED[case]["totals"]
    for column, pinned in PINNED[case]["rows"].items():
        assert regenerated[case]["rows"][column] == pinned, column


@pytest.mark.parametrize("name,params", [
    ("attention_ipop", dict(n_trials=6, restart_patience=3)),
    ("attention", dict(restarts=4, restart_patience=2, n_trials=5)),
    ("cma", dict(popsize=4, ipop=True, max_restarts=3)),
])
def test_restarts_evaluate_only_through_the_ledger(name, params):
    f = Counting(3, offset=1.0)
    res = attnopt.minimize(f, name, seed=0, max_iters=None, max_evals=1500, **params)
    if name != "cma":
        assert (res.history["phase"] == "restart").any()
    assert (f.f_calls, f.g_calls) == (res.f_evals, res.g_evals)


@pytest.mark.parametrize("name,params", [
    ("attention_ipop", dict(n_trials=6, restart_patience=3)),
    ("attention", dict(restarts=4, restart_patience=2, n_trials=5, sigma_scale="domain")),
])
def test_restart_points_come_from_the_seed(name, params):
    f = landscapes.make("rastrigin", 3)
    runs = []
    for seed in (0, 0, 1):
        np.random.seed(seed + 100)  # numpy's global generator must not matter
        runs.append(attnopt.minimize(f, name, seed=seed, max_iters=80, **params).history.drop(columns="time_s"))
    assert (runs[0]["phase"] == "restart").any()
    assert runs[0].equals(runs[1]) and not runs[0].equals(runs[2])
    restart_rows = runs[0].index[runs[0]["phase"] == "restart"]
    assert runs[0].loc[restart_rows, "loss"].equals(runs[1].loc[restart_rows, "loss"])


@pytest.mark.parametrize("eta", [0.5, 0.25, 2.0])
def test_eta_scales_the_move_linearly(eta):
    """One trial has weight 1, so x_new = x + eta * (trial - x) exactly (eta, not eta**2)."""
    f = landscapes.make("sphere", 3)
    x0 = np.array([1.0, -2.0, 0.5])
    one = attnopt.minimize(f, "attention", x0=x0, n_trials=1, sigma=0.3, eta=1.0, seed=4, max_iters=1)
    res = attnopt.minimize(f, "attention", x0=x0, n_trials=1, sigma=0.3, eta=eta, seed=4, max_iters=1)
    np.testing.assert_allclose(res.x, x0 + eta * (one.x - x0), rtol=1e-12, atol=1e-15)


def test_target_is_tested_on_the_best_point_not_the_iterate():
    """Attention's iterate (the weighted mean) is often worse than its best trial: the run must stop
    at the first row whose best loss reaches the target, even where the iterate's loss does not."""
    f = landscapes.make("rastrigin", 2)
    free = attnopt.minimize(f, "attention", seed=1, max_iters=200, sigma=0.5).history
    gap = free.index[free["best_loss"] < free["loss"]]
    assert len(gap) > 0
    i = int(gap[0])
    target = float(free["best_loss"].iloc[i])
    assert (free["loss"].iloc[: i + 1] > target).all()
    res = attnopt.minimize(f, "attention", seed=1, max_iters=200, sigma=0.5, target=target)
    assert res.status == "target_reached" and res.iters == i


@pytest.mark.parametrize("name", ["hybrid1", "hybrid2", "hybrid3"])
@pytest.mark.parametrize("key,values", [("attn_beta", (1.0, 30.0)), ("attn_sigma", (0.3, 0.9)),
                                        ("attn_n_trials", (64, 7))])
def test_hybrids_pass_their_attention_settings_on(name, key, values):
    f = landscapes.make("rastrigin", 3)
    fast = dict(hybrid1=dict(plateau_patience=1, plateau_tol=0.5), hybrid2=dict(gd_steps_per_cycle=2),
                hybrid3=dict(gd_steps_per_restart=2))[name]
    # beta is the temperature of softmax weights (the default weighting, ess, sets its own)
    context = dict(attn_weighting="softmax") if key == "attn_beta" else {}
    a, b = (attnopt.minimize(f, name, seed=0, max_iters=30, **fast, **context, **{key: v}).history.drop(columns="time_s")
            for v in values)
    assert (a["phase"] == "attention").any()
    assert not a.equals(b)


def _config_hash():
    for module in ("attnopt.rundir", "attnopt.sweep"):
        try:
            return importlib.import_module(module).config_hash
        except (ImportError, AttributeError):
            continue
    raise AssertionError("no config_hash found in attnopt.rundir or attnopt.sweep")


@pytest.mark.parametrize("key,value", [
    (("budget", "max_evals"), 500), (("budget", "max_iters"), 7), (("budget", "target"), 1e-3),
    (("backend",), "torch"), (("dtype",), "float32"), (("seed",), 1), (("dimension",), 3),
    (("optimizer", "sigma"), 0.5), (("landscape", "name"), "sphere"),
])
def test_config_hash_tells_every_setting_apart(key, value):
    config_hash = _config_hash()
    cfg = {"optimizer": {"name": "attention", "sigma": 0.3}, "landscape": {"name": "rastrigin"}, "dimension": 2,
           "seed": 0, "backend": "numpy", "dtype": "float64", "budget": {"max_iters": 10, "max_evals": None,
                                                                          "target": None}}
    changed = json.loads(json.dumps(cfg))
    node = changed
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value
    assert config_hash(cfg) == config_hash(json.loads(json.dumps(cfg)))
    assert config_hash(changed) != config_hash(cfg)


@pytest.mark.parametrize("name,params,max_evals", [
    ("attention", {}, 1040), ("attention_explore", {}, 1000), ("hybrid2", {}, 997), ("attention_ipop", {}, 997),
])
def test_totals_equal_the_last_history_row(name, params, max_evals):
    """A step cut short by the budget is counted, so the history records it (phase "cut")."""
    res = attnopt.minimize(landscapes.make("rastrigin", 4), name, seed=3, max_iters=None, max_evals=max_evals,
                           **params)
    last = res.history.iloc[-1]
    assert (int(last["f_evals"]), int(last["g_evals"])) == (res.f_evals, res.g_evals)
    assert res.f_evals + res.g_evals <= max_evals
    assert int(last["iter"]) == res.iters
