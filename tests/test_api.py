"""The public faces of the core: attnopt.minimize on any problem, attnopt.ask_tell from any loop."""
from __future__ import annotations

import numpy as np
import pytest

import attnopt
from attnopt import landscapes
from attnopt.errors import ConfigError


def rosen(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def test_minimize_takes_a_plain_callable_and_answers_to_scipy_names():
    res = attnopt.minimize(rosen, "cma", x0=[1.3, 0.7, 0.8], seed=0, max_iters=None, max_evals=3000)
    assert res.fun == res.best_loss < 1e-6
    assert res.nfev == res.f_evals and res.njev == res.g_evals == 0 and res.nit == res.iters
    assert res.status == "budget_exhausted" and res.success is False and "max_evals" in res.message
    np.testing.assert_allclose(res.best_x, np.ones(3), atol=1e-2)


def test_a_callable_counts_like_a_landscape_and_vectorized_is_one_call_per_batch():
    calls = []

    def batch(X):
        calls.append(X.shape)
        return (X**2).sum(axis=1)

    one = attnopt.minimize(lambda x: float((x**2).sum()), "attention", x0=np.ones(4), seed=1, max_iters=5)
    many = attnopt.minimize(batch, "attention", x0=np.ones(4), seed=1, max_iters=5, vectorized=True)
    ref = attnopt.minimize(landscapes.make("sphere", 4), "attention", x0=np.ones(4), seed=1, max_iters=5)
    for res in (one, many):  # the same run (to rounding: numpy sums a row and a vector in other orders)
        for column in ("f_evals", "g_evals", "phase"):
            assert res.history[column].tolist() == ref.history[column].tolist()
        np.testing.assert_allclose(res.history["loss"], ref.history["loss"], rtol=1e-12)
    assert calls == [(1, 4)] + [(64, 4), (1, 4)] * 5


def test_gradients_come_from_grad_or_jac():
    f = lambda x: float((x**2).sum())  # noqa: E731
    g = lambda x: 2 * x  # noqa: E731
    fg = lambda x: (float((x**2).sum()), 2 * x)  # noqa: E731
    ref = attnopt.minimize(landscapes.make("sphere", 3), "gd", x0=[1.0, 2.0, 3.0], lr=0.1, max_iters=20)
    for kw in (dict(grad=g), dict(jac=g)):
        res = attnopt.minimize(f, "gd", x0=[1.0, 2.0, 3.0], lr=0.1, max_iters=20, **kw)
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)
    res = attnopt.minimize(fg, "gd", x0=[1.0, 2.0, 3.0], lr=0.1, max_iters=20, jac=True)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-12)
    assert res.njev == res.nfev == 21
    with pytest.raises(ConfigError, match="needs gradients and the function has none: pass grad="):
        attnopt.minimize(f, "gd", x0=[1.0, 2.0])


def test_bounds_set_where_x0_and_restarts_are_drawn():
    f = lambda X: ((X - 50.0) ** 2).sum(axis=1)  # noqa: E731
    res = attnopt.minimize(f, "attention_ipop", bounds=[(40, 60)] * 3, vectorized=True, seed=0, max_iters=200,
                           restart_patience=5)
    x0 = res.history["loss"].iloc[0]
    assert x0 <= 3 * 10.0**2  # drawn in [40, 60]^3
    restarts = res.history.index[res.history["phase"] == "restart"]
    assert len(restarts) > 0 and (res.history["loss"].iloc[restarts] <= 300).all()
    same = attnopt.minimize(f, "attention_ipop", bounds=([40] * 3, [60] * 3), vectorized=True, seed=0, max_iters=200,
                            restart_patience=5)
    assert same.history.drop(columns="time_s").equals(res.history.drop(columns="time_s"))
    with pytest.raises(ConfigError, match="bounds=.* is invalid"):
        attnopt.minimize(f, "attention", bounds=[(1, 0)] * 3, vectorized=True)


def test_callback_sees_every_iteration_and_can_stop_the_run():
    seen = []

    def callback(info):
        seen.append((info.iter, info.f_evals, info.best_loss))
        return info.iter == 7

    res = attnopt.minimize("sphere", "gd", dim=3, max_iters=100, callback=callback)
    assert [s[0] for s in seen] == list(range(1, 8)) and res.status == "stopped" and res.nit == 7
    assert seen[-1][1] == res.nfev


