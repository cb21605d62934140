"""Studies on a Dask cluster: `study run|report --executor dask --scheduler tcp://HOST:8786`, with workers
started by `study worker --scheduler tcp://HOST:8786 [--gpu]` on each machine.

Each worker runs one notebook at a time (resource `notebook=1`; `gpu=1` with --gpu, which a `cuda` study
asks for). The job carries the notebook's content; the worker resolves device and threads itself and logs
straight to the shared tracking server (MLFLOW_TRACKING_URI of the worker: an `mlflow server` with
--serve-artifacts, so no shared disk is needed). The client refuses workers whose code differs from its own
(the cache's code fingerprint), creates every run before submitting it, and marks runs FAILED when a worker
dies (after one retry, in a new run) or the scheduler is lost.
"""
import os
import sys
import threading
import time
from dataclasses import replace

from study import runner, tracking

RETRIES = 1  # a study whose worker dies is run once more, elsewhere, in a new run
OWN_TAGS = ("study", "profile", "cache_key", "error", "mlflow.runName", "mlflow.note.content", "mlflow.user")


def fingerprints() -> dict[str, str]:
    """This machine's code fingerprint per study (what the cache key hashes)."""
    from study.studies import registry

    return {name: runner.code_fingerprint(name) for name in registry()}


class DaskExecutor:
    name = "dask"

    def __init__(self, scheduler: str, timeout: float = 20):
        from distributed import Client

        try:
            self.client = Client(scheduler, timeout=timeout)
        except OSError as e:
            raise runner.ExecutorError(f"no Dask scheduler at {scheduler} ({e}); start one with "
                                       "`dask scheduler`, or run without --executor dask") from None
        info = self.client.scheduler_info()["workers"]
        slots = [w for w in info.values() if w.get("resources", {}).get("notebook")]
        if not slots:
            raise runner.ExecutorError(f"the scheduler at {scheduler} has no study workers; start one with "
                                       f"`study worker --scheduler {scheduler}`")
        mine = fingerprints()
        theirs = self.client.run(fingerprints)
        for addr, prints in theirs.items():
            differ = sorted(k for k in mine if prints.get(k) != mine[k])
            if differ:
                raise runner.ExecutorError(f"the worker at {addr} runs other code than this checkout (studies "
                                           f"{', '.join(differ)} differ): check out the same commit there")
        self.workers = len(slots)

    def submit(self, job, profile: str, out_dir: str):
        resources = {"notebook": 1, **({"gpu": 1} if job.device == "cuda" else {})}
        return self.client.submit(run_on_worker, job, profile, key=f"{job.study}-{job.run_id}", pure=False,
                                  resources=resources, retries=RETRIES)

    def as_completed(self, futures):
        from distributed import as_completed

        try:
            yield from as_completed(list(futures))
        except OSError as e:  # the scheduler went away: every unfinished run is lost
            raise runner.ExecutorError(f"lost the Dask scheduler ({e})") from None

    def close(self, cancel: bool = False):
        try:
            if cancel:
                self.client.cancel(list(self.client.futures.values()) if hasattr(self.client, "futures") else [])
            self.client.close()
        except Exception:  # noqa: BLE001 — closing a client whose scheduler is gone
            pass


def run_on_worker(job, profile: str):
    """On the worker: resolve the device and threads here, keep the run's heartbeat fresh, execute. A second
    attempt (the first one's worker died) marks the first run FAILED and continues in a new run."""
    device = runner.resolve_device(job.device)  # "auto" means this worker's GPU if it has one
    job = replace(job, device=device, threads=int(os.environ.get("STUDY_THREADS", runner.threads_for(device, 1))))
    run = tracking.client().get_run(job.run_id)
    if run.data.tags.get("study.attempt"):
        keep = {k: v for k, v in run.data.tags.items()
                if not k.startswith("study.") and k not in OWN_TAGS}
        retry = tracking.start_run(run.info.experiment_id, job.study, profile, job.cache_key, job.params,
                                   keep | {"retry_of": job.run_id})
        # only the dead attempt: the retry, which is RUNNING already, goes on
        tracking.fail_run(job.run_id, f"killed: its worker died; retried as run {retry}", retries=False)
        job = replace(job, run_id=retry)
    tracking.RunLogger(job.run_id).tags({"study.attempt": "1", "study.worker": os.environ.get("STUDY_WORKER", "")})
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(job.run_id, stop), daemon=True)
    beat.start()
    try:
        return runner.execute(job, profile, "notebooks")
    finally:
        stop.set()


def _heartbeat(run_id: str, stop: threading.Event):
    while not stop.wait(tracking.HEARTBEAT_SECONDS):
        try:
            tracking.RunLogger(run_id).tags({"study.heartbeat": str(int(time.time()))})
        except Exception:  # noqa: BLE001 — a missed beat only makes the run look stale sooner
            pass


def worker(scheduler: str, gpu: bool = False, name: str | None = None) -> int:
    """Start a Dask worker (with a nanny that restarts it) offering one notebook slot, and a GPU with --gpu."""
    import socket

    resources = "notebook=1" + (",gpu=1" if gpu else "")
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    os.environ["STUDY_WORKER"] = name
    if not tracking.is_remote():
        print(f"note: MLFLOW_TRACKING_URI is {tracking.tracking_uri()}; workers on other machines need a shared "
              "`mlflow server` (see the README)", file=sys.stderr)
    cmd = [sys.executable, "-m", "dask", "worker", scheduler, "--nworkers", "1", "--nthreads", "1",
           "--resources", resources, "--name", name]
    os.execv(sys.executable, cmd)
