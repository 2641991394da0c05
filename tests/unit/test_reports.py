"""Report renderers: JSON, terminal, JUnit, Gradescope, nbgrader, Markdown/HTML. No Docker."""

import io
import json
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from dockyard.errors import UnknownChoice
from dockyard.report import feedback, gradescope, junit, nbgrader, terminal
from dockyard.report.model import Item, Report

ITEMS = [
    Item("builds", "The image builds", 1.0, 1.0, True),
    Item("workdir", "WORKDIR is /app", 0.0, 2.0, False, "expected `WORKDIR /app`, found no WORKDIR",
         "04-dockerfile.ipynb#workdir"),
    Item("serves-hello", "The app answers on port 8000", 3.0, 3.0, True),
    Item("non-root", "The app does not run as root", 0.0, 4.0, False,
         "the app runs as root <script>alert('x')</script>; add `USER appuser`", "05-best-practices.ipynb#non-root-user"),
]


@pytest.fixture
def report() -> Report:
    return Report.from_items("03-first-image", ITEMS, 4.234, run_id="abc123")


@pytest.fixture
def error_report() -> Report:
    return Report.failed("03-first-image", "the Docker engine is not running", duration_s=0.4, max_score=10)


def test_json_round_trip_and_keys(report, error_report):
    data = json.loads(report.to_json())
    assert {"exercise", "score", "max_score", "status", "error", "duration_s", "items"} <= set(data)
    assert (data["score"], data["max_score"], data["status"], data["error"]) == (4.0, 10.0, "graded", None)
    assert set(data["items"][0]) >= {"id", "title", "points", "max_points", "passed", "feedback"}
    assert Report.from_dict(data) == report
    assert Report.from_dict(json.loads(error_report.to_json())) == error_report


def _render(report: Report, hints: bool = True) -> str:
    console = Console(record=True, width=120, force_terminal=True, file=io.StringIO())
    terminal.render(report, console, hints=hints)
    return console.export_text()


def test_terminal_table(report):
    text = _render(report)
    assert "03-first-image" in text and "4/10" in text
    assert text.count("✓") == 2 and text.count("✗") >= 2
    assert "expected `WORKDIR /app`, found no WORKDIR" in text
    assert "<script>alert('x')</script>" in text  # shown as text, not interpreted as markup
    assert "04-dockerfile.ipynb#workdir" in text and "0/2" in text
    assert "04-dockerfile.ipynb#workdir" not in _render(report, hints=False)


def test_terminal_error_and_full_score(error_report):
    text = _render(error_report)
    assert "could not grade" in text and "the Docker engine is not running" in text
    full = Report.from_items("03-first-image", [ITEMS[0], ITEMS[2]], 1.0)
    assert "Well done" in _render(full) and "✗" not in _render(full)
    assert "Docker engine" in terminal.to_text(error_report)


def test_junit_counts(report, tmp_path):
    root = ET.fromstring(junit.to_xml(report).encode())
    suite = root.find("testsuite")
    assert root.tag == "testsuites" and len(root.findall("testsuite")) == 1
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "0")
    cases = suite.findall("testcase")
    assert len(cases) == 4 and sum(1 for case in cases if case.find("failure") is not None) == 2
    failure = cases[1].find("failure")
    assert failure.get("message") == "expected `WORKDIR /app`, found no WORKDIR"
    assert "04-dockerfile.ipynb#workdir" in failure.text
    assert "<script>" in cases[3].find("failure").text  # escaped in XML, intact once parsed
    path = junit.write(report, tmp_path / "out" / "junit.xml")
    assert ET.parse(path).getroot().find("testsuite").get("tests") == "4"


def test_junit_error_report(error_report):
    suite = ET.fromstring(junit.to_xml(error_report).encode()).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "1")
    assert "engine is not running" in suite.find("testcase/error").get("message")


def test_junit_survives_control_characters():
    noisy = Report.from_items("x", [Item("a", "A", 0, 1, False, "log: \x1b[31mred\x1b[0m \x00 end")], 0.1)
    failure = ET.fromstring(junit.to_xml(noisy).encode()).find("testsuite/testcase/failure")
    assert "red" in failure.text and "end" in failure.text


