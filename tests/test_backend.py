"""The torch backend: landscapes and optimizers on torch tensors (CPU here; CUDA only where present).

Every landscape formula is written once against the array API, so these tests hold the torch path
to the numpy one (values and gradients), and its analytic gradients to torch autograd.
"""
import json

import numpy as np
import pandas as pd
import pytest
import torch

import attnopt
from attnopt import cli, landscapes
from attnopt.backend import ArraySpec
from attnopt.errors import ConfigError

CUDA = torch.cuda.is_available()


def mlp_dim() -> int:
    with pytest.raises(ConfigError) as info:
        landscapes.make("mlp", 1)
    return int(str(info.value).split("set dimension=")[-1])


CASES = [
    ("sphere", 6, {}), ("rastrigin", 6, {}), ("ackley", 6, {}), ("griewank", 6, {}), ("griewank", 1, {}),
    ("rosenbrock", 6, {}), ("rosenbrock", 1, {}), ("trapped", 6, {}),
    ("trapped", 150, {}),  # more parameters than samples: the residual form instead of the Gram matrix
    ("rastrigin", 5, {"rotate": True, "shift": True}), ("linreg", 11, {}), ("logreg", 31, {}),
]
IDS = [f"{n}-d{d}{'-rot' if kw else ''}" for n, d, kw in CASES]


@pytest.mark.parametrize("name,dim,params", CASES, ids=IDS)
def test_torch_values_and_gradients_equal_numpy(name, dim, params):
    f = landscapes.make(name, dim, **params)
    X = np.random.default_rng(dim).uniform(-2, 2, size=(9, dim))
    T = torch.from_numpy(X.copy())
    values, grads = f(T), f.grad(T)
    assert isinstance(values, torch.Tensor) and isinstance(grads, torch.Tensor)
    assert values.shape == (9,) and grads.shape == (9, dim) and values.dtype == torch.float64
    np.testing.assert_allclose(values.numpy(), f(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads.numpy(), f.grad(X), rtol=1e-10, atol=1e-10)
    v, g = f.value_and_grad(T[0])
    assert v.shape == () and g.shape == (dim,)
    assert float(v) == pytest.approx(float(f(X[0])), rel=1e-12, abs=1e-12)


# The ML tasks' gradients come from autograd already (and their values run under no_grad).
ANALYTIC = [(c, i) for c, i in zip(CASES, IDS) if c[0] not in ("linreg", "logreg")]


@pytest.mark.parametrize("name,dim,params", [c for c, _ in ANALYTIC], ids=[i for _, i in ANALYTIC])
def test_analytic_gradient_equals_torch_autograd(name, dim, params):
    f = landscapes.make(name, dim, **params)
    T = torch.from_numpy(np.random.default_rng(7).uniform(-2, 2, size=(4, dim))).requires_grad_(True)
    (auto,) = torch.autograd.grad(f(T).sum(), T)
    np.testing.assert_allclose(f.grad(T.detach()).numpy(), auto.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["sphere", "rastrigin", "ackley", "griewank", "rosenbrock", "trapped"])
def test_float32_in_float32_out(name):
    f = landscapes.make(name, 20)
    X = np.random.default_rng(0).uniform(-2, 2, size=(3, 20))
    for arr in (X.astype(np.float32), torch.from_numpy(X).float()):
        value, grad = f(arr), f.grad(arr)
        assert str(value.dtype).endswith("float32") and str(grad.dtype).endswith("float32")
        np.testing.assert_allclose(np.asarray(value), f(X), rtol=2e-4, atol=1e-4)


# hybrid4 on sphere: on trapped its learning-rate choice amplifies rounding differences (1e-16)
# between BLAS and torch into different trajectories within a few steps, as it would across machines.
@pytest.mark.parametrize("optimizer,params,landscape", [("gd", {"lr": 1e-3}, "trapped"), ("sgd", {}, "trapped"),
                                                        ("adam", {"lr": 0.05}, "trapped"), ("hybrid4", {}, "sphere")])
def test_deterministic_optimizers_give_the_numpy_history_on_torch(optimizer, params, landscape):
    f = landscapes.make(landscape, 5)
    runs = [attnopt.minimize(f, optimizer, seed=2, max_iters=40, backend=b, **params) for b in ("numpy", "torch")]
    a, b = (r.history.drop(columns="time_s") for r in runs)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-10)
    assert a["f_evals"].equals(b["f_evals"]) and a["g_evals"].equals(b["g_evals"])
    np.testing.assert_allclose(runs[0].x, runs[1].x, rtol=1e-9)


RANDOM = [("attention", {}), ("attention_explore", {}), ("attention_ipop", {}),
          ("attention", {"weighting": "ess", "sigma_adapt": "success"}), ("hybrid1", {}), ("hybrid3", {})]


