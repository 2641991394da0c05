"""The platform flags of `dockyard grade` and `dockyard batch`: every bad value is one line and exit 2,
before anything is graded; one real grading writes every platform's file."""

from __future__ import annotations

import base64
import csv
import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from tests.engine.test_cli import FIXTURES, run

GOOD = str(FIXTURES / "submissions" / "good")


def usage_error(result, needle: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 or result.stderr.startswith("usage:"), result.stderr


@pytest.mark.parametrize("flags, needle", [
    (["--gradescope", "gs.json", "--visibility", "sometimes"], "visibility must be one of"),
    (["--gradescope", "gs.json", "--visibility", "no-such-item=hidden"], "no rubric item 'no-such-item'"),
    (["--visibility", "hidden"], "apply to Gradescope's output"),
    (["--cooldown", "30m"], "apply to Gradescope's output"),
    (["--format", "gradescope=gs.json", "--cooldown", "soon"], "give a duration above 0"),
    (["--format", "moodle=x.csv"], "unknown format 'moodle'"),
    (["--format", "json", "--format", "junit"], "only one output can go to stdout"),
    (["--json", "--format", "gradescope=-"], "only one output can go to stdout"),
    (["--format", "junit=same.xml", "--codegrade", "same.xml"], "two outputs name the same file"),
    (["--format", "junit={tmp}"], "is a folder"),
    (["--format", "gradescope=gs.json", "--late", "10%/day"], "need the submission's time"),
    (["--format", "gradescope=gs.json", "--submission-metadata", "{meta}", "--late", "lots"], "--late: cannot read"),
    (["--format", "gradescope=gs.json", "--submission-metadata", "{meta}", "--due", "tomorrow"], "--due: cannot read"),
    (["--format", "prairielearn=pl.json", "--deadline", "601"], "PrairieLearn stops every job at 600 s"),
    (["--gradescope", "gs.json", "--submission-metadata", "/no/such/metadata.json"], "cannot read submission metadata"),
    (["--junit-flavour", "codegrade"], "--junit-flavour applies to --junit"),
    (["--junit", "j.xml", "--junit-flavour", "jenkins"], "invalid choice"),
    (["--prairielearn", "pl.json", "--deadline", "900"], "PrairieLearn stops every job at 600 s"),
    (["--deadline", "0"], "above 0"),
    (["--deadline", "soon"], "invalid float value"),
    (["--classroom", ""], "--classroom needs a file name"),
    (["--codegrade", "{tmp}"], "is a folder"),
])
def test_grade_flag_usage_errors(tmp_path, flags, needle):
    (tmp_path / "meta.json").write_text('{"created_at": "2026-03-02T01:00:00Z", "assignment": {}}')
    flags = [flag.replace("{tmp}", str(tmp_path)).replace("{meta}", str(tmp_path / "meta.json")) for flag in flags]
    usage_error(run("grade", "t-web", GOOD, *flags, DOCKER_HOST="unix:///nonexistent.sock"), needle)


def test_bad_metadata_is_a_usage_error(tmp_path):
    metadata = tmp_path / "submission_metadata.json"
    metadata.write_text('{"created_at": "not a date", "assignment": {"due_date": "2026-01-01T00:00:00Z"}}')
    usage_error(run("grade", "t-web", GOOD, "--gradescope", str(tmp_path / "r.json"),
                    "--submission-metadata", str(metadata)), "created_at is not a date")
    metadata.write_text("{")
    usage_error(run("grade", "t-web", GOOD, "--gradescope", str(tmp_path / "r.json"),
                    "--submission-metadata", str(metadata)), "is not JSON")


def test_batch_roster_usage_errors(tmp_path):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    usage_error(run("batch", "t-web", str(tmp_path / "class"), "--roster", str(tmp_path / "none.csv")),
                "cannot read roster")
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAnn,a@x\n")
    usage_error(run("batch", "t-web", str(tmp_path / "class"), "--roster", str(roster)), "no 'submission' column")
    usage_error(run("batch", "t-web", str(tmp_path / "class"), "--roster", str(roster), "--export", "blackboard"),
                "invalid choice")
    usage_error(run("batch", "t-web", str(tmp_path / "class"), "--export", "moodle"), "--export applies to --roster")
    assert not (tmp_path / "gradebook").exists()


def test_engine_failure_still_writes_ungradable_platform_files(tmp_path):
    """No engine: exit 3 (as before), and the platform's file says ungradable (no attempt lost), not zero."""
    pl = tmp_path / "pl.json"
    result = run("grade", "t-web", GOOD, "--prairielearn", str(pl), DOCKER_HOST="unix:///nonexistent.sock")
    assert result.returncode == 3 and "Traceback" not in result.stderr
    data = json.loads(pl.read_text())
    assert data["gradable"] is False and "score" not in data and data["format_errors"]


def test_grade_writes_every_platform_file(tmp_path, docker_client):
    out = {name: tmp_path / name for name in ("junit.xml", "cg.xml", "gs.json", "pl.json", "github_output")}
    metadata = tmp_path / "submission_metadata.json"
    metadata.write_text(json.dumps({"created_at": "2026-03-02T01:00:00+00:00",
                                    "assignment": {"due_date": "2026-03-02T00:00:00+00:00"}}))
    result = run("grade", "t-web", str(FIXTURES / "submissions" / "never-listens"), "--json",
                 "--junit", str(out["junit.xml"]), "--codegrade", str(out["cg.xml"]),
                 "--gradescope", str(out["gs.json"]), "--visibility", "after_due_date",
                 "--submission-metadata", str(metadata),
                 "--prairielearn", str(out["pl.json"]), "--classroom", str(out["github_output"]))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["score"], report["max_score"]) == (4.0, 7.0)
    assert ET.parse(out["junit.xml"]).getroot().find("testsuite/properties") is not None
    cg = ET.parse(out["cg.xml"]).getroot()
    assert cg.find(".//properties") is None and sum(float(c.get("weight")) for c in cg.iter("testcase")) == 7.0
    gs = json.loads(out["gs.json"].read_text())
    assert {t["visibility"] for t in gs["tests"]} == {"after_due_date"} and gs["extra_data"]["late"] is True
    hidden = tmp_path / "gs-hidden.json"  # the rubric marks cmd-exec-form after_due_date; ITEM= beats it
    result = run("grade", "t-web", str(FIXTURES / "submissions" / "never-listens"), "--gradescope", str(hidden),
                 "--visibility", "builds=hidden")
    assert result.returncode == 0, result.stderr
    by_tag = {t["tags"][0]: t["visibility"] for t in json.loads(hidden.read_text())["tests"]}
    assert by_tag == {"builds": "hidden", "workdir": "visible", "serves-hello": "visible",
                      "cmd-exec-form": "after_due_date"}
    pl = json.loads(out["pl.json"].read_text())
    assert pl["gradable"] is True and abs(pl["score"] - 4 / 7) < 1e-3
    name, _, value = out["github_output"].read_text().strip().partition("=")
    classroom = json.loads(base64.b64decode(value))
    assert name == "result" and classroom["max_score"] == 7.0
    assert sum(test["score"] for test in classroom["tests"]) == 4.0 and classroom["status"] == "fail"


