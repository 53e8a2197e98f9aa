"""`attnopt plot`: a 2-D landscape as a heat map with optimizer trajectories on it (report Fig. 4).

    attnopt plot landscape=trapped gd.lr=0.001                  # gd, attention, hybrid2 from one x0
    attnopt plot landscape=rastrigin optimizers=gd,attention,hybrid3 seed=3 max_evals=5000

Every optimizer starts from the same x0 (drawn from ``seed``, or ``x0=[a,b]``) with the same
evaluation budget. Keys: ``landscape`` (name), ``landscape.<param>``, ``dimension`` (must be 2),
``optimizers`` (comma-separated), ``<optimizer>.<param>`` (e.g. ``gd.lr=0.001``; otherwise the
library defaults), ``seed``, ``x0``, ``max_evals``, ``max_iters``, ``out``, ``resolution``.
The colour is f - f* on a log scale (f* the known optimum, else the grid's minimum), so shallow
traps such as the trapped landscape's rings stay visible next to a steep bowl.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from attnopt import io, landscapes, optimizers
from attnopt.errors import ConfigError
from attnopt.optimizers.base import Optimizer
from attnopt.runner import Budget, check_start, run

DEFAULTS: dict[str, Any] = {
    "landscape": "trapped",
    "dimension": 2,
    "optimizers": "gd,attention,hybrid2",
    "seed": 0,
    "x0": None,
    "max_evals": 3000,
    "max_iters": None,
    "out": None,  # outputs/figures/<landscape>_trajectories.png
    "resolution": 400,
}
#: line style per phase, so a hybrid's gradient and attention steps can be told apart
PHASE_STYLE = {"attention": dict(ls=":", lw=1.8), "gd": dict(ls="-", lw=1.8)}
#: the global optimum: a hollow star (gold on a black outline, so it shows on dark and light
#: colours alike) drawn above the end markers and large enough to frame one: a run that ended at
#: the optimum shows its end marker inside the star, and neither hides the other
OPTIMUM_OUTLINE = dict(marker="*", ms=26, mfc="none", mec="black", mew=3.6)
OPTIMUM = dict(marker="*", ms=26, mfc="none", mec="gold", mew=1.8)


def _numbers(value):
    """YAML 1.1 reads 1e200 (no dot) as text; numbers as `attnopt run` (Hydra) reads them."""
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse(args: list[str]) -> tuple[dict, dict, dict[str, dict]]:
    """(settings, landscape params, {optimizer: params}) from key=value arguments."""
    settings, land_params, opt_params = dict(DEFAULTS), {}, {}
    for arg in args:
        key, sep, raw = arg.partition("=")
        if not sep or not key:
            raise ConfigError(f"argument '{arg}' is invalid: expected key=value, e.g. landscape=trapped")
        value = _numbers(yaml.safe_load(raw)) if raw else None
        head, dot, rest = key.partition(".")
        if key in DEFAULTS:
            settings[key] = value
        elif head == "landscape" and dot:
            land_params[rest] = value
        elif dot and head in optimizers.REGISTRY:
            opt_params.setdefault(head, {})[rest] = value
        else:
            raise ConfigError(f"unknown key '{key}'; allowed keys: {', '.join(DEFAULTS)}, landscape.<param>, "
                              f"<optimizer>.<param> (optimizers: {', '.join(optimizers.names())})")
    names = settings["optimizers"]
    names = [n.strip() for n in (names.split(",") if isinstance(names, str) else list(names or [])) if n.strip()]
    if not names:
        raise ConfigError("optimizers= is empty: name at least one, e.g. optimizers=gd,attention,hybrid2")
    settings["optimizers"] = names
    stray = sorted(set(opt_params) - set(names))
    if stray:
        raise ConfigError(f"parameters given for '{stray[0]}', which is not in optimizers={','.join(names)}")
    if settings["dimension"] != 2:
        raise ConfigError(f"dimension={settings['dimension']!r} is invalid: attnopt plot draws 2-D landscapes, "
                          "must be 2")
    for key in ("resolution", "max_evals"):
        if not isinstance(settings[key], int) or isinstance(settings[key], bool) or settings[key] < 2:
            raise ConfigError(f"{key}={settings[key]!r} is invalid: must be an integer >= 2")
    if not isinstance(settings["seed"], int) or isinstance(settings["seed"], bool) or settings["seed"] < 0:
        raise ConfigError(f"seed={settings['seed']!r} is invalid: must be an integer >= 0")
    return settings, land_params, opt_params


def check_output(out: Path) -> None:
    """The figure's path, refused before any run when it names a directory, has no image format
    matplotlib writes, or cannot be written."""
    from matplotlib.backend_bases import FigureCanvasBase

    from attnopt.io import check_writable

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if out.is_dir():
        raise ConfigError(f"out={out} is a directory: give a file name, e.g. out={out / 'trajectories.png'}")
    if out.suffix.lstrip(".").lower() not in formats:
        raise ConfigError(f"out={out} is invalid: its suffix must name an image format, one of "
                          f"{', '.join(formats)} (e.g. out={out.with_suffix('.png')})")
    check_writable(out.parent)


def make_optimizer(name: str, params: dict) -> Optimizer:
    """optimizers.make, with errors naming the key as typed here (``gd.lr``, not ``optimizer.lr``)."""
    from attnopt.params import bind

    factory = optimizers.REGISTRY[name]
    return factory(**bind(factory, params, where=name))


def recording(opt: Optimizer, path: list) -> Optimizer:
    """The same optimizer, appending (x, phase) of every state that ends an iteration to ``path``."""

    def tell(state, values, grads):
        state, phase = opt.tell(state, values, grads)
        if phase is not None:
            path.append((np.array(state.x, dtype=float), phase))
        return state, phase

    return opt._replace(tell=tell)


def trajectories(landscape, names: list[str], opt_params: dict, seed: int, x0, budget: Budget) -> dict:
    """{name: (points (n, 2), phases, result)} for each optimizer, all from the same x0."""
    out = {}
    for name in names:
        path: list = []
        opt = recording(make_optimizer(name, opt_params.get(name, {})), path)
        result = run(landscape, opt, x0=x0, seed=seed, budget=budget)
        out[name] = (np.array([p for p, _ in path]), [ph for _, ph in path], result)
    return out


#: colours that stand out on viridis, dark and light alike, given in the order of
#: attnopt.report.style.ordered, so two optimizers of one figure never share one
CONTRAST = ["#ff3b30", "#ff2bd6", "#00e5ff", "#ff9500", "#ffffff", "#a0ff00", "#8e44ad", "#ffd60a", "#0050ff",
            "#000000"]


def axis_names(landscape_name: str) -> tuple[str, str]:
    """What the two coordinates are: the trapped landscape's are a linear model's bias and weight."""
    if landscape_name == "trapped":
        return "w0 (bias)", "w1 (feature weight)"
    return "x[0]", "x[1]"


def _draw(ax, X, Y, Z, shift, paths, colors, f_opt_x, norm, names):
    import matplotlib.pyplot as plt

    mesh = ax.pcolormesh(X, Y, Z - shift, cmap="viridis", norm=norm, shading="auto", rasterized=True)
    for name, (pts, phases, _res) in paths.items():
        for i in range(1, len(pts)):
            style = PHASE_STYLE.get(phases[i], dict(ls="-", lw=1.6))
            ax.plot(pts[i - 1:i + 1, 0], pts[i - 1:i + 1, 1], color=colors[name], **style)
        ax.plot(*pts[-1], marker="X", ms=9, color=colors[name], mec="black", mew=0.8, zorder=6, label=f"_end {name}")
    start = next(iter(paths.values()))[0][0]
    ax.plot(*start, marker="o", ms=10, color="white", mec="black", mew=1.5, zorder=6, label="_start")
    if f_opt_x is not None:  # above the end markers, hollow: a run that reached it shows inside it
        ax.plot(*f_opt_x, ls="", zorder=7, label="_optimum outline", **OPTIMUM_OUTLINE)
        ax.plot(*f_opt_x, ls="", zorder=8, label="_optimum", **OPTIMUM)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    plt.setp(ax.get_xticklabels(), fontsize=8)
    plt.setp(ax.get_yticklabels(), fontsize=8)
    return mesh


def _zoom_half_width(best: np.ndarray, centre: np.ndarray, x_opt, extent: float) -> float:
    """Half the side of the zoom panel: enough to show the best run's last steps (``best``: its
    finite points) and, where it lies near, the optimum; a side between 1% and 10% of the whole
    view's, so the zoom always zooms."""
    tail = best[-max(3, len(best) // 10):]
    reach = float(np.max(np.abs(tail - centre))) if len(tail) else 0.0
    if x_opt is not None:
        to_opt = float(np.max(np.abs(np.asarray(x_opt, float) - centre)))
        if to_opt <= 0.05 * extent:
            reach = max(reach, to_opt)
    return float(np.clip(1.5 * reach, 0.005 * extent, 0.05 * extent))


def figure(landscape, paths: dict, resolution: int, title: str, landscape_name: str = ""):
    """Two panels: the whole region the runs visited (init domain included) and a zoom around the
    best run's end point (where the narrow traps that decide the result are), optimum marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from attnopt.report.style import ordered

    names = list(paths)
    colors = {n: CONTRAST[i % len(CONTRAST)] for i, n in enumerate(ordered(names))}
    pts_all = np.vstack([p for p, _, _ in paths.values()])
    pts_all = pts_all[np.isfinite(pts_all).all(axis=1)]
    low, high = landscape.init_bounds
    lo = np.minimum(pts_all.min(axis=0), low)
    hi = np.maximum(pts_all.max(axis=0), high)
    pad = 0.05 * (hi - lo)
    x_opt = landscape.x_opt
    # the zoom's centre: where the best run ended (its last finite point, should it have diverged)
    best = min(paths.values(), key=lambda t: t[2].loss if np.isfinite(t[2].loss) else np.inf)[0]
    finite = best[np.isfinite(best).all(axis=1)]
    centre = finite[-1] if len(finite) else pts_all[0]
    half = _zoom_half_width(finite if len(finite) else pts_all[:1], centre, x_opt, float(max(hi - lo)))
    views = [(lo - pad, hi + pad), (centre - half, centre + half)]

    fig, axes = plt.subplots(1, 2, figsize=(13.5, 6.2))
    f_opt = landscape.f_opt
    grids = []
    for (a, b) in views:
        xs, ys = np.linspace(a[0], b[0], resolution), np.linspace(a[1], b[1], resolution)
        X, Y = np.meshgrid(xs, ys)
        Z = landscape(np.column_stack([X.ravel(), Y.ravel()])).reshape(X.shape)  # one batched call
        grids.append((X, Y, Z))
    shift = f_opt if f_opt is not None else min(float(np.nanmin(Z)) for _, _, Z in grids)
    # The colour scale reaches down to the best end point of any run (cma's 1e-8 included), not
    # only to the grid's lowest cell, so a run's end lies inside the colours.
    ends = [float(r.loss) - shift for _, _, r in paths.values() if np.isfinite(r.loss)]
    low_value = min([min(float(np.nanmin(Z - shift)) for _, _, Z in grids)] + ends)
    vmin = max(low_value, 1e-12)
    vmax = max(float(np.nanmax(Z - shift)) for _, _, Z in grids)
    norm = LogNorm(vmin=vmin, vmax=max(vmax, vmin * 10))
    labels = ["the runs' whole path", f"zoom on the best run's end point ({2 * half:.3g} wide)"]
    coords = axis_names(landscape_name)
    for ax, (X, Y, Z), (a, b), label in zip(axes, grids, views, labels):
        mesh = _draw(ax, X, Y, np.maximum(Z, shift + vmin), shift, paths, colors, x_opt, norm, coords)
        ax.set_xlim(a[0], b[0])
        ax.set_ylim(a[1], b[1])
        ax.set_aspect("equal")
        ax.set_title(label, fontsize=10)
    fig.subplots_adjust(bottom=0.2, top=0.9, left=0.05, right=0.88, wspace=0.18)
    cbar = fig.colorbar(mesh, cax=fig.add_axes((0.9, 0.25, 0.013, 0.6)))
    cbar.set_label("f(x) - f*" if f_opt is not None else "f(x) - min on grid")
    any_attention = any("attention" in phases for _, phases, _ in paths.values())

    def handle_style(phases):
        # an optimizer whose every step is an attention step is drawn dotted: so is its legend line
        steps = phases[1:]
        return PHASE_STYLE["attention"] if steps and all(p == "attention" for p in steps) else dict(ls="-", lw=2)

    handles = [plt.Line2D([], [], color=colors[n], **handle_style(paths[n][1]),
                          label=f"{n}: f - f* = {paths[n][2].loss - (f_opt or 0):.3g}" if f_opt is not None
                          else f"{n}: f = {paths[n][2].loss:.3g}") for n in names]
    if any_attention:
        handles.append(plt.Line2D([], [], color="0.4", ls=":", lw=1.8, label="attention-phase step"))
    handles += [plt.Line2D([], [], ls="", marker="o", color="white", mec="black", ms=9, label="start (shared x0)"),
                plt.Line2D([], [], ls="", marker="X", color="0.6", mec="black", ms=9, label="end")]
    if x_opt is not None:
        handles.append(plt.Line2D([], [], ls="", **{**OPTIMUM, "ms": 15, "mew": 1.6}, label="global optimum"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=9, frameon=False,
               bbox_to_anchor=(0.45, -0.01))
    fig.suptitle(title, fontsize=11)
    return fig


def main(args: list[str]) -> int:
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    settings, land_params, opt_params = parse(args)
    lname = settings["landscape"]
    out = Path(settings["out"] or f"outputs/figures/{lname}_trajectories.png")
    check_output(out)
    from attnopt import memory

    res = settings["resolution"]
    memory.require(2.0 * res**2 * memory.PLOT_CELL_BYTES, f"resolution={res} (two panels of {res} x {res} cells)")
    landscape = landscapes.make(lname, 2, **land_params)
    for name in settings["optimizers"]:
        if name not in optimizers.REGISTRY:
            raise ConfigError(f"unknown optimizer '{name}'; choose from: {', '.join(optimizers.names())}")
        make_optimizer(name, opt_params.get(name, {}))  # validate every one before any run
    budget = Budget(max_iters=settings["max_iters"], max_evals=settings["max_evals"])
    x0 = settings["x0"]
    if x0 is not None:
        check_start(landscape, x0)
    paths = trajectories(landscape, settings["optimizers"], opt_params, settings["seed"], x0, budget)
    note = " (2-D: bias w0 and one feature w1)" if lname == "trapped" else " (2-D)"
    params = "; ".join(f"{n}: " + ", ".join(f"{k}={v}" for k, v in p.items()) for n, p in opt_params.items())
    title = (f"{lname}{note}: trajectories from one x0 (seed {settings['seed']}), "
             f"{settings['max_evals']} evaluations each" + (f"; {params}" if params else ""))
    fig = figure(landscape, paths, settings["resolution"], title, lname)
    io.write_figure(out, fig)
    for name, (_pts, _ph, res) in paths.items():
        print(f"{name}: final loss {res.loss:.6g}, {res.iters} iters, {res.f_evals} f-evals, {res.g_evals} g-evals",
              flush=True)
    print(f"wrote {out}", flush=True)
    return 0


__all__ = ["main", "parse", "recording", "trajectories", "figure"]
