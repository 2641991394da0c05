"""The CLI's contract where no engine is needed: a fast --help, usage errors exit 2, an unreachable engine
exits 3 with one line, `list` shows the points."""

from __future__ import annotations

import io
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


def test_a_bad_roster_is_one_usage_line_and_nothing_is_graded(tmp_path, monkeypatch):
    """lms.read_roster refuses with BadRoster (a UsageError): main prints one line, led by the flag, and exits 2."""
    from dockyard.cli import Environment, main
    from dockyard.errors import BadRoster, ExitStatus

    monkeypatch.setenv("DOCKYARD_COURSE", str(FIXTURES / "course"))
    (tmp_path / "class" / "ann").mkdir(parents=True)
    roster = tmp_path / "roster.csv"
    roster.write_text("submission,ID\nann,1\nann,2\n")
    out, err = io.StringIO(), io.StringIO()
    code = main(["batch", "t-web", str(tmp_path / "class"), "--roster", str(roster), "--out", str(tmp_path / "gb")],
                Environment(stdout=out, stderr=err, colour=False))
    assert code == ExitStatus.USAGE == 2
    assert err.getvalue() == f"dockyard: --roster: roster {roster}:3: submission 'ann' is listed twice\n"
    assert out.getvalue() == "" and not (tmp_path / "gb").exists()
    refused = BadRoster(roster, "roster lists no students").given_as("--roster")
    assert isinstance(refused, BadRoster) and refused.path == str(roster) and str(refused) == refused.message


def test_an_internal_value_error_is_not_taken_for_bad_input(monkeypatch):
    """Only Dockyard's typed refusals are usage errors: a ValueError from a bug exits 1 as an internal error."""
    from dockyard.cli import Environment, main, outputs

    def broken(path):
        raise ValueError("a bug, not the teacher's roster")

    monkeypatch.setenv("DOCKYARD_COURSE", str(FIXTURES / "course"))
    monkeypatch.delenv("DOCKYARD_DEBUG", raising=False)
    monkeypatch.setattr(outputs.lms, "read_roster", broken)
    err = io.StringIO()
    code = main(["batch", "t-web", "/nowhere", "--roster", "r.csv"], Environment(stdout=io.StringIO(), stderr=err))
    assert code == 1 and "internal error: ValueError" in err.getvalue()
