"""attnopt.rundir: the run directory's layout, atomic writing, reading back, completeness and hash."""
import json

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from attnopt import rundir
from attnopt.rundir import RunDirError

CONFIG = {"optimizer": {"name": "gd", "lr": 0.1}, "landscape": {"name": "sphere"}, "dimension": 2, "seed": 0,
          "x0": None, "budget": {"max_iters": 3, "max_evals": None}, "progress": "auto", "plot": True,
          "resume": True, "backend": "numpy", "device": "cpu", "dtype": "float64"}


def history(iters=3):
    return pd.DataFrame({"iter": range(iters + 1), "loss": np.linspace(1, 0, iters + 1),
                         "best_loss": np.linspace(1, 0, iters + 1), "f_evals": range(1, iters + 2),
                         "g_evals": range(1, iters + 2), "time_s": np.linspace(0.001, 0.01, iters + 1), "phase": "gd"})


def summary(iters=3):
    return {"optimizer": "gd", "landscape": "sphere", "dimension": 2, "seed": 0, "final_loss": 0.0,
            "best_loss": 0.0, "iters": iters, "f_evals": iters + 1, "g_evals": iters + 1, "time_s": 0.01,
            "status": "budget_exhausted"}


@pytest.fixture
def run(tmp_path):
    return rundir.write(tmp_path / "run", config=CONFIG, history=history(), summary=summary())


def test_a_written_run_is_complete_and_reads_back_exactly(run):
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "history.csv", "summary.json"]
    assert rundir.check(run) is None and rundir.check(run, rundir.config_hash(CONFIG)) is None
    assert rundir.read_summary(run)["config_hash"] == rundir.config_hash(CONFIG)
    assert rundir.read_config(run) == CONFIG
    pd.testing.assert_frame_equal(rundir.read_history(run), history(), check_exact=True)
    assert not list(run.glob(".*.tmp"))  # atomic writes leave no temporary files


@pytest.mark.parametrize("content, reason", [
    ("iter,loss,best_loss,f_evals,g_evals,time_s,phase\n" + "x,y,z,a,b,c,d\n" * 4, "iter holds values that are not numbers"),
    ("iter,loss,best_loss,f_evals,g_evals,time_s,phase\n" + "0,1,1,1,1,0,gd\n1,oops,1,1,1,0,gd\n2,1,1,1,1,0,gd\n"
     "3,1,1,1,1,0,gd\n", "loss holds values that are not numbers"),
    ("a,b\n1,2\n3,4\n5,6\n7,8\n", "lacks columns iter, loss"),
    ("iter,loss,best_loss,f_evals,g_evals,time_s,phase\n" + "5,1,1,1,1,0,gd\n" * 4, "iter is not 0, 1, 2"),
    ("iter,loss,best_loss,f_evals,g_evals,time_s,phase\n0,1,1,1,1,0,gd\n", "has 1 rows, summary.json says 4"),
    ("", "history.csv is unreadable"),
])
def test_history_with_the_right_row_count_but_garbage_content_is_not_complete(run, content, reason):
    (run / "history.csv").write_text(content)
    assert reason in rundir.check(run)
    with pytest.raises(RunDirError):
        rundir.read_history(run, 3)


@pytest.mark.parametrize("field, value", [("dimension", "ten"), ("iters", -5), ("final_loss", "low"),
                                          ("seed", 1.5), ("status", 3), ("f_evals", True)])
def test_summary_with_wrong_types_is_refused_naming_the_field(run, field, value):
    data = json.loads((run / "summary.json").read_text())
    data[field] = value
    (run / "summary.json").write_text(json.dumps(data))
    with pytest.raises(RunDirError, match=field):
        rundir.read_summary(run)
    assert field in rundir.check(run)


def test_summary_missing_or_cut_off(run):
    (run / "summary.json").write_text('{"final_loss": 1.0, "iters"')
    assert "unreadable" in rundir.check(run)
    (run / "summary.json").unlink()
    assert rundir.check(run) == "no summary.json (the run did not finish)"


