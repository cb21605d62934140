"""What a run learned from: each data loader records the split it returns (name, source, digest, shape), so
the run can log it as an MLflow dataset input without the study saying so."""
import functools
import hashlib

_USED: dict[str, dict] = {}


def recorded(name: str, source: str):
    """Decorate a loader returning a Split: remember what it returned, under `name`, once per distinct result."""
    def wrap(fn):
        @functools.wraps(fn)
        def loader(*args, **kwargs):
            split = fn(*args, **kwargs)
            note(name, source, split, {k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, bool))})
            return split
        return loader
    return wrap


def note(name: str, source: str, split, options: dict | None = None):
    h = hashlib.sha256()
    for t in vars(split).values():
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    digest = h.hexdigest()[:16]
    _USED.setdefault(digest, {
        "name": name, "source": source, "digest": digest, "shape": list(split.x_train.shape[1:]),
        "profile": {"train": len(split.y_train), "validation": len(split.y_val), "test": len(split.y_test),
                    "classes": split.n_classes, **(options or {})}})


def used() -> list[dict]:
    """Every distinct split loaded in this process so far."""
    return list(_USED.values())
