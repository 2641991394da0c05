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
swept afterwards: by the child's sandbox when it ended normally (or by its detached copy, see rubric/detach.py),
else by the parent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import tempfile
import threading
import time
from pathlib import Path

from dockyard import bounded, engine, scratch
from dockyard.course import exercises
from dockyard.course.points import rubric_points
from dockyard.engine import firewall, gc
from dockyard.engine.labels import new_run_id
from dockyard.errors import BuildNotIsolated, UsageError
from dockyard.report.model import BuildPicture, Item, Report
from dockyard.rubric import child, rss
from dockyard.text import last_lines

_running: set = set()  # multiprocessing.Process objects of the gradings in flight
_lock = threading.Lock()
_peaks: dict[str, float] = {}  # run id -> the grading's peak memory (MB), see rubric/rss.py
DEFAULT_MAX_RSS_MB = 1024.0  # a grading beyond this is stopped (DOCKYARD_GRADER_MAX_RSS_MB overrides)


def max_rss_mb() -> float:
    """Read at each grading, not at import: a resident grader (dockyard/resident) imported this module long
    before the command whose environment says the bound."""
    return float(os.environ.get("DOCKYARD_GRADER_MAX_RSS_MB") or DEFAULT_MAX_RSS_MB)


def peak_rss_mb(run_id: str) -> float | None:
    """Peak resident memory (MB) of the grading child of `run_id` and what it ran, once it ended."""
    return _peaks.get(run_id)


def grade(exercise_id: str, folder, *, engine_url: str | None = None, runtime: str | None = None,
          progress=None, run_id: str | None = None, timeout_s: float | None = None,
          self_check: bool = False, detach_teardown: bool = False) -> Report:
    """Run `graders/<exercise_id>/` against `folder`. Raises UnknownExercise / UsageError / EngineUnavailable
    before anything starts; once started, every outcome is a Report (status "error" when grading could not run).
    `detach_teardown`: return when the last item ends, while a detached process removes what the grading made
    (rubric/detach.py); engine/runs.py waits for it where it matters (counting leftovers, sweeping)."""
    environment = _self_check_environment(dict(os.environ)) if self_check else dict(os.environ)
    exercise = exercises.load(exercise_id)  # UnknownExercise (exit 2)
    exercise_id = exercise.id  # an old id (alias) is graded, and reported, as the exercise it names
    if environment.get("DOCKYARD_LIMITS") != os.environ.get("DOCKYARD_LIMITS"):  # the child loads it from there
        exercise = dataclasses.replace(exercise, limits=dataclasses.replace(exercise.limits, require_build_isolation=False))
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    if not exercise.grader.is_dir():
        raise UsageError(f"exercise {exercise_id!r} has no rubric (expected {exercise.grader})")
    engine.client(engine_url)  # EngineUnavailable (exit 3), before anything starts
    refused, note = _build_isolation(exercise, engine_url)
    if refused is not None:
        return refused
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
                        progress=writer, environment=environment, items_file=str(items_file),
                        detach_teardown=detach_teardown, known=child.known_to_caller(engine_url))
        process = context.Process(target=child.main, args=(job,), name=f"dockyard-grade-{run_id}")
        timed_out = False
        try:
            process.start()
        finally:
            writer.close()
        with _lock:
            _running.add(process)
        limit_mb = max_rss_mb()
        watch = rss.PeakWatch(process.pid, limit_mb=limit_mb, on_exceed=lambda: _kill(process))
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
            peak_kib = max(watch.stop() * rss.KiB, rss.read_own_peak(job.report_file + ".rss"))
            _peaks[run_id] = round(peak_kib / rss.KiB, 1)
        data = json.loads(report_file.read_text()) if report_file.is_file() and not timed_out else None
        if not (data and (data.get("swept") or data.get("detached"))):
            try:
                gc.sweep(engine_url, run_id=run_id)
            except Exception:
                pass  # an engine gone now is reported below if the child could not finish either
        duration = time.monotonic() - started
        if watch.exceeded:
            return stopped_report(exercise, f"the grading used more than {limit_mb:.0f} MB of memory and was "
                                  "stopped (the grader's bound, not the learner's)", items_file, duration, run_id)
        if timed_out:
            return stopped_report(exercise, f"grading took longer than {timeout_s:.0f} s and was stopped",
                                  items_file, duration, run_id)
        if data is not None:
            report = dataclasses.replace(Report.from_dict(data), duration_s=round(duration, 2))
            if note and note not in report.notes:
                report = dataclasses.replace(report, notes=(*report.notes, note))
            return report
        return stopped_report(exercise, died_reason(process.exitcode, _gist_of(output_file)), items_file, duration,
                              run_id)


