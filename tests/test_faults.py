"""Faults and bad input, with real processes: a killed runner leaves no run RUNNING once the next run starts,
Ctrl-C marks the current runs FAILED and exits 130, a killed kernel fails only its study, an unreachable server
or a corrupt store stops with one line and changes nothing, an unwritable output folder keeps the previous
reports, concurrent runners share one SQLite store, and a run repeated on the CPU logs identical tables."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study import tracking
from study.runner import NOTEBOOKS

TINY = ("studies:\n  cnn_vs_mlp:\n    seeds: 2\n    epochs: 1\n    lrs: [0.01]\n    tune_seeds: 1\n"
        "    canvas: false\n    cnn_channels: [2, 4]\n")
TIMEOUT = 600


def study(cwd: Path, *args, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, env={**os.environ, **(env or {})}, **kw)


def _as_at_a_terminal():
    # A process started in the background by a non-interactive shell (`cmd &`, as CI scripts and nohup do)
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: restore what a terminal gives.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(cwd: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "study.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, env=os.environ.copy(),
                            preexec_fn=_as_at_a_terminal)


def runs(status=None):
    c = tracking.client()
    exp = tracking.experiment_id()
    found = c.search_runs([exp], "tags.study = 'cnn_vs_mlp'") if exp else []
    return [r for r in found if status is None or r.info.status == status]


def slow_notebooks(folder: Path, seconds: int = 600) -> Path:
    """A copy of the study's notebook that waits before training, so a test can kill it mid-study."""
    nb = json.loads((NOTEBOOKS / "cnn_vs_mlp.ipynb").read_text())
    nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": [f"import time\nprint('waiting', flush=True)\ntime.sleep({seconds})"]})
    folder.mkdir(exist_ok=True)
    (folder / "cnn_vs_mlp.ipynb").write_text(json.dumps(nb))
    return folder


def wait_for(predicate, seconds=TIMEOUT, what="the condition"):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


