"""Shared plotting helpers: a Japanese-capable font from the Python dependencies, and interval bands."""
import importlib.util
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402


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
        "figure.dpi": 110, "savefig.dpi": 130, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False,
    })


def band(ax, x, mean, lo, hi, label, **kw):
    """A mean line with its 95% interval as a shaded band."""
    (line,) = ax.plot(x, mean, marker="o", ms=3, label=label, **kw)
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
