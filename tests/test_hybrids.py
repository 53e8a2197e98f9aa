"""Hybrids 1-4 (report section 3): controllers, counting, known answers, configs, Table 4 pieces."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import attnopt
from attnopt.runner import iterate, start
from attnopt import landscapes, optimizers
from attnopt.errors import ConfigError
from attnopt.landscapes.base import Landscape
from attnopt.oracle import Oracle
from doubles import CallRecorder

HYBRIDS = ["hybrid1", "hybrid2", "hybrid3", "hybrid4"]


class Ramp(Landscape):
    """f(x) = sum(max(x, 0)): a constant slope that ends in a flat floor at x <= 0."""

    name = "ramp"

    def _value(self, X):
        return np.maximum(X, 0.0).sum(axis=1)

    def _grad(self, X):
        return (X > 0).astype(float)


@pytest.fixture(scope="module")
def trapped():
    """One shared instance: its optimum is computed once (about a second) and cached on it."""
    return landscapes.make("trapped", 3)


def phases(res):
    return res.history["phase"].tolist()


def test_hybrid1_escapes_only_after_a_plateau_and_returns_after_the_phase():
    # lr 0.25 from x0 = 1 walks 0.75, 0.5, 0.25, 0.0 exactly (4 improving steps), then the floor:
    # 3 steps without improvement (patience) and the next step is the first attention step.
    res = attnopt.minimize(Ramp(1), "hybrid1", x0=[1.0], seed=0, max_iters=14, gd_lr=0.25, plateau_tol=1e-3,
                           plateau_patience=3, attn_steps_per_phase=4, attn_n_trials=8, attn_sigma=0.1)
    assert res.history["loss"].tolist()[:5] == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert phases(res)[:13] == ["init"] + ["gd"] * 7 + ["attention"] * 4 + ["gd"]


def test_hybrid1_keeps_descending_while_gd_improves():
    res = attnopt.minimize(landscapes.make("sphere", 3), "hybrid1", seed=1, max_iters=200, gd_lr=1e-3,
                           plateau_tol=1e-4)
    assert set(phases(res)[1:]) == {"gd"}  # each step improves by ~0.4% > 0.01%: never a plateau


def test_hybrid2_phases_follow_the_cycle_and_every_switch_is_paid_for():
    n = 8
    res = attnopt.minimize(landscapes.make("sphere", 3), "hybrid2", seed=0, max_iters=12, gd_steps_per_cycle=3,
                           attn_steps_per_cycle=2, attn_n_trials=n)
    assert phases(res) == ["init"] + (["gd"] * 3 + ["attention"] * 2) * 2 + ["gd"] * 2
    # gd: 1 f + 1 g per step; attention: n + 1 f per step; a switch starts the part with its own
    # init (attention: 1 f, gd: 1 f + 1 g). 8 gd steps, 4 attention steps, 2 switches each way.
    assert res.g_evals == 1 + 8 + 2
    assert res.f_evals == 1 + 8 + 4 * (n + 1) + 2 * 1 + 2 * 1


def test_hybrid3_answers_with_the_best_iterate_of_all_cycles_then_descends_from_it():
    f = landscapes.make("sphere", 3)
    opt = optimizers.make("hybrid3", gd_lr=0.1, gd_steps_per_restart=3, attn_steps_per_restart=2, num_restarts=2,
                          attn_n_trials=4, attn_sigma=3.0)
    oracle, rng = Oracle(f), np.random.default_rng(0)
    state = start(opt, np.array([2.0, -1.0, 0.5]), oracle, rng)
    working = [(state.sub.loss, state.sub.x)]
    seen = []
    for _ in range(10):  # exactly two cycles of 3 gd + 2 attention steps
        state, phase = iterate(opt, state, oracle, rng)
        working.append((state.sub.loss, state.sub.x))
        seen.append(phase)
    assert seen == (["gd"] * 3 + ["attention"] * 2) * 2
    best_loss, best_x = min(working, key=lambda t: t[0])
    # The constructed case must be one where the last working point is not the best (else the
    # test could not tell the two apart): wide attention throws the point far from the minimum.
    assert working[-1][0] > best_loss
    assert state.loss == best_loss and np.array_equal(state.x, best_x)
    state, phase = iterate(opt, state, oracle, rng)  # cycles done: gd from the best iterate
    assert phase == "gd"
    np.testing.assert_allclose(state.sub.x, best_x - 0.1 * 2 * best_x)


def test_hybrid4_counts_every_candidate_in_one_batched_call():
    f, n_lrs, steps = CallRecorder(5), 7, 6
    res = attnopt.minimize(f, "hybrid4", seed=0, max_iters=steps, n_lrs=n_lrs)
    assert set(phases(res)[1:]) == {"lr_search"}
    # init: value and gradient at x0 (one point); per step: all candidates at once, then the new point
    assert f.calls == [(1, 5)] + [(n_lrs, 5), (1, 5)] * steps
    assert res.f_evals == 1 + steps * (n_lrs + 1) and res.g_evals == 1 + steps


def chosen_lr(landscape, x, **params):
    opt = optimizers.make("hybrid4", **params)
    oracle, rng = Oracle(landscape), np.random.default_rng(0)
    state, _ = iterate(opt, start(opt, x, oracle, rng), oracle, rng)
    return state.lr


@pytest.mark.parametrize("choice", ["weighted", "best"])
def test_hybrid4_takes_a_smaller_learning_rate_next_to_a_sharp_trap_than_on_a_smooth_slope(choice, trapped):
    smooth = landscapes.make("trapped", 3, lambda_osc=0.0)  # the same MSE without the trap
    x = trapped.x_opt + 1.0  # where the trap's gradient dwarfs the MSE's, which alone is a gentle slope
    lr_trap, lr_smooth = chosen_lr(trapped, x, lr_choice=choice), chosen_lr(smooth, x, lr_choice=choice)
    assert lr_trap < lr_smooth / 10, (lr_trap, lr_smooth)
    # the step it took is the plain gd step with that rate
    opt = optimizers.make("hybrid4", lr_choice=choice)
    oracle, rng = Oracle(trapped), np.random.default_rng(0)
    state, _ = iterate(opt, start(opt, x, oracle, rng), oracle, rng)
    np.testing.assert_allclose(state.x, x - state.lr * trapped.grad(x))


@pytest.mark.parametrize("name", HYBRIDS)
def test_hybrids_solve_the_sphere(name):
    res = attnopt.minimize(landscapes.make("sphere", 4), name, seed=3, max_evals=20_000, max_iters=None,
                           **({} if name == "hybrid4" else {"gd_lr": 0.1}))
    assert res.best_loss < 1e-8, res.best_loss
    if name in ("hybrid3", "hybrid4"):  # 1 and 2 may stop inside an attention phase, by design
        assert res.loss < 1e-8, res.loss


def test_hybrids_leave_the_valley_where_gd_stays_on_the_trapped_landscape(trapped):
    """gd at the hybrids' rate ends far from f*; hybrid3 returns a point in the global basin and
    hybrid2's exploration evaluates one (its iterate may sit in a neighbouring valley at the end)."""
    from attnopt.report.hybrids import SUCCESS_TOL

    f = trapped
    for seed in (4, 5):
        gd = attnopt.minimize(f, "gd", seed=seed, lr=1e-3, max_evals=10_000, max_iters=None)
        h2 = attnopt.minimize(f, "hybrid2", seed=seed, max_evals=10_000, max_iters=None)
        h3 = attnopt.minimize(f, "hybrid3", seed=seed, max_evals=10_000, max_iters=None)
        assert gd.loss - f.f_opt > 1.0
        assert h2.best_loss - f.f_opt < SUCCESS_TOL
        assert h3.loss - f.f_opt < SUCCESS_TOL


