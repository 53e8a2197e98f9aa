"""The package as pip installs it (not the editable checkout): every module and config file is in
the wheel, and the installed command finds its configs from any directory.

pyproject.toml lists the packages explicitly (conf/ installs as attnopt.conf), so a new package
directory that is not added there would work in the checkout and be missing from a real install.
"""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "attnopt", "conf", "hydra_plugins")


def expected_files() -> set[str]:
    """Paths inside the wheel of every .py and .yaml file the checkout ships."""
    files = set()
    for top, installed in (("attnopt", "attnopt"), ("conf", "attnopt/conf"), ("hydra_plugins", "hydra_plugins")):
        base = ROOT / top
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                files.add(f"{installed}/{path.relative_to(base).as_posix()}")
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")  # build from a copy: setuptools writes build/ beside the sources
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif path.exists():
            shutil.copy(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                            "--quiet", "--disable-pip-version-check", "-w", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = out.glob("attnopt-*.whl")
    return found


def test_wheel_holds_every_module_and_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(expected_files() - names)
    assert not missing, f"not installed by pip (add their packages to pyproject.toml): {missing}"
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "attnopt = attnopt.cli:entry" in entry_points


@pytest.mark.slow
def test_installed_wheel_runs_from_any_directory(wheel, tmp_path):
    """Installed (not editable) into a fresh directory that comes first on sys.path, the package
    runs a job and a 2-job sweep from a directory outside the checkout, configs and all."""
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                                "--disable-pip-version-check", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([sys.executable, "-c", "import attnopt.conf, attnopt.cli; print(attnopt.conf.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0 and where.stdout.startswith(str(site)), where.stdout + where.stderr
    for args in (["optimizer=gd", "landscape=sphere"], ["-m", "optimizer=gd", "landscape=sphere", "seed=0,1"]):
        ran = subprocess.run([sys.executable, "-m", "attnopt.cli", "run", *args, "dimension=2", "budget.max_iters=5",
                              "plot=false", "progress=false"], cwd=work, env=env, capture_output=True, text=True,
                             timeout=120)
        assert ran.returncode == 0, ran.stderr[-3000:]
    assert len(list((work / "outputs").rglob("summary.json"))) == 3
