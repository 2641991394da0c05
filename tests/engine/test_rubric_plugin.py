"""A tiny rubric of our own (tests/fixtures/course) graded against good and broken submissions, end to end."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from dockyard import sandbox
from dockyard.engine.labels import RUN_LABEL
from dockyard.rubric import runner
from dockyard.submission import load_submission

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SUBMISSIONS = FIXTURES / "submissions"
BAD_TEXT = re.compile(r"Traceback|File \"|\x1b|[\x00-\x08\x0b-\x1f]")


@pytest.fixture(autouse=True)
def course(monkeypatch, docker_client):
    monkeypatch.setenv("DOCKYARD_COURSE", str(FIXTURES / "course"))


def run_leftovers(run_id):
    """What this run left (other people's notebooks may hold labelled resources of their own meanwhile)."""
    client = sandbox.engine.client()
    flt = {"label": f"{RUN_LABEL}={run_id}"}
    return [*client.containers.list(all=True, filters=flt), *client.networks.list(filters=flt),
            *client.volumes.list(filters=flt), *client.images.list(all=True, filters=flt)]


def grade(folder):
    report = runner.grade("t-web", folder)
    assert report.status == "graded", report.error
    for item in report.items:
        assert not BAD_TEXT.search(item.feedback) and "assert " not in item.feedback, item.feedback
        assert len(item.feedback) <= 1200
    assert not run_leftovers(report.run_id), run_leftovers(report.run_id)
    return report, {item.id: item for item in report.items}


def test_good_submission_scores_full():
    report, items = grade(SUBMISSIONS / "good")
    assert report.score == report.max_score == 7.0
    assert items["workdir"].lesson == "04-dockerfile.ipynb#WORKDIR" and items["builds"].lesson == "04-dockerfile.ipynb"
    assert items["serves-hello"].title == "The app answers on port 8000"
    assert items["cmd-exec-form"].visibility == "after_due_date" and items["builds"].visibility is None


def test_build_failure_fails_items_with_log_tail():
    report, items = grade(SUBMISSIONS / "build-fails")
    first = items["builds"].feedback.splitlines()[0]
    assert first.startswith("the build failed at `RUN") and "error: the thing is missing" in items["builds"].feedback
    assert items["serves-hello"].feedback == items["builds"].feedback  # computed once, shared
    assert items["cmd-exec-form"].passed


def test_megabytes_of_output_do_not_break_the_report():
    report, items = grade(SUBMISSIONS / "megabytes")
    assert items["serves-hello"].passed


def test_empty_folder_and_no_dockerfile(tmp_path):
    report, items = grade(tmp_path)
    assert report.score == 0 and items["builds"].feedback.startswith("no Dockerfile")
    report, items = grade(SUBMISSIONS / "no-dockerfile")
    assert items["builds"].feedback.startswith("no Dockerfile")


def test_unparseable_and_binary_dockerfiles(tmp_path):
    report, items = grade(SUBMISSIONS / "unparseable")
    assert "unknown instruction: FORM" in items["builds"].feedback
    assert "FORM" in items["cmd-exec-form"].feedback
    (tmp_path / "Dockerfile").write_bytes(os.urandom(2048) + b"\x00\x1b[31m")
    report, items = grade(tmp_path)
    assert all("not a text file" in item.feedback for item in report.items)


def test_app_that_never_listens():
    report, items = grade(SUBMISSIONS / "never-listens")
    assert items["builds"].passed and not items["serves-hello"].passed
    assert "nothing answered on port 8000" in items["serves-hello"].feedback


def test_symlink_out_is_refused_not_a_crash(tmp_path):
    shutil.copytree(SUBMISSIONS / "good", tmp_path / "s")
    (tmp_path / "s" / "passwd").symlink_to("/etc/passwd")
    report, items = grade(tmp_path / "s")
    assert items["builds"].feedback.startswith("the build context was refused") and "passwd" in items["builds"].feedback


def test_submission_keeps_compose_yaml_errors(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: [unclosed\n")
    with load_submission(tmp_path, "t-web") as loaded:
        assert loaded.compose is None and loaded.compose_error.startswith("compose.yaml:")
        assert loaded.dockerfile is None and loaded.dockerfile_error is None
        scratch = loaded.path
    assert not scratch.exists()


def test_prefetched_work_is_done_once_and_used():
    """The child builds and starts while pytest loads; the fixtures take that work rather than redo it."""
    messages = []
    report = runner.grade("t-web", SUBMISSIONS / "good", progress=messages.append)
    assert report.score == report.max_score, report
    assert messages.count("building image") == 1 and messages.count("starting container") == 1, messages
    assert messages.index("building image") < messages.index("starting container")


def test_threaded_caller_grades_through_the_warm_forkserver():
    """From a thread (batch, a notebook kernel) the child comes from the forkserver, not a fork: same report."""
    import threading

    from dockyard.rubric import child

    reports = []
    worker = threading.Thread(target=lambda: reports.append(runner.grade("t-web", SUBMISSIONS / "never-listens")))
    worker.start()
    worker.join(300)
    child.stop_forkserver()
    direct = runner.grade("t-web", SUBMISSIONS / "never-listens")
    assert reports and reports[0].status == direct.status == "graded"
    assert [(i.id, i.points) for i in reports[0].items] == [(i.id, i.points) for i in direct.items]
    assert not run_leftovers(reports[0].run_id) and not run_leftovers(direct.run_id)


def test_prepare_py_runs_on_the_scratch_copy_only(tmp_path):
    from dockyard.course import exercises

    course = Path(__file__).resolve().parents[2]
    exercise = exercises.load("06-dockerignore", course)
    with load_submission(course / "solutions" / "06-dockerignore", exercise) as loaded:
        assert (loaded.path / ".git" / "HEAD").is_file()
    assert not (course / "solutions" / "06-dockerignore" / ".git").exists()
