"""`dockyard.partial`: one item worth part of its points, with its own feedback, in every renderer. No Docker."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from dockyard.errors import UsageError
from dockyard.report import classroom, feedback, gradescope, junit, nbgrader, prairielearn, terminal
from dockyard.report.model import Item, Report
from tests.unit.test_platforms import codegrade_parse, reporter

ITEMS = [
    Item("builds", "The image builds", 1.0, 1.0, True),
    Item("health", "The health check asks /health on 8000", 1.5, 3.0, False,
         "the port is right but the path is not <b>", "16-non-root-healthcheck.ipynb#HEALTHCHECK", outcome="partial"),
    Item("non-root", "The app does not run as root", 0.0, 2.0, False, "runs as root"),
]
REPORT = Report.from_items("16-non-root-healthcheck", ITEMS, 2.0)


def test_the_report_counts_the_fraction():
    assert REPORT.score == 2.5 and REPORT.max_score == 6.0
    health = REPORT.items[1]
    assert health.partial and not health.passed and health.mark == "◐"
    data = json.loads(REPORT.to_json())
    assert data["items"][1]["outcome"] == "partial" and data["items"][1]["points"] == 1.5
    assert Report.from_dict(data) == REPORT


def test_terminal_shows_the_partial_mark_points_and_feedback():
    text = terminal.to_text(REPORT)
    line = next(line for line in text.splitlines() if "health check" in line)
    assert line.lstrip().startswith("◐") and "1.5/3" in line
    assert "the port is right but the path is not" in text and "Fix the ✗ and ◐ items" in text


def test_junit_standard_and_codegrade_weights():
    failure = ET.fromstring(junit.to_xml(REPORT).encode()).findall("testsuite/testcase")[1].find("failure")
    assert "partial credit: 1.5/3 points" in failure.text
    cases = codegrade_parse(junit.to_xml(REPORT, "codegrade"))
    assert [c["state"] for c in cases] == ["success", "success", "failure", "failure"]
    assert [c["weight"] for c in cases] == [1.0, 1.5, 1.5, 2.0]
    earned = sum(c["weight"] for c in cases if c["state"] == "success")
    assert earned / sum(c["weight"] for c in cases) == REPORT.fraction


def test_gradescope_scores_the_fraction():
    test = gradescope.to_dict(REPORT)["tests"][1]
    assert test["score"] == 1.5 and test["max_score"] == 3.0 and test["status"] == "failed"
    assert test["output"].startswith("Partial credit: 1.5/3 points. the port is right")
    assert gradescope.to_dict(REPORT)["score"] == 2.5


def test_prairielearn_points_and_message():
    data = prairielearn.to_dict(REPORT)
    assert data["tests"][1]["points"] == 1.5 and data["tests"][1]["max_points"] == 3.0
    assert "the path is not" in data["tests"][1]["message"] and data["score"] == round(2.5 / 6, 4)


def test_classroom_total_is_the_sum_of_scores():
    totals = reporter({"DOCKYARD": classroom.encode(REPORT)})
    assert totals["totalPoints"] == 2.5 and totals["maxPoints"] == 6.0
    assert classroom.to_dict(REPORT)["tests"][1]["score"] == 1.5


def test_nbgrader_cell_gets_partial_credit():
    assert nbgrader.partial_credit(REPORT, 12) == 5.0


def test_feedback_pages_show_the_partial_mark_escaped():
    md = feedback.markdown(REPORT, student="ann")
    assert "| ◐ | The health check asks /health on 8000 | 1.5/3 |" in md and "&lt;b&gt;" in md
    page = feedback.html(REPORT, student="ann")
    assert '<tr class="partial"><td class="mark">◐</td>' in page and "<b>" not in page.split("<body>")[1]


def test_a_stopped_grading_shows_its_finished_items_everywhere():
    planned = [Item(i.id, i.title, 0, i.max_points, False, outcome="not_reached") for i in ITEMS]
    stopped = Report.stopped("16-non-root-healthcheck", "grading took longer than 60 s and was stopped",
                             list(ITEMS[:2]), planned, 60.0, 0.0)
    assert stopped.score == 2.5 and stopped.max_score == 6.0 and stopped.status == "error"
    text = terminal.to_text(stopped)
    assert "could not grade" in text and "2.5/6 points from the finished checks" in text and "–" in text
    assert "not reached: grading took longer" in feedback.markdown(stopped)
    assert "(1 not reached)" in feedback.html(stopped)
    assert gradescope.to_dict(stopped)["score"] == 2.5


def test_a_grade_cell_outside_its_notebook_needs_a_default(tmp_path, monkeypatch):
    """cell_points reads the cell's points from the notebook; with no such cell and no default, a usage error."""
    from dockyard.rubric.gradecell import cell_points

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    cell = {"cell_type": "code", "source": "", "metadata": {"nbgrader": {"grade_id": "check-a", "grade": True,
                                                                           "points": 4}}}
    (tmp_path / "a.ipynb").write_text(json.dumps({"cells": [cell]}))
    assert cell_points("check-a") == 4.0 and cell_points("check-b", default=2) == 2.0
    with pytest.raises(UsageError, match="no grade cell 'check-b'") as refused:
        cell_points("check-b")
    assert "default=" in refused.value.one_line()


@pytest.mark.parametrize("exitcode, gist, expected", [
    (-9, ".", "the grader stopped without a report (killed by SIGKILL)"),
    (-15, "..F [ 60%]", "the grader stopped without a report (killed by SIGTERM)"),
    (-200, "", "the grader stopped without a report (killed by signal 200)"),
    (9, "", "the grader stopped without a report (exit 9)"),
    (1, ".. | E   ImportError: no module named x", "the grader stopped without a report (exit 1): "
                                                   "E   ImportError: no module named x"),
])
def test_a_child_that_died_says_how_and_not_its_progress_dots(exitcode, gist, expected):
    from dockyard.rubric.runner import died_reason

    assert died_reason(exitcode, gist) == expected