def test_format_writes_each_output_to_its_destination(tmp_path, docker_client):
    """--format NAME[=DEST] is the one way to name outputs: one to stdout (here Gradescope's), the rest to files;
    each the same as its alias flag would write."""
    junit_file, pl_file, output = tmp_path / "r.xml", tmp_path / "pl" / "results.json", tmp_path / "github_output"
    result = run("grade", "t-web", str(FIXTURES / "submissions" / "never-listens"), "--format", "gradescope",
                 "--format", f"junit={junit_file}", "--format", f"prairielearn={pl_file}",
                 "--format", f"classroom={output}", "--format", f"json={tmp_path / 'report.json'}")
    assert result.returncode == 0, result.stderr
    gs = json.loads(result.stdout)  # stdout holds Gradescope's results.json and nothing else
    assert gs["score"] == 4.0 and len(gs["tests"]) == 4
    assert json.loads((tmp_path / "report.json").read_text())["max_score"] == 7.0
    assert ET.parse(junit_file).getroot().find("testsuite").get("failures") == "1"  # serves-hello, 3 points
    assert json.loads(pl_file.read_text())["gradable"] is True
    assert output.read_text().startswith("result=")


def test_a_missing_or_empty_submission_still_writes_the_platform_files(tmp_path):
    """With a platform output, bad input is the platform's "could not grade" (exit 1), never a usage error."""
    (tmp_path / "empty").mkdir()
    for folder, needle in ((tmp_path / "none", "no submission was found"), (tmp_path / "empty", "no files were")):
        pl, gs = tmp_path / f"{folder.name}-pl.json", tmp_path / f"{folder.name}-gs.json"
        result = run("grade", "t-web", str(folder), "--format", f"prairielearn={pl}", "--format", f"gradescope={gs}",
                     DOCKER_HOST="unix:///nonexistent.sock")
        assert result.returncode == 1 and needle in result.stderr and "Traceback" not in result.stderr
        assert json.loads(pl.read_text())["gradable"] is False and needle in json.loads(pl.read_text())["message"]
        assert needle in json.loads(gs.read_text())["output"] and json.loads(gs.read_text())["score"] == 0
    result = run("grade", "t-web", str(tmp_path / "none"), "--json")  # no platform: a usage error, as before
    assert result.returncode == 2 and "no such folder" in result.stderr


def test_batch_roster_writes_lms_csv(tmp_path, docker_client):
    submissions = tmp_path / "class"
    for student in ("ann", "bob"):
        shutil.copytree(FIXTURES / "submissions" / "no-dockerfile", submissions / student)
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,submission\n"
                      "Ann A,1,S1,ann,A,ann\nCy C,3,S3,cy,A,cy\n")
    result = run("batch", "t-web", str(submissions), "--out", str(tmp_path / "out"), "--roster", str(roster),
                 "--jobs", "2")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader((tmp_path / "out" / "lms.csv").open()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "t-web"]
    assert [row[0] for row in rows[1:]] == ["Ann A", "Cy C"]
    assert "without a submission" in result.stderr and "cy" in result.stderr
    assert "not on the roster" in result.stderr and "bob" in result.stderr
