"""probes/tree.py: the working directory read once, from layer folders or an archive, answering only where it is
sure (tests/engine/test_probes.py holds it against the engine itself)."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from dockyard.probes import tree


def _archive(members: list[tuple[str, str | None]]) -> tarfile.TarFile:
    """An archive as the engine streams one of a folder: (name, content) for files, (name, None) for folders."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                archive.addfile(info, io.BytesIO(content.encode()))
    buffer.seek(0)
    return tarfile.open(fileobj=buffer, mode="r|")


def test_an_archive_answers_files_folders_and_absence():
    found = tree.Tree.from_archive("/srv/app", _archive([("app", None), ("app/app.py", "print(1)"), ("app/lib", None),
                                                         ("app/lib/x.py", "")]))
    conclusive, entry = found.file("/srv/app/app.py")
    assert conclusive and entry.read(100) == b"print(1)" and entry.size == 8 and not entry.is_dir
    assert found.file("/srv/app/.env") == (True, None)
    assert found.file("/srv/app/app.py/inside") == (True, None)  # below a file nothing exists
    assert found.listdir("/srv/app") == ["app.py", "lib"] and found.listdir("//srv/app/./lib/") == ["x.py"]
    assert found.listdir("/srv/app/nope") == [] and found.listdir("/srv/app/app.py") == []


@pytest.mark.parametrize("path", ["/srv/other", "/srv/app/../etc/passwd", "relative/app.py", "/srv/apple"])
def test_a_path_outside_the_folder_or_spelled_with_dots_is_left_to_the_engine(path):
    found = tree.Tree.from_archive("/srv/app", _archive([("app", None)]))
    assert found.file(path) == (False, None) and found.listdir(path) is None


def test_an_archive_of_another_shape_gives_no_tree():
    assert tree.Tree.from_archive("/app", _archive([("elsewhere/x", "")])) is None
    assert tree.Tree.from_archive("/app", _archive([("app/../../etc/x", "")])) is None


def test_cut_short_a_hit_is_still_an_answer_but_a_miss_is_not(monkeypatch):
    monkeypatch.setattr(tree, "MAX_MEMBERS", 2)
    found = tree.Tree.from_archive("/app", _archive([("app", None), ("app/a", "1"), ("app/b", "2")]))
    assert not found.complete and found.file("/app/a")[0] and found.file("/app/b") == (False, None)
    assert found.listdir("/app") is None
    monkeypatch.setattr(tree, "MAX_MEMBERS", 100)
    monkeypatch.setattr(tree, "MAX_BYTES", 1)  # the second file's content would pass the bound
    found = tree.Tree.from_archive("/app", _archive([("app", None), ("app/a", "1"), ("app/b", "2")]))
    assert not found.complete and found.file("/app/a")[0] and not found.file("/app/b")[0]


def test_layers_merge_as_overlayfs_does(tmp_path):
    """A later layer's whiteout deletes, a file over a folder hides what was in it, a folder merges with the one
    below; links are the engine's to resolve."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for path, content in {"app/keep.txt": "k", "app/gone.txt": "g", "app/dir/inner": "i", "app/sub/old": "o"}.items():
        (lower / path).parent.mkdir(parents=True, exist_ok=True)
        (lower / path).write_text(content)
    (upper / "app" / "sub").mkdir(parents=True)
    (upper / "app" / "sub" / "new").write_text("n")
    (upper / "app" / "dir").write_text("now a file")
    os.mknod(upper / "app" / "gone.txt", stat.S_IFCHR | 0o600, 0)  # overlayfs's whiteout
    (upper / "app" / "link").symlink_to("sub")
    found = tree.Tree.from_layers("/app", [lower, upper])
    assert found.listdir("/app") == ["dir", "keep.txt", "link", "sub"]
    assert found.listdir("/app/sub") == ["new", "old"]
    assert found.file("/app/gone.txt") == (True, None) and found.file("/app/dir/inner") == (True, None)
    assert found.file("/app/dir")[1].read(100) == b"now a file"
    assert found.file("/app/link") == (False, None) and found.file("/app/link/new") == (False, None)


def test_a_whiteout_of_the_folder_itself_empties_it_and_a_link_on_the_way_gives_no_tree(tmp_path):
    lower, middle, upper = tmp_path / "l", tmp_path / "m", tmp_path / "u"
    (lower / "app").mkdir(parents=True)
    (lower / "app" / "old").write_text("o")
    middle.mkdir()
    os.mknod(middle / "app", stat.S_IFCHR | 0o600, 0)
    (upper / "app").mkdir(parents=True)
    assert tree.Tree.from_layers("/app", [lower, middle, upper]).listdir("/app") == []
    (tmp_path / "x" / "srv").mkdir(parents=True)
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "srv").symlink_to("/etc")
    assert tree.Tree.from_layers("/srv/app", [tmp_path / "x", tmp_path / "y"]) is None


def test_layer_folders_too_big_to_merge_give_no_tree(tmp_path, monkeypatch):
    """A merge stopped midway could still show a file a later layer deletes: no tree, the archive is read instead."""
    (tmp_path / "app").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "app" / name).write_text(name)
    monkeypatch.setattr(tree, "MAX_MEMBERS", 2)
    assert tree.Tree.from_layers("/app", [tmp_path]) is None
    monkeypatch.setattr(tree, "MAX_MEMBERS", 100)
    whiteouts = tmp_path / "upper" / "app"
    whiteouts.mkdir(parents=True)
    for number in range(3):
        os.mknod(whiteouts / f"gone{number}", stat.S_IFCHR | 0o600, 0)
    monkeypatch.setattr(tree, "MAX_VISITS", 5)  # a layer of countless whiteouts: bounded too
    assert tree.Tree.from_layers("/app", [tmp_path]) is not None
    assert tree.Tree.from_layers("/app", [tmp_path, tmp_path / "upper"]) is None


def test_a_file_in_a_layer_is_read_without_following_a_link(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "f").write_text("x")
    entry = tree.Tree.from_layers("/app", [tmp_path]).file("/app/f")[1]
    (tmp_path / "app" / "f").unlink()
    (tmp_path / "app" / "f").symlink_to("/etc/hostname")  # swapped after the walk: never read through
    with pytest.raises(OSError):
        entry.read(100)