def test_config_hash_counts_everything_computed_and_nothing_shown():
    h = rundir.config_hash(CONFIG)
    assert h == rundir.config_hash({**CONFIG, "plot": False, "progress": False, "resume": False})
    assert h == rundir.config_hash({**CONFIG, "hydra": {"job": {"num": 7}}})
    for changed in ({"seed": 1}, {"dimension": 3}, {"x0": [1.0, 2.0]}, {"dtype": "float32"},
                    {"budget": {"max_iters": 4, "max_evals": None}}, {"budget": {"max_iters": 3, "max_evals": 10}},
                    {"optimizer": {"name": "gd", "lr": 0.2}}, {"landscape": {"name": "sphere", "shift": True}}):
        assert rundir.config_hash({**CONFIG, **changed}) != h, changed
    # a DictConfig (with interpolations and a hydra node) hashes like its resolved plain form
    cfg = OmegaConf.create({**CONFIG, "dimension": "${seed}", "hydra": {"x": 1}})
    assert rundir.config_hash(cfg) == rundir.config_hash({**CONFIG, "dimension": 0})


def test_run_name_is_readable_and_ends_with_the_hash():
    assert rundir.run_name(CONFIG) == f"gd_sphere_d2_s0_{rundir.config_hash(CONFIG)[:8]}"
    assert rundir.run_name({**CONFIG, "optimizer": {"name": "gd", "lr": 0.2}}) != rundir.run_name(CONFIG)
    rundir.register_resolver()
    cfg = OmegaConf.create({**CONFIG, "hydra": {"sweep": {"subdir": "${attnopt.run_name:}"}}})
    assert cfg.hydra.sweep.subdir == rundir.run_name(CONFIG)


def test_claim_never_touches_a_complete_run_of_another_config(run, tmp_path):
    other = {**CONFIG, "seed": 5}
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for resume in (True, False):
        got = rundir.claim(run, other, tmp_path, resume=resume)
        # it runs into the directory its own config names, beside the one it was handed
        assert got == rundir.Claim(tmp_path / rundir.run_name(other), False, got.note)
        assert "holds a complete run of another config, which is kept" in got.note
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    # the same config: reused when resuming (where it is, or anywhere under the sweep directory) ...
    assert rundir.claim(run, CONFIG, tmp_path) == rundir.Claim(run, True)
    assert rundir.claim(tmp_path / "new", CONFIG, tmp_path) == rundir.Claim(run, True)
    # ... and cleared for a forced rerun (resume=false)
    assert rundir.claim(run, CONFIG, tmp_path, resume=False) == rundir.Claim(run, False)
    assert not (run / "summary.json").exists()


def test_claim_clears_a_partial_attempt_and_says_why(run, tmp_path):
    (run / "summary.json").unlink()
    got = rundir.claim(run, {**CONFIG, "seed": 5}, tmp_path)
    assert got.dir == run and not got.complete and "rerunning" in got.note and "no summary.json" in got.note
    assert not (run / "history.csv").exists() and not (run / "config.yaml").exists()


def test_remove_partial_removes_an_interrupted_attempt_but_never_a_complete_run(run, tmp_path):
    assert not rundir.remove_partial(run) and rundir.check(run) is None
    partial = tmp_path / "partial"
    (partial / ".hydra").mkdir(parents=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (partial / ".hydra" / name).write_text("x: 1\n")
    (partial / "history.csv").write_text("iter\n0\n")
    (partial / ".summary.json.abc.tmp").write_text("{")
    assert rundir.remove_partial(partial) and not partial.exists()
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")  # not attnopt's: the directory stays, with it
    assert not rundir.remove_partial(keep) and (keep / "notes.txt").read_text() == "mine"


def test_complete_runs_finds_runs_by_hash(run, tmp_path):
    h = rundir.config_hash(CONFIG)
    assert rundir.complete_runs(tmp_path) == {h: run}
    assert rundir.complete_runs(tmp_path, {"0" * 16}) == {}
    (run / "history.csv").write_text("garbage\n")
    assert rundir.complete_runs(tmp_path) == {}
