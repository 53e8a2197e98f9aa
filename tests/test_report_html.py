"""index.html in a real headless browser (Debian's chromium, which .ci/run installs): the page of a
report opens from the file system, every image loads, the console has no errors, and a screenshot
is taken. Not skipped where chromium is missing: CI must run it."""
import copy
import re
import shutil
import subprocess

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from attnopt.report.build import build_report
from attnopt.run import build, execute

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _chromium(*args, timeout=120):
    assert CHROMIUM, "chromium is needed for this test (apt-get install -y chromium; .ci/run installs it)"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    with initialize_config_module(config_module="attnopt.conf", version_base=None):
        for opt in ("gd", "attention"):
            for seed in (0, 1):
                cfg = compose(config_name="config", overrides=[
                    f"optimizer={opt}", "landscape=sphere", "dimension=2", f"seed={seed}", "budget.max_iters=null",
                    "budget.max_evals=200", "plot=false", "progress=false"])
                execute(build(copy.deepcopy(cfg)), root / "sweep" / f"{opt}_s{seed}")
    out = root / "report"
    result = build_report(root / "sweep", out, ["table1", "ert"], ["fig1", "fig_ecdf"], progress=False)
    assert not result["failed"]
    return out


def test_index_lists_every_table_figure_and_csv_with_the_settings(report_dir):
    page = (report_dir / "index.html").read_text()
    for name in ("table1", "ert"):
        assert f'id="{name}.md"' in page and f'href="{name}.csv"' in page
    for name in ("fig1.png", "fig_ecdf.png"):
        assert f'src="{name}"' in page
    assert 'href="runs.csv"' in page
    assert re.search(r"<td>runs</td><td>4</td>", page) and re.search(r"<td>seeds</td><td>2 \(0, 1\)</td>", page)
    assert "<td>evaluation budget (max_evals)</td><td>200</td>" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch: it works offline


def test_index_loads_in_headless_chromium_without_errors(report_dir, tmp_path):
    url = (report_dir / "index.html").resolve().as_uri()
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    images = re.search(r'data-images="(\d+)"', dom.stdout)
    loaded = re.search(r'data-images-loaded="(\d+)"', dom.stdout)
    assert images and loaded, "the page's load handler did not run"
    assert int(images.group(1)) == 2 and loaded.group(1) == images.group(1)
    assert '<p class="broken">' not in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console

    shot = tmp_path / "index.png"
    res = _chromium(f"--screenshot={shot}", "--window-size=1400,2400", "--hide-scrollbars", url)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (2400, 1400)
    assert np.std(pixels[..., :3]) > 0.05  # tables and figures drawn, not a blank page


def test_a_missing_figure_is_marked_on_the_page(report_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(report_dir, broken)
    (broken / "fig1.png").write_bytes(b"not a png")
    dom = _chromium("--dump-dom", (broken / "index.html").resolve().as_uri())
    assert 'data-images-loaded="1"' in dom.stdout and '<p class="broken">image did not load: fig1.png</p>' in dom.stdout
