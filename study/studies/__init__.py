"""One module per study. A study module defines NAME, TITLE, CLAIMS, Params, run(), figures() and questions();
its notebook is study/notebooks/<NAME>.ipynb. Discovery is automatic: adding a study edits nothing here."""
import importlib
import pkgutil
from functools import cache
from types import ModuleType


@cache
def registry() -> dict[str, ModuleType]:
    mods = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            mod = importlib.import_module(f"{__name__}.{info.name}")
            mods[mod.NAME] = mod
    return dict(sorted(mods.items(), key=lambda kv: getattr(kv[1], "ORDER", 100)))
