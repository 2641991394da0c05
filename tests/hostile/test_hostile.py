"""Hostile submissions: each ends as a graded report (or a clear refusal) within its bound, with a
reason a teacher understands, while an honest submission graded at the same time keeps its
normal score, the engine stays responsive, and nothing labelled is left behind.

Each case is a folder in cases/: the files laid over the exercise's reference solution, and
expect.toml (exercise, verdict, reason words, time bound, sandbox limit overrides, and max_rss_mb: the
grading's peak memory, its child process and what that ran; DEFAULT_MAX_RSS_MB when not given).
What git cannot carry is made at test time: `make_sparse` (a sparse 4 GiB file), `make_files` (many empty
files), `symlink` and `make_names` (names in Python escapes: `bad\\xffname`, `two\\nlines`), `make_fifo` (a
named pipe the test feeds for as long as anyone reads it). Every case's report is also rendered in each
format (terminal, Markdown, both HTML pages, JSON) and must carry no control character, lone surrogate,
live HTML or live Markdown link: learner text reaches no report unescaped.
"""

from __future__ import annotations

import codecs
import concurrent.futures
import datetime
import os
import re
import socket
import threading
import time
import tomllib
from pathlib import Path

import pytest

from dockyard import engine
from dockyard.engine import gc
from dockyard.engine.labels import KINDS, RUN_LABEL
from dockyard.report import feedback, html, terminal
from dockyard.rubric import runner
from tests.helpers import engine_responds_quickly, materialize
from tests.hostile.conftest import FIGURES

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if (p / "expect.toml").is_file())
HONEST = "03-first-image"
DEFAULT_MAX_RSS_MB = 200  # the grading's peak memory (its child process and what that ran), every case


def containers_started_since(since: datetime.datetime, run_id: str) -> int:
    """Containers of that grading (its run label) started since then. Started, not created: a rubric may still
    build the Dockerfile of a submission whose compose file is refused (07 reads the image's config), and the
    builder's LABEL steps create containers that never run anything. By run, not by exercise: the honest
    grading beside it, and other test runs on a shared engine, grade the same exercises."""
    client = engine.client()
    events = client.events(since=since, until=datetime.datetime.now(datetime.timezone.utc), decode=True,
                           filters={"type": "container", "event": "start",
                                    "label": f"{RUN_LABEL}={run_id}"})
    return sum(1 for _ in events)


def name_bytes(name: str) -> bytes:
    """A file name as expect.toml spells it, Python escapes and all (`bad\\xffname`): bytes git cannot carry."""
    return codecs.escape_decode(name.encode("utf-8"))[0]


def feed_forever(path: Path, stop: threading.Event) -> None:
    """Write to a named pipe for as long as a reader holds it open (a learner's `yes > pipe`)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # nobody reads it (yet)
        fd = None
    while fd is None and not stop.wait(0.05):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
    if fd is None:
        return
    try:
        while not stop.is_set():
            try:
                os.write(fd, b"y\n" * 32768)
            except BlockingIOError:
                stop.wait(0.01)
    except OSError:  # the reader left
        pass
    finally:
        os.close(fd)


def assert_reports_safe(report) -> None:
    """Learner text reaches no report unescaped: the terminal (rich), Markdown and the two HTML renderings
    carry no control character, no lone surrogate (a non-UTF-8 file name), no live HTML or Markdown link."""
    rendered = {"terminal": terminal.to_text(report), "markdown": feedback.markdown(report),
                "html page": feedback.html(report), "notebook html": html.report_html(report),
                "json": report.to_json()}
    for where, text in rendered.items():
        text.encode("utf-8")  # strict: a lone surrogate cannot be printed or written
        assert not any(ord(char) < 32 and char not in "\n" or 0x7f <= ord(char) < 0xa0 for char in text), \
            f"a control character reached the {where} report:\n{text!r}"
    for where in ("html page", "notebook html"):
        lowered = rendered[where].lower()
        assert "<script" not in lowered and "<img" not in lowered and "<a href=\"http" not in lowered, \
            f"learner HTML reached the {where} report"
    outside_code = re.sub(r"`[^`]*`", "", rendered["markdown"])  # code spans show what they hold as typed
    assert not re.search(r"(?<!\\)[\[\]]", outside_code), \
        f"a live Markdown link or image reached the Markdown report:\n{rendered['markdown']}"


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
        os.symlink(target, os.path.join(os.fsencode(folder), name_bytes(name)))
    if "make_names" in expect:  # files whose names break tools (bytes, newlines, dashes): git cannot carry them
        for name in expect["make_names"]:
            with open(os.path.join(os.fsencode(folder), name_bytes(name)), "wb") as made:
                made.write(b"not part of the app\n")
    stop_feeding = threading.Event()
    if "make_fifo" in expect:  # a named pipe, fed for as long as anyone reads it
        os.mkfifo(folder / expect["make_fifo"])
        threading.Thread(target=feed_forever, args=(folder / expect["make_fifo"], stop_feeding), daemon=True).start()
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
        stop_feeding.set()
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
    assert_reports_safe(report)
    if expect["verdict"] == "refused":
        assert f":{expect['line']}" in said, f"the refusal should name line {expect['line']}:\n{said}"
        assert containers_started_since(since, report.run_id) == 0, "a refused submission must start nothing"
    if expect["verdict"] == "graded" and not expect["reason"]:
        assert report.score == report.max_score, said
    assert responsive, "the engine stopped answering quickly during the case"
    assert honest_report.status == "graded" and honest_report.score == honest_report.max_score, \
        everything_said(honest_report)
    left = gc.leftovers(run_ids=[report.run_id, honest_report.run_id])
    FIGURES["leaked"] = {kind: FIGURES["leaked"].get(kind, 0) + count for kind, count in left.items()}
    assert left == dict.fromkeys(KINDS, 0), f"left behind: {left}"
    FIGURES["contained"] += 1
