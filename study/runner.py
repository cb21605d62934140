"""Execute study notebooks with papermill, one MLflow run each, on an executor: local worker processes by
default, or a Dask cluster (study.cluster).

A run is cached by a hash of its notebook, the study's code, its parameters, the profile and the device (never
by a path): when a finished run with the same key exists, nothing executes. A failing notebook fails its own
run only. Runs are created here, before anything is submitted, and each records the process that will finish
it; runs left RUNNING by a process that no longer exists are marked FAILED before a new run starts, and
Ctrl-C marks the current runs FAILED ("interrupted").
"""
import hashlib
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from study import tracking
from study.config import Profile

PACKAGE = Path(__file__).parent
NOTEBOOKS = PACKAGE / "notebooks"
KERNEL = "python3"  # `make setup` installs this kernel spec into the venv, pointing at the venv's interpreter
# The code a study's results depend on: its run is cached by a hash of these, its own module and its notebook.
# The report (study/report/, templates/) is not among them: rewording or redrawing never re-runs a study.
SHARED_CODE = ["engine", "data", "claims.py", "params.py", "tracking.py"]


@dataclass
class Job:
    study: str
    params: dict
    notebook: str
    cache_key: str
    device: str
    threads: int
    cached_run: str | None = None
    run_id: str | None = None
    source: str = ""  # the notebook's JSON: it travels with the job, so a remote worker needs no copy of it


@dataclass
class Outcome:
    study: str
    status: str  # cached | finished | failed
    run_id: str | None
    seconds: float
    error: str | None = None
    notebook: str | None = None


class Interrupted(Exception):
    pass


class ExecutorError(RuntimeError):
    """The executor cannot run the studies (no scheduler, no workers, workers on other code, lost scheduler);
    the message says what to do."""


def notebook_source(path: Path) -> str:
    """The notebook's cell sources only, so that outputs or metadata never change the cache key."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return json.dumps([(c["cell_type"], "".join(c["source"])) for c in nb["cells"]])


def code_files(study: str) -> list[Path]:
    files = [PACKAGE / "studies" / f"{study}.py", *sorted((PACKAGE / "studies").glob(f"_{study}_*.py"))]
    for name in SHARED_CODE:
        p = PACKAGE / name
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return files


def code_fingerprint(study: str) -> str:
    """A hash of the code a study's results depend on (not of where it lives): a worker must match it."""
    h = hashlib.sha256()
    for f in code_files(study):
        h.update(f.relative_to(PACKAGE).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:24]


def cache_key(study: str, params: dict, profile: str, notebook: Path, device: str) -> str:
    h = hashlib.sha256()
    h.update(notebook_source(notebook).encode())
    h.update(code_fingerprint(study).encode())
    h.update(json.dumps({"params": params, "profile": profile, "device": device}, sort_keys=True).encode())
    return h.hexdigest()[:24]


def threads_for(device: str, workers: int) -> int:
    """Intra-op threads per notebook process: the cores left to each worker. `make bench` (c) measured the
    engine 1.6x faster on 2 threads than on 1 at 20 members, so a study running alone gets both cores;
    studies running side by side get one each (processes scale better than threads for these small models)."""
    if device == "cuda":
        return 2
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def plan(profile: Profile, force: bool = False, notebooks: Path = NOTEBOOKS, resolve: bool = True) -> list[Job]:
    """The jobs of a profile, with cache hits marked. `resolve=False` leaves device "auto" to the worker (on a
    cluster the client may have no GPU where its workers do)."""
    jobs = []
    for name, params in profile.studies.items():
        nb = Path(notebooks) / f"{name}.ipynb"
        if not nb.is_file():
            raise FileNotFoundError(f"{nb}: the notebook of study {name!r} is not there; --notebooks must name a "
                                    "folder holding <study>.ipynb for every study of the profile")
        values = asdict(params)
        dev = resolve_device(profile.device) if resolve else profile.device
        key = cache_key(name, values, profile.name, nb, dev)
        jobs.append(Job(name, values, str(nb), key, dev, 1, None if force else tracking.find_cached(key),
                        source=nb.read_text(encoding="utf-8")))
    todo = [j for j in jobs if not j.cached_run]
    for j in todo:
        j.threads = threads_for(j.device, min(profile.workers, len(todo)))
    return jobs


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def provenance(job: Job) -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, cwd=PACKAGE, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    from importlib.metadata import version

    versions = {p: version(p) for p in ("torch", "mlflow", "papermill", "numpy", "pandas")}
    commit = git("rev-parse", "HEAD") or "unknown"
    return {"git_commit": commit, "mlflow.source.git.commit": commit, "git_dirty": str(bool(git("status", "--porcelain"))),
            "device": job.device, "threads": str(job.threads), "python": platform.python_version(),
            "machine": tracking.machine(), "packages": json.dumps(versions),
            "code_fingerprint": code_fingerprint(job.study), "mlflow.source.name": f"study/notebooks/{job.study}.ipynb"}


