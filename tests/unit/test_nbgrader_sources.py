"""The nbgrader course as files: generated from the exercises without drift, one grade cell each."""

from __future__ import annotations

import subprocess

import nbformat

from tests.helpers import ROOT

COURSE = ROOT / "nbgrader"


def test_source_notebooks_match_the_exercises():
    """nbgrader/source/ is generated from exercises/, solutions/ and the rubrics' points: it must not drift."""
    result = subprocess.run([str(ROOT / "scripts" / "make-nbgrader-source"), "--check"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr or result.stdout


def test_every_assignment_has_solution_regions_and_a_grade_cell():
    for notebook_path in sorted((COURSE / "source").glob("*/*.ipynb")):
        nb = nbformat.read(notebook_path, as_version=4)
        metas = [cell.metadata.get("nbgrader", {}) for cell in nb.cells]
        solutions = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")]
        assert solutions and all("### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source for c in solutions)
        grades = [meta for meta in metas if meta.get("grade")]
        assert len(grades) == 1 and grades[0]["points"] > 0, notebook_path.name
        grade_cell = next(cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade"))
        last_line = grade_cell.source.strip().splitlines()[-1]
        assert last_line.startswith("partial_credit(report, "), last_line
