"""Rubric for 18-ci-pipeline: the learner's `.github/workflows/ci.yml`, judged by what GitHub would do with it.

- The file is read bounded (yamlguard) by YAML 1.2 (static/workflow.py); a hostile one fails every item with
  one line. GitHub's workflow schema is check-jsonschema's vendored copy (offline).
- zizmor runs `--offline` with `zizmor.yml` beside this file (GitHub's and Docker's actions may be pinned to a
  release tag; others need a commit SHA). Only **high**-severity findings (zizmor's default persona) cost the
  item: e.g. `pull_request_target`, or `${{ github.event.* }}` expanded into a `run:` line.
- When steps and jobs run is decided for three events (a push to main, a push to another branch, a pull
  request) from `on:`, `needs:` and the `if:` expressions, so any spelling GitHub accepts is judged the same.
- The `docker build`/`tag`/`run` lines of a push to main (and docker/build-push-action, as the build its inputs
  describe) are carried out in the sandbox through the command-line executor of exercise 02, with
  `${{ github.sha }}`/`$GITHUB_SHA` set to a fake commit; a line it cannot run fails the items that need it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import partial
from dockyard.static import workflow as wf
from dockyard.static import workflowlint

NB = "11-production.ipynb"
LESSON = f"{NB}#ci-cd"
pytestmark = pytest.mark.lesson(LESSON)
FILE = ".github/workflows/ci.yml"
ZIZMOR_CONFIG = Path(__file__).with_name("zizmor.yml")
COUNTED = ("high",)  # zizmor severities that cost the item
TEST_OUTPUT = "Ran 4 tests"  # what unittest prints when the app's tests ran
SHA = wf.FAKE_SHA


@pytest.fixture(scope="session")
def workflow(dockyard_submission):
    __tracebackhide__ = True
    if dockyard_submission.refused:
        pytest.fail(f"your folder was refused: {dockyard_submission.refused}", pytrace=False)
    if not dockyard_submission.exists(FILE):
        pytest.fail(f"no {FILE} in your folder: the workflow goes there", pytrace=False)
    try:
        return wf.read(dockyard_submission.path / FILE)
    except wf.WorkflowError as exc:
        pytest.fail(f"{FILE} was not read: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def local_run(dockyard_sandbox, dockyard_submission, dockyard_exercise, workflow):
    """The workflow's build, tag and run lines of a push to main, carried out in the sandbox."""
    __tracebackhide__ = True
    from dockyard.sandbox.commandline import CommandLine

    planned = wf.docker_commands(workflow, dockyard_submission.path)
    runner = CommandLine(dockyard_sandbox, dockyard_submission.path, dockyard_exercise.base_images)
    if planned.script.ok and planned.script.commands:
        runner.execute(planned.script)
    return planned, runner


def _must_run(local_run):
    __tracebackhide__ = True
    planned, runner = local_run
    if not planned.script.ok:
        pytest.fail("the grader could not run your docker lines: " + planned.summary(), pytrace=False)
    return planned, runner


def _sha_in(text: str) -> bool:
    return SHA in text or SHA[:7] in text


def _builds(workflow):
    """(step, line, as written, tags) of each build or tag a push to main makes (`docker build -t`, `docker tag`,
    build-push-action), judged as written even where the grader cannot carry the line out."""
    return wf.docker_commands(workflow, None).images


@pytest.mark.points(1)
@pytest.mark.lesson(LESSON)
def test_valid_workflow(workflow):
    """ci.yml is a workflow GitHub accepts (its schema)"""
    problems = workflowlint.schema_problems(workflow.data)
    assert not problems, (f"expected a workflow GitHub's schema accepts, seen in {FILE}: "
                          + "; ".join(problem.one_line() for problem in problems))


@pytest.mark.points(1)
@pytest.mark.lesson(LESSON)
def test_no_high_findings(workflow, dockyard_submission):
    """zizmor finds no high-severity problem (injection, dangerous triggers)"""
    findings = [finding for finding in workflowlint.zizmor(dockyard_submission.path / FILE, ZIZMOR_CONFIG)
                if finding.severity in COUNTED]
    hint = ""
    if any(finding.audit == "template-injection" for finding in findings):
        hint = (": pass a value such as `${{ github.event.head_commit.message }}` through `env:` "
                "(`env: {MESSAGE: ...}`, then `\"$MESSAGE\"`), never straight into `run:`, where the shell would "
                "run whatever a commit message holds")
    assert not findings, ("expected no high-severity zizmor finding, seen: "
                          + "; ".join(finding.one_line(FILE) for finding in findings[:3]) + hint)


@pytest.mark.points(1)
@pytest.mark.lesson(LESSON)
def test_runs_on_push(workflow):
    """The workflow runs on a push to main"""
    assert wf.triggered(workflow, wf.MAIN_PUSH), (
        "expected `on: push` (a push to main must start the pipeline, or nothing is ever shipped), seen `on:` "
        + (", ".join(f"`{event}`" for event in workflow.triggers) or "nothing")
        + (" with branch filters that leave main out" if "push" in workflow.triggers else ""))


