"""What every study notebook calls first: the study's parameters, read from the notebook's own variables
(papermill injects one value per parameter: `papermill nb.ipynb out.ipynb -p seeds 5 -p epochs 3`) and checked
exactly as a profile's are; and the MLflow run to log into.

Each notebook's `parameters` cell lists every parameter of its study with the study's default
(`parameters_cell` writes it; a test checks the notebooks agree with the studies), plus the run-time values
below. `python -m study.notebook` rewrites the parameters cells after a study's parameters change.
"""
import dataclasses
import json
import sys
from pathlib import Path

from study import tracking
from study.params import ProfileError, build_params

NOTEBOOKS = Path(__file__).parent / "notebooks"
RUNTIME = {  # set by the runner; a notebook run by hand keeps these defaults
    "run_id": (None, "the MLflow run to log into; None starts a run of its own"),
    "device": ("auto", "auto, cpu or cuda"),
    "threads": (1, "intra-op threads"),
    "show_verdicts": (False, "print the verdicts at the end (off: a student's copy should not give the answers)"),
}


def start(name: str, namespace: dict):
    """(study module, validated Params, RunLogger) for the notebook of study `name`, from its variables."""
    from study.studies import registry

    module = registry()[name]
    values = {f.name: namespace[f.name] for f in dataclasses.fields(module.Params) if f.name in namespace}
    where = f"{name}.ipynb parameters"
    p = build_params(module.Params, values, where)
    check = getattr(module, "check_params", None)
    if check:
        try:
            check(p)
        except ValueError as e:
            raise ProfileError(f"{where}: {e}") from None
    run_id = namespace.get("run_id") or tracking.start_interactive(name)
    return module, p, tracking.RunLogger(run_id)


def parameters_cell(module) -> str:
    """The source of a study notebook's parameters cell: every parameter with its default and help."""
    lines = ["# Parameters: papermill replaces these values (the runner injects the profile's; `-p name value`",
             "# on papermill's command line does the same by hand). They are checked as a profile is.",
             *(_line(f.name, _default(f), f.metadata.get("help", "")) for f in dataclasses.fields(module.Params)),
             "", "# Set by the runner:",
             *(_line(k, v, why) for k, (v, why) in RUNTIME.items())]
    return "\n".join(lines)


def _default(f):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _line(name, value, why) -> str:
    code = f"{name} = {value!r}"
    return f"{code}  # {why}" if why else code


def sync(name: str) -> bool:
    """Rewrite the parameters cell of study `name`'s notebook; True if it changed."""
    from study.studies import registry

    path = NOTEBOOKS / f"{name}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = parameters_cell(registry()[name])
    if "".join(cell["source"]) == source:
        return False
    cell["source"] = source.splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


if __name__ == "__main__":
    from study.studies import registry

    for study in sys.argv[1:] or registry():
        print(f"{study}: {'rewritten' if sync(study) else 'up to date'}")
