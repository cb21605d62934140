"""`make bench`: measured, side by side, in one run on this machine -> reports/bench.md (and MLflow).

(a) per-member training throughput: the batched engine vs the per-seed loop, 1/5/20 members, SGD and Adam
(b) the engine's achieved FLOP/s against this machine's measured float32 matmul rate
(c) intra-op threads: 1 vs all cores for the engine
(d) the quick profile, cold and warm, and re-rendered after rewording one question: wall time split into
    kernel start-up, training, MLflow logging, rendering
(e) peak memory
Every timing is repeated (median and min–max over repeats).
"""
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from study.data import digits
from study.engine.loop import standalone, train_standalone
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.train import TrainSpec, train

SIZES = (64, 100, 100, 10)  # the 64-100-100-10 MLP of the measurement
BATCH, EPOCHS = 32, 2


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def spread(xs):
    return f"{statistics.median(xs):.3g} ({min(xs):.3g}–{max(xs):.3g})"


def engine_run(split, members, optimizer, lr):
    spec = MLPSpec(SIZES[0], SIZES[1], len(SIZES) - 2, SIZES[-1], "relu")
    model = MemberMLP(spec, list(range(members)), "he").to(split.x_train.device)
    train(model, split, TrainSpec(optimizer, lr, EPOCHS, BATCH))


def loop_run(split, members, optimizer, lr):
    spec = MLPSpec(SIZES[0], SIZES[1], len(SIZES) - 2, SIZES[-1], "relu")
    for seed in range(members):
        net = standalone(MemberMLP(spec, [seed], "he").to(split.x_train.device), 0)
        train_standalone(net, seed, split, optimizer, lr, EPOCHS, BATCH)


def training_flops(members, n_train):
    """Multiply-adds of forward (1x) and backward (2x: input and weight gradients) = 6 * B * sum(in*out)."""
    steps = n_train // BATCH
    per_step = 6 * BATCH * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
    return per_step * steps * EPOCHS * members


def matmul_rate(threads, repeats):
    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    times = timed(lambda: [torch.mm(a, b) for _ in range(10)], repeats)
    return [2 * 1024**3 * 10 / t for t in times]


def throughput_section(repeats):
    torch.set_num_threads(1)
    split = digits(0)
    n = len(split.y_train)
    rows, ratios = [], {}
    for optimizer, lr in (("sgd", 0.05), ("adam", 1e-3)):
        for members in (1, 5, 20):
            eng = timed(lambda: engine_run(split, members, optimizer, lr), repeats)
            base = timed(lambda: loop_run(split, members, optimizer, lr), repeats)
            torch.set_num_threads(os.cpu_count() or 1)
            eng_all = timed(lambda: engine_run(split, members, optimizer, lr), repeats)
            torch.set_num_threads(1)
            per = lambda ts: [members * n * EPOCHS / t for t in ts]  # noqa: E731 - samples per second per member
            ratio = statistics.median(base) / statistics.median(eng)
            ratios[(optimizer, members)] = ratio
            flops = training_flops(members, n) / statistics.median(eng)
            ratio_all = statistics.median(base) / statistics.median(eng_all)
            rows.append(f"| {optimizer} | {members} | {spread(per(eng))} | {spread(per(base))} | **{ratio:.1f}×** "
                        f"| {flops / 1e9:.2f} | {spread(per(eng_all))} | {ratio_all:.1f}× |")
    return rows, ratios


def threads_section(repeats):
    split = digits(0)
    rows = []
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        for members in (5, 20):
            ts = timed(lambda: engine_run(split, members, "adam", 1e-3), repeats)
            rows.append(f"| {threads} | {members} | {spread(ts)} |")
    torch.set_num_threads(1)
    return rows


