"""The CLI's contract where no engine is needed: a fast --help, usage errors exit 2, an unreachable engine
exits 3 with one line, `list` shows the points."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import FIXTURES

DOCKYARD = [sys.executable, "-m", "dockyard"]


def run(*args, **env):
    environment = {**os.environ, "DOCKYARD_COURSE": str(FIXTURES / "course"), **env}
    return subprocess.run([*DOCKYARD, *args], capture_output=True, text=True, env=environment, timeout=300)


def test_help_is_fast():
    script = Path(sys.executable).parent / "dockyard"
    started = time.monotonic()
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "check" in result.stdout
    assert time.monotonic() - started < 0.3 + 0.2  # a little slack for a loaded CI machine


def test_usage_errors_exit_2():
    assert run("grade", "no-such-exercise", ".").returncode == 2
    missing = run("grade", "t-web", "/no/such/folder")
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert run("grade").returncode == 2


def test_engine_unreachable_exits_3_with_one_line():
    result = run("grade", "t-web", str(FIXTURES / "submissions" / "good"), "--json",
                 DOCKER_HOST="unix:///nonexistent.sock")
    assert result.returncode == 3 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_list_shows_points():
    result = run("list")
    assert result.returncode == 0 and "t-web" in result.stdout and "7 points" in result.stdout
