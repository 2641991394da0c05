"""The runs alive on this host, and those still tearing down after their report: marks that die with their holder.

A sandbox holds an exclusive `flock` on `/tmp/dockyard-runs-<uid>/<run id>` from its creation to the end of its
close; the kernel drops it when the holder ends, however it ends. The mark says two things:
- **the run is alive** while someone holds it. The images a grading builds carry no owner labels (each label is
  a build step of its own, made again by every build: see labels.image_labels), so a sweep of dead runs asks
  this instead: an image of this host whose run no one holds is a dead run's;
- **the run is tearing down** when it is held but the process that made it (written in the mark) has ended:
  the grading's detached copy (rubric/detach.py) inherited the lock and is removing what the run made after its
  report. Whoever counts or sweeps leftovers waits for those first (`wait_for_teardowns`), so a run in teardown
  is never taken for a leak; a copy that dies midway leaves a dead run, which `dockyard clean` sweeps.
The place is one per user on this host, whatever TMPDIR a process has (a notebook kernel's, a test's):
`DOCKYARD_RUN_DIR` moves it (tests keep theirs apart).
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from pathlib import Path

from dockyard import polling, private, scratch
from dockyard.engine.labels import HOST_LABEL, OWNER_LABEL, OWNER_START_LABEL, RUN_LABEL, owner_is_dead, owner_label

WAIT_S = 120.0  # at most this long does a count or a sweep wait for teardowns under way
_held: dict[str, list[int]] = {}  # run id -> [the lock's fd, how many sandboxes of this process hold it]


def _folder() -> Path:
    base = os.environ.get("DOCKYARD_RUN_DIR") or ("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir())
    return Path(base) / f"dockyard-runs-{os.getuid()}"


def _own_folder(create: bool = False) -> Path | None:
    """The marks' folder if it is ours alone (dockyard/private.py)."""
    place = private.folder(_folder(), create)
    return None if place is None else Path(place)


def _plain(run_id: str | None) -> bool:
    """A run id that names a file in the folder: no path, no hidden name (ours are 12 hex digits)."""
    return bool(run_id) and "/" not in run_id and "\0" not in run_id and not run_id.startswith(".")


def hold(run_id: str) -> None:
    """Mark `run_id` alive, made by this process (a second hold of the same run only counts)."""
    if run_id in _held:
        _held[run_id][1] += 1
        return
    if not _plain(run_id):
        return
    folder = _own_folder(create=True)
    if folder is None:
        return  # no mark: the grading goes on; only a sweep of dead runs may then take its image for a dead one
    # locked under a name no reader looks at, then renamed: a reader never sees the mark unlocked
    hidden = folder / f".{run_id}.{os.getpid()}"
    try:
        fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    fcntl.flock(fd, fcntl.LOCK_EX)  # a new file no one else holds: at once
    start = scratch.process_start(os.getpid())
    os.write(fd, f"{owner_label()}\n{start if start is not None else ''}\n".encode())
    os.rename(hidden, folder / run_id)
    _held[run_id] = [fd, 1]


def release(run_id: str) -> None:
    """This process is done with `run_id` (a no-op where it holds none); the mark goes with the last hold."""
    entry = _held.get(run_id)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    del _held[run_id]
    try:
        os.unlink(_folder() / run_id)
    except OSError:
        pass
    os.close(entry[0])  # closing drops the flock: waiters go on


def held_here(run_id: str | None) -> bool:
    """Whether this very process holds `run_id` (its sandbox is open, or it is that run's detached copy)."""
    return bool(run_id) and run_id in _held


def alive(run_id: str | None) -> bool:
    """Whether some process on this host holds `run_id`: its grading (or its teardown) is still going."""
    if not _plain(run_id):
        return False
    if run_id in _held:
        return True
    folder = _own_folder()
    return folder is not None and _probe(folder / run_id) is not None


def maker_is_dead(labels: dict | None) -> bool:
    """Whether what carries `labels` is a dead run's. Containers, networks and volumes name their owner process;
    a grading's image names its host only (labels.image_labels): it is a dead run's when no one on this host holds
    its run. Another host's image is not ours to judge; a resource naming neither is nobody's (dead)."""
    labels = labels or {}
    if OWNER_LABEL in labels:
        return owner_is_dead(labels.get(OWNER_LABEL), labels.get(OWNER_START_LABEL))
    host = labels.get(HOST_LABEL)
    if host is None:
        return True
    return host == socket.gethostname() and not alive(labels.get(RUN_LABEL))


def made_by_me(labels: dict | None) -> bool:
    """Whether this very process made what carries `labels` (by its owner label, or an image by its held run)."""
    labels = labels or {}
    if OWNER_LABEL in labels:
        return labels[OWNER_LABEL] == owner_label()
    return labels.get(HOST_LABEL) == socket.gethostname() and held_here(labels.get(RUN_LABEL))


def _probe(path: Path) -> str | None:
    """The mark's maker (`host:pid` and start, one per line) while another process holds it, else None (and a
    mark nobody holds, its process killed before `release`, is removed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 256).decode("utf-8", "replace")
        try:
            path.unlink()
        except OSError:
            pass
        return None
    finally:
        os.close(fd)


def tearing_down(run_ids: list[str] | None = None) -> list[str]:
    """Runs (all, or of `run_ids`) held by another process although their maker has ended: teardowns under way."""
    folder = _own_folder()
    if folder is None:
        return []
    try:
        names = sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))
    except OSError:
        return []
    wanted = set(run_ids) if run_ids is not None else None
    busy = []
    for name in names:
        if name in _held or (wanted is not None and name not in wanted):
            continue  # our own (we are that run), or not asked about
        maker = _probe(folder / name)
        if maker is None:
            continue
        owner, _, start = maker.partition("\n")
        if owner_is_dead(owner.strip(), start.strip() or None):
            busy.append(name)
    return busy


def wait_for_teardowns(run_ids: list[str] | None = None, timeout_s: float = WAIT_S) -> list[str]:
    """Wait until no teardown of `run_ids` (default: any) is under way, at most `timeout_s`; those still going."""
    done = polling.wait_until(lambda: not tearing_down(run_ids), timeout_s, 0.02, backoff=2, max_interval_s=0.25)
    return [] if done else tearing_down(run_ids)
