"""Optimizers: known answers, agreement with torch, batching, weightings, parameter validation."""
import numpy as np
import pytest
import torch

import attnopt
from attnopt.runner import iterate, start
from attnopt import landscapes, optimizers
from attnopt.errors import ConfigError
from attnopt.optimizers import weights
from attnopt.oracle import Oracle
from doubles import CallRecorder

GRADIENT_METHODS = {"gd": dict(lr=0.1), "sgd": dict(lr=0.05, momentum=0.9), "adam": dict(lr=0.05)}
SAMPLING_METHODS = ["attention", "attention_explore"]


@pytest.mark.parametrize("name,params", GRADIENT_METHODS.items())
def test_gradient_methods_solve_the_sphere(name, params):
    res = attnopt.minimize(landscapes.make("sphere", 10), name, seed=0, max_iters=3000, **params)
    assert res.best_loss < 1e-8
    assert res.status == "max_iters"


@pytest.mark.parametrize("name", SAMPLING_METHODS)
def test_sampling_methods_reduce_the_sphere_a_hundredfold_in_300_steps(name):
    f = landscapes.make("sphere", 10)
    for seed in range(3):
        res = attnopt.minimize(f, name, seed=seed, max_iters=300)
        start = res.history["loss"].iloc[0]
        assert res.best_loss < start / 100, (seed, start, res.best_loss)


def test_gd_step_is_exact_on_a_quadratic():
    f = landscapes.make("sphere", 3)
    x0 = np.array([1.0, -2.0, 0.5])
    res = attnopt.minimize(f, "gd", x0=x0, lr=0.1, max_iters=1)
    assert np.allclose(res.x, x0 * (1 - 2 * 0.1))


def test_attention_with_one_trial_and_eta_one_moves_to_that_trial():
    """With a single trial its weight is 1, so x_new is exactly the trial point."""
    f = landscapes.make("sphere", 4)
    opt = optimizers.make("attention", n_trials=1, sigma=0.5)
    rng = np.random.default_rng(3)
    oracle = Oracle(f)
    state = start(opt, np.zeros(4), oracle, rng)
    expected = 0.5 * np.random.default_rng(3).standard_normal((1, 4))[0]
    new, phase = iterate(opt, state, oracle, rng)
    assert np.allclose(new.x, expected) and phase == "attention"
    assert oracle.f_evals == 3 and oracle.g_evals == 0  # x0, one trial, the new point


def torch_trajectory(make_opt, x0, grad_fn, steps):
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = make_opt([p])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        p.grad = torch.tensor(grad_fn(p.detach().numpy()), dtype=torch.float64)
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def our_trajectory(name, params, f, x0, steps):
    opt = optimizers.make(name, **params)
    oracle, rng = Oracle(f), np.random.default_rng(0)
    state = start(opt, x0, oracle, rng)
    out = []
    for _ in range(steps):
        state, _ = iterate(opt, state, oracle, rng)
        out.append(state.x.copy())
    return np.array(out)


@pytest.mark.parametrize("params", [dict(lr=0.01), dict(lr=0.05, beta1=0.5, beta2=0.9, eps=1e-6)])
def test_adam_equals_torch_adam_step_for_step(params):
    f = landscapes.make("rosenbrock", 5)
    x0 = np.random.default_rng(0).uniform(-2, 2, 5)
    # Rosenbrock amplifies the odd 1-ulp difference (torch's tensor pow for the bias corrections)
    # exponentially, so compare the first 60 steps, where both agree to ~1e-15.
    ours = our_trajectory("adam", params, f, x0, 60)
    theirs = torch_trajectory(
        lambda ps: torch.optim.Adam(ps, lr=params["lr"], betas=(params.get("beta1", 0.9), params.get("beta2", 0.999)),
                                    eps=params.get("eps", 1e-8)), x0, f.grad, 60)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_equals_torch_sgd(nesterov):
    f = landscapes.make("rastrigin", 4)
    x0 = np.random.default_rng(1).uniform(-2, 2, 4)
    ours = our_trajectory("sgd", dict(lr=1e-3, momentum=0.8, nesterov=nesterov), f, x0, 100)
    theirs = torch_trajectory(lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.8, nesterov=nesterov), x0, f.grad, 100)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name,n", [("attention", 64), ("attention_explore", 64)])