def test_gradescope_format(report, error_report, tmp_path):
    data = gradescope.to_dict(report)
    assert {"score", "execution_time", "output", "tests"} <= set(data)
    assert isinstance(data["execution_time"], int) and data["execution_time"] == 5
    assert data["score"] == sum(test["score"] for test in data["tests"]) == 4.0
    assert sum(test["max_score"] for test in data["tests"]) == 10.0
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "status", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed") and test["visibility"] == "visible"
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "passed", "failed"]
    assert "WORKDIR /app" in data["tests"][1]["output"] and data["tests"][0]["output"] == ""
    path = gradescope.write(report, tmp_path / "results" / "results.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(data))
    failed = gradescope.to_dict(error_report)
    assert failed["score"] == 0 and failed["tests"] == [] and "engine is not running" in failed["output"]
    with pytest.raises(UnknownChoice, match="visibility must be one of"):
        gradescope.to_dict(report, visibility="public")


def test_partial_credit_math(report):
    assert nbgrader.partial_credit(report, 10) == 4.0
    assert nbgrader.partial_credit(report, 3) == 1.2
    assert nbgrader.partial_credit(report, 7) == 2.8
    one_third = Report.from_items("x", [Item("a", "A", 1, 1, True), Item("b", "B", 0, 2, False, "no")], 0)
    assert nbgrader.partial_credit(one_third, 10) == 3.33
    full = Report.from_items("x", [Item("a", "A", 1 / 3, 1 / 3, True), Item("b", "B", 2 / 3, 2 / 3, True)], 0)
    assert nbgrader.partial_credit(full, 7) == 7 and isinstance(nbgrader.partial_credit(full, 7), float)


def test_partial_credit_raises_on_zero_and_error(error_report):
    zero = Report.from_items("x", [Item("a", "Builds", 0, 2, False, "the build failed: no such file app.py",
                                        "04-dockerfile.ipynb#copy")], 0)
    with pytest.raises(AssertionError) as caught:
        nbgrader.partial_credit(zero, 5)
    assert isinstance(caught.value, nbgrader.NoCredit)
    assert "the build failed: no such file app.py" in str(caught.value) and "04-dockerfile.ipynb#copy" in str(caught.value)
    with pytest.raises(nbgrader.NoCredit, match="engine is not running"):
        nbgrader.partial_credit(error_report, 5)
    with pytest.raises(nbgrader.NoCredit):
        nbgrader.partial_credit(Report.from_items("x", [], 0), 5)


def test_markdown_feedback(report, error_report):
    text = feedback.markdown(report, student="ada")
    assert text.startswith("# 03-first-image — ada") and "**Score: 4/10**" in text
    assert "| ✗ | WORKDIR is /app | 0/2 | expected `WORKDIR /app`, found no WORKDIR" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "Grading could not run" in feedback.markdown(error_report)


def test_html_feedback_escapes_learner_text(report, error_report):
    page = feedback.html(report, student="<b>ada</b>")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;ada&lt;/b&gt;" in page and "<b>ada</b>" not in page
    assert "expected `WORKDIR /app`, found no WORKDIR" in page and "04-dockerfile.ipynb#workdir" in page
    assert "http://" not in page and "https://" not in page  # self-contained: loads nothing
    assert "Grading could not run" in feedback.html(error_report)


def test_markdown_feedback_shows_learner_markdown_as_text():
    from dockyard.report.model import Item

    evil = "![t](http://evil.example/t.png) [x](javascript:alert(1)) **bold** ~~gone~~ \\[ `![in](code)`"
    text = feedback.markdown(Report.from_items("x", [Item("a", "A", 0, 1, False, evil)], 1.0))
    assert "\\!\\[t\\](http://evil.example/t.png) \\[x\\](javascript:alert(1)) \\*\\*bold\\*\\* \\~\\~gone\\~\\~ \\\\\\[" in text
    assert "`![in](code)`" in text  # a code span shows what it holds as typed