def descendants(pid: int) -> list[int]:
    """Every process below pid (its workers, their kernels), from /proc."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, frontier = [], [pid]
    while frontier:
        kids = [c for c, p in parent.items() if p in frontier]
        out += kids
        frontier = kids
    return out


def kernel_pids(runner: int) -> list[int]:
    found = []
    for pid in descendants(runner):
        try:
            if b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def kill_all(runner: int):
    """SIGKILL the runner and everything below it, as a power cut would."""
    for pid in [runner, *descendants(runner)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def tiny(store):
    (store / "tiny.yaml").write_text(TINY)
    return store


def test_kill_9_of_the_runner_then_the_next_run_completes_with_no_run_left_running(tiny):
    assert study(tiny, "run", "--profile", "tiny.yaml").returncode == 0  # an earlier run that must survive
    (before,) = runs("FINISHED")
    slow = slow_notebooks(tiny / "slow")
    p = start(tiny, "run", "--profile", "tiny.yaml", "--force", "--notebooks", str(slow))
    wait_for(lambda: kernel_pids(p.pid), what="the kernel to start")
    wait_for(lambda: len(runs("RUNNING")) == 1, what="the run to start")
    kernels = kernel_pids(p.pid)
    kill_all(p.pid)
    p.wait(timeout=60)
    wait_for(lambda: not any(Path(f"/proc/{k}").exists() for k in kernels), 60, "the kernel to die")
    assert len(runs("RUNNING")) == 1  # nothing could mark it: that is what the next run is for
    again = study(tiny, "run", "--profile", "tiny.yaml", "--force")
    assert again.returncode == 0, again.stderr
    assert "marked 1 run(s) left RUNNING" in again.stdout
    assert runs("RUNNING") == []
    (killed,) = runs("FAILED")
    assert killed.data.tags["error"].startswith("killed:")
    assert before.info.run_id in {r.info.run_id for r in runs("FINISHED")}


def test_ctrl_c_marks_the_current_runs_failed_and_exits_130(tiny):
    slow = slow_notebooks(tiny / "slow")
    p = start(tiny, "run", "--profile", "tiny.yaml", "--notebooks", str(slow))
    wait_for(lambda: kernel_pids(p.pid), what="the kernel to start")
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 130, out
    # the kernel (same process group) may still print its own goodbye after the runner's last line
    assert any(line.startswith("error:") and "interrupted" in line for line in out.splitlines()), out
    (run,) = runs()
    assert run.info.status == "FAILED" and run.data.tags["error"].startswith("interrupted")


def test_a_killed_kernel_fails_its_study_only(tiny):
    slow = slow_notebooks(tiny / "slow", seconds=20)
    p = start(tiny, "run", "--profile", "tiny.yaml", "--notebooks", str(slow))
    wait_for(lambda: kernel_pids(p.pid), what="the kernel to start")
    time.sleep(3)
    for pid in kernel_pids(p.pid):
        os.kill(pid, signal.SIGKILL)
    out, _ = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 1, out
    (run,) = runs()
    assert run.info.status == "FAILED" and "error: study cnn_vs_mlp failed" in out
    assert study(tiny, "run", "--profile", "tiny.yaml").returncode == 0  # and the next run is fine
    assert runs("RUNNING") == [] and len(runs("FINISHED")) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_stops_at_once_with_one_line(tiny):
    t = time.time()
    r = study(tiny, "run", "--profile", "tiny.yaml", env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"})
    assert r.returncode == 1 and time.time() - t < 60
    assert r.stderr.count("\n") == 1 and "is not reachable" in r.stderr and "Traceback" not in r.stderr


def test_a_corrupt_store_is_reported_and_left_untouched(tiny):
    db = tiny / "mlflow.db"
    assert study(tiny, "run", "--profile", "tiny.yaml").returncode == 0
    data = bytearray(db.read_bytes())
    data[100:4096] = os.urandom(3996)  # the schema pages: what a half-written copy or a bad disk leaves
    db.write_bytes(bytes(data))
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    for cmd in (["run", "--profile", "tiny.yaml"], ["render", "--profile", "tiny"], ["list"]):
        r = study(tiny, *cmd)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and str(db) in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    db.write_text("not a database at all")
    r = study(tiny, "list")
    assert r.returncode == 1 and "not a readable SQLite database" in r.stderr


def test_a_failed_render_leaves_the_previous_reports_as_they_were(tiny):
    assert study(tiny, "report", "--profile", "tiny.yaml", "--no-pdf").returncode == 0
    page = tiny / "reports" / "en" / "instructor.html"
    before = page.read_bytes()
    broken = tiny / "templates"
    from study.report.words import TEMPLATES

    shutil.copytree(TEMPLATES, broken)
    macro = broken / "studies" / "cnn_vs_mlp.en.j2"
    macro.write_text(macro.read_text().replace("{{ f.acc_cnn_permuted | acc }}", "{{ f.no_such_fact | acc }}"))
    r = study(tiny, "render", "--profile", "tiny", "--no-pdf", "--templates", str(broken))
    assert r.returncode != 0
    assert page.read_bytes() == before  # nothing half-written
    assert not (tiny / "reports" / ".staging").exists() or not any((tiny / "reports" / ".staging").rglob("*.html"))


def test_an_output_folder_that_cannot_be_written_gives_one_line(tiny):
    assert study(tiny, "run", "--profile", "tiny.yaml").returncode == 0
    shutil.rmtree(tiny / "reports")  # the run wrote its executed notebook there
    (tiny / "reports").write_text("a file where the folder should be")
    r = study(tiny, "render", "--profile", "tiny", "--no-pdf")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "reports" in r.stderr
    assert (tiny / "reports").read_text() == "a file where the folder should be"


def test_two_runners_at_once_share_one_store(tiny):
    a = start(tiny, "run", "--profile", "tiny.yaml", "--force")
    b = start(tiny, "run", "--profile", "tiny.yaml", "--force")
    for p in (a, b):
        out, _ = p.communicate(timeout=TIMEOUT)
        assert p.returncode == 0, out
        assert "locked" not in out.lower()
    assert len(runs("FINISHED")) == 2 and runs("RUNNING") == []


def test_the_same_run_on_the_cpu_logs_identical_tables(tiny):
    for _ in range(2):
        assert study(tiny, "run", "--profile", "tiny.yaml", "--force").returncode == 0
    first, second = (tracking.read_tables(r.info.run_id) for r in runs("FINISHED"))
    assert set(first) == set(second) and first
    for name in first:
        assert first[name].equals(second[name]), name


def test_a_templates_folder_that_is_not_one_stops_before_anything_runs(tiny):
    for arg, why in (("nowhere", "no such folder"), ("empty", "no report.html.j2, style.css, lang in it")):
        (tiny / "empty").mkdir(exist_ok=True)
        out = study(tiny, "report", "--profile", "tiny.yaml", "--templates", arg)
        assert out.returncode == 1 and f"--templates {arg}: {why}" in out.stderr, out.stderr
    assert runs() == [] and not (tiny / "reports").exists()
