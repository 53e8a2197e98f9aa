"""ML task landscapes (linreg, logreg, mlp) and the Table 2 / Figure 2-3 experiment code."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import attnopt
from attnopt import landscapes
from attnopt.errors import ConfigError
from attnopt.landscapes.tasks import Task
from attnopt.oracle import Oracle

# Small problems: a 3-hidden-unit network on 2-D moons has (2 + 2) * 3 + 1 = 13 parameters.
SMALL = {
    "linreg": dict(dim=6, params=dict(n_samples=60, n_features=5)),
    "logreg": dict(dim=5, params=dict(dataset="synthetic", n_samples=60, n_features=4)),
    "mlp": dict(dim=13, params=dict(dataset="moons", n_samples=60, hidden=3, noise=0.2)),
}


def small(name: str) -> Task:
    return landscapes.make(name, SMALL[name]["dim"], **SMALL[name]["params"])


def reference_losses(task: Task, X: np.ndarray) -> np.ndarray:
    """One torch module per parameter vector, loaded with vector_to_parameters: the layout the task
    promises (nn.Sequential's parameter order), evaluated the plain way, network by network."""
    out = []
    Xt = torch.from_numpy(task.split.X_train)
    yt = torch.from_numpy(task.split.y_train)
    for x in X:
        layers: list[torch.nn.Module] = []
        widths = task.widths
        for k in range(len(widths) - 1):
            layers.append(torch.nn.Linear(widths[k], widths[k + 1], dtype=torch.float64))
            if k < len(widths) - 2:
                layers.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*layers)
        torch.nn.utils.vector_to_parameters(torch.from_numpy(x.copy()), net.parameters())
        with torch.no_grad():
            pred = net(Xt).squeeze(-1)
        if task.loss_kind == "mse":
            out.append(float(torch.nn.functional.mse_loss(pred, yt)))
        else:
            out.append(float(torch.nn.functional.binary_cross_entropy(torch.sigmoid(pred), yt)))
    return np.array(out)


@pytest.mark.parametrize("name", ["linreg", "logreg", "mlp"])
def test_batched_evaluation_equals_a_loop_over_networks(name):
    task = small(name)
    X = np.random.default_rng(0).normal(0, 1.0, (7, task.dim))
    np.testing.assert_allclose(task(X), reference_losses(task, X), rtol=1e-10, atol=1e-12)
    # one point gives a scalar equal to its row of the batch
    assert np.isclose(task(X[3]), task(X)[3], rtol=1e-12)


@pytest.mark.parametrize("name", ["linreg", "logreg", "mlp"])
def test_autograd_gradient_matches_finite_differences(name):
    task = small(name)
    rng = np.random.default_rng(1)
    X = rng.normal(0, 0.7, (3, task.dim))
    G = task.grad(X)
    h = 1e-6
    E = np.eye(task.dim)
    for i in range(len(X)):
        # central differences, every coordinate at once as one batch
        fd = (task(X[i] + h * E) - task(X[i] - h * E)) / (2 * h)
        np.testing.assert_allclose(G[i], fd, rtol=1e-5, atol=1e-7)
    values, grads = task.value_and_grad(X)
    np.testing.assert_array_equal(values, task(X))
    np.testing.assert_array_equal(grads, G)
    v0, g0 = task.value_and_grad(X[0])
    assert np.ndim(v0) == 0 and g0.shape == (task.dim,)


def test_trial_batch_is_one_model_call(monkeypatch):
    task = small("mlp")
    calls = []
    original = Task._outputs
    monkeypatch.setattr(Task, "_outputs", lambda self, theta, X: calls.append(theta.shape[0]) or original(self, theta, X))
    oracle = Oracle(task)
    oracle.f(np.zeros((20, task.dim)))
    assert calls == [20]
    assert oracle.f_evals == 20


