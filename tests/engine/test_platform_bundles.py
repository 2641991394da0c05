"""The hosted platforms' bundles end to end, run as each platform runs them: `dockyard package` writes the
bundle; its entry point runs in a temporary root standing for /autograder or /grade, with no Docker socket in
its environment, against a real redis-server and a real `dockyard worker` grading on the main engine.

Gradescope: a late submission graded with the late policy; a submission within the cooldown keeps the last
graded score without a grading; an unreachable queue or no worker within the budget withholds the score
(a hidden test, the message visible); a missing, empty or oversize submission gets a clear message.
PrairieLearn: graded to a 0-1 score; an unreachable queue and an empty submission are `gradable: false`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.engine.test_cli import FIXTURES
from tests.redis_server import RedisServer, free_port

DOCKYARD_BIN = Path(sys.executable).with_name("dockyard")
COURSE = FIXTURES / "course"
EXERCISE = "t-web"
GOOD = FIXTURES / "submissions" / "good"
HALF = FIXTURES / "submissions" / "never-listens"  # 4 of 7 points
SOURCE = ["--course-repository", "your-org/dockyard", "--course-ref", "v1.0"]


def dockyard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DOCKYARD_BIN), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DOCKYARD_COURSE": str(COURSE)})


def platform_env(tmp_path: Path, **extra: str) -> dict:
    """What the platform's container gives: PATH and HOME, Dockyard installed (here: this checkout), no engine."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DOCKYARD": str(DOCKYARD_BIN),
           "DOCKYARD_COURSE": str(COURSE), "DOCKER_HOST": "unix:///nonexistent/docker.sock", **extra}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@pytest.fixture(scope="module")
def queue(tmp_path_factory, docker_client):
    """A real queue and one worker on the main engine, for the module."""
    folder = tmp_path_factory.mktemp("queue")
    server = RedisServer(folder / "redis").start()
    log = open(folder / "worker.log", "ab")
    worker = subprocess.Popen([str(DOCKYARD_BIN), "worker", "--queue", server.url, "--processes", "1",
                               "--base-images", "gradertest-base:perl"], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "DOCKYARD_COURSE": str(COURSE)}, start_new_session=True)
    try:
        yield server.url
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)
        log.close()
        server.stop()


def gradescope_root(tmp_path: Path, queue_url: str, submission: Path | None, metadata: dict | None,
                    *flags: str) -> Path:
    """`dockyard package gradescope`, its zip unpacked into <root>/autograder/source as Gradescope does."""
    bundle = tmp_path / "bundle"
    result = dockyard("package", "gradescope", EXERCISE, str(bundle), "--queue", queue_url, *SOURCE, *flags)
    assert result.returncode == 0, result.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle / f"{EXERCISE}-gradescope.zip") as archive:
        archive.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)
    if submission is not None:
        shutil.copytree(submission, root / "submission")
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    return root


def run_gradescope(root: Path, tmp_path: Path, timeout: float = 300) -> dict:
    result = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True, text=True, timeout=timeout,
                            env=platform_env(tmp_path, AUTOGRADER_ROOT=str(root)))
    assert result.returncode == 0, result.stderr  # Gradescope shows results.json; the exit says nothing more
    return json.loads((root / "results" / "results.json").read_text())


def withheld(results: dict) -> bool:
    """Gradescope hides the total from the learner when a test is hidden; the message stays visible."""
    return (results["visibility"] == "visible" and results["extra_data"]["retry"] is True
            and any(test["visibility"] == "hidden" for test in results["tests"]))


METADATA = {"created_at": "2026-03-03T01:00:00+00:00", "previous_submissions": [],
            "assignment": {"due_date": "2026-03-02T00:00:00+00:00", "late_due_date": None}}


def test_gradescope_bundle_grades_through_the_queue_with_the_late_policy(tmp_path, queue, no_leaks):
    root = gradescope_root(tmp_path, queue, GOOD, METADATA, "--late", "10%/day, max 3 days")
    results = run_gradescope(root, tmp_path)
    assert results["extra_data"]["status"] == "graded", (results, (root / "results" / "dockyard.log").read_text())
    earned = sum(test["score"] for test in results["tests"])
    assert sum(test["max_score"] for test in results["tests"]) == 7.0 and earned > 0, results["tests"]
    # 1 day 1 h late: two started days, -20% (of what the worker's grading earned: 7 unless the shared engine
    # was too slow for t-web's 4 s readiness limit, which is the rubric's business, not the bundle's)
    assert results["score"] == pytest.approx(round(earned * 0.8, 2)), results["tests"]
    assert results["extra_data"]["late_policy"]["penalty"] == pytest.approx(0.2)
    assert "Late policy" in results["output"] and not withheld(results)


