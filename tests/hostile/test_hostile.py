"""Hostile submissions: each ends as a graded report (or a clear refusal) within its bound, with a
reason a teacher understands, while an honest submission graded at the same time keeps its
normal score, the engine stays responsive, and nothing labelled is left behind.

Each case is a folder in cases/: the files laid over the exercise's reference solution, and
expect.toml (exercise, verdict, reason words, time bound, sandbox limit overrides, and max_rss_mb: the
grading's peak memory, its child process and what that ran; DEFAULT_MAX_RSS_MB when not given).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import socket
import time
import tomllib
from pathlib import Path

import pytest

from dockyard import engine
from dockyard.engine import gc
from dockyard.engine.labels import EXERCISE_LABEL, KINDS
from dockyard.rubric import runner
from tests.helpers import engine_responds_quickly, materialize
from tests.hostile.conftest import FIGURES

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if (p / "expect.toml").is_file())
HONEST = "01-first-image"
DEFAULT_MAX_RSS_MB = 200  # the grading's peak memory (its child process and what that ran), every case


def containers_started_since(since: datetime.datetime, exercise_id: str) -> int:
    """Containers of the exercise started since then. Started, not created: a rubric may still build the
    Dockerfile of a submission whose compose file is refused (07 reads the image's config), and the
    builder's LABEL steps create containers that never run anything."""
    client = engine.client()
    events = client.events(since=since, until=datetime.datetime.now(datetime.timezone.utc), decode=True,
                           filters={"type": "container", "event": "start",
                                    "label": f"{EXERCISE_LABEL}={exercise_id}"})
    return sum(1 for _ in events)


def everything_said(report) -> str:
    return "\n".join([report.error or ""] + [f"{i.id}: {i.feedback}" for i in report.items if not i.passed])


@pytest.fixture(scope="module")
def honest_folder(tmp_path_factory):
    return materialize(HONEST, None, tmp_path_factory.mktemp("honest") / "submission")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_case(case, tmp_path, honest_folder, monkeypatch):
    expect = tomllib.loads((case / "expect.toml").read_text())
    folder = materialize(expect["exercise"], case, tmp_path / "submission")
    if "make_sparse" in expect:
        with open(folder / expect["make_sparse"], "wb") as sparse:
            sparse.truncate(4 * 2**30)
    if "make_files" in expect:  # many (empty) files, made here: git need not carry them
        junk = folder / expect["make_files"]["folder"]
        junk.mkdir(parents=True, exist_ok=True)
        for number in range(expect["make_files"]["count"]):
            (junk / f"f{number}").touch()
    if "symlink" in expect:
        name, target = expect["symlink"]
        (folder / name).symlink_to(target)
    if "limits" in expect:
        monkeypatch.setenv("DOCKYARD_LIMITS", expect["limits"])
    held = None
    if "hold_port" in expect:
        held = socket.socket()
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", expect["hold_port"]))
        held.listen()
    FIGURES["cases"] += 1
    since = datetime.datetime.now(datetime.timezone.utc)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            honest = pool.submit(runner.grade, HONEST, honest_folder)
            started = time.monotonic()
            report = runner.grade(expect["exercise"], folder)
            elapsed = time.monotonic() - started
            responsive = engine_responds_quickly()
            honest_report = honest.result(timeout=600)
    finally:
        if held is not None:
            held.close()

    said = everything_said(report)
    peak = runner.peak_rss_mb(report.run_id)
    FIGURES.setdefault("rows", []).append((case.name, elapsed, peak, expect["verdict"], report.score, report.max_score))
    max_rss_mb = expect.get("max_rss_mb", DEFAULT_MAX_RSS_MB)
    assert peak is not None and peak < max_rss_mb, f"the grading's peak memory was {peak} MB, bound {max_rss_mb} MB"
    assert elapsed < expect["bound_s"], f"took {elapsed:.0f} s, bound {expect['bound_s']} s"
    assert report.status == "graded", report.error
    assert report.score < report.max_score or expect["verdict"] == "graded" and not expect["reason"]
    for word in expect["reason"]:
        assert word.lower() in said.lower(), f"the report should say {word!r}:\n{said}"
    for item in report.items:
        assert "Traceback" not in item.feedback and len(item.feedback) < 2000
    if expect["verdict"] == "refused":
        assert f":{expect['line']}" in said, f"the refusal should name line {expect['line']}:\n{said}"
        assert containers_started_since(since, expect["exercise"]) == 0, "a refused submission must start nothing"
    if expect["verdict"] == "graded" and not expect["reason"]:
        assert report.score == report.max_score, said
    assert responsive, "the engine stopped answering quickly during the case"
    assert honest_report.status == "graded" and honest_report.score == honest_report.max_score, \
        everything_said(honest_report)
    left = gc.leftovers(run_ids=[report.run_id, honest_report.run_id])
    FIGURES["leaked"] = {kind: FIGURES["leaked"].get(kind, 0) + count for kind, count in left.items()}
    assert left == dict.fromkeys(KINDS, 0), f"left behind: {left}"
    FIGURES["contained"] += 1