def execute(job: Job, profile: str, out_dir: str) -> Outcome:
    """Run one notebook into its already created MLflow run (in a worker process, here or on a cluster)."""
    import papermill as pm

    logging.basicConfig(level=logging.WARNING, format=f"  {job.study} │ %(message)s", stream=sys.stderr, force=True)
    t0 = time.perf_counter()
    tracking.claim_run(job.run_id)
    out = Path(out_dir) / f"{job.study}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_name(f".{job.study}.source.ipynb")
    src.write_text(job.source, encoding="utf-8")
    error = None
    try:
        pm.execute_notebook(str(src), str(out), kernel_name=KERNEL, progress_bar=False,
                            stdout_file=_Prefixed(job.study), cwd=os.getcwd(),
                            parameters={**job.params, "run_id": job.run_id, "device": job.device,
                                        "threads": job.threads, "show_verdicts": False})
    except pm.PapermillExecutionError as e:
        error = f"{e.ename}: {e.evalue}\n" + "\n".join(line for line in e.traceback[-6:])
    except Exception:  # kernel died, notebook unreadable, ...: still a failure of this study only
        error = traceback.format_exc()
    finally:
        src.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    error = _plain(error)  # the report's failure box shows it as text
    try:
        log = tracking.RunLogger(job.run_id)
        log.metrics({"wall_seconds": seconds})
        log.flush()
        tracking.finish_run(job.run_id, out, error, describe(job, profile, error))
    except Exception:
        error = (error or "") + "\nwhile recording the run: " + traceback.format_exc()
        tracking.fail_run(job.run_id, error[-4000:])
    return Outcome(job.study, "failed" if error else "finished", job.run_id, seconds, error, str(out))


def describe(job: Job, profile: str, error: str | None) -> str:
    """The run's description in the MLflow UI: what it is, its verdicts, where its report is."""
    lines = [f"**{job.study}** under profile `{profile}` ({job.device}, {job.threads} thread(s)).", ""]
    if error:
        lines.append(f"Failed: {error.strip().splitlines()[0]}")
    else:
        verdicts = tracking.read_json(job.run_id, "claims.json") or []
        lines.append("Verdicts: " + ", ".join(f"{v['claim']} {v['verdict']}" for v in verdicts) + ".")
    lines += ["", f"Report: `reports/en/{job.study}/instructor.html` and `reports/ja/{job.study}/instructor.html` "
                  "(after `make report` or `make render`).",
              f"Executed notebook: `notebook/{job.study}.html` (readable) and `.ipynb`."]
    return "\n".join(lines)


class _Prefixed:
    """Where the notebook's printed lines (its progress) go: the terminal, each line marked with its study."""

    def __init__(self, study: str):
        self.study = study

    def write(self, text: str):
        for line in text.splitlines():
            if line.strip():
                sys.stderr.write(f"  {self.study} │ {line}\n")

    def flush(self):
        sys.stderr.flush()


