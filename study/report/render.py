"""Render the collected results: for each language a student worksheet and an instructor edition of the
whole report and of each study (a handout), as HTML and PDF, and a landing page.

reports/index.html                                   landing page: every language, edition and handout
reports/{ja,en}/{student,instructor}.{html,pdf}      all studies
reports/{ja,en}/index.html, report.pdf               the complete (instructor) report of that language
reports/{ja,en}/<study>/{student,instructor}.{html,pdf}   one study, to hand out on its own
reports/figures/*.svg, reports/assets/               figures and the font subset, shared by every page

Everything is written into reports/.staging first and moved into place only when the whole render has
succeeded, so a failed render leaves the previous reports as they were. Figures and PDFs are cached by
content (study.report.cache): an unchanged figure is not drawn again, an unchanged section not typeset again
(study.report.printing puts every PDF together from one typeset piece per study section).
"""
import io
import json
import os
import platform
import shutil
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from study import tracking
from study.report import cache, plots
from study.report.collect import StudyResult, collect
from study.report.content import params_for, study_content, study_facts
from study.report.pdf import Workers
from study.report.printing import Book, Printer
from study.report.sections import section
from study.report.words import LANGS, TEMPLATES, Page, StudyWords, environment

EDITIONS = ("student", "instructor")
FONT = "assets/ipaexg-subset.ttf"


def _table_html(df) -> str:
    """Escaped HTML; a newline inside a cell (mean, then its interval) becomes a line break."""
    html = df.to_html(index=False, escape=True, classes="results", border=0, na_rep="–")
    return html.replace("\\n", "<br>")  # pandas writes a cell's newline as a literal backslash-n


def _when(t: datetime) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _figure_source(r: StudyResult) -> str:
    files = [Path(section(r.name).__file__), Path(plots.__file__)]
    return cache.code_digest(*files)


def _facts_source(r: StudyResult) -> str:
    """The code a study's facts come from: its section, its study module and what those compute with."""
    package = Path(__file__).parents[1]
    files = [Path(section(r.name).__file__), Path(r.module.__file__), package / "claims.py",
             *sorted((package / "engine").rglob("*.py")), *sorted(Path(__file__).parent.glob("*.py"))]
    return cache.code_digest(*files)


