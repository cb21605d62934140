"""Where the report's words come from: Jinja2 templates, one set per language.

templates/lang/<lang>.j2            the fixed words of the page (`t`), verdict names, talking points, power
templates/studies/<study>.<lang>.j2 one study's words: title, figure labels, setup, captions, claim statements,
                                    rules and reasons, check sentences, questions (whole-sentence macros)

A study template is loaded as a module with the study's named facts `f` and parameters `p` in its context, so
its macros read `{{ f.gain | pt }}`. Every language defines the same macros with the same names (a test checks
it); a missing template is an error, never a silent fallback to English. Adding a language means adding its
template files and its code to LANGS.
"""
import re
from pathlib import Path

import jinja2
import jinja2.ext
from markupsafe import Markup

from study.report.format import FILTERS

LANGS = ("ja", "en")  # the first is the report's first language
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_JOIN_CJK = re.compile(rf"(?<=[{CJK}])[ \t]*\n\s*(?=[{CJK}])|(?<=[。、！？」』）】：；])[ \t]*\n\s*")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")


class TagLines(jinja2.ext.Extension):
    """A line holding nothing but a `{% tag %}` leaves no trace (no blank line, no space); a tag inside a line of
    text keeps the spaces and line break around it. (Jinja's trim_blocks would also eat the line break after a
    tag that ends a line of text, gluing two words together.)"""

    _whole_line = re.compile(r"^[ \t]*(\{%[^\n]*?%\})[ \t]*\n", re.M)

    def preprocess(self, source, name, filename=None):
        return self._whole_line.sub(r"\1", source)


def environment(templates: Path | None = None, compiled: Path | None = None) -> jinja2.Environment:
    """`compiled`: a folder that keeps the compiled templates between renders (Jinja recompiles a template
    whose source changed), so a re-render does not spend seconds compiling the same twenty templates again."""
    cache = None
    if compiled is not None:
        compiled.mkdir(parents=True, exist_ok=True)
        cache = jinja2.FileSystemBytecodeCache(str(compiled))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates or TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                             extensions=[TagLines], bytecode_cache=cache)
    env.filters.update(FILTERS)
    return env


def paragraphs(text) -> list[Markup]:
    """A macro's output as paragraphs (a blank line in the template separates them). Within a paragraph a line
    break between two Japanese characters disappears and any other becomes one space, so templates may wrap
    their lines without putting stray spaces into Japanese sentences."""
    out = []
    for para in _PARAGRAPH.split(str(text).strip()):
        para = re.sub(r"\s*\n\s*", " ", _JOIN_CJK.sub("", para)).strip()
        if para:
            out.append(Markup(para))
    return out


def say(text) -> Markup:
    """A macro's output as one line of text (paragraphs joined by a space)."""
    return Markup(" ").join(paragraphs(text))


class Page:
    """The fixed words of one language: `t` (a dict of words) and the macros of templates/lang/<lang>.j2."""

    def __init__(self, env: jinja2.Environment, lang: str):
        self.lang = lang
        self.module = env.get_template(f"lang/{lang}.j2").module

    @property
    def t(self) -> dict:
        return self.module.t

    def __call__(self, macro: str, *args) -> Markup:
        return say(getattr(self.module, macro)(*args))


class StudyWords:
    """One study's words in one language, with the study's facts and parameters in the template's context."""

    def __init__(self, env: jinja2.Environment, study: str, lang: str, facts: dict, params: dict):
        self.study, self.lang = study, lang
        self.questions: list[Markup] = []
        context = {"f": facts, "p": params, "ask": self._ask}
        self.module = env.get_template(f"studies/{study}.{lang}.j2").make_module(context)

    def _ask(self, caller=None):
        """`{% call ask() %}A question …{% endcall %}` adds one discussion question."""
        self.questions.append(say(caller()))
        return ""

    def name(self, key: str) -> str:
        """What a part or check of a claim is called (the template's `names`), for the verdict summary."""
        return self.module.names[key]

    def has(self, macro: str) -> bool:
        return hasattr(self.module, macro)

    def get(self, name: str):
        return getattr(self.module, name)

    def __call__(self, macro: str, *args) -> Markup:
        return say(getattr(self.module, macro)(*args))

    def paragraphs(self, macro: str, *args) -> list[Markup]:
        return paragraphs(getattr(self.module, macro)(*args))

    def ask_all(self) -> list[Markup]:
        self.questions = []
        self.module.questions()
        return list(self.questions)
