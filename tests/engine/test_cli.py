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


def test_a_remote_engine_is_refused_in_one_line_pointing_to_the_worker():
    for command in (["check", "t-web"], ["grade", "t-web", str(FIXTURES / "submissions" / "good")],
                    ["batch", "t-web", str(FIXTURES / "submissions")], ["worker", "--queue", "redis://127.0.0.1:1/0"]):
        result = run(*command, "--engine", "tcp://127.0.0.1:2375")
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "engine's own host" in lines[0] and "dockyard worker" in lines[0], result.stderr


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


def test_clean_run_removes_exactly_that_run(docker_client):
    """`dockyard clean --run RUN_ID` removes that run's labelled resources, live maker or not, and nothing of
    another run's; a run id that is no label value is a usage error."""
    from dockyard.engine import gc
    from dockyard.engine.labels import EXERCISE_LABEL, RUN_LABEL, new_run_id, owner_labels

    target, other = new_run_id(), new_run_id()
    for run_id in (target, other):
        labels = {RUN_LABEL: run_id, EXERCISE_LABEL: "t-web", **owner_labels()}  # this process: alive
        docker_client.networks.create(f"dockyard-cleanrun-{run_id}", labels=labels)
        docker_client.volumes.create(f"dockyard-cleanrun-{run_id}", labels=labels)
        docker_client.containers.create("gradertest-base:perl", ["true"], labels=labels,
                                        name=f"dockyard-cleanrun-{run_id}")
    try:
        result = run("clean", "--run", target)
        assert result.returncode == 0, result.stderr
        assert f"run {target}: removed 1 container(s), 1 network(s), 1 volume(s)" in result.stdout, result.stdout
        assert gc.leftovers(run_ids=[target]) == {"container": 0, "network": 0, "volume": 0, "image": 0}
        assert gc.leftovers(run_ids=[other]) == {"container": 1, "network": 1, "volume": 1, "image": 0}
        again = run("clean", "--run", target)
        assert again.returncode == 0 and "nothing of it is left" in again.stdout, again.stdout
        refused = run("clean", "--run", "x; rm -rf /")
        assert refused.returncode == 2 and "not a run id" in refused.stderr, refused.stderr
        both = run("clean", "--run", other, "--all")
        assert both.returncode == 2 and gc.leftovers(run_ids=[other])["network"] == 1, both.stderr
    finally:
        gc.sweep(run_id=target)
        gc.sweep(run_id=other)
    assert gc.leftovers(run_ids=[other]) == {"container": 0, "network": 0, "volume": 0, "image": 0}
