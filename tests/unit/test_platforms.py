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
import dataclasses
import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from dockyard.course import cooldown
from dockyard.errors import BadDuration, BadRoster, BadSubmissionMetadata, ExitStatus, UnknownChoice
from dockyard.report import classroom, gradescope, junit, lms, prairielearn
from dockyard.report.model import BuildPicture, Item, PictureStep, Report

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
    return Report.from_items("03-first-image", ITEMS, 4.234, run_id="abc123")


@pytest.fixture
def full() -> Report:
    return Report.from_items("03-first-image", [ITEMS[0], ITEMS[2]], 1.0)


@pytest.fixture
def error_report() -> Report:
    return Report.failed("03-first-image", "no Dockerfile in the submission", duration_s=0.4, max_score=10)


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
    text = prairielearn.to_json(Report.from_items("03-first-image", huge, 1.0))
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
        "leaderboard": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "value"],
            "properties": {"name": {"type": "string"}, "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}},
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
                           "title": "Exercise 03"},
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
    with pytest.raises(UnknownChoice) as refused:
        gradescope.to_dict(report, item_visibility={"builds": "sometimes"})
    assert refused.value.value == "sometimes" and "hidden" in refused.value.choices
    with pytest.raises(BadSubmissionMetadata) as refused:
        gradescope.lateness({"created_at": "yesterday", "assignment": {"due_date": None}})
    assert refused.value.field == "created_at" and refused.value.exit_status == ExitStatus.USAGE
    jsonschema.validate(gradescope.to_dict(report), GS_SCHEMA)
    marked = Report.from_items("03-first-image", [Item("a", "A", 1.0, 1.0, True, visibility="hidden"),
                                                  Item("b", "B", 1.0, 1.0, True, visibility="bogus"),
                                                  Item("c", "C", 1.0, 1.0, True)], 1.0)
    assert [t["visibility"] for t in gradescope.to_dict(marked, "after_published")["tests"]] == [
        "hidden", "after_published", "after_published"]  # the rubric's marker, unless it is no visibility
    assert [t["visibility"] for t in gradescope.to_dict(marked, item_visibility={"a": "visible"})["tests"]] == [
        "visible", "visible", "visible"]


def test_gradescope_leaderboard_from_the_build_where_the_exercise_asks(report):
    build = BuildPicture((PictureStep(1, "FROM python:3.11-slim", False, 0.0, 130_000_000),
                          PictureStep(2, "COPY app.py .", True, 0.1, 2_048)), seconds=12.34, size_bytes=130_002_048)
    built = dataclasses.replace(report, build=build)
    data = gradescope.to_dict(built, leaderboard_metrics=("image_size", "build_time"))
    jsonschema.validate(data, GS_SCHEMA)
    assert data["leaderboard"] == [{"name": "Image size (MB)", "value": 130.0, "order": "asc"},
                                   {"name": "Build time (s)", "value": 12.3, "order": "asc"}]
    assert "leaderboard" not in gradescope.to_dict(built), "only where the exercise asks for one"
    failed = dataclasses.replace(built, build=dataclasses.replace(build, failed_at=2, size_bytes=None))
    assert "leaderboard" not in gradescope.to_dict(failed, leaderboard_metrics=("image_size",)), "no image, no rank"
    with pytest.raises(UnknownChoice) as refused:
        gradescope.to_dict(built, leaderboard_metrics=("stars",))
    assert refused.value.value == "stars" and "image_size" in refused.value.choices


def test_every_exercise_leaderboard_names_known_metrics():
    from dockyard.course import exercises
    from tests.helpers import ROOT

    asked = {exercise_id: exercises.load(exercise_id, ROOT).leaderboard for exercise_id in exercises.ids(ROOT)}
    assert asked["07-multi-stage"] == ("image_size", "build_time")
    for metrics in asked.values():
        gradescope.check_leaderboard(metrics)


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
    with pytest.raises(UnknownChoice, match="JUnit flavour must be one of standard, codegrade"):
        junit.to_xml(report, "jenkins")


# -- JUnit against its XSD --------------------------------------------------------------------------------
JUNIT_XSD = xmlschema.XMLSchema(str(Path(__file__).parent / "schemas" / "junit.xsd"))
PARTIAL = Item("port", "The port is right", 1.5, 3.0, False, "the port is right but the path is not")


@pytest.fixture
def stopped() -> Report:
    """A grading killed after its first two items (Report.stopped): they count, the other two were not reached."""
    return Report.stopped("03-first-image", "the grading took longer than 60 s", ITEMS[:2], ITEMS, 61.0, 10.0)


def test_standard_junit_is_valid_against_the_junit_xsd(report, error_report, stopped):
    with_partial = Report.from_items("03-first-image", [*ITEMS, PARTIAL], 2.0)
    for each in (report, error_report, stopped, with_partial):
        JUNIT_XSD.validate(junit.to_xml(each))  # raises with the offending element and the XSD's rule
    case = ET.fromstring(junit.to_xml(report).encode()).find("testsuite/testcase")
    assert case.find("properties") is None and case.find("system-out").text == "points: 1/1"
    with pytest.raises(xmlschema.XMLSchemaValidationError):  # the XSD has teeth: testcase <properties> fail it
        JUNIT_XSD.validate(junit.to_xml(report).replace("<system-out>points: 1/1</system-out>",
                                                        "<properties><property name='p' value='1'/></properties>"))


