"""The nbgrader course, end to end: a real course in a temporary folder, generate_assignment, two
submissions (the reference solution and the untouched starter), autograde, scores from the gradebook.

Runs the real nbgrader CLI (`.venv/bin/nbgrader`, cwd = the temporary course) against the real engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.helpers import exercise_filter, orphans

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "nbgrader"
NBGRADER = Path(sys.executable).with_name("nbgrader")
ASSIGNMENTS = ["01-first-image", "09-compose-stack"]


def nbgrader(course: Path, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    # nbgrader runs `alembic` (and the kernel) from PATH: the venv's bin/ first
    env = dict(os.environ, PATH=f"{NBGRADER.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("DOCKYARD_SOLUTIONS", None)
    result = subprocess.run([str(NBGRADER), *args], cwd=course, capture_output=True, text=True, timeout=timeout,
                            env=env)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def solution_sources(notebook: Path) -> dict[str, str]:
    """grade_id -> source of every solution cell of the (source) notebook."""
    nb = nbformat.read(notebook, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("solution")}


def fill_in(release_nb: Path, solutions: dict[str, str], target: Path) -> int:
    """The release notebook with each solution cell's stub replaced by the reference (what a learner who
    solved it hands in). Returns how many cells were filled."""
    nb = nbformat.read(release_nb, as_version=4)
    filled = 0
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in solutions:
            cell.source = solutions[grade_id]
            filled += 1
    nbformat.write(nb, target)
    return filled


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    if not NBGRADER.exists():
        pytest.skip(f"nbgrader is not installed in this environment ({NBGRADER})")
    from dockyard import engine

    engine.client()  # EngineUnavailable here is an error: the suite needs the engine
    root = tmp_path_factory.mktemp("nbgrader-course")
    shutil.copy2(COURSE / "nbgrader_config.py", root / "nbgrader_config.py")
    for assignment in ASSIGNMENTS:
        shutil.copytree(COURSE / "source" / assignment, root / "source" / assignment,
                        ignore=shutil.ignore_patterns("files", ".ipynb_checkpoints", "__pycache__"))
    return root


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_generate_and_autograde(course, assignment):
    from nbgrader.api import Gradebook

    from dockyard.course import exercises
    from dockyard.course.points import rubric_points

    points = rubric_points(exercises.load(assignment).grader)
    orphans_before = set(orphans(exercise_filter(assignment)))
    nbgrader(course, "generate_assignment", assignment, "--force")
    release = course / "release" / assignment / f"{assignment}.ipynb"
    assert release.is_file(), f"generate_assignment wrote no {release}"
    release_text = release.read_text()
    assert "### BEGIN SOLUTION" not in release_text and "# YOUR CODE HERE" in release_text

    source_nb = course / "source" / assignment / f"{assignment}.ipynb"
    solutions = solution_sources(source_nb)
    assert solutions, "the source notebook has no solution cells"
    for student in ("reference", "starter"):
        folder = course / "submitted" / student / assignment
        shutil.copytree(release.parent, folder, dirs_exist_ok=True)
    assert fill_in(release, solutions, course / "submitted" / "reference" / assignment / release.name) == len(solutions)

    result = nbgrader(course, "autograde", assignment, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {}
        for student in ("reference", "starter"):
            submission = gradebook.find_submission(assignment, student)
            scores[student] = (submission.score, submission.max_score)
    print(f"{assignment}: {scores}")
    assert scores["reference"] == (points, points), (
        f"the reference solution should get full marks ({points:g}), got {scores['reference']}\n{result.stderr[-3000:]}")
    assert scores["starter"][1] == points
    assert scores["starter"][0] < points, f"the untouched starter should not get full marks: {scores['starter']}"
    left = sorted(set(orphans(exercise_filter(assignment))) - orphans_before)
    assert not left, (f"the gradings nbgrader ran left resources behind: {left})")


