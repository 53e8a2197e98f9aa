"""The comparison's report (attnopt.report.compare) and its presets (conf/experiment/compare*.yaml)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from attnopt.report import label_variants
from attnopt.report.compare import compare, fig_compare_ecdf, with_problem
from attnopt.report.registry import NotApplicable


def _history(evals, best):
    evals, best = np.asarray(evals), np.asarray(best, dtype=float)
    return pd.DataFrame({"iter": np.arange(len(evals)), "loss": best, "best_loss": best, "f_evals": evals,
                         "g_evals": 0, "time_s": 0.0, "phase": "x"})


def _runs():
    # two optimizers x rastrigin plain / rotated, 2 seeds; f_opt = 1 so gaps are best - 1
    rows, hist = [], {}
    spec = {
        ("attention", False): [([1, 10, 100], [50, 1.005, 1 + 1e-9]), ([1, 10, 100], [50, 3.0, 2.0])],
        ("attention", True): [([1, 10, 100], [50, 40, 30]), ([1, 20, 40], [50, 1.001, 1.0])],
        ("cma", False): [([1, 5, 7], [9, 1.0, 1.0]), ([1, 8, 9], [9, 1.0, 1.0])],
        ("cma", True): [([1, 5, 7], [9, 1.0, 1.0]), ([1, 8, 9], [9, 1.0, 1.0])],
    }
    for (opt, rot), runs in spec.items():
        for seed, (evals, best) in enumerate(runs):
            d = f"{opt}_{rot}_{seed}"
            hist[d] = _history(evals, best)
            rows.append({"landscape": "rastrigin", "optimizer": opt, "dimension": 10, "seed": seed, "f_opt": 1.0,
                         "best_loss": best[-1], "final_loss": best[-1], "time_s": 1.0 + seed, "run_dir": d,
                         "landscape.rotate": rot, "landscape.shift": rot})
    return label_variants(pd.DataFrame(rows)), hist  # as attnopt.report.load_runs gives them


def test_compare_table_counts_and_medians():
    runs, hist = _runs()
    t = compare(runs, hist).set_index(["problem", "optimizer"])
    assert list(t.index) == [("rastrigin", "attention"), ("rastrigin", "cma"), ("rastrigin (rotate, shift)", "attention"),
                             ("rastrigin (rotate, shift)", "cma")]  # attnopt optimizers first, baselines after
    a = t.loc[("rastrigin", "attention")]
    assert (a["runs"], a["solved_1e-2"], a["solved_1e-8"]) == (2, 1, 1)
    assert a["evals_to_1e-2_median"] == 10 and a["evals_to_1e-8_median"] == 100
    assert a["final_gap_median"] == pytest.approx((1e-9 + 1.0) / 2)
    assert a["final_iterate_gap_median"] == pytest.approx((1e-9 + 1.0) / 2)  # _runs: final loss = best
    assert a["time_s_median"] == pytest.approx(1.5)
    r = t.loc[("rastrigin (rotate, shift)", "attention")]
    assert (r["solved_1e-2"], r["solved_1e-8"], r["evals_to_1e-2_median"]) == (1, 1, 20)
    c = t.loc[("rastrigin", "cma")]
    assert c["solved_1e-8"] == 2 and c["evals_to_1e-8_median"] == 6.5
    assert c["evals_to_1e-8_median_grad2"] == 6.5  # gradient-free: the same in both accountings


def test_compare_of_attnopt_optimizers_alone_and_not_of_other_experiments_in_the_tree():
    """`make compare ARGS="optimizer=attention"` (no outside baseline) still gets its table and
    ECDF; runs of another experiment in the same tree (no landscape.rotate key) stay out."""
    runs, hist = _runs()
    own = runs[runs["optimizer"] == "attention"]
    other = own.assign(run_dir="table1_run", **{"landscape.rotate": np.nan, "landscape.shift": np.nan})
    hist = {**hist, "table1_run": hist[own["run_dir"].iloc[0]]}
    both = pd.concat([own, other.iloc[:1]], ignore_index=True)
    t = compare(both, hist)
    assert set(t["optimizer"]) == {"attention"} and t["runs"].sum() == len(own) == 4
    fig = fig_compare_ecdf(both, hist)
    assert fig.axes
    with pytest.raises(NotApplicable):
        compare(other, hist)
    with pytest.raises(NotApplicable):
        fig_compare_ecdf(other, hist)


def test_compare_table_counts_a_gradient_as_two_evaluations_in_its_second_accounting():
    runs, hist = _runs()
    d = runs.loc[(runs["optimizer"] == "cma") & ~runs["landscape.rotate"], "run_dir"].iloc[0]
    # 1 f + 1 grad, then 3 f + 3 grad (6 evaluations, 9 with gradients counted twice), then 7 + 7
    hist[d] = hist[d].assign(f_evals=[1, 3, 7], g_evals=[1, 3, 7])
    c = compare(runs, hist).set_index(["problem", "optimizer"]).loc[("rastrigin", "cma")]
    assert c["evals_to_1e-8_median"] == (6 + 8) / 2
    assert c["evals_to_1e-8_median_grad2"] == (9 + 8) / 2


def test_problem_labels_and_not_applicable():
    runs, _ = _runs()
    assert set(with_problem(runs)["problem"]) == {"rastrigin", "rastrigin (rotate, shift)"}
    with pytest.raises(NotApplicable):
        compare(runs.drop(columns=["landscape.rotate"]), {})


def test_ecdf_figure_has_a_panel_per_problem_and_dimension():
    runs, hist = _runs()
    fig = fig_compare_ecdf(runs, hist)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["rastrigin, d=10 (4 runs)\nf - f* in 1e2..1e-8",
                      "rastrigin (rotate, shift), d=10 (4 runs)\nf - f* in 1e2..1e-8", "all 2 problems, d=10"]
    # cma solves every target in both rastrigin panels: its curve ends at 1
    for ax in fig.axes[:3]:
        line = [ln for ln in ax.get_lines() if ln.get_label() == "cma"][0]
        assert line.get_ydata()[-1] == pytest.approx(1.0)
    # attention's two plain runs: one reaches 1e-8 (f - f* = 1e-9), the other stops at f - f* = 1 (at
    # 10^0 of the 51 log targets: 11 of them), so (51 + 11) / 102 of the pairs are solved
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "attention"][0]
    assert line.get_ydata()[-1] == pytest.approx((51 + 11) / 102)
    # outside baselines and attnopt optimizers never share a look
    looks = {(ln.get_color(), ln.get_linestyle()) for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")}
    assert len(looks) == 2


def test_presets_compose_to_the_documented_grids():
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from attnopt.cli import job_overrides

    expected = {  # preset: (jobs, sweep dir, dimension of the last job, target)
        "compare": (2 * 3 * 2 * 15 * 10, "outputs/sweeps/compare/classic", 20, 1e-8),
        "compare_trapped": (2 * 15 * 10, "outputs/sweeps/compare/trapped", 20, None),
        "compare_small": (3 * 2 * 15 * 3, "outputs/sweeps/compare_small/classic", 5, 1e-8),
        "compare_trapped_small": (15 * 3, "outputs/sweeps/compare_small/trapped", 5, None),
    }
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        for preset, (n_jobs, sweep_dir, dim, target) in expected.items():
            base = compose(config_name="config", overrides=[f"+experiment={preset}"], return_hydra_config=True)
            params = OmegaConf.to_container(base.hydra.sweeper.params)
            jobs = job_overrides([f"+experiment={preset}"], True, params)
            assert (len(jobs), base.hydra.sweep.dir) == (n_jobs, sweep_dir)
            last = compose(config_name="config", overrides=jobs[-1])
            assert (last.dimension, last.budget.target, last.budget.max_iters) == (dim, target, None)
            # the rotated runs are shifted too, with the run seed drawing the instance
            assert last.landscape.shift == last.landscape.rotate
            assert last.landscape.transform_seed == last.seed


@pytest.mark.slow
def test_compare_preset_and_report_end_to_end(tmp_path):
    sweep = tmp_path / "sweeps" / "classic"
    out = subprocess.run([sys.executable, "-m", "attnopt.cli", "run", "-m", "+experiment=compare_small", "seed=0",
                          "optimizer=attention_ipop,cma", "landscape=ackley", "dimension=2", "budget.max_evals=300",
                          "hydra.callbacks.report.report=false", f"hydra.sweep.dir={sweep}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    out = subprocess.run([sys.executable, "-m", "attnopt.cli", "report", str(sweep.parent), "--tables", "compare",
                          "--figures", "fig_compare_ecdf", "--out", str(tmp_path / "report")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    table = pd.read_csv(tmp_path / "report" / "compare.csv")
    assert set(table["problem"]) == {"ackley", "ackley (rotate, shift)"}
    assert set(table["optimizer"]) == {"attention_ipop", "cma"}
    assert (table["runs"] == 1).all()
    assert (tmp_path / "report" / "compare.md").read_text().startswith("| dimension | problem |")
    assert (tmp_path / "report" / "fig_compare_ecdf.png").stat().st_size > 10_000
    runs = pd.read_csv(tmp_path / "report" / "runs.csv")
    assert (runs["f_evals"] + runs["g_evals"] <= 300).all()


def test_tables_and_figures_share_the_reports_landscape_order():
    from attnopt.report.style import ordered_landscapes

    names = ["trapped", "zeta", "ackley (rotate, shift)", "rastrigin (rotate, shift)", "ackley", "rastrigin", "sphere"]
    assert ordered_landscapes(names) == ["sphere", "rastrigin", "rastrigin (rotate, shift)", "ackley",
                                         "ackley (rotate, shift)", "trapped", "zeta"]
    runs, hist = _runs()
    ack = runs.assign(landscape=runs["landscape"].str.replace("rastrigin", "ackley"),
                      run_dir="a" + runs["run_dir"])
    hist = {**hist, **{"a" + d: h for d, h in hist.items()}}
    both = pd.concat([ack, runs], ignore_index=True)  # ackley given first: still drawn after rastrigin
    fig = fig_compare_ecdf(both, hist)
    titles = [ax.get_title().split(",")[0] for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert titles[:4] == ["rastrigin", "rastrigin (rotate", "ackley", "ackley (rotate"]
    order = ["rastrigin", "rastrigin (rotate, shift)", "ackley", "ackley (rotate, shift)"]
    assert list(dict.fromkeys(compare(both, hist)["problem"])) == order
    from attnopt.report.ecdf import ert_table

    assert list(dict.fromkeys(ert_table(both, hist)["problem"])) == order
