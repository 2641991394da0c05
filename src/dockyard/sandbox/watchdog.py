"""Bound what a container writes to disk: cgroup v1 cannot throttle buffered writes, so we measure and kill."""

from __future__ import annotations

import os
import threading


class DiskWatchdog:
    """Polls the size of each watched container's writable layer, volumes and bind mounts; kills past the limit.

    Works where the engine's data root is visible from here (a local engine, as root); elsewhere it
    watches nothing and the run's time bounds are the only bound.
    """

    def __init__(self, max_bytes: int, interval_s: float = 1.0):
        self.max_bytes = max_bytes
        self.interval_s = interval_s
        self.watched: dict[str, tuple[object, list[str]]] = {}
        self.killed: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="disk-watchdog", daemon=True)
        self._thread.start()

    def watch(self, container) -> None:
        attrs = container.attrs
        paths = [attrs.get("GraphDriver", {}).get("Data", {}).get("UpperDir")]
        # bind mounts too: a command-line exercise may mount a folder of the grader's copy of the submission
        paths += [mount.get("Source") for mount in attrs.get("Mounts", []) if mount.get("Type") in ("volume", "bind")]
        paths = [path for path in paths if path and os.path.isdir(path)]
        if paths:
            self.watched[container.id] = (container, paths)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            for container_id, (container, paths) in list(self.watched.items()):
                used = sum(tree_size(path, self.max_bytes + 1) for path in paths)
                if used > self.max_bytes:
                    self.watched.pop(container_id, None)
                    self.killed[container_id] = (f"the container wrote more than {self.max_bytes // 2**20} MiB "
                                                 "to its disk and was stopped")
                    try:
                        container.kill()
                    except Exception:
                        pass

    def stop(self) -> None:
        self._stop.set()


def tree_size(path: str, stop_after: int) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
            if total > stop_after:
                return total
    return total
