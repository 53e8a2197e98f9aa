"""Learning-rate search (attnopt.hpo, `attnopt hpo`)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import attnopt
from attnopt import hpo, landscapes
from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape

U_STAR = -1.3  # the constructed problem's best log10 learning rate


class Bowl(Landscape):
    """A constructed objective of u = log10(lr) whose best rate is known: (u - u*)^2 + 0.1, and
    +inf (a diverged training) above u = -0.5, as a real learning-rate curve has."""

    name = "bowl"

    def __init__(self):
        super().__init__(1)
        self.init_bounds = (-4.0, 0.0)
        self.calls = 0

    def _value(self, U):
        self.calls += 1
        u = U[:, 0]
        return np.where(u > -0.5, np.inf, (u - U_STAR) ** 2 + 0.1)


@pytest.mark.parametrize("method", hpo.METHODS)
def test_each_method_finds_the_best_rate_of_a_constructed_problem_with_its_exact_budget(method):
    f = Bowl()
    res = hpo.search(f, method, 30, np.random.default_rng(0))
    # 30 evaluations over 4 decades: grid spacing is 0.14 decades, so within 0.15 is a real find
    assert abs(np.log10(res.best_lr) - U_STAR) < 0.15
    assert res.evals == 30 and len(res.trials) == 30
    assert np.isfinite(res.min_val_loss) and res.min_val_loss == res.trials["val_loss"].min()
    assert res.trials["log10_lr"].between(-4, 0).all()
    if method in ("grid", "random"):
        assert f.calls == 1  # all candidates in one batched call
    if method == "attention":
        assert f.calls == 4  # one batched call per round


def test_attention_refines_the_region_around_the_weighted_mean():
    res = hpo.search(Bowl(), "attention", 40, np.random.default_rng(1), rounds=4, beta=5.0, shrink=0.5)
    u = res.trials["log10_lr"].to_numpy()
    rounds = u.reshape(4, 10)
    spread = rounds.max(axis=1) - rounds.min(axis=1)
    assert np.all(np.diff(spread) < 0)  # each round searches a narrower region
    assert abs(rounds[-1].mean() - U_STAR) < 0.2  # ... centred near the best rate
    assert abs(np.log10(res.best_lr) - U_STAR) < 0.05


def test_attention_on_raw_losses_depends_on_their_scale():
    # the report's softmax(-beta * loss): with losses 100x larger the same beta is 100x sharper
    class Scaled(Bowl):
        def _value(self, U):
            return 100.0 * super()._value(U)

    raw = [hpo.search(f, "attention", 20, np.random.default_rng(2), beta=1.0, losses="raw").trials
           for f in (Bowl(), Scaled())]
    log = [hpo.search(f, "attention", 20, np.random.default_rng(2), beta=1.0, losses="log").trials
           for f in (Bowl(), Scaled())]
    assert not np.allclose(raw[0]["log10_lr"], raw[1]["log10_lr"])
    np.testing.assert_allclose(log[0]["log10_lr"], log[1]["log10_lr"])  # log weights ignore the scale


def test_searches_are_reproducible_from_the_seed():
    for method in hpo.METHODS:
        a = hpo.search(Bowl(), method, 12, np.random.default_rng(5))
        b = hpo.search(Bowl(), method, 12, np.random.default_rng(5))
        pd.testing.assert_frame_equal(a.trials, b.trials)


def test_learning_rate_loss_equals_training_with_the_gd_optimizer():
    task = landscapes.make("linreg", 11, dataset="diabetes")
    x0 = task.sample_x0(np.random.default_rng(0))
    objective = hpo.LearningRateLoss(task, 15, x0, (-4.0, 0.0))
    u = np.array([-3.0, -1.5, -0.9])
    batched = objective(u[:, None])
    for ui, value in zip(u, batched):
        res = attnopt.minimize(task, "gd", lr=10.0**ui, x0=x0, max_iters=15)
        assert value == pytest.approx(float(task.validation_loss(res.x)), rel=1e-10)
    # far past the stable range the parameters overflow (inf - inf = NaN): scored +inf, never NaN
    assert objective(np.array([[30.0]]))[0] == np.inf


def test_compare_on_linear_regression_gets_close_to_the_dense_grid():
    make = lambda seed: landscapes.make("linreg", 11, dataset="diabetes", data_seed=seed)  # noqa: E731
    results, trials = hpo.compare(make, seeds=(0, 1), budget=16, steps=20, reference=300)
    assert len(results) == 8 and set(results["method"]) == set(hpo.METHODS)
    assert (results["evals"] == 16).all()
    assert len(trials[trials["method"] != "reference"]) == 8 * 16
    ref = trials[trials["method"] == "reference"]
    assert len(ref) == 2 * 300
    for seed, group in ref.groupby("seed"):
        assert group["val_loss"].min() == pytest.approx(results[results["seed"] == seed]["reference_loss"].iloc[0])
    # the reference grid is the best any method could do up to its resolution; each gets close
    assert (results["regret"] > -1e-3).all()
    assert (results["min_val_loss"] < 1.10 * results["reference_loss"]).all()
    smart = results[results["method"].isin(["attention", "grid"])]
    assert (smart["min_val_loss"] < 1.01 * smart["reference_loss"]).all()
    table = hpo.summarize(results)
    assert list(table["method"]) == list(hpo.METHODS) and (table["seeds"] == 2).all()


def test_cli_hpo_writes_results(tmp_path, capsys):
    from attnopt.cli import main

    out = tmp_path / "hpo"
    assert main(["hpo", "budget=8", "n_seeds=2", "reference=50", "methods=[grid,attention]", "attention.rounds=2",
                 f"out={out}", "progress=false"]) == 0
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 4 and set(results["method"]) == {"grid", "attention"}
    assert (results["evals"] == 8).all()
    assert set(pd.read_csv(out / "trials.csv")["seed"]) == {0, 1}
    assert (out / "table.md").read_text().startswith("| method |")
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["methods=[grid,foo]"], "methods=['grid', 'foo'] is invalid: must be one of grid, random, attention, tpe"),
        (["lr_min=2"], "lr_min=2.0 and lr_max=1.0 are invalid: lr_min must be < lr_max"),
        (["landscape=sphere"], "landscape=sphere is invalid for attnopt hpo"),
        (["landscape.dataset=foo"], "landscape.dataset='foo' is invalid: must be one of synthetic, diabetes"),
        (["budgte=3"], "unknown key 'budgte' (did you mean 'budget'?)"),
        (["attention.rounds=30"], "attention.rounds=30 is invalid: must be <= budget=20"),
        (["attention.losses=exp"], "attention.losses='exp' is invalid: must be one of log, raw"),
        (["dimension=5"], "set dimension=11"),
        (["budget"], "argument 'budget' is invalid: give key=value overrides"),
    ],
)
def test_cli_hpo_bad_input_is_one_line_exit_2(args, message, capsys):
    from attnopt.cli import main

    assert main(["hpo", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_search_rejects_unknown_method():
    with pytest.raises(ConfigError, match="unknown method 'adam'"):
        hpo.search(Bowl(), "adam", 5, np.random.default_rng(0))


def test_search_figure_shows_every_method_and_the_reference_curve():
    import matplotlib.pyplot as plt

    from attnopt.experiments.ml import fig_hpo

    make = lambda seed: landscapes.make("linreg", 11, dataset="diabetes", data_seed=seed)  # noqa: E731
    results, trials = hpo.compare(make, seeds=(0, 1), budget=8, steps=10, reference=100, methods=("grid", "random"))
    fig = fig_hpo(results, trials)
    curve, strip, regret = fig.axes
    assert len(curve.lines) == 1 and len(curve.lines[0].get_xdata()) == 100  # the reference grid
    assert [t.get_text() for t in strip.get_yticklabels()] == ["grid", "random"]
    assert [t.get_text() for t in regret.get_xticklabels()] == ["grid", "random"]
    assert regret.get_yscale() == "log"
    plt.close(fig)


def test_the_benchmark_of_the_cores_searches_on_hpos_problem_runs():
    """scripts/bench_hpo_attention.py (why hpo keeps its own attention search) at its smallest:
    it measures, it does not judge here."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "bench_hpo_attention.py"
    out = subprocess.run([sys.executable, str(script), "--seeds", "1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 5 and rows[0].split()[-1] == "1.0"  # hpo's own first, the ratios' reference
