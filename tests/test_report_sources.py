"""attnopt report over trees and several sources: what is grouped with what, where it writes, what
a reader gets (legends, round-trip floats, exit codes), and the COCO-style analysis."""
import copy
import json

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from attnopt import cli
from attnopt.report import label_variants, write_experiment, write_table
from attnopt.report.build import build_report, parse_sources
from attnopt.report.ecdf import ert, ert_table, problems, runtimes
from attnopt.report.figures import fig1
from attnopt.run import build, execute


def _execute(root, overrides, name):
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        cfg = compose(config_name="config", overrides=["plot=false", "progress=false", *overrides])
    execute(build(copy.deepcopy(cfg)), root / name)
    return root / name


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A tree like outputs/: a small Table-1-like sweep of rotated landscapes (transform_seed
    follows the seed) and, beside it, an experiment directory of ML runs (logreg)."""
    root = tmp_path_factory.mktemp("tree")
    for opt in ("gd", "attention"):
        for seed in (0, 1, 2):
            for dim in (2, 4):
                _execute(root / "table1_small", [f"optimizer={opt}", "landscape=sphere", f"dimension={dim}",
                                                 f"seed={seed}", "budget.max_iters=null", "budget.max_evals=400",
                                                 "landscape.shift=true", "landscape.transform_seed=${seed}"],
                         f"{opt}_sphere_d{dim}_s{seed}")
    ml = root / "ml" / "fig2"
    listed = [_execute(ml, ["optimizer=gd", "landscape=logreg", f"seed={s}", "budget.max_iters=5"], f"gd_logreg_s{s}")
              for s in (0, 1)]
    write_experiment(ml, "fig2_like", runs=listed)
    return root


def test_a_tree_groups_seeds_and_keeps_experiment_runs_out_of_table1(tree, tmp_path):
    result = build_report(tree, tmp_path / "r", ["table1"], ["fig1"], progress=False)
    assert not result["failed"] and not result["missing"]
    t = pd.read_csv(tmp_path / "r" / "table1.csv")
    # transform_seed = seed in every run that has it (the ML runs lack the key, so it reads as 0.0):
    # an instance, not a setting, so the three seeds stay one group
    assert list(t["optimizer"]) == ["attention", "gd", "attention", "gd"]
    assert set(t["landscape"]) == {"sphere (shift)"} and (t["seeds"] == 3).all()
    assert "logreg" not in " ".join(t["landscape"])  # the experiment's runs are its own tables' business
    runs = pd.read_csv(tmp_path / "r" / "runs.csv")
    assert len(runs) == 14 and runs["in_experiment"].sum() == 2  # but every run is in runs.csv


def test_follows_seed_compares_numbers_not_spellings():
    runs = pd.DataFrame({"landscape": ["ackley"] * 3, "dimension": [2] * 3, "optimizer": ["gd"] * 3,
                         "seed": [0, 1, 2], "landscape.transform_seed": [0.0, 1.0, 2.0]})
    assert set(label_variants(runs)["landscape"]) == {"ackley"}
    runs["landscape.transform_seed"] = [7.0, 7.0, 8.0]  # a real setting that varies
    assert label_variants(runs)["landscape"].str.contains("transform_seed").all()


def test_several_sources_keep_their_labels(tree, tmp_path):
    sweep = tree / "table1_small"
    result = build_report([f"before={sweep}", f"after={sweep}"], tmp_path / "r", ["table1"], "none",
                          progress=False)
    assert not result["failed"]
    t = pd.read_csv(tmp_path / "r" / "table1.csv")
    assert set(t["optimizer"]) == {"gd [before]", "gd [after]", "attention [before]", "attention [after]"}
    assert (t["seeds"] == 3).all()
    runs = pd.read_csv(tmp_path / "r" / "runs.csv")
    assert sorted(runs["source"].unique()) == ["after", "before"]
    assert parse_sources([str(sweep), str(tree / "ml" / "fig2")]) == {"table1_small": sweep, "fig2": tree / "ml" / "fig2"}
    with pytest.raises(Exception, match="twice"):
        parse_sources([f"a={sweep}", f"a={sweep}"])


def test_default_output_is_beside_the_sweep_and_replacing_anothers_files_is_said(tree, tmp_path, capsys):
    sweep = tree / "table1_small"
    result = build_report(sweep, None, ["table1"], "none", progress=False)
    assert result["out"] == sweep / "report" and (sweep / "report" / "table1.md").is_file()
    shared = tmp_path / "shared"
    build_report(sweep, shared, ["table1"], "none", progress=False)
    capsys.readouterr()
    build_report(sweep, shared, ["table1"], "none", progress=False)  # the same report again: nothing to say
    assert "replaced" not in capsys.readouterr().err
    build_report(f"other={sweep}", shared, ["table1"], "none", progress=False)
    err = capsys.readouterr().err
    assert "replaced 3 file(s)" in err and "table1.md" in err


def test_a_table_asked_for_by_name_and_not_built_exits_non_zero(tree, tmp_path, capsys):
    out = str(tmp_path / "r")
    assert cli.main(["report", str(tree / "table1_small"), "--out", out, "--tables", "table4", "--figures", "none"]) == 1
    err = capsys.readouterr().err
    assert "table table4 skipped" in err and "not built: table4" in err
    assert cli.main(["report", str(tree / "table1_small"), "--out", out, "--tables", "table1", "--figures",
                     "none", "--runs-name", "runs_table1_small"]) == 0
    assert (tmp_path / "r" / "runs_table1_small.csv").is_file()


def test_csv_floats_round_trip_and_markdown_has_a_legend(tmp_path):
    frame = pd.DataFrame({"x": [0.3, 1 / 3], "n": [7, 10]})
    frame.attrs["legend"] = "x: a number; n: a count."
    csv, md = write_table(frame, tmp_path, "t")
    assert csv.read_text().splitlines()[1] == "0.3,7"
    assert pd.read_csv(csv)["x"].tolist() == [0.3, 1 / 3]
    assert md.read_text().splitlines()[-1] == "x: a number; n: a count."


def test_fig1_plots_the_iterate_against_evaluations_per_present_panel(tree):
    from attnopt.report import load_runs

    runs, hist = load_runs(tree / "table1_small", with_history=True)
    fig = fig1(runs, hist)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["sphere (shift), d = 2", "sphere (shift), d = 4"]
    assert "over 3 seeds" in fig._suptitle.get_text()
    ax = panels[0]
    assert ax.get_xlabel() == "evaluations (f + grad)"
    gd = [ln for ln in ax.get_lines() if ln.get_label() == "gd"][0]
    att = [ln for ln in ax.get_lines() if ln.get_label() == "attention"][0]
    # both spend the same 400-evaluation budget, so both curves reach the same x
    assert np.nanmax(gd.get_xdata()[np.isfinite(gd.get_ydata())]) == pytest.approx(400, abs=2)
    assert np.nanmax(att.get_xdata()[np.isfinite(att.get_ydata())]) >= 380
    # the median of the iterate's loss (f - f*), not of the best loss: compare with the histories
    cell = runs[(runs["optimizer"] == "gd") & (runs["dimension"] == 2)]
    at_400 = np.median([hist[d]["loss"].iloc[-1] - f for d, f in zip(cell["run_dir"], cell["f_opt"])])
    y = gd.get_ydata()[np.isfinite(gd.get_ydata())][-1]
    assert y == pytest.approx(max(at_400, 1e-16), rel=1e-9)
    assert gd.get_color() != att.get_color() and gd.get_linestyle() != att.get_linestyle()


def _h(evals, best, start=None):
    best = np.asarray(best, float)
    loss = best.copy()
    if start is not None:
        loss[0] = start
    return pd.DataFrame({"iter": range(len(evals)), "loss": loss, "best_loss": best, "f_evals": evals, "g_evals": 0})


def test_ert_and_its_bootstrap_interval():
    value, lo, hi = ert(np.array([10.0, 20.0, 100.0]), np.array([True, True, False]), np.random.default_rng(0))
    assert value == pytest.approx(130 / 2)
    assert lo <= value <= hi or hi == np.inf
    assert ert(np.array([5.0, 5.0]), np.array([True, True]), np.random.default_rng(0)) == (5.0, 5.0, 5.0)
    assert ert(np.array([5.0]), np.array([False]), np.random.default_rng(0))[0] == np.inf


def test_targets_are_relative_to_each_problem_and_ert_table_reads_as_counts():
    hist = {"a0": _h([1, 10, 100], [100.0, 1.0, 1e-9]), "a1": _h([1, 10, 100], [100.0, 0.5, 0.5]),
            # a narrow band far from f* = 0: 21.3 -> 19.4, like Ackley's plateau
            "b0": _h([1, 50, 100], [21.3, 20.0, 19.4]), "b1": _h([1, 50, 100], [21.3, 21.0, 21.0])}
    runs = pd.DataFrame({"landscape": ["sphere", "sphere", "ackley", "ackley"], "dimension": [2] * 4,
                         "optimizer": ["gd"] * 4, "seed": [0, 1, 0, 1], "f_opt": [0.0] * 4, "run_dir": list(hist)})
    probs = problems(runs, hist)
    assert probs[2, "sphere"].kind == "f - f*" and probs[2, "sphere"].targets[0] == pytest.approx(100.0)
    ack = probs[2, "ackley"]
    assert ack.kind == "scaled" and ack.targets[0] == pytest.approx(21.3) and ack.targets[-1] == pytest.approx(19.4)
    assert runtimes(hist["b0"], ack.targets)[-1] == 100 and runtimes(hist["b1"], ack.targets)[-1] == np.inf
    t = ert_table(runs, hist)
    sphere = t[t["problem"] == "sphere"].set_index("target")
    # a0 gets below both targets at its third record (100 evaluations), a1 never (100 spent):
    # ERT = (100 + 100) / 1; a target of 1.5 would be (10 + 10) / 2
    assert sphere.loc["f - f* <= 1e-2", "successes"] == 1 and sphere.loc["f - f* <= 1e-2", "ert"] == 200
    assert sphere.loc["f - f* <= 1e-8", "ert"] == 200
    assert runtimes(hist["a0"], [1.5]).tolist() == [10] and runtimes(hist["a1"], [1.5]).tolist() == [10]
    shown = t.attrs["markdown"]
    assert shown.loc[t["problem"] == "sphere", "successes"].tolist() == ["1/2", "1/2"]
    assert pd.api.types.is_integer_dtype(t["successes"]) and pd.api.types.is_integer_dtype(t["runs"])
    assert "ERT" in t.attrs["legend"]


def test_iohprofiler_export_lists_every_run_and_its_improvements(tmp_path):
    from attnopt.report.iohprofiler import export_iohprofiler, replay_values

    hist = {"r0": _h([1, 10, 100], [5.0, 1.0, 1.0]), "r1": _h([1, 10, 100], [5.0, 5.0, 2.0])}
    # one value per evaluation: the best so far, an iteration's improvement at its last evaluation
    assert replay_values(hist["r1"]).tolist() == [5.0] * 99 + [2.0]
    two_at_start = _h([2, 4], [3.0, 1.0])  # x0's f and gradient: the format dates x0's value at 1
    assert replay_values(two_at_start).tolist() == [3.0, 3.0, 3.0, 1.0]
    runs = pd.DataFrame({"landscape": ["sphere"] * 2, "dimension": [3] * 2, "optimizer": ["gd"] * 2,
                         "seed": [0, 1], "run_dir": list(hist)})
    out = tmp_path / "ioh"
    written = export_iohprofiler(runs, hist, out)
    (json_file,) = (out / "gd").glob("IOHprofiler_f*_sphere.json")  # ioh numbers the functions it registers
    meta = json.loads(json_file.read_text())
    assert meta["maximization"] is False and meta["algorithm"]["name"] == "gd" and meta["function_name"] == "sphere"
    (scenario,) = meta["scenarios"]
    assert scenario["dimension"] == 3 and [r["instance"] for r in scenario["runs"]] == [0, 1]
    # ioh's own count of each run's evaluations, and its best point (no position: runs keep none)
    assert [r["evals"] for r in scenario["runs"]] == [100, 100]
    assert scenario["runs"][1]["best"] == {"evals": 100, "y": 2.0, "x": []}
    assert scenario["runs"][0]["best"] == {"evals": 10, "y": 1.0, "x": []}
    dat = (out / "gd" / scenario["path"]).read_text().splitlines()
    # a line at each improvement and, written by ioh when a run ends, one at its last evaluation
    assert dat == ["evaluations raw_y", "1 5", "10 1", "100 1", "evaluations raw_y", "1 5", "100 2"]
    assert sorted(written) == sorted([json_file, out / "gd" / scenario["path"]])
    assert not [p for p in tmp_path.iterdir() if p.name != "ioh"]  # staged beside it, nothing left over


def test_iohprofiler_export_refuses_a_directory_of_other_files(tmp_path):
    from attnopt.errors import ConfigError
    from attnopt.report.iohprofiler import export_iohprofiler

    (tmp_path / "notes.txt").write_text("mine")
    runs = pd.DataFrame({"landscape": ["sphere"], "dimension": [3], "optimizer": ["gd"], "seed": [0], "run_dir": ["r"]})
    with pytest.raises(ConfigError, match="not an IOHprofiler export"):
        export_iohprofiler(runs, {"r": _h([1, 10], [5.0, 1.0])}, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_iohprofiler_export_is_what_iohinspector_reads(tree, tmp_path):
    """The export read back by IOHprofiler's own reader (iohinspector, the Python counterpart of
    IOHanalyzer): every run with its budget and best value, and at every ECDF target of its problem
    the same runtime as attnopt's runtimes() computes from history.csv."""
    import iohinspector
    from iohinspector.align import align_data

    from attnopt.report import load_runs
    from attnopt.report.iohprofiler import export_iohprofiler

    runs, hist = load_runs(tree / "table1_small", with_history=True)
    export_iohprofiler(runs, hist, tmp_path / "ioh")
    manager = iohinspector.DataManager()
    manager.add_folder(str(tmp_path / "ioh"))
    overview = manager.overview.to_pandas()
    assert len(overview) == len(runs) == 12
    key = ["algorithm_name", "dimension", "instance"]
    ours = runs.assign(algorithm_name=runs["optimizer"], instance=runs["seed"],
                       evals=runs["f_evals"] + runs["g_evals"]).set_index(key).sort_index()
    theirs = overview.set_index(key).sort_index()
    assert set(theirs["function_name"]) == {"sphere_shift"}  # the landscape's label, "sphere (shift)"
    assert theirs["evals"].tolist() == ours["evals"].tolist()
    assert theirs["best_y"].tolist() == ours["best_loss"].tolist()  # round-trip floats, not %.10f
    data = manager.load(monotonic=True, include_meta_data=True)
    for (dim, land), prob in problems(runs, hist).items():
        cell = ours.xs(dim, level="dimension")
        for (opt, seed), row in cell.iterrows():
            ids = overview.loc[(overview["algorithm_name"] == opt) & (overview["dimension"] == dim)
                               & (overview["instance"] == seed), "data_id"].tolist()
            assert len(ids) == 1
            run = data.filter(data["data_id"] == ids[0])
            aligned = align_data(run, sorted(prob.targets), group_cols=["data_id"], x_col="raw_y",
                                 y_col="evaluations", silence_warning=True).to_pandas()
            read_back = aligned.set_index("raw_y")["evaluations"].reindex(prob.targets).to_numpy(float)
            h = hist[row["run_dir"]]
            expected = runtimes(h, prob.targets)
            # the one difference, by the format's rule: x0's loss is dated at evaluation 1, not at the
            # end of iteration 0 (evaluation 2 for gd, which counts x0's gradient too)
            at_x0 = expected == h["f_evals"].iloc[0] + h["g_evals"].iloc[0]
            assert np.array_equal(read_back[~at_x0], expected[~at_x0]), (opt, dim, seed)
            assert (read_back[at_x0] == 1).all() and at_x0.sum() < len(at_x0) - 5
            assert np.isinf(expected).any() or opt == "gd"  # attention's runs leave targets unreached


