"""The PDFs, put together from pieces that are typeset once each.

WeasyPrint spends most of its time drawing the vector figures, so each figure is typeset once on a page of
its own and laid into the sections that show it (study.report.overlay), and each study's section is typeset
once per language and edition (a piece) and shared by the combined report and the study's handout. A PDF (a
`Book`) is a front and its pieces in order: the front (header, contents, verdict summary) is typeset once the
pieces' page counts are known, so the contents can print their page numbers; then study.report.assemble lays
"n / N" over every page and turns the links between pieces into jumps inside the file. Pieces, fronts,
page-number layers and assembled books are all cached by content (cache.PdfStore): rewording one question
typesets one piece per edition (its figures are kept) and re-assembles only the books that hold it.
"""
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from study.report import cache, overlay
from study.report.assemble import assemble, page_count
from study.report.pdf import Workers, write_pdf

FOOTER = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>{css}</style></head>
<body>{pages}</body></html>"""


@dataclass
class Book:
    target: str                       # where it goes, relative to reports/
    front: Callable[..., str]         # front(toc_pages=...) -> the front's HTML
    front_base: str                   # the base URL the front's relative links resolve against
    body: list[str]                   # the pieces, in order
    toc: list[str] | None = None      # the anchor that opens each piece, where the front lists their pages


class Printer:
    def __init__(self, store: cache.PdfStore, css: str, progress=print, workers: Workers | None = None):
        self.store, self.css, self.progress = store, css, progress
        self.keep: set[str] = set()
        self.workers = workers or Workers()
        self.typeset_count = self.figures_typeset = 0
        self.figures_shown: set[Path] = set()

    def typeset(self, pieces: dict[str, tuple[str, str]]) -> dict[str, Path]:
        """name -> (HTML, base URL) into name -> the cached PDF; only pieces not seen before are typeset. The
        figures they show are typeset first, each once on a page of its own, and laid into every piece that
        shows them (study.report.overlay), so a reworded section costs its text, not its figures."""
        shown = {name: overlay.figure_files(html, base) for name, (html, base) in pieces.items()}
        svgs = sorted({svg for files in shown.values() for svg in files.values()})
        pages = {svg: (overlay.figure_page(svg), svg.parent.as_uri() + "/", {}, svg.read_bytes()) for svg in svgs}
        figures, drawn = self._typeset(pages, weight=lambda svg: svg.stat().st_size)
        self.figures_typeset += drawn
        self.figures_shown |= set(svgs)
        jobs = {name: (html, base, {src: figures[svg] for src, svg in shown[name].items()}, b"")
                for name, (html, base) in pieces.items()}
        paths, done = self._typeset(jobs, weight=lambda name: len(pieces[name][0]))
        self.typeset_count += done
        return paths

    def _typeset(self, jobs: dict, weight) -> tuple[dict, int]:
        """name -> (HTML, base URL, figure src -> its PDF, more bytes for the key) into name -> the cached PDF,
        and how many were typeset; the heaviest (by `weight` of the name) start first."""
        paths, todo = {}, {}
        for name, (html, base, figure_pdfs, extra) in jobs.items():
            key = self.store.key(html, extra, *(p.name for p in figure_pdfs.values()))
            self.keep.add(key)
            paths[name] = self.store.path(key)
            if not paths[name].exists():
                todo.setdefault(paths[name], ((html, paths[name], base, figure_pdfs), weight(name)))
        self.workers.map(write_pdf, [job for job, _ in todo.values()], size=lambda job: todo[job[1]][1])
        return paths, len(todo)

    def footers(self, totals: set[int]) -> dict[int, Path]:
        """A layer of page numbers "n / N" for each page count N, drawn by the report's own @page rule."""
        pages = {n: '<div style="break-before: page"></div>'.join([""] * (n + 1)) for n in totals}
        return self.typeset({n: (FOOTER.format(css=self.css, pages=pages[n]), "file:///") for n in totals})

    def print(self, books: list[Book], pieces: dict[str, tuple[str, str]], staging: Path):
        try:
            self._print(books, pieces, staging)
        finally:
            self.workers.close()
        self.store.prune(self.keep)

    def _print(self, books: list[Book], pieces: dict[str, tuple[str, str]], staging: Path):
        body = self.typeset(pieces)
        self.progress(f"  pdf: {len(self.figures_shown) - self.figures_typeset} of {len(self.figures_shown)} "
                      f"figures unchanged, {self.figures_typeset} typeset")
        self.progress(f"  pdf: {len(pieces) - self.typeset_count} of {len(pieces)} sections unchanged, "
                      f"{self.typeset_count} typeset")
        pages = {name: page_count(path) for name, path in body.items()}
        fronts = self.fronts(books, pages)
        totals = {b.target: page_count(fronts[b.target]) + sum(pages[p] for p in b.body) for b in books}
        footers = self.footers(set(totals.values()))
        jobs, targets = {}, []
        for b in books:
            parts = [fronts[b.target]] + [body[p] for p in b.body]
            key = cache.digest(*(p.name for p in parts), footers[totals[b.target]].name,
                               cache.code_digest(Path(__file__).with_name("assemble.py")))
            self.keep.add(key)
            path = self.store.path(key)
            targets.append((path, staging / b.target))
            if not path.exists():
                jobs[path] = (parts, footers[totals[b.target]], path)
        self.progress(f"  pdf: {len(books) - len(jobs)} of {len(books)} files unchanged, {len(jobs)} put together")
        self.workers.map(assemble, list(jobs.values()), size=lambda job: len(job[0]))
        for src, target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)

    def fronts(self, books: list[Book], pages: dict[str, int]) -> dict[str, Path]:
        """Each book's typeset front. The contents list page numbers that depend on how many pages the front
        itself takes: guess one, typeset, and typeset again with the count found until the two agree (the
        numbers' own width almost never changes the count, so this ends in one or two rounds)."""
        guess = {b.target: 1 for b in books}
        listed = [b.target for b in books if b.toc]
        for _ in range(4):
            htmls = {b.target: (b.front(toc_pages=self._toc(b, pages, guess[b.target])), b.front_base) for b in books}
            made = self.typeset(htmls)
            found = {t: page_count(made[t]) for t in listed}
            if all(found[t] == guess[t] for t in listed):
                return made
            guess.update(found)
        raise RuntimeError(f"the contents' page numbers did not settle: {guess}")

    @staticmethod
    def _toc(book: Book, pages: dict[str, int], front: int) -> dict[str, int] | None:
        if not book.toc:
            return None
        out, at = {}, front + 1
        for anchor, piece in zip(book.toc, book.body):
            out[anchor] = at
            at += pages[piece]
        return out
