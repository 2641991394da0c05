"""The workflow reader of exercise 18 (static/workflow.py), no engine: GitHub's expressions and triggers as GitHub
decides them, the docker lines a push to main carries out (with GitHub's values put in), refusals with ci.yml's
line, and hostile YAML refused with one line. The checkers (schema, zizmor) run for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.static import workflow as wf
from dockyard.static import workflowlint

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solutions" / "18-ci-pipeline" / ".github" / "workflows" / "ci.yml"
ZIZMOR_CONFIG = ROOT / "graders" / "18-ci-pipeline" / "zizmor.yml"


@pytest.mark.parametrize("expression,main,branch,pull", [
    ("github.ref == 'refs/heads/main'", True, False, False),
    ("${{ github.ref_name == 'MAIN' }}", True, False, False),  # GitHub compares strings case-insensitively
    ("github.event_name == 'push' && github.ref_name == 'main'", True, False, False),
    ("startsWith(github.ref, 'refs/heads/') && !contains(github.ref, 'feature')", True, False, False),
    ("github.ref != 'refs/heads/main' || false", False, True, True),
    ("success()", True, True, True),
])
def test_expressions_are_judged_as_github_judges_them(expression, main, branch, pull):
    workflow = wf.parse("on: [push, pull_request]\njobs:\n  j:\n    runs-on: x\n    steps:\n"
                        f"      - if: \"{expression}\"\n        run: docker push app\n")
    step = workflow.steps()[0]
    assert [wf.step_runs(workflow, step, scenario) for scenario in wf.SCENARIOS] == [main, branch, pull]


def test_an_unknown_context_is_unjudgeable_not_guessed():
    with pytest.raises(wf.Unjudgeable, match="vars"):
        wf.evaluate("vars.DEPLOY == 'yes'", wf.MAIN_PUSH)


def test_branch_filters_decide_the_trigger():
    only_main = wf.parse("on:\n  push:\n    branches: [main]\njobs: {}\n")
    assert wf.triggered(only_main, wf.MAIN_PUSH) and not wf.triggered(only_main, wf.BRANCH_PUSH)
    ignoring = wf.parse("on:\n  push:\n    branches-ignore: ['feat*']\njobs: {}\n")
    assert wf.triggered(ignoring, wf.MAIN_PUSH) and not wf.triggered(ignoring, wf.BRANCH_PUSH)
    assert not wf.triggered(wf.parse("on: pull_request\njobs: {}\n"), wf.MAIN_PUSH)
    assert wf.triggered(wf.parse("on: push\njobs: {}\n"), wf.BRANCH_PUSH)  # YAML 1.2: `on` is a key, not True


def test_the_solution_runs_build_then_tests_with_the_fake_sha(tmp_path):
    run = wf.docker_commands(wf.read(SOLUTION), tmp_path)
    assert run.script.ok
    build, test = run.lines
    assert build.command.subcommand == "build" and build.command.values("tag") == [
        f"ghcr.io/dockyard-course/prices:{wf.FAKE_SHA}"]
    assert test.command.subcommand == "run" and test.command.args[1:4] == ("python", "-m", "unittest")
    assert [text for _, text in run.skipped if text.startswith("docker push")]  # judged, never run


def test_a_docker_line_the_executor_cannot_run_is_refused_with_its_line(tmp_path):
    text = ("on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n"
            "      - run: docker build --pull -t app:${{ github.sha }} .\n"
            "      - run: docker run --rm app:$UNSET python -m unittest\n")
    run = wf.docker_commands(wf.parse(text), tmp_path)
    assert not run.script.ok
    summary = run.summary()
    assert "ci.yml:6:" in summary and "--pull" in summary
    assert "ci.yml:7:" in summary and "$UNSET" in summary and "commands.sh" not in summary


LAUGHS = "l0: &l0 lol\n" + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))


@pytest.mark.parametrize("text,words", [
    (LAUGHS, "aliases expand"),
    ("on: " + "[" * 200 + "]" * 200 + "\n", "nests deeper"),
    ("on: push\n" + "# padding\n" * 40_000, "over 256 KiB"),
])
def test_hostile_yaml_is_refused_in_one_line(tmp_path, text, words):
    path = tmp_path / "ci.yml"
    path.write_text(text)
    with pytest.raises(wf.WorkflowError) as refused:
        wf.read(path)
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_the_checkers_pass_the_solution_and_catch_an_injection(tmp_path):
    assert workflowlint.schema_problems(wf.read(SOLUTION).data) == []
    assert workflowlint.zizmor(SOLUTION, ZIZMOR_CONFIG) == []
    injected = tmp_path / "ci.yml"
    injected.write_text("on: push\npermissions: {}\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n"
                        "      - run: echo \"${{ github.event.head_commit.message }}\"\n")
    found = workflowlint.zizmor(injected, ZIZMOR_CONFIG)
    assert [(f.audit, f.severity, f.line) for f in found] == [("template-injection", "high", 7)]
    missing = workflowlint.schema_problems({"on": "push", "jobs": {"b": {"steps": [{"run": "x"}]}}})
    assert missing[0].where == "jobs → b" and "runs-on" in missing[0].message


def notebook_ci_example() -> str:
    """The YAML of notebook 11's CI/CD cell (the one exercise 18's feedback points to)."""
    import nbformat

    notebook = nbformat.read(ROOT / "notebooks" / "11-production.ipynb", as_version=4)
    cell = next(cell.source for cell in notebook.cells if '<a id="ci-cd"></a>' in cell.source)
    return cell.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_notebooks_ci_example_passes_the_exercises_checks(tmp_path):
    """The example the course teaches is a workflow GitHub accepts, with no high zizmor finding, and pushes on main
    only, after its tests, as exercise 18 asks."""
    path = tmp_path / "ci.yml"
    path.write_text(notebook_ci_example())
    workflow = wf.read(path)
    assert workflowlint.schema_problems(workflow.data) == []
    assert [f for f in workflowlint.zizmor(path, ZIZMOR_CONFIG) if f.severity in ("high", "medium")] == []
    pushers = wf.push_steps(workflow)
    assert pushers and [wf.step_runs(workflow, pushers[0], s) for s in wf.SCENARIOS] == [True, False, False]
    run = wf.docker_commands(workflow, tmp_path)
    assert run.script.ok, run.summary()  # the lint and scan lines run images of their own: not carried out
    builds = [line.command for line in run.lines if line.command.subcommand == "build"]
    assert [(b.flag("target"), b.values("tag")) for b in builds] == [
        ("test", [f"app-test:{wf.FAKE_SHA}"]), ("runtime", [f"ghcr.io/my-org/app:{wf.FAKE_SHA}"])]
    tests = [line for line in run.lines if line.command.subcommand == "run"]
    assert [line.command.args for line in tests] == [(f"app-test:{wf.FAKE_SHA}", "python", "-m", "pytest")]
    assert tests[0].step.index < pushers[0].index


def test_a_workflow_with_too_many_docker_lines_is_refused(tmp_path):
    steps = "".join(f"      - run: docker build -t app:{n} .\n" for n in range(101))
    run = wf.docker_commands(wf.parse(f"on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n{steps}"), tmp_path)
    assert not run.script.ok and "more than 100 docker lines" in run.summary()
