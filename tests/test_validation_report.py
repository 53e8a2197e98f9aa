"""Issue 12, section 4, the report side: run directories whose files have the wrong content are
named and left out, a bad --out fails in one line before any work, and a report's files are one
consistent set (a report that fails part-way never leaves an older report's tables beside it)."""
import copy
import json
import shutil

import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from attnopt import cli
from attnopt.report import registry
from attnopt.report.build import build_report
from attnopt.run import build, execute


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Four real run directories (two seeds of gd on sphere, d=2 and 3)."""
    root = tmp_path_factory.mktemp("runs")
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        base = compose(config_name="config", overrides=["landscape=sphere", "optimizer=gd", "budget.max_iters=20",
                                                        "plot=false", "progress=false"])
        for dim in (2, 3):
            for seed in (0, 1):
                cfg = copy.deepcopy(base)
                cfg.dimension, cfg.seed = dim, seed
                execute(build(cfg), root / f"d{dim}_s{seed}")
    return root


def copy_of(runs, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs, root)
    return root


@pytest.mark.parametrize("key, value", [("dimension", "ten"), ("iters", -5), ("seed", 1.5), ("final_loss", "low"),
                                        ("optimizer", None), ("f_evals", True)])
def test_a_summary_with_wrong_types_is_named_and_skipped(runs, tmp_path, capsys, key, value):
    root = copy_of(runs, tmp_path)
    bad = root / "d2_s0" / "summary.json"
    summary = json.loads(bad.read_text())
    summary[key] = value
    bad.write_text(json.dumps(summary))
    result = build_report(root, tmp_path / "r", ["table1"], "none", progress=False)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert str(bad.parent) in err and f"{key} is {value!r}" in err
    assert len(result["unreadable"]) == 1 and result["failed"] == []
    assert len(pd.read_csv(tmp_path / "r" / "runs.csv")) == 3


@pytest.mark.parametrize("garbage", ["letters", "no rows"])
def test_a_history_with_garbage_content_is_named_and_skipped(runs, tmp_path, capsys, garbage):
    root = copy_of(runs, tmp_path)
    path = root / "d3_s1" / "history.csv"
    history = pd.read_csv(path)
    if garbage == "letters":  # same columns, same row count: only the content is wrong
        history["loss"] = "x"
    else:
        history = history.iloc[:0]
    history.to_csv(path, index=False)
    result = build_report(root, tmp_path / "r", ["table1"], "none", progress=False)
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(path.parent) in err and "history.csv" in err
    assert len(result["unreadable"]) == 1
    assert len(pd.read_csv(tmp_path / "r" / "runs.csv")) == 3


@pytest.mark.parametrize("where", ["a file", "inside a file", "read-only"])
def test_report_out_that_cannot_be_written_fails_in_one_line_before_any_work(runs, tmp_path, capsys, where):
    blocker = tmp_path / "FILE"
    blocker.write_text("not a directory")
    out = {"a file": blocker, "inside a file": blocker / "report", "read-only": "/proc/report"}[where]
    code = cli.main(["report", str(runs), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("attnopt: error: cannot write outputs to")
    assert blocker.read_text() == "not a directory"
    assert not any(p.name.startswith("report") for p in runs.rglob("*"))


def _files(out):
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def test_a_report_whose_item_fails_leaves_no_older_version_of_it(runs, tmp_path, capsys, monkeypatch):
    root = copy_of(runs, tmp_path)
    out = tmp_path / "r"
    build_report(root, out, ["table1"], ["fig1"], progress=False)
    assert {"runs.csv", "table1.csv", "table1.md", "fig1.png"} <= set(_files(out))
    shutil.rmtree(root / "d2_s1")  # the runs change ...

    def broken(*args):
        raise RuntimeError("figure code broke")

    monkeypatch.setitem(registry.FIGURES, "fig1", broken)  # ... and this time fig1 fails
    result = build_report(root, out, ["table1"], ["fig1"], progress=False)
    err = capsys.readouterr().err
    assert result["failed"] == ["fig1"] and "fig1.png" in err
    files = _files(out)
    assert "fig1.png" not in files  # not the previous report's figure of four runs beside three
    assert len(pd.read_csv(out / "runs.csv")) == 3
    assert pd.read_csv(out / "table1.csv")["seeds"].sum() == 3
    assert not any(p.name.startswith(".staging") for p in out.iterdir())


def test_a_report_that_stops_part_way_leaves_the_previous_report_whole(runs, tmp_path, monkeypatch):
    root = copy_of(runs, tmp_path)
    out = tmp_path / "r"
    build_report(root, out, ["table1"], ["fig1"], progress=False)
    before = _files(out)
    shutil.rmtree(root / "d2_s1")

    def interrupted(*args):
        raise KeyboardInterrupt  # Ctrl-C while the figure is drawn: nothing is caught

    monkeypatch.setitem(registry.FIGURES, "fig1", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_report(root, out, ["table1"], ["fig1"], progress=False)
    assert _files(out) == before  # the old set, byte for byte: not the new runs.csv beside old figures
    monkeypatch.undo()
    build_report(root, out, ["table1"], ["fig1"], progress=False)  # the next report cleans up after it
    assert not any(p.name.startswith(".staging") for p in out.iterdir())
    assert len(pd.read_csv(out / "runs.csv")) == 3


def test_a_report_of_some_items_keeps_the_others(runs, tmp_path):
    out = tmp_path / "r"
    build_report(runs, out, ["table1"], ["fig1"], progress=False)
    build_report(runs, out, ["table1"], "none", progress=False)
    assert "fig1.png" in _files(out)  # not asked for this time: left as it was
