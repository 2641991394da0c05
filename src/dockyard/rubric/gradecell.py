"""What an nbgrader grade cell runs: grade quietly, and read the cell's points from its own metadata.

nbgrader scores a grade cell 0 when the cell has *any* output on stderr (`nbgrader/utils.py:
determine_grade`: an `error` output, or a `stream` named `stderr`). In a Jupyter kernel, stderr is
more than `sys.stderr`: ipykernel forwards whatever is written to file descriptor 2 (by this process,
the multiprocessing forkserver it starts, or a library's C code), logging handlers bound to
stderr write there, and so do `warnings`. So `grade_quietly` grades with all of them sent elsewhere,
and then prints what they said on stdout, where the learner still sees it and nbgrader ignores it.

`cell_points(grade_id)` finds the grade cell in the notebook being run (the kernel's cwd is the
notebook's folder under nbgrader, Jupyter and nbclient) and returns its `points`, so the cell does not
repeat a number a teacher may change in the metadata. (A learner who edits the metadata of their
copy can only lower their own score: above the gradebook's points nbgrader refuses the value.)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from dockyard.errors import DockyardError, EngineUnavailable, UsageError
from dockyard.report.model import Report

NOTE = "(printed while grading; shown here on stdout so that it cannot cost this cell its points)"


@contextlib.contextmanager
def quiet_stderr(echo=None):
    """Everything bound for stderr during the block (sys.stderr, fd 2 and the processes started meanwhile,
    stderr logging handlers, warnings) is kept and printed to `echo` (default: stdout) afterwards."""
    import logging
    import warnings

    echo = echo or sys.stdout
    original = sys.stderr
    buffer = io.StringIO()
    for stream in (original, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass
    saved_fd = sink = None
    try:
        saved_fd = os.dup(2)
        sink = tempfile.TemporaryFile()
        os.dup2(sink.fileno(), 2)
    except OSError:  # no fd 2 at all: nothing can reach it either
        saved_fd = None
    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    swapped = []
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (original, sys.__stderr__):
                swapped.append((handler, handler.stream))
                handler.setStream(buffer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sys.stderr = buffer
        try:
            yield
        finally:
            sys.stderr = original
            for handler, stream in swapped:
                handler.setStream(stream)
            fd_text = ""
            if saved_fd is not None:
                os.dup2(saved_fd, 2)
                os.close(saved_fd)
                sink.seek(0)
                fd_text = sink.read().decode("utf-8", errors="replace")
            if sink is not None:
                sink.close()
    said = [buffer.getvalue(), fd_text] + [warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                                           for w in caught]
    text = "".join(part if part.endswith("\n") or not part else part + "\n" for part in said)
    if text.strip():
        print(f"{NOTE}\n{text.rstrip()}", file=echo)


def grade_quietly(exercise_id: str, folder, **options):
    """`dockyard.rubric.runner.grade`, with nothing reaching stderr (see quiet_stderr). Never raises for a
    grading that could not run: that is a Report with status error, which partial_credit turns into 0."""
    with quiet_stderr():
        try:
            from dockyard.rubric import runner  # lazy, inside the guard: whatever its import says stays off stderr

            return runner.grade(exercise_id, folder, **options)
        except DockyardError as error:  # no engine, no such folder: the learner's cell says why, as text
            return Report.failed(exercise_id, error.one_line(), retry=isinstance(error, EngineUnavailable))


def _notebooks() -> list[Path]:
    named = os.environ.get("JPY_SESSION_NAME")  # set by jupyter_server for the kernel of a notebook
    found = [Path(named)] if named and named.endswith(".ipynb") and Path(named).is_file() else []
    return found + sorted(Path.cwd().glob("*.ipynb"))


def cell_points(grade_id: str, default: float | None = None) -> float:
    """The `points` of the grade cell `grade_id` in the notebook being run; `default` when no notebook here
    has that cell (run outside its notebook); UsageError when there is neither."""
    for path in _notebooks():
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for cell in notebook.get("cells", []):
            meta = (cell.get("metadata") or {}).get("nbgrader") or {}
            if meta.get("grade_id") == grade_id and meta.get("grade") and meta.get("points") is not None:
                try:
                    return float(meta["points"])
                except (TypeError, ValueError):
                    break
    if default is not None:
        return float(default)
    raise UsageError(f"no grade cell {grade_id!r} with points in the notebooks of {Path.cwd()}",
                     hint="run the grade cell in its notebook, or pass cell_points(..., default=POINTS)")
