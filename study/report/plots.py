"""Shared plotting: a Japanese-capable font from the Python dependencies, one print-safe style for every
figure, interval bands and vector pixel grids.

Print-safe means a series stays recognisable in greyscale: each gets a colour (Okabe–Ito, readable for
colour-blind readers), a line style and a marker, and each bar a hatch. Figures are drawn at most
PRINT_WIDTH wide with fonts of at least MIN_FONT points, so nothing prints below 7 pt on A4.
"""
import importlib.util
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

PRINT_WIDTH = 6.7  # inches: the text width of an A4 page with the report's margins
MIN_FONT = 7.5  # points, at printed size (a figure no wider than PRINT_WIDTH prints at 100% or larger)
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
LINES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (7, 2)), (0, (3, 1, 1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---")


@cache
def japanese_font() -> Path:
    """IPAexGothic, shipped inside the japanize-matplotlib wheel (no system font needed)."""
    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("japanize-matplotlib is not installed: run `make setup`")
    path = Path(spec.submodule_search_locations[0]) / "fonts" / "ipaexg.ttf"
    if not path.is_file():
        raise RuntimeError(f"Japanese font not found at {path}")
    return path


@cache
def setup_matplotlib() -> None:
    font_manager.fontManager.addfont(str(japanese_font()))
    name = font_manager.FontProperties(fname=str(japanese_font())).get_name()
    plt.rcParams.update({
        "font.family": ["DejaVu Sans", name],  # Latin from DejaVu, CJK falls back to IPAexGothic
        "font.size": 8.5, "axes.titlesize": 9, "axes.labelsize": 8.5, "xtick.labelsize": 8, "ytick.labelsize": 8,
        "legend.fontsize": 8, "legend.title_fontsize": 8, "figure.dpi": 110, "savefig.dpi": 130,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "lines.linewidth": 1.4, "lines.markersize": 4, "hatch.linewidth": 0.6,
    })


def styles(keys) -> dict:
    """Line style per series key (colour, dash, marker), in the order given, the same in every figure that
    passes the same keys."""
    return {k: {"color": COLORS[i % len(COLORS)], "ls": LINES[i % len(LINES)], "marker": MARKERS[i % len(MARKERS)]}
            for i, k in enumerate(keys)}


def bar_styles(keys) -> dict:
    """Bar style per series key: colour and hatch, with a dark edge so hatches print."""
    return {k: {"color": COLORS[i % len(COLORS)], "hatch": HATCHES[i % len(HATCHES)], "edgecolor": "#222",
                "linewidth": 0.6} for i, k in enumerate(keys)}


def figure(width: float = PRINT_WIDTH, height: float = 3.0, **kw):
    """plt.subplots, never wider than the printed page."""
    return plt.subplots(figsize=(min(width, PRINT_WIDTH), height), **kw)


def legend_below(fig, ax=None, ncol: int = 3, **kw):
    """One legend under the figure (outside the axes), so it never covers data."""
    handles, labels = (ax or fig.axes[0]).get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 0), **kw)
    fig.tight_layout(rect=(0, 0.08 + 0.05 * ((len(labels) - 1) // ncol), 1, 1))


def band(ax, x, mean, lo, hi, label, **kw):
    """A mean line with its 95% interval as a shaded band."""
    (line,) = ax.plot(x, mean, label=label, **{"marker": "o", **kw})
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)
    return line


def pixels(ax, m, aspect="equal", **kw):
    """A matrix drawn like imshow (row 0 at the top, one cell per entry) but as vector cells, so the PDFs stay
    vector (imshow would embed a raster image) and small filters stay sharp at any zoom."""
    import numpy as np

    m = np.asarray(m, dtype=float)
    rows, cols = m.shape
    mesh = ax.pcolormesh(np.arange(cols + 1) - 0.5, np.arange(rows + 1) - 0.5, m, antialiased=False,
                         linewidth=0, **kw)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_aspect(aspect)
    return mesh


def bare(ax):
    """No ticks, grid or frame: for images and filters."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
