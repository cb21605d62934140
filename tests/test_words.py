"""The report's words: every language defines the same macros, words and facts; Japanese lines join without stray
spaces; a missing language is an error, not English."""
import dataclasses
import re

import jinja2
import pytest
from jinja2 import nodes

from study.report.sections import has_section
from study.report.words import LANGS, TEMPLATES, Page, StudyWords, environment, paragraphs
from study.studies import registry

STUDIES = list(registry())


def shape(path: str) -> dict:
    """What a template defines and uses: top-level names, each macro's arguments, and the facts, parameters and
    verdict fields it reads."""
    env = environment()
    tree = env.parse(env.loader.get_source(env, path)[0])
    macros = {m.name: [a.name for a in m.args] for m in tree.find_all(nodes.Macro)}
    sets = {a.target.name for a in tree.body if isinstance(a, nodes.Assign) and isinstance(a.target, nodes.Name)}
    reads = {(n.node.name, n.attr) for n in tree.find_all(nodes.Getattr) if isinstance(n.node, nodes.Name)
             and n.node.name in ("f", "p", "v", "c", "th")}
    return {"macros": macros, "sets": sets, "reads": reads}


@pytest.mark.parametrize("study", STUDIES)
def test_every_language_defines_the_same_macros_and_reads_the_same_facts(study):
    shapes = {lang: shape(f"studies/{study}.{lang}.j2") for lang in LANGS}
    first = shapes[LANGS[0]]
    for lang, s in shapes.items():
        assert s == first, f"{study}: {lang} differs from {LANGS[0]}"
    m = registry()[study]
    assert {"setup", "questions"} <= set(first["macros"]) and {"title", "labels", "names"} <= first["sets"]
    for c in m.CLAIMS:
        for kind in ("statement", "rule", "reason"):
            assert f"{kind}_{c.id}" in first["macros"], f"{study}: no {kind}_{c.id} macro"


@pytest.mark.parametrize("study", STUDIES)
def test_every_language_has_the_same_labels_and_names(study):
    params = dataclasses.asdict(registry()[study].Params())
    env = environment()
    words = {lang: StudyWords(env, study, lang, {}, params) for lang in LANGS}
    for key in ("labels", "names"):
        keys = {lang: set(w.get(key)) for lang, w in words.items()}
        assert len({frozenset(k) for k in keys.values()}) == 1, f"{study}.{key}: {keys}"
    assert has_section(study)


def test_the_page_words_match_in_every_language():
    pages = {lang: Page(environment(), lang) for lang in LANGS}
    assert len({frozenset(p.t) for p in pages.values()}) == 1
    assert len({frozenset(p.module.chapter_questions) for p in pages.values()}) == 1
    assert len({tuple(sorted((k, tuple(v)) for k, v in shape(f"lang/{lang}.j2")["macros"].items()))
                for lang in LANGS}) == 1


def test_a_missing_language_is_an_error_not_english():
    with pytest.raises(jinja2.TemplateNotFound):
        StudyWords(environment(), STUDIES[0], "fr", {}, {})
    with pytest.raises(jinja2.TemplateNotFound):
        Page(environment(), "fr")


def test_line_breaks_in_templates_do_not_put_spaces_into_japanese():
    text = "CNN は畳み込みで\n    近傍を使う。\n    Adam と\n    SGD を比べた。\n\n    次の段落。"
    assert [str(p) for p in paragraphs(text)] == ["CNN は畳み込みで近傍を使う。Adam と SGD を比べた。", "次の段落。"]
    assert [str(p) for p in paragraphs("one\n  two\n\n\nthree")] == ["one two", "three"]


def test_a_tag_alone_on_its_line_leaves_nothing_and_a_tag_in_a_line_keeps_its_spaces():
    env = environment()
    t = env.from_string("{% macro m(x) %}\nA\n{% if x %}\nB\n{% endif %}\nC {% if x %}(x){% endif %}\nD\n{% endmacro %}")
    assert [str(p) for p in paragraphs(t.module.m(True))] == ["A B C (x) D"]
    assert [str(p) for p in paragraphs(t.module.m(False))] == ["A C D"]


def test_every_template_is_in_the_templates_folder():
    for lang in LANGS:
        assert (TEMPLATES / "lang" / f"{lang}.j2").is_file()
        for study in STUDIES:
            assert (TEMPLATES / "studies" / f"{study}.{lang}.j2").is_file()
    assert re.fullmatch(r"[a-z]{2}", LANGS[0])