def test_features_standardised_on_the_training_split_and_split_sizes():
    task = landscapes.make("logreg", 31, val_fraction=0.25)  # breast cancer, 569 samples
    Xtr, Xva = task.split.X_train, task.split.X_val
    assert len(Xva) == round(0.25 * 569) and len(Xtr) + len(Xva) == 569
    np.testing.assert_allclose(Xtr.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Xtr.std(axis=0), 1, atol=1e-12)
    assert not np.allclose(Xva.mean(axis=0), 0, atol=1e-3)  # validation uses the training statistics
    reg = landscapes.make("linreg", 11)
    assert abs(reg.split.y_train.mean()) < 1e-12 and abs(reg.split.y_train.std() - 1) < 1e-12


def test_generated_data_follow_data_seed_and_shipped_sets_load():
    a, b, c = (landscapes.make("mlp", 193, data_seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.split.X_train, b.split.X_train)
    assert not np.array_equal(a.split.X_train, c.split.X_train)
    digits = landscapes.make("logreg", 65, dataset="digits")
    assert set(np.unique(digits.split.y_train)) == {0.0, 1.0}
    diabetes = landscapes.make("linreg", 11, dataset="diabetes")
    assert diabetes.n_features == 10


def test_linreg_optimum_is_least_squares_and_gd_finds_it():
    task = small("linreg")
    assert np.linalg.norm(task.grad(task.x_opt)) < 1e-10
    res = attnopt.minimize(task, "gd", lr=0.3, max_iters=300, seed=0)
    assert res.loss == pytest.approx(task.f_opt, rel=1e-9)
    np.testing.assert_allclose(res.x, task.x_opt, atol=1e-6)


def test_attention_search_trains_the_network_and_records_validation():
    task = small("mlp")
    res = attnopt.minimize(task, "attention", n_trials=20, sigma=0.05, beta=200.0, max_iters=150, seed=0)
    start = res.history["loss"].iloc[0]
    assert res.loss < 0.7 * start  # it learns without a gradient
    assert {"val_loss", "val_accuracy"} <= set(res.history.columns)
    assert res.final_metrics["val_loss"] == pytest.approx(float(task.validation_loss(res.x)))
    again = attnopt.minimize(task, "attention", n_trials=20, sigma=0.05, beta=200.0, max_iters=150, seed=0)
    pd.testing.assert_frame_equal(res.history.drop(columns="time_s"), again.history.drop(columns="time_s"))


def test_x0_follows_torch_default_initialisation():
    task = landscapes.make("mlp", 193)
    x0 = task.sample_x0(np.random.default_rng(0))
    first = x0[: 16 * 10 + 16]  # Linear(10, 16): fan-in 10
    second = x0[16 * 10 + 16:]  # Linear(16, 1): fan-in 16
    assert np.abs(first).max() <= 1 / np.sqrt(10) and np.abs(first).max() > 0.9 / np.sqrt(10)
    assert np.abs(second).max() <= 1 / np.sqrt(16)
    module = task.as_module(x0)
    assert float(task(x0)) == pytest.approx(reference_losses(task, x0[None])[0], rel=1e-12)
    assert isinstance(module, torch.nn.Sequential)


@pytest.mark.parametrize(
    "name, dim, params, message",
    [
        ("logreg", 31, {"dataset": "iris"}, "landscape.dataset='iris' is invalid: must be one of"),
        ("mlp", 10, {}, "dimension=10 does not match landscape mlp: dataset=synthetic has 10 features and "
                        "hidden=16, which gives 193 parameters; set dimension=193"),
        ("logreg", 10, {}, "set dimension=31"),
        ("logreg", 31, {"n_features": 5}, "landscape.n_features=5 only applies to generated data"),
        ("mlp", 193, {"hidden": 0}, "landscape.hidden=0 is invalid: must be >= 1"),
        ("linreg", 11, {"val_fraction": 0.0}, "landscape.val_fraction=0.0 is invalid"),
        ("logreg", 11, {"dataset": "synthetic", "noise": 2.0}, "landscape.noise=2.0 is invalid for dataset=synthetic"),
        ("linreg", 11, {"n_samples": 10, "val_fraction": 0.9}, "it must leave at least 1 validation and 2 training"),
    ],
)
def test_bad_task_config_is_one_clear_error(name, dim, params, message):
    with pytest.raises(ConfigError) as err:
        landscapes.make(name, dim, **params)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["linreg", "logreg", "mlp"])