def profile_section(profile: str, repeats: int):
    """Cold (forced) and warm runs of a whole profile into a temporary store, timed by phase."""
    from study import runner, tracking
    from study.config import load_profile
    from study.report.render import render

    prof = load_profile(profile)
    cwd, old = os.getcwd(), os.environ.get("MLFLOW_TRACKING_URI")
    rows, cold_walls, per_study = [], [], {}
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{d}/mlflow.db"
        try:
            for i in range(repeats):
                t0 = time.perf_counter()
                outcomes = runner.run_profile(prof, force=True)
                t_run = time.perf_counter() - t0
                t1 = time.perf_counter()
                render(prof.name, Path(d) / "reports")
                t_render = time.perf_counter() - t1
                cold_walls.append(t_run + t_render)
                for o in outcomes:
                    phases = notebook_phases(o, tracking)
                    per_study.setdefault(o.study, []).append(o.seconds)
                    rows.append(f"| cold {i + 1} | {o.study} | {o.status} | {o.seconds:.1f} | {phases['startup']:.1f} | "
                                f"{phases['training']:.1f} | {phases['mlflow']:.2f} ({phases['mlflow_pct']:.1f}%) | "
                                f"{t_render:.1f} | {t_run + t_render:.1f} |")
            # Warm as the teacher meets it: a new `study report` process (start-up, imports, cache look-ups, render).
            warm = []
            for i in range(repeats):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "study.cli", "report", "--profile", prof.name], cwd=d,
                               check=True, capture_output=True)
                warm.append(time.perf_counter() - t0)
            reworded = reword_section(prof.name, Path(d), repeats)
        finally:
            os.chdir(cwd)
            if old is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = old
    return rows, cold_walls, warm, reworded, per_study


def reword_section(profile: str, folder: Path, repeats: int) -> dict[str, list[float]]:
    """A teacher rewords a template in a copy of the templates (differently each time, so every repeat really
    typesets), then `study report --templates` in a new process; nothing re-runs. Two cases: one English
    cnn_vs_mlp question (one section per edition typeset again, four PDFs put together again), and one word of
    templates/lang/en.j2 that every English section shows (18 sections and 18 PDFs again)."""
    from study.report.words import TEMPLATES

    mine = folder / "templates"
    shutil.copytree(TEMPLATES, mine)
    cases = {"question": (mine / "studies" / "cnn_vs_mlp.en.j2", "{% call ask() %}",
                          lambda i: f"{{% call ask() %}}(Reworded {i}.) "),
             "every page": (mine / "lang" / "en.j2", '"Back to contents"', lambda i: f'"Back to contents ({i})"')}
    times = {}
    for case, (path, anchor, reworded) in cases.items():
        original = path.read_text(encoding="utf-8")
        if anchor not in original:
            raise RuntimeError(f"{path}: no {anchor} to reword")
        times[case] = []
        for i in range(repeats):
            path.write_text(original.replace(anchor, reworded(i + 1), 1), encoding="utf-8")
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "study.cli", "report", "--profile", profile, "--templates",
                            str(mine)], cwd=folder, check=True, capture_output=True)
            times[case].append(time.perf_counter() - t0)
        path.write_text(original, encoding="utf-8")
    return times


def notebook_phases(outcome, tracking):
    """Split a study's wall time using papermill's per-cell timings and the study's own MLflow timer."""
    nb = json.loads(Path(outcome.notebook).read_text())
    cells = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0 for c in nb["cells"])
    run = tracking.client().get_run(outcome.run_id)
    mlflow_s = run.data.metrics.get("mlflow_seconds", float("nan"))
    train_s = run.data.metrics.get("train_seconds", float("nan"))
    return {"startup": outcome.seconds - cells, "training": train_s, "mlflow": mlflow_s,
            "mlflow_pct": 100 * mlflow_s / outcome.seconds}


