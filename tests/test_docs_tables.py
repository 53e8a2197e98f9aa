"""The docs' tables of the small presets are what their make targets produce on this code (the
full-scale ones carry their target and commit; see attnopt/report/docs.py)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attnopt.report.docs import blocks, table_text

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


def _all_blocks():
    return [(doc, b) for doc in DOCS for b in blocks(doc.read_text())]


def test_every_generated_table_names_a_make_target_and_a_commit():
    found = _all_blocks()
    assert found, "the docs hold no generated tables"
    makefile = (ROOT / "Makefile").read_text()
    for doc, b in found:
        target = re.match(r"make (\S+)", b.target)
        assert target and re.search(rf"^{re.escape(target.group(1))}\b.*:|\b{re.escape(target.group(1))}\b", makefile,
                                    re.M), f"{doc.name}: `{b.target}` is not a make target"
        assert re.fullmatch(r"[0-9a-f]{7,40}", b.commit), f"{doc.name}: table from {b.file} has no commit"


def test_small_preset_tables_in_the_docs_equal_what_the_target_produces(tmp_path):
    small = [(doc, b) for doc, b in _all_blocks() if "SCALE=small" in b.target]
    assert any(b.target.startswith("make table4") for _, b in small)
    # `make table4 SCALE=small` is this sweep with the joblib launcher; the runs are deterministic,
    # so the basic launcher in one process gives the same table.
    sweep, report = tmp_path / "sweep", tmp_path / "report"
    out = subprocess.run([sys.executable, "-m", "attnopt.cli", "run", "-m", "+experiment=table4_small",
                          f"hydra.sweep.dir={sweep}", f"hydra.callbacks.report.out={report}"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    for doc, b in small:
        if not b.target.startswith("make table4"):
            pytest.fail(f"{doc.name}: no regeneration known for `{b.target}`; add it to this test")
        expected = table_text((report / b.file).read_text(), b.drop)
        assert b.body == expected, (f"{doc.name}: the table from {b.file} (`{b.target}`) differs from what the code "
                                    f"produces now; run the target and `python -m attnopt.report.docs {doc}`")