def _plain(text: str | None) -> str | None:
    """Strip the ANSI colours that IPython puts into tracebacks."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text) if text else text


def expected_seconds(job: Job, latest: dict) -> float:
    """How long a study is expected to take: its last run's wall time under this profile, else the study's
    declared cost (EXPECTED_SECONDS, measured on the quick profile), else a minute."""
    run = latest.get(job.study)
    if run and "wall_seconds" in run.data.metrics:
        return run.data.metrics["wall_seconds"]
    from study.studies import registry

    return float(getattr(registry().get(job.study), "EXPECTED_SECONDS", 60))


def longest_first(todo: list[Job], profile: str) -> list[Job]:
    """Start the studies expected to take longest first, so that the workers finish together instead of one
    long study running alone at the end (on a fresh store, by each study's declared cost)."""
    latest = tracking.latest_runs(profile)
    return sorted(todo, key=lambda j: expected_seconds(j, latest), reverse=True)


class LocalExecutor:
    """Worker processes on this machine (spawned: a clean interpreter per worker)."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))

    def submit(self, job: Job, profile: str, out_dir: str):
        return self.pool.submit(execute, job, profile, out_dir)

    def as_completed(self, futures):
        return as_completed(futures)

    def close(self, cancel: bool = False):
        if cancel:
            for p in list(getattr(self.pool, "_processes", {}).values()):
                p.terminate()
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


def run_profile(profile: Profile, force: bool = False, notebooks: Path = NOTEBOOKS,
                out_dir: str = "reports/notebooks", executor=None) -> list[Outcome]:
    experiment_id = tracking.ensure_store()  # before any worker, so workers never race to create the schema
    stale = tracking.sweep_stale()
    if stale:
        print(f"  marked {len(stale)} run(s) left RUNNING by a process that no longer exists as FAILED (killed)")
    jobs = plan(profile, force, notebooks, resolve=executor is None)
    outcomes = [Outcome(j.study, "cached", j.cached_run, 0.0) for j in jobs if j.cached_run]
    for o in outcomes:
        print(f"  {o.study}: unchanged, using cached run {o.run_id} (make report FORCE=1 re-runs)")
    todo = longest_first([j for j in jobs if not j.cached_run], profile.name)
    if not todo:
        return outcomes
    for j in todo:  # created here, before submission: whatever happens to a worker, the client knows its runs
        extra = {"overrides": " ".join(o for o in profile.overrides if o.startswith(j.study + "."))}
        j.run_id = tracking.start_run(experiment_id, j.study, profile.name, j.cache_key, j.params,
                                      {**provenance(j), **{k: v for k, v in extra.items() if v}})
    pool = executor or LocalExecutor(min(profile.workers, len(todo)))
    print(f"  running {len(todo)} stud{'ies' if len(todo) > 1 else 'y'} on {pool.name} "
          f"({getattr(pool, 'workers', '?')} worker(s)), longest first: {', '.join(j.study for j in todo)}")
    done = 0
    try:
        futures = {pool.submit(j, profile.name, out_dir): j for j in todo}
        for f in pool.as_completed(futures):
            job = futures[f]
            try:
                o = f.result()
            except ExecutorError:
                raise
            except Exception:  # the worker process itself died (on a cluster: after its retry)
                o = Outcome(job.study, "failed", job.run_id, 0.0, traceback.format_exc())
                tracking.fail_run(job.run_id, "killed: the worker running it died\n" + o.error[-3000:])
            outcomes.append(o)
            done += 1
            print(f"  [{done}/{len(todo)}] {o.study}: {o.status} in {o.seconds:.1f}s (run {o.run_id})"
                  + (f"\n    {o.error.strip().splitlines()[0]}" if o.error else ""), flush=True)
    except (KeyboardInterrupt, ExecutorError) as e:
        pool.close(cancel=True)
        interrupted = isinstance(e, KeyboardInterrupt)
        why = "interrupted: the run was stopped (Ctrl-C) before it finished" if interrupted else f"lost: {e}"
        finished = {o.study for o in outcomes}
        for j in todo:
            if j.study not in finished:
                tracking.fail_run(j.run_id, why)
        if interrupted:
            raise Interrupted(f"interrupted: {len(todo) - done} run(s) marked FAILED") from None
        raise
    pool.close()
    return outcomes


def outcomes_json(outcomes: list[Outcome]) -> str:
    return json.dumps([asdict(o) for o in outcomes], indent=1)
