"""Decisions taken on what happened (exception types, the engine's answer), never on the words of a message.

Each case here used to be a substring test on a human message: `"not found" in str(exc)` (gc.retry and the
notebook's cleanup), `"Connection refused" in text` (the engine's and the probes' wording), and
`"Cannot connect to the Docker daemon" in stderr` (compose, whose stderr carries the learner's build output).
Real exceptions from real sockets and the real docker SDK; no engine (the unit tier's DOCKER_HOST is dead).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import docker.errors
import pytest

from dockyard import engine
from dockyard.course import exercises
from dockyard.engine import gc
from dockyard.errors import ComposeError, EngineLost, EngineUnavailable, caused_by, causes
from dockyard.probes import _net_error
from dockyard.sandbox.compose import run_compose
from tests.unit.conftest import NO_ENGINE

FIRST = exercises.load("03-first-image")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_causes_walks_from_chains_arguments_and_reasons():
    inner = FileNotFoundError(2, "No such file or directory")
    try:
        try:
            raise ValueError("wrapper", inner)
        except ValueError as wrapped:
            raise RuntimeError("outer") from wrapped
    except RuntimeError as outer:
        found = list(causes(outer))
    assert [type(e) for e in found] == [RuntimeError, ValueError, FileNotFoundError]
    assert caused_by(urllib.error.URLError(ConnectionRefusedError(111, "x")), ConnectionRefusedError)
    assert not caused_by(RuntimeError("Connection refused"), ConnectionRefusedError)  # the words do not count


def test_an_unreachable_engine_is_described_from_the_exception_types():
    with pytest.raises(EngineUnavailable, match="the socket does not exist"):
        engine.client("unix:///nonexistent/dockyard-typed.sock")
    with pytest.raises(EngineUnavailable, match=r"tcp://127\.0\.0\.1:\d+: connection refused"):
        engine.client(f"tcp://127.0.0.1:{closed_port()}")
    assert engine.answers("unix:///nonexistent/dockyard-typed.sock") is False


def test_retry_stops_on_not_found_and_keeps_trying_on_other_engine_errors():
    calls = []

    def gone_already():
        calls.append(1)
        raise docker.errors.NotFound("404 Client Error: network abc not found")

    gc.retry(gone_already, pause_s=0)
    assert len(calls) == 1 and gc.gone(docker.errors.ImageNotFound("no such image"))

    calls.clear()

    def driver_trouble():  # a 500 whose words say "no such": not gone, so it is tried again, then raised
        calls.append(1)
        raise docker.errors.APIError("500 Server Error: error while removing network: no such file or directory")

    with pytest.raises(docker.errors.APIError):
        gc.retry(driver_trouble, attempts=3, pause_s=0, reraise=True)
    assert len(calls) == 3 and not gc.gone(docker.errors.APIError("no such volume"))


def test_probe_network_errors_are_named_by_type():
    port = closed_port()
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    assert _net_error(refused.value) == "connection refused"

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def hang_up():  # accept, then close without a word: what an app that dies mid-request does
        connection, _ = server.accept()
        connection.recv(1024)
        connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, urllib.error.URLError)) as hung_up:
            urllib.request.urlopen(f"http://127.0.0.1:{server.getsockname()[1]}/", timeout=5)
    finally:
        server.close()
    assert _net_error(hung_up.value) == "the connection was closed without an answer"
    assert _net_error(OSError("Connection refused, says a message")) == "Connection refused, says a message"


def test_compose_failing_against_a_dead_engine_is_engine_lost_and_config_is_the_files(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    dead = "unix:///nonexistent/dockyard-typed.sock"
    with pytest.raises(EngineLost, match="during `docker compose ps`"):
        run_compose(["-f", str(tmp_path / "compose.yaml"), "-p", "dockyard-typed", "ps"], cwd=tmp_path,
                    engine_url=dead, timeout_s=60)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: [nginx\n")
    with pytest.raises(ComposeError) as broken:  # config never asks the engine: a broken file is the file's fault
        run_compose(["-f", str(tmp_path / "compose.yaml"), "config"], cwd=tmp_path, engine_url=dead, timeout_s=60)
    assert not isinstance(broken.value, EngineLost)



def _grade_static_items(folder: Path, tmp_path: Path) -> dict:
    """03's two Dockerfile-only items, graded by the rubric plugin as the grading child runs it, against an
    engine that does not answer (the unit tier's): the engine went while the grading ran."""
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pytest", "-p", "dockyard.rubric.plugin", str(FIRST.grader), "-q",
                    "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(FIRST.grader), "--import-mode=importlib",
                    "--dockyard-exercise", FIRST.id, "--dockyard-submission", str(folder),
                    "--dockyard-report", str(report), "--dockyard-engine", NO_ENGINE, "-k", "pinned_base or workdir"],
                   capture_output=True, timeout=120,
                   env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTEST_ADDOPTS": ""})
    return json.loads(report.read_text())


def test_a_failed_item_with_the_engine_gone_is_retried_not_scored(tmp_path):
    """A stopping dockerd fails what is in flight with errors that read as the learner's (a build's `Error
    processing tar file`): with the engine gone by the end, a failure is the engine's to retry."""
    untagged = FIRST.folder.parents[1] / "tests" / "exercises" / FIRST.id / "mistakes" / "untagged-base"
    report = _grade_static_items(exercises.materialize(FIRST, FIRST.solution, tmp_path / "untagged", untagged), tmp_path)
    assert [item["passed"] for item in report["items"]] == [False, True]
    assert (report["status"], report["retry"]) == ("error", True)
    assert report["error"] == "the Docker engine stopped answering during the grading"


def test_a_grading_whose_items_all_passed_stands_whatever_the_engine_does_after(tmp_path):
    report = _grade_static_items(exercises.materialize(FIRST, FIRST.solution, tmp_path / "solution"), tmp_path)
    assert [item["passed"] for item in report["items"]] == [True, True]
    assert (report["status"], report["retry"], report["score"]) == ("graded", False, 3.0)
