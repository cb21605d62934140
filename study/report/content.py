"""What one study shows in one language: its words from the templates, its verdicts explained, its figures
(drawn once, cached) and tables. Shared by every edition and page the study appears on."""
import dataclasses
import math
import warnings

from study.claims import INCONCLUSIVE, NOT_TESTABLE, SUPPORTED
from study.report import format as fmt
from study.report.collect import StudyResult
from study.report.sections import has_section, section
from study.report.words import Page, StudyWords

FORMATS = {"pt": fmt.pt, "acc": fmt.acc, "num": fmt.num, "signed": fmt.signed, "sig": fmt.sig, "pct": fmt.pct}


def study_facts(r: StudyResult) -> dict:
    """The named facts of a finished run (language-free: computed once for every language and page)."""
    if r.status != "finished" or not has_section(r.name):
        return {}
    return section(r.name).facts(r.tables, r.params)


def params_for(r: StudyResult) -> dict:
    """The run's parameters, or the study's defaults when it has not run (the rules' words may cite them)."""
    if r.params:
        return r.params
    return dataclasses.asdict(r.module.Params())


def seeds_now(v: dict) -> int:
    """How many seeds the verdict's comparisons rest on now."""
    ns = [p["estimate"]["n"] for p in v["parts"].values() if p.get("estimate")]
    ns += [c["estimate"]["n"] for p in v["parts"].values() for c in (p.get("comparisons") or {}).values()]
    return max(ns, default=0)


def explain(words: StudyWords, page: Page, claim_id: str, v: dict):
    """The verdict's reason, rendered now from its numbers (claims.json stores no sentences)."""
    if v.get("missing"):
        return page("missing", v["missing"])
    if v["verdict"] == NOT_TESTABLE:
        return page("not_testable", [words(f"check_{c['name']}", c) for c in v["checks"] if not c["passed"]])
    return words(f"reason_{claim_id}", v)


def deciding(v: dict, words: StudyWords) -> str:
    """The one number the summary shows: the failed check, or the part that decided (for a supported claim
    the part closest to its threshold, otherwise the first part that did not hold), with its rule."""
    if v.get("missing"):
        return "–"
    if v["verdict"] == NOT_TESTABLE:
        c = next(c for c in v["checks"] if not c["passed"])
        return f"{words.name(c['name'])}: {fmt.fixed(c['value'], 3)} ({c['op']} {fmt.fixed(c['threshold'], 3)})"
    parts = list(v["parts"].values())
    if v["verdict"] == SUPPORTED:
        part = min(parts, key=lambda p: _distance(p))
    else:
        part = next(p for p in parts if p["verdict"] != SUPPORTED)
    show = FORMATS.get(part.get("unit", "num"), fmt.num)
    if part.get("comparisons"):
        best = min(part["comparisons"].values(), key=lambda c: c["p_holm"] if math.isfinite(c["p_holm"]) else 2)
        number = show(best["estimate"])
    else:
        number = show(part["estimate"])
    op = {"above": ">", "below": "<", "equivalent": "±", "any_above": "any >"}.get(part["test"], part["test"][6:])
    threshold = show(part["threshold"]).replace(" pt", "") + (" pt" if part.get("unit") == "pt" else "")
    return f"{words.name(part['name'])}: {number} ({op} {threshold})"


def _distance(part: dict) -> float:
    """How far a part's interval clears its threshold, in units of its half-width (small = close call)."""
    e = part.get("estimate")
    if not e or not (math.isfinite(e["lo"]) and math.isfinite(e["hi"])) or e["hi"] == e["lo"]:
        return math.inf
    return abs(e["mean"] - part["threshold"]) / ((e["hi"] - e["lo"]) / 2)


def claim_rows(r: StudyResult, words: StudyWords, page: Page) -> tuple[list[dict], list]:
    """Statement, rule, verdict, reason and how to settle it, per claim; and the instructor's talking points."""
    verdicts = {v["claim"]: v for v in r.verdicts}
    rows, points = [], []
    for c in r.module.CLAIMS:
        v = verdicts.get(c.id)
        row = {"id": c.id, "section": c.section, "statement": words(f"statement_{c.id}"),
               "rule": words(f"rule_{c.id}", c.thresholds), "verdict": v["verdict"] if v else None,
               "reason": None, "settle": None, "deciding": None, "settle_short": None}
        if v:
            row["reason"] = explain(words, page, c.id, v)
            row["deciding"] = deciding(v, words)
            if v["verdict"] == INCONCLUSIVE:
                row["settle"] = page("settle", v["seeds_needed"], seeds_now(v))
                row["settle_short"] = page("settle_short", v["seeds_needed"])
            if v["verdict"] != SUPPORTED:
                points.append(page("talking", c.id, c.section, v["verdict"], row["reason"], row["settle"] or ""))
        rows.append(row)
    return rows, points


def study_content(r: StudyResult, lang: str, env, page: Page, facts: dict, figures, tables) -> dict:
    """Everything one study shows in one language. `figures(r, lang, name, labels, draw)` returns a figure's
    file name (drawing it only when it is not cached), or None to leave it out; `tables(r, lang, labels,
    compute)` returns the result tables (computing them only when they are not cached)."""
    words = StudyWords(env, r.name, lang, facts, params_for(r))
    claims, points = claim_rows(r, words, page)
    s = {"name": r.name, "title": words.get("title"), "sections": r.module.SECTIONS, "status": r.status,
         "run_id": r.run_id, "experiment_id": r.experiment_id, "claims": claims, "talking_points": points,
         "error": r.error, "tags": r.tags, "params": r.params, "metrics": r.metrics, "figures": [], "tables": [],
         "setup": [], "questions": [], "evidence": {}}
    if r.status != "finished":
        return s
    sec, labels = section(r.name), words.get("labels")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # glyph warnings are checked by the figure tests
        s["figures"] = [(src, words(f"figure_{name}")) for name, draw in sec.figures(r.tables, r.params, labels)
                        if (src := figures(r, lang, name, labels, draw))]
    made = tables(r, lang, labels, lambda: list(sec.tables(r.tables, r.params, labels)))
    s["tables"] = [(df, words(f"table_{name}")) for name, df in made]
    s["setup"] = words.paragraphs("setup")
    s["questions"] = words.ask_all()
    s["evidence"] = {q: words(f"evidence_{q}") for q in ("Q1", "Q2") if words.has(f"evidence_{q}")}
    members = r.tables.get("members")
    s["diverged"] = bool(members is not None and "diverged" in members and members["diverged"].any())
    s["source_line"] = f"{r.tags.get('profile', '?')} · seeds {r.params.get('seeds', '?')} · " \
                       f"commit {r.tags.get('git_commit', '?')[:10]}"
    return s
