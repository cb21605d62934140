"""Data flows one way: engine and data <- studies <- report. No study imports the report, a study's report part
imports its study (never the reverse), and no module imports itself back through another."""
import ast
from pathlib import Path

import study
from study.studies import registry

ROOT = Path(study.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every study.* module -> the study.* modules it imports (anywhere in the file, local imports included)."""
    graph = {}
    for path in ROOT.rglob("*.py"):
        name, found = module_name(path), set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("study")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("study"):
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = found
    return {k: {m for m in v if m in graph} for k, v in graph.items()}


def test_lower_layers_never_import_higher_ones():
    layers = {"study.engine": 0, "study.data": 0, "study.claims": 1, "study.params": 1, "study.tracking": 1,
              "study.config": 3,
              "study.studies": 2, "study.report": 3, "study.runner": 3, "study.bench": 4, "study.cli": 4}

    def layer(m):
        return max((v for k, v in layers.items() if m == k or m.startswith(k + ".")), default=None)

    bad = [(a, b) for a, deps in imports().items() for b in deps
           if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)
           and not (a.startswith("study.studies") and b == "study.runner")]
    assert bad == []


def test_no_study_module_imports_the_report_or_another_study():
    graph = imports()
    for name in registry():
        mod = f"study.studies.{name}"
        assert not {d for d in graph[mod] if d.startswith("study.report")}, mod
        assert not {d for d in graph[mod] if d.startswith("study.studies.") and d != mod}, mod


def test_there_are_no_import_cycles():
    graph = imports()
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep != node:
                visit(dep)
        stack.pop()

    for node in graph:
        visit(node)
    cycles = [c for c in cycles if not set(c) <= {"study.studies", "study.report", "study"}]
    assert cycles == []
