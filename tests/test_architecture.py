"""The package's dependency direction: no import cycle between modules or packages, and every import
follows the layers drawn in docs/architecture.md.

Static (AST) only: no module is imported. Every ``import`` counts, wherever it is written: a
function-local import is still a dependency (importing late does not remove a cycle, it hides it).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "backend" / "emodiffhead"
DOC = REPO / "docs" / "architecture.md"
ROOT = "emodiffhead"

#: Cycles allowed for now, as sorted tuples of module (or package) names. A cycle is fixed by moving code
#: to the lower layer, never by adding it here. None is left (issue 14 part d moved the training arguments
#: from ``commands.train`` to ``diffusion.train_args``).
KNOWN_MODULE_CYCLES: set[tuple[str, ...]] = set()
KNOWN_PACKAGE_CYCLES: set[tuple[str, ...]] = set()
#: (module, private name) imported across modules, allowed for now (none: keep it that way).
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def _resolve(name: str) -> str:
    """The module that ``import name`` (or ``from name``) loads: the longest known prefix."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str) -> list[tuple[str, str, int]]:
    """Internal imports of ``module``: (imported module, imported name or "", line), anywhere in the file."""
    path, is_pkg = MODULES[module]
    here = module if is_pkg else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(_resolve(a.name), "", node.lineno) for a in node.names if a.name.split(".")[0] == ROOT]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != ROOT:
                continue
            for a in node.names:
                sub = f"{source}.{a.name}"
                out.append((sub, "", node.lineno) if sub in MODULES else (_resolve(source), a.name, node.lineno))
    return out


def _module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for m in MODULES:
        for target, _, _ in _imports(m):
            if target != m and not m.startswith(target + "."):  # a submodule always sits inside its package
                graph[m].add(target)
    return graph


def package_of(module: str) -> str:
    """The layer a module belongs to: its first name below ``emodiffhead`` (``emodiffhead.face.fit`` ->
    ``face``, ``emodiffhead.track`` -> ``track``); the package's own ``__init__`` is ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, targets in _module_graph().items():
        for b in targets:
            if package_of(a) != package_of(b):
                graph[package_of(a)].add(package_of(b))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(cycle: tuple[str, ...], graph: dict[str, set[str]]) -> str:
    return "; ".join(f"{a} -> {', '.join(sorted(graph[a] & set(cycle)))}" for a in cycle)


def documented_layers() -> list[list[str]]:
    """The layers of the ``layers`` block in docs/architecture.md, top (imports the most) first."""
    block = re.search(r"```layers\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block, "docs/architecture.md has no ```layers block"
    layers = []
    for line in block.group(1).splitlines():
        names = re.sub(r"\(.*?\)", "", line).split()
        names = [n for n in names if n not in ("v", "|")]
        if names:
            layers.append(names)
    return layers


def test_the_walker_sees_lazy_imports_and_cycles():
    # the graph helpers themselves: a function-local import is an edge; a 3-cycle is one component
    lazy = {t for t, _, _ in _imports("emodiffhead.render.pipeline")}
    assert "emodiffhead.animate" in lazy  # imported inside render_video only
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_known_exceptions_still_exist():
    # an exception whose cycle or import is gone must leave the lists, so that it cannot come back unseen
    modules, packages = cycles(_module_graph()), cycles(_package_graph())
    private = {(m, name) for m in MODULES for _, name, _ in _imports(m)}
    stale = ([c for c in KNOWN_MODULE_CYCLES if c not in modules]
             + [c for c in KNOWN_PACKAGE_CYCLES if c not in packages]
             + [p for p in KNOWN_PRIVATE_IMPORTS if p not in private])
    assert not stale, f"gone, delete from the KNOWN_* lists in tests/test_architecture.py: {stale}"


def test_no_module_level_import_cycle():
    graph = _module_graph()
    found = [c for c in cycles(graph) if c not in KNOWN_MODULE_CYCLES]
    assert not found, "import cycles between modules: " + " | ".join(_describe(c, graph) for c in found)


def test_no_package_level_import_cycle():
    graph = _package_graph()
    found = [c for c in cycles(graph) if c not in KNOWN_PACKAGE_CYCLES]
    assert not found, "import cycles between packages: " + " | ".join(_describe(c, graph) for c in found)


def test_imports_follow_the_documented_layers():
    layers = documented_layers()
    level = {name: i for i, names in enumerate(layers) for name in names}
    packages = {package_of(m) for m in MODULES}
    assert packages <= set(level), f"not placed in the docs/architecture.md layers: {sorted(packages - set(level))}"
    known = {frozenset(c) for c in KNOWN_PACKAGE_CYCLES}
    upward = [f"{a} -> {b}" for a, targets in sorted(_package_graph().items()) for b in sorted(targets)
              if level[b] <= level[a] and not any({a, b} <= c for c in known)]
    assert not upward, f"imports that do not point down the layers of docs/architecture.md: {upward}"


def test_no_private_name_is_imported_from_another_module():
    private = [f"{m}:{line} imports {name} from {src}" for m in MODULES for src, name, line in _imports(m)
               if name.startswith("_") and not name.startswith("__") and src != m
               and (m, name) not in KNOWN_PRIVATE_IMPORTS]
    assert not private, "private names used across modules (make them public or move them): " + "; ".join(private)
