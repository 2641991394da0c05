"""The grading child: one process per grading, which runs the rubric with pytest and writes the Report.

How it starts matters for speed. Exec'ing a new interpreter (`python -m pytest`) cost ~0.25 s of
imports per grading. Instead the child is forked:
- from the caller itself when the caller has a single thread (`dockyard grade`, `dockyard check`):
  fork is safe then, and the child imports pytest while its prefetch already builds the image;
- from a forkserver when the caller has threads (batch's workers, a Jupyter kernel): forking a
  threaded process can inherit a lock held by another thread, so a small server process, started
  once with pytest and the plugin already imported (rubric/warm.py), forks the children instead.
Either way the child is a process of its own, as before: its own session (killable as a group),
its own pytest state and modules, its output in a file, never on the caller's stdout.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path

from dockyard import engine
from dockyard.course import exercises
from dockyard.engine import firewall
from dockyard.rubric import prefetch, rss
from dockyard.rubric.progress import emit

WARM_MODULES = ["dockyard.rubric.warm"]
PREFETCH_HEAD_START_S = 1.0  # at most this long does the child wait for its prefetch to reach the engine
_forkserver_lock = threading.Lock()
_forkserver_context = None


@dataclass(frozen=True)
class Job:
    """Everything one grading child needs (picklable: the forkserver gets it by pickle)."""

    exercise_id: str
    folder: str
    grader: str
    course: str
    run_id: str
    engine_url: str | None
    runtime: str | None
    report_file: str
    output_file: str
    progress: object  # the write end of a multiprocessing.Pipe
    environment: dict  # the caller's, at the call: a forkserver child would otherwise see the server's
    items_file: str | None = None  # each item appended as it finishes (JSON lines): survives a kill
    detach_teardown: bool = False  # end with the last item; a detached copy tears down (rubric/detach.py)
    known: dict | None = None  # what the caller already asked the engine and iptables (known_to_caller())

    def pytest_args(self) -> list[str]:
        args = [
            "-p", "dockyard.rubric.plugin", self.grader,
            "-q", "-p", "no:cacheprovider", "--tb=short", "-c", os.devnull, "--rootdir", self.grader,
            "--import-mode=importlib",
            "--dockyard-exercise", self.exercise_id, "--dockyard-submission", self.folder,
            "--dockyard-report", self.report_file, "--dockyard-run-id", self.run_id,
        ]
        if self.items_file:
            args += ["--dockyard-items", self.items_file]
        if self.engine_url:
            args += ["--dockyard-engine", self.engine_url]
        if self.runtime:
            args += ["--dockyard-runtime", self.runtime]
        if self.detach_teardown:
            args.append("--dockyard-detach-teardown")
        return args


def context():
    """fork when this process has one thread, else the warm forkserver (see the module docstring)."""
    global _forkserver_context
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    with _forkserver_lock:
        if _forkserver_context is None:
            _forkserver_context = multiprocessing.get_context("forkserver")
            _forkserver_context.set_forkserver_preload(WARM_MODULES)
        return _forkserver_context


def stop_forkserver() -> None:
    """Stop the warm forkserver, if one runs (at the end of a batch): it is then waited for, so the
    CPU time of the gradings it forked counts in this process's children, as `time` and benchmarks expect."""
    global _forkserver_context
    with _forkserver_lock:
        if _forkserver_context is None:
            return

        stop = getattr(forkserver._forkserver, "_stop", None)  # CPython's own shutdown of its forkserver
        if stop is not None:
            stop()
        _forkserver_context = None


def known_to_caller(engine_url: str | None) -> dict:
    """What the caller has already asked (the engine's data root, the firewall's checks), handed to the child: one
    forked from the forkserver starts with none of this process's memory."""
    try:
        engine.free_bytes_on_data_root(engine.client(engine_url))  # asks the data root once in this process
    except Exception:
        pass  # the child asks, and says what went wrong
    return {"data_roots": engine.known_data_roots(), "firewall": firewall.checks_made()}


def main(job: Job) -> None:
    """The child's whole life. Always ends in os._exit: no atexit handler of the caller runs twice."""
    code = 3
    try:
        _isolate(job)
        code = _grade(job)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            prefetch.close_current()  # whatever no fixture closed (a rubric that did not load, say)
        except BaseException:
            traceback.print_exc()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            rss.record_own_peak(job.report_file + ".rss")  # a detached copy: its runner's folder may be gone
        except BaseException:
            pass
        os._exit(code)


def _isolate(job: Job) -> None:
    """Own session, own output file, the environment a rubric run expects."""
    parent = os.getppid()
    os.setsid()
    _die_with_parent(parent)
    output = os.open(job.output_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    # the caller's sys.stdout may be no file at all (pytest's capture, a notebook's stream): ours is fd 1
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    os.environ.clear()
    os.environ.update(job.environment)
    os.environ.update({
        "DOCKYARD_PROGRESS_FD": str(job.progress.fileno()),
        "DOCKYARD_COURSE": job.course,
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # only our plugin: faster start, nothing else in the way
    })
    os.environ.pop("PYTEST_ADDOPTS", None)
    sys.dont_write_bytecode = True  # never write __pycache__ into graders/ from a grading
    os.chdir(job.grader)

    engine.client.cache_clear()  # a forked child never shares the caller's engine connections
    if job.known:
        engine.adopt_data_roots(job.known.get("data_roots") or {})
        firewall.adopt_checks(job.known.get("firewall") or {})


def _die_with_parent(parent: int) -> None:
    """The child is killed when its parent dies (Linux's PR_SET_PDEATHSIG): a grading whose caller was
    killed with SIGKILL stops at once, so one `dockyard clean` finds all it made with a dead owner."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
            return
    except Exception:
        return  # not Linux: the parent's own sweep and `dockyard clean` remain
    if os.getppid() != parent:  # the parent died before the call took effect
        os._exit(3)


def _grade(job: Job) -> int:
    exercise = exercises.load(job.exercise_id)
    if job.runtime:
        exercise = dataclasses.replace(exercise, limits=dataclasses.replace(exercise.limits, runtime=job.runtime))
    started = prefetch.start(exercise, Path(job.folder), run_id=job.run_id, engine_url=job.engine_url,
                             wants=prefetch.wanted_fixtures(Path(job.grader)), progress=emit)
    started.underway.wait(PREFETCH_HEAD_START_S)
    import pytest  # once the engine builds: pytest loads while the image builds

    return int(pytest.main(job.pytest_args()))
