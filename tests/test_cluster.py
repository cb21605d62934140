"""A real cluster on one machine: PostgreSQL on a free 127.0.0.1 port, a tuned `mlflow server` on it with proxied
artifacts, a Dask scheduler and two `study worker`s, each in its own working directory. The smoke profile runs
through them over HTTP only. Everything started here is stopped by its PID. `.ci/run` installs PostgreSQL, so
this runs in CI; elsewhere it is skipped with the reason."""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from study.runner import NOTEBOOKS
from study.studies import registry

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(not PG_BIN or shutil.which("runuser") is None,
                                reason="PostgreSQL is not installed (apt-get install postgresql)")
TIMEOUT = 1200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, seconds: int = 120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{what} did not listen on {port} within {seconds} s")


def stop(proc: subprocess.Popen):
    """Stop a process started here, and its children, by PID."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def postgres():
    # not under pytest's tmp folder: that one is private to root (0700), and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="study-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    shutil.chown(root, "postgres")
    shutil.chown(sock, "postgres")
    bin_ = Path(PG_BIN[-1])
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, str(bin_ / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True, timeout=120)
    port = free_port()
    server = subprocess.Popen([*as_pg, str(bin_ / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock),
                               "-c", "listen_addresses=127.0.0.1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, server, "PostgreSQL")
        subprocess.run([*as_pg, str(bin_ / "createdb"), "-h", "127.0.0.1", "-p", str(port), "mlflow"], check=True,
                       capture_output=True, timeout=60)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow", port
    finally:
        stop(server)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres, tmp_path_factory):
    uri, _ = postgres
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
                               "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "2"], cwd=root, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, server, "mlflow server", 180)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


@pytest.fixture(scope="module")
def cluster(mlflow_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "STUDY_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        wait_port(port, procs[0], "the Dask scheduler")
        address = f"tcp://127.0.0.1:{port}"
        for name in ("w1", "w2"):
            (root / name).mkdir()
            procs.append(subprocess.Popen([sys.executable, "-m", "study.cli", "worker", "--scheduler", address,
                                           "--name", name], cwd=root / name, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        with Client(address, timeout=60) as c:
            c.wait_for_workers(2, timeout=180)
        yield address, root, procs
    finally:
        for p in reversed(procs):
            stop(p)


def study(cwd, server, *args):
    env = {**os.environ, "MLFLOW_TRACKING_URI": server}
    return subprocess.run([sys.executable, "-m", "study.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def query(postgres, sql):
    import psycopg2

    _, port = postgres
    with psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="mlflow") as con:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()


PARENTS = ("SELECT r.run_uuid, r.status, r.artifact_uri, s.value FROM runs r JOIN tags s ON s.run_uuid = r.run_uuid "
           "AND s.key = 'study'")


def test_the_smoke_profile_runs_through_dask_into_postgresql(cluster, mlflow_server, postgres, tmp_path):
    address, _, _ = cluster
    client = tmp_path / "client"
    client.mkdir()
    r = study(client, mlflow_server, "run", "--profile", "smoke", "--executor", "dask", "--scheduler", address)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = query(postgres, PARENTS)
    assert sorted(s for *_, s in rows) == sorted(registry())
    assert {status for _, status, _, _ in rows} == {"FINISHED"}
    assert all(uri.startswith("mlflow-artifacts:") for _, _, uri, _ in rows)
    workers = {w for (w,) in query(postgres, "SELECT value FROM tags WHERE key = 'study.worker'")}
    assert workers == {"w1", "w2"}
    assert not (client / "mlartifacts").exists() and not (client / "mlflow.db").exists()  # nothing local
    again = study(client, mlflow_server, "run", "--profile", "smoke", "--executor", "dask", "--scheduler", address)
    assert again.returncode == 0 and again.stdout.count("unchanged, using cached run") == len(registry())
    # the report renders from the server alone
    r = study(client, mlflow_server, "render", "--profile", "smoke", "--no-pdf")
    assert r.returncode == 0, r.stderr
    assert 'class="box failure"' not in (client / "reports" / "en" / "cnn_vs_mlp" / "instructor.html").read_text()


def test_a_failing_notebook_fails_only_itself(cluster, mlflow_server, postgres, tmp_path):
    address, _, _ = cluster
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in registry():
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", broken)
    nb = json.loads((broken / "cnn_vs_mlp.ipynb").read_text())
    nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": ["raise RuntimeError('broken on purpose')"]})
    (broken / "cnn_vs_mlp.ipynb").write_text(json.dumps(nb))
    r = study(tmp_path, mlflow_server, "run", "--profile", "smoke", "--executor", "dask", "--scheduler", address,
              "--notebooks", str(broken))
    assert r.returncode == 1 and "error: study cnn_vs_mlp failed" in r.stderr
    failed = query(postgres, PARENTS + " WHERE r.status = 'FAILED'")
    assert [s for *_, s in failed] == ["cnn_vs_mlp"]
    finished = {s for _, status, _, s in query(postgres, PARENTS) if status == "FINISHED"}
    assert finished >= set(registry()) - {"cnn_vs_mlp"}  # run here, or cached from the first test


def test_a_study_whose_worker_is_killed_still_completes_and_leaves_no_run_running(cluster, mlflow_server, postgres,
                                                                                   tmp_path):
    address, root, procs = cluster
    slow = tmp_path / "slow"
    slow.mkdir()
    nb = json.loads((NOTEBOOKS / "cnn_vs_mlp.ipynb").read_text())
    nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": ["import time\ntime.sleep(25)"]})
    (slow / "cnn_vs_mlp.ipynb").write_text(json.dumps(nb))
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    p = subprocess.Popen([sys.executable, "-m", "study.cli", "run", "cnn_vs_mlp", "--profile", "smoke", "--force",
                          "--executor", "dask", "--scheduler", address, "--notebooks", str(slow)], cwd=tmp_path,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    worker = None
    while time.time() < deadline and worker is None:
        rows = query(postgres, "SELECT t.value FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid WHERE "
                               "t.key = 'study.pid' AND r.status = 'RUNNING' AND EXISTS (SELECT 1 FROM tags a WHERE "
                               "a.run_uuid = r.run_uuid AND a.key = 'study.attempt')")
        # the client created the run with its own pid; the worker's claim replaces it with the worker's
        worker = int(rows[0][0]) if rows and int(rows[0][0]) != p.pid else None
        time.sleep(1)
    assert worker, "the study never started on a worker"
    time.sleep(5)
    os.kill(worker, signal.SIGKILL)  # the worker process itself; its nanny restarts it
    out, _ = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0, out
    runs = query(postgres, PARENTS + " WHERE s.value = 'cnn_vs_mlp'")
    assert "RUNNING" not in {status for _, status, _, _ in runs}
    killed = query(postgres, "SELECT t.value FROM tags t WHERE t.key = 'error' AND t.value LIKE 'killed: its worker "
                             "died%' AND EXISTS (SELECT 1 FROM tags s WHERE s.run_uuid = t.run_uuid AND s.key = "
                             "'study')")  # the study's own run, not its child runs
    assert len(killed) == 1
    assert query(postgres, "SELECT count(*) FROM runs WHERE status = 'RUNNING'") == [(0,)]
