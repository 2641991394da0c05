"""engine/runs.py: a run's mark says it is alive while held, tearing down once its maker ended, dead once let go."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from dockyard.engine import runs
from dockyard.engine.labels import image_labels, owner_labels


@pytest.fixture(autouse=True)
def own_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKYARD_RUN_DIR", str(tmp_path))  # apart from the marks of gradings on this host


def holder(run_id: str, detach: bool) -> int:
    """A forked process holding `run_id` until killed. `detach`: it forks a copy that keeps the mark and ends
    itself, as a grading child hands its teardown off (rubric/detach.py). Returns the pid that holds the mark."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        runs.hold(run_id)
        if detach and os.fork():
            os._exit(0)  # the maker ends; its copy holds on
        os.write(ready_w, str(os.getpid()).encode())
        signal.pause()
        os._exit(0)
    os.close(ready_w)
    holding = int(os.read(ready_r, 32))
    os.close(ready_r)
    if detach:
        os.waitpid(pid, 0)
    return holding


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # a detached copy is not our child: the kernel drops its lock as it dies, which the test waits for


def test_a_run_held_by_its_live_maker_is_alive_and_not_tearing_down():
    pid = holder("run-a", detach=False)
    try:
        assert runs.alive("run-a") and not runs.alive("run-b")
        assert runs.tearing_down() == [] and runs.wait_for_teardowns(timeout_s=0) == []  # a grading, not a teardown
        lean = image_labels("run-a", "03-first-image")
        assert not runs.maker_is_dead(lean) and not runs.made_by_me(lean)
    finally:
        stop(pid)
    assert not runs.alive("run-a") and runs.maker_is_dead(image_labels("run-a", "03-first-image"))
    assert os.listdir(runs._folder()) == []  # the killed holder's stale mark is gone once seen


def test_a_run_whose_maker_ended_but_whose_copy_holds_it_is_tearing_down_until_the_copy_ends():
    copy = holder("run-c", detach=True)
    try:
        assert runs.tearing_down() == ["run-c"] and runs.tearing_down(["run-x"]) == []
        assert runs.wait_for_teardowns(["run-c"], timeout_s=0.1) == ["run-c"]  # still going: said so
        assert runs.alive("run-c")
    finally:
        stop(copy)
    assert runs.wait_for_teardowns(["run-c"], timeout_s=5) == [] and not runs.alive("run-c")


def test_this_process_holds_its_own_runs_counts_their_images_as_its_own_and_never_waits_for_them():
    runs.hold("run-d")
    runs.hold("run-d")  # a second sandbox of the same run
    try:
        assert runs.held_here("run-d") and runs.alive("run-d") and runs.tearing_down() == []
        assert runs.made_by_me(image_labels("run-d", "x")) and not runs.maker_is_dead(image_labels("run-d", "x"))
        runs.release("run-d")
        assert runs.held_here("run-d"), "the first release of two must keep the mark"
    finally:
        runs.release("run-d")
    assert not runs.held_here("run-d") and os.listdir(runs._folder()) == []


def test_labels_with_an_owner_are_judged_by_the_owner_and_another_hosts_image_is_not_ours():
    assert not runs.maker_is_dead({**owner_labels(), "dockyard.run": "r"})
    assert runs.made_by_me({**owner_labels(), "dockyard.run": "r"})
    assert runs.maker_is_dead({"dockyard.owner": f"{socket.gethostname()}:999999999", "dockyard.run": "r"})
    assert not runs.maker_is_dead({"dockyard.host": "another-host", "dockyard.run": "r"})
    assert runs.maker_is_dead({"dockyard.run": "r"})  # naming no maker at all: nobody's
    assert not runs.alive("../etc") and not runs.alive(".hidden") and not runs.alive(None)


def test_a_marks_folder_someone_else_could_write_is_not_used(tmp_path):
    """In a shared /tmp another user may have made the name first: a link, or a folder others may write."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs._folder().symlink_to(elsewhere)
    runs.hold("run-e")
    try:
        assert not runs.held_here("run-e") and os.listdir(elsewhere) == [] and runs.tearing_down() == []
    finally:
        runs.release("run-e")
    runs._folder().unlink()
    runs._folder().mkdir(mode=0o777)
    os.chmod(runs._folder(), 0o777)
    runs.hold("run-f")
    assert not runs.held_here("run-f") and os.listdir(runs._folder()) == []
