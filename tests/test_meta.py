"""Learned optimizers (attnopt.meta, report section 4): models, meta-training, checkpoints, CLI."""
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import attnopt
from attnopt.errors import ConfigError
from attnopt.meta import evaluate as ev
from attnopt.optimizers import learned_features as feats
from attnopt.optimizers.learned_nets import LearnedOptimizer
from attnopt.meta.rules import adam as torch_adam
from attnopt.meta.rules import learned as learned_rule
from attnopt.meta.tasks import make_family
from attnopt.meta.train import TrainConfig, meta_train, meta_unroll
from attnopt.optimizers.learned_nets import load_checkpoint, save_checkpoint


def _model(kind="lstm", features="logsign", seed=0):
    torch.manual_seed(seed)
    return LearnedOptimizer(kind=kind, features=features)


def _steps(model, g_seq, x):
    state = model.init_state(x)
    out = []
    with torch.no_grad():
        for g in g_seq:
            delta, state = model(g, x, state)
            out.append(delta)
            x = x + delta
    return torch.stack(out)


@pytest.mark.parametrize("kind,features", [("lstm", "raw"), ("lstm", "logsign"), ("lstm", "rich"),
                                           ("attention", "logsign")])
def test_output_shape_and_per_coordinate_independence(kind, features):
    model = _model(kind, features)
    n, T = 7, 6
    gen = torch.Generator().manual_seed(1)
    g_seq = torch.randn((T, n), generator=gen)
    x = torch.randn(n, generator=gen)
    base = _steps(model, g_seq, x)
    assert base.shape == (T, n) and torch.isfinite(base).all()
    # Perturbing coordinate 3's gradients (and start) moves only coordinate 3's updates, at every step.
    g2, x2 = g_seq.clone(), x.clone()
    g2[:, 3] *= -5.0
    x2[3] += 1.0
    moved = _steps(model, g2, x2)
    others = [i for i in range(n) if i != 3]
    assert torch.equal(moved[:, others], base[:, others])
    assert not torch.allclose(moved[:, 3], base[:, 3])
    # The same coordinate at another position in a larger batch gets the same update (shared weights).
    wide = _steps(model, torch.cat([g_seq, g_seq], 1), torch.cat([x, x]))
    assert torch.allclose(wide[:, :n], base, atol=1e-6) and torch.allclose(wide[:, n:], base, atol=1e-6)


def test_logsign_preprocessing_matches_andrychowicz_and_is_finite_at_zero():
    g = torch.tensor([0.0, 1.0, -math.exp(-20), -3.0], requires_grad=True)
    a, b = feats.logsign(g)
    assert torch.allclose(a, torch.tensor([-1.0, 0.0, -1.0, math.log(3.0) / 10]))
    assert torch.allclose(b, torch.tensor([0.0, 1.0, -math.exp(10 - 20), -1.0]))
    (a.sum() + b.sum()).backward()
    assert torch.isfinite(g.grad).all()


@pytest.mark.parametrize("kind,features", [("lstm", "raw"), ("lstm", "logsign"), ("lstm", "rich"),
                                           ("attention", "logsign"), ("attention", "rich")])
def test_second_order_meta_gradient_has_no_nan_at_a_stationary_point(kind, features):
    """Tasks that start exactly at their optimum have zero gradients: sqrt/log at 0 must not NaN.
    Every model/feature combination trains second-order, so `--second-order` refuses none."""
    fam = make_family("quadratic")
    tasks = fam.sample(4, torch.Generator().manual_seed(0))
    tasks.x0.copy_(tasks.ctx[1])  # x0 = c, the optimum: g = 0 on the first step
    model = _model(kind, features)
    rule = learned_rule(model)
    f0 = torch.ones(4)
    loss, _, _ = meta_unroll(rule, fam, tasks, tasks.x0.clone(), rule.init(tasks.x0), 0, 3, f0, 10.0,
                             second_order=True)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("second_order", [False, True])