@pytest.mark.parametrize("name", HYBRIDS)
def test_hybrids_never_exceed_the_budget_and_repeat_exactly(name, trapped):
    f = trapped
    a = attnopt.minimize(f, name, seed=7, max_evals=777, max_iters=None)
    b = attnopt.minimize(f, name, seed=7, max_evals=777, max_iters=None)
    c = attnopt.minimize(f, name, seed=8, max_evals=777, max_iters=None)
    assert a.f_evals + a.g_evals <= 777
    assert a.history.drop(columns="time_s").equals(b.history.drop(columns="time_s"))
    assert not a.history.drop(columns="time_s").equals(c.history.drop(columns="time_s"))


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("hybrid4", dict(lr_min=0.1, lr_max=0.01), "optimizer.lr_min=0.1 and optimizer.lr_max=0.01 are invalid"),
        ("hybrid4", dict(lr_choice="mean"), "optimizer.lr_choice='mean' is invalid: must be one of weighted, best"),
        ("hybrid4", dict(n_lrs=1), "optimizer.n_lrs=1 is invalid: must be >= 2"),
        ("hybrid1", dict(plateau_patience=0), "optimizer.plateau_patience=0 is invalid: must be > 0"),
        ("hybrid1", dict(patience=3), "unknown key 'optimizer.patience' \\(did you mean 'plateau_patience'\\?\\)"),
        ("hybrid2", dict(gd_steps_per_cycle=0), "optimizer.gd_steps_per_cycle=0 is invalid: must be > 0"),
        ("hybrid3", dict(attn_sigma=-1), "optimizer.attn_sigma=-1 is invalid: must be > 0"),
    ],
)
def test_bad_hybrid_parameters_give_one_clear_line(name, params, message):
    with pytest.raises(ConfigError, match=message):
        optimizers.make(name, **params)


