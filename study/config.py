"""Profiles (YAML) -> validated objects. Every error names the file, the key, the value and what is allowed,
and is raised before anything runs or is written to MLflow. (How one study's parameters are declared and
checked is study.params, which the studies use; this module sits above the studies and reads their Params.)"""
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from study.params import ProfileError, build_params  # noqa: F401  (ProfileError is part of this module's API)

PROFILE_DIR = Path(__file__).parent / "profiles"
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Profile:
    name: str
    path: Path
    description: str
    device: str
    workers: int
    studies: dict  # study name -> Params instance, in profile order
    overrides: list = dataclasses.field(default_factory=list)  # the --set items applied


def resolve_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return PROFILE_DIR / f"{name_or_path}.yaml"


def load_profile(name_or_path: str = "quick", only: list[str] | None = None, overrides: list[str] = ()) -> Profile:
    """The validated profile; `only` keeps the named studies, `overrides` ("study.key=value", the value in
    YAML: 3, 0.01, [8, 16], true) change single parameters, checked exactly as the profile's own values are."""
    from study.studies import registry

    path = resolve_path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(q.stem for q in PROFILE_DIR.glob("*.yaml")))
        raise ProfileError(f"{path}: no such profile; built-in profiles: {known}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ProfileError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping at the top level")
    allowed = {"description", "device", "workers", "studies"}
    for key in data:
        if key not in allowed:
            raise ProfileError(f"{path}: {key}: unknown key; allowed keys: {', '.join(sorted(allowed))}")
    device = data.get("device", "auto")
    if device not in DEVICES:
        raise ProfileError(f"{path}: device: {device!r} is not allowed; allowed: {', '.join(DEVICES)}")
    workers = data.get("workers", "auto")
    if workers == "auto":
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ProfileError(f"{path}: workers: {workers!r} is not allowed; allowed: an integer >= 1 or 'auto'")
    studies = data.get("studies") or {}
    if not isinstance(studies, dict) or not studies:
        raise ProfileError(f"{path}: studies: expected a non-empty mapping of study name -> parameters")
    known = registry()
    if only:
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ProfileError(f"study {unknown[0]!r}: unknown study; known studies: {', '.join(known)}")
        missing = [n for n in only if n not in studies]
        if missing:
            raise ProfileError(f"{path}: studies.{missing[0]}: not in this profile; its studies: {', '.join(studies)}")
        studies = {n: studies[n] for n in studies if n in only}
    studies = {n: dict(v or {}) for n, v in studies.items()}
    for item in overrides:
        name, key, value = parse_override(item, known)
        if name not in studies:
            raise ProfileError(f"--set {item}: study {name} is not being run (run it, or add it to the profile)")
        build_params(known[name].Params, {key: value}, f"--set {name}")  # its own message, before merging
        studies[name][key] = value
    built = {}
    for name, values in studies.items():
        if name not in known:
            raise ProfileError(f"{path}: studies.{name}: unknown study; known studies: {', '.join(known)}")
        built[name] = build_params(known[name].Params, values or {}, f"{path}: studies.{name}")
        check = getattr(known[name], "check_params", None)
        if check:
            try:
                check(built[name])
            except ValueError as e:
                raise ProfileError(f"{path}: studies.{name}: {e}") from None
    return Profile(path.stem, path, str(data.get("description", "")), device, workers, built, list(overrides))


def parse_override(item: str, known: dict) -> tuple[str, str, object]:
    """"study.key=value" -> (study, key, value parsed as YAML), or a ProfileError saying what is allowed."""
    where = f"--set {item}"
    target, eq, raw = item.partition("=")
    name, dot, key = target.strip().partition(".")
    if not (eq and dot and name and key):
        raise ProfileError(f"{where}: expected study.key=value, e.g. cnn_vs_mlp.seeds=3")
    if name not in known:
        raise ProfileError(f"{where}: unknown study {name!r}; known studies: {', '.join(known)}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ProfileError(f"{where}: the value is not valid YAML: {e}") from None
    return name, key.strip(), value
