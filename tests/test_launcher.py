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
