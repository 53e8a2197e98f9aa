"""Sweeps on a real SLURM cluster: `attnopt run -m ... hydra/launcher=slurm` (Hydra's submitit launcher).

The cluster is the single-node one of scripts/slurm_cluster.sh (slurm-wlm + munge on this machine);
.ci/run starts it before `make test`. Where none answers, the fixture starts it when it can (root),
and otherwise fails saying how: this test never skips.

Two checks: every run of a sweep comes back complete and bit-identical to the same config run in
this process; and a sweep cancelled part-way with `scancel` resumes by running only what is missing.
"""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from doubles import ctrl_c_reaches_it

CLUSTER = Path(__file__).resolve().parent.parent / "scripts" / "slurm_cluster.sh"

pytestmark = pytest.mark.slow


def cluster_answers() -> bool:
    return subprocess.run([str(CLUSTER), "status"], capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="module")
def slurm():
    if cluster_answers():
        return
    if os.geteuid() != 0:
        pytest.fail(f"no SLURM cluster answers `sinfo`; start the local one with `sudo {CLUSTER} start` "
                    "(.ci/run does so before `make test`)")
    # Root: start it ourselves (installing slurm-wlm and munge if needed). It is left running, as
    # another test run on this machine may use it too; `scripts/slurm_cluster.sh stop` stops it.
    started = subprocess.run([str(CLUSTER), "start"], capture_output=True, text=True, timeout=900)
    if started.returncode != 0 or not cluster_answers():
        pytest.fail(f"could not start the local SLURM cluster with `{CLUSTER} start`:\n{started.stderr[-2000:]}")


def sweep_command(sweep_dir: Path, job_name: str, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "attnopt.cli", "run", "-m", "hydra/launcher=slurm", f"hydra.launcher.name={job_name}",
            f"hydra.sweep.dir={sweep_dir}", "hydra.callbacks.report.report=false", "plot=false", "progress=false",
            *overrides]


def summaries(sweep_dir: Path) -> dict[int, Path]:
    """seed -> summary.json of every complete run under the sweep directory."""
    import json

    found = {}
    for path in sweep_dir.rglob("summary.json"):
        found[json.loads(path.read_text())["seed"]] = path
    return found


def slurm_tasks(sweep_dir: Path) -> set[str]:
    """The SLURM array tasks submitit ran for this sweep: its folders <job>_<task> (<job> alone
    holds the array's submission script)."""
    folder = sweep_dir / ".submitit"
    return {p.name for p in folder.iterdir() if p.is_dir() and "_" in p.name} if folder.is_dir() else set()


def test_sweep_runs_every_job_on_slurm(slurm, tmp_path):
    from hydra import compose, initialize_config_module

    from attnopt.run import build
    from attnopt.runner import run

    sweep_dir = tmp_path / "sweep"
    job = ["optimizer=gd", "landscape=rastrigin", "dimension=3", "budget.max_iters=15"]
    out = subprocess.run(sweep_command(sweep_dir, f"attnopt-test-{uuid.uuid4().hex[:8]}", *job, "seed=0,1,2"),
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    done = summaries(sweep_dir)
    assert sorted(done) == [0, 1, 2]
    tasks = slurm_tasks(sweep_dir)
    assert len(tasks) == 3 and all((sweep_dir / ".submitit" / t / f"{t}_0_result.pkl").exists() for t in tasks), tasks
    # Each run's history is the one this process computes from the same config, bit for bit.
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        for seed, summary in done.items():
            spec = build(compose(config_name="config", overrides=[*job, f"seed={seed}"]))
            expected = run(spec.landscape, spec.optimizer, x0=spec.x0, seed=spec.seed, budget=spec.budget)
            history = pd.read_csv(summary.parent / "history.csv")
            assert len(history) == 16
            for name in ("loss", "best_loss", "f_evals", "g_evals"):
                np.testing.assert_array_equal(history[name].to_numpy(), expected.history_columns[name])


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def test_cancelled_sweep_resumes_with_only_the_missing_runs(slurm, tmp_path):
    sweep_dir = tmp_path / "sweep"
    name = f"attnopt-test-{uuid.uuid4().hex[:8]}"
    n = 6
    # Runs of ~1.5 s each (a time budget), at most 2 at a time whatever the node's CPUs: long enough
    # to cancel part-way.
    job = ["optimizer=attention", "landscape=rastrigin", "dimension=20", "budget.max_iters=null",
           "budget.time_limit=1.5", f"seed=range({n})", "hydra.launcher.array_parallelism=2"]
    command = sweep_command(sweep_dir, name, *job)
    first = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True, preexec_fn=ctrl_c_reaches_it)
    try:
        wait_for(lambda: len(summaries(sweep_dir)) >= 2, 180, "two runs of the first sweep to finish")
        subprocess.run(["scancel", f"--name={name}"], check=True, timeout=30)
        # Without an accounting database, submitit cannot see the cancel (sacct fails); the user
        # interrupts the waiting command, as anyone whose sweep was cancelled would.
        wait_for(lambda: not subprocess.run(["squeue", "-h", f"--name={name}"], capture_output=True, text=True,
                                            timeout=30).stdout.strip(), 60, "the cancelled tasks to leave the queue")
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    before = summaries(sweep_dir)
    assert 2 <= len(before) < n, f"the cancel should leave the sweep part-done, found {sorted(before)} complete"
    kept = {seed: (path.stat().st_mtime_ns, path.read_bytes()) for seed, path in before.items()}
    tasks_before = slurm_tasks(sweep_dir)

    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    after = summaries(sweep_dir)
    assert sorted(after) == list(range(n))
    # The finished runs were left alone; SLURM ran exactly the missing ones.
    for seed, (mtime, content) in kept.items():
        assert (after[seed].stat().st_mtime_ns, after[seed].read_bytes()) == (mtime, content), f"seed {seed} rerun"
    resubmitted = slurm_tasks(sweep_dir) - tasks_before
    print(f"complete before the rerun: {sorted(before)}; tasks the rerun submitted: {sorted(resubmitted)}")
    assert len(resubmitted) == n - len(before), (sorted(resubmitted), sorted(before))
    for seed, path in after.items():
        history = pd.read_csv(path.parent / "history.csv")
        assert len(history) >= 2 and np.isfinite(history["best_loss"]).all()
