"""Bound the memory and pids of BuildKit's RUN steps, which Engine 20.10 runs outside any cgroup we name.

The engine's built-in BuildKit ignores `--memory` and `--cgroup-parent`: each step's container gets a cgroup of
its own under `docker/buildkit/<id>` with no limit. While a BuildKit build of ours runs, a guard thread watches
that folder (cgroup v1: the `memory` and `pids` hierarchies; v2: the unified one) and writes the build's
limits into every step cgroup as soon as it appears (within `interval_s`, 20 ms). A step already past the memory
limit when it is found (the kernel cannot reclaim down to it) is killed outright. Once a second, each step's
writable layer (its root's overlay upper folder, read from a process's mountinfo) is measured as the classic
build's steps are, and a step past the disk bound is killed. What the guard saw (a step at its memory limit, a
step killed for its disk) is noted with the time, so the build that failed with `exit code: 137` can say why.

Every step cgroup there is bounded while a guard runs, ours or not: on a grading host the engine's BuildKit
builds are the grader's. Where the folders are not visible (a remote engine, not root), `available()` is
False and `dockyard doctor` says BuildKit builds are not memory-bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

from dockyard.sandbox.watchdog import tree_size

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_MEMORY = CGROUP_ROOT / "memory" / "docker" / "buildkit"
V1_PIDS = CGROUP_ROOT / "pids" / "docker" / "buildkit"
V2 = CGROUP_ROOT / "docker" / "buildkit"


def _bytes(memory: str) -> int:
    from docker.utils import parse_bytes

    return int(parse_bytes(memory))


def available() -> bool:
    """The step cgroups can be bounded from here: root, and the engine's cgroup tree (or where it will be)."""
    if os.geteuid() != 0:
        return False
    return (CGROUP_ROOT / "memory" / "docker").is_dir() or (CGROUP_ROOT / "docker").is_dir() or \
        (CGROUP_ROOT / "cgroup.controllers").is_file()


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def _kill_all(cgroup: Path) -> None:
    try:
        pids = (cgroup / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def bound(step: str, memory_bytes: int, pids: int) -> bool:
    """Write the limits into one step's cgroup(s); True when they hold (a step past them is killed)."""
    held = True
    if V1_MEMORY.is_dir():
        memory = V1_MEMORY / step
        if memory.is_dir():
            # memsw (memory + swap) first when raising, memory first when lowering: the kernel keeps memsw >= memory
            limited = _write(memory / "memory.limit_in_bytes", str(memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
            if not limited:  # already past the bound, and nothing to reclaim: as an OOM would
                _kill_all(memory)
                held = False
        pid_group = V1_PIDS / step
        if pid_group.is_dir():
            _write(pid_group / "pids.max", str(pids))
    elif (V2 / step).is_dir():
        group = V2 / step
        _write(group / "memory.swap.max", "0")
        held = _write(group / "memory.max", str(memory_bytes))
        _write(group / "pids.max", str(pids))
        if not held:
            _kill_all(group)
    return held


class Guard:
    """One thread for the whole process: bounds each new step cgroup with the tightest limits asked for."""

    def __init__(self, interval_s: float = 0.02):
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._asked: dict[int, tuple[int, int, int | None]] = {}  # token -> (memory bytes, pids, disk bytes)
        self._next = 0
        self._seen: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.bounded_count = 0  # step cgroups bounded so far (tests read it)
        self.notes: list[tuple[float, str]] = []  # (monotonic time, "memory" | "disk")
        self._uppers: dict[str, str | None] = {}
        self._measured = 0.0

    def start(self, memory_bytes: int, pids: int, disk_bytes: int | None = None) -> int:
        with self._lock:
            self._next += 1
            self._asked[self._next] = (memory_bytes, pids, disk_bytes)
            if self._thread is None or not self._thread.is_alive():
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="buildkit-cgroups",
                                                daemon=True)
                self._thread.start()
            return self._next

    def end(self, token: int) -> None:
        with self._lock:
            self._asked.pop(token, None)
            if not self._asked:
                self._stop.set()
                self._thread = None

    def _limits(self) -> tuple[int, int, int | None] | None:
        with self._lock:
            if not self._asked:
                return None
            disks = [d for _, _, d in self._asked.values() if d]
            return (min(m for m, _, _ in self._asked.values()), min(p for _, p, _ in self._asked.values()),
                    min(disks) if disks else None)

    def noted_since(self, since: float) -> str | None:
        """What the guard saw since then (monotonic): "disk" (it killed a step for its disk), "memory" (a step hit
        its memory limit), or None."""
        kinds = {kind for at, kind in list(self.notes) if at >= since}
        return "disk" if "disk" in kinds else "memory" if "memory" in kinds else None

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.sweep()
            stop.wait(self.interval_s)

    def sweep(self) -> None:
        limits = self._limits()
        if limits is None:
            return
        folder = V1_MEMORY if V1_MEMORY.is_dir() else V2
        try:
            steps = [entry.name for entry in os.scandir(folder) if entry.is_dir()]
        except OSError:
            return
        memory_bytes, pids, disk_bytes = limits
        for step in steps:
            if step not in self._seen:
                if not bound(step, memory_bytes, pids):
                    self.notes.append((time.monotonic(), "memory"))
                self._seen.add(step)
                self.bounded_count += 1
            if _at_limit(folder / step, memory_bytes):
                self.notes.append((time.monotonic(), "memory"))
        self._seen &= set(steps)  # forget the steps that ended (their names are never reused)
        if disk_bytes and time.monotonic() - self._measured >= 1.0:
            self._measured = time.monotonic()
            for step in steps:
                if self._uppers.get(step) is None:  # a step just starting has not its own root yet: ask again
                    upper = _upper_dir(folder / step)
                    self._uppers[step] = upper if upper != _upper_dir_of("self") else None
                upper = self._uppers[step]
                if upper and tree_size(upper, disk_bytes + 1) > disk_bytes:
                    self.notes.append((time.monotonic(), "disk"))
                    _kill_all(folder / step)
            self._uppers = {step: upper for step, upper in self._uppers.items() if step in steps}
        del self.notes[:-100]


def _at_limit(group: Path, memory_bytes: int) -> bool:
    """The step has hit (or come within 10% of) its memory limit (v1: failcnt, max usage; v2: the `max` events),
    so a kill that follows is an OOM."""
    try:
        if (group / "memory.failcnt").exists():
            return int((group / "memory.failcnt").read_text()) > 0 or \
                int((group / "memory.max_usage_in_bytes").read_text()) >= memory_bytes * 0.9
        events = dict(line.split() for line in (group / "memory.events").read_text().splitlines())
        return int(events.get("max", 0)) > 0 or int(events.get("oom_kill", 0)) > 0
    except (OSError, ValueError):
        return False


def _upper_dir(group: Path) -> str | None:
    """The overlay upper folder of the step's root (what it writes), from its last process's mountinfo."""
    try:
        return _upper_dir_of((group / "cgroup.procs").read_text().split()[-1])
    except (OSError, IndexError):
        return None


def _upper_dir_of(pid: str) -> str | None:
    try:
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[4] == "/" and " - overlay " in line:
                options = line.rsplit(" ", 1)[-1].split(",")
                upper = next((option[len("upperdir="):] for option in options if option.startswith("upperdir=")), None)
                return upper if upper and os.path.isdir(upper) else None
    except (OSError, IndexError):
        return None
    return None


GUARD = Guard()


@contextlib.contextmanager
def bounded(memory: str, pids: int, disk_bytes: int | None = None):
    """While the block runs, every BuildKit step cgroup that appears gets `memory` (no extra swap) and `pids`, and
    a step that writes more than `disk_bytes` to its layer is killed."""
    token = GUARD.start(_bytes(memory), pids, disk_bytes)
    try:
        yield GUARD
    finally:
        GUARD.end(token)
