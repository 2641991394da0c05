"""Gradings whose teardown goes on after their report: who they are, and waiting for them.

A grading's report is final when its last item ends; removing its containers (and `compose down -v`) only
cleans up. So `dockyard check`, `dockyard grade`, the notebook's Check and `dockyard batch` take the report
then, and a detached copy of the grading process finishes the teardown on its own (rubric/detach.py).
While it does, it holds an exclusive `flock` on `/tmp/dockyard-teardowns-<uid>/<run id>`; the kernel drops
the lock when the copy ends, however it ends. Whoever counts or sweeps leftovers waits for those locks first
(`wait`), so a run in teardown is never taken for a dead run's leftovers and never counted as a leak;
a copy that dies mid-teardown leaves labelled resources whose owner is dead, which `dockyard clean` removes.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from dockyard import polling

WAIT_S = 120.0  # at most this long does a count or a sweep wait for teardowns under way
_held: dict[str, int] = {}  # run id -> the lock's fd, in the process tearing that run down


def _folder() -> Path:
    """One place per user on this host, whatever TMPDIR a process has (a notebook kernel's, a test's): whoever
    counts or sweeps must see every mark. `DOCKYARD_RUN_DIR` moves it (tests keep theirs apart)."""
    base = os.environ.get("DOCKYARD_RUN_DIR") or ("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir())
    return Path(base) / f"dockyard-teardowns-{os.getuid()}"


def begin(run_id: str) -> None:
    """Mark `run_id` as tearing down in this process (and in any process forked from it from now on)."""
    folder = _folder()
    folder.mkdir(mode=0o700, exist_ok=True)
    # locked under a name no waiter looks at, then renamed: a waiter never sees the mark unlocked
    hidden = folder / f".{run_id}.{os.getpid()}"
    fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a new file no one else holds: at once
    os.rename(hidden, folder / run_id)
    _held[run_id] = fd


def end(run_id: str) -> None:
    """The teardown of `run_id` is over: drop the mark (a no-op where this process holds none)."""
    fd = _held.pop(run_id, None)
    if fd is None:
        return
    try:
        os.unlink(_folder() / run_id)
    except OSError:
        pass
    os.close(fd)  # closing drops the flock: waiters go on


def under_way(run_ids: list[str] | None = None) -> list[str]:
    """Runs (all, or of `run_ids`) whose teardown another process is still doing."""
    folder = _folder()
    try:
        names = sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))
    except OSError:
        return []
    wanted = set(run_ids) if run_ids is not None else None
    busy = []
    for name in names:
        if name in _held or (wanted is not None and name not in wanted):
            continue  # our own (we are the teardown), or not asked about
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # ended since the listing
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            busy.append(name)
        else:
            _remove_stale(folder / name)
        finally:
            os.close(fd)
    return busy


def _remove_stale(path: Path) -> None:
    """A mark nobody holds: its process was killed before `end`. Gone, so later waits skip it."""
    try:
        path.unlink()
    except OSError:
        pass


def wait(run_ids: list[str] | None = None, timeout_s: float = WAIT_S) -> list[str]:
    """Wait until no teardown of `run_ids` (default: any) is under way, at most `timeout_s`; those still going."""
    done = polling.wait_until(lambda: not under_way(run_ids), timeout_s, 0.02, backoff=2, max_interval_s=0.25)
    return [] if done else under_way(run_ids)
