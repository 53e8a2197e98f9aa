"""The `attnopt` command end to end: run directories, sweeps, help, and one-line errors."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from attnopt import cli, landscapes, optimizers
from attnopt.runner import HISTORY_COLUMNS

SMALL = ["budget.max_iters=20", "progress=false"]


def attnopt(*args, cwd):
    return subprocess.run([sys.executable, "-m", "attnopt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def run_dirs(root):
    return sorted(p.parent for p in root.rglob("summary.json"))


@pytest.mark.slow
def test_run_writes_a_complete_run_directory(tmp_path):
    out = attnopt("run", "optimizer=attention", "landscape=rastrigin", "dimension=4", "seed=3", *SMALL, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run_dir,) = run_dirs(tmp_path / "outputs")
    assert {p.name for p in run_dir.iterdir()} >= {"config.yaml", "history.csv", "summary.json", "loss.png"}
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ["optimizer", "landscape", "dimension", "seed", "final_loss", "best_loss", "iters", "f_evals",
                "g_evals", "time_s", "status"]:
        assert key in summary
    assert (summary["optimizer"], summary["landscape"], summary["dimension"], summary["seed"]) == (
        "attention", "rastrigin", 4, 3)
    assert summary["iters"] == 20 and summary["f_evals"] == 1 + 20 * 65 and summary["status"] == "max_iters"
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history.columns) == HISTORY_COLUMNS and len(history) == 21
    assert history["best_loss"].iloc[-1] == summary["best_loss"]
    assert (run_dir / "loss.png").read_bytes()[:4] == b"\x89PNG"
    # one closing line naming the outputs and the final numbers
    assert str(run_dir) in out.stdout and "final loss" in out.stdout


@pytest.mark.slow
def test_same_config_and_seed_give_identical_history_through_the_cli(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        assert attnopt("run", "landscape=trapped", "seed=5", *SMALL, cwd=tmp_path / sub).returncode == 0
    (a,), (b,) = run_dirs(tmp_path / "a"), run_dirs(tmp_path / "b")
    ha, hb = (pd.read_csv(d / "history.csv").drop(columns="time_s") for d in (a, b))
    assert ha.equals(hb)
    assert (a / "history.csv").read_text().splitlines()[1].split(",")[:5] == \
           (b / "history.csv").read_text().splitlines()[1].split(",")[:5]


@pytest.mark.slow
def test_multirun_sweep(tmp_path):
    out = attnopt("run", "-m", "landscape=sphere,rastrigin", "dimension=2,3", "optimizer=gd", *SMALL, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    dirs = run_dirs(tmp_path / "outputs" / "multirun")
    assert len(dirs) == 4
    seen = {(json.loads((d / "summary.json").read_text())["landscape"],
             json.loads((d / "summary.json").read_text())["dimension"]) for d in dirs}
    assert seen == {("sphere", 2), ("sphere", 3), ("rastrigin", 2), ("rastrigin", 3)}


@pytest.mark.slow
def test_help_lists_groups_and_options(tmp_path):
    top = attnopt("--help", cwd=tmp_path)
    assert top.returncode == 0 and "optimizer=" in top.stdout and "attention_explore" in top.stdout
    run_help = attnopt("run", "--help", cwd=tmp_path)
    assert run_help.returncode == 0
    groups = {}
    for line in run_help.stdout.splitlines():  # the first such lines list the groups; the config follows
        key, _, rest = line.partition(":")
        if key in ("landscape", "optimizer") and key not in groups:
            groups[key] = rest
    for name in landscapes.names():
        assert name in groups["landscape"]
    for name in optimizers.names():
        assert name in groups["optimizer"]
    assert "n_trials" in run_help.stdout
    assert not (tmp_path / "outputs").exists()


BAD = [
    (["optimizer=fooo"], "unknown optimizer 'fooo'; choose from: adam, attention"),
    (["landscape=spere"], "unknown landscape 'spere'; choose from: ackley"),
    (["optimizer.sigmaa=1"], "unknown key 'optimizer.sigmaa' (did you mean 'sigma'?)"),
    (["dimensoin=3"], "unknown key 'dimensoin' (did you mean 'dimension'?)"),
    (["dimension=abc"], "dimension='abc' is invalid: expected an integer"),
    (["dimension=0"], "dimension=0 is invalid: must be >= 1"),
    (["dimension=-4"], "dimension=-4 is invalid: must be >= 1"),
    (["optimizer.sigma=0"], "optimizer.sigma=0 is invalid: must be > 0"),
    (["optimizer.beta=-1"], "optimizer.beta=-1 is invalid: must be > 0"),
    (["optimizer.eta=0"], "optimizer.eta=0 is invalid: must be > 0"),
    (["optimizer=gd", "optimizer.lr=-0.1"], "optimizer.lr=-0.1 is invalid: must be > 0"),
    (["optimizer.n_trials=0"], "optimizer.n_trials=0 is invalid: must be > 0"),
    (["optimizer=attention_explore", "optimizer.n_exploit=0", "optimizer.n_explore=0"], "must sum to at least 1"),
    (["dimension=2", "x0=[1,2,3]"], "x0 has 3 values but dimension=2"),
    (["dimension=2", "x0=[1,inf]"], "x0=[1.0, inf] is invalid: every value must be finite"),
    (["budget.max_iters=null"], "budget is unbounded"),
    (["seed=-2"], "seed=-2 is invalid"),
    (["-m", "dimension=2,0"], "dimension=0 is invalid"),
    (["-m", "optimizer=gd,nope"], "unknown optimizer 'nope'"),
    (["landscape=linreg", "landscape.dataset=nope"], "landscape.dataset='nope' is invalid: must be one of"),
    (["optimizer=learned"], "optimizer.checkpoint is not set"),
    (["optimizer=learned", "optimizer.checkpoint=/nonexistent/x.pt"], "/nonexistent/x.pt': no such file"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("attnopt: error: ")
    assert message in err, err
    assert not (tmp_path / "outputs").exists()


def test_unknown_command(capsys):
    assert cli.main(["rnu"]) == 2
    assert "unknown command 'rnu'" in capsys.readouterr().err


@pytest.mark.slow
def test_bad_input_through_the_installed_command_has_no_traceback(tmp_path):
    out = attnopt("run", "dimension=abc", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "attnopt: error: dimension='abc' is invalid: expected an integer"


def test_report_on_a_directory_without_runs(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no finished runs under" in err
