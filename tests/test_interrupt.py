"""Interrupted work (issue 12, 5): Ctrl-C says one line, and nothing is left that a later command
has to complain about (no directory holding only .hydra/, no half-written run)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attnopt import rundir

from doubles import ctrl_c_reaches_it


def leftovers(sweep: Path) -> list[Path]:
    """Directories under the sweep that are neither a complete run nor attnopt's own bookkeeping."""
    bad = []
    for d in sweep.iterdir():
        if d.is_dir() and d.name not in (".attnopt", "report") and rundir.check(d) is not None:
            bad.append(d)
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["hydra.launcher.n_jobs=2", "hydra.launcher.pool_after_s=0"]], ids=["serial", "two-workers"])
def test_ctrl_c_prints_one_line_and_leaves_only_complete_runs(tmp_path, launcher):
    sweep = tmp_path / "sw"
    args = [sys.executable, "-m", "attnopt.cli", "run", "-m", "seed=range(12)", "optimizer=attention", "dimension=50",
            "budget.max_iters=600", "plot=false", f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.report=false",
            *launcher]
    # a new session, like a terminal's foreground group: Ctrl-C reaches every process of the sweep
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=ctrl_c_reaches_it)
    deadline = time.monotonic() + 120
    while len(list(sweep.rglob("summary.json"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("sweep:")]  # the bar
    assert lines == ["attnopt: interrupted; finished runs are complete on disk"], err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert leftovers(sweep) == []
    finished = {p.parent: p.read_bytes() for p in sweep.rglob("summary.json")}
    assert 2 <= len(finished) < 12

    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list(sweep.rglob("summary.json"))) == 12 and leftovers(sweep) == []
    assert all(d.joinpath("summary.json").read_bytes() == b for d, b in finished.items())


@pytest.mark.slow
def test_a_killed_run_leaves_no_directory_holding_only_hydra_files(tmp_path):
    """kill -9 in the middle of a single run: Hydra's .hydra/ files are written with the results,
    so nothing (at most an empty directory) is left, and `attnopt report` has nothing to warn about."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "attnopt.cli", "run", "optimizer=gd", "dimension=2000",
                             "budget.max_iters=200000", "plot=false", f"hydra.run.dir={run_dir}"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not run_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert run_dir.is_dir() and list(run_dir.iterdir()) == []
