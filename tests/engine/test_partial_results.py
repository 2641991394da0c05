"""Issue 17: a grading stopped midway keeps its finished items and the rubric's max_score; partial credit."""

from __future__ import annotations

import json
import time

import pytest

from dockyard.report.model import Item, Report
from dockyard.rubric import runner
from tests.helpers import one_exercise_course

RUBRIC = '''
import os, signal, time
import pytest
from dockyard import partial


@pytest.mark.points(2)
def test_has_dockerfile(dockyard_submission):
    """A Dockerfile is there"""
    assert (dockyard_submission.path / "Dockerfile").is_file(), "no Dockerfile"


@pytest.mark.points(4)
@pytest.mark.lesson("04-dockerfile.ipynb#EXPOSE")
def test_port_and_path(dockyard_submission):
    """The port is right and the path too"""
    partial(0.5, "the port is right but the path is not")


@pytest.mark.points(3)
def test_slow_or_crash(dockyard_submission):
    """Something slow"""
    mode = (dockyard_submission.path / "mode").read_text().strip()
    if mode == "crash":
        os._exit(9)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "slow":
        time.sleep(120)


@pytest.mark.points(1)
def test_after(dockyard_submission):
    """Never reached when the one before stops the grading"""
'''


@pytest.fixture()
def course(tmp_path, monkeypatch, docker_client):
    return one_exercise_course(tmp_path / "course", "t-stop", "stop", RUBRIC, monkeypatch)


def submission(tmp_path, mode):
    folder = tmp_path / f"sub-{mode}"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM scratch\n")
    (folder / "mode").write_text(mode)
    return folder


def test_a_timed_out_grading_keeps_finished_items_and_the_real_max_score(course, tmp_path):
    started = time.monotonic()
    report = runner.grade("t-stop", submission(tmp_path, "slow"), timeout_s=8)
    assert time.monotonic() - started < 40
    items = {item.id: item for item in report.items}
    assert report.status == "error" and "longer than 8 s" in report.error
    assert report.max_score == 10.0  # 2 + 4 + 3 + 1: the rubric's, never 0
    assert items["has-dockerfile"].passed and items["has-dockerfile"].points == 2
    assert items["port-and-path"].outcome == "partial" and items["port-and-path"].points == 2.0
    assert items["slow-or-crash"].outcome == "not_reached" and items["after"].outcome == "not_reached"
    assert items["after"].feedback.startswith("not reached: grading took longer than 8 s")
    assert report.score == 4.0 and report.not_reached == 2
    data = json.loads(report.to_json())  # the JSON contract: old keys as they were, new ones added
    assert {"exercise", "score", "max_score", "status", "error", "items", "retry"} <= set(data)
    assert data["items"][0]["passed"] is True and data["items"][1]["outcome"] == "partial"


def test_a_crashed_grading_keeps_finished_items(course, tmp_path):
    report = runner.grade("t-stop", submission(tmp_path, "crash"), timeout_s=60)
    items = {item.id: item for item in report.items}
    assert report.status == "error" and "stopped without a report (exit 9)" in report.error
    assert report.max_score == 10.0 and report.score == 4.0
    assert [item.outcome for item in report.items] == ["passed", "partial", "not_reached", "not_reached"]
    assert items["port-and-path"].feedback == "the port is right but the path is not"


def test_a_killed_grading_says_which_signal_and_keeps_finished_items(course, tmp_path):
    report = runner.grade("t-stop", submission(tmp_path, "kill"), timeout_s=60)
    assert report.status == "error" and report.max_score == 10.0 and report.score == 4.0
    # the signal by name, and never pytest's progress dots as if they were the reason (was "(exit -9): .")
    assert report.error == "the grader stopped without a report (killed by SIGKILL)", report.error
    assert [item.outcome for item in report.items] == ["passed", "partial", "not_reached", "not_reached"]
    assert report.items[3].feedback == "not reached: the grader stopped without a report (killed by SIGKILL)"


def test_a_finished_grading_awards_partial_credit(course, tmp_path):
    report = runner.grade("t-stop", submission(tmp_path, "fast"), timeout_s=60)
    assert report.status == "graded" and report.score == 8.0 and report.max_score == 10.0
    item = next(item for item in report.items if item.id == "port-and-path")
    assert (item.points, item.max_points, item.passed, item.outcome) == (2.0, 4.0, False, "partial")


def test_killed_before_collection_still_carries_max_score(course, tmp_path):
    report = runner.stopped_report(__import__("dockyard.course.exercises").course.exercises.load("t-stop"), "killed",
                                   tmp_path / "none.jsonl", 1.0, None)
    assert report.max_score == 10.0 and report.score == 0 and report.status == "error" and not report.items


def test_partial_rejects_a_bad_fraction():
    from dockyard import partial

    for bad in (1.5, -0.1, "half", float("nan"), True):
        with pytest.raises(ValueError):
            partial(bad, "x")


def test_old_reports_without_the_new_fields_still_load():
    old = {"exercise": "x", "score": 1, "max_score": 2, "status": "graded", "error": None, "duration_s": 1,
           "items": [{"id": "a", "title": "A", "points": 1, "max_points": 1, "passed": True},
                     {"id": "b", "title": "B", "points": 0, "max_points": 1, "passed": False}]}
    report = Report.from_dict(old)
    assert [item.outcome for item in report.items] == ["passed", "failed"] and report.not_reached == 0
    assert Item("c", "C", 0.5, 1, False).outcome == "partial"
