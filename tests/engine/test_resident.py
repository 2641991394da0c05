"""Issue 20: `dockyard grade` and `check` on the resident grader (dockyard/resident), through the real command line.

What it must keep: the same report and exit status as a command run on its own, the caller's environment and
working folder, output on the caller's own stdout and stderr, and Ctrl-C or a killed caller still removing
everything the grading made. The rubric starts a real container and can hold it a while (T_HOLD_S).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.engine import runs
from dockyard.errors import ExitStatus
from tests.helpers import exercise_filter, one_exercise_course

pytestmark = pytest.mark.xdist_group("resident")

RUBRIC = '''
import os, time
from pathlib import Path
import pytest


@pytest.mark.points(2)
def test_runs_a_container(dockyard_sandbox):
    """A container runs in the sandbox"""
    running = dockyard_sandbox.start("gradertest-base:perl", ports=(), command=["sleep", "300"])
    Path(os.environ["T_STARTED_FILE"]).write_text("started")
    time.sleep(float(os.environ.get("T_HOLD_S") or 0))
    running.container.reload()
    assert running.container.status == "running"


@pytest.mark.points(1)
def test_fails(dockyard_submission):
    """This one fails, on purpose"""
    assert False, "not this time, " + os.environ.get("T_MARK", "unmarked")
'''


@pytest.fixture()
def resident(tmp_path, monkeypatch, docker_client):
    """A course of one exercise, a learner's folder, and the resident grader on, in a folder of this test's."""
    one_exercise_course(tmp_path / "course", "t-resident", "resident", RUBRIC, monkeypatch)
    monkeypatch.setenv("T_STARTED_FILE", str(tmp_path / "started"))
    monkeypatch.setenv("DOCKYARD_RUN_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DOCKYARD_RESIDENT", "1")
    monkeypatch.setenv("DOCKYARD_RESIDENT_IDLE_S", "60")
    (tmp_path / "runs").mkdir()
    (tmp_path / "learner" / "work").mkdir(parents=True)
    (tmp_path / "learner" / "work" / "Dockerfile").write_text("FROM scratch\n")
    yield tmp_path
    for status in (tmp_path / "runs").glob("dockyard-resident-*/*.sock.json"):
        pid = json.loads(status.read_text())["pid"]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        _wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 20, "the server to stop")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def _wait_until(condition, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {within_s} s for {what}"
        time.sleep(0.05)


def _status(tmp_path: Path) -> dict | None:
    found = list((tmp_path / "runs").glob("dockyard-resident-*/*.sock.json"))
    return json.loads(found[0].read_text()) if found else None


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dockyard", *args]


def _grade(tmp_path: Path, mark: str) -> tuple[int, dict, str]:
    """`dockyard grade` from the learner's folder, naming the submission relative to it."""
    result = subprocess.run(_command("grade", "t-resident", "work", "--json"), cwd=tmp_path / "learner",
                            env={**os.environ, "T_MARK": mark}, capture_output=True, text=True, timeout=180)
    return result.returncode, json.loads(result.stdout), result.stderr


def _outcome(report: dict) -> list:
    return [(item["id"], item["points"], item["outcome"]) for item in report["items"]]


def test_a_warm_server_grades_as_the_command_would_in_the_callers_folder_and_environment(resident):
    code, first, _ = _grade(resident, "first")  # no server yet: graded here, and one starts
    _wait_until(lambda: _status(resident) is not None, 30, "the resident grader to start")
    assert _status(resident)["served"] == 0
    code_served, served, _ = _grade(resident, "second")
    assert _status(resident)["served"] == 1
    assert (code_served, _outcome(served), served["score"]) == (code, _outcome(first), first["score"])
    assert (first["score"], first["max_score"]) == (2.0, 3.0)
    assert "not this time, second" in served["items"][1]["feedback"]  # the caller's environment, not the server's
    # a mistake in the command line: its one-line error on the caller's stderr, and its exit status
    wrong = subprocess.run(_command("check", "no-such-exercise"), cwd=resident, capture_output=True, text=True,
                           timeout=60)
    assert _status(resident)["served"] == 2
    assert wrong.returncode == ExitStatus.USAGE and wrong.stderr.startswith("dockyard: ")
    assert "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1


def _hold_a_grading(resident: Path) -> subprocess.Popen:
    """A served grading stopped with its container running."""
    _grade(resident, "warm-up")
    _wait_until(lambda: _status(resident) is not None, 30, "the resident grader to start")
    (resident / "started").unlink(missing_ok=True)
    caller = subprocess.Popen(_command("grade", "t-resident", "work", "--json"), cwd=resident / "learner",
                              env={**os.environ, "T_HOLD_S": "120"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    _wait_until(lambda: (resident / "started").is_file(), 90, "the rubric to start its container")
    assert _status(resident)["served"] >= 1
    return caller


def _nothing_left(docker_client) -> bool:
    runs.wait_for_teardowns()
    return not docker_client.api.containers(all=True, filters=exercise_filter("t-resident"))


def test_ctrl_c_reaches_the_served_command_which_removes_what_it_made(resident, docker_client):
    caller = _hold_a_grading(resident)
    caller.send_signal(signal.SIGINT)
    _, stderr = caller.communicate(timeout=60)
    assert caller.returncode == ExitStatus.INTERRUPTED, stderr
    assert "interrupted; everything this run made was removed" in stderr
    assert _nothing_left(docker_client)


def test_a_killed_caller_stops_its_served_command_which_removes_what_it_made(resident, docker_client):
    caller = _hold_a_grading(resident)
    caller.kill()  # SIGKILL: nothing of the caller runs; the server sees it hang up
    caller.communicate(timeout=30)
    _wait_until(lambda: _nothing_left(docker_client), 60, "the served command to remove its container")
    code, report, _ = _grade(resident, "after")  # and the server serves on
    assert code == 0 and report["score"] == 2.0
