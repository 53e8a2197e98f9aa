"""What the figures plot: their panels, lines, labels and colours, read back from the matplotlib
Figure (not only that a PNG was written)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402

from attnopt import landscapes  # noqa: E402
from attnopt.landscape_plot import figure as fig4, trajectories  # noqa: E402
from attnopt.report.hybrids import fig5  # noqa: E402
from attnopt.report.style import styles  # noqa: E402
from attnopt.runner import Budget  # noqa: E402


def test_every_optimizer_has_its_own_colour_and_line_style():
    names = ["gd", "dual_annealing", "hybrid3", "basinhopping", "attention", "cma", "adam", "sgd", "hybrid1",
             "hybrid2", "hybrid4", "attention_ipop", "attention_explore", "learned"]
    looks = styles(names)
    assert len({(s["color"], s["ls"]) for s in looks.values()}) == len(names)
    for a, b in [("gd", "dual_annealing"), ("hybrid3", "basinhopping")]:  # the pairs that looked alike
        assert (looks[a]["color"], looks[a]["ls"]) != (looks[b]["color"], looks[b]["ls"])
    assert styles(["gd", "cma"])["gd"] == styles(["cma", "gd", "adam"])["gd"]  # order given does not matter
    # the compare grid's 15 optimizers and the learned one: a colour each (gd and cma were both blue)
    grid = names + ["attention_cma", "hybrid_cma"]
    assert len({s["color"] for s in styles(grid).values()}) == len(grid) == 16
    many = styles([f"opt{i}" for i in range(40)])  # beyond 16 colours repeat, never with the same style
    assert len({(s["color"], s["ls"]) for s in many.values()}) == 40


def _paths(name, optimizers, max_evals=400, **params):
    land = landscapes.make(name, 2, **params)
    return land, trajectories(land, optimizers, {"gd": {"lr": 0.001}} if "gd" in optimizers else {}, 0, None,
                              Budget(max_iters=None, max_evals=max_evals))


def _legend_lines(fig):
    return {t.get_text().split(":")[0]: h for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)}


def test_fig4_trapped_axes_markers_legend_and_zoom():
    land, paths = _paths("trapped", ["gd", "attention", "hybrid2"])
    fig = fig4(land, paths, 60, "t", "trapped")
    left, right = fig.axes[0], fig.axes[1]
    assert (left.get_xlabel(), left.get_ylabel()) == ("w0 (bias)", "w1 (feature weight)")
    star = [ln for ln in left.get_lines() if ln.get_label() == "_optimum"][0]
    ends = [ln for ln in left.get_lines() if ln.get_label().startswith("_end")]
    assert len(ends) == 3 and all(star.get_zorder() > e.get_zorder() for e in ends)  # never hidden under an end
    legend = _legend_lines(fig)
    assert legend["attention"].get_linestyle() == ":"  # drawn dotted (all its steps), shown dotted
    assert legend["gd"].get_linestyle() == "-" and "attention-phase step" in legend
    colours = [legend[n].get_color() for n in ("gd", "attention", "hybrid2")]
    assert len(set(colours)) == 3
    whole, zoom = np.diff(left.get_xlim())[0], np.diff(right.get_xlim())[0]
    assert zoom <= 0.1 * whole  # the zoom panel zooms: at most a tenth of the whole side
    plt.close(fig)


def _pixels_near(fig, ax, xy, offset_pt=(0.0, 0.0), radius_px=2):
    """RGB pixels of the drawn figure in a small square around data point ``xy`` of ``ax``,
    shifted by ``offset_pt`` points."""
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    x, y = ax.transData.transform(xy) + np.asarray(offset_pt) * fig.dpi / 72
    row, col = int(round(rgb.shape[0] - y)), int(round(x))
    return rgb[row - radius_px:row + radius_px + 1, col - radius_px:col + radius_px + 1].reshape(-1, 3)


def _shows(pixels, colour, tol=40):
    return bool((np.abs(pixels - np.asarray(matplotlib.colors.to_rgb(colour)) * 255).max(axis=1) <= tol).any())


def test_fig4_a_run_that_ends_at_the_optimum_shows_its_end_marker_inside_the_star():
    land, paths = _paths("trapped", ["gd", "attention", "hybrid2"])
    pts, phases, result = paths["hybrid2"]
    paths["hybrid2"] = (np.vstack([pts, land.x_opt]), phases + [phases[-1]], result)  # ends exactly there
    fig = fig4(land, paths, 60, "t", "trapped")
    end_colour = _legend_lines(fig)["hybrid2"].get_color()
    for ax in fig.axes[:2]:  # the whole view and the zoom
        star = [ln for ln in ax.get_lines() if ln.get_label() == "_optimum"][0]
        assert star.get_markerfacecolor() == "none" and star.get_markersize() >= 2 * 9  # hollow, frames an end
        assert _shows(_pixels_near(fig, ax, land.x_opt), end_colour)  # the end marker, inside the star
        tip = (0.0, 0.45 * star.get_markersize())  # towards the star's upper point, outside the end marker
        assert _shows(_pixels_near(fig, ax, land.x_opt, tip, radius_px=3), "gold")  # and the star around it
    plt.close(fig)


def test_fig4_without_attention_has_no_attention_entry_and_its_colours_reach_the_best_end():
    land, paths = _paths("sphere", ["gd", "cma"], max_evals=600)
    fig = fig4(land, paths, 60, "t", "sphere")
    legend = _legend_lines(fig)
    assert "attention-phase step" not in legend and legend["gd"].get_color() != legend["cma"].get_color()
    assert fig.axes[0].get_xlabel() == "x[0]"
    mesh = [c for c in fig.axes[0].collections if isinstance(c, QuadMesh)][0]
    best_end = min(r.loss for _, _, r in paths.values()) - land.f_opt
    assert mesh.norm.vmin <= max(best_end, 1e-12) * 1.0000001
    plt.close(fig)


def _trapped_runs(optimizers, seeds):
    rows, hist = [], {}
    for opt in optimizers:
        for seed in range(seeds):
            d = f"{opt}_{seed}"
            n = 30
            phases = (["attention"] * 5 + ["gd"] * 5) * 3 if opt.startswith("hybrid") else ["gd"] * n
            loss = np.geomspace(10, 1e-3, n) * (1 + seed)
            hist[d] = pd.DataFrame({"iter": range(n), "loss": loss - 1, "best_loss": loss - 1, "f_evals": np.arange(n) * 3,
                                    "g_evals": np.arange(n), "time_s": 0.0, "phase": phases})
            rows.append({"landscape": "trapped", "optimizer": opt, "dimension": 3, "seed": seed, "f_opt": -1.0,
                         "final_loss": loss[-1] - 1, "best_loss": loss[-1] - 1, "run_dir": d})
    return pd.DataFrame(rows), hist


def test_fig5_says_only_what_it_shows():
    runs, hist = _trapped_runs(["gd", "hybrid2"], seeds=1)
    fig = fig5(runs, hist)
    title = fig._suptitle.get_text()
    assert "hybrid3" not in title and "grey" not in title and "over 1 seed;" in title
    main = fig.axes[0]
    assert "IQR" not in main.get_ylabel()
    assert not [c for c in main.collections if isinstance(c, PolyCollection)]  # no band for one run
    strips = [c for c in fig.axes[2].collections if isinstance(c, QuadMesh)]
    assert strips and strips[0].cmap.name == "phase"  # a light ramp with a colour bar, not black
    assert [t.get_text() for t in fig.axes[2].get_yticklabels()] == ["hybrid2"]
    plt.close(fig)
    runs, hist = _trapped_runs(["gd", "hybrid3"], seeds=3)
    fig = fig5(runs, hist)
    assert "hybrid3: its best iterate" in fig._suptitle.get_text() and "over 3 seeds" in fig._suptitle.get_text()
    assert "IQR" in fig.axes[0].get_ylabel() and [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    gd = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "gd"][0]
    # the median over the three seeds of the iterate's f - f*: seed 1's curve
    assert np.nanmin(gd.get_ydata()) == pytest.approx(1e-3 * 2, rel=1e-6)
    plt.close(fig)


def test_the_report_imports_no_optimizer():
    import subprocess
    import sys

    code = ("import sys, attnopt.report.build as b; b.load_registrations(); "
            "print([m for m in sys.modules if m.startswith(('attnopt.optimizers', 'attnopt.landscapes', "
            "'attnopt.runner', 'attnopt.hpo', 'torch'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _ml_runs(seeds, dims=(11, 31)):
    rows, hist = [], {}
    for opt, f_per, g_per in (("gd", 1, 1), ("attention", 21, 0)):
        for d in dims:
            for seed in range(seeds):
                key = f"{opt}_{d}_{seed}"
                n = 10
                hist[key] = pd.DataFrame({"iter": range(n), "loss": np.linspace(1, 0.1 * (1 + seed), n),
                                          "best_loss": np.linspace(1, 0.1, n), "f_evals": np.arange(n) * f_per + 1,
                                          "g_evals": np.arange(n) * g_per + (g_per > 0), "time_s": np.arange(n) * 1e-3})
                rows.append({"optimizer": opt, "dimension": d, "seed": seed, "iters": n - 1, "run_dir": key,
                             "final_loss": 0.1 * (1 + seed), "val_loss": 0.2 * (1 + seed), "landscape": "logreg"})
    return pd.DataFrame(rows), hist


def test_fig3_bars_say_what_they_span_and_no_panel_of_constants():
    from attnopt.report.ml import fig3

    runs, hist = _ml_runs(seeds=2)
    fig = fig3(runs, hist)
    assert len(fig.axes) == 3 and "evaluations" not in " ".join(ax.get_ylabel() for ax in fig.axes)
    title = fig._suptitle.get_text()
    assert "min to max over 2 seeds" in title and "IQR" not in title
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["GD (backprop) (1 f + 1 grad per iteration)", "attention search (21 f per iteration)"]
    # the bars span the two seeds' final losses, 0.1 and 0.2, around their median 0.15
    bars = fig.axes[0].containers[0]
    seg = bars.lines[2][0].get_segments()[0]
    assert seg[:, 1].tolist() == pytest.approx([0.1, 0.2])
    plt.close(fig)
    runs, hist = _ml_runs(seeds=4)
    assert "IQR bars over 4 seeds" in fig3(runs, hist)._suptitle.get_text()
    plt.close("all")


def test_hpo_choices_stay_visible_when_methods_choose_the_same_rate():
    from attnopt.report.ml import fig_hpo

    methods = ["grid", "random", "attention", "tpe"]
    results = pd.DataFrame({"method": methods, "seed": 0, "best_lr": 0.07, "min_val_loss": 0.5,
                            "regret": [1e-5, 1e-3, 1e-5, 1e-4], "evals": 20})
    trials = pd.DataFrame({"method": ["reference"] * 3 + methods, "seed": 0, "lr": [0.01, 0.07, 0.5] + [0.07] * 4,
                           "val_loss": [0.7, 0.5, 0.9] + [0.5] * 4})
    fig = fig_hpo(results, trials)
    curve = fig.axes[0]
    chosen = [c for c in curve.collections if c.get_label().endswith("'s choice")]
    assert len(chosen) == 4
    sizes = [float(c.get_sizes()[0]) for c in chosen]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4  # nested, the largest drawn first
    assert [c.get_zorder() for c in chosen] == sorted(c.get_zorder() for c in chosen)
    assert len({c.get_paths()[0].vertices.tobytes() for c in chosen}) == 4  # four different markers
    plt.close(fig)


def test_l2l_horizon_draws_each_band_in_its_own_colour_and_style():
    from types import SimpleNamespace

    from attnopt.meta.figures import horizon_fig

    rng = np.random.default_rng(0)
    curves = {("rastrigin", lab): 10 + rng.normal(0, 1, (41, 20)) ** 2 for lab in ("LSTM generalist", "LSTM tuned", "Adam")}
    preset = SimpleNamespace(two_d=SimpleNamespace(horizon=20), horizons=[1, 2])
    fig = horizon_fig(curves, preset, "small")
    ax = fig.axes[0]
    for lab in ("LSTM generalist", "LSTM tuned"):
        med = [ln for ln in ax.get_lines() if ln.get_label() == lab][0]
        edges = [ln for ln in ax.get_lines() if ln.get_label().startswith(f"_{lab} q")]
        assert len(edges) == 2 and all(e.get_color() == med.get_color() and e.get_linestyle() == med.get_linestyle()
                                       for e in edges)
    looks = {(ln.get_color(), ln.get_linestyle()) for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    assert len(looks) == 3
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no fills to stack into grey
    plt.close(fig)


def test_fig6_fig7_plot_the_meta_test_medians_and_the_meta_training_curve(tmp_path):
    from types import SimpleNamespace

    from attnopt.meta.figures import BASELINE_STYLE, mlp_fig

    rng = np.random.default_rng(1)
    names = ["lstm_raw"]
    curves = {(3, n): np.exp(rng.normal(0, 0.3, (61, 9))) for n in list(BASELINE_STYLE) + names}
    rows = [{"optimizer": n, "horizon_x": 3, "lr": 0.01} for n in BASELINE_STYLE]
    meta = tmp_path / "meta.csv"
    pd.DataFrame({"meta_iter": range(30), "meta_loss": np.linspace(1, 0.5, 30)}).to_csv(meta, index=False)
    preset = SimpleNamespace(mlp_horizons=[1, 3], mlp_train=SimpleNamespace(horizon=20, unroll=10))
    fig = mlp_fig(6, names, {"lstm_raw": SimpleNamespace(label="LSTM raw [g, x]")}, curves, rows, "digits", preset,
                  {"lstm_raw": meta}, "small")
    left, right = fig.axes[0], fig.axes[1]
    learned = [ln for ln in left.get_lines() if ln.get_label() == "LSTM raw [g, x]"][0]
    assert np.allclose(learned.get_ydata(), np.median(curves[(3, "lstm_raw")], axis=1))
    assert {ln.get_label() for ln in left.get_lines()} >= {f"{n} (lr 0.01, tuned)" for n in BASELINE_STYLE}
    assert "raw gradient features" in fig._suptitle.get_text() and "IQR band" in left.get_ylabel()
    smooth = [ln for ln in right.get_lines() if ln.get_label() == "LSTM raw [g, x]"][0]
    assert smooth.get_xdata().tolist() == list(range(30))
    plt.close(fig)
