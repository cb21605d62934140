"""MLflow -> what the renderer needs for each study: status, tables, verdicts, provenance."""
import json
from dataclasses import dataclass, field

from study import tracking
from study.studies import registry


@dataclass
class StudyResult:
    name: str
    module: object
    status: str  # finished | failed | missing
    run_id: str | None = None
    experiment_id: str | None = None
    params: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    verdicts: list = field(default_factory=list)
    error: str | None = None
    ended_ms: int | None = None  # when the run ended (MLflow end_time): the date the report's results are from


def _param(value: str):
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def collect(profile: str) -> list[StudyResult]:
    out = []
    latest = tracking.latest_runs(profile)
    for name, module in registry().items():
        run = latest.get(name)
        if run is None:
            out.append(StudyResult(name, module, "missing"))
            continue
        r = StudyResult(name, module, "failed" if run.info.status == "FAILED" else "finished", run.info.run_id,
                        run.info.experiment_id, {k: _param(v) for k, v in run.data.params.items()},
                        dict(run.data.tags), dict(run.data.metrics), ended_ms=run.info.end_time)
        if r.status == "failed":
            r.error = r.tags.get("error", "(no error message was recorded)")
        else:
            r.tables = tracking.read_tables(run.info.run_id)
            r.verdicts = tracking.read_json(run.info.run_id, "claims.json") or []
        out.append(r)
    return out