def test_ecdfs_are_per_dimension_never_pooled_across_them(tree):
    from attnopt.report import load_runs
    from attnopt.report.ecdf import fig_ecdf

    runs, hist = load_runs(tree / "table1_small", with_history=True)
    fig = fig_ecdf(runs, hist)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["sphere (shift), d=2 (6 runs)\nf - f* in 1e2..1e-8", "sphere (shift), d=4 (6 runs)\nf - f* in 1e2..1e-8"]
    first_row = [ax for ax in fig.axes if ax.get_visible()][0]
    gd = [ln for ln in first_row.get_lines() if ln.get_label() == "gd"][0]
    # where gd's ECDF ends: the share of (run, target) pairs its three d=2 runs solved, from the files
    from attnopt.report.ecdf import LOG_TARGETS

    cell = runs[(runs["optimizer"] == "gd") & (runs["dimension"] == 2)]
    solved = [np.sum(hist[d]["best_loss"].min() - f <= LOG_TARGETS) for d, f in zip(cell["run_dir"], cell["f_opt"])]
    assert gd.get_ydata()[-1] == pytest.approx(sum(solved) / (3 * len(LOG_TARGETS)))
    assert 0 < gd.get_ydata()[-1] < 1


def test_ioh_export_from_the_command_line(tree, tmp_path, capsys):
    assert cli.main(["report", str(tree / "table1_small"), "--out", str(tmp_path / "r"), "--tables", "none",
                     "--figures", "none", "--ioh", str(tmp_path / "ioh")]) == 0
    assert "exported 12 runs in IOHprofiler's format (written by ioh's Analyzer)" in capsys.readouterr().err
    (json_file,) = (tmp_path / "ioh" / "gd").glob("IOHprofiler_f*_sphere_shift.json")
    meta = json.loads(json_file.read_text())
    assert sorted(s["dimension"] for s in meta["scenarios"]) == [2, 4]
    assert all(len(s["runs"]) == 3 for s in meta["scenarios"])
