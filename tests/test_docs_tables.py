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


#: how each make target's small preset is produced here, in one process (the runs are
#: deterministic, so a launcher or worker count the make target uses gives the same table)
def _regenerate(target: str, tmp_path: Path) -> Path:
    report = tmp_path / target / "report"
    if target == "table4":  # `make table4 SCALE=small`: this sweep (the make target adds 2 workers)
        cmd = [sys.executable, "-m", "attnopt.cli", "run", "-m", "+experiment=table4_small",
               f"hydra.sweep.dir={tmp_path / target / 'sweep'}", f"hydra.callbacks.report.out={report}"]
    elif target in ("table2", "fig2", "fig3", "table3"):  # `make <target> SCALE=small`: exactly this
        cmd = [sys.executable, "-m", "attnopt.experiments.ml", target, "--scale", "small", "--out", str(report),
               "--runs", str(tmp_path / target / "ml")]
    else:
        pytest.fail(f"no regeneration known for `make {target}`; add it to this test")
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return report


def test_small_preset_tables_in_the_docs_equal_what_the_target_produces(tmp_path):
    small = [(doc, b) for doc, b in _all_blocks() if "SCALE=small" in b.target]
    assert {re.match(r"make (\S+)", b.target).group(1) for _, b in small} >= {"table4", "table2", "table3"}
    made: dict[str, Path] = {}
    for doc, b in small:
        target = re.match(r"make (\S+)", b.target).group(1)
        if target not in made:
            made[target] = _regenerate(target, tmp_path)
        expected = table_text((made[target] / b.file).read_text(), b.drop)
        assert b.body == expected, (f"{doc.name}: the table from {b.file} (`{b.target}`) differs from what the code "
                                    f"produces now; run the target and `python -m attnopt.report.docs {doc}`")
