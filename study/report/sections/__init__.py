"""One module per study: what its report shows, computed from the run's logged tables at render time.

A section module `<study>.py` defines
  facts(tables, params) -> dict      named numbers for the templates (floats, or Estimates with intervals)
  figures(tables, params, labels)    [(name, draw)]: draw() returns a matplotlib figure, or None to skip it
  tables(tables, params, labels)     [(name, DataFrame)]: the results tables
where `labels` is the figure and table words of the study's template for one language. Captions are the
template's `figure_<name>` and `table_<name>` macros. Nothing here is part of a run's cache key: editing a
section re-renders, it never re-runs a study. Section modules import their study module, never the reverse.
"""
import importlib
import importlib.util
from types import ModuleType


def section(study: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{study}")


def has_section(study: str) -> bool:
    return importlib.util.find_spec(f"{__name__}.{study}") is not None
