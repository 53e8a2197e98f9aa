"""The per-run loss figure (loss.png), drawn with Pillow. Reads a history (a DataFrame or a dict of
columns); knows nothing about optimizers.

A sweep writes one loss.png per run, and a small run takes milliseconds: matplotlib's cheapest
possible PNG with axes costs ~40 ms of CPU (its floor, measured by scripts/bench_overhead.py) and
the full figure ~85 ms, most of a sweep's per-job overhead. This module draws the same figure with
Pillow in a few milliseconds: the loss of the iterate and the best so far against iterations, on a
log y axis when every value is > 0 (f - f* with a known optimum), a second x axis on top in
evaluations (f + grad, the budget comparisons across optimizers should use), tick labels, grid,
legend, axis labels and title. The sweep-level figures (attnopt.report) stay matplotlib.

The figure is drawn at twice its size and halved (a box filter), which anti-aliases lines and
text for about a millisecond, then mapped onto a fixed palette of its few colours and their blends
with white (:func:`palette`): a palette PNG encodes in a fifth of an RGB one's time and is half its
size. :class:`LossFigure` keeps the mapping from data to pixels, so tests can check where the
curves were drawn.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
import numpy as np

#: the saved image, in pixels (matplotlib's 7 x 4.2 inches at 100 dpi, as loss.png always was)
WIDTH, HEIGHT = 700, 420
SCALE = 2  # drawn at SCALE x the size, then reduced: anti-aliasing
#: the plot area: left, top, right, bottom in pixels of the saved image
BOX = (80, 84, 679, 370)
ITERATE_COLOR = (98, 160, 203)  # matplotlib's tab:blue at 70% opacity on white
BEST_COLOR = (255, 127, 14)  # tab:orange
TEXT_COLOR = (0, 0, 0)
GRID_COLOR = (231, 231, 231)
MINOR_GRID_COLOR = (242, 242, 242)
TICK_LENGTH = 4
FONT_SIZE, LABEL_SIZE, TITLE_SIZE = 12, 13, 15
X_LABEL, TOP_LABEL = "iteration", "evaluations (f + grad)"
ITERATE_LABEL, BEST_LABEL = "loss of iterate", "best so far"


@lru_cache(maxsize=None)
def palette():
    """A palette image of the figure's colours, each blended with white in 16 steps (what drawing
    and halving make of them), for Image.quantize: one look-up per pixel, no colour search."""
    from PIL import Image

    colours = (TEXT_COLOR, ITERATE_COLOR, BEST_COLOR, (204, 204, 204))
    entries = [round(255 * (1 - k / 15) + c * k / 15) for colour in colours for k in range(16) for c in colour]
    image = Image.new("P", (1, 1))
    image.putpalette(entries)
    return image


@lru_cache(maxsize=None)
def font(size: int):
    """Pillow's own scalable font (Aileron, shipped inside Pillow >= 10.1: no font file to find)."""
    from PIL import ImageFont

    return ImageFont.load_default(size * SCALE)


# ----------------------------------------------------------------------------------------------
# Scales and ticks


def _interp(x, xp, fp):
    """np.interp that continues the end segments' slopes, so the evaluations axis has values
    across the whole padded iteration axis."""
    x = np.asarray(x, dtype=float)
    out = np.interp(x, xp, fp)
    if len(xp) < 2:
        return out
    lo_slope = (fp[1] - fp[0]) / (xp[1] - xp[0]) if xp[1] != xp[0] else 0.0
    hi_slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2]) if xp[-1] != xp[-2] else 0.0
    out = np.where(x < xp[0], fp[0] + (x - xp[0]) * lo_slope, out)
    return np.where(x > xp[-1], fp[-1] + (x - xp[-1]) * hi_slope, out)


def _padded(lo: float, hi: float, pad: float = 0.05) -> tuple[float, float]:
    """The data range with a margin on each side (matplotlib's 5%); a single value gets a unit one."""
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
        width = abs(lo) * 0.1 if lo else 1.0
        return lo - width, hi + width
    span = hi - lo
    return lo - pad * span, hi + pad * span


def _label(value: float, step: float) -> str:
    """A tick label with the digits the tick spacing needs (0.25 for a step of 0.25, 1e-05 for 1e-5)."""
    if not abs(step) >= 1e-300:
        return f"{value:g}"
    if value == 0 or 1e-4 <= abs(value) < 1e6:
        decimals = max(0, -math.floor(math.log10(abs(step)) + 1e-9))
        if round(step / 10 ** -decimals, 6) % 1:  # a step of 2.5 x 10^k needs one digit more
            decimals += 1
        return f"{value:.{decimals}f}"
    digits = max(1, math.ceil(math.log10(abs(value) / abs(step)) + 1e-9) + 1)
    return f"{value:.{min(digits, 6)}g}"


