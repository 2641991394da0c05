"""Reading what learner code produces, with a cap: never a whole stream, whatever it prints or sends.

Container logs come from the engine's tail (`logs(tail=…)`), exec output and subprocess output
through a bounded ring while streaming, files through a bounded read. What is kept is the tail
(where the reason of a failure is) unless said otherwise; what was dropped is counted.
"""

from __future__ import annotations

import collections
import subprocess
import threading

from dockyard.polling import wait_until

MiB = 2**20
LOG_MAX_BYTES = 1 * MiB  # of a container's log, from its tail
EXEC_MAX_BYTES = 1 * MiB  # of each of an exec's stdout and stderr, from their tail


class Ring:
    """The last `max_bytes` bytes written to it, and how many bytes were written in all."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.total = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        if len(data) >= self.max_bytes:
            self._chunks.clear()
            data = data[-self.max_bytes:]
            self._size = 0
        self._chunks.append(data)
        self._size += len(data)
        while self._size > self.max_bytes:
            first = self._chunks.popleft()
            extra = self._size - self.max_bytes
            if len(first) > extra:
                self._chunks.appendleft(first[extra:])
                self._size -= extra
            else:
                self._size -= len(first)

    @property
    def dropped(self) -> int:
        return self.total - self._size

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)


def read_head(path, max_bytes: int) -> bytes:
    """At most the first `max_bytes` of a file (a 4 GiB sparse file costs nothing)."""
    with open(path, "rb") as handle:
        return handle.read(max_bytes)


def read_tail(path, max_bytes: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        return handle.read(max_bytes)


def container_logs(container, *, stdout: bool = True, stderr: bool = True, lines: int = 200,
                   max_bytes: int = LOG_MAX_BYTES) -> bytes:
    """The tail of a container's log, read from the engine's tail: at most `lines` lines, `max_bytes` bytes."""
    stream = container.logs(stdout=stdout, stderr=stderr, tail=max(1, int(lines)), stream=True,
                            follow=False)
    ring = Ring(max_bytes)
    try:
        for chunk in stream:
            ring.write(chunk)
    finally:
        _close_quietly(stream)
    return ring.getvalue()


def exec_run(container, argv: list[str], *, user: str = "", max_bytes: int = EXEC_MAX_BYTES,
             environment: list[str] | None = None, workdir: str | None = None):
    """`container.exec_run(argv, demux=True)` that keeps only the tail of each stream:
    (exit code, stdout bytes, stderr bytes)."""
    api = container.client.api
    exec_id = api.exec_create(container.id, argv, stdout=True, stderr=True, user=user or "",
                              environment=environment or None, workdir=workdir or None)["Id"]
    out, err = Ring(max_bytes), Ring(max_bytes)
    stream = api.exec_start(exec_id, stream=True, demux=True)
    try:
        for got_out, got_err in stream:
            out.write(got_out or b"")
            err.write(got_err or b"")
    finally:
        _close_quietly(stream)
    # the engine may report the exit a moment after the stream ends
    code = wait_until(lambda: api.exec_inspect(exec_id).get("ExitCode"), 2.5, 0.05)
    return (code if code is not None else -1), out.getvalue(), err.getvalue()


class Completed(subprocess.CompletedProcess):
    """A CompletedProcess whose stdout/stderr are tails; `overflow` when it printed beyond `kill_after_bytes`."""

    overflow: bool = False
    printed: int = 0


def run(command: list[str], *, cwd=None, env=None, timeout_s: float | None = None, input_text: str | None = None,
        keep_bytes: int = 4 * MiB, kill_after_bytes: int | None = None) -> Completed:
    """`subprocess.run(..., capture_output=True, text=True)` that keeps only the last `keep_bytes` of each
    stream, and kills the process once it printed more than `kill_after_bytes` in all (then `overflow`).
    Raises subprocess.TimeoutExpired like subprocess.run (its output: the tails so far)."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.PIPE if input_text is not None
                               else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rings = {"stdout": Ring(keep_bytes), "stderr": Ring(keep_bytes)}
    state = {"overflow": False}

    def pump(stream, ring: Ring) -> None:
        with stream:
            while True:
                data = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not data:
                    return
                ring.write(data)
                if kill_after_bytes is not None and not state["overflow"] and \
                        rings["stdout"].total + rings["stderr"].total > kill_after_bytes:
                    state["overflow"] = True
                    process.kill()

    pumps = [threading.Thread(target=pump, args=(process.stdout, rings["stdout"]), daemon=True),
             threading.Thread(target=pump, args=(process.stderr, rings["stderr"]), daemon=True)]
    for thread in pumps:
        thread.start()
    if input_text is not None:
        try:
            process.stdin.write(input_text.encode())
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        for thread in pumps:
            thread.join(5)
        raise subprocess.TimeoutExpired(command, timeout_s, output=_text(rings["stdout"]),
                                        stderr=_text(rings["stderr"])) from None
    for thread in pumps:
        thread.join(10)
    result = Completed(command, process.returncode, _text(rings["stdout"]), _text(rings["stderr"]))
    result.overflow = state["overflow"]
    result.printed = rings["stdout"].total + rings["stderr"].total
    return result


def _text(ring: Ring) -> str:
    text = ring.getvalue().decode("utf-8", "replace")
    if ring.dropped:
        text = text.partition("\n")[2] if "\n" in text else text  # a cut first line is no line
    return text


def _close_quietly(stream) -> None:
    """Close an engine stream, whatever state the connection is in (it may have died under us)."""
    closer = getattr(stream, "close", None)
    if closer:
        try:
            closer()
        except Exception:
            pass