def _records(items_file: Path) -> list[dict]:
    """The child's JSON lines; a torn last line is ignored."""
    try:
        lines = Path(items_file).read_bytes().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def finished_items(items_file: Path) -> tuple[list, list]:
    """(planned, finished) Items from the child's JSON lines."""
    planned, finished = [], []
    for record in _records(items_file):
        if isinstance(record.get("plan"), list):
            planned = [Item(**entry) for entry in record["plan"]]
        elif isinstance(record.get("item"), dict):
            finished.append(Item(**record["item"]))
    return planned, finished


def build_picture(items_file: Path) -> BuildPicture | None:
    """The learner's build as the child recorded it before it stopped (None if it never built)."""
    found = [record["build"] for record in _records(items_file) if isinstance(record.get("build"), dict)]
    return BuildPicture.from_dict(found[-1]) if found else None


def stopped_report(exercise, reason: str, items_file: Path, duration_s: float, run_id: str | None) -> Report:
    """A grading stopped midway: its finished items, the rest not reached, the rubric's real max_score."""
    planned, finished = finished_items(items_file)
    report = Report.stopped(exercise.id, reason, finished, planned, duration_s, rubric_points(exercise.grader),
                            run_id=run_id)
    return dataclasses.replace(report, build=build_picture(items_file))


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


# a line of pytest's progress report (`..F.s` with an optional `[ 40%]`): no clue why the child stopped
_PROGRESS = re.compile(r"[.FEsxXp]*(\s*\[\s*\d+%\])?")


def died_reason(exitcode: int | None, gist: str) -> str:
    """Why a child that wrote no report stopped: its exit status, or the signal that killed it (multiprocessing
    gives -N), and the gist of its output when that says something (pytest's progress dots do not)."""
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exit {exitcode}"
    said = " | ".join(part for part in gist.split(" | ") if not _PROGRESS.fullmatch(part.strip()))
    return f"the grader stopped without a report ({how})" + (f": {said}" if said else "")


def _gist_of(path: Path, lines: int = 3) -> str:
    """The last lines of the child's output file, on one line (what to say when it died)."""
    try:

        text = bounded.read_tail(path, 4000).decode("utf-8", "replace")
    except OSError:
        return ""
    return last_lines(text, lines)[:400]


def _self_check_environment(environment: dict) -> dict:
    """A learner checking their own work (`dockyard check`, the notebook's Check button) on their own machine
    builds without the build network's rules where they cannot be installed (not root); the report says so.
    A shared host (a JupyterHub) keeps them required with DOCKYARD_LIMITS=require_build_isolation=true."""
    text = environment.get("DOCKYARD_LIMITS", "").strip()
    if "require_build_isolation" in text:
        return environment
    environment["DOCKYARD_LIMITS"] = f"{text},require_build_isolation=false" if text else "require_build_isolation=false"
    return environment


def _build_isolation(exercise, engine_url: str | None) -> tuple[Report | None, str | None]:
    """(refusal, note). Where the build network's rules cannot be installed, a grading that requires
    isolated builds is an error report (not a zero) before anything starts; one that allows them goes
    on, and its report says builds were not isolated (`note`)."""
    isolated, why = firewall.build_isolation(engine_url)
    if isolated:
        return None, None
    if exercise.limits.require_build_isolation:
        return Report.failed(exercise.id, BuildNotIsolated(why).one_line()), None
    return None, f"builds were not isolated: {why}"
