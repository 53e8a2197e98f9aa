"""Start-up cost: `import attnopt`, `attnopt --help` and a small single run import no heavy library.

Each check runs in a fresh interpreter (a test process has long imported everything) and reads
``sys.modules`` at exit, so it sees what the command really loaded. Timings live in
scripts/bench_overhead.py (`make bench`), not here.
"""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from attnopt import io, landscapes
from attnopt.lazy import LazyRegistry

HEAVY = ("torch", "matplotlib", "pandas", "sklearn", "scipy", "optuna", "cma")
SMALL_RUN = ["run", "optimizer=gd", "landscape=sphere", "dimension=2", "budget.max_iters=10", "progress=false"]

# Prints, as the interpreter exits, which heavy libraries were imported by then.
REPORT_AT_EXIT = ("import atexit, sys; atexit.register(lambda: print('IMPORTED=' + ','.join(m for m in {heavy!r} "
                  "if m in sys.modules), file=sys.stderr)); ")


def imported_heavy(code: str, cwd, heavy=HEAVY) -> tuple[set[str], subprocess.CompletedProcess]:
    out = subprocess.run([sys.executable, "-c", REPORT_AT_EXIT.format(heavy=heavy) + code], cwd=cwd,
                         capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("IMPORTED=")]
    assert line, out.stderr
    return set(filter(None, line[-1].removeprefix("IMPORTED=").split(","))), out


def cli(*args: str) -> str:
    return f"sys.argv = ['attnopt', *{list(args)!r}]; from attnopt.cli import entry; entry()"


def test_import_attnopt_imports_no_heavy_library(tmp_path):
    found, out = imported_heavy("import attnopt; attnopt.landscapes.names(); attnopt.optimizers.names()", tmp_path)
    assert out.returncode == 0, out.stderr
    assert found == set(), f"`import attnopt` imported {sorted(found)}"


def test_attnopt_help_imports_no_heavy_library(tmp_path):
    found, out = imported_heavy(cli("--help"), tmp_path)
    assert out.returncode == 0 and "commands:" in out.stdout, out.stderr
    assert "mlp" in out.stdout  # the landscape list is complete without importing the tasks' torch
    assert found == set(), f"`attnopt --help` imported {sorted(found)}"


def test_attnopt_help_imports_not_even_numpy_or_hydra(tmp_path):
    found, out = imported_heavy(cli("--help"), tmp_path, heavy=("numpy", "hydra", "omegaconf", "yaml"))
    assert out.returncode == 0 and "optimizer=" in out.stdout, out.stderr
    assert found == set(), f"`attnopt --help` imported {sorted(found)}"


def test_help_lists_the_config_groups_choices_which_are_the_registries_names():
    from attnopt import optimizers
    from attnopt.cli import group_choices

    # --help reads the choices from conf/<group>/*.yaml; every registered part has its YAML and back
    assert group_choices("optimizer") == optimizers.names()
    assert group_choices("landscape") == landscapes.names()


@pytest.mark.slow
def test_single_run_without_plot_imports_no_heavy_library(tmp_path):
    found, out = imported_heavy(cli(*SMALL_RUN, "plot=false"), tmp_path)
    assert out.returncode == 0, out.stderr
    assert found == set(), f"`attnopt run ... plot=false` imported {sorted(found)}"
    (summary,) = tmp_path.rglob("summary.json")
    run_dir = summary.parent
    assert not (run_dir / "loss.png").exists()
    # written without pandas, read back with it: the same numbers the run reported
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == 11 and history["best_loss"].iloc[-1] == json.loads(summary.read_text())["best_loss"]
    assert json.loads(summary.read_text())["environment"]["torch"]  # versions still recorded


@pytest.mark.slow
def test_single_run_with_plot_imports_no_heavy_library(tmp_path):
    # loss.png is drawn with Pillow (attnopt.plotting): matplotlib is for the sweep-level figures
    found, out = imported_heavy(cli(*SMALL_RUN), tmp_path)
    assert out.returncode == 0, out.stderr
    assert found == set(), f"`attnopt run ...` imported {sorted(found)}"
    (png,) = tmp_path.rglob("loss.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_history_written_from_columns_is_byte_identical_to_pandas(tmp_path):
    columns = {
        "iter": np.arange(5, dtype=np.int64),
        "loss": np.array([1 / 3, np.nan, np.inf, -np.inf, 1e-300]),
        "best_loss": np.array([0.1, 0.2, 0.30000000000000004, 5e15, -0.0]),
        "phase": np.array(["init", "gd", "attention", "a,b", 'say "x"']),
        "val_loss": np.array([2.5, 1.0, 0.5, 0.25, 0.125]),
    }
    io.write_csv(tmp_path / "columns.csv", columns)
    io.write_csv(tmp_path / "frame.csv", pd.DataFrame(columns))
    assert (tmp_path / "columns.csv").read_bytes() == (tmp_path / "frame.csv").read_bytes()
    back = pd.read_csv(tmp_path / "columns.csv", keep_default_na=False, na_values=[""])
    np.testing.assert_array_equal(back["loss"].to_numpy(), columns["loss"])  # repr-exact, NaN and inf kept


def test_result_history_is_the_dataframe_of_its_columns():
    import attnopt

    res = attnopt.minimize(landscapes.make("sphere", 3), "gd", max_iters=5)
    assert list(res.history.columns) == list(res.history_columns)
    for name, values in res.history_columns.items():
        np.testing.assert_array_equal(res.history[name].to_numpy(), values)
    assert res.time_s == res.history["time_s"].iloc[-1]


def test_lazy_landscape_registry_names_each_class_by_its_own_name():
    for name in landscapes.names():
        assert landscapes.REGISTRY[name].name == name
    from attnopt.landscapes import MLP  # module __getattr__, resolved through the registry

    assert MLP is landscapes.REGISTRY["mlp"]
    with pytest.raises(AttributeError):
        landscapes.NoSuchLandscape  # noqa: B018
    registry = LazyRegistry({"join": "os.path:join"})
    assert list(registry) == ["join"] and registry["join"]("a", "b") == "a/b"


@pytest.mark.slow
def test_overhead_benchmark_runs_and_writes_its_table(tmp_path):
    """scripts/bench_overhead.py (make bench) at its smallest: it measures, it does not judge here."""
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "bench_overhead.py"
    out = subprocess.run([sys.executable, str(script), "--seeds", "2", "--repeats", "1", "--skip-heavy", "--skip-table1",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads((tmp_path / "overhead.json").read_text())["rows"]
    goals = [r for r in rows if r["goal"]]
    assert len(goals) == 6 and all(r["verdict"] in ("met", "MISSED") for r in goals)
    assert "attnopt --help" in (tmp_path / "overhead.md").read_text()
