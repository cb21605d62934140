"""Profiles (YAML) -> validated objects. Every error names the file, the key, the value and what is allowed,
and is raised before anything runs or is written to MLflow. (How one study's parameters are declared and
checked is study.params, which the studies use; this module sits above the studies and reads their Params.)"""
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


def resolve_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return PROFILE_DIR / f"{name_or_path}.yaml"


def load_profile(name_or_path: str = "quick") -> Profile:
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
    return Profile(path.stem, path, str(data.get("description", "")), device, workers, built)
