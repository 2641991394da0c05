"""Platform renderers against each platform's published contract. No Docker.

- GitHub Classroom: the reporter's own arithmetic (classroom-resources/autograding-grading-reporter
  src/main.js + src/notify-classroom.js) reproduced: base64 → JSON, totalPoints = sum of tests' score,
  maxPoints = sum of runners' max_score, job fails on status fail|error.
- PrairieLearn: a JSON Schema written from docs/externalGrading.md ("Grading results").
- Gradescope: a JSON Schema written from gradescope/autograder_samples docs/specs.md.
- CodeGrade: its JUnit parser's rules (CodeGra.de cg_junit/__init__.py, src/utils/junit.ts) reproduced.
- LMS: the Canvas and Moodle import columns.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from dockyard.report import classroom, gradescope, junit, lms, prairielearn
from dockyard.report.model import Item, Report

HOSTILE = "</failure><x>&amp; ]]> \"quoted\" 'single' <script>alert(1)</script> \x1b[31m\u2603 \x00\x07"
ITEMS = [
    Item("builds", "The image builds", 1.0, 1.0, True),
    Item("workdir", "WORKDIR is /app", 0.0, 2.0, False, "expected `WORKDIR /app`, found " + HOSTILE,
         "04-dockerfile.ipynb#workdir"),
    Item("serves-hello", "The app answers on port 8000", 3.0, 3.0, True),
    Item("non-root", "The app does not run as root", 0.0, 4.0, False, "runs as root; add `USER appuser`"),
]


@pytest.fixture
def report() -> Report:
    return Report.from_items("01-first-image", ITEMS, 4.234, run_id="abc123")


@pytest.fixture
def full() -> Report:
    return Report.from_items("01-first-image", [ITEMS[0], ITEMS[2]], 1.0)


@pytest.fixture
def error_report() -> Report:
    return Report.failed("01-first-image", "no Dockerfile in the submission", duration_s=0.4, max_score=10)


# -- GitHub Classroom -----------------------------------------------------------------------------------
def reporter(runners: dict[str, str]) -> dict:
    """The grading reporter, step by step: env <RUNNER>_RESULTS → decode → sum → notice → pass/fail."""
    results = [json.loads(base64.b64decode(value).decode("utf-8")) for value in runners.values()]
    total = maximum = 0
    for result in results:
        if not result["max_score"]:
            continue
        maximum += result["max_score"]
        total += sum(test["score"] for test in result["tests"])
    failed = any(result["status"] == "fail" for result in results) or any(r["status"] == "error" for r in results)
    return {"totalPoints": total, "maxPoints": maximum, "failed": failed}


def test_classroom_result_is_what_the_reporter_sums(report, full, error_report):
    data = classroom.decode(classroom.encode(report))
    assert set(data) == {"version", "status", "max_score", "tests"} and data["version"] == 1
    assert data["status"] == "fail" and data["max_score"] == 10
    for test in data["tests"]:
        assert set(test) == {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"}
        assert test["status"] in ("pass", "fail", "error")
    assert reporter({"DOCKYARD": classroom.encode(report)}) == {"totalPoints": 4, "maxPoints": 10, "failed": True}
    assert reporter({"DOCKYARD": classroom.encode(full)}) == {"totalPoints": 4, "maxPoints": 4, "failed": False}
    broken = classroom.decode(classroom.encode(error_report))
    assert broken["status"] == "error" and broken["tests"][0]["status"] == "error"
    assert "no Dockerfile" in broken["tests"][0]["message"]
    assert reporter({"A": classroom.encode(error_report)}) == {"totalPoints": 0, "maxPoints": 10, "failed": True}


def test_classroom_output_line_survives_learner_text(report, tmp_path):
    target = tmp_path / "github_output"
    target.write_text("earlier=1\n")
    classroom.write(report, target)
    lines = target.read_text().splitlines()
    assert lines[0] == "earlier=1" and len(lines) == 2  # appended, one line: learner text cannot add outputs
    name, _, value = lines[1].partition("=")
    assert name == "result" and set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    workdir = next(t for t in classroom.decode(value)["tests"] if t["test_code"] == "workdir")
    assert HOSTILE in workdir["message"]  # the text survives JSON + base64 unchanged


# -- PrairieLearn -----------------------------------------------------------------------------------------
PL_TEST = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "description": {"type": "string"},
    "points": {"type": "number", "minimum": 0}, "max_points": {"type": "number", "minimum": 0},
    "message": {"type": "string"}, "output": {"type": "string"}, "images": {"type": "array"}}}
PL_SCHEMA = {
    "type": "object",
    "properties": {
        "gradable": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0.0, "maximum": 1.0},
        "format_errors": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "message": {"type": "string"}, "output": {"type": "string"}, "images": {"type": "array"},
        "tests": {"type": "array", "items": PL_TEST},
    },
    # "If the submission is gradable, the result only has one mandatory field: score"
    "if": {"not": {"properties": {"gradable": {"const": False}}, "required": ["gradable"]}},
    "then": {"required": ["score"]},
}


def test_prairielearn_results(report, full, error_report, tmp_path):
    data = prairielearn.to_dict(report)
    jsonschema.validate(data, PL_SCHEMA)
    assert data["gradable"] is True and data["score"] == 0.4
    assert sum(t["points"] for t in data["tests"]) == report.score
    assert sum(t["max_points"] for t in data["tests"]) == report.max_score
    assert prairielearn.to_dict(full)["score"] == 1.0
    ungradable = prairielearn.to_dict(error_report)
    jsonschema.validate(ungradable, PL_SCHEMA)
    assert ungradable["gradable"] is False and "score" not in ungradable
    assert "no Dockerfile" in ungradable["format_errors"][0]
    path = prairielearn.write(report, tmp_path / "grade" / "results" / "results.json")  # results/ is made
    assert json.loads(path.read_text()) == json.loads(prairielearn.to_json(report))
    assert HOSTILE in json.loads(path.read_text())["tests"][1]["message"]


def test_prairielearn_stays_under_1_mb():
    huge = [Item(f"item-{n}", f"item {n}", 0.0, 1.0, False, "x" * 50_000) for n in range(40)]
    text = prairielearn.to_json(Report.from_items("01-first-image", huge, 1.0))
    assert len(text.encode()) < prairielearn.MAX_BYTES
    assert sum(t["max_points"] for t in json.loads(text)["tests"]) == 40


def test_prairielearn_budget_fits_the_cap():
    assert prairielearn.BUDGET_S < prairielearn.TIMEOUT_CAP_S == 600


# -- Gradescope -------------------------------------------------------------------------------------------
VIS = {"enum": list(gradescope.VISIBILITIES)}
FORMATS = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
GS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"}, "execution_time": {"type": "number"}, "output": {"type": "string"},
        "output_format": FORMATS, "test_output_format": FORMATS, "test_name_format": FORMATS,
        "visibility": VIS, "stdout_visibility": VIS, "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "score": {"type": "number"}, "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"}, "name_format": FORMATS,
                "number": {"type": "string"}, "output": {"type": "string"}, "output_format": FORMATS,
                "tags": {"type": "array", "items": {"type": "string"}}, "visibility": VIS,
                "extra_data": {"type": "object"}}}},
    },
    "anyOf": [{"required": ["score"]}, {"required": ["tests"]}],
}
METADATA = {"id": 1, "created_at": "2026-03-02T10:30:00.000000-08:00",
            "assignment": {"due_date": "2026-03-01T23:59:00.000000-08:00", "late_due_date": None,
                           "title": "Exercise 01"},
            "users": [{"email": "ann@example.edu", "id": 7, "name": "Ann"}], "previous_submissions": [{}, {}]}


def test_gradescope_visibility_per_item_and_metadata(report):
    data = gradescope.to_dict(report, "after_due_date", {"non-root": "hidden"}, METADATA)
    jsonschema.validate(data, GS_SCHEMA)
    by_tag = {test["tags"][0]: test["visibility"] for test in data["tests"]}
    assert by_tag == {"builds": "after_due_date", "workdir": "after_due_date", "serves-hello": "after_due_date",
                      "non-root": "hidden"}
    assert data["visibility"] == "after_due_date"
    assert data["extra_data"]["late"] is True and data["extra_data"]["late_by_s"] == 10 * 3600 + 31 * 60
    assert data["extra_data"]["previous_submissions"] == 2
    assert "Submitted late: 10 h 31 min after the due date." in data["output"]
    on_time = dict(METADATA, created_at="2026-03-01T20:00:00-08:00")
    assert gradescope.to_dict(report, metadata=on_time)["extra_data"]["late"] is False
    assert "late" not in gradescope.to_dict(report, metadata=on_time)["output"].lower()
    with pytest.raises(ValueError):
        gradescope.to_dict(report, item_visibility={"builds": "sometimes"})
    with pytest.raises(ValueError):
        gradescope.lateness({"created_at": "yesterday", "assignment": {"due_date": None}})
    jsonschema.validate(gradescope.to_dict(report), GS_SCHEMA)
    marked = Report.from_items("01-first-image", [Item("a", "A", 1.0, 1.0, True, visibility="hidden"),
                                                  Item("b", "B", 1.0, 1.0, True, visibility="bogus"),
                                                  Item("c", "C", 1.0, 1.0, True)], 1.0)
    assert [t["visibility"] for t in gradescope.to_dict(marked, "after_published")["tests"]] == [
        "hidden", "after_published", "after_published"]  # the rubric's marker, unless it is no visibility
    assert [t["visibility"] for t in gradescope.to_dict(marked, item_visibility={"a": "visible"})["tests"]] == [
        "visible", "visible", "visible"]


# -- CodeGrade --------------------------------------------------------------------------------------------
def codegrade_parse(xml_text: str) -> list[dict]:
    """CodeGrade's rules: root testsuites|testsuite; each child of a suite must be a testcase with name and
    time; failures/errors attributes must match the cases; a case's first child is its outcome (no child:
    success); weight read from the testcase (default 1.0)."""
    root = ET.fromstring(xml_text.encode())
    suites = list(root) if root.tag == "testsuites" else [root]
    assert root.tag in ("testsuites", "testsuite")
    cases = []
    for suite in suites:
        assert suite.tag == "testsuite"
        assert {"name", "errors", "failures", "tests"} <= set(suite.attrib)
        found = []
        for child in suite:
            assert child.tag == "testcase", f"Unknown tag encountered, got {child.tag}, expected \"testcase\""
            assert "name" in child.attrib
            float(child.attrib["time"])
            outcome = child[0].tag if len(child) else "success"
            assert outcome in ("success", "failure", "error", "skipped"), outcome
            found.append({"name": child.attrib["name"], "state": outcome,
                          "weight": float(child.attrib.get("weight", 1.0))})
        assert sum(c["state"] == "failure" for c in found) == int(suite.attrib["failures"])
        assert sum(c["state"] == "error" for c in found) == int(suite.attrib["errors"])
        assert len(found) == int(suite.attrib["tests"])
        cases += found
    return cases


def test_codegrade_flavour_parses_and_weighs(report, error_report):
    cases = codegrade_parse(junit.to_xml(report, "codegrade"))
    assert [c["state"] for c in cases] == ["success", "failure", "success", "failure"]
    assert [c["weight"] for c in cases] == [1.0, 2.0, 3.0, 4.0]
    earned = sum(c["weight"] for c in cases if c["state"] == "success")
    assert earned / sum(c["weight"] for c in cases) == report.fraction
    assert [c["state"] for c in codegrade_parse(junit.to_xml(error_report, "codegrade"))] == ["error"]
    assert "<properties" not in junit.to_xml(report, "codegrade")
    failure = ET.fromstring(junit.to_xml(report, "codegrade").encode()).find("testsuite/testcase/failure")
    assert "</failure><x>&amp; ]]>" in failure.text and "\x00" not in failure.text  # escaped, control chars gone


def test_standard_junit_is_what_codegrade_rejects(report):
    with pytest.raises(AssertionError, match="expected \"testcase\""):
        codegrade_parse(junit.to_xml(report))  # the default keeps its properties for other CI readers
    with pytest.raises(ValueError):
        junit.to_xml(report, "jenkins")


# -- LMS ----------------------------------------------------------------------------------------------------
ROSTER = """\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Email address,submission
"Taylor, Ann",101,S-1,ann.taylor,Mon,ann@example.edu,ann.taylor
Bob Lee,102,S-2,blee,Tue,bob@example.edu,blee
=cmd|' /C calc'!A0,103,S-3,eve,Tue,eve@example.edu,eve
Zoe,104,S-4,zoe,Tue,zoe@example.edu,zoe
"""


def test_lms_canvas_and_moodle(tmp_path, report, full, error_report):
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(ROSTER, encoding="utf-8")
    roster = lms.read_roster(roster_file)
    reports = {"ann.taylor": report, "blee": full, "eve": error_report, "mallory": full}
    export = lms.build(roster, reports, "01-first-image", "canvas")
    assert export.missing == ["zoe"] and export.unknown == ["mallory"]
    rows = list(csv.reader(io.StringIO(lms.to_csv(export))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01-first-image"]
    assert rows[1] == ["Taylor, Ann", "101", "S-1", "ann.taylor", "Mon", "4"]
    assert rows[2][-1] == "4" and rows[3][-1] == "" and rows[4][-1] == ""  # error and missing: left empty
    assert rows[3][0].startswith("'=")  # no formula for a spreadsheet to run
    moodle = list(csv.reader(io.StringIO(lms.to_csv(lms.build(roster, reports, "01-first-image", "moodle")))))
    assert moodle[0] == ["Email address", "ID number", "Full name", "01-first-image", "Feedback"]
    assert moodle[1][:4] == ["ann@example.edu", "", "Taylor, Ann", "4"] and "WORKDIR is /app" in moodle[1][4]
    assert moodle[4][3:] == ["", "no submission"]
    path = lms.write(export, tmp_path / "out" / "lms.csv")
    assert path.read_text().startswith("Student,ID")


@pytest.mark.parametrize("text, message", [
    ("name,email\nAnn,a@x\n", "no 'submission' column"),
    ("submission,ID\n", "lists no students"),
    ("submission,ID\nann,1\nann,2\n", "listed twice"),
])
def test_lms_roster_errors(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        lms.read_roster(path)
    with pytest.raises(ValueError, match="cannot read roster"):
        lms.read_roster(tmp_path / "none.csv")
