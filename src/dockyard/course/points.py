"""A rubric's points, read without running it: the course listing, nbgrader's grade cells."""

from __future__ import annotations

import ast
from pathlib import Path


def _test_functions(grader_folder):
    """The rubric's test functions (`test*` in `test*.py`), parsed, not imported; unreadable files skipped."""
    for path in sorted(Path(grader_folder).glob("test*.py")):
        try:
            tree = ast.parse(path.read_text())
        except (OSError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                yield node


def rubric_points(grader_folder) -> float:
    """Total points of a rubric, read by a light AST parse of `@pytest.mark.points(n)` (no pytest import)."""
    total = 0.0
    for node in _test_functions(grader_folder):
        points = 1.0
        for decorator in node.decorator_list:
            if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr == "points" and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)):
                points = float(decorator.args[0].value)
        total += points
    return total


def rubric_item_ids(grader_folder) -> list[str]:
    """The rubric's item ids as the Report names them (test function names without `test_`, `_` as `-`);
    a parametrized test's items add `-<param>` to its id."""
    return [node.name.removeprefix("test_").replace("_", "-") for node in _test_functions(grader_folder)]
