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

NAME = re.compile(r"^dockyard-[a-z]+-(\d+)-")


def cache_root() -> Path:
    """What dockyard keeps between runs: `$DOCKYARD_CACHE`, else `~/.cache/dockyard` (XDG_CACHE_HOME honoured)."""
    return Path(os.environ.get("DOCKYARD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dockyard"))


def prefix(kind: str) -> str:
    """`tempfile` prefix for a grader folder of this kind (batch, copy, grade, compose, empty)."""
    return f"dockyard-{kind}-{os.getpid()}-"


def sweep(folder: str | Path | None = None) -> int:
    """Remove the grader folders whose maker is gone; how many were removed."""
    root = Path(folder or tempfile.gettempdir())
    removed = 0
    for entry in root.iterdir() if root.is_dir() else ():
        match = NAME.match(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir() or process_alive(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed += not entry.exists()
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process of this machine with that pid exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a pid we can judge: leave it
    return True
