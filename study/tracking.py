"""The one module that talks to MLflow.

Default store: SQLite `mlflow.db` plus the artifact folder `mlartifacts/` in the working directory (the project
root when run through make). MLFLOW_TRACKING_URI overrides it (e.g. a shared `mlflow server`); STUDY_EXPERIMENT
names the experiment (default chapter27), so teachers sharing a server can share runs or keep their own.

The runner owns each run's lifecycle (create, attach the executed notebook, finish or fail); the notebook logs
its results into the run it is handed. Every run records the host and process that will finish it, so a run
left RUNNING by a process that no longer exists is found and marked FAILED (`sweep_stale`).
"""
import contextlib
import fcntl
import getpass
import json
import os
import platform
import socket
import sqlite3
import tempfile
import time
from pathlib import Path

ARTIFACT_DIR = "mlartifacts"
UI_QUERY = "?workflowType=machine_learning"  # MLflow 3's UI reads this to show the runs table, not GenAI pages
HEARTBEAT_SECONDS = 30  # a remote worker refreshes its runs' heartbeat this often
STALE_AFTER = 10 * 60  # a run whose owner cannot be checked is stale after this long without a heartbeat


class StoreError(RuntimeError):
    """The tracking store cannot be used; the message names it and says what to do."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def experiment_name() -> str:
    return os.environ.get("STUDY_EXPERIMENT", "chapter27")


def is_remote(uri: str | None = None) -> bool:
    return (uri or tracking_uri()).startswith(("http://", "https://"))


def client():
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if is_remote():  # fail in seconds, not after minutes of retries, when the server is not there
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri())
    return MlflowClient(tracking_uri())


def check_store() -> None:
    """Fail fast, with one line, when the store is unreachable, not an MLflow store, or corrupt. Never writes."""
    uri = tracking_uri()
    if is_remote(uri):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            raise StoreError(f"the MLflow server at {uri} is not reachable ({getattr(e, 'reason', e)}); start it, "
                             "or unset MLFLOW_TRACKING_URI to use the local mlflow.db") from None
        raise StoreError(f"the MLflow server at {uri} did not answer its health check")
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            return  # a fresh store is created by ensure_store
        if path.is_dir():
            raise StoreError(f"the MLflow store {path} is a folder, not an SQLite file; point MLFLOW_TRACKING_URI "
                             "at a file")
        try:
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            try:
                ok = con.execute("PRAGMA quick_check").fetchone()[0]
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            finally:
                con.close()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path} is not a readable SQLite database ({e}); it was left untouched: move it "
                             "away to start a fresh store, or set MLFLOW_TRACKING_URI") from None
        if ok != "ok":
            raise StoreError(f"{path} is corrupt (SQLite quick_check: {ok}); it was left untouched: restore it "
                             "from a backup or move it away to start a fresh store")
        if tables and not {"experiments", "runs", "alembic_version"} <= tables:
            raise StoreError(f"{path} is an SQLite database but not an MLflow store; it was left untouched: point "
                             "MLFLOW_TRACKING_URI elsewhere")


def ensure_store() -> str:
    """Create the store and the experiment (once, before any worker starts) and return the experiment id.
    Creating the SQLite schema from several processes at once is what produces 'database is locked' (or a
    failed migration), so two runners started together take turns on a lock of the store's folder."""
    with _store_folder_locked():
        return _ensure_store()


@contextlib.contextmanager
def _store_folder_locked():
    uri = tracking_uri()
    if not uri.startswith("sqlite:///"):
        yield  # a server creates its own schema
        return
    folder = Path(uri.removeprefix("sqlite:///")).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _ensure_store() -> str:
    c = client()
    exp = c.get_experiment_by_name(experiment_name())
    if exp is not None:
        return exp.experiment_id
    location = None
    if tracking_uri().startswith("sqlite:"):
        location = (Path(tracking_uri().removeprefix("sqlite:///")).parent / ARTIFACT_DIR).resolve().as_uri()
    return c.create_experiment(experiment_name(), artifact_location=location,
                               tags={"mlflow.experimentKind": "custom_model_development",
                                     "mlflow.note.content": "Runs of the studies of the course chapter 27: one "
                                                            "run per study; grid configurations as child runs."})


