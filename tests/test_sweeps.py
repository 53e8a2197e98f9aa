"""Preset sweeps through the CLI: the report at the end, resume after a kill, attnopt's launcher
with two workers (hydra/launcher=parallel) and Hydra's submitit_local launcher. Each sweep is a few
runs of a few hundred evaluations."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from attnopt import rundir

# table1_small, cut down to what a test needs: 300 evaluations per run.
TINY = ["budget.max_evals=300"]


def attnopt(*args, cwd, timeout=180, env=None):
    return subprocess.run([sys.executable, "-m", "attnopt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def summaries(root):
    return {p.parent.name: json.loads(p.read_text()) for p in root.rglob("summary.json")}


@pytest.mark.slow
def test_small_preset_sweep_with_two_workers_through_the_cli_gives_runs_table_and_figures(tmp_path):
    sweep = tmp_path / "sweep"
    out = attnopt("run", "-m", "+experiment=table1_small", f"hydra.sweep.dir={sweep}", "landscape=sphere,ackley",
                  "dimension=2", "seed=0,1", *TINY, "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", cwd=tmp_path,
                  env={k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"})  # show the bar
    assert out.returncode == 0, out.stderr
    assert len(summaries(sweep)) == 2 * 2 * 2  # landscapes x optimizers (gd, attention) x seeds
    assert "sweep: 100%" in out.stderr and "8/8" in out.stderr and "8 ran" in out.stderr  # the one sweep bar
    report = sweep / "report"  # written by the end-of-multirun callback
    runs = pd.read_csv(report / "runs.csv")
    assert len(runs) == 8 and set(runs["optimizer"]) == {"gd", "attention"}
    assert (runs["budget.max_evals"] == 300).all() and (runs["f_evals"] + runs["g_evals"] <= 300).all()
    table = pd.read_csv(report / "table1.csv")
    assert table.shape[0] == 2 * 2 and list(table.columns[:4]) == ["landscape", "dimension", "optimizer", "seeds"]
    assert (table["seeds"] == 2).all()
    assert (report / "table1.md").is_file()
    for png in ("fig1.png", "fig_ecdf.png"):
        assert (report / png).read_bytes()[:4] == b"\x89PNG"
    # directories are named by the job's config (its hash included), so a re-run finds each job where it left it
    for name in summaries(sweep):
        assert name == rundir.run_name(rundir.read_config(sweep / name))
    assert len([name for name in summaries(sweep) if name.startswith("gd_ackley_d2_s1_")]) == 1


@pytest.mark.slow
def test_killed_sweep_resumes_and_reruns_only_the_missing_runs(tmp_path):
    sweep = tmp_path / "sweep"
    common = ["run", "-m", "+experiment=table1_small", f"hydra.sweep.dir={sweep}", "landscape=rastrigin",
              "optimizer=gd", "seed=0", "budget.max_evals=4000", "hydra.callbacks.report.report=false"]
    args = [*common, "dimension=2,3,4,5,6,7"]
    proc = subprocess.Popen([sys.executable, "-m", "attnopt.cli", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(summaries(sweep)) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = summaries(sweep)
    assert 2 <= len(before) < 6, "the sweep must be killed part way through"
    stamps = {name: (sweep / name / "summary.json").stat().st_mtime_ns for name in before}
    # a run killed between its history and its summary: partial, must be rerun
    missing = next(d for d in range(7, 1, -1) if not any(s["dimension"] == d for s in before.values()))
    partial = sweep / rundir.run_name({**rundir.read_config(sweep / next(iter(before))), "dimension": missing})
    partial.mkdir(exist_ok=True)
    (partial / "history.csv").write_text("iter,loss\n0,1.0\n")

    out = attnopt(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    after = summaries(sweep)
    assert len(after) == 6
    # the complete runs are left out before launch, the others run
    assert f"{len(before)} of 6 runs are complete already" in out.stderr
    assert f"rerunning {partial}" in out.stderr
    assert f"{6 - len(before)} ran, {len(before)} skipped" in out.stderr
    for name, ns in stamps.items():  # the finished runs were not touched
        assert (sweep / name / "summary.json").stat().st_mtime_ns == ns
    assert len(pd.read_csv(partial / "history.csv")) == after[partial.name]["iters"] + 1

    # started by Hydra directly (no CLI to leave them out), each job finds its results and stops
    direct = subprocess.run([sys.executable, "-c", "import sys; from attnopt.run import hydra_main; "
                             "sys.argv = ['attnopt', *sys.argv[1:]]; hydra_main()", *common[1:], "dimension=2,3"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout.count("complete already, skipped") == 2 and "2 skipped" in direct.stderr

    forced = attnopt(*common, "dimension=2", "resume=false", cwd=tmp_path)  # the flag that forces re-running
    assert forced.returncode == 0, forced.stderr
    assert "complete already" not in forced.stdout and "1 ran" in forced.stderr
    (d2,) = [n for n in after if after[n]["dimension"] == 2]
    assert (sweep / d2 / "summary.json").stat().st_mtime_ns != stamps.get(d2, 0)
    assert summaries(sweep)[d2]["final_loss"] == after[d2]["final_loss"]  # same config, same seed, same result


@pytest.mark.slow
def test_submitit_local_runs_a_two_job_sweep(tmp_path):
    # the same code path as submitit_slurm, minus the cluster (joblib: the test above)
    launcher = ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"]
    sweep = tmp_path / "sweep"
    out = attnopt("run", "-m", "+experiment=table1_small", f"hydra.sweep.dir={sweep}", "landscape=sphere",
                  "optimizer=gd,attention", "dimension=3", "seed=1", *TINY, *launcher,
                  "hydra.callbacks.report.figures=none", f"hydra.callbacks.report.out={tmp_path / 'shared'}",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = summaries(sweep)
    assert sorted(s["optimizer"] for s in runs.values()) == ["attention", "gd"]
    assert all(s["dimension"] == 3 and s["seed"] == 1 and s["status"] == "budget_exhausted" for s in runs.values())
    assert "2 ran" in out.stderr
    # a report directory shared by several presets: the per-run table is named after the sweep
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["index.html", "report.json", "runs_sweep.csv",
                                                                    "table1.csv", "table1.md"]
    assert len(pd.read_csv(tmp_path / "shared" / "table1.csv")) == 2


def test_preset_without_plus_fails_in_one_line_naming_the_fix(capsys):
    from attnopt import cli

    assert cli.main(["run", "-m", "experiment=table1"]) == 2
    err = capsys.readouterr().err
    assert "+experiment=" in err and err.count("\n") == 1
    assert cli.main(["run", "-m", "+experiment=tabel1"]) == 2
    assert "unknown experiment 'tabel1'; choose from: " in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("grid", [["optimizer=gd", "landscape=sphere,rastrigin", "seed=0,1"],
                                  ["+experiment=table1_small", "landscape=sphere", "dimension=2", "seed=0", *TINY]])
def test_a_sweep_run_by_the_cli_records_what_hydras_own_multirun_records(tmp_path, grid):
    """`attnopt run -m` runs a sweep from the config it composed (attnopt.cli.run_sweep); a Hydra
    flag (-cn) sends it through @hydra.main, which composes the sweep itself: both must give the
    same multirun.yaml, the same .hydra/ files and the same histories."""
    grid = [*grid, "dimension=2", "budget.max_iters=5", "progress=false", "hydra.callbacks.report.report=false"] \
        if "optimizer=gd" in grid else [*grid, "hydra.callbacks.report.report=false"]
    ours, hydras = tmp_path / "ours", tmp_path / "hydras"
    assert attnopt("run", "-m", *grid, f"hydra.sweep.dir={ours}", cwd=tmp_path).returncode == 0
    out = attnopt("run", "-cn", "config", "-m", *grid, f"hydra.sweep.dir={hydras}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr

    def text(path, root):
        return path.read_text().replace(str(root), "SWEEP")

    assert text(ours / "multirun.yaml", ours) == text(hydras / "multirun.yaml", hydras)
    runs = sorted(p.parent.name for p in ours.glob("*/summary.json"))
    assert runs and runs == sorted(p.parent.name for p in hydras.glob("*/summary.json"))
    for name in runs:
        for record in (".hydra/config.yaml", ".hydra/overrides.yaml", "config.yaml"):
            assert text(ours / name / record, ours) == text(hydras / name / record, hydras), (name, record)
        mine, theirs = (pd.read_csv(root / name / "history.csv").drop(columns="time_s") for root in (ours, hydras))
        pd.testing.assert_frame_equal(mine, theirs)


def test_a_sweep_over_hydras_own_settings_fails_in_one_line(tmp_path):
    out = attnopt("run", "-m", "optimizer=gd", "hydra.launcher.n_jobs=1,2", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("attnopt: error: 'hydra.launcher.n_jobs=1,2': a sweep "
                                                         "cannot sweep over Hydra's own configuration")
    assert not (tmp_path / "outputs").exists()
