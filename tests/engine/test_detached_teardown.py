"""Issue 20: the report is final when the last item ends; the teardown goes on in a detached copy of the child.

The rubric here starts a real container in the grading's sandbox and holds its teardown for a while (before the
sandbox's sweep), so the test can see the grading return while its container is still there, then go.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from dockyard.engine import gc, runs
from dockyard.rubric import runner
from tests.helpers import one_exercise_course, run_filter

pytestmark = pytest.mark.xdist_group("detached-teardown")

RUBRIC = '''
import os, time
from pathlib import Path
import pytest


@pytest.fixture(scope="session")
def held_teardown(dockyard_sandbox):
    """Torn down before the sandbox: holds the container there a while, and says which process tears down."""
    yield
    Path(os.environ["T_TEARDOWN_PID_FILE"]).write_text(str(os.getpid()))
    time.sleep(float(os.environ["T_TEARDOWN_HOLD_S"]))


@pytest.mark.points(3)
def test_runs_a_container(dockyard_sandbox, held_teardown):
    """A container runs in the sandbox"""
    running = dockyard_sandbox.start("gradertest-base:perl", ports=(), command=["sleep", "300"])
    running.container.reload()
    assert running.container.status == "running"


@pytest.mark.points(1)
def test_fails(dockyard_submission):
    """This one fails, on purpose"""
    assert False, "not this time"
'''


@pytest.fixture()
def course(tmp_path, monkeypatch, docker_client):
    one_exercise_course(tmp_path / "course", "t-detach", "detach", RUBRIC, monkeypatch)
    monkeypatch.setenv("T_TEARDOWN_PID_FILE", str(tmp_path / "teardown.pid"))
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM scratch\n")
    return folder


def containers_of(docker_client, run_id: str) -> int:
    return len(docker_client.api.containers(all=True, filters=run_filter(run_id)))


def test_the_report_comes_before_the_teardown_and_the_teardown_still_removes_everything(
        course, docker_client, monkeypatch, tmp_path):
    monkeypatch.setenv("T_TEARDOWN_HOLD_S", "4")
    report = runner.grade("t-detach", course, run_id="detach-a", detach_teardown=True, timeout_s=120)
    # final as it is: every item, its points, the failure's feedback
    assert report.status == "graded" and (report.score, report.max_score) == (3.0, 4.0), report
    assert [item.outcome for item in report.items] == ["passed", "failed"]
    # ...while the teardown is still under way, in another process, with the run's container still there
    assert runs.tearing_down(["detach-a"]) == ["detach-a"]
    assert containers_of(docker_client, "detach-a") == 1
    assert int((tmp_path / "teardown.pid").read_text()) != os.getpid()
    # counting leftovers waits for it: then nothing of the run is left, and its mark is gone
    assert gc.leftovers(run_ids=["detach-a"]) == dict.fromkeys(("container", "network", "volume", "image"), 0)
    assert runs.tearing_down(["detach-a"]) == []


def test_without_detaching_the_grading_returns_after_its_teardown(course, docker_client, monkeypatch):
    monkeypatch.setenv("T_TEARDOWN_HOLD_S", "0")
    report = runner.grade("t-detach", course, run_id="detach-b", timeout_s=120)
    assert report.status == "graded" and report.score == 3.0
    assert runs.tearing_down(["detach-b"]) == [] and containers_of(docker_client, "detach-b") == 0


def test_a_teardown_killed_midway_leaves_a_dead_run_that_a_sweep_removes(course, docker_client, monkeypatch,
                                                                          tmp_path):
    monkeypatch.setenv("T_TEARDOWN_HOLD_S", "60")
    report = runner.grade("t-detach", course, run_id="detach-c", detach_teardown=True, timeout_s=120)
    assert report.status == "graded"
    pid_file = tmp_path / "teardown.pid"
    deadline = time.monotonic() + 30
    while not pid_file.is_file() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the detached teardown never started"
        time.sleep(0.05)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert runs.wait_for_teardowns(["detach-c"], timeout_s=30) == []  # the kernel dropped its lock
    assert containers_of(docker_client, "detach-c") == 1  # what it had not removed yet...
    removed = gc.sweep()  # ...is a dead run's, as `dockyard clean` sweeps them
    assert removed["container"] >= 1 and containers_of(docker_client, "detach-c") == 0
    assert not any(gc.leftovers(run_ids=["detach-c"]).values())
