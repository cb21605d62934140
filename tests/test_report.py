"""The two editions, safe rendering, and the PDF's page numbers, contents and fonts."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from study import tracking
from study.report.render import render

LANGS, EDITIONS = ("ja", "en"), ("student", "instructor")


def html(root, lang, edition):
    return (root / "reports" / lang / f"{edition}.html").read_text(encoding="utf-8")


def test_the_student_worksheet_has_questions_and_room_to_write_but_no_verdicts(in_smoke):
    root, _ = in_smoke
    for lang in LANGS:
        page = html(root, lang, "student")
        questions = "".join(re.findall(r"<ol class=\"questions\">(.*?)</ol>", page, re.S))
        assert questions.count("<li>") >= 4  # grounded in the smoke run's numbers
        assert page.count('class="answer"') == questions.count("<li>") + 2  # a box per question, and Q1, Q2
        assert '<table class="verdicts">' not in page and 'class="verdict v-' not in page
        assert "<figure>" in page and 'class="dataframe results"' in page
        assert '<details class="provenance"' not in page


def test_the_instructor_edition_has_verdicts_and_full_provenance(in_smoke):
    root, _ = in_smoke
    (run,) = tracking.client().search_runs([tracking.ensure_store()], "tags.study = 'depth_gradient'")
    for lang in LANGS:
        page = html(root, lang, "instructor")
        assert '<table class="verdicts">' in page and 'class="answer"' not in page
        for claim in ("C1", "C2", "C3", "C4", "C9", "C10", "C11", "C12"):
            assert f"<th>{claim}</th>" in page
        assert f"#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}" in page
        assert run.data.tags["git_commit"] in page and "torch" in page
        # every figure and table carries its source line
        assert page.count('class="source"') == page.count("<figure>") + page.count('class="table"')
    index = (root / "reports" / "index.html").read_text(encoding="utf-8")
    for lang in LANGS:
        for edition in EDITIONS:
            assert f'href="{lang}/{edition}.html"' in index and f'href="{lang}/{edition}.pdf"' in index


def test_run_derived_text_cannot_inject_markup(in_smoke):
    root, _ = in_smoke
    c = tracking.client()
    (run,) = c.search_runs([tracking.ensure_store()], "tags.study = 'depth_gradient'")
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    old = run.data.tags["machine"]
    c.set_tag(run.info.run_id, "machine", evil)
    try:
        render("smoke", root / "rendered-escape", pdf=False)
    finally:
        c.set_tag(run.info.run_id, "machine", old)
    page = (root / "rendered-escape" / "en" / "instructor.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_a_study_with_no_runs_says_how_to_run_it(store):
    made = render("never-run", store / "reports", pdf=False)
    page = made["en"]["student.html"].read_text(encoding="utf-8")
    assert "Not run yet" in page and "make report PROFILE=never-run" in page


def test_a_store_with_no_runs_still_makes_pdfs_whose_summary_links_land_on_each_study(store):
    """Before any run the summary lists every claim with no verdict; its links go to the study's section (the
    "not run yet" box), since no verdict row exists to link to."""
    made = render("never-run", store / "reports")
    reader = PdfReader(made["en"]["instructor.pdf"])
    dests = {name: reader.get_destination_page_number(d) for name, d in reader.named_destinations.items()}
    links = [str(a.get_object()["/Dest"]) for p in reader.pages[:3] for a in p.get("/Annots") or []
             if "/Dest" in a.get_object()]
    studies = {r.name for r in made["results"]}
    assert studies and studies <= set(links) and all(link in dests for link in links)


def pdf_text(path):
    return [p.extract_text() for p in PdfReader(path).pages]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("edition", EDITIONS)
def test_pdfs_have_page_numbers_contents_embedded_cjk_fonts_and_vector_figures(in_smoke, lang, edition):
    root, _ = in_smoke
    path = root / "reports" / lang / f"{edition}.pdf"
    pages = pdf_text(path)
    n = len(pages)
    assert n >= 3
    for i, text in enumerate(pages, 1):
        assert re.search(rf"\b{i} / {n}\b", text), f"page {i} has no page number"
    contents = "目次" if lang == "ja" else "Contents"
    assert contents in pages[0]
    assert re.search(r"\.\s*\d+\s*$", pages[0].split(contents, 1)[1].splitlines()[1]), "contents without page numbers"
    reader = PdfReader(path)
    assert reader.outline, "no PDF bookmarks"
    # the contents' page numbers are where its links lead, and each leads to the page its section opens on
    listed = [int(m) for m in re.findall(r"\.\s*(\d+)\s*$", pages[0].split(contents, 1)[1], re.M)]
    jumps = {str(a.get_object()["/Dest"]) for a in reader.pages[0].get("/Annots") or [] if "/Dest" in a.get_object()}
    at = {name: reader.get_destination_page_number(d) + 1 for name, d in reader.named_destinations.items()}
    assert sorted(at[j] for j in jumps) == sorted(listed), (jumps, listed)
    for name in jumps - {"summary", "chapter-questions"}:  # a study's page opens with its numbered heading
        assert re.match(r"\s*\d+\. ", pages[at[name] - 1]), (name, at[name], pages[at[name] - 1][:80])
    if edition == "instructor":  # each claim in the summary leads to its verdict
        claims = [(str(a.get_object()["/Dest"]), i) for i, page in enumerate(reader.pages)
                  for a in page.get("/Annots") or [] if str(a.get_object().get("/Dest", "")).count("-C")]
        assert len(claims) >= 21
        for name, _ in claims:
            assert name.rsplit("-", 1)[1] in pages[at[name] - 1], name
    assert all(not page.images for page in reader.pages), "raster images found; figures should be vector"
    links = {a.get_object()["/A"].get("/URI") for page in reader.pages for a in page.get("/Annots") or []
             if "/A" in a.get_object()} - {None}
    assert links and all(u.startswith("http") for u in links), [u for u in links if not u.startswith("http")]
    embedded = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            for desc in font.get("/DescendantFonts", []):
                d = desc.get_object().get("/FontDescriptor")
                if d is not None and "/FontFile2" in d.get_object():
                    embedded.add(str(font["/BaseFont"]))
    assert any("IPAexGothic" in f for f in embedded), embedded
    if shutil.which("pdffonts"):
        out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
        assert re.search(r"IPAexGothic\s+CID TrueType\s+Identity-H\s+yes", out), out


def test_each_study_has_a_handout_per_language_and_edition(in_smoke):
    from study.studies import registry

    root, _ = in_smoke
    index = (root / "reports" / "index.html").read_text(encoding="utf-8")
    for name in registry():
        for lang in LANGS:
            for edition in EDITIONS:
                page = root / "reports" / lang / name / f"{edition}.html"
                html_ = page.read_text(encoding="utf-8")
                sections = re.findall(r'<section class="study" id="([\w-]+)">', html_)
                assert sections == [name], (page, sections)
                pdf = pdf_text(page.with_suffix(".pdf"))
                assert all(re.search(rf"\b{i} / {len(pdf)}\b", text) for i, text in enumerate(pdf, 1)), page
                assert re.search(r"\b\d\. ", pdf[1]), "a handout's section opens on page 2, numbered as in the report"
                assert f'href="{lang}/{name}/{edition}.html"' in index
                assert f'href="{lang}/{name}/{edition}.pdf"' in index


def test_the_instructor_edition_opens_with_a_summary_of_every_verdict(in_smoke):
    from study.studies import registry

    root, _ = in_smoke
    ids = [c.id for m in registry().values() for c in m.CLAIMS]
    for lang in LANGS:
        page = html(root, lang, "instructor")
        summary = re.search(r'<section class="summary" id="summary">(.*?)</section>', page, re.S).group(1)
        assert re.findall(r'<th><a href="#[\w-]+">(C\d+[a-z]?)</a></th>', summary) == ids
        assert page.index('id="summary"') < page.index('<section class="study"')
        assert 'id="summary"' not in html(root, lang, "student")


def test_japanese_pages_have_no_stray_spaces_inside_sentences(in_smoke):
    root, _ = in_smoke
    cjk = "\u3040-\u30ff\u4e00-\u9fff\u3000-\u303f\uff00-\uffef"
    for edition in EDITIONS:
        page = html(root, "ja", edition)
        text = re.sub(r"<[^>]+>", "\n", re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S))
        stray = re.findall(rf"[{cjk}] +[{cjk}]", text)
        assert not stray, stray[:10]


def test_rewording_a_question_re_renders_without_re_running(in_smoke, tmp_path, capsys):
    """The cache key is computation only: an edited template shows up in every page, and nothing executes."""
    from study import cli
    from study.report.words import TEMPLATES

    root, _ = in_smoke
    mine = tmp_path / "templates"
    shutil.copytree(TEMPLATES, mine)
    en = mine / "studies" / "cnn_vs_mlp.en.j2"
    text = en.read_text(encoding="utf-8")
    assert "what does a CNN assume about its input?" in text
    en.write_text(text.replace("what does a CNN assume about its input?",
                               "which assumption of the CNN did the permutation break?"), encoding="utf-8")
    runs_before = len(tracking.client().search_runs([tracking.ensure_store()], ""))
    capsys.readouterr()
    assert cli.main(["report", "--profile", "smoke", "--templates", str(mine), "--out", str(tmp_path / "out"),
                     "--no-pdf"]) == 0
    out = capsys.readouterr().out
    assert "unchanged, using cached run" in out and "finished in" not in out
    assert len(tracking.client().search_runs([tracking.ensure_store()], "")) == runs_before
    for page in ("en/student.html", "en/instructor.html", "en/cnn_vs_mlp/student.html"):
        assert "which assumption of the CNN did the permutation break?" in (tmp_path / "out" / page).read_text()
    assert "which assumption" not in (tmp_path / "out" / "ja" / "student.html").read_text()


def test_a_later_re_render_typesets_only_the_pages_whose_words_changed(in_smoke, tmp_path, monkeypatch):
    """Pages carry the time of their runs, not of the render: rendered a year later with one English question
    reworded, only the section that shows it is typeset again (once per edition, shared by the combined report
    and the handout), and only the four PDFs that hold it are put together again; every other PDF is the same
    file."""
    from datetime import datetime

    from study.report import render as render_module
    from study.report.words import TEMPLATES

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz).replace(year=datetime.now().year + 1)

    root, _ = in_smoke
    out = tmp_path / "reports"
    shutil.copytree(root / "reports", out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.pdf") if ".cache" not in p.parts}
    mine = tmp_path / "templates"
    shutil.copytree(TEMPLATES, mine)
    en = mine / "studies" / "cnn_vs_mlp.en.j2"
    en.write_text(en.read_text(encoding="utf-8").replace("what does a CNN assume about its input?",
                                                         "which assumption did the permutation break?"),
                  encoding="utf-8")
    monkeypatch.setattr(render_module, "datetime", Later)
    said = []
    render("smoke", out, templates=mine, progress=said.append)
    books = len(before) - 2  # report.pdf copies instructor.pdf
    sections = 2 * 2 * (books // 4)  # per language and edition: each study's section and the chapter questions
    assert f"  pdf: {sections - 2} of {sections} sections unchanged, 2 typeset" in said  # en student, en instructor
    assert f"  pdf: {books - 4} of {books} files unchanged, 4 put together" in said
    changed = {rel for rel, data in before.items() if (out / rel).read_bytes() != data}
    assert changed == {Path(p) for p in ("en/student.pdf", "en/instructor.pdf", "en/report.pdf",
                                          "en/cnn_vs_mlp/student.pdf", "en/cnn_vs_mlp/instructor.pdf")}
    text = re.sub(r"\s+", " ", " ".join(pdf_text(out / "en/cnn_vs_mlp/student.pdf")))
    assert "which assumption did the permutation break?" in text
