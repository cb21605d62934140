"""Transitional: a study whose words still live in its Python module (`report(tables, params, lang)`, reasons
frozen in claims.json) is shown through this adapter until it moves to templates/studies/. Removed with the
last such study."""
import warnings

from study.claims import SUPPORTED
from study.report.collect import StudyResult
from study.report.words import Page


def is_legacy(module) -> bool:
    return hasattr(module, "report")


def study_content(r: StudyResult, lang: str, page: Page, save_figure) -> dict:
    """`save_figure(fig) -> file name`."""
    m = r.module
    s = {"name": r.name, "title": m.TITLE[lang], "sections": m.SECTIONS, "status": r.status, "run_id": r.run_id,
         "experiment_id": r.experiment_id, "claims": [], "error": r.error, "tags": r.tags, "params": r.params,
         "metrics": r.metrics, "talking_points": [], "figures": [], "tables": [], "setup": [], "questions": [],
         "evidence": {}}
    verdicts = {v["claim"]: v for v in r.verdicts}
    for c in m.CLAIMS:
        v = verdicts.get(c.id)
        reason = v["reason"][lang] if v else None
        s["claims"].append({"id": c.id, "section": c.section, "statement": c.statement[lang], "rule": c.rule[lang],
                            "verdict": v["verdict"] if v else None, "reason": reason, "settle": None,
                            "deciding": "–", "settle_short": None})
        if v and v["verdict"] != SUPPORTED:
            s["talking_points"].append(page("talking", c.id, c.section, v["verdict"], reason, ""))
    if r.status == "finished":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            content = m.report(r.tables, r.params, lang)
            s["figures"] = [(save_figure(fig), cap) for fig, cap in content["figures"]]
        s["tables"] = content["tables"]
        s["setup"] = [p for p in content["setup"].split("\n\n") if p]
        s["questions"] = content["questions"]
        if hasattr(m, "chapter_evidence"):
            s["evidence"] = {q: m.chapter_evidence(q, r.tables, lang) for q in ("Q1", "Q2")}
        members = r.tables.get("members")
        s["diverged"] = bool(members is not None and "diverged" in members and members["diverged"].any())
        s["source_line"] = f"{r.tags.get('profile', '?')} · seeds {r.params.get('seeds', '?')} · " \
                           f"commit {r.tags.get('git_commit', '?')[:10]}"
    return s
