"""`study run | render | report | list | ui | bench | worker` — the Makefile's targets call these.

Errors a user can act on (a bad profile or --set, an unreachable or corrupt store, a folder that cannot be
written) end in one line on stderr and a non-zero exit; --debug shows the traceback. Ctrl-C marks the
current runs FAILED ("interrupted") and exits 130.
"""
import argparse
import ast
import errno
import os
import sys
from pathlib import Path

from study.config import ProfileError, load_profile

EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Something the user can fix; printed as one line."""


def _profile(args):
    try:
        return load_profile(args.profile, getattr(args, "studies", None) or None, getattr(args, "set", None) or [])
    except ProfileError as e:
        raise UserError(f"invalid profile: {e}") from None


def _store():
    from study import tracking

    try:
        tracking.check_store()
    except tracking.StoreError as e:
        raise UserError(str(e)) from None


def cmd_run(args) -> int:
    from study import runner

    profile = _profile(args)  # validated before anything runs or touches MLflow
    _store()
    print(f"profile {profile.name}: {', '.join(profile.studies)} → {_where()}", flush=True)
    executor = None
    if getattr(args, "executor", "local") == "dask":
        from study import cluster

        executor = cluster.DaskExecutor(args.scheduler)
    outcomes = runner.run_profile(profile, force=args.force, notebooks=Path(args.notebooks), executor=executor)
    failed = [o for o in outcomes if o.status == "failed"]
    for o in failed:
        print(f"error: study {o.study} failed (run {o.run_id}); executed notebook: {o.notebook}", file=sys.stderr)
    return 1 if failed else 0


def cmd_render(args) -> int:
    from study.report.render import render
    from study.report.words import LANGS

    _store()
    name = Path(args.profile).stem
    made = render(name, Path(args.out), pdf=not args.no_pdf, templates=_templates(args))
    print(f"  {made['index']}")
    for lang in LANGS:
        print(f"  {lang}: " + "  ".join(p.name for p in made[lang].values()) + f"  (in {made[lang]['index.html'].parent},"
              " one folder per study for handouts)")
    missing = [r.name for r in made["results"] if r.status == "missing"]
    if missing:
        print(f"  not run yet under '{name}': {', '.join(missing)} (make report PROFILE={args.profile})")
    return 0


def _templates(args) -> Path | None:
    """--templates, checked before anything runs: a folder holding what the renderer reads first."""
    if not args.templates:
        return None
    folder = Path(args.templates)
    missing = [n for n in ("report.html.j2", "style.css", "lang") if not (folder / n).exists()]
    if missing:
        raise UserError(f"--templates {folder}: " + ("no such folder" if not folder.is_dir() else
                        f"no {', '.join(missing)} in it") + " (copy the project's templates/ and edit the copy)")
    return folder


def cmd_report(args) -> int:
    _templates(args)
    code = cmd_run(args)
    cmd_render(args)
    if code:
        print("error: the report was rendered, but at least one study failed (see its failure box)", file=sys.stderr)
    return code


def cmd_list(args) -> int:
    """Studies, claims and latest runs, without importing the studies' code (no torch): one MLflow query."""
    from study import tracking
    from study.config import PROFILE_DIR

    _store()
    latest = tracking.latest_states(Path(args.profile).stem)
    studies = [_study_meta(ast.parse(p.read_text(encoding="utf-8")))
               for p in (Path(__file__).parent / "studies").glob("[!_]*.py")]
    print("studies:")
    for meta in sorted((m for m in studies if "NAME" in m), key=lambda m: m.get("ORDER", 100)):
        status, run_id = latest.get(meta["NAME"], (None, None))
        state = f"latest {status.lower()} run {run_id}" if run_id else "not run yet"
        print(f"  {meta['NAME']:20s} {meta.get('SECTIONS', ''):24s} {' '.join(meta['claims']):16s} {state}")
    print("profiles: " + ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))))
    print(f"store: {_where()}")
    return 0


def _study_meta(tree: ast.Module) -> dict:
    """NAME, SECTIONS, ORDER and the claim ids of a study module, read from its source."""
    meta = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("NAME", "SECTIONS", "ORDER") and isinstance(node.value, ast.Constant):
                meta[node.targets[0].id] = node.value.value
    meta["claims"] = [c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                      and getattr(c.func, "id", "") == "Claim" and c.args and isinstance(c.args[0], ast.Constant)]
    return meta


def cmd_ui(args) -> int:
    from study import tracking

    _store()
    exp = tracking.ensure_store()
    uri = tracking.tracking_uri()
    os.environ.setdefault("STUDY_UI_URL", f"http://127.0.0.1:{args.port}")
    print(f"MLflow UI for {uri}: {tracking.experiment_url(exp)}  (Ctrl-C stops it)", flush=True)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(args.port)]
    os.execv(sys.executable, cmd)


def cmd_bench(args) -> int:
    from study import bench

    return bench.main(repeats=args.repeats, out=Path(args.out), quick_profile=args.profile)


