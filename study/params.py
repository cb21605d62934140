"""A study's parameters: declared beside the study with their allowed ranges (`param`), and checked against a
mapping from a profile or a notebook (`build_params`). Every error names where, the key, the value and what is
allowed."""
import dataclasses
import typing


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
