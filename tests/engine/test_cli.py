"""The CLI contract: exit codes, JSON keys, JUnit parses, Gradescope's results.json format, a fast --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DOCKYARD = [sys.executable, "-m", "dockyard"]
REPORT_KEYS = {"exercise", "score", "max_score", "status", "error", "duration_s", "items"}
ITEM_KEYS = {"id", "title", "points", "max_points", "passed", "feedback"}


def run(*args, **env):
    environment = {**os.environ, "DOCKYARD_COURSE": str(FIXTURES / "course"), **env}
    return subprocess.run([*DOCKYARD, *args], capture_output=True, text=True, env=environment, timeout=300)


def test_grade_json_junit_gradescope(tmp_path, docker_client):
    junit, gradescope = tmp_path / "junit.xml", tmp_path / "results.json"
    result = run("grade", "t-web", str(FIXTURES / "submissions" / "never-listens"), "--json",
                 "--junit", str(junit), "--gradescope", str(gradescope))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout holds only the JSON
    assert REPORT_KEYS <= set(report) and report["status"] == "graded" and report["error"] is None
    assert report["score"] == 4.0 and report["max_score"] == 7.0
    assert all(ITEM_KEYS <= set(item) for item in report["items"])
    suite = ET.parse(junit).getroot()
    cases = suite.iter("testcase")
    assert len(list(cases)) == 4 and len(list(suite.iter("failure"))) == 1
    results = json.loads(gradescope.read_text())
    assert results["score"] == 4.0 and len(results["tests"]) == 4
    for test in results["tests"]:
        assert {"name", "score", "max_score", "output"} <= set(test)
    assert sum(test["max_score"] for test in results["tests"]) == 7.0


def test_check_renders_a_table(docker_client):
    result = run("check", "t-web", str(FIXTURES / "submissions" / "good"))
    assert result.returncode == 0 and "7/7" in result.stdout and "The app answers on port 8000" in result.stdout
