"""Render the collected results: for each language a student worksheet and an instructor edition, as
self-contained HTML (CSS and SVG figures inlined, no requests) and as PDF; plus a landing page.

reports/index.html                      landing page (both languages, both editions)
reports/{ja,en}/{student,instructor}.{html,pdf}
reports/{ja,en}/index.html, report.pdf  the complete (instructor) report of that language
"""
import base64
import io
import platform
import shutil
import warnings
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from study import tracking
from study.claims import talking_point
from study.report import plots
from study.report.collect import StudyResult, collect
from study.report.i18n import CHAPTER_QUESTIONS, LANGS, NO_EVIDENCE, TEXT

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
EDITIONS = ("student", "instructor")


def embed_font(html: str) -> str:
    """Put IPAexGothic, cut down to the characters this page uses, into the page as a data URI, so Japanese
    reads the same on a machine without Japanese fonts (a few hundred KB instead of the font's 4 MB)."""
    from fontTools import subset

    options = subset.Options()
    options.layout_features = ["*"]
    font = subset.load_font(str(plots.japanese_font()), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(set(html))))
    subsetter.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, options)
    data = base64.b64encode(buf.getvalue()).decode()
    face = f'<style>@font-face {{ font-family: "IPAexGothic"; src: url("data:font/ttf;base64,{data}"); }}</style>'
    return html.replace("</head>", face + "\n</head>", 1)


def _svg(fig) -> str:
    """A vector figure as a data URI; text is drawn as paths, so no font is needed to view it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _table_html(df) -> str:
    """Escaped HTML; a newline inside a cell (mean, then its interval) becomes a line break."""
    html = df.to_html(index=False, escape=True, classes="results", border=0, na_rep="–")
    return html.replace("\\n", "<br>")  # pandas writes a cell's newline as a literal backslash-n


def _content(r: StudyResult, lang: str, glyph_warnings: list) -> dict:
    """What one study shows in one language (shared by both editions)."""
    m = r.module
    s = {"name": r.name, "title": m.TITLE[lang], "sections": m.SECTIONS, "status": r.status, "run_id": r.run_id,
         "run_link": tracking.run_url(r.run_id, r.experiment_id) if r.run_id else "", "claims": [],
         "error": r.error, "tags": r.tags, "params": r.params, "metrics": r.metrics, "talking_points": []}
    verdicts = {v["claim"]: v for v in r.verdicts}
    for c in m.CLAIMS:
        v = verdicts.get(c.id)
        s["claims"].append({"id": c.id, "section": c.section, "statement": c.statement[lang], "rule": c.rule[lang],
                            "verdict": v["verdict"] if v else None, "reason": v["reason"][lang] if v else None})
        point = talking_point(c, v, lang)
        if point:
            s["talking_points"].append(point)
    if r.status == "finished":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            content = m.report(r.tables, r.params, lang)
            content["figures"] = [(_svg(fig), cap) for fig, cap in content["figures"]]
        glyph_warnings += [str(w.message) for w in caught if "glyph" in str(w.message).lower()]
        content["tables"] = [(_table_html(df), cap) for df, cap in content["tables"]]
        s.update(content)
        members = r.tables.get("members")
        s["diverged"] = bool(members is not None and "diverged" in members and members["diverged"].any())
        seeds = r.params.get("seeds", "?")
        s["source_line"] = f"{r.tags.get('profile', '?')} · seeds {seeds} · commit {r.tags.get('git_commit', '?')[:10]}"
    return s


def _chapter_questions(results: list[StudyResult], lang: str) -> list[dict]:
    done = {r.name for r in results if r.status == "finished"}
    out = []
    for q in CHAPTER_QUESTIONS:
        evidence = NO_EVIDENCE[lang]
        if q["study"] in done:
            r = next(r for r in results if r.name == q["study"])
            evidence = getattr(r.module, "chapter_evidence", lambda *_: NO_EVIDENCE[lang])(q["id"], r.tables, lang)
        out.append({"id": q["id"], "text": q[lang], "evidence": evidence})
    return out


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)


def render(profile: str = "quick", out: Path = Path("reports"), pdf: bool = True) -> dict:
    """Write every edition in both languages; return the paths made, glyph warnings and the collected results."""
    plots.setup_matplotlib()
    results = collect(profile)
    env = environment()
    css = (TEMPLATES / "style.css").read_text(encoding="utf-8")
    made, glyphs = {}, []
    now = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    commits = sorted({r.tags.get("git_commit", "")[:10] + (" *" if r.tags.get("git_dirty") == "True" else "")
                      for r in results if r.tags})
    machine = f"{platform.node()} · {platform.machine()} · Python {platform.python_version()}"
    pdfs = []  # (html, path): written together at the end, one process per core
    for lang in LANGS:
        studies = [_content(r, lang, glyphs) for r in results]
        d = Path(out) / lang
        d.mkdir(parents=True, exist_ok=True)
        made[lang] = {}
        for edition in EDITIONS:
            html = env.get_template("report.html.j2").render(
                lang=lang, edition=edition, t=TEXT[lang], css=css, studies=studies, profile=profile, produced=now,
                machine=machine, commits=commits, tracking_uri=tracking.tracking_uri(),
                chapter_questions=_chapter_questions(results, lang), other="en" if lang == "ja" else "ja")
            html = embed_font(html)
            (d / f"{edition}.html").write_text(html, encoding="utf-8")
            made[lang][f"{edition}.html"] = d / f"{edition}.html"
            if pdf:
                pdfs.append((html, d / f"{edition}.pdf"))
                made[lang][f"{edition}.pdf"] = d / f"{edition}.pdf"
        # the language's complete report under the names the pipeline has always used
        shutil.copyfile(d / "instructor.html", d / "index.html")
        made[lang]["index.html"] = d / "index.html"
    write_pdfs(pdfs)
    for lang in LANGS if pdf else ():
        d = Path(out) / lang
        shutil.copyfile(d / "instructor.pdf", d / "report.pdf")
        made[lang]["report.pdf"] = d / "report.pdf"
    index = embed_font(env.get_template("index.html.j2").render(texts=TEXT, langs=LANGS, editions=EDITIONS,
                                                                css=css, produced=now, profile=profile, pdf=pdf))
    (Path(out) / "index.html").write_text(index, encoding="utf-8")
    made["index"] = Path(out) / "index.html"
    made["warnings"] = sorted(set(glyphs))
    made["results"] = results
    return made


def write_pdfs(jobs: list[tuple[str, Path]]) -> None:
    """WeasyPrint spends most of a render drawing the vector figures, one page at a time: run the PDFs in
    parallel processes (measured: the warm `make report` went from 38 s to under 30 s on 2 cores)."""
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        for html, path in jobs:
            write_pdf(html, path)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(write_pdf, *zip(*jobs)))


def write_pdf(html: str, path: Path) -> Path:
    """WeasyPrint, with the Japanese font from the Python dependencies embedded (no system font needed)."""
    import logging

    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    fonts = FontConfiguration()
    face = CSS(string=f"""@font-face {{ font-family: "IPAexGothic"; src: url("{plots.japanese_font().as_uri()}"); }}
                          body, table, code, pre {{ font-family: "IPAexGothic", sans-serif !important; }}""",
               font_config=fonts)
    HTML(string=html, base_url=str(path.parent)).write_pdf(path, stylesheets=[face], font_config=fonts)
    return path