@pytest.mark.points(1)
@pytest.mark.lesson(LESSON)
def test_checkout(workflow):
    """The job checks out the code before it builds"""
    builds = _builds(workflow)
    assert builds, "expected a `docker build` step, found none (so no checkout was needed either)"
    first = builds[0][0]
    job = workflow.job(first.job)
    before = [step for step in job.steps[: first.index] if step.action() == "actions/checkout"]
    assert before, (f"expected `- uses: actions/checkout@v4` in job `{job.id}` before its build "
                    f"({first.label}): a runner starts with an empty folder, with no Dockerfile to build")


@pytest.mark.points(2)
@pytest.mark.lesson(LESSON)
def test_tagged_with_commit(workflow):
    """The image is tagged with the commit SHA"""
    builds = _builds(workflow)
    assert builds, ("expected `docker build -t <name>:${{ github.sha }} .` (or docker/build-push-action with "
                    "`tags:`), found no build that runs on a push to main")
    tagged = [tags for _, _, _, tags in builds if any(_sha_in(tag) for tag in tags)]
    seen = "; ".join(f"`{written}` (line {number})" for _, number, written, _ in builds[:2])
    assert tagged, (f"expected a tag with the commit, such as `app:${{{{ github.sha }}}}` or `app:$GITHUB_SHA`, seen "
                    f"{seen}: a tag like `latest` moves with every build, so nobody can tell which commit it is")


@pytest.mark.points(2)
@pytest.mark.lesson(LESSON)
def test_tests_in_image(workflow, local_run):
    """The tests run inside the built image, and pass"""
    planned, runner = _must_run(local_run)
    built = {tag.lower() for _, _, _, tags in _builds(workflow) for tag in tags}
    runs = [(line, step) for line, step in zip(planned.lines, runner.steps) if line.command.subcommand == "run"]
    on_host = [text for step, text in planned.skipped if "unittest" in text or "pytest" in text]
    for line, step in runs:
        if step.ok and TEST_OUTPUT in step.output:
            return
    if runs:
        line, step = next(((line, step) for line, step in runs if TEST_OUTPUT in step.output), runs[0])
        ran = line.command.args[0].lower()
        if ran not in built and f"{ran}:latest" not in built:
            assert False, (f"expected the tests to run in the image the workflow built, line {line.line} runs "
                           f"`{line.command.args[0]}`, which it did not build ({', '.join(sorted(built)) or 'no tag'})")
        assert False, ("expected `docker run --rm <your image> python -m unittest discover -s tests -v` to run the "
                       f"app's 4 tests and pass, seen: {step.one_line()}" + (
                           "" if TEST_OUTPUT in step.output else " (no `Ran 4 tests`: it ran something else)"))
    assert False, ("expected the tests to run inside the built image (`docker run --rm <your image> python -m "
                   "unittest discover -s tests -v`), found " + (
                       f"`{on_host[0]}` run on the runner itself: that tests the runner's Python, not the image "
                       "you ship" if on_host else "no `docker run` of the image"))


@pytest.mark.points(2)
@pytest.mark.lesson(LESSON)
def test_push_only_from_main(workflow):
    """The image is pushed on main only, after the tests"""
    pushers = wf.push_steps(workflow)
    assert pushers, ("expected a push of the image (`docker push <name>:${{ github.sha }}`, or "
                     "docker/build-push-action with `push:`) that runs on main, found none")
    runs_on = {}
    for scenario in wf.SCENARIOS:
        try:
            runs_on[scenario] = [step for step in pushers if wf.step_runs(workflow, step, scenario)
                                 and wf.pushes(workflow, step, scenario)]
        except wf.Unjudgeable as exc:
            assert False, (f"the grader could not tell when your push runs ({exc}): write the condition as "
                           "`if: github.ref == 'refs/heads/main'`")
    assert runs_on[wf.MAIN_PUSH], (f"expected the push ({pushers[0].label}) to run on a push to main, it never "
                                   "does: check its `if:` and the workflow's `on:`")
    elsewhere = [scenario for scenario in (wf.BRANCH_PUSH, wf.PULL_REQUEST) if runs_on[scenario]]
    assert not elsewhere, (f"expected the push ({runs_on[elsewhere[0]][0].label}) on main only, it also runs on "
                           + " and on ".join(scenario.label for scenario in elsewhere)
                           + ": add `if: github.ref == 'refs/heads/main'` to the push step")
    step = runs_on[wf.MAIN_PUSH][0]
    tests = [line.step for line in wf.docker_commands(workflow, None).lines
             if line.command.subcommand == "run" and any(word in " ".join(line.command.args)
                                                         for word in ("unittest", "pytest"))]
    if tests and not _after(workflow, step, tests[0]):
        partial(0.5, f"your push ({step.label}) runs on main only, but before the tests ({tests[0].label}): an "
                     "image that fails its tests would still be shipped. Push after the tests, in the same job or in "
                     "a job that `needs:` the tests")


def _after(workflow, push, test) -> bool:
    """Whether `push` runs only once `test` has passed: later in its job, or in a job that needs test's job."""
    if push.job == test.job:
        return push.index > test.index
    seen, todo = set(), [push.job]
    while todo:
        job = workflow.job(todo.pop())
        if job is None or job.id in seen:
            continue
        seen.add(job.id)
        if test.job in job.needs:
            return True
        todo.extend(job.needs)
    return False