def test_the_status_tells_the_iteration_cap_from_the_evaluation_budget():
    f = landscapes.make("sphere", 3)
    assert attnopt.minimize(f, "gd", max_iters=10).status == "max_iters"
    assert attnopt.minimize(f, "gd", max_iters=None, max_evals=10).status == "budget_exhausted"
    assert attnopt.minimize(f, "gd", lr=0.1, max_iters=1000, target=1e-6).success


def test_verbose_prints_a_pycma_style_progress_line(capsys):
    attnopt.minimize("rastrigin", "attention_ipop", dim=3, max_iters=25, verbose=10)
    err = capsys.readouterr().err.splitlines()
    assert err[0].split()[:4] == ["Iterat", "#Fevals", "#Gevals", "best"]
    shown = [int(line.split()[0]) for line in err[1:]]
    assert shown == [0, 1, 2, 3, 10, 20, 25]
    sigmas = [line.split()[5] for line in err[1:]]
    assert all(float(s) > 0 for s in sigmas)
    attnopt.minimize("sphere", "gd", dim=3, max_iters=3, verbose=1)
    assert capsys.readouterr().err.splitlines()[1].split()[5] == "-"  # gd has no sigma


def test_ask_tell_reproduces_minimize_from_ones_own_loop():
    f = landscapes.make("rastrigin", 4)
    x0 = np.full(4, 2.0)
    res = attnopt.minimize(f, "attention_ipop", x0=x0, seed=3, max_iters=30, restart_patience=4)
    es = attnopt.ask_tell("attention_ipop", x0, seed=3, bounds=f.init_bounds, restart_patience=4)
    while es.iters < 30:
        X = es.ask()
        assert X.ndim == 2 and X.shape[1] == 4 and not es.needs_grad
        es.tell(X, f(X))
    assert es.f_evals == res.f_evals and es.best_loss == res.best_loss
    np.testing.assert_array_equal(es.best_x, res.best_x)
    np.testing.assert_array_equal(es.x, res.x)


def test_ask_tell_with_gradients_and_its_errors():
    es = attnopt.ask_tell("adam", [1.0, -1.0], lr=0.1)
    X = es.ask()
    assert X.shape == (1, 2) and es.needs_grad
    with pytest.raises(ConfigError, match="needs gradients"):
        es.tell(X, (X**2).sum(axis=1))
    with pytest.raises(ConfigError, match="points other than those ask"):
        es.tell(X + 1, (X**2).sum(axis=1), 2 * X)
    for _ in range(200):
        X = es.ask()
        es.tell(X, (X**2).sum(axis=1), 2 * X)
    assert es.best_loss < 1e-3 and es.iters == 199
    with pytest.raises(ConfigError, match="tell\\(\\) before ask\\(\\)"):
        attnopt.ask_tell("gd", [0.0]).tell([[0.0]], [0.0])


def test_ask_tell_takes_a_partial_population_where_the_optimizer_allows():
    es = attnopt.ask_tell("cma", np.zeros(3), popsize=8)
    es.tell(es.ask(), np.zeros(1))  # x0
    X = es.ask()
    es.tell(X[:3], (X[:3] ** 2).sum(axis=1))
    assert es.f_evals == 4
    es2 = attnopt.ask_tell("attention", np.zeros(3))
    es2.tell(es2.ask(), [0.0])
    X = es2.ask()
    with pytest.raises(ConfigError, match="shape"):
        es2.tell(X[:3], np.zeros(3))


def test_attnopt_run_prints_the_progress_line_with_progress_k(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "attnopt"
    out = subprocess.run([str(exe), "run", "progress=4", "budget.max_iters=9", "plot=false", "dimension=3",
                          f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Iterat"))
    assert [int(line.split()[0]) for line in lines[header + 1:header + 8]] == [0, 1, 2, 3, 4, 8, 9]
    assert out.stdout.startswith("max_iters: attention on rastrigin d=3")
    bad = subprocess.run([str(exe), "run", "progress=-3", f"hydra.run.dir={tmp_path / 'bad'}"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "progress=-3 is invalid" in bad.stderr
