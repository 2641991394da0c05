"""Signals under load: a grading told to stop (SIGTERM, as a batch system or `kill` sends it; SIGINT, as Ctrl-C
does) while its container floods its output ends within a few seconds, says so in one line, and removes all it
made by itself (no `dockyard clean`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard import engine
from dockyard.engine import gc
from dockyard.engine.labels import EXERCISE_LABEL, KINDS, OWNER_LABEL, RUN_LABEL
from dockyard.errors import ExitStatus
from dockyard.rubric import rss
from tests.helpers import materialize

CASE = Path(__file__).parent / "cases" / "floods-its-output"
DOCKYARD = [sys.executable, "-m", "dockyard"]
STOP_BOUND_S = 15.0  # "a few seconds": what a teacher's Ctrl-C or a batch system's SIGTERM may wait


def running_run_ids(grading: subprocess.Popen) -> set[str]:
    """The runs whose containers this grading (or a process under it) owns and that are running now."""
    pids = {grading.pid, *rss.descendants(grading.pid)}
    found = set()
    for container in engine.client().api.containers(filters={"label": f"{EXERCISE_LABEL}=04-entrypoint-cmd"}):
        labels = container.get("Labels") or {}
        owner_pid = labels.get(OWNER_LABEL, "").rpartition(":")[2]
        if owner_pid.isdigit() and int(owner_pid) in pids:
            found.add(labels[RUN_LABEL])
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_grading_told_to_stop_mid_flood_ends_soon_and_leaves_nothing(sig, tmp_path):
    folder = materialize("04-entrypoint-cmd", CASE, tmp_path / "submission")
    env = {**os.environ, "DOCKYARD_LIMITS": "run_timeout_s=60"}
    grading = subprocess.Popen([*DOCKYARD, "grade", "04-entrypoint-cmd", str(folder)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        run_ids: set[str] = set()
        deadline = time.monotonic() + 120
        while not run_ids:
            assert time.monotonic() < deadline and grading.poll() is None, "the grading never started its container"
            run_ids = running_run_ids(grading)
            time.sleep(0.3)
        time.sleep(2.0)  # flooding now
        told = time.monotonic()
        grading.send_signal(sig)
        _, stderr = grading.communicate(timeout=120)
        took = time.monotonic() - told
    finally:
        if grading.poll() is None:
            grading.kill()
            grading.wait(30)
    print(f"{signal.Signals(sig).name}: stopped in {took:.1f} s")
    assert took < STOP_BOUND_S, f"took {took:.1f} s to stop"
    assert grading.returncode == ExitStatus.INTERRUPTED, stderr
    assert stderr.strip().splitlines()[-1].startswith("dockyard: interrupted"), stderr
    assert gc.leftovers(run_ids=sorted(run_ids)) == dict.fromkeys(KINDS, 0), "it removed what it made by itself"
