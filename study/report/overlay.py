"""Figures typeset once each and laid into every section PDF that shows them.

WeasyPrint spends most of a section's time drawing its vector figures, and each figure is shown in two
sections (the student and the instructor edition of its language), which are typeset again whenever their
words change. So a section is typeset with a blank stand-in for each figure (an empty SVG of the same size:
the same layout, nothing to draw); each figure is typeset on a page of its own size, once and cached like any
PDF (study.report.printing); and pypdf lays the figure's page, as a form, over the box its stand-in took.
"""
import io
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from study.report.assemble import form, stamp

# A figure as templates/report.html.j2 writes it; its file as study.report.cache.svg saves it (sizes in pt).
FIGURE = re.compile(r'<img src="([^"]*figures/[0-9a-f]+\.svg)"')
SIZE = re.compile(rb'<svg [^>]*?width="([\d.]+)pt" height="([\d.]+)pt" viewBox="([\d. ]+)"')
PT_PER_PX = 0.75  # CSS px are 1/96 in, PDF points 1/72 in


def figure_files(html: str, base_url: str) -> dict[str, Path]:
    """Each figure `src` of a page -> its SVG file, resolved against the page's base URL."""
    root = Path(unquote(urlparse(base_url).path))
    return {src: (root / src).resolve() for src in dict.fromkeys(FIGURE.findall(html))}


def svg_size(svg: Path) -> tuple[str, str, str]:
    """(width, height, viewBox) of a figure, as written in its <svg> tag."""
    with open(svg, "rb") as f:
        m = SIZE.search(f.read(4096))
    if not m:
        raise ValueError(f"{svg}: no <svg width=…pt height=…pt viewBox=…> in its first 4 KB")
    return tuple(x.decode() for x in m.groups())


def figure_page(svg: Path) -> str:
    """The HTML of one page exactly the figure's size, showing only the figure, with a src relative to the
    figure's folder: the same figure makes the same HTML wherever the reports are written (its cache key)."""
    w, h, _ = svg_size(svg)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>@page {{ size: {w}pt {h}pt; margin: 0 }} '
            f'html, body {{ margin: 0 }} img {{ display: block; width: {w}pt; height: {h}pt }}</style></head>'
            f'<body><img src="{svg.name}"></body></html>')


def with_stand_ins(html: str, figures: dict[str, Path]) -> tuple[str, dict[str, str]]:
    """The page with each figure's src replaced by a blank SVG of the same size; stand-in src -> figure src.
    Each stand-in carries its figure's number, so two figures of the same size stay apart."""
    stand_ins = {}
    for i, (src, svg) in enumerate(figures.items()):
        w, h, box = svg_size(svg)
        blank = f'<svg xmlns="http://www.w3.org/2000/svg" id="f{i}" width="{w}pt" height="{h}pt" viewBox="{box}"/>'
        stand_ins["data:image/svg+xml," + quote(blank)] = src
    for stand_in, src in stand_ins.items():
        html = html.replace(f'<img src="{src}"', f'<img src="{stand_in}"')
    return html, stand_ins


def places(document, html: str, stand_ins: dict[str, str]) -> list[tuple[int, str, tuple[float, float, float, float]]]:
    """Where each stand-in of `html` landed: (page index, figure src, (x, y, width, height) in CSS px from the
    page's top left); every one must be found, or its figure would silently be missing. WeasyPrint has no public
    API for where a box was laid out, so this walks its page boxes (weasyprint is pinned in pyproject.toml;
    tests/test_overlay.py fails if a new version lays them out apart)."""
    from weasyprint.formatting_structure.boxes import ReplacedBox

    found = []
    for i, page in enumerate(document.pages):
        for box in page._page_box.descendants():
            src = box.element.get("src") if isinstance(box, ReplacedBox) and box.element is not None else None
            if src in stand_ins:
                found.append((i, stand_ins[src], (box.content_box_x(), box.content_box_y(), box.width, box.height)))
    shown = sum(html.count(f'<img src="{stand_in}"') for stand_in in stand_ins)
    if len(found) != shown:
        raise RuntimeError(f"{shown} figures in the page, {len(found)} found in WeasyPrint's layout")
    return found


def lay_figures(pdf: bytes, found, figure_pdfs: dict[str, Path], target: Path) -> None:
    """Draw each figure's page over its stand-in's box in `pdf` (WeasyPrint's output) and write the result to
    `target`; a figure shown twice is stored once."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    forms, layers = {}, {}
    for page_no, src, (x, y, w, h) in found:
        if src not in forms:
            figure = PdfReader(figure_pdfs[src]).pages[0]
            forms[src] = (NameObject(f"/StudyFigure{len(forms)}"), form(writer, figure), figure.mediabox)
        name, xobject, box = forms[src]
        sx, sy = w * PT_PER_PX / float(box.width), h * PT_PER_PX / float(box.height)
        page = writer.pages[page_no]
        tx = float(page.mediabox.left) + x * PT_PER_PX - float(box.left) * sx
        ty = float(page.mediabox.top) - (y + h) * PT_PER_PX - float(box.bottom) * sy
        layers.setdefault(page_no, []).append((name, xobject, f"{sx:.6f} 0 0 {sy:.6f} {tx:.4f} {ty:.4f} cm"))
    for page_no, page_layers in layers.items():
        stamp(writer, writer.pages[page_no], page_layers)
    with open(target, "wb") as f:
        writer.write(f)
