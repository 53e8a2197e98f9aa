"""`attnopt report` finds Tables 2-3 and Figures 2-3 through the experiment.json that
`python -m attnopt.experiments.ml` (`make table2 fig2 fig3 table3`) leaves in each experiment
directory, and builds the same files the make targets do."""
import json
import os
import shutil

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from attnopt import cli
from attnopt.experiments import ml
from attnopt.report import EXPERIMENT_FILE, read_experiment
from attnopt.report.markdown import number
from attnopt.report.registry import FIGURES, TABLES

ML_ITEMS = {"table2.csv", "table2.md", "table3.csv", "table3.md", "fig2.png", "fig3.png", "table3_search.png"}
TINY_MLP = ml.Task("mlp", 13, {"dataset": "moons", "hidden": 3, "n_samples": 80, "noise": 0.2})
TINY_HPO = ["n_seeds=2", "reference=50", "budget=6", "steps=5", "methods=[grid,random,attention]"]


def tiny_experiments(scale):
    """SCALE=small's experiments, cut to 2 seeds and 10-15 iterations so all four take seconds."""
    return {
        "table2": [ml.Experiment((TINY_MLP,), {"gd": {"lr": 0.5}, "attention": {"n_trials": 10, "sigma": 0.05,
                                                                                   "beta": 200.0}}, 2, 15)],
        "fig2": [ml.Experiment((t,), ml.FIG2_METHODS[t.landscape], 2, 15) for t in ml.FIG2_TASKS],
        "fig3": [ml.Experiment(ml.fig3_tasks((3, 6)), ml.FIG3_METHODS, 2, 10)],
    }


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Every ML target run as `make` runs it (tiny settings): (runs root, the targets' output dir)."""
    tmp = tmp_path_factory.mktemp("ml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ml, "experiments", tiny_experiments)
        mp.setattr(ml, "HPO_OVERRIDES", {"small": TINY_HPO})
        for target in ("table2", "fig2", "fig3", "table3"):
            assert ml.main([target, "--scale", "small", "--runs", str(tmp / "ml"), "--out", str(tmp / "make")]) == 0
    return tmp / "ml", tmp / "make"


def report(root, out, *args):
    return cli.main(["report", str(root), "--out", str(out), *args])


def test_report_builds_the_ml_tables_and_figures_the_make_targets_build(made, tmp_path, capsys):
    runs_root, make_out = made
    assert ML_ITEMS <= {p.name for p in make_out.iterdir()}
    assert report(runs_root, tmp_path / "r") == 0
    out = capsys.readouterr().out
    assert "experiments fig2, fig3, table2, table3" in out
    written = {p.name for p in (tmp_path / "r").iterdir()}
    assert ML_ITEMS <= written and "runs.csv" in written
    for name in sorted(ML_ITEMS):  # the same inputs through the same functions: the same files
        assert (tmp_path / "r" / name).read_bytes() == (make_out / name).read_bytes(), name

    t2 = pd.read_csv(tmp_path / "r" / "table2.csv").set_index("optimizer")
    assert sorted(t2.index) == ["attention", "gd"] and (t2["seeds"] == 2).all()
    assert list(t2["reached"]) == ["2/2", "2/2"]  # the automatic target is one every run reaches
    assert t2.loc["gd", "f_evals_per_iter"] == 1 and t2.loc["gd", "g_evals_per_iter"] == 1
    assert t2.loc["attention", "f_evals_per_iter"] == 11 and t2.loc["attention", "g_evals_per_iter"] == 0
    t3 = pd.read_csv(tmp_path / "r" / "table3.csv")
    assert list(t3["method"]) == ["grid", "random", "attention"]
    assert (t3["evals"] == 6).all() and (t3["seeds"] == 2).all() and (t3["regret"] >= 0).all()
    md3 = (tmp_path / "r" / "table3.md").read_text()
    assert md3.startswith("| method | best lr | min validation loss | regret: median [IQR] |")
    med, q25, q75 = t3.loc[0, ["regret", "regret_q25", "regret_q75"]]
    assert f"| {number(med)} [{number(q25)}, {number(q75)}] |" in md3.splitlines()[2]  # one cell, as a reader expects
    md2 = (tmp_path / "r" / "table2.md").read_text().splitlines()
    assert md2[0].startswith("| optimizer | seeds | target | reached | time / iteration (ms) | evaluations / iteration |")
    gd_row = next(r for r in md2 if r.startswith("| gd |"))
    assert "| 1 f + 1 grad |" in gd_row and "| 2/2 |" in gd_row
    runs = pd.read_csv(tmp_path / "r" / "runs.csv")
    assert len(runs) == 4 + 8 + 8  # table2, fig2 (2 tasks), fig3 (2 sizes): 2 optimizers x 2 seeds each


def test_registered_ml_figures_show_what_the_experiments_ran(made):
    runs_root, _ = made
    fig2 = FIGURES["fig2"](read_experiment(runs_root / "small" / "fig2"))
    assert [ax.get_title().split(",")[0] for ax in fig2.axes] == ["linear regression (MSE)"] * 2 + [
        "logistic regression (BCE)"] * 2
    assert all(len(ax.lines) == 2 for ax in fig2.axes)  # gd and attention
    fig3 = FIGURES["fig3"](read_experiment(runs_root / "small" / "fig3"))
    for ax in fig3.axes:  # one median-with-IQR-bars series per optimizer, a point per size
        assert [[float(x) for x in bars.lines[0].get_xdata()] for bars in ax.containers] == [[4, 7], [4, 7]]
    plt.close("all")
    assert set(TABLES) >= {"table2", "table3"} and set(FIGURES) >= {"fig2", "fig3", "table3_search"}


def test_an_experiment_directory_without_runs_reports_its_tables_alone(made, tmp_path, capsys):
    runs_root, _ = made
    assert report(runs_root / "small" / "table3", tmp_path / "r") == 0
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"table3.csv", "table3.md", "table3_search.png",
                                                             "index.html", "report.json"}
    err = capsys.readouterr().err
    assert "not applicable to these runs, so not built: " in err and "table1" in err and "table2" in err
    # asked for by name, an item says why, and the command fails: what was asked for is not there
    assert cli.main(["report", str(runs_root / "small" / "table3"), "--out", str(tmp_path / "r2"),
                     "--tables", "table1,table2", "--figures", "none"]) == 1
    err = capsys.readouterr().err
    assert "table table1 skipped: needs run directories" in err
    assert "table table2 skipped: needs the results of experiment table2" in err


def test_runs_without_an_experiment_json_are_ordinary_runs(made, tmp_path, capsys):
    """What a directory of runs reported before these tables were registered still gives."""
    root = tmp_path / "plain"
    shutil.copytree(made[0] / "small" / "table2", root)
    (root / EXPERIMENT_FILE).unlink()
    assert report(root, tmp_path / "r") == 0
    written = {p.name for p in (tmp_path / "r").iterdir()}
    assert not written & ML_ITEMS and {"runs.csv", "table1.csv", "fig1.png"} <= written
    assert "table2" in capsys.readouterr().err.split("so not built: ")[1]


def test_incomplete_or_corrupt_experiments_are_named_and_left_out(made, tmp_path, capsys):
    root = tmp_path / "ml"
    shutil.copytree(made[0], root)
    (lost,) = (root / "small" / "table2").glob("gd_mlp_d13_s1_*")  # named as every run is (rundir.run_name)
    (lost / "summary.json").unlink()
    (root / "small" / "fig3" / EXPERIMENT_FILE).write_text('{"experiment": "fig3", "runs": [')  # cut off
    # table2 and fig3 were asked for and cannot be built: named, and the command fails
    assert report(root, tmp_path / "r", "--tables", "table2", "table3", "--figures", "fig2", "fig3") == 1
    err = capsys.readouterr().err
    assert "not built: fig3, table2" in err
    assert f"skipping experiment directory {root / 'small' / 'table2'}: 1 of its 4 runs are missing" in err
    assert f"skipping experiment directory {root / 'small' / 'fig3'}: experiment.json is unreadable" in err
    written = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"fig2.png", "table3.csv"} <= written and not {"table2.csv", "fig3.png"} & written


def test_of_two_copies_of_an_experiment_the_newer_counts(made, tmp_path, capsys):
    root = tmp_path / "ml"
    shutil.copytree(made[0] / "small" / "table2", root / "small" / "table2")
    manifest = json.loads((root / "small" / "table2" / EXPERIMENT_FILE).read_text())
    newer = root / "full" / "table2"
    shutil.copytree(root / "small" / "table2", newer)
    manifest["settings"]["target"] = 1e-9  # a target no run reaches tells the copies apart
    (newer / EXPERIMENT_FILE).write_text(json.dumps(manifest))
    stamp = (newer / EXPERIMENT_FILE).stat().st_mtime + 10
    os.utime(newer / EXPERIMENT_FILE, (stamp, stamp))
    assert report(root, tmp_path / "r", "--tables", "table2", "--figures", "none") == 0
    assert f"experiment table2 in {root / 'small' / 'table2'} is left out: {newer} is newer" in \
        capsys.readouterr().err
    assert list(pd.read_csv(tmp_path / "r" / "table2.csv")["reached"]) == ["0/2", "0/2"]
