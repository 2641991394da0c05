"""The notebook's commands: argv lists, never a shell, and what the learner reads of them."""

from __future__ import annotations

import shlex
import shutil
import sys

import pytest

from dockyard import notebook as nb
from dockyard.errors import DockyardError


def test_the_labels_show_once_and_everything_else_as_typed():
    argv = shlex.split(f"docker run --rm {nb.label_flags('06-volumes')} --label app=web -e 'A=b c' python:3.11-slim")
    assert nb.shown(argv) == "docker run --rm --label … --label app=web -e 'A=b c' python:3.11-slim"


def test_a_command_is_argv_so_a_shell_word_stays_a_word(tmp_path, capsys):
    marker = tmp_path / "made-by-a-shell"
    done = nb.run([sys.executable, "-c", "import sys; print(sys.argv[1])", f"; touch {marker}"], quiet=True)
    assert done.stdout.strip() == f"; touch {marker}" and not marker.exists()
    assert capsys.readouterr().out == ""


def test_a_failed_command_stops_the_notebook_with_its_last_words():
    with pytest.raises(nb.CommandFailed, match="exited with 3: gone wrong") as failed:
        nb.run([sys.executable, "-c", "import sys; print('gone wrong', file=sys.stderr); sys.exit(3)"], quiet=True)
    assert isinstance(failed.value, DockyardError)


def test_a_bench_folder_has_exactly_its_name(tmp_path):
    folder = nb.folder("08-compose", "board", {"compose.yaml": "services: {}\n", "app/app.py": "print(1)\n"})
    try:
        assert folder.name == "board" and (folder / "app" / "app.py").read_text() == "print(1)\n"
        assert nb.folder("08-compose", "board") == folder  # the same bench for the whole notebook
    finally:
        for path in nb._scratch_dirs.pop("08-compose", []):
            shutil.rmtree(path, ignore_errors=True)
        nb._benches.pop("08-compose", None)
