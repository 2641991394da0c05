"""The platform templates in platforms/: the GitHub Classroom workflow wires dockyard's output to the official
reporter as its README requires; the Gradescope and PrairieLearn scripts write the platform's file whatever
happens (the host's forced command run here for real, an unreachable host giving a withheld or ungradable
result, never a zero)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ROOT / "platforms"
DOCKYARD = Path(sys.executable).with_name("dockyard")


def test_classroom_workflow_feeds_the_reporter():
    workflow = yaml.safe_load((PLATFORMS / "github-classroom/.github/workflows/classroom.yml").read_text())
    assert workflow["name"] == "Autograding Tests"  # the reporter records nothing under another name
    assert list(workflow["jobs"]) == ["run-autograding-tests"]
    job = workflow["jobs"]["run-autograding-tests"]
    steps = job["steps"]
    grade = next(step for step in steps if step.get("id") == "dockyard")
    assert '--classroom "$GITHUB_OUTPUT"' in grade["run"]
    reporter = next(step for step in steps if "autograding-grading-reporter" in step.get("uses", ""))
    assert reporter["with"]["runners"] == "dockyard" and reporter.get("if") == "always()"
    assert reporter["env"]["DOCKYARD_RESULTS"] == "${{ steps.dockyard.outputs.result }}"
    for step in steps:  # no expression expanded into a shell script (template injection)
        assert "${{" not in step.get("run", ""), step
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout")]
    assert all(step["with"].get("persist-credentials") is False for step in checkouts)
    assert any(step["with"].get("repository") for step in checkouts), "the rubric must come from the course"
    assert set(workflow["permissions"].values()) <= {"read", "write"} and "contents" in workflow["permissions"]


def test_prairielearn_timeout_fits_the_budget():
    info = json.loads((PLATFORMS / "prairielearn/info.json").read_text())["externalGradingOptions"]
    assert info["timeout"] <= 600
    script = (PLATFORMS / "prairielearn/run.sh").read_text()
    assert 'BUDGET_S="${BUDGET_S:-570}"' in script and 570 < info["timeout"]


def test_scripts_parse():
    for script in ("gradescope/setup.sh", "gradescope/run_autograder", "host/dockyard-ssh-grade",
                   "prairielearn/run.sh"):
        path = PLATFORMS / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        subprocess.run(["bash", "-n", str(path)], check=True)


def unreachable(tmp_path: Path) -> dict:
    return dict(os.environ, PATH=os.environ.get("PATH", ""), HOME=str(tmp_path))


def test_gradescope_unreachable_host_withholds_the_score(tmp_path):
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    (root / "submission" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (root / "source" / "config.env").write_text("DOCKYARD_HOST=nobody@127.0.0.1\nEXERCISE=01-first-image\n"
                                                "BUDGET_S=20\n")
    result = subprocess.run([str(PLATFORMS / "gradescope/run_autograder")], capture_output=True, text=True,
                            env=dict(unreachable(tmp_path), AUTOGRADER_ROOT=str(root)), timeout=60)
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["visibility"] == "hidden" and data["extra_data"]["retry"] is True, result.stderr
    assert "not your fault" in data["output"]


def test_prairielearn_unreachable_host_and_empty_submission_are_ungradable(tmp_path):
    root = tmp_path / "grade"
    (root / "serverFilesCourse" / "dockyard").mkdir(parents=True)
    (root / "serverFilesCourse" / "dockyard" / "config.env").write_text("DOCKYARD_HOST=nobody@127.0.0.1\nBUDGET_S=20\n")
    (root / "student").mkdir()
    run = lambda: subprocess.run([str(PLATFORMS / "prairielearn/run.sh"), "01-first-image"], capture_output=True,
                                 text=True, env=dict(unreachable(tmp_path), GRADE_ROOT=str(root)), timeout=60)
    run()
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["gradable"] is False and "no files were submitted" in data["format_errors"][0]
    (root / "student" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    run()
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["gradable"] is False and "did not answer" in data["format_errors"][0]


def upload(submission: Path, metadata: dict | None, name: str = "submission") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(submission, arcname=name)
        if metadata is not None:
            data = json.dumps(metadata).encode()
            info = tarfile.TarInfo("submission_metadata.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_host_forced_command_grades_and_refuses(tmp_path, docker_client):
    """The Docker host's side, for real: a Gradescope upload (with metadata) and a PrairieLearn upload give each
    platform's file; anything but the two commands is refused with nothing on stdout."""
    submission = tmp_path / "submission"
    shutil.copytree(ROOT / "exercises" / "01-first-image", submission)
    shutil.copytree(ROOT / "solutions" / "01-first-image", submission, dirs_exist_ok=True)
    metadata = {"created_at": "2026-03-02T01:00:00+00:00", "assignment": {"due_date": "2026-03-02T00:00:00+00:00"}}
    command = [str(PLATFORMS / "host/dockyard-ssh-grade")]
    env = dict(os.environ, DOCKYARD=str(DOCKYARD), SSH_ORIGINAL_COMMAND="grade 01-first-image after_due_date")
    result = subprocess.run(command, input=upload(submission, metadata), capture_output=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    data = json.loads(result.stdout)
    assert data["score"] == 10.0 and {t["visibility"] for t in data["tests"]} == {"after_due_date"}
    assert data["extra_data"]["late"] is True
    student = tmp_path / "student"
    submission.rename(student)
    result = subprocess.run(command, input=upload(student, None, "student"), capture_output=True, timeout=600,
                            env=dict(env, SSH_ORIGINAL_COMMAND="prairielearn 01-first-image"))
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["score"] == 1.0 and json.loads(result.stdout)["gradable"] is True
    for bad in ("rm -rf / ", "grade ../etc", "grade 01-first-image; id", "grade 01-first-image sometimes",
                "prairielearn 01-first-image hidden", "grade 01-first-image hidden extra", ""):
        refused = subprocess.run(command, input=b"", capture_output=True, timeout=30,
                                 env=dict(env, SSH_ORIGINAL_COMMAND=bad))
        assert refused.returncode == 2 and b"refused" in refused.stderr and refused.stdout == b"", bad
    garbage = subprocess.run(command, input=b"not a tarball", capture_output=True, timeout=30, env=env)
    assert garbage.returncode == 2 and b"not a tar.gz" in garbage.stderr and garbage.stdout == b""
