"""HTML -> PDF with WeasyPrint, the Japanese font from the Python dependencies embedded (no system font), figures
laid in from their own PDFs (study.report.overlay), and the worker processes that typeset (and assemble)
several PDFs at once."""
import logging
import os
from multiprocessing import get_context
from pathlib import Path

from study.report import overlay, plots


def write_pdf(html: str, path: Path, base_url: str, figure_pdfs: dict[str, Path] | None = None) -> Path:
    """Typeset `html` into `path`. With `figure_pdfs` (figure src -> that figure typeset on its own page), the
    figures are not drawn here but laid in from those files (study.report.overlay)."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    fonts = FontConfiguration()
    face = CSS(string=f"""@font-face {{ font-family: "IPAexGothic"; src: url("{plots.japanese_font().as_uri()}"); }}
                          body, table, code, pre {{ font-family: "IPAexGothic", sans-serif !important; }}""",
               font_config=fonts)
    stand_ins = {}
    if figure_pdfs:
        html, stand_ins = overlay.with_stand_ins(html, overlay.figure_files(html, base_url))
    document = HTML(string=html, base_url=base_url).render(stylesheets=[face], font_config=fonts)
    tmp = path.with_name(path.name + ".part")  # a killed render leaves no half-written PDF under the cache's name
    if not stand_ins:
        document.write_pdf(tmp)
    else:
        overlay.lay_figures(document.write_pdf(), overlay.places(document, html, stand_ins), figure_pdfs, tmp)
    os.replace(tmp, path)
    return path


def font_subsetter() -> str:
    """Which library cuts the embedded font down to the glyphs a PDF uses. WeasyPrint takes HarfBuzz's subsetter
    when the system has it (Debian: libharfbuzz-subset0) and fontTools otherwise: the same PDFs, but fontTools
    spends ~0.5 s per PDF reading the 4 MB Japanese font, about half of what typesetting a text-only section
    costs."""
    from weasyprint.text.ffi import harfbuzz_subset

    return "HarfBuzz" if harfbuzz_subset is not None else "fontTools (slower: apt-get install libharfbuzz-subset0)"


def _ready():
    import pypdf  # noqa: F401
    import weasyprint  # noqa: F401


class Workers:
    """Processes for the PDF work of one render (spawn: each imports WeasyPrint once). WeasyPrint spends most
    of a render drawing the vector figures: two cores typeset two pieces at once. Jobs run longest first, so no
    long one starts last."""

    def __init__(self):
        self.pool = None

    def start(self):
        """Start the processes now, each importing WeasyPrint and pypdf, so that they are ready by the time the
        pages are written: a re-render after a rewording then spends its seconds typesetting, not starting."""
        if self.pool is None and (os.cpu_count() or 1) > 1:
            self.pool = get_context("spawn").Pool(os.cpu_count())
            for _ in range(os.cpu_count()):
                self.pool.apply_async(_ready)

    def map(self, fn, jobs: list[tuple], size=lambda job: 0) -> list:
        jobs = sorted(jobs, key=size, reverse=True)
        if len(jobs) <= 1 or (os.cpu_count() or 1) <= 1:
            return [fn(*job) for job in jobs]
        self.start()
        return self.pool.starmap(fn, jobs, chunksize=1)

    def close(self):
        """Stop the processes at once: they hold nothing (every result is a file), and a warm render with
        nothing to typeset should not wait for them to finish importing."""
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None