def test_success_tolerance_certifies_the_global_basin(trapped):
    """Every local minimum other than the global one lies more than the table's tolerance above it,
    so a final loss within the tolerance can only be in the global minimum's basin."""
    from scipy.optimize import minimize

    from attnopt.report.hybrids import SUCCESS_TOL

    f = trapped
    # Starts on the global valley's sphere and the neighbouring ones (the competitive minima: farther
    # rings have a larger MSE), in random directions; half a trap period apart in ||w||^2.
    rng = np.random.default_rng(0)
    r_star, half_period = f.x_opt @ f.x_opt, np.pi / f.scale_osc
    radii = np.sqrt(r_star + half_period * np.arange(-6, 7))
    directions = rng.standard_normal((len(radii), 4, 3))
    starts = (directions / np.linalg.norm(directions, axis=-1, keepdims=True) * radii[:, None, None]).reshape(-1, 3)
    gaps = []
    for x0 in starts:
        r = minimize(lambda w: float(f(w)), x0, jac=f.grad, method="L-BFGS-B", options={"gtol": 1e-9})
        gaps.append(r.fun - f.f_opt)
    gaps = np.array(gaps)
    assert gaps.min() > -1e-9  # nothing beats the computed optimum
    others = gaps[gaps > 1e-6]
    assert (gaps <= 1e-6).any() and others.size  # both kinds were found, or the test proves nothing
    assert others.min() > SUCCESS_TOL


@pytest.mark.parametrize("name", HYBRIDS)
def test_hybrid_configs_compose_and_build(name):
    from hydra import compose, initialize_config_module

    from attnopt.run import build
    from attnopt.runner import run

    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        spec = build(compose(config_name="config", overrides=[f"optimizer={name}", "landscape=trapped",
                                                               "budget.max_iters=30"]))
    assert spec.dimension == 3 and spec.optimizer_name == name
    res = run(spec.landscape, spec.optimizer, seed=0, budget=spec.budget)
    assert res.iters == 30


# --- Table 4 and Figure 5 -----------------------------------------------------------------------

def fake_runs(gaps: dict[str, list[float]], f_opt=-0.5) -> pd.DataFrame:
    rows = []
    for opt, values in gaps.items():
        for seed, g in enumerate(values):
            rows.append(dict(optimizer=opt, landscape="trapped", dimension=3, seed=seed, f_opt=f_opt,
                             final_loss=f_opt + g, best_loss=f_opt + g / 10, iters=100, f_evals=150, g_evals=50,
                             time_s=0.2, run_dir=f"{opt}_{seed}"))
    return pd.DataFrame(rows)


