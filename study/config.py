"""Profiles (YAML) -> validated objects. Every error names the file, the key, the value and what is allowed,
and is raised before anything runs or is written to MLflow."""
import dataclasses
import os
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

PROFILE_DIR = Path(__file__).parent / "profiles"
DEVICES = ("auto", "cpu", "cuda")


class ProfileError(ValueError):
    pass


def param(default, *, min=None, max=None, gt=None, choices=None, help=""):
    """A study parameter with its allowed range, declared beside the study that uses it."""
    meta = {"min": min, "max": max, "gt": gt, "choices": choices, "help": help}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _allowed(f: dataclasses.Field) -> str:
    m, parts = f.metadata, []
    if m.get("choices"):
        parts.append("one of " + ", ".join(map(str, m["choices"])))
    if m.get("gt") is not None:
        parts.append(f"> {m['gt']}")
    if m.get("min") is not None:
        parts.append(f">= {m['min']}")
    if m.get("max") is not None:
        parts.append(f"<= {m['max']}")
    return " and ".join(parts)


def _check_scalar(kind, value, f, where):
    ok = (isinstance(value, bool) if kind is bool
          else isinstance(value, int) and not isinstance(value, bool) if kind is int
          else isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float
          else isinstance(value, kind))
    if not ok:
        raise ProfileError(f"{where}: {value!r} is not a {kind.__name__}")
    m = f.metadata
    bad = ((m.get("choices") and value not in m["choices"])
           or (m.get("gt") is not None and not value > m["gt"])
           or (m.get("min") is not None and value < m["min"])
           or (m.get("max") is not None and value > m["max"]))
    if bad:
        raise ProfileError(f"{where}: {value!r} is not allowed; allowed: {_allowed(f)}")
    return float(value) if kind is float else value


def build_params(cls, values: dict, where: str):
    """Validate a mapping against a study's Params dataclass and build it."""
    if not isinstance(values, dict):
        raise ProfileError(f"{where}: expected a mapping of parameters, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in values:
        if key not in fields:
            raise ProfileError(f"{where}.{key}: unknown key; allowed keys: {', '.join(fields)}")
    out = {}
    for key, value in values.items():
        f, hint, at = fields[key], hints[key], f"{where}.{key}"
        if typing.get_origin(hint) is list:
            (kind,) = typing.get_args(hint)
            if not isinstance(value, list) or not value:
                raise ProfileError(f"{at}: {value!r} is not a non-empty list of {kind.__name__}")
            out[key] = [_check_scalar(kind, v, f, f"{at}[{i}]") for i, v in enumerate(value)]
        else:
            out[key] = _check_scalar(hint, value, f, at)
    return cls(**out)


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
