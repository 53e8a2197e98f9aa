"""Labels that keep runs apart: runs that differ in a setting other than the seed are not seeds of
one experiment."""
from __future__ import annotations

import numpy as np
import pandas as pd

#: top-level config keys that change what a run computes (besides dimension and seed)
RUN_SETTINGS = ("x0", "backend", "device", "dtype")
#: config sections whose every key changes what a run computes
SETTING_SECTIONS = ("optimizer.", "landscape.", "budget.")


#: landscape keys shown in the landscape's label whenever true, varied or not: a rotated or shifted
#: landscape is a different problem from the function its name says
ALWAYS_SHOWN = ("landscape.rotate", "landscape.shift")


def _short(column: str) -> str:
    return column.split(".", 1)[1] if column.startswith(("optimizer.", "landscape.")) else column


def _describe(row: pd.Series) -> str:
    """``k=v`` per setting; a true flag as its bare name, a false one left out."""
    parts = []
    for column, value in row.items():
        text = str(value)
        if text in ("True", "False"):
            if text == "True":
                parts.append(_short(column))
        elif not (isinstance(value, float) and np.isnan(value)):
            parts.append(f"{_short(column)}={text}")
    return ", ".join(parts)


def _follows_seed(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per run and key: the value equals the run's seed, or the run lacks the key. Compared as
    numbers where both are numbers: a column that some runs lack is read as float, so a
    ``transform_seed: ${seed}`` of 0 comes back as 0.0 next to the seed 0."""
    seed = pd.to_numeric(runs["seed"], errors="coerce")
    out = {}
    for key in keys:
        values = runs[key]
        as_number = pd.to_numeric(values, errors="coerce")
        out[key] = values.isna() | as_number.eq(seed) | values.astype(str).eq(runs["seed"].astype(str))
    return pd.DataFrame(out, index=runs.index)


def label_variants(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that share a landscape, dimension and optimizer but differ in any other setting are not
    seeds of one experiment, so they must not be averaged as if they were. Their ``landscape`` (for
    landscape keys) or ``optimizer`` (every other key) gets the differing settings appended, e.g.
    ``attention (sigma=0.1)`` or ``trapped (lambda_osc=2)``, so that every table and figure, which
    group by these columns, keeps them apart; a rotated or shifted landscape always says so
    (``ackley (rotate, shift)``). The plain names stay in ``optimizer.name`` and ``landscape.name``.
    A sweep over seeds alone is left as it is."""
    needed = {"landscape", "dimension", "optimizer"}
    if runs.empty or not needed <= set(runs.columns):
        return runs
    settings = [c for c in runs.columns
                if c != "source" and (c in RUN_SETTINGS or c.startswith(SETTING_SECTIONS)) and c not in ("optimizer.name", "landscape.name")]
    runs = runs.copy()
    for column in ("landscape", "optimizer"):  # start from the plain names: labelling twice is labelling once
        plain = f"{column}.name"
        if plain in runs:
            runs[column] = runs[plain].where(runs[plain].notna(), runs[column])

    def append(column: str, keys: list[str], group_by: list[str], always: tuple[str, ...] = ()) -> None:
        if not keys:
            return
        text = runs[keys].astype(str).where(runs[keys].notna())  # compared as written; missing stays missing
        groups = [runs[c].astype(str) for c in group_by]
        varies = text.groupby(groups, sort=False).transform("nunique") > 1
        if "seed" in runs:  # a key equal to the seed in every run of its group that has it follows the seed
            varies &= ~_follows_seed(runs, keys).groupby(groups, sort=False).transform("all")
        shown = varies | pd.DataFrame({k: k in always for k in keys}, index=runs.index)
        for i in runs.index[shown.any(axis=1)]:
            detail = _describe(runs.loc[i, [k for k in keys if shown.at[i, k]]])
            if detail:
                runs.at[i, column] = f"{runs.at[i, column]} ({detail})"

    # the landscape first, over all optimizers, so that every optimizer's runs on one problem
    # carry the same landscape label
    append("landscape", [c for c in settings if c.startswith("landscape.")], ["landscape", "dimension"],
           always=ALWAYS_SHOWN)
    append("optimizer", [c for c in settings if not c.startswith("landscape.")], ["landscape", "dimension", "optimizer"])
    if "source" in runs:  # one report over several sources: the same optimizer from two of them stays two
        keys = [runs[c].astype(str) for c in ("landscape", "dimension", "optimizer")]
        several = runs["source"].groupby(keys, sort=False).transform("nunique") > 1
        runs.loc[several, "optimizer"] = runs.loc[several, "optimizer"] + " [" + runs.loc[several, "source"].astype(str) + "]"
    return runs
