"""The one module that talks to MLflow.

Default store: SQLite `mlflow.db` plus the artifact folder `mlartifacts/` in the working directory (the project
root when run through make). MLFLOW_TRACKING_URI overrides it. The runner owns each run's lifecycle (create,
attach the executed notebook, finish or fail); the notebook logs its results into the run it is handed.
"""
import json
import os
import tempfile
import time
from pathlib import Path

EXPERIMENT = "chapter27"
ARTIFACT_DIR = "mlartifacts"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def client():
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri())
    return MlflowClient(tracking_uri())


def ensure_store() -> str:
    """Create the store and the experiment (once, before any worker starts) and return the experiment id.
    Creating the SQLite schema from several processes at once is what produces 'database is locked'."""
    c = client()
    exp = c.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return exp.experiment_id
    location = None
    if tracking_uri().startswith("sqlite:"):
        location = (Path(tracking_uri().removeprefix("sqlite:///")).parent / ARTIFACT_DIR).resolve().as_uri()
    # The UI then opens on the runs table ("Model training"), not on the GenAI trace views.
    return c.create_experiment(EXPERIMENT, artifact_location=location,
                               tags={"mlflow.experimentKind": "custom_model_development"})


def retrying(fn, *args, attempts: int = 8, **kwargs):
    """Call fn, retrying briefly on SQLite lock contention between parallel writers."""
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # MLflow wraps sqlite3.OperationalError in its own exception types
            if "locked" not in str(e).lower() or i == attempts - 1:
                raise
            time.sleep(0.05 * 2**i)


class RunLogger:
    """Logs a study's results into one MLflow run.

    Metrics are buffered and written in batches of up to 1,000 (one SQLite transaction each): per-epoch
    metrics logged one call at a time cost more than 5% of a study's wall time (`make bench`). Anything else
    logged, and `flush()`, writes the buffer first; call `flush()` after the last metrics.
    """

    def __init__(self, run_id: str):
        self.client, self.run_id = client(), run_id
        self.seconds = 0.0  # time spent in MLflow calls, reported by the benchmark
        self._pending = []

    def _call(self, fn, *args, **kwargs):
        t = time.perf_counter()
        try:
            return retrying(fn, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t

    def params(self, values: dict):
        from mlflow.entities import Param

        # JSON for everything but plain strings, so the report reads back lists, numbers and booleans exactly
        items = [Param(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()]
        for i in range(0, len(items), 100):
            self._call(self.client.log_batch, self.run_id, params=items[i : i + 100])

    def metrics(self, values: dict[str, float], step: int | None = None):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending += [Metric(k, float(v), now, step or 0) for k, v in values.items()]
        if len(self._pending) >= 1000:
            self.flush()

    def flush(self):
        while self._pending:
            batch, self._pending = self._pending[:1000], self._pending[1000:]
            self._call(self.client.log_batch, self.run_id, metrics=batch)

    def tags(self, values: dict[str, str]):
        from mlflow.entities import RunTag

        self.flush()
        self._call(self.client.log_batch, self.run_id, tags=[RunTag(k, str(v)) for k, v in values.items()])

    def table(self, name: str, df):
        """A tidy table as CSV under tables/ (the renderer reads these back)."""
        self.flush()
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"{name}.csv"
            df.to_csv(path, index=False)
            self._call(self.client.log_artifact, self.run_id, str(path), "tables")

    def json(self, name: str, obj):
        self.flush()
        self._call(self.client.log_dict, self.run_id, obj, name)

    def figure(self, fig, name: str, caption: str = ""):
        """A figure as figures/<name>.png, with its caption beside it as figures/<name>.txt."""
        self.flush()
        self._call(self.client.log_figure, self.run_id, fig, f"figures/{name}.png")
        if caption:
            self._call(self.client.log_text, self.run_id, caption, f"figures/{name}.txt")


# --- lifecycle, used by the runner -----------------------------------------------------------------------------

def start_run(experiment_id: str, study: str, profile: str, cache_key: str, params: dict, provenance: dict) -> str:
    c = client()
    run = retrying(c.create_run, experiment_id, run_name=f"{study} · {profile}",
                   tags={"study": study, "profile": profile, "cache_key": cache_key, **provenance})
    RunLogger(run.info.run_id).params(params)
    return run.info.run_id


def finish_run(run_id: str, notebook: Path | None, error: str | None = None):
    c = client()
    if notebook is not None and notebook.exists():
        retrying(c.log_artifact, run_id, str(notebook), "notebook")
    if error:
        retrying(c.set_tag, run_id, "error", error[-4000:])
    retrying(c.set_terminated, run_id, "FAILED" if error else "FINISHED")


def find_cached(cache_key: str) -> str | None:
    """The newest finished run with this cache key, if any."""
    c = client()
    exp = c.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return None
    runs = c.search_runs([exp.experiment_id], f"tags.cache_key = '{cache_key}' and attributes.status = 'FINISHED'",
                         order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


# --- reading back, used by the report ---------------------------------------------------------------------------

def latest_run(study: str, profile: str):
    """The newest run of a study under a profile that is not still running, or None."""
    c = client()
    exp = c.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return None
    runs = c.search_runs([exp.experiment_id], f"tags.study = '{study}' and tags.profile = '{profile}'",
                         order_by=["attributes.start_time DESC"], max_results=20)
    done = [r for r in runs if r.info.status in ("FINISHED", "FAILED")]
    return done[0] if done else None


def read_tables(run_id: str) -> dict:
    import pandas as pd

    c = client()
    out = {}
    with tempfile.TemporaryDirectory() as d:
        try:
            local = Path(c.download_artifacts(run_id, "tables", d))
        except Exception:
            return out
        for f in sorted(local.glob("*.csv")):
            out[f.stem] = pd.read_csv(f)
    return out


def read_json(run_id: str, name: str):
    c = client()
    with tempfile.TemporaryDirectory() as d:
        try:
            return json.loads(Path(c.download_artifacts(run_id, name, d)).read_text())
        except Exception:
            return None


def run_url(run_id: str, experiment_id: str, host: str = "127.0.0.1", port: int = 5000) -> str:
    return f"http://{host}:{port}/#/experiments/{experiment_id}/runs/{run_id}"


def start_interactive(study: str) -> str:
    """A run for a notebook executed by hand (not by the runner); reports ignore its profile 'interactive'."""
    run = client().create_run(ensure_store(), run_name=f"{study} · interactive",
                              tags={"study": study, "profile": "interactive"})
    return run.info.run_id
