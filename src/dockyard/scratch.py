"""The grader's own folders on this machine: its cache, and temporary folders swept when their maker is gone.

A grading killed with SIGKILL cannot remove its scratch copy (the learner's files) or its report
folder. Each folder's name carries its maker's pid, so `dockyard clean` can remove the folders of
processes that no longer exist and leave those in use alone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

NAME = re.compile(r"^dockyard-[a-z]+-(\d+)-(?:s(\d+)-)?")


def cache_root() -> Path:
    """What dockyard keeps between runs: `$DOCKYARD_CACHE`, else `~/.cache/dockyard` (XDG_CACHE_HOME honoured)."""
    return Path(os.environ.get("DOCKYARD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dockyard"))


def prefix(kind: str) -> str:
    """`tempfile` prefix for a grader folder of this kind (batch, copy, grade, compose, empty)."""
    start = process_start(os.getpid())
    return f"dockyard-{kind}-{os.getpid()}-" + (f"s{start}-" if start is not None else "")


def sweep(folder: str | Path | None = None) -> int:
    """Remove the grader folders whose maker is gone; how many were removed."""
    root = Path(folder or tempfile.gettempdir())
    removed = 0
    for entry in root.iterdir() if root.is_dir() else ():
        match = NAME.match(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir():
            continue
        if process_alive(int(match.group(1)), int(match.group(2)) if match.group(2) else None):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed += not entry.exists()
    return removed


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (field 3, the state, first), or None where there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text.rpartition(")")[2].split()


def process_start(pid: int) -> int | None:
    """When the process started (clock ticks since boot: /proc/<pid>/stat field 22), None where unknown.
    With its pid it names one process for good: a pid used again later has another start time."""
    fields = _stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, start: int | None = None) -> bool:
    """Whether the process of this machine with that pid (and, when given, that start time) still runs.
    A zombie (ended, not reaped: its parent was killed and PID 1 does not reap, as in a container without
    an init) is dead; so is a pid now used by another process (another start time). One we may not
    signal counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        if start is None:
            return True  # someone else's process, or not a pid we can judge: leave it
    except OSError:
        return True
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc (not Linux): the signal said it exists
    if fields[0] in ("Z", "X"):
        return False
    if start is not None:
        return process_start(pid) == start
    return True
