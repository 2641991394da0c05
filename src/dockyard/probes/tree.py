"""An image's working directory, read once, answering `file` and `listdir` lookups under it.

Why: a rubric asks about many paths in the app's folder (06-dockerignore: is `.env` there, `.git`, `venv`, the
bytecode, the logs, app.py...). Each lookup through the engine (`get_archive`) needs a container of the image and
has the engine mount its filesystem and stream a tar: ~20 ms alone, ~50 ms beside another grading, about half a
second of every 06 grading. The working directory holds the learner's own files, few and small, so it is read
once, in one of two ways:
- from the engine's own layer folders where this host can read them (probes/layer_dirs.py): the folder merged
  from each layer as overlayfs merges it (a whiteout deletes, an opaque folder hides what is below), with no call
  to the engine and no container at all;
- else in one `get_archive` of the folder (a remote engine, another storage driver).

A lookup is answered here only where the tree is conclusive. Anything else returns "not conclusive", and the
caller asks the engine as before:
- a path through a symbolic link, or naming one, or a hard link's second name in an archive: the engine resolves
  those on the image's whole filesystem, where this tree holds only the link;
- a path that is not below the folder, or is spelled with `..`;
- a path the tree lacks when the archive was cut short (at most MAX_MEMBERS entries and MAX_BYTES of file
  content: `WORKDIR /usr` is no app folder; an archive is the merged view, so what it did hold is still so).
Layer folders with more than MAX_MEMBERS entries (or MAX_VISITS names, whiteouts included, or nested deeper than
Python's recursion allows), or a marker this process may not read, give no tree at all (a
merge stopped midway could still show a file a later layer deletes): the archive is read instead.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_MEMBERS = 5000
MAX_VISITS = 4 * MAX_MEMBERS  # names read in the layer folders, whiteouts included
MAX_BYTES = 8 * 2**20  # file content kept from an archive; every kept file is thus within the probes' MAX_FILE
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")  # the latter where the engine runs rootless


@dataclass(frozen=True)
class Entry:
    is_dir: bool
    link: str | None  # a symbolic link's target ("" for an archive's hard link): the engine must resolve it
    size: int  # 0 for anything but a regular file, as in the engine's archives
    mode: int  # permission bits
    uid: int
    gid: int
    content: bytes | None = None  # a regular file's whole content, read from an archive
    source: str | None = None  # a regular file in a layer folder: read when asked (never through a link)

    def read(self, max_bytes: int) -> bytes | None:
        if self.content is not None:
            return self.content[:max_bytes]
        if self.source is None:
            return None
        fd = os.open(self.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            return handle.read(max_bytes)


class Inconclusive(Exception):
    """The tree cannot be read as asked (a link on the way to the folder, an unreadable overlay marker)."""


@dataclass
class Tree:
    root: str  # an absolute, normalised path, never "/"
    entries: dict[str, Entry] = field(default_factory=dict)  # absolute path -> entry
    complete: bool = True  # False: the reading was cut short, so a path the tree lacks may still exist
    _visited: int = 0

    # -- reading ------------------------------------------------------------------------------------
    @classmethod
    def from_archive(cls, root: str, archive: tarfile.TarFile) -> Tree | None:
        """The tree of `root` from the engine's archive of it (members named `<basename of root>/...`), or None
        when the archive is not the shape expected."""
        tree = cls(root)
        top = posixpath.basename(root)
        kept = 0
        for count, member in enumerate(archive):
            if count >= MAX_MEMBERS:
                tree.complete = False
                break
            parts = [part for part in member.name.split("/") if part not in ("", ".")]
            if not parts or parts[0] != top or ".." in parts:
                return None
            content = None
            if member.isfile():
                if kept + member.size > MAX_BYTES:
                    tree.complete = False
                    break
                handle = archive.extractfile(member)
                content = handle.read() if handle else b""
                kept += len(content)
            link = member.linkname if member.issym() else "" if member.islnk() else None
            path = posixpath.join(root, *parts[1:])
            tree.entries[path] = Entry(member.isdir(), link, member.size if member.isfile() else 0,
                                       member.mode & 0o7777, member.uid, member.gid, content)
        return tree if root in tree.entries else None

    @classmethod
    def from_layers(cls, root: str, folders: list[Path]) -> Tree | None:
        """The tree of `root` merged from the image's layer folders (oldest first), as overlayfs shows it to a
        container; None when a folder on the way to `root` is a link or a file, or a marker cannot be read."""
        tree = cls(root)
        try:
            for folder in folders:
                tree._apply_layer(str(folder))
        except (Inconclusive, _Full, RecursionError):  # cut short midway, the merge could still hold a deleted file
            return None
        return tree if root in tree.entries and tree.entries[root].is_dir else None

    def _apply_layer(self, folder: str) -> None:
        """One layer over what the layers below made: its whiteouts delete, its opaque folders hide, its
        entries replace."""
        on_disk = folder
        path = "/"
        for part in self.root.split("/")[1:]:  # the folders down to the root, in this layer
            on_disk = os.path.join(on_disk, part)
            path = posixpath.join(path, part)
            info = _lstat(on_disk)
            if info is None:
                return  # this layer holds nothing at or below the root
            if _is_whiteout(info):
                self._remove(path)
                return
            if not stat.S_ISDIR(info.st_mode):
                raise Inconclusive(f"{path} is no folder in a layer")
            if _is_opaque(on_disk):
                self._remove(path)
        self._set(self.root, _entry(info, None))
        self._walk(on_disk, self.root)

    def _walk(self, on_disk: str, path: str) -> None:
        try:
            listing = sorted(os.scandir(on_disk), key=lambda item: item.name)
        except OSError as exc:
            raise Inconclusive(f"{path} cannot be listed ({exc.strerror or exc})") from exc
        for item in listing:
            child = posixpath.join(path, item.name)
            info = _lstat(item.path)
            if info is None:
                continue
            self._visited += 1
            if self._visited > MAX_VISITS:
                raise _Full()  # a layer of countless whiteouts is no app folder either
            if _is_whiteout(info):
                if child in self.entries:  # nothing is below a name the tree does not hold
                    self._remove(child)
                continue
            if stat.S_ISDIR(info.st_mode):
                if child in self.entries and (_is_opaque(item.path) or not self.entries[child].is_dir):
                    self._remove(child)
                self._set(child, _entry(info, None))
                self._walk(item.path, child)
            else:
                if child in self.entries and self.entries[child].is_dir:
                    self._remove(child)  # a file over a folder below hides the folder's contents
                link = os.readlink(item.path) if stat.S_ISLNK(info.st_mode) else None
                self._set(child, _entry(info, link, item.path if stat.S_ISREG(info.st_mode) else None))

    def _set(self, path: str, entry: Entry) -> None:
        if path not in self.entries and len(self.entries) >= MAX_MEMBERS:
            raise _Full()
        self.entries[path] = entry

    def _remove(self, path: str) -> None:
        """`path` and all below it."""
        self.entries.pop(path, None)
        below = path.rstrip("/") + "/"
        for key in [key for key in self.entries if key.startswith(below)]:
            del self.entries[key]

    # -- lookups --------------------------------------------------------------------------------------
    def _under(self, path: str) -> str | None:
        return below(self.root, path)

    def file(self, path: str) -> tuple[bool, Entry | None]:
        """(conclusive, entry): the entry at `path`, None for a path that does not exist; not conclusive where
        the engine must answer (see the module docstring)."""
        path = self._under(path)
        if path is None:
            return False, None
        folder = self.root
        for part in path[len(self.root):].split("/")[1:]:  # every folder on the way must be a plain folder here
            entry = self.entries.get(folder)
            if entry is None:
                return self.complete, None
            if not entry.is_dir:  # a link on the way is the engine's to resolve; below a file, nothing exists
                return entry.link is None, None
            folder = posixpath.join(folder, part)
        entry = self.entries.get(path)
        if entry is None:
            return self.complete, None
        if entry.link is not None:
            return False, None
        return True, entry

    def listdir(self, path: str) -> list[str] | None:
        """The names in the folder at `path` ([] for no folder there), or None where the engine must answer."""
        if not self.complete:
            return None
        conclusive, entry = self.file(path)
        if not conclusive:
            return None
        if entry is None or not entry.is_dir:
            return []
        below = self._under(path) + "/"
        return sorted({key[len(below):].split("/", 1)[0] for key in self.entries if key.startswith(below)})


def below(root: str, path: str) -> str | None:
    """`path` normalised when it lies at or below `root` and is spelled without `..`; else None."""
    if not path.startswith("/") or ".." in path.split("/"):
        return None
    path = "/" + posixpath.normpath(path).lstrip("/")  # normpath keeps a leading "//"; the engine does not
    return path if path == root or path.startswith(root + "/") else None


class _Full(Exception):
    """MAX_MEMBERS reached."""


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Inconclusive(f"{path} cannot be read ({exc.strerror or exc})") from exc


def _is_whiteout(info: os.stat_result) -> bool:
    """overlayfs's mark of a deleted name: a character device 0:0."""
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


def _is_opaque(path: str) -> bool:
    """A folder whose contents hide the layers below (overlayfs's opaque mark, an extended attribute)."""
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.ENOTSUP):
                continue
            raise Inconclusive(f"the overlay marks of {path} cannot be read ({exc.strerror or exc})") from exc
    return False


def _entry(info: os.stat_result, link: str | None, source: str | None = None) -> Entry:
    regular = stat.S_ISREG(info.st_mode)
    return Entry(stat.S_ISDIR(info.st_mode), link, info.st_size if regular else 0, info.st_mode & 0o7777,
                 info.st_uid, info.st_gid, None, source)
