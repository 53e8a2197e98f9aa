"""`attnopt list`: every optimizer, landscape, experiment preset and report item, one line each with
its parameters and defaults; `attnopt run --help` says how to see every option of an optimizer."""
import subprocess
import sys

from pathlib import Path

from attnopt import cli, landscapes, listing, optimizers


def test_list_names_everything_with_a_description_and_defaults(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    sections = {}
    current = None
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = line[:-1]
            sections[current] = []
        elif line.startswith("  ") and line[2] != " " and current:
            sections[current].append(line.split()[0])
    assert sections["optimizers"] == sorted(optimizers.names())
    assert sections["landscapes"] == sorted(landscapes.names())
    assert {"table1", "table4", "table4_small", "compare"} <= set(sections["experiments"])
    assert {"table1", "fig1", "fig_ecdf", "ert", "table4", "fig5"} <= set(sections["report"])
    lines = out.splitlines()
    gd = lines.index(next(ln for ln in lines if ln.startswith("  gd ")))
    assert "gradient descent" in lines[gd].lower() and lines[gd + 1].split() == ["lr=0.01"]
    assert ":math:" not in out and ":func:" not in out
    described = {}  # every item of every section has a description, a whole sentence
    for line in lines:
        if line.startswith("  ") and line[2] != " " and not line.endswith(":"):
            name, _, text = line.strip().partition(" ")
            described[name] = text.strip()
    assert all(described.values()), [n for n, t in described.items() if not t]
    compare_line = next(ln for ln in lines if ln.startswith("  compare ") and "attnopt run" not in ln)
    assert compare_line.rstrip().endswith(".")  # a preset's comment is read to its sentence's end
    assert "attnopt run optimizer=NAME --cfg job -p optimizer" in out


def test_list_of_an_unknown_section_is_one_line(capsys):
    assert cli.main(["list", "optimisers"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "optimisers" in err and "optimizers" in err


def test_run_help_says_how_to_see_an_optimizers_options():
    out = subprocess.run([sys.executable, "-m", "attnopt.cli", "run", "--help"], capture_output=True, text=True)
    assert "--cfg job -p optimizer" in out.stdout and "attnopt list" in out.stdout


def test_the_experiments_that_are_make_targets_are_listed_and_are_targets(capsys):
    assert cli.main(["list", "experiments"]) == 0
    out = capsys.readouterr().out
    assert "make " + " | ".join(listing.MAKE_EXPERIMENTS) in out
    makefile = subprocess.run(["make", "-pn", "-f", str(Path(listing.__file__).parents[1] / "Makefile")],
                              capture_output=True, text=True).stdout
    targets = {line.split(":")[0] for line in makefile.splitlines() if ":" in line and not line.startswith(("#", "\t"))}
    assert set(listing.MAKE_EXPERIMENTS) <= targets, set(listing.MAKE_EXPERIMENTS) - targets
    from attnopt.report.build import load_registrations
    from attnopt.report.registry import EXPERIMENT_OF

    load_registrations()
    assert set(EXPERIMENT_OF.values()) <= set(listing.MAKE_EXPERIMENTS)  # every "from `make X`" in the report list