def test_attention_evaluates_all_trials_in_one_call(name, n):
    f = CallRecorder(7)
    attnopt.minimize(f, name, max_iters=5)
    # init: one point; then per step: one batch of n trials + the new point
    assert f.calls == [(1, 7)] + [(n, 7), (1, 7)] * 5


@pytest.mark.parametrize("name", list(GRADIENT_METHODS) + SAMPLING_METHODS)
def test_same_seed_same_history(name):
    f = landscapes.make("rastrigin", 6)
    a = attnopt.minimize(f, name, seed=11, max_iters=50).history.drop(columns="time_s")
    b = attnopt.minimize(f, name, seed=11, max_iters=50).history.drop(columns="time_s")
    c = attnopt.minimize(f, name, seed=12, max_iters=50).history.drop(columns="time_s")
    assert a.equals(b)
    assert not a.equals(c)


# --- weightings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [weights.softmax(1.0), weights.softmax(1e6), weights.rank()])
def test_weights_are_a_distribution_favouring_low_losses(make):
    losses = np.array([3.0, 1.0, 2.0, 10.0])
    w = make(losses)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert np.argmax(w) == 1 and w[1] >= w[2] >= w[0] >= w[3]


@pytest.mark.parametrize("make", [weights.softmax(1.0), weights.softmax(50.0), weights.rank()])
def test_weights_survive_extreme_and_non_finite_losses(make):
    losses = np.array([1e300, np.inf, np.nan, -1e300, 5.0, -np.inf])
    w = make(losses)
    assert np.isfinite(w).all() and w.sum() == pytest.approx(1.0)
    assert w[1] == w[2] == w[5] == 0.0  # non-finite trials get nothing
    assert np.argmax(w) == 3
    assert (make(np.array([np.nan, np.inf])) == 0).all()


def test_softmax_matches_the_textbook_formula_at_moderate_scale():
    losses = np.array([0.3, 1.2, -0.4])
    expected = np.exp(-2.0 * losses) / np.exp(-2.0 * losses).sum()
    np.testing.assert_allclose(weights.softmax(2.0)(losses), expected, rtol=1e-14)


def test_rank_weights_ignore_the_loss_scale():
    losses = np.array([4.0, 1.0, 3.0, 2.0, 9.0])
    np.testing.assert_array_equal(weights.rank()(losses), weights.rank()(1e6 * losses))


def test_attention_keeps_still_when_every_trial_is_non_finite():
    class Nan(CallRecorder):
        def _value(self, X):
            return np.where(X.shape[0] > 1, np.nan, 1.0) * np.ones(X.shape[0])

    res = attnopt.minimize(Nan(3), "attention", x0=[1.0, 2.0, 3.0], max_iters=3)
    assert np.array_equal(res.x, [1.0, 2.0, 3.0]) and res.status == "max_iters"


# --- configs and validation ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "name,params,message",
    [
        ("attention", dict(sigma=0), "optimizer.sigma=0 is invalid: must be > 0"),
        ("attention", dict(beta=-1), "optimizer.beta=-1 is invalid: must be > 0"),
        ("attention", dict(eta=0), "optimizer.eta=0 is invalid: must be > 0"),
        ("attention", dict(n_trials=0), "optimizer.n_trials=0 is invalid: must be > 0"),
        ("attention", dict(n_trials="many"), "optimizer.n_trials='many' is invalid: expected an integer"),
        ("attention", dict(weighting="argmax"), "optimizer.weighting='argmax' is invalid: must be one of"),
        ("attention", dict(sigmaa=1), "unknown key 'optimizer.sigmaa' \\(did you mean 'sigma'\\?\\)"),
        ("attention_explore", dict(n_exploit=0, n_explore=0), "must sum to at least 1"),
        ("gd", dict(lr=0), "optimizer.lr=0 is invalid: must be > 0"),
        ("adam", dict(lr=-1e-3), "optimizer.lr=-0.001 is invalid"),
        ("sgd", dict(momentum=1.5), "optimizer.momentum=1.5 is invalid: must be <= 1"),
        ("nope", {}, "unknown optimizer 'nope'; choose from: adam, attention"),
    ],
)
def test_bad_parameters_give_one_clear_line(name, params, message):
    with pytest.raises(ConfigError, match=message) as info:
        optimizers.make(name, **params)
    assert "\n" not in str(info.value)
