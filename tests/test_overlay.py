"""Figures typeset once and laid into the sections that show them: the page must look as if WeasyPrint had
drawn the figure itself, wherever the layout put it (scaled to the column, after a page break, shown twice)."""
import shutil
import subprocess

import matplotlib
import pytest
from PIL import Image, ImageChops
from pypdf import PdfReader

from study.report.cache import PdfStore, svg
from study.report.printing import Printer

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils' pdftoppm")

PAGE = """<html><head><style>@page {{ size: A5; margin: 1.5cm }} img {{ max-width: 100%; }}</style></head>
<body><h1>Figures</h1><p>Before the first figure.</p>
<figure><img src="figures/{a}.svg" alt="a"></figure>
<p style="break-after: page">Between the figures.</p>
<figure><img src="figures/{b}.svg" alt="b" style="width: 5cm"></figure>
<figure><img src="figures/{a}.svg" alt="a again"></figure></body></html>"""


def draw(folder, name, kind):
    fig, ax = plt.subplots(figsize=(4, 2.5))
    if kind == "lines":
        ax.plot(range(20), [i * i for i in range(20)], "o-", label="square")
        ax.legend()
    else:
        ax.bar(range(4), [3, 1, 4, 1], hatch="//", edgecolor="#222")
    ax.set_title(f"figure {name}")
    (folder / f"{name}.svg").write_bytes(svg(fig))


def pixels(pdf, folder, prefix):
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(folder / prefix)], check=True)
    return [Image.open(p).convert("L") for p in sorted(folder.glob(f"{prefix}-*.png"))]


def test_laid_in_figures_look_as_if_drawn_in_place(tmp_path):
    (tmp_path / "figures").mkdir()
    draw(tmp_path / "figures", "0a", "lines")
    draw(tmp_path / "figures", "0b", "bars")
    html = PAGE.format(a="0a", b="0b")
    base = tmp_path.as_uri() + "/"
    from study.report.pdf import write_pdf

    drawn = write_pdf(html, tmp_path / "drawn.pdf", base)  # WeasyPrint draws the figures itself
    printer = Printer(PdfStore(tmp_path / "cache"), "")
    laid = printer.typeset({"page": (html, base)})["page"]
    printer.workers.close()
    assert printer.figures_typeset == 2 and printer.typeset_count == 1  # the figure shown twice, typeset once

    want, got = pixels(drawn, tmp_path, "drawn"), pixels(laid, tmp_path, "laid")
    assert len(want) == len(got) == 2
    for page, (a, b) in enumerate(zip(want, got), 1):
        ink = sum(ImageChops.invert(a).histogram()[64:])  # dark pixels: the page is not blank
        off = sum(ImageChops.difference(a, b).histogram()[64:])  # pixels that differ by more than antialiasing
        assert ink > 1000 and off < 0.01 * ink, (page, ink, off)
    # the figure shown twice is stored once: one form per figure in the file
    forms = {ref.idnum for p in PdfReader(laid).pages for ref in p["/Resources"]["/XObject"].values()}
    assert len(forms) == 2


def test_a_figure_the_layout_does_not_show_is_an_error_not_a_silent_gap(tmp_path):
    (tmp_path / "figures").mkdir()
    draw(tmp_path / "figures", "0a", "lines")
    html = '<html><body><img src="figures/0a.svg" style="display: none"></body></html>'
    printer = Printer(PdfStore(tmp_path / "cache"), "")
    with pytest.raises(RuntimeError, match="1 figures in the page, 0 found"):
        printer.typeset({"page": (html, tmp_path.as_uri() + "/")})
    printer.workers.close()