def test_one_meta_training_step_lowers_the_meta_loss_on_a_fixed_quadratic_batch(second_order):
    fam = make_family("quadratic")
    tasks = fam.sample(32, torch.Generator().manual_seed(3))
    model = _model()
    rule = learned_rule(model)
    with torch.no_grad():
        f0 = fam.loss(tasks.x0, tasks.ctx)

    def meta_loss():
        return meta_unroll(rule, fam, tasks, tasks.x0.clone(), rule.init(tasks.x0), 0, 10, f0, 10.0, second_order)[0]

    before = meta_loss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad()
    before.backward()
    opt.step()
    after = meta_loss()
    assert after.item() < before.item() - 1e-4


def test_meta_training_is_deterministic_and_learns_quadratics():
    """Known answer: on held-out quadratics a briefly meta-trained LSTM cuts the loss far more than
    its untrained self, and two runs with the same seed give the same weights."""
    fam = make_family("quadratic")
    cfg = TrainConfig(meta_iters=40, meta_batch=32, horizon=20, unroll=10, meta_lr=1e-2)
    trained = [_model() for _ in range(2)]
    for m in trained:
        meta_train(m, [fam], cfg, progress=False)
    for p, q in zip(trained[0].parameters(), trained[1].parameters()):
        assert torch.equal(p, q)
    test = fam.sample(100, torch.Generator().manual_seed(99))
    untrained = ev.run_rule(learned_rule(_model()), fam, test, 20)["final_loss@20"]
    ours = ev.run_rule(learned_rule(trained[0]), fam, test, 20)["final_loss@20"]
    start = fam.loss(test.x0, test.ctx)
    assert np.median((ours / start).numpy()) < 0.1
    assert np.median(ours.numpy()) < 0.3 * np.median(untrained.numpy())


def test_torch_adam_baseline_matches_attnopt_adam():
    """The batched torch baselines follow the same update as attnopt's numpy optimizers."""
    fam = make_family("rastrigin")
    tasks = fam.sample(3, torch.Generator().manual_seed(0))
    tasks.ctx[0].zero_()  # unshifted: attnopt's Rastrigin at d=2
    out = ev.run_rule(torch_adam(0.05), fam, tasks, 15)
    lands = attnopt.landscapes.make("rastrigin", 2)
    for i in range(3):
        res = attnopt.minimize(lands, "adam", x0=tasks.x0[i].double().numpy(), lr=0.05, max_iters=15)
        np.testing.assert_allclose(out["curve"][:, i].numpy(), res.history["loss"].to_numpy(), rtol=1e-4, atol=1e-4)


def test_tune_lr_picks_the_best_grid_point_and_statistics():
    fam = make_family("quadratic")
    tasks = fam.sample(16, torch.Generator().manual_seed(0))
    grid = np.array([1e-4, 1e-2, 0.1, 100.0])
    tuned = ev.tune_lr("SGD", fam, tasks, 20, grid)
    assert tuned["lr"] == 0.1  # 1e-4 barely moves, 100 diverges (scored as the clip value)
    assert tuned["scores"][3] == pytest.approx(10.0)
    s = ev.summarize([1.0, 2.0, np.nan, 4.0], success_below=1.5)
    assert s["diverged"] == 1 and math.isinf(s["mean"]) and s["median"] == 3.0 and s["success"] == 0.25
    lo, hi = ev.wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert ev.overtake_step([1, 1, 1, 1], [2, 2, 0.5, 0.5]) == 2
    assert ev.overtake_step([1, 1], [0.5, 0.5]) == 0
    assert ev.overtake_step([1, 1], [0.5, 2]) is None


# ---------------------------------------------------------------------------------------- checkpoints

@pytest.fixture
def checkpoint(tmp_path):
    model = _model("lstm", "logsign", seed=5)
    return save_checkpoint(tmp_path / "ckpt.pt", model, {"meta_loss": [1.0, 0.5], "note": "test"}), model


