"""The command's side of the resident grader (see the package docstring): hand the command over, or say no.

Kept light on purpose: it runs before anything heavy is imported, on every `dockyard grade` and `check`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sys

ROUTED = ("grade", "check")  # the commands a learner and a class repeat; the rest start as they always did
OFF = ("0", "false", "no", "off")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
LOST = 1  # ExitStatus.ERROR: the command process vanished without an exit status
MAX_ADDRESS = 108  # bytes of a unix socket's address on Linux, its closing NUL included


def wanted(argv: list[str]) -> bool:
    return bool(argv) and argv[0] in ROUTED and os.environ.get("DOCKYARD_RESIDENT", "1").strip().lower() not in OFF


def package_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def fingerprint(package: str | os.PathLike | None = None) -> str:
    """Which code a server runs: the interpreter, its path and flags, and every source file of the package
    (path, size, modification time). Any edit or upgrade gives another fingerprint, hence another server."""
    package = os.fspath(package or package_dir())
    digest = hashlib.sha256()
    python_environment = sorted((key, value) for key, value in os.environ.items() if key.startswith("PYTHON"))
    digest.update(repr((sys.executable, sys.version, sys.flags, package, sys.path[1:],
                        python_environment)).encode())
    for folder, subfolders, files in os.walk(package):
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def folder() -> str:
    """Where the servers' sockets are: one folder per user (DOCKYARD_RUN_DIR moves it, as it moves run marks)."""
    return os.path.join(os.environ.get("DOCKYARD_RUN_DIR") or "/tmp", f"dockyard-resident-{os.getuid()}")


def socket_path(identity: str, create: bool = False) -> str | None:
    """The socket of the server for `identity`, or None where the folder is not ours alone (dockyard/private.py)."""
    from dockyard import private

    place = private.folder(folder(), create)
    return None if place is None else os.path.join(place, f"{identity}.sock")


def address(path: str) -> tuple[str, int | None]:
    """The address to bind or connect for the socket at `path`: the path itself, or where that is too long for
    a unix socket's address (108 bytes on Linux; a test's or a notebook's TMPDIR can be deep), the same file
    through /proc/self/fd of its open folder. The second value is that folder's fd, for the caller to close."""
    if len(os.fsencode(path)) < MAX_ADDRESS:
        return path, None
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}", fd


def run(argv: list[str]) -> int | None:
    """Run `dockyard <argv>` on the resident grader: its exit status, or None when there is none to run it
    (then one is started for the next command, and the caller runs this one itself)."""
    path = socket_path(fingerprint(), create=True)
    if path is None:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        where, folder_fd = address(path)
        try:
            connection.connect(where)
        finally:
            if folder_fd is not None:
                os.close(folder_fd)
    except OSError:
        connection.close()
        start_server(path)
        return None
    with connection:
        try:
            socket.send_fds(connection, [_request(argv)], [0, 1, 2])
        except OSError:  # a closed stdin, or a working folder since removed: the command runs here, and says so
            return None
        replies = connection.makefile("rb")
        started = _reply(replies)
        if not started or "pid" not in started:
            return None  # refused before anything ran: run it here
        return _wait(replies, int(started["pid"]))


def _request(argv: list[str]) -> bytes:
    umask = os.umask(0o022)
    os.umask(umask)
    streams = {name: [getattr(stream, "encoding", None) or "utf-8", getattr(stream, "errors", None) or "strict"]
               for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))}
    return (json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                        "streams": streams}) + "\n").encode()


def _reply(replies) -> dict | None:
    try:
        line = replies.readline()
    except OSError:
        return None
    try:
        reply = json.loads(line) if line else None
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


def _wait(replies, pid: int) -> int:
    """Forward the signals a terminal or a caller sends this process (Ctrl-C, SIGTERM, a closed terminal) to
    the command process, which handles them as the command always has; return its exit status."""
    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    finished = _reply(replies)
    if finished is None or "exit" not in finished:
        print("dockyard: the resident grader stopped before the command ended; run it again, or with "
              "DOCKYARD_RESIDENT=0", file=sys.stderr)
        return LOST
    return int(finished["exit"])


def start_server(path: str) -> None:
    """Start the server for `path` in the background, in a session of its own, holding none of our files
    (a caller reading our stdout to its end must not wait for it). A second start for the same socket exits
    at once (the server's lock)."""
    import subprocess

    package_parent = os.path.dirname(package_dir())
    environment = dict(os.environ)  # the same package, whatever the folder: -P leaves the working folder out
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, environment.get("PYTHONPATH")]))
    try:
        log = os.open(f"{path}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # why a server could not start
    except OSError:
        log = subprocess.DEVNULL
    try:
        subprocess.Popen([sys.executable, "-P", "-m", "dockyard.resident.server", path], cwd="/",
                         env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=log, start_new_session=True, close_fds=True)
    except OSError:
        pass  # no server: every command runs in its own process, as it did before there was one
    finally:
        if log != subprocess.DEVNULL:
            os.close(log)


def stop_servers() -> int:
    """Stop this user's resident graders (`dockyard clean --all`); how many were asked to. Commands they are
    running finish on their own. A pid is signalled only while it is still a resident grader's."""
    place = os.path.dirname(socket_path("probe") or "")
    stopped = 0
    for name in sorted(os.listdir(place)) if place else ():
        if not name.endswith(".sock.json"):
            continue
        try:
            with open(os.path.join(place, name)) as status:
                pid = int(json.load(status)["pid"])
            with open(f"/proc/{pid}/cmdline", "rb") as command_line:
                command = command_line.read().split(b"\0")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if b"dockyard.resident.server" not in command:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        except OSError:
            pass
    return stopped
