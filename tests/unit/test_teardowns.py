"""engine/teardowns.py: a run tearing down in another process is seen, waited for, and forgotten once it ends."""

from __future__ import annotations

import os
import signal

import pytest

from dockyard.engine import teardowns


@pytest.fixture(autouse=True)
def own_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKYARD_RUN_DIR", str(tmp_path))  # apart from the marks of gradings on this host


def tearing_down(run_id: str, then: str) -> int:
    """A forked process that marks `run_id` and then ends (`end`), or blocks until killed (`hold`)."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        teardowns.begin(run_id)
        os.write(ready_w, b"x")
        if then == "end":
            teardowns.end(run_id)
            os._exit(0)
        signal.pause()
        os._exit(0)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"x"
    os.close(ready_r)
    return pid


def test_a_teardown_in_another_process_is_under_way_until_that_process_ends():
    pid = tearing_down("run-a", "hold")
    try:
        assert teardowns.under_way() == ["run-a"]
        assert teardowns.under_way(["run-a", "run-b"]) == ["run-a"] and teardowns.under_way(["run-b"]) == []
        assert teardowns.wait(["run-a"], timeout_s=0.1) == ["run-a"]  # still going: said so, not hidden
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert teardowns.wait(["run-a"], timeout_s=5) == []  # killed: the kernel dropped its lock
    assert not any(name == "run-a" for name in os.listdir(teardowns._folder()))  # and the stale mark is gone


def test_an_ended_teardown_leaves_no_mark():
    pid = tearing_down("run-c", "end")
    os.waitpid(pid, 0)
    assert teardowns.under_way() == [] and os.listdir(teardowns._folder()) == []


def test_this_process_never_waits_for_its_own_teardown():
    teardowns.begin("run-d")
    try:
        assert teardowns.under_way() == [] and teardowns.wait(timeout_s=0) == []
    finally:
        teardowns.end("run-d")
    assert os.listdir(teardowns._folder()) == []