def experiment_id() -> str | None:
    exp = client().get_experiment_by_name(experiment_name())
    return exp.experiment_id if exp else None


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
    metrics logged one call at a time cost more than 5% of a study's wall time (`make bench`). A metric named
    `name/configuration` goes to a child run of that configuration (created on first use), so the UI can
    compare the configurations of a grid side by side. Anything else logged, and `flush()`, writes the buffer
    first; call `flush()` after the last metrics.
    """

    def __init__(self, run_id: str):
        self.client, self.run_id = client(), run_id
        self.seconds = 0.0  # time spent in MLflow calls, reported by the benchmark
        self._pending: dict[str, list] = {}
        self._children: dict[str, str] = {}
        self._run = None

    def _call(self, fn, *args, **kwargs):
        t = time.perf_counter()
        try:
            return retrying(fn, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t

    def params(self, values: dict, run_id: str | None = None):
        from mlflow.entities import Param

        # JSON for everything but plain strings, so the report reads back lists, numbers and booleans exactly
        items = [Param(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()]
        for i in range(0, len(items), 100):
            self._call(self.client.log_batch, run_id or self.run_id, params=items[i : i + 100])

    def _child(self, config: str) -> str:
        if config not in self._children:
            if self._run is None:
                self._run = self.client.get_run(self.run_id)
            parent = self._run
            run = self._call(self.client.create_run, parent.info.experiment_id, run_name=config,
                             tags={"mlflow.parentRunId": self.run_id, "config": config,
                                   "parent_study": parent.data.tags.get("study", ""),
                                   "mlflow.user": parent.data.tags.get("mlflow.user", "")})
            self._children[config] = run.info.run_id
        return self._children[config]

    def metrics(self, values: dict[str, float], step: int | None = None):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for key, v in values.items():
            name, _, config = key.partition("/")
            target = self._child(config) if config else self.run_id
            self._pending.setdefault(target, []).append(Metric(name if config else key, float(v), now, step or 0))
        if sum(map(len, self._pending.values())) >= 1000:
            self.flush()

    def flush(self):
        for run_id in list(self._pending):
            batch = self._pending.pop(run_id)
            for i in range(0, len(batch), 1000):
                self._call(self.client.log_batch, run_id, metrics=batch[i : i + 1000])

    def close_children(self):
        """Mark the child runs finished (the runner finishes the parent)."""
        self.flush()
        for run_id in self._children.values():
            self._call(self.client.set_terminated, run_id, "FINISHED")

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

    def datasets(self, used: list[dict]):
        """What the study learned from, as MLflow dataset inputs (the runs table's Dataset column)."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        inputs = [DatasetInput(Dataset(d["name"], d["digest"], "code", d["source"],
                                       schema=json.dumps({"shape": d["shape"]}), profile=json.dumps(d["profile"])),
                               [InputTag("mlflow.data.context", d.get("context", "training"))])
                  for d in used]
        if inputs:
            self._call(self.client.log_inputs, self.run_id, datasets=inputs)


# --- lifecycle, used by the runner -----------------------------------------------------------------------------

def owner_tags(pid: int | None = None) -> dict:
    """Who will finish a run: host and process id, and a heartbeat for owners on other machines."""
    return {"study.host": socket.gethostname(), "study.pid": str(pid or os.getpid()),
            "study.heartbeat": str(int(time.time()))}


def start_run(experiment_id: str, study: str, profile: str, cache_key: str, params: dict, provenance: dict) -> str:
    c = client()
    tags = {"study": study, "profile": profile, "cache_key": cache_key, "mlflow.source.type": "NOTEBOOK",
            "mlflow.user": _user(), **owner_tags(), **provenance}
    run = retrying(c.create_run, experiment_id, run_name=f"{study} · {profile}", tags=tags)
    RunLogger(run.info.run_id).params(params)
    return run.info.run_id


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def claim_run(run_id: str):
    """The process about to execute a run records itself as its owner."""
    RunLogger(run_id).tags(owner_tags())


def finish_run(run_id: str, notebook: Path | None, error: str | None = None, description: str = ""):
    """Attach the executed notebook (and a readable HTML copy), describe the run, and end it."""
    c = client()
    if notebook is not None and notebook.exists():
        retrying(c.log_artifact, run_id, str(notebook), "notebook")
        page = notebook_html(notebook)
        if page is not None:
            retrying(c.log_artifact, run_id, str(page), "notebook")
    if description:
        retrying(c.set_tag, run_id, "mlflow.note.content", description)
    if error:
        retrying(c.set_tag, run_id, "error", error[-4000:])
    retrying(c.set_terminated, run_id, "FAILED" if error else "FINISHED")


def fail_run(run_id: str, reason: str, retries: bool = True):
    """End a run that will never finish by itself (its process was killed or interrupted), with its child runs
    and, unless `retries` is False, the runs that retry it."""
    c = client()
    try:
        run = c.get_run(run_id)
        if run.info.status == "RUNNING":
            retrying(c.set_tag, run_id, "error", reason)
            retrying(c.set_terminated, run_id, "FAILED")
        exp = run.info.experiment_id
        for child in c.search_runs([exp], f"tags.mlflow.parentRunId = '{run_id}' and attributes.status = 'RUNNING'"):
            retrying(c.set_terminated, child.info.run_id, "FAILED")
        for retry in (c.search_runs([exp], f"tags.retry_of = '{run_id}' and attributes.status = 'RUNNING'")
                      if retries else []):
            fail_run(retry.info.run_id, reason)
    except Exception:  # noqa: BLE001 — best effort on the way out; the next sweep finds what is left
        pass


