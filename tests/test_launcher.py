"""attnopt's Hydra sweeper and launcher (hydra_plugins/attnopt_launcher/), through the CLI."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def attnopt(*args, cwd):
    return subprocess.run([sys.executable, "-m", "attnopt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_the_plugins_live_in_a_namespace_package_hydra_finds(tmp_path):
    assert not (ROOT / "hydra_plugins" / "__init__.py").exists()  # a namespace package, shared with other plugins
    out = attnopt("run", "--info", "plugins", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "AttnoptLauncher" in out.stdout and "AttnoptSweeper" in out.stdout
    defaults = attnopt("run", "--cfg", "hydra", "-p", "hydra.launcher", cwd=tmp_path)
    assert "AttnoptLauncher" in defaults.stdout and "n_jobs: 1" in defaults.stdout  # the default for -m


@pytest.mark.parametrize("value", ["0"])
def test_bad_n_jobs_fails_in_one_line_before_anything_runs(tmp_path, value):
    out = attnopt("run", "-m", "seed=0,1", f"hydra.launcher.n_jobs={value}", f"hydra.sweep.dir={tmp_path / 'sw'}",
                  cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"hydra.launcher.n_jobs={value} is invalid" in out.stderr and not (tmp_path / "sw").exists()


@pytest.mark.slow
def test_a_sweep_of_small_runs_stays_in_the_cli_process_and_resumes(tmp_path):
    sweep = tmp_path / "sw"
    args = ["run", "-m", "optimizer=gd", "landscape=sphere", "dimension=2", "budget.max_iters=10", "seed=range(6)",
            "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.report=false"]
    first = attnopt(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "6 ran" in first.stderr and len(list(sweep.glob("*/summary.json"))) == 6
    for run in sweep.glob("gd_*"):
        assert sorted(p.name for p in run.iterdir()) == [".hydra", "config.yaml", "history.csv", "loss.png",
                                                         "summary.json"]
        assert sorted(p.name for p in (run / ".hydra").iterdir()) == ["config.yaml", "overrides.yaml"]
    assert (sweep / "multirun.yaml").is_file()  # the sweep's hydra config, once
    again = attnopt(*args, cwd=tmp_path)
    assert again.returncode == 0 and "6 of 6 runs are complete already" in again.stderr and "6 skipped" in again.stderr


# ----------------------------------------------------------------------------------------------
# A worker that dies never hangs the sweep: one line, finished runs kept, nothing half-written,
# and the same command run again completes only the missing runs. Every command has a timeout, so
# a hang fails the test instead of stalling it.

DYING = ["run", "-m", "optimizer=attention", "dimension=50", "budget.max_iters=300", "plot=false", "seed=range(12)",
         "hydra.launcher.n_jobs=2", "hydra.launcher.pool_after_s=0", "hydra.callbacks.report.report=false"]

# In multiprocessing's children only (started as `python -c ...`: spawn's workers, the forkserver
# and its forks): attnopt's plugin package cannot be imported, as with a stale editable install
# whose import hook maps attnopt but not hydra_plugins.attnopt_launcher.
NO_PLUGINS_IN_CHILDREN = '''
import sys
if sys.argv[:1] == ["-c"]:
    class _Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.startswith("hydra_plugins.attnopt_launcher"):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, _Blocked())
'''

# A Hydra callback that ends the worker process running a job (the CLI process runs its jobs normally).
DIE_IN_WORKER = '''
import multiprocessing, os, signal
from hydra.experimental.callback import Callback

class DieInWorker(Callback):
    def __init__(self, how):
        self.how = how

    def on_job_start(self, config, **kwargs):
        if multiprocessing.parent_process() is None:
            return
        if self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(7)
'''


def with_python_path(directory: Path) -> dict:
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(directory), *filter(None, [os.environ.get("PYTHONPATH")])])}


def attnopt_env(*args, cwd, env, timeout=120):
    return subprocess.run([sys.executable, "-m", "attnopt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def error_lines(stderr: str) -> list[str]:
    """stderr without the sweep bar's redraws and blank lines."""
    lines = stderr.replace("\r", "\n").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("sweep:")]


def leftovers(sweep: Path) -> list[Path]:
    from attnopt import rundir

    return [d for d in sweep.iterdir() if d.is_dir() and d.name not in (".attnopt", "report") and rundir.check(d)]


def finished_runs(sweep: Path) -> dict:
    return {p.parent: p.read_bytes() for p in sweep.glob("*/summary.json")}


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_workers_that_cannot_start_stop_the_sweep_in_one_line(tmp_path, start_method):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_PLUGINS_IN_CHILDREN)
    sweep = tmp_path / "sw"
    args = [*DYING, f"hydra.launcher.start_method={start_method}", f"hydra.sweep.dir={sweep}"]
    out = attnopt_env(*args, cwd=tmp_path, env=with_python_path(tmp_path / "site"))
    assert out.returncode == 1, out.stderr
    assert error_lines(out.stderr) == ["attnopt: error: a worker process could not start: ModuleNotFoundError: "
                                       "No module named 'hydra_plugins.attnopt_launcher'"], out.stderr
    assert leftovers(sweep) == []
    finished = finished_runs(sweep)  # those the CLI process ran while the workers started
    assert len(finished) < 12

    again = attnopt(*args, cwd=tmp_path)  # a sound install: the same command completes the sweep
    assert again.returncode == 0, again.stderr
    assert len(finished_runs(sweep)) == 12 and leftovers(sweep) == []
    assert all(d.joinpath("summary.json").read_bytes() == b for d, b in finished.items())


@pytest.mark.slow
@pytest.mark.parametrize("how, said", [("exit", "exited with code 7"), ("kill", "was killed by signal 9, SIGKILL")])
def test_a_worker_dying_in_a_job_stops_the_sweep_in_one_line_and_a_rerun_resumes(tmp_path, how, said):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "dying.py").write_text(DIE_IN_WORKER)
    sweep = tmp_path / "sw"
    args = [*DYING, f"hydra.sweep.dir={sweep}"]
    out = attnopt_env(*args, "+hydra.callbacks.die._target_=dying.DieInWorker", f"+hydra.callbacks.die.how={how}",
                      cwd=tmp_path, env=with_python_path(tmp_path / "hooks"))
    assert out.returncode == 1, out.stderr
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and lines[0].startswith("attnopt: error: worker process "), out.stderr
    assert f" {said}" in lines[0] and "while running job " in lines[0] and "seed=" in lines[0], lines[0]
    assert "run the same command again" in lines[0]
    assert leftovers(sweep) == []
    finished = finished_runs(sweep)
    assert len(finished) < 12

    again = attnopt(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    if finished:
        assert f"{len(finished)} of 12 runs are complete already" in again.stderr
    assert len(finished_runs(sweep)) == 12 and leftovers(sweep) == []
    assert all(d.joinpath("summary.json").read_bytes() == b for d, b in finished.items())


def test_a_bad_start_method_fails_in_one_line_before_anything_runs(tmp_path):
    out = attnopt("run", "-m", "seed=0,1", "hydra.launcher.start_method=threads", f"hydra.sweep.dir={tmp_path / 'sw'}",
                  cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "hydra.launcher.start_method='threads' is invalid: choose from forkserver, spawn, fork" in out.stderr
    assert not (tmp_path / "sw").exists()
