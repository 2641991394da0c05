"""The labels on everything Dockyard makes: whose run it is, which exercise, which process made it.

`dockyard.run=<run id>` and `dockyard.exercise=<id>` say what a resource is for; `dockyard.owner=<host>:<pid>`
says who made it, so a sweep can tell a dead run's leftovers (after a `kill -9`, say) from a live run's.
"""

from __future__ import annotations

import os
import socket
import uuid

from dockyard import scratch

RUN_LABEL = "dockyard.run"
EXERCISE_LABEL = "dockyard.exercise"
OWNER_LABEL = "dockyard.owner"
STANDIN_LABEL = "dockyard.standin"
KINDS = ("container", "network", "volume", "image")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def owner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str | None) -> bool:
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return False  # another machine's run: not ours to judge
    return not pid.isdigit() or not scratch.process_alive(int(pid))
