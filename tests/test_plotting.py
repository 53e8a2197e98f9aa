"""The per-run loss.png (attnopt.plotting, drawn with Pillow): what it plots, read back from its pixels."""
import math

import numpy as np
import pytest
from PIL import Image

from attnopt import plotting, rundir
from attnopt.plotting import BEST_COLOR, BOX, ITERATE_COLOR, loss_figure, log_ticks, nice_ticks


def history(loss, best=None, f_evals=None, g_evals=None):
    loss = np.asarray(loss, dtype=float)
    n = len(loss)
    return {"iter": np.arange(n), "loss": loss,
            "best_loss": np.minimum.accumulate(loss) if best is None else np.asarray(best, dtype=float),
            "f_evals": np.arange(1, n + 1) * 65 if f_evals is None else np.asarray(f_evals),
            "g_evals": np.zeros(n, dtype=int) if g_evals is None else np.asarray(g_evals)}


def rgb(fig) -> np.ndarray:
    image = fig.image.convert("RGB")
    assert image.size == (plotting.WIDTH, plotting.HEIGHT)
    return np.asarray(image).astype(int)


def rows_of(pixels: np.ndarray, column: int, colour) -> np.ndarray:
    """Rows of one pixel column, inside the plot area, of a pixel tinted by ``colour`` (one of the
    curves' colours, or a blend of it with white where a line edge covers part of a pixel): its
    channels differ from each other as the colour's do, by at least a third as much."""
    inside = pixels[BOX[1] + 2:BOX[3] - 1, column]
    colour = np.array(colour)
    hi, lo = int(np.argmax(colour)), int(np.argmin(colour))
    tinted = (inside[:, hi] - inside[:, lo]) >= (colour[hi] - colour[lo]) / 3
    return np.flatnonzero(tinted) + BOX[1] + 2


def column_of(fig, i: int, last: int) -> int:
    """The pixel column of iteration i, moved inside the curve's ends (a line's end covers only
    part of its last pixel column)."""
    return int(np.clip(round(float(fig.x_px(i))), math.ceil(float(fig.x_px(0))), math.floor(float(fig.x_px(last))) - 1))


def row_at(fig, values, column: int) -> float:
    """Where a curve through ``values`` (one per iteration) crosses a pixel column, by the figure's mapping."""
    values = np.asarray(values, dtype=float)
    return float(np.interp(column, fig.x_px(np.arange(len(values))), fig.y_px(values)))


def dark_extent(pixels: np.ndarray, rows: slice, cols: slice) -> tuple[int, int, int, int]:
    """(first col, last col, first row, last row) of the text-dark pixels in a region."""
    region = pixels[rows, cols].sum(axis=2) < 300
    ys, xs = np.nonzero(region)
    assert xs.size, "nothing drawn there"
    return xs.min() + (cols.start or 0), xs.max() + (cols.start or 0), ys.min() + (rows.start or 0), \
        ys.max() + (rows.start or 0)


def test_the_best_so_far_curve_follows_the_history_on_a_log_axis():
    # halving each step: on a log axis the curve is a straight line, equal steps down per iteration
    best = 16.0 * 0.5 ** np.arange(11)
    fig = loss_figure(history(best * 1.5, best), "gd on sphere", f_opt=0.0)
    pixels = rgb(fig)
    assert fig.log
    found = []
    for i in range(11):
        column = column_of(fig, i, 10)
        rows = rows_of(pixels, column, BEST_COLOR)
        assert rows.size, f"no best-so-far pixel in the column of iteration {i}"
        found.append(rows.mean())
        assert abs(rows.mean() - row_at(fig, best, column)) <= 2.0
    # independent of the figure's own mapping: the rows fall in equal steps (log of a geometric series)
    steps = np.diff(found)
    assert np.all(steps > 0) and np.ptp(steps) <= 3.0
    # and the labelled ticks are powers of ten, equally spaced: a log axis
    values = [v for v, _ in fig.y_ticks]
    assert all(math.log10(v) == round(math.log10(v)) for v in values) and len(values) >= 3
    assert np.ptp(np.diff(fig.y_px(values))) < 1e-6
    assert [label for _, label in fig.y_ticks] == ["0.1", "1", "10"]  # 0.016 to 24


def test_the_iterate_curve_is_drawn_where_its_loss_is_minus_f_opt():
    loss = np.array([5.0, 3.0, 4.0, 2.0, 6.0, 2.5])
    fig = loss_figure(history(loss), "attention on sphere", f_opt=1.0)
    pixels = rgb(fig)
    for i, value in enumerate(loss - 1.0):
        column = column_of(fig, i, len(loss) - 1)
        rows = rows_of(pixels, column, ITERATE_COLOR)
        if value > np.minimum.accumulate(loss - 1.0)[i]:  # not under the best-so-far line
            assert rows.size and np.min(np.abs(rows - row_at(fig, loss - 1.0, column))) <= 1.5, i
    assert fig.ylabel == "f(x) - f*"


def test_values_that_are_not_all_positive_get_a_linear_axis_with_zero_on_it():
    loss = [1.0, -1.0, 0.0, 2.0]
    fig = loss_figure(history(loss), "t")
    pixels = rgb(fig)
    assert not fig.log and fig.ylabel == "f(x)"
    assert {"-1", "0", "1", "2"} <= {label for _, label in fig.y_ticks}
    assert np.ptp(np.diff(fig.y_px([-1.0, 0.0, 1.0, 2.0]))) < 1e-6  # linear: equal steps for equal values
    rows = rows_of(pixels, column_of(fig, 3, 3), BEST_COLOR)
    assert rows.size and abs(rows.mean() - float(fig.y_px(-1.0))) <= 2.0  # the best so far stays at -1