class Renderer:
    def __init__(self, profile: str, out: Path, pdf: bool, templates: Path | None, progress):
        self.profile, self.out, self.pdf, self.progress = profile, Path(out), pdf, progress
        self.env = environment(templates, self.out / ".cache" / "templates")
        self.css = ((templates or TEMPLATES) / "style.css").read_text(encoding="utf-8")
        self.staging = self.out / ".staging"
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        self.figures = cache.FigureStore(self.staging / "figures", self.out / "figures")
        self.facts = cache.FactStore(self.out / ".cache" / "facts")  # facts, tables and the font subset
        self.pages: dict[str, str] = {}  # path relative to reports/ -> HTML

    # --- content ---------------------------------------------------------------------------------------------

    def figure(self, r: StudyResult, lang: str, name: str, labels: dict, draw) -> str | None:
        """A figure's file name; drawn only when its run, language, code and words are new."""
        return self.figures.get(cache.figure_key(r.run_id, lang, name, self._code[r.name], labels), draw)

    def content(self, results: list[StudyResult], lang: str, page: Page) -> list[dict]:
        studies = []
        for number, r in enumerate(results, 1):
            before = self.figures.drawn
            s = study_content(r, lang, self.env, page, self._facts[r.name], self.figure, self.tables)
            s["number"] = number
            s["tables"] = [(_table_html(df), cap) for df, cap in s["tables"]]
            s["run_link"] = tracking.run_url(r.run_id, r.experiment_id) if r.run_id else ""
            studies.append(s)
            if s["figures"]:
                self.progress(f"  {lang} · {r.name}: {len(s['figures'])} figures "
                              f"({self.figures.drawn - before} drawn, the rest cached)")
        return studies

    def computed(self, r: StudyResult, compute, *key):
        """What `compute` makes from a run's tables (its facts; its result tables in one language): kept by
        (run, the code that computes it, `key`), so it is computed again only for a new run or new code."""
        if not r.run_id:
            return compute()
        return self.facts.get(cache.digest(r.run_id, self._facts_code[r.name], *key), compute)

    def tables(self, r: StudyResult, lang: str, labels: dict, compute):
        return self.computed(r, compute, lang, json.dumps(labels, sort_keys=True, default=str))

    # --- pages -----------------------------------------------------------------------------------------------

    def page(self, lang: str, page: Page, edition: str, studies: list[dict], chapter_questions, handout=None,
             part=None, toc_pages=None) -> str:
        """A page, or with `part` one piece of its PDF (see templates/report.html.j2)."""
        root = "../../" if handout else "../"
        return self.env.get_template("report.html.j2").render(part=part, toc_pages=toc_pages,
            lang=lang, edition=edition, t=page.t, css=self.css, studies=studies, profile=self.profile,
            results_of=self.results_of(studies), machine=self.machine, commits=self.commits,
            tracking_uri=tracking.tracking_uri(),
            chapter_questions=chapter_questions, other=[x for x in LANGS if x != lang], handout=handout,
            root=root, font=root + FONT, langs=LANGS, all_studies=self.names)

    def results_of(self, studies: list[dict]) -> str:
        """When the newest run on the page ended. A page carries this, not the time of the render, so the same
        results and templates give the same bytes and a re-render finds every unchanged PDF in the cache."""
        ended = [self.ended[s["name"]] for s in studies if s["name"] in self.ended]
        return _when(datetime.fromtimestamp(max(ended) / 1000, timezone.utc)) if ended else "–"

    def chapter_questions(self, studies: list[dict], page: Page) -> list[dict]:
        out = []
        for qid, text in page.module.chapter_questions.items():
            found = [s["evidence"][qid] for s in studies if qid in s.get("evidence", {})]
            out.append({"id": qid, "text": text, "evidence": found[0] if found else page("no_evidence")})
        return out

    def run(self) -> dict:
        self.workers = Workers()
        try:
            return self._run()
        finally:
            self.workers.close()

    def _run(self) -> dict:
        if self.pdf:
            self.workers.start()
        plots.setup_matplotlib()
        results = collect(self.profile)
        self.names = [r.name for r in results]
        self.now = _when(datetime.now(timezone.utc))
        self.ended = {r.name: r.ended_ms for r in results if r.ended_ms}
        self.commits = sorted({r.tags.get("git_commit", "")[:10] + (" *" if r.tags.get("git_dirty") == "True" else "")
                               for r in results if r.tags})
        self.machine = f"{platform.node()} · {platform.machine()} · Python {platform.python_version()}"
        self._facts_code = {r.name: _facts_source(r) for r in results}  # read once: ~30 files per study
        self._facts = {r.name: self.computed(r, partial(study_facts, r)) for r in results}
        self._code = {r.name: _figure_source(r) for r in results}
        made = {"results": results, "warnings": []}
        self.made = {}
        for lang in LANGS:
            page = Page(self.env, lang)
            studies = self.content(results, lang, page)
            questions = self.chapter_questions(studies, page)
            self.made[lang] = (page, studies, questions)
            made[lang] = {}
            for edition in EDITIONS:
                whole = self.page(lang, page, edition, studies, questions)
                self.pages[f"{lang}/{edition}.html"] = whole
                for s in studies:
                    self.pages[f"{lang}/{s['name']}/{edition}.html"] = self.page(lang, page, edition, [s], [],
                                                                                  handout=s["name"])
            self.pages[f"{lang}/index.html"] = self.pages[f"{lang}/instructor.html"]
        index_words = {lang: Page(self.env, lang) for lang in LANGS}
        self.pages["index.html"] = self.env.get_template("index.html.j2").render(
            texts={lang: p.t for lang, p in index_words.items()}, langs=LANGS, editions=EDITIONS, css=self.css,
            produced=self.now, profile=self.profile, pdf=self.pdf, studies=self._titles(results, index_words),
            font=FONT)
        self.write_font()
        for rel, html in self.pages.items():
            path = self.staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
        if self.pdf:
            self.write_pdfs()
        self.publish()
        self.facts.prune()
        made["index"] = self.out / "index.html"
        for lang in LANGS:
            made[lang] = {p.name: p for p in sorted((self.out / lang).glob("*.*"))}
        return made

    def _titles(self, results, words_by_lang) -> list[dict]:
        out = []
        for r in results:
            titles = {lang: StudyWords(self.env, r.name, lang, {}, params_for(r)).get("title") for lang in LANGS}
            out.append({"name": r.name, "titles": titles, "status": r.status})
        return out

    def write_font(self):
        """One subset of IPAexGothic holding every character of every page, shared by all pages, so Japanese
        reads the same on a machine without Japanese fonts."""
        from fontTools import subset

        options = subset.Options()
        options.layout_features = ["*"]
        text = "".join(sorted(set("".join(self.pages.values()))))

        def cut() -> bytes:
            font = subset.load_font(str(plots.japanese_font()), options)
            subsetter = subset.Subsetter(options)
            subsetter.populate(text=text)
            subsetter.subset(font)
            buf = io.BytesIO()
            subset.save_font(font, buf, options)
            return buf.getvalue()

        (self.staging / "assets").mkdir(exist_ok=True)
        (self.staging / FONT).write_bytes(self.facts.get(cache.digest("font", text, plots.japanese_font()), cut))

    def write_pdfs(self):
        """Every PDF from pieces: per language and edition one piece per study section and one for the chapter
        questions, shared by the combined report and the handouts; each PDF adds its own front."""
        pieces, books = {}, []
        for lang in LANGS:
            page, studies, questions = self.made[lang]
            base = (self.staging / lang).resolve().as_uri() + "/"
            for edition in EDITIONS:
                draw = partial(self.page, lang, page, edition, studies, questions)
                at = f"{lang}/{edition}/"
                for part in [s["name"] for s in studies] + ["questions"]:
                    pieces[at + part] = (draw(part=part), base)
                books.append(Book(f"{lang}/{edition}.pdf", partial(draw, part="front"), base,
                                  [at + s["name"] for s in studies] + [at + "questions"],
                                  toc=[s["name"] for s in studies] + ["chapter-questions"]))
                for s in studies:
                    front = partial(self.page, lang, page, edition, [s], [], handout=s["name"], part="front")
                    books.append(Book(f"{lang}/{s['name']}/{edition}.pdf", front,
                                      (self.staging / lang / s["name"]).resolve().as_uri() + "/", [at + s["name"]]))
        printer = Printer(cache.PdfStore(self.out / ".cache" / "pdf"), self.css, self.progress, self.workers)
        printer.print(books, pieces, self.staging)
        for lang in LANGS:
            shutil.copyfile(self.staging / lang / "instructor.pdf", self.staging / lang / "report.pdf")

    def publish(self):
        """Move every staged file into place, then drop figures no page uses any more."""
        for path in sorted(self.staging.rglob("*")):
            if path.is_file():
                target = self.out / path.relative_to(self.staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        shutil.rmtree(self.staging, ignore_errors=True)
        for f in (self.out / "figures").glob("*"):
            if f.suffix == ".svg" and f.name not in self.figures.used:
                f.unlink()


def render(profile: str = "quick", out: Path = Path("reports"), pdf: bool = True, templates: Path | None = None,
           progress=print) -> dict:
    """Write every edition and handout in every language; return the paths made and the collected results.
    On any failure the staged files are dropped and the previous reports stay as they were."""
    renderer = Renderer(profile, out, pdf, templates, progress)
    try:
        return renderer.run()
    finally:
        shutil.rmtree(renderer.staging, ignore_errors=True)
