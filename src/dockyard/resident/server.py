"""The resident grader's server (see the package docstring): warm once, then fork one command process per request.

    python -P -m dockyard.resident.server SOCKET

One thread on purpose: a command process is forked from here and may fork its grading child in turn
(rubric/child.py), which is only safe from a process that has a single thread.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
from pathlib import Path

from dockyard.resident import client

WARM = ["dockyard.cli", "dockyard.cli.commands", "dockyard.rubric.warm", "multiprocessing.connection",
        "rich.console", "rich.markup", "rich.table", "rich.text"]
IDLE_S = float(os.environ.get("DOCKYARD_RESIDENT_IDLE_S") or 600)  # the server's own environment: read once
MAX_REQUEST = 4 * 2**20  # an environment is a few kB; this bound keeps a confused client from filling memory
REQUEST_TIMEOUT_S = 5.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT}


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:])[0])
    lock = open(f"{path}.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another server for this socket runs, or starts: it serves
    for module in WARM:
        __import__(module)
    from dockyard import cli

    cli.shared_parser()
    listener = _listen(path)
    signal.signal(signal.SIGTERM, _stop)
    served = 0
    _write_status(path, served)
    commands: dict[int, socket.socket] = {}  # command process pid -> its client's connection
    watched: dict[socket.socket, int] = {}  # connections whose client we watch for hanging up -> pid
    last_activity = time.monotonic()
    try:
        while commands or time.monotonic() - last_activity < IDLE_S:
            readable, _, _ = select.select([listener, *watched], [], [], 1.0)
            for ready in readable:
                if ready is listener:
                    pid = _accept(listener, commands, watched)
                    if pid:
                        served += 1
                        _write_status(path, served)
                else:
                    _client_hung_up(ready, watched)
            _reap(commands, watched)
            if commands:
                last_activity = time.monotonic()
    except KeyboardInterrupt:  # SIGTERM (_stop)
        pass
    finally:
        _remove_socket(path, listener)
    return 0


def _stop(signum, frame):
    raise KeyboardInterrupt


def _listen(path: Path) -> socket.socket:
    try:
        path.unlink()  # a dead server's socket: we hold the lock, so no live one listens there
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    where, folder_fd = client.address(str(path))
    try:
        listener.bind(where)
    finally:
        os.umask(old)
        if folder_fd is not None:
            os.close(folder_fd)
    listener.listen(32)
    return listener


def _remove_socket(path: Path, listener: socket.socket) -> None:
    """Remove our socket, status and lock files while we hold the lock: no other server can have bound there,
    and one that opens a new lock file once ours is gone may serve at once (we are leaving)."""
    for leftover in (path, Path(f"{path}.json"), Path(f"{path}.log"), Path(f"{path}.lock")):
        try:
            leftover.unlink()
        except OSError:
            pass
    listener.close()


def _write_status(path: Path, served: int) -> None:
    """`<socket>.json`: who serves here and how many commands it ran (for `dockyard doctor` and the tests)."""
    status = Path(f"{path}.json")
    temporary = status.with_name(status.name + ".tmp")
    try:
        temporary.write_text(json.dumps({"pid": os.getpid(), "served": served}))
        os.replace(temporary, status)
    except OSError:
        pass


def _peer_uid(connection: socket.socket) -> int | None:
    try:
        credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    return struct.unpack("3i", credentials)[2]


def _read_request(connection: socket.socket) -> tuple[dict, list[int]] | None:
    """The request (one JSON line) and the three file descriptors sent with it; None for anything else."""
    connection.settimeout(REQUEST_TIMEOUT_S)
    try:
        data, fds, _, _ = socket.recv_fds(connection, 65536, 3)
        chunks = [data]
        size = len(data)
        while data and not chunks[-1].endswith(b"\n") and size < MAX_REQUEST:
            data = connection.recv(65536)
            chunks.append(data)
            size += len(data)
    except OSError:
        return None
    connection.settimeout(None)
    try:
        request = json.loads(b"".join(chunks))
    except ValueError:
        request = None
    if not isinstance(request, dict) or len(fds) != 3 or not isinstance(request.get("argv"), list):
        for fd in fds:
            os.close(fd)
        return None
    return request, fds


def _accept(listener: socket.socket, commands: dict, watched: dict) -> int | None:
    try:
        connection, _ = listener.accept()
    except OSError:
        return None
    if _peer_uid(connection) != os.getuid():  # the folder is ours alone; this holds even if it were not
        connection.close()
        return None
    received = _read_request(connection)
    if received is None:
        connection.close()
        return None
    request, fds = received
    pid = os.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # until the command's own handlers are in place
        try:
            _command_process(listener, connection, watched, request, fds)
        finally:
            os._exit(1)  # never back into the server's loop, whatever was raised
    for fd in fds:
        os.close(fd)
    commands[pid] = connection
    watched[connection] = pid
    return pid


def _client_hung_up(connection: socket.socket, watched: dict) -> None:
    """A client sends nothing after its request: readable means it is gone (killed, say). Its command is
    stopped as the command stops on SIGTERM (it removes what it made), instead of grading for no one."""
    pid = watched.pop(connection)
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


def _reap(commands: dict, watched: dict) -> None:
    while commands:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = commands.pop(pid, None)
        if connection is not None:
            watched.pop(connection, None)
            connection.close()


def _command_process(listener, connection, watched, request: dict, fds: list[int]) -> None:
    """The forked command process: become the client's command (its streams, folder, environment, umask,
    argv), run `dockyard.cli.main`, send the exit status. Always ends in os._exit."""
    code = 1
    try:
        listener.close()
        for other in watched:
            other.close()
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        _take_streams(fds, request.get("streams") or {})
        connection.sendall((json.dumps({"pid": os.getpid()}) + "\n").encode())
        os.environ.clear()
        os.environ.update({str(key): str(value) for key, value in (request.get("env") or {}).items()})
        os.umask(int(request.get("umask", 0o022)))
        argv = [str(arg) for arg in request["argv"]]
        sys.argv = ["dockyard", *argv]
        os.chdir(str(request.get("cwd") or "/"))
        from dockyard import cli

        code = int(cli.main(argv))
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        # The command is over: its SIGTERM handler (cli.main's) must not turn the server's stop of a command
        # whose caller has hung up, which may come now, into an exception here.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            connection.sendall((json.dumps({"exit": code}) + "\n").encode())
        except OSError:
            pass
        os._exit(code)


def _take_streams(fds: list[int], streams: dict) -> None:
    """The client's stdin, stdout and stderr as ours: file descriptors 0-2 and Python's streams over them,
    buffered as Python buffers them (a terminal line by line), in the client's encodings."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)

    def opened(fd: int, name: str, mode: str, buffering: int):
        encoding, errors = (streams.get(name) or ["utf-8", "strict"])[:2]
        return open(fd, mode, buffering=buffering, encoding=encoding, errors=errors, closefd=False)

    sys.stdin = opened(0, "stdin", "r", -1)
    sys.stdout = opened(1, "stdout", "w", 1 if os.isatty(1) else -1)
    sys.stderr = opened(2, "stderr", "w", 1)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


if __name__ == "__main__":
    sys.exit(main())