def test_the_title_and_axis_labels_are_drawn_as_text():
    short, long = "gd on sphere", "attention_explore on rastrigin, d=1000, seed=12"
    width = {}
    for title in (short, long):
        pixels = rgb(loss_figure(history([3.0, 2.0, 1.0]), title, f_opt=0.0))
        left, right, top, bottom = dark_extent(pixels, slice(0, 32), slice(0, plotting.WIDTH))
        expected = plotting.font(plotting.TITLE_SIZE).getlength(title) / plotting.SCALE
        width[title] = right - left
        assert abs((right - left) - expected) <= 4, (title, right - left, expected)
        assert abs((left + right) / 2 - (BOX[0] + BOX[2]) / 2) <= 4  # centred over the plot
    assert width[long] > 2 * width[short]
    # the y label, turned upright at the left edge: "f(x) - f*" with an optimum, "f(x)" without
    extents = {}
    for f_opt in (0.0, None):
        pixels = rgb(loss_figure(history([3.0, 2.0, 1.0]), "t", f_opt=f_opt))
        left, right, top, bottom = dark_extent(pixels, slice(BOX[1], BOX[3]), slice(0, 24))
        extents[f_opt] = bottom - top
        label = "f(x) - f*" if f_opt is not None else "f(x)"
        expected = plotting.font(plotting.LABEL_SIZE).getlength(label) / plotting.SCALE
        assert abs((bottom - top) - expected) <= 4, (label, bottom - top, expected)
    # the x label below the tick labels
    pixels = rgb(loss_figure(history([3.0, 2.0, 1.0]), "t"))
    left, right, _, _ = dark_extent(pixels, slice(BOX[3] + 24, plotting.HEIGHT), slice(0, plotting.WIDTH))
    assert abs((right - left) - plotting.font(plotting.LABEL_SIZE).getlength("iteration") / plotting.SCALE) <= 4


def test_the_top_axis_counts_evaluations_and_is_left_out_when_they_do_not_grow():
    h = history([5.0, 3.0, 4.0, 2.0], f_evals=[1, 66, 131, 196], g_evals=[1, 2, 3, 4])
    fig = loss_figure(h, "t")
    evals = h["f_evals"] + h["g_evals"]
    assert [label for _, label in fig.top_ticks] == ["0", "50", "100", "150", "200"]
    pixels = rgb(fig)
    for value, _ in fig.top_ticks:
        x = float(fig.x_px(np.interp(value, evals, h["iter"])))
        if evals[0] <= value <= evals[-1]:
            # a tick mark just above the frame, at the iteration with that many evaluations
            column = pixels[BOX[1] - 3:BOX[1] - 1, int(round(x)) - 1:int(round(x)) + 2].sum(axis=2)
            assert (column < 500).any(), value  # grey at least: a 1-pixel mark may straddle two columns
    assert loss_figure(history([1.0, 2.0], f_evals=[5, 5]), "t").top_ticks == []
    assert loss_figure(history([1.0]), "t").top_ticks == []  # a run of no iterations


def test_non_finite_values_break_the_curve_and_a_single_point_is_drawn():
    loss = np.array([5.0, 3.0, np.nan, np.inf, 2.0, 1.0])
    fig = loss_figure(history(loss, best=[5.0, 3.0, 3.0, 3.0, 2.0, 1.0]), "t")
    assert fig.log and np.isfinite(fig.y_range).all()
    single = loss_figure(history([3.0]), "t")
    pixels = rgb(single)
    assert rows_of(pixels, int(round(float(single.x_px(0)))), BEST_COLOR).size


def test_ticks_are_round_numbers():
    assert [label for _, label in nice_ticks(0, 12500, 6)] == ["0", "2500", "5000", "7500", "10000", "12500"]
    assert [label for _, label in nice_ticks(-0.1, 3.1, 8)] == ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"]
    major, minor = log_ticks(-300.5, 0.5)  # 300 decades: every 50th power of ten, no minor clutter
    assert [label for _, label in major] == ["1e-300", "1e-250", "1e-200", "1e-150", "1e-100", "1e-50", "1"]
    major, minor = log_ticks(math.log10(35), math.log10(210))  # under one decade: 1-2-5 values
    assert [label for _, label in major] == ["50", "100", "200"] and 40.0 in minor


def test_run_directory_gets_the_png(tmp_path):
    fig = loss_figure(history([3.0, 2.0, 1.0]), "gd on sphere", f_opt=0.0)
    out = rundir.write(tmp_path / "run", config={"seed": 0}, history=history([3.0, 2.0, 1.0]),
                       summary={"optimizer": "gd"}, figure=fig)
    with Image.open(out / rundir.FIGURE_FILE) as png:
        assert png.format == "PNG" and png.size == (plotting.WIDTH, plotting.HEIGHT)
        assert np.array_equal(np.asarray(png.convert("RGB")), rgb(fig))
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("n", [2, 10001])
def test_any_length_of_history_is_drawn(n):
    loss = np.exp(-np.arange(n) / max(n / 20, 1)) + 1e-3
    fig = loss_figure(history(loss), "t", f_opt=0.0)
    pixels = rgb(fig)
    rows_col = column_of(fig, n - 1, n - 1)
    rows = rows_of(pixels, rows_col, BEST_COLOR)
    assert rows.size and abs(rows.mean() - row_at(fig, np.minimum.accumulate(loss), rows_col)) <= 2.0
