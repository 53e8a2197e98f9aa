"""Tables in the docs that are copies of report files, so a published number is always one a make
target wrote, with the target and commit beside it.

A generated block in a Markdown file looks like::

    <!-- generated from table4.md by `make table4 SCALE=small REPORT_DIR=outputs/report-small`; drop: ms / iter -->
    <!-- commit: 4bcc1a8 -->
    | d | optimizer | ... |
    ...
    <!-- end generated -->

``python -m attnopt.report.docs [--report-dir outputs/report] docs/findings.md`` replaces each
block's table with the named file's (from the report directory), leaving out the columns named
after ``drop:`` (wall times, which no rerun repeats), and stamps the current commit. The test
suite regenerates the small presets' tables and compares them with the blocks
(tests/test_docs_tables.py), so the docs cannot drift from the code.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from attnopt import io

_BLOCK = re.compile(
    r"(?P<head><!-- generated from (?P<file>[\w.-]+) by `(?P<target>[^`]+)`(?:; drop: (?P<drop>[^>]*?))? -->\n)"
    r"(?:<!-- commit: (?P<commit>[^ ]*) -->\n)?"
    r"(?P<body>.*?)"
    r"(?P<tail><!-- end generated -->)", re.S)


@dataclass
class Block:
    file: str
    target: str
    drop: list[str]
    commit: str
    body: str


def blocks(text: str) -> list[Block]:
    return [Block(m["file"], m["target"], [c.strip() for c in (m["drop"] or "").split(",") if c.strip()],
                  m["commit"] or "", m["body"]) for m in _BLOCK.finditer(text)]


def table_text(markdown: str, drop: list[str]) -> str:
    """The table of a report's Markdown file (its legend included) without the columns in ``drop``."""
    lines = markdown.rstrip("\n").splitlines()
    rows = [ln for ln in lines if ln.startswith("|")]
    rest = [ln for ln in lines if not ln.startswith("|") and ln.strip()]
    if not rows:
        return markdown
    header = [c.strip() for c in rows[0].strip().strip("|").split("|")]
    missing = [d for d in drop if d not in header]
    if missing:
        raise ValueError(f"columns {missing} to drop are not in the table (it has {header})")
    keep = [i for i, c in enumerate(header) if c not in drop]

    def cut(row: str) -> str:
        cells = re.split(r"(?<!\\)\|", row.strip())[1:-1]
        return "| " + " | ".join(cells[i].strip() for i in keep) + " |"

    out = [cut(r) for r in rows]
    out[1] = "|" + "|".join(re.split(r"(?<!\\)\|", rows[1].strip())[1:-1][i] for i in keep) + "|"
    return "\n".join(out + ([""] + rest if rest else [])) + "\n"


def source_dir(target: str, default: Path) -> Path:
    """Where a target writes: its REPORT_DIR=... when it names one (the small and full presets
    write files of the same names, so the docs' small tables come from a directory of their own)."""
    m = re.search(r"REPORT_DIR=(\S+)", target)
    return Path(m.group(1)) if m else default


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def refresh(doc: Path, report_dir: Path, only: str | None = None) -> list[str]:
    """Rewrite the generated blocks of ``doc`` from ``report_dir``; returns the files used.
    ``only``: refresh just the blocks whose target contains this text (e.g. "SCALE=small")."""
    text = doc.read_text()
    used, stamp = [], commit()

    def replace(m: re.Match) -> str:
        if only and only not in m["target"]:
            return m.group(0)
        source = source_dir(m["target"], report_dir) / m["file"]
        if not source.is_file():
            raise FileNotFoundError(f"{source} does not exist: run `{m['target']}` first")
        drop = [c.strip() for c in (m["drop"] or "").split(",") if c.strip()]
        used.append(str(source))
        return f"{m['head']}<!-- commit: {stamp} -->\n{table_text(source.read_text(), drop)}{m['tail']}"

    io.write_text(doc, _BLOCK.sub(replace, text))
    return used


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m attnopt.report.docs", description=__doc__.splitlines()[0])
    p.add_argument("docs", nargs="+", type=Path)
    p.add_argument("--report-dir", type=Path, default=Path("outputs/report"))
    p.add_argument("--only", help="refresh only blocks whose target contains this, e.g. SCALE=small")
    args = p.parse_args(argv)
    try:
        for doc in args.docs:
            for used in refresh(doc, args.report_dir, args.only):
                print(f"{doc}: table from {used}")
    except (FileNotFoundError, ValueError) as exc:
        print(f"attnopt: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
