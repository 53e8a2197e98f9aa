"""Figures 6 and 7, the horizon figure and the Markdown table of the L2L study."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from attnopt import io  # noqa: E402

BASELINE_STYLE = {"Adam": ("black", "-"), "SGD": ("tab:gray", ":"), "SGD-momentum": ("tab:brown", "--"),
                  "RMSprop": ("tab:olive", "-.")}
LEARNED_COLORS = ["tab:red", "tab:blue", "tab:green", "tab:purple"]
LEARNED_STYLES = ["-", "--", "-.", (0, (1, 1))]
FLOOR = 1e-12  # below this, float32 losses are rounding noise


def _band(ax, curve: np.ndarray, label: str, color, ls="-", lw=2.0, floor=None, edges=False):
    """Median over tasks with an inter-quartile band; ``curve`` is (steps + 1, tasks). ``floor``
    lifts exact zeros (converged to machine precision) onto a log axis. ``edges``: draw the band's
    quartiles as thin lines of the median's colour and style instead of a fill, for panels where the
    bands of several optimizers lie on top of each other (stacked fills all turn the same grey)."""
    steps = np.arange(curve.shape[0])
    c = np.where(np.isfinite(curve), curve, np.nan)
    if floor is not None:
        c = np.maximum(c, floor)
    with np.errstate(all="ignore"):
        med = np.nanmedian(c, axis=1)
        lo, hi = np.nanpercentile(c, [25, 75], axis=1)
    ax.plot(steps, med, color=color, ls=ls, lw=lw, label=label)
    if edges:
        for q, name in ((lo, "q25"), (hi, "q75")):
            ax.plot(steps, q, color=color, ls=ls, lw=0.7, alpha=0.8, label=f"_{label} {name}")
    else:
        ax.fill_between(steps, lo, hi, color=color, alpha=0.15, linewidth=0)


def mlp_figure(path: Path, number: int, names, specs, curves, rows, data_desc: str, preset, meta_curve_paths, scale):
    fig = mlp_fig(number, names, specs, curves, rows, data_desc, preset, meta_curve_paths, scale)
    io.write_figure(path, fig)
    plt.close(fig)


def mlp_fig(number: int, names, specs, curves, rows, data_desc: str, preset, meta_curve_paths, scale):
    """Figures 6 and 7: left, the meta-test curves (median, IQR band over held-out inits) of every
    learned optimizer and tuned baseline over the longest horizon; right, the meta-training curves."""
    long_x = max(preset.mlp_horizons)
    train_h = preset.mlp_train.horizon
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2.2, 1]})
    for n, (color, ls) in BASELINE_STYLE.items():
        lr = next(r["lr"] for r in rows if r["optimizer"] == n and r["horizon_x"] == long_x)
        _band(ax, curves[(long_x, n)], f"{n} (lr {lr:.3g}, tuned)", color, ls, lw=1.5)
    for i, name in enumerate(names):
        _band(ax, curves[(long_x, name)], specs[name].label, LEARNED_COLORS[i], lw=2.2)
    ax.axvline(train_h, color="0.4", lw=1, ls="--")
    ax.text(train_h, 0.98, f" meta-training horizon ({train_h} steps)", transform=ax.get_xaxis_transform(),
            va="top", ha="left", fontsize=8, color="0.3")
    ax.set_yscale("log")
    ax.set_xlabel("inner step (one minibatch gradient each)")
    ax.set_ylabel("minibatch cross-entropy (median, IQR band)")
    n_tasks = curves[(long_x, names[0])].shape[1]
    ax.set_title(f"Meta-test on {n_tasks} held-out inits; baselines' lr tuned for {long_x * train_h} steps", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    for i, name in enumerate(names):
        p = meta_curve_paths[name]
        if p.is_file():
            mc = pd.read_csv(p)
            smooth = mc["meta_loss"].rolling(10, min_periods=1).mean()
            ax2.plot(mc["meta_iter"], mc["meta_loss"], color=LEARNED_COLORS[i], alpha=0.25, lw=0.8)
            ax2.plot(mc["meta_iter"], smooth, color=LEARNED_COLORS[i], lw=2, label=specs[name].label)
    ax2.set_xlabel(f"meta-iteration (one {preset.mlp_train.unroll}-step truncated unroll)")
    ax2.set_ylabel("meta-loss (loss / initial loss, clipped)")
    ax2.set_title(f"Meta-training (sawtooth: {train_h // preset.mlp_train.unroll} truncations per task)", fontsize=10)
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=8)
    what = "raw gradient features [g, x]" if number == 6 else "log/sign and rich features"
    fig.suptitle(f"Figure {number}: learned LSTM optimizer with {what} vs tuned baselines\n"
                 f"{data_desc} (scale={scale})", fontsize=11)
    fig.tight_layout()
    return fig


def horizon_figure(path: Path, curves: dict, preset, scale: str):
    fig = horizon_fig(curves, preset, scale)
    io.write_figure(path, fig)
    plt.close(fig)


def horizon_fig(curves: dict, preset, scale: str):
    """The horizon study: per task family, every learned optimizer and tuned Adam over
    1x ... max(horizons)x the training horizon; median with the quartiles drawn as thin lines of
    each optimizer's colour and style (the families' bands overlap: Rastrigin's all do)."""
    families = list(dict.fromkeys(f for f, _ in curves))
    fig, axes = plt.subplots(1, len(families), figsize=(5.2 * len(families), 4.6), sharey=False)
    train_h = preset.two_d.horizon
    for ax, fam in zip(np.atleast_1d(axes), families):
        labels = [lab for f, lab in curves if f == fam and lab != "Adam"]
        for i, lab in enumerate(labels):
            _band(ax, curves[(fam, lab)], lab, LEARNED_COLORS[i % len(LEARNED_COLORS)],
                  ls=LEARNED_STYLES[i % len(LEARNED_STYLES)], lw=1.8, floor=FLOOR, edges=True)
        _band(ax, curves[(fam, "Adam")], f"Adam (lr tuned for {max(preset.horizons) * train_h} steps)", "black", lw=1.8,
              floor=FLOOR, edges=True)
        for hx in preset.horizons:
            ax.axvline(hx * train_h, color="0.5", lw=0.8, ls="--")
            ax.text(hx * train_h, 0.97, f" {hx}x", transform=ax.get_xaxis_transform(), fontsize=8, color="0.3",
                    va="top", ha="right" if hx == max(preset.horizons) else "left")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(1, max(preset.horizons) * train_h)
        ax.set_xlabel("inner step")
        ax.set_ylabel(f"f(x) - f* (median; thin lines: quartiles; floor {FLOOR:g})")
        ax.set_title(f"2-D {fam} ({curves[(fam, 'Adam')].shape[1]} held-out tasks)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle(f"Horizon study: learned optimizers meta-trained on {train_h}-step horizons, run "
                 f"{'x, '.join(map(str, preset.horizons))}x as long (scale={scale})", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def markdown_table(table: pd.DataFrame, preset, scale: str) -> str:
    lines = [f"# Learned optimizers vs tuned baselines (scale={scale})", "",
             "Final loss f - f* (MLP: full training-split cross-entropy) over held-out test tasks: mean and median "
             "with bootstrap 95% intervals; Rastrigin success = final f - f* < 0.5 (Wilson 95% interval). "
             "Baselines' learning rates are grid-tuned on training tasks for the same number of steps. "
             "`Adam overtakes at` = first step from which tuned Adam's median loss stays below the learned "
             "optimizer's to the end of the run (1: Adam is ahead from the first step; blank: Adam never "
             "overtakes within the run). ms/step: wall time per inner step for all test tasks together, "
             "gradient included; update ms: the optimizer's update alone; meta-iter ms: meta-training time "
             "per meta-iteration (one truncated unroll and one meta-gradient step).", ""]
    for (family, hx), part in table.groupby(["family", "horizon_x"], sort=False):
        steps = int(part["steps"].iloc[0])
        lines += [f"## {part['task'].iloc[0]}, {steps} steps ({hx}x the training horizon)", ""]
        cols = ["optimizer", "lr", "mean [95% CI]", "median [95% CI]"]
        has_success = "success" in part and part["success"].notna().any()
        if has_success:
            cols.append("success [95% CI]")
        if family == "mlp":
            cols.append("test acc")
        cols += ["diverged", "Adam overtakes at", "ms/step", "update ms", "meta-iter ms"]
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for _, r in part.iterrows():
            cells = [r["optimizer"], _fmt(r.get("lr")),
                     f"{_fmt(r['mean'])} [{_fmt(r['mean_lo'])}, {_fmt(r['mean_hi'])}]",
                     f"{_fmt(r['median'])} [{_fmt(r['median_lo'])}, {_fmt(r['median_hi'])}]"]
            if has_success:
                cells.append(f"{r['success']:.0%} [{r['success_lo']:.0%}, {r['success_hi']:.0%}]")
            if family == "mlp":
                cells.append(f"{r['test_acc_mean']:.1%}")
            ov = r.get("adam_overtakes_at")
            cells += [str(int(r["diverged"])),
                      "" if ov is None or (isinstance(ov, float) and math.isnan(ov)) else str(int(ov)),
                      _fmt(r["step_ms"]), _fmt(r["update_ms"]), _fmt(r.get("meta_iter_ms"))]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"