def test_a_stopped_grading_is_right_in_every_output(stopped):
    """Finished items keep their points and outcomes; the rest are "not reached" (an error, never the learner's
    failure); the maximum is the rubric's in every platform's arithmetic."""
    assert (stopped.score, stopped.max_score, stopped.not_reached) == (1.0, 10.0, 2)
    suite = ET.fromstring(junit.to_xml(stopped).encode()).find("testsuite")
    outcomes = [(case[0].tag, case[0].get("type")) for case in suite.iter("testcase")]
    assert outcomes == [("system-out", None), ("failure", "RubricItemFailed"), ("error", "NotReached"),
                        ("error", "NotReached")]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "2")
    cases = codegrade_parse(junit.to_xml(stopped, "codegrade"))
    assert [c["state"] for c in cases] == ["success", "failure", "error", "error"]
    assert sum(c["weight"] for c in cases if c["state"] == "success") / sum(c["weight"] for c in cases) == 0.1
    data = classroom.decode(classroom.encode(stopped))
    assert [t["status"] for t in data["tests"]] == ["pass", "fail", "error", "error"] and data["status"] == "error"
    assert reporter({"DOCKYARD": classroom.encode(stopped)}) == {"totalPoints": 1.0, "maxPoints": 10.0, "failed": True}
    gs = gradescope.to_dict(stopped)
    jsonschema.validate(gs, GS_SCHEMA)
    assert gs["score"] == 1.0 and sum(t["max_score"] for t in gs["tests"]) == 10.0
    assert "2 check(s) were not reached" in gs["output"] and gs["extra_data"]["not_reached"] == 2
    pl = prairielearn.to_dict(stopped)
    jsonschema.validate(pl, PL_SCHEMA)
    assert pl["gradable"] is False and "2 of 4 checks finished" in pl["message"]


def test_gradescope_withholds_the_score_when_the_engine_failed(error_report):
    """An engine fault (retry): the learner sees the message but not a total (one hidden test hides it)."""
    engine_down = Report.failed("03-first-image", "no worker finished it within 540 s", max_score=10, retry=True)
    data = gradescope.to_dict(engine_down)
    jsonschema.validate(data, GS_SCHEMA)
    assert data["visibility"] == "visible" and [t["visibility"] for t in data["tests"]] == ["hidden"]
    assert "withheld" in data["output"] and "no worker finished it" in data["output"]
    learner_fault = gradescope.to_dict(error_report)  # no Dockerfile: a visible 0 with the reason, nothing hidden
    assert learner_fault["tests"] == [] and "no Dockerfile" in learner_fault["output"]


# -- Gradescope cooldown ------------------------------------------------------------------------------------
def test_cooldown_counts_only_graded_submissions():
    assert [cooldown.parse(text) for text in ("90s", "30m", "2h", "1d", "600")] == [90, 1800, 7200, 86400, 600]
    for bad in ("0", "-5m", "soon", "5 fortnights"):
        with pytest.raises(BadDuration) as refused:
            cooldown.parse(bad)
        assert refused.value.text == bad
    graded = {"submission_time": "2026-03-03T00:50:00Z", "score": 5.0, "results": {"tests": [{"name": "a"}]}}
    turned_away = {"submission_time": "2026-03-03T00:59:00Z", "results": {"extra_data": {"cooldown": True}}}
    metadata = {"created_at": "2026-03-03T01:00:00Z", "previous_submissions": [graded, turned_away, "junk"]}
    left, previous = cooldown.blocked(metadata, 1800)
    assert left == 1200 and previous is graded  # 30 min after 00:50, the turned-away 00:59 does not count
    assert cooldown.blocked(dict(metadata, created_at="2026-03-03T01:20:01Z"), 1800) is None
    assert cooldown.blocked({"created_at": "2026-03-03T01:00:00Z", "previous_submissions": []}, 1800) is None
    results = cooldown.gradescope_results(left, previous, 1800)
    jsonschema.validate(results, GS_SCHEMA)
    assert results["score"] == 5.0 and results["tests"] == graded["results"]["tests"]
    assert "Submit again in 20 min" in results["output"] and results["extra_data"]["cooldown"] is True


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
    export = lms.build(roster, reports, "03-first-image", "canvas")
    assert export.missing == ["zoe"] and export.unknown == ["mallory"]
    rows = list(csv.reader(io.StringIO(lms.to_csv(export))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "03-first-image"]
    assert rows[1] == ["Taylor, Ann", "101", "S-1", "ann.taylor", "Mon", "4"]
    assert rows[2][-1] == "4" and rows[3][-1] == "" and rows[4][-1] == ""  # error and missing: left empty
    assert rows[3][0].startswith("'=")  # no formula for a spreadsheet to run
    moodle = list(csv.reader(io.StringIO(lms.to_csv(lms.build(roster, reports, "03-first-image", "moodle")))))
    assert moodle[0] == ["Email address", "ID number", "Full name", "03-first-image", "Feedback"]
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
    with pytest.raises(BadRoster, match=message) as refused:
        lms.read_roster(path)
    assert refused.value.path == str(path) and refused.value.exit_status == ExitStatus.USAGE
    assert refused.value.line == (3 if message == "listed twice" else None)
    with pytest.raises(BadRoster, match="cannot read roster"):
        lms.read_roster(tmp_path / "none.csv")
    with pytest.raises(UnknownChoice, match="LMS format must be one of canvas, moodle"):
        lms.build([], {}, "03-first-image", "blackboard")
