import os

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

    root = tmp_path_factory.mktemp("e2e")
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