def test_table4_statistics_and_order():
    from attnopt.report.hybrids import table4

    runs = fake_runs({"hybrid2": [0.001, 0.02, 0.5, 3.0], "gd": [5.0, 6.0, 7.0, 8.0], "attention": [0.05, 0.001, 1, 2]})
    runs = pd.concat([runs, fake_runs({"gd": [0.0]}).assign(landscape="sphere")])  # not Table 4's: ignored
    out = table4(runs, {}).set_index("optimizer")
    assert list(out.index) == ["gd", "attention", "hybrid2"]  # the report's order
    assert out.loc["gd", "seeds"] == 4
    assert out.loc["gd", "final_gap_median"] == pytest.approx(6.5)
    assert out.loc["gd", "final_gap_q25"] == pytest.approx(5.75)
    assert out.loc["gd", "final_gap_q75"] == pytest.approx(7.25)
    assert out.loc["hybrid2", "success_rate"] == 0.25  # only 0.001 <= 0.01
    assert out.loc["attention", "found_rate"] == 0.5  # best gaps 0.005, 1e-4, 0.1, 0.2
    assert out.loc["gd", "time_per_iter_ms"] == pytest.approx(2.0)


def test_table4_and_fig5_refuse_runs_of_other_landscapes():
    from attnopt.report.hybrids import fig5, table4
    from attnopt.report.registry import NotApplicable

    runs = fake_runs({"gd": [1.0]}).assign(landscape="sphere")
    for build in (table4, fig5):
        with pytest.raises(NotApplicable, match="landscape=trapped"):
            build(runs, {})


def test_fig5_draws_every_optimizer_and_the_attention_phases(trapped):
    import matplotlib.pyplot as plt

    from attnopt.report.hybrids import fig5

    rows, histories = [], {}
    for name in ["gd", "hybrid2", "hybrid4"]:
        for seed in range(2):
            # hybrid2 with short cycles, so that 600 evaluations include attention phases
            params = {"gd": {"lr": 1e-3}, "hybrid2": {"gd_steps_per_cycle": 20}}.get(name, {})
            res = attnopt.minimize(trapped, name, seed=seed, max_evals=600, max_iters=None, **params)
            key = f"{name}_{seed}"
            histories[key] = res.history
            rows.append(dict(optimizer=name, landscape="trapped", dimension=3, f_opt=trapped.f_opt,
                             final_loss=res.loss, best_loss=res.best_loss, run_dir=key))
    fig = fig5(pd.DataFrame(rows), histories)
    curves, _, strip, _ = fig.axes[:4]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["gd (2)", "hybrid2 (2)", "hybrid4 (2)"]
    assert curves.get_yscale() == "log" and curves.get_xscale() == "log"
    # one strip row: hybrid2 is the only one with attention phases
    assert [t.get_text() for t in strip.get_yticklabels()] == ["hybrid2"]
    plt.close(fig)


# --- attnopt plot (Fig. 4) ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "args,message",
    [
        (["dimension=3"], "dimension=3 is invalid: attnopt plot draws 2-D landscapes"),
        (["colour=red"], "unknown key 'colour'"),
        (["optimizers=gd", "attention.sigma=1"], "parameters given for 'attention', which is not in optimizers=gd"),
        (["resolution=1"], "resolution=1 is invalid"),
        (["landscape"], "argument 'landscape' is invalid: expected key=value"),
    ],
)
def test_plot_arguments_are_checked(args, message):
    from attnopt.landscape_plot import parse

    with pytest.raises(ConfigError, match=message):
        parse(args)


