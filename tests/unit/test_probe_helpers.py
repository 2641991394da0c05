"""Small probe helpers: when an app that does not answer has settled where it cannot be reached; layer member paths."""

import os

import pytest

from dockyard.probes.diagnose import listens_elsewhere


def test_other_ports_only_or_loopback_only_is_elsewhere():
    assert listens_elsewhere([("0.0.0.0", 5000)], 8000)
    assert listens_elsewhere([("127.0.0.1", 8000)], 8000) and listens_elsewhere([("::1", 8000)], 8000)


def test_the_port_on_a_reachable_address_or_nothing_known_is_not():
    assert not listens_elsewhere([("0.0.0.0", 8000)], 8000)
    assert not listens_elsewhere([("127.0.0.1", 8000), ("::", 8000)], 8000)
    assert not listens_elsewhere([("0.0.0.0", 5000), ("0.0.0.0", 8000)], 8000)
    assert not listens_elsewhere([], 8000) and not listens_elsewhere(None, 8000)  # still starting, or unknown


def test_a_layer_members_path_keeps_its_leading_dot():
    from dockyard.probes import member_path

    assert member_path("./.env") == ".env" and member_path(".env") == ".env" and member_path("/app/.git/x") == "app/.git/x"
    assert member_path("./app/main.py") == "app/main.py" and member_path("..data") == "..data"


def test_a_layer_folder_walk_reports_what_it_cannot_read(tmp_path):
    """os.walk skips a folder it cannot list without a word: the layer walk must say so (a scan must not pass)."""
    from dockyard.probes import layer_dirs

    layer = tmp_path / "diff"
    (layer / "app").mkdir(parents=True)
    (layer / "app" / "main.py").write_text("print('hi')\n")
    seen = []
    scan = layer_dirs.walk([layer], lambda name, entry, reader: seen.append((entry.name, reader.read())) or True)
    assert seen == [("app/main.py", b"print('hi')\n")] and not scan.unreadable
    missing = layer_dirs.walk([tmp_path / "gone"], lambda *args: True)
    assert str(tmp_path / "gone") in missing.unreadable


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to become another user")
def test_layer_folders_closed_to_this_user_are_not_taken(tmp_path):
    """A learner who is not root cannot see the engine's data root: the probes then read through the engine."""
    from dockyard.probes import layer_dirs

    closed = tmp_path / "overlay2"
    (closed / "abc" / "diff").mkdir(parents=True)
    os.chmod(closed, 0o700)
    attrs = {"GraphDriver": {"Name": "overlay2", "Data": {"UpperDir": str(closed / "abc" / "diff")}},
             "RootFS": {"Layers": ["sha256:one"]}}
    assert layer_dirs.of(attrs) == [closed / "abc" / "diff"]  # root sees them
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the learner's side: any outcome, an exception too, goes back through the pipe
        try:
            os.setuid(65534)
            outcome = repr(layer_dirs.of(attrs))
        except BaseException as exc:
            outcome = f"raised {exc!r}"
        os.write(writer, outcome.encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    with os.fdopen(reader, "rb") as pipe:
        assert pipe.read().decode() == "None"
