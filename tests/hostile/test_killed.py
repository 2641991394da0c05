"""A grading killed with SIGKILL in the middle of a flood of output is cleaned in one `dockyard clean`:
its child dies with it (it does not go on flooding), and its resources' owner is then recognised as dead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dockyard import engine
from dockyard.engine import gc
from dockyard.engine.labels import EXERCISE_LABEL, KINDS, OWNER_LABEL, RUN_LABEL
from dockyard.rubric import rss
from tests.helpers import materialize

CASE = Path(__file__).parent / "cases" / "floods-its-output"
DOCKYARD = [sys.executable, "-m", "dockyard"]


def test_a_grading_killed_mid_flood_is_cleaned_in_one_pass(tmp_path):
    folder = materialize("04-entrypoint-cmd", CASE, tmp_path / "submission")
    env = {**os.environ, "DOCKYARD_LIMITS": "run_timeout_s=30"}
    grading = subprocess.Popen([*DOCKYARD, "grade", "04-entrypoint-cmd", str(folder)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = engine.client()
    run_ids: set[str] = set()
    try:
        deadline = time.monotonic() + 120
        while not run_ids and time.monotonic() < deadline:  # its flooding container, by its owner's pid
            pids = {grading.pid, *rss.descendants(grading.pid)}
            for container in client.api.containers(filters={"label": f"{EXERCISE_LABEL}=04-entrypoint-cmd"}):
                labels = container.get("Labels") or {}
                owner_pid = labels.get(OWNER_LABEL, "").rpartition(":")[2]
                if owner_pid.isdigit() and int(owner_pid) in pids:
                    run_ids.add(labels[RUN_LABEL])
            time.sleep(0.5)
        assert run_ids, "the grading never started its container"
        children = rss.descendants(grading.pid)
        time.sleep(2)  # flooding now
    finally:
        grading.send_signal(signal.SIGKILL)
        grading.wait(30)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") and (Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                                                  or ["Z"])[0] != "Z" for pid in children) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    started = time.monotonic()
    cleaned = subprocess.run([*DOCKYARD, "clean"], capture_output=True, text=True, timeout=120)
    assert cleaned.returncode == 0, cleaned.stderr
    assert time.monotonic() - started < 60
    assert gc.leftovers(run_ids=sorted(run_ids)) == dict.fromkeys(KINDS, 0), cleaned.stdout
