"""The course's order and its way around JupyterLab, as a learner meets them: `dockyard list` shows the exercises
in the order the notebooks set them, every exercise cell links to its files and says how to start over, and the
first notebook says where the terminal is."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from dockyard.course import exercises

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
HEADING = re.compile(r"^## Exercise (\d\d-[a-z0-9-]+)", re.M)


def exercise_cells() -> list[tuple[str, str, str]]:
    """(notebook, exercise id, markdown) of every `## Exercise <id>` cell, in course order."""
    found = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                found += [(path.name, match, cell.source) for match in HEADING.findall(cell.source)]
    return found


def test_dockyard_list_follows_the_notebooks():
    in_notebooks = [(notebook, exercise_id) for notebook, exercise_id, _ in exercise_cells()]
    listed = [(exercise.notebook, exercise.id) for exercise in exercises.in_course_order(ROOT)]
    assert listed == in_notebooks


def test_each_exercise_cell_links_its_files_and_offers_reset():
    for notebook, exercise_id, text in exercise_cells():
        exercise = exercises.load(exercise_id, ROOT)
        links = re.findall(r"\]\((\.\./exercises/[^)]+)\)", text)
        assert links, f"{notebook}: the exercise {exercise_id} links none of its files"
        for link in links:
            assert (ROOT / "notebooks" / link).resolve().exists(), f"{notebook}: broken link {link}"
        assert f"dockyard reset {exercise_id}" in text, f"{notebook}: {exercise_id} does not say how to start over"
        assert f"dockyard reset {exercise_id}" in exercise.readme.read_text(), f"{exercise_id}/README.md: no reset"


def test_the_terminal_is_introduced_before_any_command_is_asked_for():
    welcome = "\n".join(cell.source for cell in nbformat.read(NOTEBOOKS[0], as_version=4).cells
                        if cell.cell_type == "markdown")
    assert "File → New → Terminal" in welcome
    for exercise_id in ("09-volumes", "10-networks", "11-compose-stack"):
        assert "File → New → Terminal" in exercises.load(exercise_id, ROOT).readme.read_text(), exercise_id


def test_compose_is_shown_where_an_exercise_first_needs_it():
    """Exercises 09 and 10 come before notebook 08 teaches Compose: their READMEs carry the minimum."""
    for exercise_id in ("09-volumes", "10-networks"):
        readme = exercises.load(exercise_id, ROOT).readme.read_text()
        assert "## Compose in one minute" in readme and "services:" in readme, exercise_id