def nice_ticks(lo: float, hi: float, n: int = 7) -> list[tuple[float, str]]:
    """At most ~n round values (1, 2, 2.5 or 5 x 10^k apart) between lo and hi, with their labels."""
    raw = (hi - lo) / max(n, 1)
    if not raw > 0 or not math.isfinite(raw):
        return []
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    for k in range(first, first + n + 2):
        value = k * step
        if value > hi + 1e-9 * step:
            break
        value = 0.0 if abs(value) < 1e-9 * step else value
        ticks.append((value, _label(value, step)))
    return ticks


def log_ticks(lo: float, hi: float) -> tuple[list[tuple[float, str]], list[float]]:
    """(labelled ticks, unlabelled minor ticks) of a log axis from 10^lo to 10^hi: the powers of ten,
    every k-th one over many decades; 1-2-5 values, or round linear ones, when fewer than two
    powers of ten are in view, so that a short range still has labels."""
    decades = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    minor = []
    if hi - lo <= 3:  # 2..9 x 10^k: over more decades they only crowd the grid
        minor = [m * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in range(2, 10)
                 if lo <= math.log10(m) + k <= hi]
    if len(decades) >= 2:
        # every stride-th power of ten, stride 1, 2, 5, 10, 20, 50, ...: at most ~8 labels
        wanted = math.ceil(len(decades) / 8)
        stride = next(m * 10 ** e for e in range(400) for m in (1, 2, 5) if m * 10 ** e >= wanted)
        major = [10.0 ** k for k in decades if k % stride == 0]
        minor += [10.0 ** k for k in decades if k % stride]
        return [(v, f"{v:g}") for v in major], minor
    one_two_five = [m * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)
                    if lo - 1e-9 <= math.log10(m) + k <= hi + 1e-9]
    if len(one_two_five) >= 3:
        return [(v, f"{v:g}") for v in one_two_five], [v for v in minor if v not in one_two_five]
    return nice_ticks(10.0 ** lo, 10.0 ** hi, 6), []


# ----------------------------------------------------------------------------------------------
# The figure


@dataclass
class LossFigure:
    """A drawn loss figure: the image and how data map to its pixels (of the saved image)."""

    image: object  # PIL.Image.Image, WIDTH x HEIGHT, mode P (the colours of :func:`palette`)
    title: str
    ylabel: str
    log: bool  # the y axis is logarithmic
    x_range: tuple[float, float]  # iterations at the left and right edges of the plot area
    y_range: tuple[float, float]  # values (log10 of them on a log axis) at the bottom and top
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    top_ticks: list[tuple[float, str]] = field(default_factory=list)  # (evaluations, label)

    def x_px(self, iteration) -> np.ndarray:
        lo, hi = self.x_range
        return BOX[0] + (np.asarray(iteration, dtype=float) - lo) / (hi - lo) * (BOX[2] - BOX[0])

    def y_px(self, value) -> np.ndarray:
        value = np.asarray(value, dtype=float)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.log10(value)
        lo, hi = self.y_range
        return BOX[3] - (value - lo) / (hi - lo) * (BOX[3] - BOX[1])

    def save(self, path: Path | str) -> None:
        # zlib level 1: 40% of level 6's time, for a file ~15 kB instead of ~10 kB
        self.image.save(path, format="PNG", compress_level=1)


