"""What a study's notebook shows after its run: the report's figures with their captions (inline, and logged
to the run with a caption), and, when asked, the verdicts with their reasons — drawn by the same section
code and templates as the report."""
from study.report import cache, plots
from study.report.content import explain
from study.report.sections import section
from study.report.words import Page, StudyWords, environment


def _words(name: str, tables: dict, params: dict, lang: str) -> StudyWords:
    plots.setup_matplotlib()
    return StudyWords(environment(), name, lang, section(name).facts(tables, params), params)


def show_figures(name: str, tables: dict, params: dict, log=None, lang: str = "en") -> list[str]:
    """Draw the study's figures; display each inline as SVG and log it to MLflow as figures/<name>.png with its
    caption. Returns the figure names."""
    from IPython.display import SVG, Markdown, display

    words = _words(name, tables, params, lang)
    shown = []
    for fig_name, draw in section(name).figures(tables, params, words.get("labels")):
        fig = draw()
        if fig is None:
            continue
        caption = str(words(f"figure_{fig_name}"))
        if log is not None:
            log.figure(fig, fig_name, caption)
        display(SVG(cache.svg(fig)), Markdown(f"*{fig_name}*: {caption}"))
        shown.append(fig_name)
    return shown


def print_verdicts(name: str, tables: dict, params: dict, verdicts: list, lang: str = "en"):
    """One line per claim: id, verdict, and the reason rendered from its numbers."""
    words = _words(name, tables, params, lang)
    page = Page(environment(), lang)
    for v in verdicts:
        v = v.to_dict() if hasattr(v, "to_dict") else v
        print(f"{v['claim']} [{v['verdict']}] {explain(words, page, v['claim'], v)}")