def main(repeats: int = 5, out: Path = Path("reports"), quick_profile: str = "quick") -> int:
    started = time.perf_counter()
    lines = ["# Benchmark", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"torch {torch.__version__}. Each timing repeated {repeats}× (whole profiles 3×): median (min–max).", ""]

    print("(a) engine vs per-seed loop …", flush=True)
    rows, ratios = throughput_section(repeats)
    lines += ["## (a) Per-member training throughput: batched engine vs per-seed loop", "",
              f"MLP {'-'.join(map(str, SIZES))} (ReLU, He) on digits, batch {BATCH}, {EPOCHS} epochs (the engine "
              "also evaluates on the validation set after each epoch; the loop does not). Throughput in training "
              "samples per second per member, both on 1 thread; the last two columns give the engine on all "
              f"{os.cpu_count()} cores against the same 1-thread loop. Target: ≥ 5× at 20 members.", "",
              "| optimizer | members | engine | per-seed loop | speed-up | engine GFLOP/s | engine, all cores "
              "| speed-up |", "|---|---|---|---|---|---|---|---|", *rows, ""]

    print("(b) matmul peak …", flush=True)
    peak1 = matmul_rate(1, repeats)
    peak_all = matmul_rate(os.cpu_count() or 1, repeats)
    torch.set_num_threads(1)
    best = max(float(r.split("|")[6]) for r in rows) * 1e9  # the 1-thread GFLOP/s column
    lines += ["## (b) Achieved FLOP/s against the machine's float32 matmul rate", "",
              f"1024×1024 float32 matmul: {spread([p / 1e9 for p in peak1])} GFLOP/s on 1 thread, "
              f"{spread([p / 1e9 for p in peak_all])} GFLOP/s on {os.cpu_count()} threads. "
              f"The engine's best row reaches {best / 1e9:.2f} GFLOP/s = "
              f"**{100 * best / statistics.median(peak1):.0f}%** of the 1-thread matmul rate "
              "(FLOPs counted as 6·B·Σ(in·out) per step: forward, input gradients, weight gradients; the optimizer "
              "step, loss and data gathering are not counted).", ""]

    print("(c) threads …", flush=True)
    lines += ["## (c) Intra-op threads for the engine (Adam, seconds per run)", "",
              "| threads | members | seconds |", "|---|---|---|", *threads_section(repeats), "",
              "The runner runs studies in parallel processes (workers = cores) and gives each notebook process "
              "cores // running workers intra-op threads: one each when studies run side by side, all cores for a "
              "study that runs alone.", ""]

    print(f"(d) profile '{quick_profile}' cold and warm …", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    prow, cold, warm, reworded, per_study = profile_section(quick_profile, min(repeats, 3))  # whole profiles: 3 runs suffice
    split = [f"| {name} | {spread(ts)} |" for name, ts in sorted(per_study.items(), key=lambda kv: -max(kv[1]))]
    lines += [f"## (d) The `{quick_profile}` profile, cold (forced re-run) and warm (cached)", "",
              "Per study: wall seconds of the notebook run, of which kernel start-up and papermill overhead "
              "(wall minus the cells' own time), training and measurement, and MLflow logging calls; then "
              "rendering both languages (HTML + PDF) and the total.", "",
              "| run | study | status | study wall s | start-up s | training s | MLflow s (% of study) | render s "
              "| total s |", "|---|---|---|---|---|---|---|---|---|", *prow, "",
              f"Cold total: {spread(cold)} s (target ≤ 600 s). Warm `study report` (a new process; nothing to run, "
              "re-render only): "
              f"{spread(warm)} s (target ≤ 20 s). Reworded in a copy of the templates, then `study report "
              "--templates` (nothing re-runs; figures are kept): one English question (two sections typeset "
              f"again, four PDFs put together again) {spread(reworded['question'])} s; one word on every English "
              f"page (18 sections, 18 PDFs) {spread(reworded['every page'])} s (target ≤ 20 s).", "",
              "Per study, cold (the studies run two at a time, one thread each):", "",
              "| study | wall s |", "|---|---|", *split, ""]

    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_child = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    lines += ["## (e) Peak memory", "",
              f"Benchmark process: {peak_self:.0f} MiB resident at peak; largest child process (notebook kernel "
              f"or worker): {peak_child:.0f} MiB.", "",
              f"Benchmark wall time: {time.perf_counter() - started:.0f} s.", ""]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    log_to_mlflow(path, ratios, cold, warm, reworded)
    print("\n".join(lines))
    print(f"wrote {path}")
    return 0


def log_to_mlflow(path, ratios, cold, warm, reworded):
    from study import tracking

    exp = tracking.ensure_store()
    run_id = tracking.start_run(exp, "bench", "bench", "", {}, {"machine": f"{platform.machine()} · "
                                                                           f"{os.cpu_count()} cores"})
    log = tracking.RunLogger(run_id)
    # no "/" in the names: a name/configuration metric would become a child run
    log.metrics({f"speedup_{o}_{m}": r for (o, m), r in ratios.items()}
                | {"quick_cold_seconds": statistics.median(cold), "quick_warm_seconds": statistics.median(warm),
                   "quick_reword_seconds": statistics.median(reworded["question"]),
                   "quick_reword_every_page_seconds": statistics.median(reworded["every page"])})
    log.flush()
    tracking.client().log_artifact(run_id, str(path))
    tracking.finish_run(run_id, None)
