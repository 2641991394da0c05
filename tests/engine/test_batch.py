"""Classroom grading: a small mixed class, graded in parallel, resumed, killed and restarted (several hosts: test_queue.py)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from dockyard import batch
from dockyard.course import exercises
from dockyard.engine import gc
from dockyard.engine.labels import KINDS
from tests.helpers import ROOT

EXERCISE = "03-first-image"
DOCKYARD = [sys.executable, "-m", "dockyard"]


def make_class(destination: Path) -> Path:
    exercise = exercises.load(EXERCISE, ROOT)
    solution = lambda name: exercises.materialize(exercise, exercise.solution, destination / name)  # noqa: E731
    solution("ada")
    exercises.materialize(exercise, None, destination / "bob")  # the starter
    (solution("cy") / "Dockerfile").write_text(  # untagged base, shell-form CMD
        "FROM python\nWORKDIR /app\nCOPY app.py .\nEXPOSE 8000\nCMD python app.py\n")
    (solution("dee") / "Dockerfile").write_text(  # never starts listening
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\nEXPOSE 8000\nCMD [\"sleep\", \"infinity\"]\n")
    (solution("eve") / "Dockerfile").write_text(  # the build fails
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\nRUN pip install --no-index no-such-package\n"
        "CMD [\"python\", \"app.py\"]\n")
    fay = solution("fay-folder")
    with zipfile.ZipFile(destination / "fay.zip", "w") as archive:
        for path in fay.rglob("*"):
            archive.write(path, Path("fay") / path.relative_to(fay))
    shutil.rmtree(fay)
    return destination


def read_gradebook(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    return make_class(tmp_path_factory.mktemp("class"))


@pytest.fixture(autouse=True)
def short_ready_timeout(monkeypatch):
    monkeypatch.setenv("DOCKYARD_LIMITS", "ready_timeout_s=10")


def test_discovers_folders_archives_and_nbgrader_layout(tmp_path, classroom):
    assert [learner.student for learner in batch.discover(classroom, EXERCISE)] == ["ada", "bob", "cy", "dee", "eve", "fay"]
    nbgrader = tmp_path / "course" / "submitted"
    (nbgrader / "zoe" / EXERCISE).mkdir(parents=True)
    (nbgrader / "yan" / EXERCISE).mkdir(parents=True)
    found = batch.discover(tmp_path / "course", EXERCISE)
    assert [(learner.student, learner.source.name) for learner in found] == [("yan", EXERCISE), ("zoe", EXERCISE)]


def test_archive_with_a_path_leading_out_is_refused(tmp_path):
    evil = tmp_path / "class" / "mallory.tar.gz"
    evil.parent.mkdir()
    with tarfile.open(evil, "w:gz") as archive:
        payload = tmp_path / "payload"
        payload.write_text("x")
        archive.add(payload, arcname="../../escaped.txt")
    summary = batch.run_batch(EXERCISE, evil.parent, tmp_path / "out", jobs=1)
    report = json.loads((tmp_path / "out" / batch.STATE_FILE).read_text())["results"]["mallory"]["report"]
    assert summary.failed == 1 and "path leading out" in report["error"]
    assert not (tmp_path / "escaped.txt").exists()


def test_class_graded_the_same_with_one_job_and_with_two_jobs(classroom, tmp_path, no_leaks):
    serial = batch.run_batch(EXERCISE, classroom, tmp_path / "serial", jobs=1)
    parallel = batch.run_batch(EXERCISE, classroom, tmp_path / "parallel", jobs=2)
    assert serial.graded == parallel.graded == 6
    one, two = read_gradebook(tmp_path / "serial"), read_gradebook(tmp_path / "parallel")
    assert one == two, "scores must not depend on --jobs"

    book = one
    full = book["ada"]["max_score"]
    assert book["ada"]["score"] == full and book["fay"]["score"] == full
    for student in ("bob", "cy", "dee", "eve"):
        assert float(book[student]["score"]) < float(full), student
        assert book[student]["status"] == "graded"
    results = json.loads((tmp_path / "serial" / batch.STATE_FILE).read_text())["results"]
    eve_failed = [item for item in results["eve"]["report"]["items"] if not item["passed"]]
    assert any("no-such-package" in item["feedback"] for item in eve_failed), "a failed build is explained"

    feedback = (tmp_path / "serial" / "feedback" / "dee.md").read_text()
    failing = [row for row in json.loads((tmp_path / "serial" / batch.STATE_FILE).read_text())["results"]["dee"]["report"]["items"]
               if not row["passed"]]
    assert failing and all(item["title"] in feedback for item in failing)
    assert (tmp_path / "serial" / "feedback" / "dee.html").read_text().lstrip().lower().startswith("<!doctype html")

    again = batch.run_batch(EXERCISE, classroom, tmp_path / "serial", jobs=2)
    assert again.graded == 0 and again.reused == 6, "an unchanged class is not graded again"


def test_killed_batch_resumes_and_leaves_nothing(classroom, tmp_path):
    out = tmp_path / "out"
    command = [*DOCKYARD, "batch", EXERCISE, str(classroom), "--jobs", "2", "--out", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        results = out / batch.STATE_FILE
        if results.exists() and json.loads(results.read_text())["results"]:
            break
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # the batch and every grading it started
    first.wait(30)
    finished_before = len(json.loads((out / batch.STATE_FILE).read_text())["results"])
    assert 1 <= finished_before < 6

    subprocess.run([*DOCKYARD, "clean"], check=True, capture_output=True, timeout=300)
    second = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr
    assert f"{finished_before} unchanged" in second.stdout, second.stdout
    assert len(read_gradebook(out)) == 6
    assert gc.leftovers(orphaned_only=True) == dict.fromkeys(KINDS, 0)