def test_plot_records_each_trajectory_from_one_shared_start():
    from attnopt.landscape_plot import trajectories
    from attnopt.runner import CUT, Budget

    f = landscapes.make("rastrigin", 2)
    paths = trajectories(f, ["gd", "attention", "hybrid2"], {"gd": {"lr": 1e-3}}, 5, None, Budget(None, 500))
    starts = {tuple(pts[0]) for pts, _, _ in paths.values()}
    assert len(starts) == 1
    for name, (pts, phases_, res) in paths.items():
        # a last iteration that the budget cut short (phase "cut": a line search's trial, say)
        # completed no step, so it adds no point; the final iterate is the last complete one
        recorded = res.history["phase"].tolist()
        complete = recorded[:-1] if recorded[-1] == CUT else recorded
        assert len(pts) == len(complete) == res.iters + 1 - (recorded[-1] == CUT)
        assert np.array_equal(pts[-1], res.x)
        assert phases_[1:] == complete[1:]
    # the recorded gd path is gd's own: same as a plain run with that rate
    plain = attnopt.minimize(f, "gd", seed=5, lr=1e-3, max_evals=500, max_iters=None)
    assert np.array_equal(paths["gd"][0][-1], plain.x)


@pytest.mark.slow
def test_plot_command_writes_a_png(tmp_path):
    from attnopt import cli
    from attnopt.landscape_plot import main

    out = tmp_path / "fig4.png"
    assert cli.main(["plot", "landscape=trapped", "max_evals=300", "resolution=40", f"out={out}"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["plot", "landscape=trapped", "dimension=3"]) == 2
    assert cli.main(["plot", "optimizers=gd,nadam"]) == 2
    with pytest.raises(ConfigError, match="unknown key 'gd.lrr' \\(did you mean 'lr'\\?\\)"):
        main(["gd.lrr=1"])


@pytest.mark.slow
def test_table4_small_sweep_through_the_cli_writes_table_and_figure(tmp_path):
    """`make table4 SCALE=small`, shrunk: the preset composes, every optimizer runs, the report follows."""
    report = tmp_path / "report"
    out = subprocess.run([sys.executable, "-m", "attnopt.cli", "run", "-m", "+experiment=table4_small", "seed=0",
                          "budget.max_evals=400", "hydra.sweep.dir=" + str(tmp_path / "sweep"),
                          "hydra.callbacks.report.out=" + str(report), "progress=false"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    runs = {}
    for summary in (tmp_path / "sweep").rglob("summary.json"):
        s = json.loads(summary.read_text())
        runs[s["optimizer"]] = (s, pd.read_csv(summary.parent / "history.csv"))
    assert sorted(runs) == sorted(["gd", "attention", "adam"] + HYBRIDS)
    assert all(s["f_evals"] + s["g_evals"] <= 400 for s, _ in runs.values())
    (gd_dir,) = (tmp_path / "sweep").glob("gd_trapped_d3_s0_*")  # <run name>_<config hash>
    config = (gd_dir / "config.yaml").read_text()
    assert "lr: 0.001" in config  # Table 4's gd rate, not the library default
    assert set(runs["hybrid4"][1]["phase"]) == {"init", "lr_search"}
    table = pd.read_csv(report / "table4.csv")
    assert sorted(table["optimizer"]) == sorted(runs)
    assert (report / "table4.md").is_file() and (report / "fig5.png").read_bytes()[:4] == b"\x89PNG"


# --- scale-free defaults (issue 16) --------------------------------------------------------------

class Stretched(Landscape):
    """``loss_scale * rastrigin(x / x_scale)`` on ``x_scale`` times Rastrigin's box: the same landscape
    in other units. Powers of two keep the products exact, so a scale-free optimizer's history is
    the original's, scaled, up to the rounding of a few sums."""

    name = "stretched"

    def __init__(self, dim, x_scale, loss_scale):
        super().__init__(dim)
        self.base, self.s, self.a = landscapes.make("rastrigin", dim), x_scale, loss_scale
        self.init_bounds = (-4.0 * x_scale, 4.0 * x_scale)

    def _value(self, X):
        return self.a * self.base._value(X / self.s)

    def _grad(self, X):
        return (self.a / self.s) * self.base._grad(X / self.s)


@pytest.mark.parametrize("name", HYBRIDS)
def test_hybrid_defaults_do_not_depend_on_the_landscape_s_units(name):
    """Stretching x by 2**7 and the loss by 2**-10 changes nothing but the units of the history:
    attention's sigma follows the box, its weights and the line search's test follow the losses'
    ratios, and the first gradient step is a fraction of the box."""
    unit, scaled = Stretched(3, 1.0, 1.0), Stretched(3, 2.0**7, 2.0**-10)
    a = attnopt.minimize(unit, name, seed=11, max_evals=3000, max_iters=None)
    b = attnopt.minimize(scaled, name, seed=11, max_evals=3000, max_iters=None)
    assert len(set(phases(a))) >= 2  # both parts acted (hybrid4: init and lr_search)
    np.testing.assert_allclose(b.history["loss"].to_numpy(), 2.0**-10 * a.history["loss"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(b.x, 2.0**7 * a.x, rtol=1e-9)
    # the report's fixed scales do depend on the units: the same run is another run there
    fixed = dict(lr_min=1e-5, lr_max=0.1) if name == "hybrid4" else dict(gd_lr=1e-3)
    c = attnopt.minimize(unit, name, seed=11, max_evals=3000, max_iters=None, **fixed)
    d = attnopt.minimize(scaled, name, seed=11, max_evals=3000, max_iters=None, **fixed)
    fixed_unit, fixed_scaled = c.history["loss"].to_numpy(), d.history["loss"].to_numpy()
    assert len(fixed_unit) != len(fixed_scaled) or not np.allclose(fixed_scaled, 2.0**-10 * fixed_unit, rtol=1e-3)


def test_line_search_gd_accepts_only_armijo_steps_and_pays_for_each_trial():
    from attnopt.optimizers.gradient import ARMIJO, gd_backtracking

    f = landscapes.make("rastrigin", 2)
    opt = gd_backtracking(step0=0.3)  # long first steps: some are rejected
    oracle, rng = Oracle(f), np.random.default_rng(0)
    state = start(opt, np.array([1.3, -2.2]), oracle, rng)
    losses = [state.loss]
    for _ in range(20):
        before = state
        state, _ = iterate(opt, state, oracle, rng)
        step = np.asarray(state.x) - np.asarray(before.x)
        g = np.asarray(before.grad)
        # the accepted point lies along -g, and it decreased f by Armijo's fraction of the slope
        lr = float(-step @ g / (g @ g))
        np.testing.assert_allclose(step, -lr * g, rtol=1e-12, atol=1e-15)
        assert state.loss <= before.loss - ARMIJO * lr * float(g @ g)
        losses.append(state.loss)
    assert losses[-1] < losses[0]
    # every step: one gradient; every trial (accepted or not): one value
    assert oracle.g_evals == 21 and oracle.f_evals > 21


class Quadratic(Landscape):
    """0.5 * curvature * |x|^2 on [-5, 5]^d."""

    name = "quadratic"

    def __init__(self, dim, curvature):
        super().__init__(dim)
        self.c = curvature

    def _value(self, X):
        return 0.5 * self.c * (X**2).sum(axis=1)

    def _grad(self, X):
        return self.c * X


def test_line_search_gd_descends_where_a_fixed_rate_diverges_or_crawls():
    """Curvature 1e4: lr 1e-3 diverges; curvature 1e-4: it crawls. The line search (the hybrids'
    default gd part) takes both to 1e-8 within the same budget."""
    from attnopt.optimizers.gradient import gd, gd_backtracking

    for curvature in (1e4, 1e-4):
        f = Quadratic(4, curvature)
        adaptive = attnopt.minimize(f, gd_backtracking(), seed=0, max_evals=2000, max_iters=None, target=1e-8)
        fixed = attnopt.minimize(f, gd(lr=1e-3), seed=0, max_evals=2000, max_iters=None)
        assert adaptive.best_loss <= 1e-8, (curvature, adaptive.best_loss)
        assert not fixed.best_loss <= 0.99 * fixed.history["loss"].iloc[0], (curvature, fixed.best_loss)