def notebook_html(notebook: Path) -> Path | None:
    """The executed notebook as an HTML page beside it (the MLflow UI shows .ipynb as raw JSON)."""
    try:
        import nbformat
        from nbconvert import HTMLExporter
    except ImportError:
        return None
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nbformat.read(notebook, as_version=4))
    out = notebook.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: its run will never be finished
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def sweep_stale() -> list[str]:
    """Mark FAILED ("killed") every RUNNING run whose owner is gone: a process on this host that no longer
    exists, or an owner elsewhere whose heartbeat stopped. Returns the runs marked."""
    exp = experiment_id()
    if exp is None:
        return []
    c, here, now, marked = client(), socket.gethostname(), time.time(), []
    for run in c.search_runs([exp], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        if "mlflow.parentRunId" in tags:
            continue  # children end with their parent
        host, pid, beat = tags.get("study.host"), tags.get("study.pid"), tags.get("study.heartbeat")
        if host == here and pid and pid.isdigit():
            gone = not _alive(int(pid))
        else:
            last = float(beat) if beat else run.info.start_time / 1000
            gone = now - last > STALE_AFTER
        if gone:
            fail_run(run.info.run_id, f"killed: its process ({host}:{pid}) ended without finishing the run; "
                                      "marked FAILED by the next run")
            marked.append(run.info.run_id)
    return marked


def find_cached(cache_key: str) -> str | None:
    """The newest finished run with this cache key, if any."""
    exp = experiment_id()
    if exp is None:
        return None
    runs = client().search_runs([exp], f"tags.cache_key = '{cache_key}' and attributes.status = 'FINISHED'",
                                order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


# --- reading back, used by the report ---------------------------------------------------------------------------

def latest_runs(profile: str) -> dict:
    """The newest finished or failed run of every study under a profile (one query), by study name."""
    exp = experiment_id()
    if exp is None:
        return {}
    out = {}
    for run in client().search_runs([exp], f"tags.profile = '{profile}'", order_by=["attributes.start_time DESC"],
                                    max_results=5000):
        study = run.data.tags.get("study")
        if study and study not in out and run.info.status in ("FINISHED", "FAILED"):
            out[study] = run
    return out


def latest_states(profile: str) -> dict[str, tuple[str, str]]:
    """study -> (status, run id) of its newest finished or failed run under a profile, without importing MLflow
    (which takes seconds): SQL on a SQLite store opened read-only, one REST query on a server."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            return {}
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            rows = con.execute(
                "SELECT s.value, r.status, r.run_uuid FROM runs r JOIN experiments e ON e.experiment_id = "
                "r.experiment_id JOIN tags s ON s.run_uuid = r.run_uuid AND s.key = 'study' JOIN tags p ON "
                "p.run_uuid = r.run_uuid AND p.key = 'profile' WHERE e.name = ? AND p.value = ? AND "
                "r.lifecycle_stage = 'active' AND r.status IN ('FINISHED', 'FAILED') ORDER BY r.start_time DESC",
                (experiment_name(), profile)).fetchall()
        except sqlite3.OperationalError:  # an empty or foreign database: nothing run yet
            return {}
        finally:
            con.close()
        out = {}
        for study, status, run_id in rows:
            out.setdefault(study, (status, run_id))
        return out
    return {k: (r.info.status, r.info.run_id) for k, r in latest_runs(profile).items()}


def latest_run(study: str, profile: str):
    """The newest run of a study under a profile that is not still running, or None."""
    exp = experiment_id()
    if exp is None:
        return None
    runs = client().search_runs([exp], f"tags.study = '{study}' and tags.profile = '{profile}'",
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
            try:
                out[f.stem] = pd.read_csv(f)
            except pd.errors.EmptyDataError:  # an empty table is written as an empty file
                out[f.stem] = pd.DataFrame()
    return out


def read_json(run_id: str, name: str):
    c = client()
    with tempfile.TemporaryDirectory() as d:
        try:
            return json.loads(Path(c.download_artifacts(run_id, name, d)).read_text())
        except Exception:
            return None


def ui_base() -> str:
    """Where the MLflow UI for this store is: STUDY_UI_URL, else the tracking server itself, else the address
    `make ui` serves on."""
    if os.environ.get("STUDY_UI_URL"):
        return os.environ["STUDY_UI_URL"].rstrip("/")
    if is_remote():
        return tracking_uri().rstrip("/")
    return "http://127.0.0.1:5000"


def experiment_url(experiment_id: str) -> str:
    return f"{ui_base()}/#/experiments/{experiment_id}/runs{UI_QUERY}"


def run_url(run_id: str, experiment_id: str) -> str:
    return f"{ui_base()}/#/experiments/{experiment_id}/runs/{run_id}{UI_QUERY}"


def start_interactive(study: str) -> str:
    """A run for a notebook executed by hand (not by the runner); reports ignore its profile 'interactive'."""
    run = client().create_run(ensure_store(), run_name=f"{study} · interactive",
                              tags={"study": study, "profile": "interactive", "mlflow.source.type": "NOTEBOOK",
                                    "mlflow.user": _user(), **owner_tags()})
    return run.info.run_id


def machine() -> str:
    return f"{platform.machine()} · {os.cpu_count()} cores"