@pytest.mark.parametrize("optimizer,params", RANDOM, ids=[f"{o}{'-' + '-'.join(p.values()) if p else ''}"
                                                          for o, p in RANDOM])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_random_optimizers_on_torch_are_deterministic_and_budget_exact(optimizer, params, dtype):
    f = landscapes.make("rastrigin", 4)
    runs = [attnopt.minimize(f, optimizer, seed=9, max_evals=1500, max_iters=None, backend="torch", dtype=dtype,
                             **params) for _ in range(2)]
    a, b = (r.history.drop(columns="time_s") for r in runs)
    assert a.equals(b)
    assert runs[0].f_evals + runs[0].g_evals <= 1500
    assert runs[0].best_loss < runs[0].history["loss"].iloc[0]
    assert isinstance(runs[0].x, np.ndarray) and runs[0].x.dtype == np.float64
    # float32 Rastrigin sums terms of size 10 d: near its minimum its value is exact only to ~1e-5
    assert runs[0].best_loss == pytest.approx(float(f(runs[0].best_x)), rel=1e-5,
                                              abs=1e-5 if dtype == "float32" else 1e-12)


def test_attention_on_torch_reduces_sphere_loss_like_numpy():
    f = landscapes.make("sphere", 10)
    for backend in ("numpy", "torch"):
        res = attnopt.minimize(f, "attention", seed=0, max_iters=300, sigma=0.1, beta=10.0, backend=backend)
        start = res.history["loss"].iloc[0]
        assert res.best_loss < start / 100, (backend, start, res.best_loss)


def test_same_start_on_every_backend():
    f = landscapes.make("ackley", 8)
    starts = [attnopt.minimize(f, "gd", seed=4, max_iters=1, backend=b, dtype=t).history["loss"].iloc[0]
              for b, t in [("numpy", "float64"), ("torch", "float64"), ("torch", "float32"), ("numpy", "float32")]]
    assert starts[0] == starts[1] and starts[2] == pytest.approx(starts[0], rel=1e-5) == starts[3]


@pytest.mark.parametrize("spec,message", [
    (dict(backend="jax"), "backend='jax' is invalid: must be one of numpy, torch"),
    (dict(dtype="float16"), "dtype='float16' is invalid: must be one of float32, float64"),
    (dict(device="cuda"), "device='cuda' is invalid with backend=numpy"),
    (dict(backend="torch", device="gpu0"), "device='gpu0' is invalid: expected a torch device"),
])
def test_bad_array_specs(spec, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ArraySpec(**spec)


@pytest.mark.skipif(CUDA, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="device='cuda' is not available: this machine has no CUDA GPU"):
        ArraySpec("torch", "cuda")


@pytest.mark.parametrize("optimizer", ["cma", "dual_annealing", "basinhopping"])
def test_numpy_only_optimizers_refuse_other_array_types(optimizer):
    pytest.importorskip("cma")
    with pytest.raises(ConfigError, match=f"optimizer={optimizer}: it runs on numpy float64 only"):
        attnopt.minimize(landscapes.make("sphere", 3), optimizer, backend="torch", max_iters=2)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (never required; make gpu-check)")
@pytest.mark.parametrize("name,dim,params", CASES, ids=IDS)
def test_cuda_values_and_gradients_equal_numpy(name, dim, params):
    f = landscapes.make(name, dim, **params)
    X = np.random.default_rng(dim).uniform(-2, 2, size=(9, dim))
    T = torch.from_numpy(X.copy()).cuda()
    values, grads = f(T), f.grad(T)
    assert values.device.type == "cuda" and grads.device.type == "cuda"
    np.testing.assert_allclose(values.cpu().numpy(), f(X), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grads.cpu().numpy(), f.grad(X), rtol=1e-8, atol=1e-8)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (never required; make gpu-check)")
@pytest.mark.parametrize("optimizer", ["attention", "attention_ipop", "adam", "hybrid3"])
def test_optimizers_on_cuda_are_budget_exact_and_improve(optimizer):
    f = landscapes.make("rastrigin", 100_000)
    res = attnopt.minimize(f, optimizer, seed=0, max_iters=None, max_evals=2000, backend="torch", device="cuda",
                           dtype="float32")
    assert res.f_evals + res.g_evals <= 2000 and res.best_loss < res.history["loss"].iloc[0]
    assert isinstance(res.x, np.ndarray)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (never required; make gpu-check)")
def test_attention_on_cuda_matches_its_own_rerun():
    f = landscapes.make("rastrigin", 1000)
    runs = [attnopt.minimize(f, "attention", seed=1, max_iters=20, backend="torch", device="cuda") for _ in range(2)]
    assert runs[0].history.drop(columns="time_s").equals(runs[1].history.drop(columns="time_s"))
    np.testing.assert_allclose(float(f(runs[0].x)), runs[0].loss, rtol=1e-10)


def test_cli_runs_on_torch_and_records_the_array_type(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "backend=torch", "dtype=float32", "dimension=3", "budget.max_iters=5", "progress=false",
                     "plot=false"])
    assert code == 0, capsys.readouterr().err
    (summary_path,) = (tmp_path / "outputs").rglob("summary.json")
    summary = json.loads(summary_path.read_text())
    assert (summary["backend"], summary["device"], summary["dtype"]) == ("torch", "cpu", "float32")
    assert summary["f_evals"] == 1 + 5 * 65 and "torch" in summary["environment"]
    assert len(pd.read_csv(summary_path.parent / "history.csv")) == 6


@pytest.mark.parametrize("args,message", [
    (["backend=torch", "device=cuda:7"], "device='cuda:7' is not available"),
    (["optimizer=cma", "backend=torch"], "backend=torch dtype=float64 is invalid for optimizer=cma"),
    (["dtype=half"], "dtype='half' is invalid: must be one of float32, float64"),
])
def test_cli_bad_array_settings_are_one_line_exit_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "outputs").exists()
