"""The package's import graph, read from the source (AST): no cycles, and the pure layers stay pure.

Every `import dockyard.x` / `from dockyard.x import y` counts, at module level or inside a function, so a
function-level import cannot hide a cycle. An import of `dockyard.a.b` is an edge to `dockyard.a.b` (and, when
`b` is a name rather than a submodule, to `dockyard.a`); a package's own `__init__` is a module like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

SRC = ROOT / "src" / "dockyard"
# Pure layers: no engine, no containers. They may import errors, text, scratch and each other.
PURE = ("dockyard.static", "dockyard.report")
# What talks to the engine (or drags in what does): the pure layers must import none of it.
ENGINE_TALKING = ("docker", "requests", "dockyard.engine", "dockyard.sandbox", "dockyard.probes",
                  "dockyard.baseimages", "dockyard.submission", "dockyard.rubric", "dockyard.batch",
                  "dockyard.notebook", "dockyard.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(Dockyard modules, third-party/stdlib top-level names) that `path` imports anywhere in its body."""
    ours, others = set(), set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            if name == "dockyard" or name.startswith("dockyard."):
                while name not in known and "." in name:
                    name = name.rpartition(".")[0]
                if name != "dockyard":
                    ours.add(name)
            else:
                others.add(name)
    return ours, others


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, set(found))[0] - {name} for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layers(edges: dict[str, set[str]]) -> list[list[str]]:
    """Modules by depth: layer 0 imports no Dockyard module, layer n only modules of layers below n."""
    depth: dict[str, int] = {}

    def of(node: str) -> int:
        if node not in depth:
            depth[node] = 0
            depth[node] = 1 + max((of(target) for target in edges[node]), default=-1)
        return depth[node]

    for node in edges:
        of(node)
    return [sorted(n for n in edges if depth[n] == level) for level in range(max(depth.values()) + 1)]


def test_the_import_graph_has_no_cycle():
    assert cycles(graph()) == []


def test_static_and_report_import_nothing_that_talks_to_the_engine():
    found = modules()
    wrong = []
    for name, path in found.items():
        if not name.startswith(PURE):
            continue
        ours, others = imports_of(path, set(found))
        for target in sorted(ours | others):
            if any(target == bad or target.startswith(bad + ".") for bad in ENGINE_TALKING):
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_graph_reader_sees_function_level_imports(tmp_path):
    """The reader must not be fooled by an import hidden in a function (the way cycles used to hide)."""
    path = SRC / "static" / "policy.py"
    tree = ast.parse(path.read_text())
    assert any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree))
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert layers({"a": {"b"}, "b": set()}) == [["b"], ["a"]]


def shell_calls(tree: ast.AST) -> list[int]:
    """The lines of every call that passes `shell=` anything but a literal False."""
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) for keyword in node.keywords
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False)]


def test_nothing_in_the_package_runs_a_command_through_a_shell():
    """Commands are argv lists: a learner's text (a folder name, a tag) is never read by a shell."""
    found = [f"{path.relative_to(ROOT)}:{line}" for path in sorted(SRC.rglob("*.py"))
             for line in shell_calls(ast.parse(path.read_text()))]
    assert found == []
    assert shell_calls(ast.parse("subprocess.run(cmd, shell=True)\nrun(x, shell=flag)\nrun(y, shell=False)")) == [1, 2]


if __name__ == "__main__":  # print the graph, layer by layer
    edges = graph()
    for level, names in enumerate(layers(edges)):
        print(f"L{level}: " + "  ".join(f"{n.removeprefix('dockyard.')}→{','.join(sorted(t.removeprefix('dockyard.') for t in edges[n])) or '∅'}" for n in names))
