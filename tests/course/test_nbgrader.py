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
ASSIGNMENTS = ["03-first-image", "11-compose-stack"]


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


NOISY_KERNEL_SETUP = '''\
import logging, os, subprocess, sys, warnings
from pathlib import Path

from dockyard.report.model import Item, Report
from dockyard.rubric import runner

logging.basicConfig()  # a StreamHandler bound to stderr, as libraries and notebooks set up


def noisy_grade(exercise_id, folder, **options):
    """Everything that reaches a kernel's stderr: sys.stderr, fd 2, a child process, a warning, a log record."""
    print("said on sys.stderr", file=sys.stderr)
    os.write(2, b"said on fd 2\\n")
    subprocess.run([sys.executable, "-c", "import sys; print('said by a child process', file=sys.stderr)"])
    warnings.warn("a library's deprecation warning", DeprecationWarning)
    logging.getLogger("docker.utils").warning("a logged warning")
    return Report.from_items(exercise_id, [Item("a", "A", 1.0, 1.0, True), Item("b", "B", 0.0, 1.0, False, "fix b")],
                             0.1)


runner.grade = noisy_grade
folder = Path("files")
'''


def test_grade_cell_writes_nothing_to_stderr_and_reads_its_points(tmp_path):
    """The generated grade cell, run in a real kernel whose grader prints to every stderr there is: nbgrader's own
    determine_grade gives partial credit (not 0), scaled to the points in the cell's metadata (changed here to 5)."""
    from nbclient import NotebookClient
    from nbgrader.utils import determine_grade

    assignment = "03-first-image"
    notebook = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    grade_cell = next(cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade"))
    grade_cell.metadata["nbgrader"]["points"] = 5  # a teacher's change: the cell's source does not repeat it
    nbformat.write(notebook, tmp_path / f"{assignment}.ipynb")  # what cell_points reads, next to the kernel
    run = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOISY_KERNEL_SETUP), grade_cell])
    NotebookClient(run, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    executed = run.cells[1]
    kinds = [(output.output_type, output.get("name")) for output in executed.outputs]
    assert ("stream", "stderr") not in kinds and all(kind != "error" for kind, _ in kinds), executed.outputs
    stdout = "".join(output.text for output in executed.outputs if output.get("name") == "stdout")
    for said in ("said on sys.stderr", "said on fd 2", "said by a child process", "deprecation warning",
                 "a logged warning"):
        assert said in stdout, f"{said!r} should be shown on stdout:\n{stdout}"
    assert determine_grade(executed) == (2.5, 5.0)


def test_grade_cells_derive_their_points():
    for notebook_path in sorted((COURSE / "source").glob("*/*.ipynb")):
        nb = nbformat.read(notebook_path, as_version=4)
        grade_cell = next(cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade"))
        grade_id = grade_cell.metadata["nbgrader"]["grade_id"]
        last_line = grade_cell.source.strip().splitlines()[-1]
        assert last_line == f'partial_credit(report, cell_points("{grade_id}", default=report.max_score))', last_line
        assert "grade_quietly(" in grade_cell.source


def test_released_stubs_keep_the_starter_and_point_at_files():
    from dockyard.course import exercises

    for notebook_path in sorted((COURSE / "source").glob("*/*.ipynb")):
        exercise = exercises.load(notebook_path.stem)
        nb = nbformat.read(notebook_path, as_version=4)
        intro = nb.cells[0].source
        assert f"dockyard check {exercise.id} files" in intro
        assert f"dockyard check {exercise.id}\n" not in intro and f"dockyard check {exercise.id}`" not in intro.replace(
            f"plain `dockyard check {exercise.id}`", "")
        for cell in nb.cells:
            if not cell.metadata.get("nbgrader", {}).get("solution"):
                continue
            name = cell.source.splitlines()[0].split("/", 1)[1]
            starter = exercise.folder / name
            released = cell.source.split("### BEGIN SOLUTION")[0]  # what nbgrader's release keeps
            if starter.is_file():
                for line in starter.read_text().splitlines():
                    if line.strip():
                        assert line.strip() in released, f"{notebook_path.name}: the release drops {line!r}"


def test_lesson_links_resolve_from_the_source_and_release_folders():
    import re

    links = 0
    for notebook_path in sorted((COURSE / "source").glob("*/*.ipynb")):
        nb = nbformat.read(notebook_path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for target in re.findall(r"\]\(([^)\s]+)\)", cell.source):
                if "://" in target or target.startswith("#"):
                    continue
                path = target.split("#")[0]
                assert (notebook_path.parent / path).resolve().is_file(), f"{notebook_path.name}: {target} is broken"
                links += 1
    assert links >= 11, "every assignment's task names the notebook that teaches it, as a link"