def cmd_worker(args) -> int:
    from study import cluster

    return cluster.worker(args.scheduler, gpu=args.gpu, name=args.name)


def _where() -> str:
    from study import tracking

    return f"MLflow store {tracking.tracking_uri()} (experiment {tracking.experiment_name()})"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="study", description=__doc__.splitlines()[0])
    ap.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name, fn, help):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(fn=fn)
        p.add_argument("--profile", default=os.environ.get("PROFILE", "quick"),
                       help="profile name (smoke, quick, full) or path to a YAML file (default: quick)")
        return p

    def running(p):
        p.add_argument("studies", nargs="*", metavar="STUDY", help="run only these studies (default: all of the "
                                                                   "profile); the report keeps the others' latest runs")
        p.add_argument("--set", action="append", metavar="STUDY.KEY=VALUE",
                       help="override one parameter (repeatable), checked as the profile is, e.g. "
                            "--set cnn_vs_mlp.seeds=3 --set cnn_vs_mlp.lrs=[0.01,0.03]")
        p.add_argument("--force", action="store_true", help="re-run even when a cached run matches")
        p.add_argument("--notebooks", default=str(Path(__file__).parent / "notebooks"),
                       help="folder holding <study>.ipynb (default: the package's notebooks)")
        p.add_argument("--executor", choices=("local", "dask"), default=os.environ.get("STUDY_EXECUTOR", "local"),
                       help="where the notebooks run: local worker processes (default) or a Dask cluster")
        p.add_argument("--scheduler", default=os.environ.get("STUDY_SCHEDULER"),
                       help="the Dask scheduler's address, e.g. tcp://127.0.0.1:8786 (with --executor dask)")

    def rendering(p):
        p.add_argument("--out", default="reports", help="output folder (default: reports)")
        p.add_argument("--no-pdf", action="store_true", help="write HTML only")
        p.add_argument("--templates", help="folder of the report's templates, e.g. your own edited copy of "
                                           "templates/ (default: the project's)")

    running(add("run", cmd_run, "execute the studies' notebooks and log them to MLflow"))
    rendering(add("render", cmd_render, "render the reports from MLflow without running anything"))
    report = add("report", cmd_report, "run, then render")
    running(report)
    rendering(report)
    add("list", cmd_list, "list studies, profiles and their latest runs")
    p = add("ui", cmd_ui, "serve the MLflow UI for the project's store on 127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)))
    p = add("bench", cmd_bench, "measure the engine against the per-seed loop; write reports/bench.md")
    p.add_argument("--repeats", type=int, default=5, help="repeats of each timing (the profile runs 3 times)")
    p.add_argument("--out", default="reports")
    p = sub.add_parser("worker", help="start a Dask worker that runs study notebooks for a scheduler")
    p.set_defaults(fn=cmd_worker)
    p.add_argument("--scheduler", required=True, help="the scheduler's address, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--gpu", action="store_true", help="offer this machine's GPU to the studies")
    p.add_argument("--name", help="the worker's name (default: host and process id)")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.cmd in ("run", "report") and args.executor == "dask" and not args.scheduler:
        print("error: --executor dask needs --scheduler tcp://HOST:PORT (or STUDY_SCHEDULER)", file=sys.stderr)
        return 2
    from study import runner

    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except runner.Interrupted as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 — the one place that turns failures into one line
        if args.debug:
            raise
        message = explain(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1


def explain(e: Exception) -> str | None:
    """One line for a failure the user can act on; None for a bug (whose traceback should be seen)."""
    from jupyter_client.kernelspec import NoSuchKernel

    from study import tracking

    from study.runner import ExecutorError

    if isinstance(e, (UserError, tracking.StoreError, ExecutorError)):
        return str(e)
    if isinstance(e, FileNotFoundError) and "notebook" in str(e):
        return str(e)
    import jinja2

    if isinstance(e, jinja2.TemplateError):
        return f"a report template could not be rendered: {_template_place(e)}{type(e).__name__}: {e}"
    if isinstance(e, NoSuchKernel):
        return f"the Jupyter kernel {e.name!r} is not installed: run `make setup` (it registers the kernel)"
    if isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return f"cannot write {e.filename}: {e.strerror}; choose another folder (--out) or fix its permissions " \
               "(the previous reports were left as they were)"
    if isinstance(e, OSError) and e.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return f"cannot write {e.filename}: {e.strerror} (a file stands where a folder should be, or the other " \
               "way round); choose another folder (--out) or move it away"
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return f"no space left on the device while writing {e.filename or 'the output'}; free some space and run " \
               "again (the previous reports were left as they were)"
    return None


def _template_place(e: Exception) -> str:
    """'file.j2 line N: ' of the innermost template frame of a Jinja error, when there is one."""
    import traceback

    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.endswith(".j2")]
    if getattr(e, "filename", None) and getattr(e, "lineno", None):
        return f"{e.filename} line {e.lineno}: "
    return f"{frames[-1].filename} line {frames[-1].lineno}: " if frames else ""


if __name__ == "__main__":
    sys.exit(main())
