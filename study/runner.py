"""Execute study notebooks with papermill, one MLflow run each, in parallel worker processes.

A run is cached by a hash of its notebook, the study code, its parameters, the profile and the device: when a
finished run with the same key exists, nothing executes. A failing notebook fails its own run only.
"""
import hashlib
import json
import logging
import os
import platform
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
SHARED_CODE = ["engine", "data", "claims.py", "_legacy_claims.py", "params.py", "tracking.py"]


@dataclass
class Job:
    study: str
    params: dict
    notebook: str
    cache_key: str
    device: str
    threads: int
    cached_run: str | None = None


@dataclass
class Outcome:
    study: str
    status: str  # cached | finished | failed
    run_id: str | None
    seconds: float
    error: str | None = None
    notebook: str | None = None


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


def cache_key(study: str, params: dict, profile: str, notebook: Path, device: str) -> str:
    h = hashlib.sha256()
    h.update(notebook_source(notebook).encode())
    for f in code_files(study):
        h.update(f.read_bytes())
    h.update(json.dumps({"params": params, "profile": profile, "device": device}, sort_keys=True).encode())
    return h.hexdigest()[:24]


def threads_for(device: str, workers: int) -> int:
    """Intra-op threads per notebook process: the cores left to each worker. `make bench` (c) measured the
    engine 1.6x faster on 2 threads than on 1 at 20 members, so a study running alone gets both cores;
    studies running side by side get one each (processes scale better than threads for these small models)."""
    if device == "cuda":
        return 2
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def plan(profile: Profile, force: bool = False, notebooks: Path = NOTEBOOKS) -> list[Job]:
    jobs = []
    for name, params in profile.studies.items():
        nb = Path(notebooks) / f"{name}.ipynb"
        if not nb.is_file():
            raise FileNotFoundError(f"notebook for study {name!r} not found: {nb}")
        values = asdict(params)
        device = resolve_device(profile.device)
        key = cache_key(name, values, profile.name, nb, device)
        jobs.append(Job(name, values, str(nb), key, device, 1, None if force else tracking.find_cached(key)))
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
    return {"git_commit": git("rev-parse", "HEAD") or "unknown", "git_dirty": str(bool(git("status", "--porcelain"))),
            "device": job.device, "threads": str(job.threads), "python": platform.python_version(),
            "machine": f"{platform.machine()} · {os.cpu_count()} cores", "packages": json.dumps(versions),
            "mlflow.source.name": f"study/notebooks/{job.study}.ipynb"}


def execute(job: Job, experiment_id: str, profile: str, out_dir: str) -> Outcome:
    """Run one notebook into its own MLflow run (in a worker process)."""
    import papermill as pm

    logging.basicConfig(level=logging.WARNING, format=f"  {job.study} │ %(message)s", stream=sys.stderr, force=True)
    t0 = time.perf_counter()
    run_id = tracking.start_run(experiment_id, job.study, profile, job.cache_key, job.params, provenance(job))
    out = Path(out_dir) / f"{job.study}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    error = None
    try:
        pm.execute_notebook(job.notebook, str(out), kernel_name=KERNEL, progress_bar=False,
                            stdout_file=_Prefixed(job.study),
                            cwd=os.getcwd(), parameters={**job.params, "run_id": run_id, "device": job.device,
                                                         "threads": job.threads, "show_verdicts": False})
    except pm.PapermillExecutionError as e:
        error = f"{e.ename}: {e.evalue}\n" + "\n".join(line for line in e.traceback[-6:])
    except Exception:  # kernel died, notebook unreadable, ...: still a failure of this study only
        error = traceback.format_exc()
    seconds = time.perf_counter() - t0
    error = _plain(error)  # the report's failure box shows it as text
    try:
        log = tracking.RunLogger(run_id)
        log.metrics({"wall_seconds": seconds})
        log.flush()
        tracking.finish_run(run_id, out, error)
    except Exception:
        error = (error or "") + "\nwhile recording the run: " + traceback.format_exc()
    return Outcome(job.study, "failed" if error else "finished", run_id, seconds, error, str(out))


class _Prefixed:
    """Where the notebook's printed lines (its progress and verdicts) go: the terminal, each line marked with
    its study. Only what the notebook prints, not the tables it displays (those are in the executed notebook)."""

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
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text) if text else text


def longest_first(todo: list[Job], profile: str) -> list[Job]:
    """Start the studies that took longest last time first (a study never run counts as longest), so that
    the workers finish together instead of one long study running alone at the end."""
    def last_seconds(job):
        run = tracking.latest_run(job.study, profile)
        return run.data.metrics.get("wall_seconds", float("inf")) if run else float("inf")

    return sorted(todo, key=last_seconds, reverse=True)


def run_profile(profile: Profile, force: bool = False, notebooks: Path = NOTEBOOKS,
                out_dir: str = "reports/notebooks") -> list[Outcome]:
    from tqdm import tqdm

    experiment_id = tracking.ensure_store()  # before any worker, so workers never race to create the schema
    jobs = plan(profile, force, notebooks)
    outcomes = [Outcome(j.study, "cached", j.cached_run, 0.0) for j in jobs if j.cached_run]
    for o in outcomes:
        print(f"  {o.study}: unchanged, using cached run {o.run_id} (make report FORCE=1 re-runs)")
    todo = longest_first([j for j in jobs if not j.cached_run], profile.name)
    if not todo:
        return outcomes
    workers = min(profile.workers, len(todo))
    bar = tqdm(total=len(todo), desc=f"studies ({profile.name}, {workers} worker{'s' * (workers > 1)})",
               unit="study", file=sys.stderr, dynamic_ncols=True)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(execute, j, experiment_id, profile.name, out_dir): j for j in todo}
        for f in as_completed(futures):
            job = futures[f]
            try:
                o = f.result()
            except Exception:  # the worker process itself died
                o = Outcome(job.study, "failed", None, 0.0, traceback.format_exc())
            outcomes.append(o)
            bar.update()
            bar.write(f"  {o.study}: {o.status} in {o.seconds:.1f}s (run {o.run_id})"
                      + (f"\n    {o.error.strip().splitlines()[0]}" if o.error else ""))
    bar.close()
    return outcomes


def outcomes_json(outcomes: list[Outcome]) -> str:
    return json.dumps([asdict(o) for o in outcomes], indent=1)
