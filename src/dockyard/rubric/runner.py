"""Grade one submission: run its exercise's rubric with pytest, return one `Report`.

Why pytest runs in a SUBPROCESS and not in-process:
- isolation: nothing a learner's build or app prints, and no crash in a rubric, can reach our
  stdout (the JSON of `dockyard grade --json`) or our memory; the child writes the Report to a file;
- a hard timeout we can enforce: the child leads its own process group, which we kill whole
  (pytest in-process cannot be stopped in the middle of a stuck engine call);
- parallel gradings in `batch`: each grading is its own process (own pytest session, own
  fixtures), so threads in the parent just wait;
- no module state leaking between rubrics: two exercises may both have `graders/<id>/conftest.py`,
  and pytest's session/fixture caches and imported modules die with the child.
The parent owns the run id, so whatever happens to the child (ends, killed, Ctrl-C), the parent
sweeps that run's labelled resources afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dockyard import engine, exercises
from dockyard.errors import UsageError
from dockyard.report.model import Report

_running: set[subprocess.Popen] = set()
_lock = threading.Lock()


def grade(exercise_id: str, folder, *, engine_url: str | None = None, runtime: str | None = None,
          progress=None, run_id: str | None = None, timeout_s: float | None = None) -> Report:
    """Run `graders/<exercise_id>/` against `folder`. Raises UnknownExercise / UsageError / EngineUnavailable
    before anything starts; once started, every outcome is a Report (status "error" when grading could not run)."""
    from dockyard import sandbox

    exercise = exercises.load(exercise_id)  # UnknownExercise (exit 2)
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    if not exercise.grader.is_dir():
        raise UsageError(f"exercise {exercise_id!r} has no rubric (expected {exercise.grader})")
    engine.client(engine_url)  # EngineUnavailable (exit 3), before pytest starts
    run_id = run_id or sandbox.new_run_id()
    limits = exercise.limits
    timeout_s = timeout_s or (limits.build_timeout_s * 2 + limits.ready_timeout_s * 4 + limits.run_timeout_s * 2 + 120)
    progress = progress or (lambda message: None)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dockyard-grade-") as scratch:
        report_file = Path(scratch) / "report.json"
        output_file = Path(scratch) / "pytest.out"
        argv = [
            sys.executable, "-m", "pytest", "-p", "dockyard.rubric.plugin", str(exercise.grader),
            "-q", "-p", "no:cacheprovider", "--tb=short", "-c", os.devnull, "--rootdir", str(exercise.grader),
            "--import-mode=importlib",
            "--dockyard-exercise", exercise_id, "--dockyard-submission", str(folder.resolve()),
            "--dockyard-report", str(report_file), "--dockyard-run-id", run_id,
        ]
        if engine_url:
            argv += ["--dockyard-engine", engine_url]
        if runtime:
            argv += ["--dockyard-runtime", runtime]
        read_end, write_end = os.pipe()
        env = dict(os.environ)
        env.update({
            "DOCKYARD_PROGRESS_FD": str(write_end),
            "DOCKYARD_COURSE": str(exercise.folder.parents[1]),
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # only our plugin: faster start, nothing else in the way
            "PYTHONDONTWRITEBYTECODE": "1",  # never write __pycache__ into graders/ from a grading
        })
        env.pop("PYTEST_ADDOPTS", None)
        timed_out = False
        with open(output_file, "wb") as output:
            try:
                child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                         env=env, pass_fds=(write_end,), start_new_session=True,
                                         cwd=str(exercise.grader))
            finally:
                os.close(write_end)
            with _lock:
                _running.add(child)
            reader = threading.Thread(target=_forward_progress, args=(read_end, progress), daemon=True)
            reader.start()
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill(child)
            except BaseException:  # Ctrl-C: stop the child, clean its run, then let the interrupt go on
                _kill(child)
                sandbox.sweep(engine_url, run_id=run_id)
                raise
            finally:
                with _lock:
                    _running.discard(child)
                reader.join(2)
        try:
            sandbox.sweep(engine_url, run_id=run_id)
        except Exception:
            pass  # an engine gone now is reported below if the child could not finish either
        duration = time.monotonic() - started
        if timed_out:
            return Report.failed(exercise_id, f"grading took longer than {timeout_s:.0f} s and was stopped",
                                 duration, run_id=run_id)
        if report_file.is_file():
            import dataclasses
            import json

            report = Report.from_dict(json.loads(report_file.read_text()))
            return dataclasses.replace(report, duration_s=round(duration, 2))
        tail = _tail(output_file)
        return Report.failed(exercise_id, f"the grader stopped without a report (exit {child.returncode}): {tail}",
                             duration, run_id=run_id)


def cancel_all() -> None:
    """Stop every grading in flight (batch's Ctrl-C); each grade() call then sweeps its own run."""
    with _lock:
        children = list(_running)
    for child in children:
        _kill(child)


def _kill(child: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            child.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _forward_progress(fd: int, progress) -> None:
    with os.fdopen(fd, "rb") as stream:
        for line in stream:
            message = line.decode("utf-8", "replace").strip()
            if message:
                try:
                    progress(message)
                except Exception:
                    pass


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_bytes()[-4000:].decode("utf-8", "replace")
    except OSError:
        return ""
    useful = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(useful[-lines:])[:400]
