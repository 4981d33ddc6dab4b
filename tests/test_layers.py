"""The README's layer rule, enforced: a module imports only from its own layer or the ones below it,
and no import cycle exists anywhere (lazy imports inside functions count too)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "propscan"

# Lowest first. Data flows up this list: readers make Documents, the model finds spans in them, the
# pipeline wraps the model, training and batch build on the pipeline, the interfaces on everything.
LAYERS = [
    ("propscan.version", "propscan.errors", "propscan.settings", "propscan.techniques"),
    ("propscan.document", "propscan.scoring", "propscan.sentences"),
    ("propscan.readers",),
    ("propscan.model",),
    ("propscan.pipeline", "propscan.cascade"),
    ("propscan.training",),
    ("propscan.batch",),
    ("propscan.render", "propscan.spacy_component", "propscan.api", "propscan.cli"),
    ("propscan",),  # the package root re-exports the public API
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The propscan modules ``path`` imports: ``from a.b import c`` names ``a.b.c`` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                for alias in node.names
            )
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: imported_modules(path, known) - {name} for name, path in paths.items()}


def layer(module: str) -> int:
    matches = [
        (len(prefix), rank)
        for rank, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    if not matches:
        pytest.fail(f"{module} belongs to no layer: add it to LAYERS (and to the README's Project layout)")
    return max(matches)[1]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        stack.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_imports_never_point_to_a_higher_layer():
    back_edges = [
        f"{importer} -> {imported}"
        for importer, targets in sorted(import_graph().items())
        for imported in sorted(targets)
        if layer(imported) > layer(importer)
    ]
    assert back_edges == []


def test_there_is_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_the_checks_catch_a_cycle_and_a_back_edge():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert layer("propscan.readers.ptc") > layer("propscan.document")
