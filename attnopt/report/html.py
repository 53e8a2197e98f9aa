"""``index.html``: every table and figure in a report directory on one page, with the settings and
the numbers of runs and seeds of the report that made them and links to the CSVs.

The page is one static file with relative links, so it opens from the file system (file://) with no
server. Tables are rendered from the Markdown files the report wrote (attnopt's own simple format:
a pipe table and its legend lines). A few lines of script mark any image that fails to load, so a
deleted or broken figure shows as a red note instead of a blank space.
"""
from __future__ import annotations

import html
from pathlib import Path

from attnopt import io
from attnopt.report import manifest

INDEX = "index.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; } th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend { font-size: 0.85em; color: #555; max-width: 1100px; }
.settings td:first-child { font-weight: 600; }
img { max-width: 100%; border: 1px solid #eee; }
.broken { color: #b00; font-weight: 600; }
nav a { margin-right: 0.8em; }
"""

# Marks images that did not load (missing or corrupt file); records the count for anyone checking.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img"), ok = 0;
  imgs.forEach(function (img) {
    if (img.complete && img.naturalWidth > 0) { ok += 1; return; }
    var note = document.createElement("p");
    note.className = "broken";
    note.textContent = "image did not load: " + img.getAttribute("src");
    img.insertAdjacentElement("afterend", note);
  });
  document.body.setAttribute("data-images", imgs.length);
  document.body.setAttribute("data-images-loaded", ok);
});
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def markdown_to_html(text: str) -> str:
    """attnopt's Markdown tables (``| a | b |`` rows, an alignment row, legend lines) as HTML."""
    parts, rows, legend = [], [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in _split_row(line)]
            rows.append(cells)
        elif line.strip():
            legend.append(line.strip())
    if rows:
        header, body = rows[0], rows[1:]
        align = body[0] if body and all(set(c) <= set(":-") and c for c in body[0]) else None
        if align is not None:
            body = body[1:]
        numeric = [a.endswith(":") and not a.startswith(":") for a in align] if align else [False] * len(header)
        parts.append("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead><tbody>")
        for row in body:
            parts.append("<tr>" + "".join(
                f'<td class="num">{_e(c)}</td>' if i < len(numeric) and numeric[i] else f"<td>{_e(c)}</td>"
                for i, c in enumerate(row)) + "</tr>")
        parts.append("</tbody></table>")
    for line in legend:
        parts.append(f'<p class="legend">{_e(line)}</p>')
    return "\n".join(parts)


def _split_row(line: str) -> list[str]:
    cells, current, escaped = [], "", False
    for ch in line.strip()[1:]:
        if ch == "|" and not escaped:
            cells.append(current)
            current = ""
        else:
            current += ch
        escaped = ch == "\\"
    return cells


def _settings_table(report: dict) -> str:
    s = report.get("summary", {})
    rows = [("sources", ", ".join(f"{k} = {v}" for k, v in report.get("sources", {}).items())),
            ("runs", s.get("runs", "")),
            ("seeds", f"{s.get('seeds', '')} ({', '.join(map(str, s.get('seed_values', [])))})" if s.get("seeds") else ""),
            ("landscapes", ", ".join(map(str, s.get("landscapes", [])))),
            ("dimensions", ", ".join(map(str, s.get("dimensions", [])))),
            ("optimizers", ", ".join(map(str, s.get("optimizers", [])))),
            ("evaluation budget (max_evals)", ", ".join(f"{v:,}" for v in s.get("max_evals", []))),
            ("iteration cap (max_iters)", ", ".join(f"{v:,}" for v in s.get("max_iters", []))),
            ("experiments", ", ".join(s.get("experiments", []))),
            ("written", report.get("time", ""))]
    return ('<table class="settings">' + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows if v != "")
            + "</table>")


def _item(out: Path, name: str) -> str:
    path = out / name
    stem, suffix = path.stem, path.suffix
    if suffix == ".png":
        return f'<h3 id="{_e(name)}">{_e(stem)}</h3>\n<a href="{_e(name)}"><img src="{_e(name)}" alt="{_e(stem)}"></a>'
    if suffix == ".md":
        body = markdown_to_html(path.read_text()) if path.is_file() else '<p class="broken">missing</p>'
        csv = f'{stem}.csv'
        link = f' <small>(<a href="{_e(csv)}">{_e(csv)}</a>)</small>' if (out / csv).is_file() else ""
        return f'<h3 id="{_e(name)}">{_e(stem)}{link}</h3>\n{body}'
    return ""


def write_index(out: Path | str, progress: bool = False) -> Path:
    """Write ``out/index.html`` over every report recorded in ``out``'s manifest, then any other
    table or figure found there (written by other tools, e.g. the ML experiments)."""
    out = Path(out)
    reports = manifest.read(out)["reports"]
    listed = {f for r in reports for f in r.get("files", [])}
    sections, nav = [], []
    for i, report in enumerate(reports):
        files = [f for f in report.get("files", []) if (out / f).exists()]
        labels = ", ".join(report.get("sources", {}))
        anchor = f"report-{i}"
        nav.append(f'<a href="#{anchor}">{_e(labels)}</a>')
        items = [_item(out, f) for f in files if f.endswith(".md")] + [_item(out, f) for f in files if f.endswith(".png")]
        csvs = [f for f in files if f.endswith(".csv")]
        links = " ".join(f'<a href="{_e(c)}">{_e(c)}</a>' for c in csvs)
        sections.append(f'<h2 id="{anchor}">Report of {_e(labels)}</h2>\n{_settings_table(report)}\n'
                        f"<p>CSV files: {links}</p>\n" + "\n".join(x for x in items if x))
    others = sorted(p.name for p in out.iterdir() if p.suffix in (".md", ".png") and p.name not in listed
                    and not p.name.startswith("."))
    if others:
        nav.append('<a href="#other">other results</a>')
        csvs = sorted(p.name for p in out.glob("*.csv") if p.name not in listed)
        links = " ".join(f'<a href="{_e(c)}">{_e(c)}</a>' for c in csvs)
        sections.append('<h2 id="other">Other results in this directory</h2>\n<p>Written by other commands '
                        f"(e.g. the ML and learned-optimizer experiments). CSV files: {links}</p>\n"
                        + "\n".join(_item(out, f) for f in [o for o in others if o.endswith(".md")]
                                    + [o for o in others if o.endswith(".png")]))
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>attnopt report: {_e(out)}</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n<h1>attnopt report: {_e(out)}</h1>\n"
            f"<nav>{' '.join(nav)}</nav>\n" + "\n".join(sections) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")
    return io.write_text(out / INDEX, page)


__all__ = ["write_index", "markdown_to_html", "INDEX"]
