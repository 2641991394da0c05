"""The course notebooks as files: stripped in git, each with a quiz, a picture and a clean-up, each exercise's
Check in its notebook."""

from __future__ import annotations

import ast
import importlib
import re

import nbformat
import pytest

from dockyard.course import exercises
from tests.helpers import ROOT

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
PICTURE_CALLS = ("nb.show_layers(", "nb.compare_sizes(", "plt.", "matplotlib")


def source(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def ids(paths):
    return [path.stem for path in paths]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_outputs_are_stripped(path):
    notebook = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; run scripts/strip-notebooks"
    assert "widgets" not in notebook.metadata, f"{path.name}: widget state saved in metadata; run scripts/strip-notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_has_quiz_picture_and_cleanup(path):
    code = source(path)
    assert re.search(r"\bquiz(zes|_widget)?\(", code), f"{path.name} has no quiz (nb.quiz or nb.quizzes)"
    assert any(call in code for call in PICTURE_CALLS), f"{path.name} draws no picture"
    notebook = nbformat.read(path, as_version=4)
    last_code = [cell for cell in notebook.cells if cell.cell_type == "code"][-1].source
    assert "cleanup(" in last_code, f"{path.name}: the last code cell must clean up (nb.cleanup(NB))"


@pytest.mark.parametrize("exercise", exercises.ids(ROOT))
def test_exercise_notebook_has_its_check_widget(exercise):
    meta = exercises.load(exercise, ROOT)
    path = NOTEBOOK_DIR / meta.notebook
    assert path.is_file(), f"{exercise}: its notebook {meta.notebook} does not exist"
    code = source(path)
    assert re.search(r"""\b(check|check_widget)\(\s*["']""" + re.escape(exercise) + "[\"']", code), \
        f"{meta.notebook} has no Check widget for {exercise}"
    assert re.search(r"""exercise_folder\(\s*["']""" + re.escape(exercise) + "[\"']", code), \
        f"{meta.notebook} has no cell that opens the files of {exercise}"


def dockyard_imports(path) -> list[tuple[str, str | None]]:
    """(module, name) for every `from dockyard… import name` / `import dockyard…` in the notebook's Python cells
    (cell magics such as %%writefile hold other languages: skipped; line magics dropped)."""
    found = []
    cells = [cell.source for cell in nbformat.read(path, as_version=4).cells
             if cell.cell_type == "code" and not cell.source.lstrip().startswith("%%")]
    code = "\n".join(line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "dockyard":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "dockyard"]
    return found


SOURCES = NOTEBOOKS + sorted((ROOT / "nbgrader" / "source").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_every_dockyard_import_in_a_notebook_resolves(path):
    """What a notebook imports from dockyard exists (a moved module fails here, not in a kernel)."""
    missing = []
    for module, name in dockyard_imports(path):
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{module}: {exc}")
            continue
        if name and not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{module}.{name}")
    assert not missing, f"{path.name}: {missing}"
