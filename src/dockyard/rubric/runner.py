"""Grade one submission: run its exercise's rubric with pytest, return one `Report`.

Why pytest runs in a CHILD PROCESS and not in the caller's:
- isolation: nothing a learner's build or app prints, and no crash in a rubric, can reach our
  stdout (the JSON of `dockyard grade --json`) or our memory; the child writes the Report to a file;
- a hard timeout we can enforce: the child leads its own process group, which we kill whole
  (pytest in-process cannot be stopped in the middle of a stuck engine call);
- parallel gradings in `batch`: each grading is its own process (own pytest session, own
  fixtures), so threads in the parent just wait;
- no module state leaking between rubrics: two exercises may both have `graders/<id>/conftest.py`,
  and pytest's session/fixture caches and imported modules die with the child.
The child is forked, not exec'd (rubric/child.py says how, and why that is fast and safe).
Partial results survive: the child appends each item to a file the moment it finishes
(plugin.py, `--dockyard-items`), so a grading that times out or crashes still reports the finished
items; the rest are "not reached" with the reason, and max_score is always the rubric's.
The parent owns the run id, so whatever happens to the child (ends, killed, Ctrl-C), the run is
swept afterwards: by the child's sandbox when it ended normally, else by the parent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from dockyard import engine, scratch
from dockyard.course import exercises
from dockyard.course.points import rubric_points
from dockyard.engine import gc
from dockyard.engine.labels import new_run_id
from dockyard.errors import UsageError
from dockyard.report.model import Item, Report
from dockyard.rubric import child
from dockyard.text import last_lines

_running: set = set()  # multiprocessing.Process objects of the gradings in flight
_lock = threading.Lock()


def grade(exercise_id: str, folder, *, engine_url: str | None = None, runtime: str | None = None,
          progress=None, run_id: str | None = None, timeout_s: float | None = None) -> Report:
    """Run `graders/<exercise_id>/` against `folder`. Raises UnknownExercise / UsageError / EngineUnavailable
    before anything starts; once started, every outcome is a Report (status "error" when grading could not run)."""
    exercise = exercises.load(exercise_id)  # UnknownExercise (exit 2)
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    if not exercise.grader.is_dir():
        raise UsageError(f"exercise {exercise_id!r} has no rubric (expected {exercise.grader})")
    engine.client(engine_url)  # EngineUnavailable (exit 3), before anything starts
    run_id = run_id or new_run_id()
    limits = exercise.limits
    timeout_s = timeout_s or (limits.build_timeout_s * 2 + limits.ready_timeout_s * 4 + limits.run_timeout_s * 2 + 120)
    progress = progress or (lambda message: None)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=scratch.prefix("grade")) as grading_dir:
        report_file = Path(grading_dir) / "report.json"
        output_file = Path(grading_dir) / "pytest.out"
        items_file = Path(grading_dir) / "items.jsonl"
        context = child.context()
        reader, writer = context.Pipe(duplex=False)
        job = child.Job(exercise_id=exercise_id, folder=str(folder.resolve()), grader=str(exercise.grader),
                        course=str(exercise.folder.parents[1]), run_id=run_id, engine_url=engine_url,
                        runtime=runtime, report_file=str(report_file), output_file=str(output_file),
                        progress=writer, environment=dict(os.environ), items_file=str(items_file))
        process = context.Process(target=child.main, args=(job,), name=f"dockyard-grade-{run_id}")
        timed_out = False
        try:
            process.start()
        finally:
            writer.close()
        with _lock:
            _running.add(process)
        forwarder = threading.Thread(target=_forward_progress, args=(reader, progress), daemon=True)
        forwarder.start()
        try:
            process.join(timeout_s)
            if process.exitcode is None:
                timed_out = True
                _kill(process)
        except BaseException:  # Ctrl-C: stop the child, clean its run, then let the interrupt go on
            _kill(process)
            gc.sweep(engine_url, run_id=run_id)
            raise
        finally:
            with _lock:
                _running.discard(process)
            forwarder.join(2)
        data = json.loads(report_file.read_text()) if report_file.is_file() and not timed_out else None
        if not (data and data.get("swept")):
            try:
                gc.sweep(engine_url, run_id=run_id)
            except Exception:
                pass  # an engine gone now is reported below if the child could not finish either
        duration = time.monotonic() - started
        if timed_out:
            return stopped_report(exercise, f"grading took longer than {timeout_s:.0f} s and was stopped",
                                  items_file, duration, run_id)
        if data is not None:
            return dataclasses.replace(Report.from_dict(data), duration_s=round(duration, 2))
        tail = _gist_of(output_file)
        reason = f"the grader stopped without a report (exit {process.exitcode})" + (f": {tail}" if tail else "")
        return stopped_report(exercise, reason, items_file, duration, run_id)


def finished_items(items_file: Path) -> tuple[list, list]:
    """(planned, finished) Items from the child's JSON lines; a torn last line is ignored."""
    planned, finished = [], []
    try:
        lines = Path(items_file).read_bytes().decode("utf-8", "replace").splitlines()
    except OSError:
        return planned, finished
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("plan"), list):
            planned = [Item(**entry) for entry in record["plan"]]
        elif isinstance(record, dict) and isinstance(record.get("item"), dict):
            finished.append(Item(**record["item"]))
    return planned, finished


def stopped_report(exercise, reason: str, items_file: Path, duration_s: float, run_id: str | None) -> Report:
    """A grading stopped midway: its finished items, the rest not reached, the rubric's real max_score."""
    planned, finished = finished_items(items_file)
    return Report.stopped(exercise.id, reason, finished, planned, duration_s, rubric_points(exercise.grader),
                          run_id=run_id)


def cancel_all() -> None:
    """Stop every grading in flight (batch's Ctrl-C); each grade() call then sweeps its own run."""
    with _lock:
        processes = list(_running)
    for process in processes:
        _kill(process)


def _kill(process) -> None:
    """SIGTERM the child's process group, then SIGKILL; the child may not lead a group yet (just forked)."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            try:
                os.kill(process.pid, sig)
            except ProcessLookupError:
                return
        except PermissionError:
            return
        process.join(wait)
        if process.exitcode is not None:
            return


def _forward_progress(reader, progress) -> None:
    with os.fdopen(os.dup(reader.fileno()), "rb") as stream:
        reader.close()
        for line in stream:
            message = line.decode("utf-8", "replace").strip()
            if message:
                try:
                    progress(message)
                except Exception:
                    pass


def _gist_of(path: Path, lines: int = 3) -> str:
    """The last lines of the child's output file, on one line (what to say when it died)."""
    try:
        text = path.read_bytes()[-4000:].decode("utf-8", "replace")
    except OSError:
        return ""
    return last_lines(text, lines)[:400]