def loss_figure(history, title: str, f_opt=None) -> LossFigure:
    """Loss of the iterate and best-so-far against iterations; log scale when all values are > 0.

    With a known optimum the y axis shows f - f_opt, the quantity that says how close a run got.
    """
    from PIL import Image, ImageDraw

    shift = f_opt if f_opt is not None else 0.0
    loss = np.asarray(history["loss"], dtype=float) - shift
    best = np.asarray(history["best_loss"], dtype=float) - shift
    it = np.asarray(history["iter"], dtype=float)
    n_evals = np.asarray(history["f_evals"], dtype=float) + np.asarray(history["g_evals"], dtype=float)
    finite = np.concatenate([loss[np.isfinite(loss)], best[np.isfinite(best)]])
    log = bool(finite.size) and float(finite.min()) > 0
    if not finite.size:
        finite = np.array([0.0])
    if log:
        y_range = _padded(math.log10(finite.min()), math.log10(finite.max()))
        y_ticks, y_minor = log_ticks(*y_range)
    else:
        y_range = _padded(float(finite.min()), float(finite.max()))
        y_ticks, y_minor = nice_ticks(*y_range, 6), []
    x_range = _padded(float(it.min()), float(it.max())) if it.size else (-1.0, 1.0)
    fig = LossFigure(None, title, "f(x) - f*" if f_opt is not None else "f(x)", log, x_range, y_range,
                     y_ticks, nice_ticks(*x_range, 8))
    if len(it) > 1 and n_evals[-1] > n_evals[0]:
        e_lo, e_hi = _interp(list(x_range), it, n_evals)
        fig.top_ticks = nice_ticks(float(e_lo), float(e_hi), 6)

    s = SCALE
    image = Image.new("RGB", (WIDTH * s, HEIGHT * s), "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = (v * s for v in BOX)

    def px_x(values):
        return fig.x_px(values) * s

    def px_y(values):
        return fig.y_px(values) * s

    # grid, under everything
    for value in y_minor:
        y = float(px_y(value))
        draw.line([(left, y), (right, y)], fill=MINOR_GRID_COLOR, width=s)
    for value, _ in y_ticks:
        y = float(px_y(value))
        draw.line([(left, y), (right, y)], fill=GRID_COLOR, width=s)
    for value, _ in fig.x_ticks:
        x = float(px_x(value))
        draw.line([(x, top), (x, bottom)], fill=GRID_COLOR, width=s)

    # the curves: non-finite values break a line (as in matplotlib), they are not drawn
    for values, color, width in ((loss, ITERATE_COLOR, 1), (best, BEST_COLOR, 2)):
        xs, ys = px_x(it), px_y(values)
        ok = np.isfinite(ys)
        for run in np.split(np.arange(len(ys)), np.flatnonzero(np.diff(ok.astype(np.int8))) + 1):
            if run.size and ok[run[0]]:
                points = list(zip(xs[run].tolist(), ys[run].tolist()))
                if len(points) == 1:
                    (x, y), r = points[0], width * s
                    draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
                else:
                    draw.line(points, fill=color, width=width * s, joint="curve" if width > 1 else None)

    # the frame, ticks and their labels
    draw.rectangle([left, top, right, bottom], outline=TEXT_COLOR, width=s)
    tick_font = font(FONT_SIZE)
    tick = TICK_LENGTH * s
    for value, text in y_ticks:
        y = float(px_y(value))
        draw.line([(left - tick, y), (left, y)], fill=TEXT_COLOR, width=s)
        draw.text((left - tick - 3 * s, y), text, fill=TEXT_COLOR, font=tick_font, anchor="rm")
    for value in y_minor:
        y = float(px_y(value))
        draw.line([(left - tick // 2, y), (left, y)], fill=TEXT_COLOR, width=s)
    for value, text in fig.x_ticks:
        x = float(px_x(value))
        draw.line([(x, bottom), (x, bottom + tick)], fill=TEXT_COLOR, width=s)
        draw.text((x, bottom + tick + 2 * s), text, fill=TEXT_COLOR, font=tick_font, anchor="ma")
    label_font = font(LABEL_SIZE)
    draw.text(((left + right) / 2, (HEIGHT - 4) * s), X_LABEL, fill=TEXT_COLOR, font=label_font, anchor="md")
    if fig.top_ticks:
        for value, text in fig.top_ticks:
            x = float(px_x(_interp(value, n_evals, it)))
            if left - 1 <= x <= right + 1:
                draw.line([(x, top - tick), (x, top)], fill=TEXT_COLOR, width=s)
                draw.text((x, top - tick - 2 * s), text, fill=TEXT_COLOR, font=tick_font, anchor="md")
        draw.text(((left + right) / 2, top - (tick + 20) * s), TOP_LABEL, fill=TEXT_COLOR, font=label_font,
                  anchor="md")
    draw.text(((left + right) / 2, 10 * s), title, fill=TEXT_COLOR, font=font(TITLE_SIZE), anchor="ma")
    _vertical_text(image, fig.ylabel, label_font, x=6 * s, y_mid=(top + bottom) / 2)
    _legend(draw, right, top)

    from PIL.Image import Dither

    fig.image = image.reduce(s).quantize(palette=palette(), dither=Dither.NONE)
    return fig


def _vertical_text(image, text: str, text_font, x: float, y_mid: float) -> None:
    """Text turned 90 degrees (reading upwards), its left edge at x, centred on y_mid."""
    from PIL import Image, ImageDraw

    _, _, right, lower = text_font.getbbox(text)
    mask = Image.new("L", (right, lower), 0)
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=text_font)
    mask = mask.rotate(90, expand=True)
    image.paste(TEXT_COLOR, (int(x), int(y_mid - mask.height / 2)), mask)


def _legend(draw, right: float, top: float) -> None:
    """The two curves' names in a framed box in the plot area's upper right corner."""
    s = SCALE
    text_font = font(FONT_SIZE)
    entries = ((ITERATE_LABEL, ITERATE_COLOR, 1), (BEST_LABEL, BEST_COLOR, 2))
    sample, gap, row = 28 * s, 6 * s, 20 * s
    text_width = max(text_font.getlength(label) for label, _, _ in entries)
    x1, y0 = right - 8 * s, top + 8 * s
    x0 = x1 - (8 * s + sample + gap + text_width + 8 * s)
    y1 = y0 + 6 * s + row * len(entries)
    draw.rounded_rectangle([x0, y0, x1, y1], radius=3 * s, fill="white", outline=(204, 204, 204), width=s)
    for k, (label, color, width) in enumerate(entries):
        y = y0 + 3 * s + row * k + row / 2
        draw.line([(x0 + 8 * s, y), (x0 + 8 * s + sample, y)], fill=color, width=width * s)
        draw.text((x0 + 8 * s + sample + gap, y), label, fill=TEXT_COLOR, font=text_font, anchor="lm")


__all__ = ["LossFigure", "loss_figure", "nice_ticks", "log_ticks", "WIDTH", "HEIGHT", "BOX"]
