"""Engine faults: an engine that restarts mid-grading, one that is not there, one nearly full.

The restart and the full disk happen on extra engines of the test's own (own socket and data
root), so the main engine keeps serving the rest of the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dockyard import batch
from dockyard.course import exercises
from dockyard.engine import gc
from dockyard.engine.labels import KINDS
from dockyard.rubric import runner
from tests.engines import ExtraEngine, load_image
from tests.helpers import ROOT

DOCKYARD = [sys.executable, "-m", "dockyard"]


def slow_submission(destination: Path) -> Path:
    exercise = exercises.load("03-first-image", ROOT)
    exercises.materialize(exercise, exercise.solution, destination)
    (destination / "Dockerfile").write_text(
        "FROM python:3.11-slim\nWORKDIR /app\nRUN sleep 20\nCOPY app.py .\nEXPOSE 8000\nCMD [\"python\", \"app.py\"]\n")
    return destination


@pytest.fixture()
def second_engine(docker_client, tmp_path_factory):
    extra = ExtraEngine("faults", Path("/tmp/dockyard-engine-faults")).start()
    load_image(docker_client, extra.url, "python:3.11-slim")
    yield extra
    extra.destroy()


def test_engine_unreachable_at_start(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    for argv in (["grade", "03-first-image", str(folder), "--json"], ["check", "03-first-image", str(folder)]):
        result = subprocess.run([*DOCKYARD, *argv], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 3, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "no Docker engine answers" in result.stderr


def restart_after(extra: ExtraEngine, delay_s: float) -> threading.Thread:
    def restart() -> None:
        time.sleep(delay_s)
        extra.restart()

    thread = threading.Thread(target=restart)
    thread.start()
    return thread


def test_engine_restart_mid_grading_ends_in_error_and_clean_leaves_nothing(second_engine, tmp_path):
    folder = slow_submission(tmp_path / "sub")
    restarter = restart_after(second_engine, 6)
    report = runner.grade("03-first-image", folder, engine_url=second_engine.url)
    restarter.join()
    assert report.status == "error", report.to_json()
    assert report.retry
    assert "engine" in (report.error or "").lower()
    cleaned = subprocess.run([*DOCKYARD, "clean", "--all", "--engine", second_engine.url],
                             capture_output=True, text=True, timeout=120)
    assert cleaned.returncode == 0, cleaned.stderr
    assert gc.leftovers(second_engine.url) == dict.fromkeys(KINDS, 0)


def test_batch_marks_an_engine_failure_for_retry(second_engine, tmp_path):
    class_dir = tmp_path / "class"
    slow_submission(class_dir / "ada")
    restarter = restart_after(second_engine, 6)
    summary = batch.run_batch("03-first-image", class_dir, tmp_path / "out", jobs=1, engine_url=second_engine.url)
    restarter.join()
    assert summary.retry == 1 and summary.graded == 0
    gradebook = (tmp_path / "out" / "gradebook.csv").read_text().splitlines()
    assert gradebook[1].startswith("ada,") and ",retry" in gradebook[1], gradebook
    gc.sweep(second_engine.url, everything=True)


def test_nearly_full_disk_is_refused_before_building(docker_client, tmp_path):
    extra = ExtraEngine("tiny", Path("/tmp/dockyard-engine-tiny"), tmpfs_size="256m").start()
    try:
        folder = slow_submission(tmp_path / "sub")
        started = time.monotonic()
        report = runner.grade("03-first-image", folder, engine_url=extra.url)
        assert time.monotonic() - started < 60
        said = (report.error or "") + " ".join(i.feedback for i in report.items)
        assert "free" in said and "GiB" in said, report.to_json()
        assert report.status == "error" and report.retry
        events = subprocess.run(["docker", "-H", extra.url, "images", "-q"], capture_output=True, text=True)
        assert events.stdout.strip() == "", "nothing may have been built"
    finally:
        extra.destroy()