def test_gradescope_cooldown_keeps_the_last_graded_score_without_grading(tmp_path):
    previous = {"submission_time": "2026-03-03T00:50:00+00:00", "score": 5.0,
                "results": {"score": 5.0, "tests": [{"name": "The image builds", "score": 1.0, "max_score": 1.0}]}}
    turned_away = {"submission_time": "2026-03-03T00:58:00+00:00", "score": 5.0,
                   "results": {"score": 5.0, "extra_data": {"cooldown": True}}}
    metadata = dict(METADATA, previous_submissions=[previous, turned_away])
    dead_queue = f"redis://127.0.0.1:{free_port()}/0"  # never asked: within the cooldown nothing is sent
    root = gradescope_root(tmp_path, dead_queue, GOOD, metadata, "--cooldown", "30m")
    results = run_gradescope(root, tmp_path)
    assert results["score"] == 5.0 and results["extra_data"]["cooldown"] is True
    assert results["tests"] == previous["results"]["tests"]
    assert "Submit again in 20 min" in results["output"], results["output"]  # 30 min after 00:50, not 00:58
    late_enough = dict(metadata, created_at="2026-03-03T01:21:00+00:00")
    root = gradescope_root(tmp_path / "later", dead_queue, GOOD, late_enough, "--cooldown", "30m")
    assert withheld(run_gradescope(root, tmp_path)), "out of the cooldown it is graded (here: the queue is down)"


def test_gradescope_unreachable_queue_or_no_worker_withholds_the_score(tmp_path):
    root = gradescope_root(tmp_path, f"redis://127.0.0.1:{free_port()}/0", GOOD, METADATA)
    results = run_gradescope(root, tmp_path, timeout=120)
    assert withheld(results) and "queue cannot be reached" in results["output"], results
    idle = RedisServer(tmp_path / "idle-redis").start()  # a queue no worker serves
    try:
        root = gradescope_root(tmp_path / "idle", idle.url, GOOD, METADATA, "--budget", "3")
        results = run_gradescope(root, tmp_path, timeout=120)
    finally:
        idle.stop()
    assert withheld(results) and "no worker finished it within 3 s" in results["output"], results


@pytest.mark.parametrize("case, needle", [("missing", "no submission was found"), ("empty", "no files were submitted"),
                                          ("oversize", "over 200 MiB")])
def test_gradescope_bad_submission_is_a_clear_message(tmp_path, case, needle):
    submission = tmp_path / "submission"
    if case != "missing":
        submission.mkdir()
    if case == "oversize":
        shutil.copytree(GOOD, submission, dirs_exist_ok=True)
        with open(submission / "big.bin", "wb") as big:  # sparse: costs no disk
            big.truncate(201 * 2**20)
    root = gradescope_root(tmp_path, f"redis://127.0.0.1:{free_port()}/0", None if case == "missing" else submission,
                           METADATA)
    results = run_gradescope(root, tmp_path, timeout=60)
    assert needle in results["output"] and results["score"] == 0, results
    assert results["extra_data"]["retry"] is False and results["extra_data"]["max_score"] == 7.0


def prairielearn_root(tmp_path: Path, queue_url: str, submission: Path | None) -> Path:
    bundle = tmp_path / "bundle"
    result = dockyard("package", "prairielearn", EXERCISE, str(bundle), "--queue", queue_url, *SOURCE)
    assert result.returncode == 0, result.stderr
    info = json.loads((bundle / "questions" / EXERCISE / "info.json").read_text())["externalGradingOptions"]
    assert info["timeout"] <= 600 and info["entrypoint"] == f"/grade/serverFilesCourse/dockyard/run.sh {EXERCISE}"
    root = tmp_path / "grade"
    shutil.copytree(bundle / "serverFilesCourse", root / "serverFilesCourse")
    (root / "student").mkdir()
    if submission is not None:
        shutil.copytree(submission, root / "student", dirs_exist_ok=True)
    return root


def run_prairielearn(root: Path, tmp_path: Path, timeout: float = 300) -> dict:
    result = subprocess.run([str(root / "serverFilesCourse" / "dockyard" / "run.sh"), EXERCISE], capture_output=True,
                            text=True, timeout=timeout, env=platform_env(tmp_path, GRADE_ROOT=str(root)))
    assert result.returncode == 0, result.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_prairielearn_bundle_grades_through_the_queue(tmp_path, queue, no_leaks):
    results = run_prairielearn(prairielearn_root(tmp_path, queue, HALF), tmp_path)
    assert results["gradable"] is True, results
    assert results["score"] == pytest.approx(4 / 7, abs=1e-3)
    assert sum(test["points"] for test in results["tests"]) == 4.0


def test_prairielearn_unreachable_queue_and_empty_submission_are_ungradable(tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    results = run_prairielearn(prairielearn_root(tmp_path, dead, None), tmp_path, timeout=60)
    assert results["gradable"] is False and "no files were submitted" in results["format_errors"][0]
    results = run_prairielearn(prairielearn_root(tmp_path / "b", dead, GOOD), tmp_path, timeout=60)
    assert results["gradable"] is False and "queue cannot be reached" in results["format_errors"][0], results
