"""The resident grader's rules that need no engine: which code a server runs, where it listens, when it goes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from dockyard import private
from dockyard.resident import client


def _package(root: Path) -> Path:
    package = root / "dockyard"
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("VALUE = 1\n")
    return package


def test_any_edit_of_a_source_file_means_another_server(tmp_path):
    package = _package(tmp_path)
    before = client.fingerprint(package)
    assert client.fingerprint(package) == before
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"compiled")  # what Python writes is not the code
    assert client.fingerprint(package) == before
    (package / "cli" / "__init__.py").write_text("VALUE = 2\n")
    edited = client.fingerprint(package)
    assert edited != before
    (package / "cli" / "new.py").write_text("")
    assert client.fingerprint(package) != edited


def test_the_sockets_live_only_in_a_folder_that_is_ours_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKYARD_RUN_DIR", str(tmp_path))
    place = Path(client.folder())
    assert client.socket_path("abc", create=True) == str(place / "abc.sock")
    assert place.stat().st_mode & 0o777 == 0o700
    place.chmod(0o777)  # writable by others: another user could plant a socket there
    assert client.socket_path("abc") is None
    assert client.run(["grade", "x", "y"]) is None  # then the command runs in its own process
    place.rmdir()
    place.symlink_to(tmp_path)
    assert private.folder(place) is None


def test_only_grade_and_check_are_handed_over_and_never_when_turned_off(monkeypatch):
    monkeypatch.setenv("DOCKYARD_RESIDENT", "1")
    assert client.wanted(["grade", "a", "b"]) and client.wanted(["check", "a"])
    assert not client.wanted(["batch", "a", "b"]) and not client.wanted([])
    for off in ("0", "off", "False"):
        monkeypatch.setenv("DOCKYARD_RESIDENT", off)
        assert not client.wanted(["check", "a"])


def test_the_server_ignores_a_request_it_cannot_read_and_exits_when_idle(tmp_path):
    place = Path(private.folder(tmp_path / "resident", create=True))
    path = place / "idle.sock"
    environment = {**os.environ, "DOCKYARD_RESIDENT_IDLE_S": "2"}
    server = subprocess.Popen([sys.executable, "-P", "-m", "dockyard.resident.server", str(path)], env=environment,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{path}.json").is_file():
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()
            time.sleep(0.05)
        assert json.loads(Path(f"{path}.json").read_text()) == {"pid": server.pid, "served": 0}
        second = subprocess.run([sys.executable, "-P", "-m", "dockyard.resident.server", str(path)],
                                env=environment, capture_output=True, timeout=30)
        assert second.returncode == 0 and path.is_socket()  # the lock: one server per socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as confused:  # no descriptors, not JSON
            confused.connect(str(path))
            confused.sendall(b"hello\n")
            assert confused.recv(100) == b""  # hung up on, nothing run
        assert json.loads(Path(f"{path}.json").read_text())["served"] == 0
        assert server.wait(timeout=30) == 0  # idle for 2 s: it goes, and takes its socket with it
        assert sorted(place.iterdir()) == []  # no socket, status or lock file left
    finally:
        server.kill()
        server.communicate()


def test_clean_all_stops_the_resident_graders_and_only_them(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKYARD_RUN_DIR", str(tmp_path))
    path = Path(client.socket_path("stopme", create=True))
    server = subprocess.Popen([sys.executable, "-P", "-m", "dockyard.resident.server", str(path)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{path}.json").is_file():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # a status file naming a pid that is no resident grader (a stale one, its pid used again) is left alone
        (path.parent / "stale.sock.json").write_text(json.dumps({"pid": bystander.pid, "served": 3}))
        assert client.stop_servers() == 1
        assert server.wait(timeout=30) == 0 and not path.exists()
        assert bystander.poll() is None
    finally:
        for process in (server, bystander):
            process.kill()
            process.wait()


def test_callers_at_once_are_all_served_and_the_server_stays(tmp_path, monkeypatch):
    """Each caller hangs up the moment it has its exit status, which the server takes for a caller gone and
    stops that command: a command then ending must neither fail nor take the server's socket with it."""
    deep = tmp_path / ("a-deep-temporary-folder-" * 4)  # a socket path longer than a unix address can be
    deep.mkdir()
    monkeypatch.setenv("DOCKYARD_RUN_DIR", str(deep))
    environment = {**os.environ, "DOCKYARD_RESIDENT": "1"}
    asked = "from dockyard.resident import client; print(client.fingerprint())"
    identity = subprocess.run([sys.executable, "-c", asked], env=environment, capture_output=True, text=True,
                              check=True).stdout.strip()
    path = Path(client.socket_path(identity, create=True))  # the callers' server (their interpreter, path and flags)
    assert len(str(path)) > client.MAX_ADDRESS
    server = subprocess.Popen([sys.executable, "-P", "-m", "dockyard.resident.server", str(path)], env=environment,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{path}.json").is_file():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        for _ in range(3):
            callers = [subprocess.Popen([sys.executable, "-m", "dockyard", "check", "no-such-exercise"],
                                        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                       for _ in range(4)]
            for caller in callers:
                _, stderr = caller.communicate(timeout=60)
                assert caller.returncode == 2 and stderr.startswith("dockyard: unknown exercise 'no-such-exercise'")
        assert json.loads(Path(f"{path}.json").read_text()) == {"pid": server.pid, "served": 12}
        assert server.poll() is None and path.is_socket()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_handing_a_command_over_loads_nothing_heavy():
    """The hand-over runs before every `dockyard check`: none of the grader, the CLI's parser or the SDK loads."""
    probe = ("import sys, dockyard.__main__, dockyard.resident.client as c; c.socket_path(c.fingerprint()); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'pytest', 'rich', 'argparse', "
             "'pathlib', 'requests') or m.startswith(('dockyard.cli', 'dockyard.rubric.runner'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
