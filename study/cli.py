"""`study run | render | report | list | ui | bench` — the Makefile's targets call these."""
import argparse
import os
import sys
from pathlib import Path

from study.config import ProfileError, load_profile


def _profile(args):
    try:
        return load_profile(args.profile)
    except ProfileError as e:
        sys.exit(f"error: invalid profile: {e}")


def cmd_run(args) -> int:
    from study import runner

    profile = _profile(args)  # validated before anything runs or touches MLflow
    print(f"profile {profile.name}: {', '.join(profile.studies)} → {_where()}")
    outcomes = runner.run_profile(profile, force=args.force, notebooks=Path(args.notebooks))
    failed = [o for o in outcomes if o.status == "failed"]
    for o in failed:
        print(f"error: study {o.study} failed (run {o.run_id}); executed notebook: {o.notebook}", file=sys.stderr)
    return 1 if failed else 0


def cmd_render(args) -> int:
    from study.report.render import render
    from study.report.words import LANGS

    name = Path(args.profile).stem
    made = render(name, Path(args.out), pdf=not args.no_pdf, templates=Path(args.templates) if args.templates else None)
    print(f"  {made['index']}")
    for lang in LANGS:
        print(f"  {lang}: " + "  ".join(p.name for p in made[lang].values()) + f"  (in {made[lang]['index.html'].parent},"
              " one folder per study for handouts)")
    missing = [r.name for r in made["results"] if r.status == "missing"]
    if missing:
        print(f"  not run yet under '{name}': {', '.join(missing)} (make report PROFILE={name})")
    return 0


def cmd_report(args) -> int:
    code = cmd_run(args)
    cmd_render(args)
    if code:
        print("error: the report was rendered, but at least one study failed (see its failure box)", file=sys.stderr)
    return code


def cmd_list(args) -> int:
    from study import tracking
    from study.config import PROFILE_DIR
    from study.studies import registry

    print("studies:")
    for name, m in registry().items():
        run = tracking.latest_run(name, Path(args.profile).stem)
        state = f"latest {run.info.status.lower()} run {run.info.run_id}" if run else "not run yet"
        print(f"  {name:20s} {m.SECTIONS:24s} {' '.join(c.id for c in m.CLAIMS):16s} {state}")
    print("profiles: " + ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))))
    print(f"store: {_where()}")
    return 0


def cmd_ui(args) -> int:
    from study import tracking

    tracking.ensure_store()
    uri = tracking.tracking_uri()
    print(f"MLflow UI for {uri} at http://127.0.0.1:{args.port}  (Ctrl-C stops it)")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(args.port)]
    os.execv(sys.executable, cmd)


def cmd_bench(args) -> int:
    from study import bench

    return bench.main(repeats=args.repeats, out=Path(args.out), quick_profile=args.profile)


def _where() -> str:
    from study import tracking

    return f"MLflow store {tracking.tracking_uri()}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="study", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name, fn, help):
        p = sub.add_parser(name, help=help)
        p.set_defaults(fn=fn)
        p.add_argument("--profile", default=os.environ.get("PROFILE", "quick"),
                       help="profile name (smoke, quick, full) or path to a YAML file (default: quick)")
        return p

    def running(p):
        p.add_argument("--force", action="store_true", help="re-run even when a cached run matches")
        p.add_argument("--notebooks", default=str(Path(__file__).parent / "notebooks"),
                       help="folder holding <study>.ipynb (default: the package's notebooks)")

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
    p.add_argument("--port", type=int, default=5000)
    p = add("bench", cmd_bench, "measure the engine against the per-seed loop; write reports/bench.md")
    p.add_argument("--repeats", type=int, default=5, help="repeats of each timing (the profile runs 3 times)")
    p.add_argument("--out", default="reports")
    args = ap.parse_args(argv)
    return args.fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
