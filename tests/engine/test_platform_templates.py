"""The platform templates in platforms/ and `dockyard classroom`: the GitHub Classroom workflow wires
dockyard's output to the official reporter as its README requires, passes GitHub's workflow schema
(check-jsonschema) and zizmor with no finding, and its grading step, run here as the runner runs it (its
stripped environment, the default socket), gives what the reporter sums. The Gradescope and PrairieLearn
bundles are run end to end in test_platform_bundles.py."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ROOT / "platforms"
BIN = Path(sys.executable).parent
DOCKYARD = BIN / "dockyard"
TEMPLATE_WORKFLOW = PLATFORMS / "github-classroom/.github/workflows/classroom.yml"


def check_workflow(path: Path) -> None:
    """Both real checkers: GitHub's workflow schema, and zizmor's security audits (pedantic: every finding)."""
    schema = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audit = subprocess.run([str(BIN / "zizmor"), "--offline", "--persona", "pedantic", "--no-progress", str(path)],
                           capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0 and "No findings" in audit.stdout, audit.stdout + audit.stderr


def test_classroom_workflow_feeds_the_reporter():
    workflow = yaml.safe_load((PLATFORMS / "github-classroom/.github/workflows/classroom.yml").read_text())
    assert workflow["name"] == "Autograding Tests"  # the reporter records nothing under another name
    assert list(workflow["jobs"]) == ["run-autograding-tests"]
    job = workflow["jobs"]["run-autograding-tests"]
    steps = job["steps"]
    grade = next(step for step in steps if step.get("id") == "dockyard")
    assert '--format classroom="$GITHUB_OUTPUT"' in grade["run"]
    reporter = next(step for step in steps if "autograding-grading-reporter" in step.get("uses", ""))
    assert reporter["with"]["runners"] == "dockyard" and reporter.get("if") == "always()"
    assert reporter["env"]["DOCKYARD_RESULTS"] == "${{ steps.dockyard.outputs.result }}"
    for step in steps:  # no expression expanded into a shell script (template injection)
        assert "${{" not in step.get("run", ""), step
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout")]
    assert all(step["with"].get("persist-credentials") is False for step in checkouts)
    assert any(step["with"].get("repository") for step in checkouts), "the rubric must come from the course"
    assert workflow["permissions"] == {}  # nothing at the workflow level; the job asks for what it needs
    assert set(job["permissions"].values()) <= {"read", "write"} and job["permissions"]["contents"] == "read"
    check_workflow(TEMPLATE_WORKFLOW)


def test_prairielearn_timeout_fits_the_budget():
    info = json.loads((PLATFORMS / "prairielearn/info.json").read_text())["externalGradingOptions"]
    assert info["timeout"] <= 600
    script = (PLATFORMS / "prairielearn/run.sh").read_text()
    assert 'BUDGET_S="${BUDGET_S:-540}"' in script and '+ 20' in script and 540 + 20 < info["timeout"]


def test_scripts_parse():
    for script in ("gradescope/setup.sh", "gradescope/run_autograder", "prairielearn/run.sh"):
        path = PLATFORMS / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        subprocess.run(["bash", "-n", str(path)], check=True)


def classroom_template(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DOCKYARD), "classroom", "03-first-image", str(tmp_path / "template"), *flags],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("flags, needle", [
    (["--course-repository", "not a repo", "--course-ref", "v1"], "not a GitHub repository"),
    (["--course-repository", "org/dockyard", "--course-ref", "v1; rm -rf /"], "not a tag, branch or commit"),
    (["--course-repository", "org/dockyard\n  evil: 1", "--course-ref", "v1"], "not a GitHub repository"),
])
def test_classroom_refuses_values_that_would_break_the_workflow(tmp_path, flags, needle):
    result = classroom_template(tmp_path, *flags)
    assert result.returncode == 2 and needle in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "template").exists(), "nothing is written before every value is checked"


def test_classroom_template_repository_validates_and_its_grading_step_runs_here(tmp_path, docker_client, no_leaks):
    result = classroom_template(tmp_path, "--course-repository", "https://github.com/your-org/dockyard.git",
                                "--course-ref", "v0.2.0")
    assert result.returncode == 0, result.stderr
    template = tmp_path / "template"
    assert sorted(str(p.relative_to(template)) for p in template.rglob("*") if p.is_file()) == [
        ".github/workflows/classroom.yml", "Dockerfile", "README.md", "app.py"]
    assert (template / "Dockerfile").read_text() == (ROOT / "exercises/03-first-image/Dockerfile").read_text()
    assert "How this assignment is graded" in (template / "README.md").read_text()
    workflow_file = template / ".github/workflows/classroom.yml"
    check_workflow(workflow_file)
    workflow = yaml.safe_load(workflow_file.read_text())
    job = workflow["jobs"]["run-autograding-tests"]
    assert job["env"] == {"EXERCISE": "03-first-image", "COURSE_REPOSITORY": "your-org/dockyard",
                          "COURSE_REF": "v0.2.0", "DOCKYARD_RESIDENT": "0"}
    grade = next(step for step in job["steps"] if step.get("id") == "dockyard")
    # the runner: the learner's push checked out in submission/ (here: the template with the solution's files),
    # the course in course/, Dockyard in $RUNNER_TEMP/dockyard; the step's own env; the default socket
    workspace = tmp_path / "workspace"
    shutil.copytree(template, workspace / "submission")
    shutil.copytree(ROOT / "solutions/03-first-image", workspace / "submission", dirs_exist_ok=True)
    (workspace / "course").symlink_to(ROOT)
    runner_temp = tmp_path / "runner-temp"
    (runner_temp / "dockyard" / "bin").mkdir(parents=True)
    (runner_temp / "dockyard" / "bin" / "dockyard").symlink_to(DOCKYARD)
    github_output = tmp_path / "github_output"
    github_output.write_text("")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RUNNER_TEMP": str(runner_temp),
           "GITHUB_OUTPUT": str(github_output), **job["env"],
           **{key: value.replace("${{ github.workspace }}", str(workspace)) for key, value in grade["env"].items()}}
    if os.environ.get("PYTHONPATH"):  # this checkout's sources, as `pip install ./course` would give
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    step = subprocess.run(["bash", "-e", "-c", grade["run"]], cwd=workspace, env=env, capture_output=True,
                          text=True, timeout=600)
    assert step.returncode == 0, step.stderr
    name, _, value = github_output.read_text().strip().partition("=")
    result = json.loads(base64.b64decode(value))
    assert name == "result" and result["status"] == "pass", result
    # the reporter: totalPoints = the sum of the tests' scores, maxPoints = the runner's max_score
    assert sum(test["score"] for test in result["tests"]) == result["max_score"] == 10.0


@pytest.mark.parametrize("argv, needle", [
    (["gradescope", "--queue", "http://queue:6379"], "not a Redis URL"),
    (["gradescope", "--queue", "redis://q:6379/0", "--budget", "590"], "passes Gradescope's 600 s timeout"),
    (["prairielearn", "--queue", "redis://q:6379/0", "--budget", "570"], "PrairieLearn stops every job at 600 s"),
    (["prairielearn", "--queue", "redis://q:6379/0", "--cooldown", "30m"], "applies to Gradescope bundles only"),
    (["gradescope", "--queue", "redis://q:6379/0", "--cooldown", "soon"], "give a duration above 0"),
    (["gradescope", "--queue", "redis://q:6379/0", "--late", "lots"], "--late: cannot read"),
    (["gradescope", "--queue", "redis://q:6379/0", "--visibility", "sometimes"], "visibility must be one of"),
    (["gradescope", "--queue", "redis://q:6379/0", "--image", "x"], "applies to PrairieLearn bundles only"),
    (["gradescope", "--queue", "redis://q:6379/0", "{full}"], "must be a new or empty folder"),
])
def test_package_refuses_bad_settings_before_writing(tmp_path, argv, needle):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("a teacher's file")
    out = str(full) if "{full}" in argv else str(tmp_path / "bundle")
    platform, *flags = [a for a in argv if a != "{full}"]
    result = subprocess.run([str(DOCKYARD), "package", platform, "03-first-image", out, *flags,
                             "--course-repository", "your-org/dockyard", "--course-ref", "v1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and needle in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "bundle").exists() and sorted(p.name for p in full.iterdir()) == ["keep.txt"]
