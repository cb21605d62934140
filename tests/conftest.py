import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite MLflow store and working directory per test (never the project's own store)."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return tmp_path


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One real `study report --profile smoke` (papermill, SQLite MLflow store, HTML and PDF), shared by the
    end-to-end, browser and PDF tests. Yields (folder, exit code); the working directory and
    MLFLOW_TRACKING_URI point at it while the session's tests run."""
    from study import cli

    # While developing, STUDY_SMOKE_DIR=<folder> keeps the smoke store there and reuses its runs (the cache
    # makes the run a re-render); CI never sets it and gets a fresh store.
    keep = os.environ.get("STUDY_SMOKE_DIR")
    root = Path(keep) if keep else tmp_path_factory.mktemp("e2e")
    root.mkdir(parents=True, exist_ok=True)
    mp = pytest.MonkeyPatch()
    old = os.getcwd()
    os.chdir(root)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    code = cli.main(["report", "--profile", "smoke"])
    os.chdir(old)
    yield root, code
    mp.undo()


@pytest.fixture
def in_smoke(smoke, monkeypatch):
    """Run a test inside the shared smoke run's folder and store."""
    root, code = smoke
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    return root, code


@pytest.fixture
def smoke_study(in_smoke):
    """One study's part of the shared smoke run: its MLflow run, tables, verdicts (claims.json), report section
    per language (instructor edition) and executed notebook's cells as text."""
    import json
    import re
    from types import SimpleNamespace

    from study import tracking

    root, _ = in_smoke

    def get(name: str) -> SimpleNamespace:
        c = tracking.client()
        (run,) = c.search_runs([c.get_experiment_by_name(tracking.experiment_name()).experiment_id], f"tags.study = '{name}'")
        sections = {}
        for lang in ("ja", "en"):
            html = (root / "reports" / lang / "instructor.html").read_text(encoding="utf-8")
            found = dict(re.findall(r'<section class="study" id="([\w-]+)">(.*?)</section>', html, re.S))
            sections[lang] = found.get(name)
        nb = json.loads((root / "reports" / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
        return SimpleNamespace(run=run, tables=tracking.read_tables(run.info.run_id),
                               verdicts=tracking.read_json(run.info.run_id, "claims.json") or [],
                               sections=sections, notebook=json.dumps(nb["cells"]))

    return get
