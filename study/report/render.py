"""Render the collected results into reports/<lang>/index.html (self-contained) and reports/<lang>/report.pdf."""
import base64
import io
import platform
import warnings
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from study.report import plots
from study.report.collect import StudyResult, collect
from study.report.i18n import LANGS, TEXT

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _section(r: StudyResult, lang: str, glyph_warnings: list) -> dict:
    m = r.module
    s = {"name": r.name, "title": m.TITLE[lang], "sections": m.SECTIONS, "status": r.status, "run_id": r.run_id,
         "experiment_id": r.experiment_id,
         "claims": [], "error": r.error, "tags": r.tags, "params": r.params, "metrics": r.metrics}
    verdicts = {v["claim"]: v for v in r.verdicts}
    for c in m.CLAIMS:
        v = verdicts.get(c.id)
        s["claims"].append({"id": c.id, "section": c.section, "statement": c.statement[lang], "rule": c.rule[lang],
                            "verdict": v["verdict"] if v else None, "reason": v["reason"][lang] if v else None})
    if r.status == "finished":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            content = m.report(r.tables, r.params, lang)
            content["figures"] = [(_png(fig), cap) for fig, cap in content["figures"]]
        glyph_warnings += [str(w.message) for w in caught if "glyph" in str(w.message).lower()]
        content["tables"] = [(df.to_html(index=False, escape=True, classes="results", border=0, na_rep="–"), cap)
                             for df, cap in content["tables"]]
        s.update(content)
        s["diverged"] = bool(r.tables.get("members") is not None and r.tables["members"].get("diverged", []).any())
    return s


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    return env


def render(profile: str = "quick", out: Path = Path("reports"), pdf: bool = True) -> dict:
    """Write both languages; return {lang: {"html": path, "pdf": path}, "warnings": [...]}."""
    from study import tracking

    plots.setup_matplotlib()
    results = collect(profile)
    env = environment()
    css = (TEMPLATES / "style.css").read_text(encoding="utf-8")
    made, glyphs = {}, []
    now = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    commits = sorted({r.tags.get("git_commit", "")[:10] + (" *" if r.tags.get("git_dirty") == "True" else "")
                      for r in results if r.tags})
    for lang in LANGS:
        studies = [_section(r, lang, glyphs) for r in results]
        html = env.get_template("report.html.j2").render(
            lang=lang, t=TEXT[lang], css=css, studies=studies, profile=profile, produced=now,
            machine=f"{platform.node()} · {platform.machine()} · Python {platform.python_version()}",
            commits=commits, tracking_uri=tracking.tracking_uri(), run_url=tracking.run_url,
            other="en" if lang == "ja" else "ja")
        d = Path(out) / lang
        d.mkdir(parents=True, exist_ok=True)
        (d / "index.html").write_text(html, encoding="utf-8")
        made[lang] = {"html": d / "index.html"}
        if pdf:
            made[lang]["pdf"] = write_pdf(html, d / "report.pdf")
    made["warnings"] = sorted(set(glyphs))
    made["results"] = results
    return made


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
