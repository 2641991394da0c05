"""The labels on everything Dockyard makes: whose run it is, which exercise, which process made it.

`dockyard.run=<run id>` and `dockyard.exercise=<id>` say what a resource is for; `dockyard.owner=<host>:<pid>`
says who made it, so a sweep can tell a dead run's leftovers (after a `kill -9`, say) from a live run's.
An image says less (`image_labels`): the classic builder adds one LABEL step per label, and a label whose value
changes with every grading (the owner's pid) is a step no build cache can hold. So an image carries the run, the
exercise and the host; whether its run is alive is asked of the run's mark on that host (engine/runs.py).
"""

from __future__ import annotations

import os
import socket
import uuid

from dockyard import scratch

RUN_LABEL = "dockyard.run"
EXERCISE_LABEL = "dockyard.exercise"
OWNER_LABEL = "dockyard.owner"
OWNER_START_LABEL = "dockyard.owner.start"  # the owner's start time: with its pid, one process for good
HOST_LABEL = "dockyard.host"  # on images: the host whose run marks say whether the run is alive
STANDIN_LABEL = "dockyard.standin"
KINDS = ("container", "network", "volume", "image")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def owner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_labels() -> dict[str, str]:
    """The owner labels of what this process makes: host:pid, and the process's start time when known."""
    start = scratch.process_start(os.getpid())
    return {OWNER_LABEL: owner_label(), **({OWNER_START_LABEL: str(start)} if start is not None else {})}


def image_labels(run_id: str, exercise_id: str) -> dict[str, str]:
    """The labels of an image a grading builds. The builder adds them as LABEL steps in the order of their keys
    (exercise, host, run): the first two are the same for every grading of the exercise on this host, so the
    cache holds them, and the run's label is the build's one step that is new each time."""
    return {EXERCISE_LABEL: exercise_id, HOST_LABEL: socket.gethostname(), RUN_LABEL: run_id}


def owner_is_dead(owner: str | None, start: str | None = None) -> bool:
    """Whether the maker (`host:pid`, and its start time when labelled) is gone: ended, a zombie, or its pid
    now another process's."""
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return False  # another machine's run: not ours to judge
    started = int(start) if start and str(start).isdigit() else None
    return not pid.isdigit() or not scratch.process_alive(int(pid), started)
