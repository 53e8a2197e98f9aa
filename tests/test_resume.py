"""Resuming a sweep never deletes or overwrites a finished run of another config (issue 12, 1 and 5).

A job's directory is decided by its config (``${attnopt.run_name:}`` ends with the config hash); a
job handed the directory of another config's finished run (a hand-made ``hydra.sweep.subdir`` such
as ``${hydra.job.num}``) leaves it alone and runs into the directory its own config names.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attnopt import rundir

SIGMA = ["optimizer.sigma=0.1,0.2,0.3", "budget.max_iters=50", "plot=false"]


def attnopt(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "attnopt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def complete(sweep: Path) -> dict[Path, dict]:
    """{run dir: {file: bytes}} of every complete run under ``sweep``."""
    out = {}
    for summary in sweep.rglob("summary.json"):
        run = summary.parent
        if rundir.check(run) is None:
            out[run] = {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    return out


def sigmas(runs) -> list[float]:
    return sorted(rundir.read_config(run)["optimizer"]["sigma"] for run in runs)


@pytest.mark.slow
@pytest.mark.parametrize("subdir", [None, "${hydra.job.num}"], ids=["default-names", "numbered-dirs"])
def test_the_issue_example_resume_after_a_lost_run_keeps_every_other_run(tmp_path, subdir):
    """attnopt run -m optimizer.sigma=0.1,0.2,0.3 ...; rm one summary.json; run it again."""
    naming = [f"hydra.sweep.subdir={subdir}"] if subdir else []
    args = ["run", "-m", *SIGMA, f"hydra.sweep.dir={tmp_path / 'sw'}", "hydra.callbacks.report.report=false", *naming]
    first = attnopt(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = complete(tmp_path / "sw")
    assert sigmas(before) == [0.1, 0.2, 0.3]
    lost = next(run for run in before if rundir.read_config(run)["optimizer"]["sigma"] == 0.3)
    (lost / "summary.json").unlink()  # the issue's `rm sw/2_*/summary.json`

    again = attnopt(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = complete(tmp_path / "sw")
    assert sigmas(after) == [0.1, 0.2, 0.3], again.stderr  # the sigma=0.1 run is NOT gone
    for run, files in before.items():
        if run != lost:
            assert after[run] == files, f"{run} changed"  # byte-identical, .hydra/ included
    assert "2 of 3 runs are complete already" in again.stderr


def _kill_after(args, cwd, sweep: Path, finished: int) -> None:
    """Start the sweep and kill -9 its whole process group once ``finished`` runs are complete."""
    proc = subprocess.Popen([sys.executable, "-m", "attnopt.cli", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(sweep.rglob("summary.json"))) < finished and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["hydra.launcher.n_jobs=2", "hydra.launcher.pool_after_s=0"]], ids=["serial", "two-workers"])
def test_kill_9_at_several_points_then_resumes_converge_without_touching_finished_runs(tmp_path, launcher):
    """A sweep over a key its directory names do not show (numbered directories: the worst case),
    killed with kill -9 of its process group at several points, then resumed until done."""
    sweep = tmp_path / "sw"
    values = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    args = ["run", "-m", f"optimizer.sigma={','.join(map(str, values))}", "budget.max_iters=400", "plot=false",
            "dimension=20", f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=${hydra.job.num}",
            "hydra.callbacks.report.report=false", *launcher]
    seen: dict[Path, dict] = {}
    for finished in (1, 3, 5):
        _kill_after(args, tmp_path, sweep, finished)
        now = complete(sweep)
        for run, files in seen.items():
            assert now.get(run) == files, f"{run}, complete before the kill, changed"
        assert len(sigmas(now)) == len(set(sigmas(now)))
        seen.update(now)
    out = attnopt(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    final = complete(sweep)
    assert sigmas(final) == values  # every config once: converged to the complete set
    for run, files in seen.items():
        assert final[run] == files, f"{run} changed"
    again = attnopt(*args, cwd=tmp_path)  # and a resume of a complete sweep runs nothing
    assert again.returncode == 0 and "6 of 6 runs are complete already" in again.stderr
    assert complete(sweep) == final