def test_shipped_config_composes_with_the_right_dimension(name):
    from hydra import compose, initialize_config_module

    from attnopt.run import build

    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        cfg = compose(config_name="config", overrides=[f"landscape={name}", "optimizer=gd"])
    spec = build(cfg)
    assert spec.landscape.name == name
    defaults = {k: v for k, v in cfg.landscape.items() if k != "name"}
    assert spec.landscape.dim == landscapes.make(name, spec.dimension, **defaults).dim


@pytest.mark.slow
def test_cli_runs_a_task_and_rejects_a_wrong_dimension(tmp_path, capsys):
    from attnopt.cli import main

    args = ["run", "landscape=mlp", "landscape.hidden=4", "optimizer=gd", "budget.max_iters=5", "plot=false",
            f"hydra.run.dir={tmp_path / 'run'}"]
    assert main(args + ["dimension=49"]) == 0
    summary = pd.read_json(tmp_path / "run" / "summary.json", typ="series")
    assert np.isfinite(summary["val_loss"]) and summary["iters"] == 5
    capsys.readouterr()
    assert main(args + ["dimension=50"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "attnopt: error: dimension=50 does not match landscape mlp: dataset=synthetic has 10 features and "
        "hidden=4, which gives 49 parameters; set dimension=49"]


# --- the experiment code -------------------------------------------------------------------------


def test_table2_measures_targets_from_histories(tmp_path):
    from attnopt.experiments import ml

    exp = ml.Experiment((ml.Task("mlp", 13, {"dataset": "moons", "hidden": 3, "n_samples": 80, "noise": 0.2}),),
                        {"gd": {"lr": 0.5}, "attention": {"n_trials": 10, "sigma": 0.05, "beta": 200.0}}, 2, 15)
    dirs = ml.run_jobs([exp], tmp_path, "test")
    runs, histories = ml.load(dirs)
    assert len(runs) == 4 and set(runs["optimizer"]) == {"gd", "attention"}
    # named as every run directory is (attnopt.rundir.run_name): readable, ending with the config hash
    from attnopt import rundir

    summaries = [rundir.read_summary(d) for d in dirs]
    assert [d.name for d in dirs] == [f"{s['optimizer']}_mlp_d13_s{s['seed']}_{s['config_hash'][:8]}"
                                      for s in summaries]
    table = ml.table2(runs, histories)
    assert list(table["optimizer"]) == ["attention", "gd"] or list(table["optimizer"]) == ["gd", "attention"]
    row = table.set_index("optimizer")
    assert row.loc["gd", "f_evals_per_iter"] == 1 and row.loc["gd", "g_evals_per_iter"] == 1
    assert row.loc["attention", "f_evals_per_iter"] == 11 and row.loc["attention", "g_evals_per_iter"] == 0
    # the automatic target is a loss every run reaches, so the times to it are finite
    assert list(row["reached"]) == ["2/2", "2/2"]
    assert np.isfinite(row["iters_to_target"]).all() and (row["iters_to_target"] <= 15).all()
    lowest = max(float(histories[d]["loss"].min()) for d in runs["run_dir"])
    assert lowest <= row["target"].iloc[0] < lowest * 1.1
    # a target nobody reaches is reported as such, not as a number
    never = ml.table2(runs, histories, target=1e-9).set_index("optimizer")
    assert np.isinf(never.loc["gd", "iters_to_target"]) and never.loc["gd", "reached"] == "0/2"
    # a re-run finds the complete results and runs nothing
    before = {d: (d / "summary.json").stat().st_mtime_ns for d in dirs}
    ml.run_jobs([exp], tmp_path, "test")
    assert before == {d: (d / "summary.json").stat().st_mtime_ns for d in dirs}


def test_nice_ceiling():
    from attnopt.experiments.ml import _nice_ceiling

    assert _nice_ceiling(0.51234) == pytest.approx(0.52)
    assert _nice_ceiling(0.52) == pytest.approx(0.52)
    assert _nice_ceiling(123.4) == pytest.approx(130)