def test_checkpoint_reloads_to_identical_updates(checkpoint):
    path, model = checkpoint
    loaded = load_checkpoint(path)
    assert loaded.arch == model.arch and path.with_suffix(".json").is_file()
    gen = torch.Generator().manual_seed(2)
    g_seq, x = torch.randn((8, 50), generator=gen), torch.randn(50, generator=gen)
    assert torch.equal(_steps(model, g_seq, x), _steps(loaded, g_seq, x))


def test_learned_optimizer_through_the_runner_is_counted_and_deterministic(checkpoint):
    path, _ = checkpoint
    f = attnopt.landscapes.make("rastrigin", 3)
    runs = [attnopt.minimize(f, "learned", checkpoint=str(path), seed=4, max_iters=12) for _ in range(2)]
    assert runs[0].history.drop(columns="time_s").equals(runs[1].history.drop(columns="time_s"))
    assert runs[0].f_evals == runs[0].g_evals == 13 and runs[0].iters == 12
    assert set(runs[0].history["phase"][1:]) == {"learned"}
    # The runner's loss column is the landscape at the iterate the torch model produced.
    assert runs[0].loss == pytest.approx(float(f(runs[0].x)))


def test_bad_checkpoints_are_config_errors(tmp_path, checkpoint):
    path, _ = checkpoint
    with pytest.raises(ConfigError, match="optimizer.checkpoint is not set: meta-train one with `make l2l"):
        attnopt.optimizers.make("learned")
    with pytest.raises(ConfigError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"\x80\x02 not a checkpoint at all")
    with pytest.raises(ConfigError, match="is not a readable checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(ConfigError, match="trained with features=logsign, not optimizer.features=raw"):
        attnopt.optimizers.make("learned", checkpoint=str(path), features="raw")
    # Weights of a raw-feature model (2 inputs) under a logsign arch (3 inputs): a shape mismatch.
    payload = torch.load(path, weights_only=True)
    payload["state_dict"] = _model("lstm", "raw").state_dict()
    torch.save(payload, tmp_path / "mixed.pt")
    with pytest.raises(ConfigError, match=r"does not fit a lstm model with features=logsign \(3 inputs.*"
                                          r"shape \(80, 2\), expected \(80, 3\)"):
        load_checkpoint(tmp_path / "mixed.pt")
    # Arbitrary pickled objects are refused by weights_only=True and never executed.
    torch.save({"format": "attnopt-learned-optimizer", "obj": Path("x")}, tmp_path / "unsafe.pt")
    with pytest.raises(ConfigError, match="is not a readable checkpoint"):
        load_checkpoint(tmp_path / "unsafe.pt")


def _attnopt(*args, cwd):
    return subprocess.run([sys.executable, "-m", "attnopt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
def test_learned_optimizer_runs_through_attnopt_run(tmp_path, checkpoint):
    path, _ = checkpoint
    out = _attnopt("run", "optimizer=learned", f"optimizer.checkpoint={path}", "landscape=rastrigin", "dimension=2",
                   "budget.max_iters=15", "plot=false", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    import json

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["optimizer"] == "learned" and summary["iters"] == 15 and summary["g_evals"] == 16
    assert math.isfinite(summary["final_loss"])


@pytest.mark.slow
def test_cli_bad_checkpoint_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"garbage")
    out = _attnopt("run", "optimizer=learned", f"optimizer.checkpoint={bad}", "landscape=rastrigin", "dimension=2",
                   cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("attnopt: error: optimizer.checkpoint=")
    assert "is not a readable checkpoint" in out.stderr
    missing = _attnopt("run", "optimizer=learned", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "make l2l" in missing.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*edge of the grid")  # a 2-4 point grid is all edges
def test_study_pipeline_writes_table_figures_and_reuses_checkpoints(tmp_path, monkeypatch):
    """The l2l/fig pipeline end to end on a tiny preset: every output exists, has the promised
    columns, and a second Study reuses the saved checkpoints instead of retraining."""
    from attnopt.meta import experiments as ex

    tiny_2d = TrainConfig(meta_iters=4, meta_batch=8, horizon=4, unroll=2)
    tiny = ex.Preset(n_test=6, n_tune=4, lr_grid=(1e-3, 1e-2, 0.1), two_d=tiny_2d, finetune=tiny_2d,
                     horizons=(1, 2), mlp={"dataset": "digits", "hidden": 4, "batch_size": 16},
                     mlp_train=TrainConfig(meta_iters=2, meta_batch=1, horizon=4, unroll=2), mlp_horizons=(1,),
                     mlp_n_test=3, mlp_lr_grid=(0.1, 1.0))
    monkeypatch.setitem(ex.PRESETS, "tiny", tiny)
    study = ex.Study("tiny", tmp_path, progress=False)
    study.figure_mlp(6, ["mlp_raw"])
    study.table()
    report = tmp_path / "report"
    for name in ("fig6.png", "fig6.csv", "l2l.csv", "l2l.md", "l2l_horizon.png"):
        assert (report / name).stat().st_size > 0
    import pandas as pd

    table = pd.read_csv(report / "l2l.csv")
    assert set(table["family"]) == {"quadratic", "rastrigin", "rosenbrock", "mlp"}
    assert set(table["horizon_x"]) == {1, 2}
    assert {"mean_lo", "median_hi", "success", "adam_overtakes_at", "update_ms", "meta_iter_ms"} <= set(table.columns)
    assert table.loc[table["family"] == "rastrigin", "success"].notna().all()
    assert (table.loc[table["optimizer"].isin(["Adam", "SGD"]), "lr"].isin([1e-3, 1e-2, 0.1, 1.0])).all()
    ckpt = tmp_path / "l2l" / "tiny" / "checkpoints" / "generalist.pt"
    stamp = ckpt.stat().st_mtime_ns
    again = ex.Study("tiny", tmp_path, progress=False)
    again.model("generalist")
    assert ckpt.stat().st_mtime_ns == stamp


def test_cost_projects_each_part_of_fig6_fig7_from_its_slice_and_writes_nothing_else(tmp_path, monkeypatch):
    """`python -m attnopt.meta cost`: every part timed on its slice and scaled by how many times
    the full run repeats it; it trains no checkpoint and caches no evaluation."""
    from attnopt.meta import experiments as ex

    tiny = ex.Preset(n_test=6, n_tune=4, lr_grid=(1e-3, 1e-2), two_d=TrainConfig(meta_iters=4, meta_batch=2),
                     finetune=TrainConfig(meta_iters=4, meta_batch=2), horizons=(1,),
                     mlp={"dataset": "digits", "hidden": 4, "batch_size": 16},
                     mlp_train=TrainConfig(meta_iters=50, meta_batch=1, horizon=4, unroll=2), mlp_horizons=(1, 3),
                     mlp_n_test=6, mlp_chunk=2, mlp_lr_grid=(0.1, 1.0, 3.0))
    monkeypatch.setitem(ex.PRESETS, "tiny", tiny)
    table = ex.cost(ex.Study("tiny", tmp_path, progress=False), meta_iters=2, eval_steps=3)
    parts = dict(zip(table["part"], table["scale_up"]))
    assert parts["meta-train mlp_rich"] == 50 / 2
    assert parts["meta-test mlp_raw"] == 6 * 12 / (2 * 3)  # 6 test tasks to step 3 x 4, from 2 tasks x 3 steps
    assert parts["tune + test Adam"] == (3 * 4 + 6) * (4 + 12) / (2 * 3)  # 3 rates x 4 tuning tasks + 6 test tasks
    assert len(parts) == 3 * 2 + 4 and (table["wall_s"] > 0).all() and (table["cpu_s"] > 0).all()
    assert np.allclose(table["projected_cpu_s"], table["cpu_s"] * table["scale_up"])
    md = (tmp_path / "report" / "l2l_cost_tiny.md").read_text()
    assert "**total**" in md and "fig6 fig7 SCALE=tiny" in md
    assert not (tmp_path / "l2l").exists()  # nothing trained, nothing cached
