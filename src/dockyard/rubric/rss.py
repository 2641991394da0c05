"""How much memory a grading took: the peak resident size of its child process and what that child runs.

The kernel keeps each process's high-water mark (VmHWM in /proc/<pid>/status); a thread samples it
with the resident size of the child's descendants (compose, hadolint) while the grading runs, and the
child adds its own final figures (getrusage of itself and its waited-for children) before it exits.
Optionally it stops a grading that grows beyond a bound: the grader's memory is not the learner's to spend.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

KiB = 1024


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children of all its threads, recursively)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                if child.isdigit() and int(child) not in found:
                    found.append(int(child))
                    queue.append(int(child))
    return found


def tree_kib(pid: int) -> int:
    """The process's own peak (VmHWM) plus the current resident size of everything below it."""
    return _status_kib(pid, "VmHWM") + sum(_status_kib(child, "VmRSS") for child in descendants(pid))


class PeakWatch:
    """Samples a process tree's memory until stopped; `limit_mb` (if set) calls `on_exceed` once beyond it."""

    def __init__(self, pid: int, interval_s: float = 0.2, limit_mb: float | None = None, on_exceed=None):
        self.pid = pid
        self.interval_s = interval_s
        self.limit_mb = limit_mb
        self.on_exceed = on_exceed
        self.peak_kib = 0
        self.exceeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"rss-{pid}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, tree_kib(self.pid))
            if self.limit_mb and not self.exceeded and self.peak_kib > self.limit_mb * KiB:
                self.exceeded = True
                if self.on_exceed:
                    try:
                        self.on_exceed()
                    except Exception:
                        pass
            if self._stop.wait(self.interval_s):
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(2)
        return self.peak_mb

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kib / KiB, 1)


def record_own_peak(path: str) -> None:
    """In the child, last thing before exit: its own peak and that of the processes it waited for, in KiB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        Path(path).write_text(f"{own} {children}\n")
    except OSError:
        pass


def read_own_peak(path: str | Path) -> int:
    try:
        own, children = (int(value) for value in Path(path).read_text().split())
    except (OSError, ValueError):
        return 0
    return max(own, children)
