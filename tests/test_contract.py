"""One contract over the whole registry: every registered optimizer, on every backend it declares.

A new optimizer is covered by registering it (attnopt.optimizers.REGISTRY). The contract:
budgets are exact and the result's totals are the history's last row; nothing evaluates behind
the ledger; the same seed gives the same history (restarts included); non-finite losses end the
run ``diverged``; every parameter reaches what it configures; and each improves on a sphere
within a stated budget.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

import attnopt
from attnopt import backend, landscapes, optimizers
from attnopt.landscapes import Landscape
from attnopt.params import bind, signature_params
from doubles import Counting
from golden.make_golden import learned_checkpoint

_CKPT = tempfile.TemporaryDirectory()
CHECKPOINT = learned_checkpoint(Path(_CKPT.name))

#: what an optimizer needs to run at all (nothing else: the contract is about the defaults)
REQUIRED = {"learned": dict(checkpoint=CHECKPOINT)}
#: settings that reach a mechanism (restarts, phase switches) within a short run
BUSY = {
    "attention": dict(restarts=3, restart_patience=3),
    "attention_explore": dict(restarts=3, restart_patience=3),
    "attention_ipop": dict(restart_patience=3),
    "hybrid1": dict(plateau_patience=1, plateau_tol=0.5, attn_steps_per_phase=2),
    "hybrid2": dict(gd_steps_per_cycle=3, attn_steps_per_cycle=2),
    "hybrid3": dict(gd_steps_per_restart=3, attn_steps_per_restart=2, num_restarts=2),
    "cma": dict(popsize=4, max_restarts=3),
    "attention_cma": dict(n_trials=4, incpopsize=1.5),
    "hybrid_cma": dict(n_trials=4, descent_iters=2),
    "dual_annealing": dict(evals_per_step=7),
    "basinhopping": dict(evals_per_step=7),
}
BACKENDS = [("numpy", "float64"), ("numpy", "float32"), ("torch", "float64")]


def cases():
    out = []
    for name in optimizers.names():
        any_backend = optimizers.make(name, **REQUIRED.get(name, {})).any_backend
        for arrays in (BACKENDS if any_backend else BACKENDS[:1]):
            out.append(pytest.param(name, *arrays, id=f"{name}-{arrays[0]}-{arrays[1]}"))
    return out


def make(name, **params):
    return {**REQUIRED.get(name, {}), **params}


def history(res):
    return res.history.drop(columns="time_s")


@pytest.mark.parametrize("name,backend_name,dtype", cases())
@pytest.mark.parametrize("max_evals", [97, 400])
def test_budget_is_exact_and_nothing_evaluates_behind_the_ledger(name, backend_name, dtype, max_evals):
    f = Counting(3, shift=1.0)
    res = attnopt.minimize(f, name, seed=1, max_iters=None, max_evals=max_evals, backend=backend_name, dtype=dtype,
                           **make(name, **BUSY.get(name, {})))
    h = res.history
    assert res.f_evals + res.g_evals <= max_evals
    assert (int(h["f_evals"].iloc[-1]), int(h["g_evals"].iloc[-1]), int(h["iter"].iloc[-1])) == (
        res.f_evals, res.g_evals, res.iters)
    assert (f.f_calls, f.g_calls) == (res.f_evals, res.g_evals)
    assert res.status == "budget_exhausted"
    assert np.all(np.diff(h["f_evals"] + h["g_evals"]) > 0)
    assert res.best_loss == h["best_loss"].iloc[-1] <= np.nanmin(h["loss"].to_numpy(dtype=float))


@pytest.mark.parametrize("name,backend_name,dtype", cases())
def test_same_seed_same_history_restarts_included(name, backend_name, dtype):
    f = landscapes.make("rastrigin", 3)
    params = make(name, **BUSY.get(name, {}))
    runs = []
    for seed in (4, 4, 5):
        np.random.seed(seed)  # numpy's global generator must not matter
        runs.append(history(attnopt.minimize(f, name, seed=seed, max_iters=None, max_evals=600,
                                             backend=backend_name, dtype=dtype, **params)))
    assert runs[0].equals(runs[1])
    assert not runs[0].equals(runs[2])


class Poisoned(Landscape):
    """NaN everywhere."""

    name = "poisoned"

    def _value(self, X):
        return backend.like(np.full(X.shape[0], np.nan), X)

    def _grad(self, X):
        return backend.like(np.full(tuple(X.shape), np.nan), X)


@pytest.mark.parametrize("name,backend_name,dtype", cases())
def test_non_finite_losses_end_the_run_diverged(name, backend_name, dtype):
    res = attnopt.minimize(Poisoned(3), name, seed=0, max_iters=500, backend=backend_name, dtype=dtype,
                           **make(name))
    assert res.status == "diverged"
    assert not math.isfinite(res.history["loss"].iloc[-1]) and res.iters < 500
    assert res.best_loss == math.inf and res.best_x is None


#: parameters that configure nothing by themselves, with the reason
NOT_SETTINGS = {
    ("learned", "checkpoint"): "names the network (any other file is another optimizer)",
    ("learned", "features"): "a check that the checkpoint was trained on these features, not a setting",
}
#: the context in which a parameter acts (it is inert elsewhere by design)
CONTEXT = {
    "ess_target": dict(weighting="ess"), "attn_ess_target": dict(attn_weighting="ess"),
    "restart_patience": dict(restarts=3), "beta": dict(weighting="softmax"),
    "attn_beta": dict(attn_weighting="softmax"), "lr_attn_beta": dict(lr_weighting="softmax"), "nesterov": dict(momentum=0.9),
    # the convergence window alone triggers the restarts
    "restart_tol": dict(restarts=3, restart_patience=100_000),
}
#: per optimizer and parameter, where the context differs from CONTEXT
SPECIAL = {
    ("cma", "max_restarts"): dict(popsize=4), ("cma", "incpopsize"): dict(popsize=4, max_restarts=3),
    ("attention_cma", "narrow_at"): dict(n_trials=4, incpopsize=4.0, max_evals=3000),
    ("dual_annealing", "maxiter"): dict(no_local_search=True),
    ("dual_annealing", "restart_temp_ratio"): dict(no_local_search=True, maxiter=2000),
}
#: values to try first, where the generic ones (x2, x0.5, +1, ...) act only beyond a short run
ALTERNATIVES = {"restart_tol": [1e6], "popsize": [6], "memory": [1], "descent_iters": [1], "restart_patience": [2], "maxiter": [3], "interval": [1], "niter": [1],
                "restart_temp_ratio": [0.5], "max_restarts": [0], "evals_per_step": [3], "incpopsize": [5.0],
                "restarts": [1, 0], "num_restarts": [1], "T": [100.0, 0.01], "n_trials": [6, 12],
                "narrow_at": [0.0, 0.5],
                # unset by default (the scale-free modes): a value turns on the report's fixed scale
                "gd_lr": [1e-3], "lr_min": [1e-5], "lr_max": [0.1]}


def alternatives(name, key, spec):
    """Valid values other than the default, the first one that binds."""
    tp, constraints, default = spec
    if key in ALTERNATIVES:
        return ALTERNATIVES[key]
    if tp is bool:
        return [not default]
    if tp is str:
        choices = [c for c in constraints if c.text.startswith("one of ")]
        return [v for v in choices[0].text[len("one of "):].split(", ") if v != default]
    if tp is int:
        return [default + 1, default * 2, max(default - 1, 1)]
    if tp is float:
        return [default * 2.0, default * 0.5, default * 0.9]
    return []


def parameters():
    return [pytest.param(name, key, spec, id=f"{name}.{key}")
            for name in optimizers.names() for key, spec in signature_params(optimizers.REGISTRY[name]).items()
            if (name, key) not in NOT_SETTINGS]


@pytest.mark.parametrize("name,key,spec", parameters())
def test_every_parameter_reaches_what_it_configures(name, key, spec):
    f = landscapes.make("rastrigin", 3)
    base = {**BUSY.get(name, {}), **CONTEXT.get(key, {}), **SPECIAL.get((name, key), {})}
    max_evals = base.pop("max_evals", 900)
    base = {k: v for k, v in base.items() if k != key and k in signature_params(optimizers.REGISTRY[name])}
    reference = history(attnopt.minimize(f, name, seed=0, max_iters=None, max_evals=max_evals,
                                         **make(name, **base)))
    tried = []
    for value in alternatives(name, key, spec):
        try:
            bind(optimizers.REGISTRY[name], make(name, **{**base, key: value}))
        except attnopt.ConfigError:
            continue
        tried.append(value)
        changed = history(attnopt.minimize(f, name, seed=0, max_iters=None, max_evals=max_evals,
                                           **make(name, **{**base, key: value})))
        if not changed.equals(reference):
            return
    assert tried, f"no valid alternative value for {name}.{key}"
    pytest.fail(f"{name}.{key}: changing it to {tried} left the history unchanged")


#: the budget (evaluations) within which each optimizer must cut the sphere's loss tenfold
SPHERE_BUDGET = 4000
#: settings of the sphere test where the default does not suit a 4-d sphere within that budget
SPHERE_SETTINGS = {"adam": dict(lr=0.05), "sgd": dict(lr=0.01)}


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """learned is an optimizer once meta-trained: 5 meta-iterations on 2-d quadratics (a few
    seconds) are enough for it to descend a sphere; the untrained network is not held to it."""
    import torch

    from attnopt.optimizers.learned_nets import LearnedOptimizer
    from attnopt.meta.tasks import make_family
    from attnopt.meta.train import TrainConfig, meta_train
    from attnopt.optimizers.learned_nets import save_checkpoint

    torch.manual_seed(0)
    model = LearnedOptimizer(kind="lstm", features="logsign")
    meta_train(model, [make_family("quadratic")], TrainConfig(meta_iters=5, meta_batch=8, horizon=10, unroll=5,
                                                               meta_lr=1e-2), progress=False)
    return str(save_checkpoint(tmp_path_factory.mktemp("l2l") / "trained.pt", model, {}))


@pytest.mark.parametrize("name", optimizers.names())
def test_improves_on_a_sphere_within_the_stated_budget(name, request):
    f = landscapes.make("sphere", 4)
    params = make(name, **SPHERE_SETTINGS.get(name, {}))
    if name == "learned":
        params["checkpoint"] = request.getfixturevalue("trained_checkpoint")
    res = attnopt.minimize(f, name, seed=0, max_iters=None, max_evals=SPHERE_BUDGET, **params)
    start = float(res.history["loss"].iloc[0])
    assert res.best_loss <= start / 10, (start, res.best_loss)
