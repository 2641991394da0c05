"""The build context before a build: what the engine would receive, refused when too big or leading out,
and the learner's folder copied to a private scratch folder first.

The copy is a snapshot, bounded as it is taken: it holds only regular files, folders and links (a named
pipe, a socket or a device is refused: reading one blocks or never ends), at most FOLDER_BYTES_FACTOR times
the context's byte bound in all (what .dockerignore leaves out included: a 4 GiB file the build never sees
is still 4 GiB to copy), and files are read with a cap, so one that grows while it is copied is caught.
Everything after the copy (the checks, the builds) reads the snapshot, never the learner's folder again.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from dockyard import bounded, scratch
from dockyard.errors import ContextRefused, RefusalKind
from dockyard.text import shown_name

IGNORE_MAX_BYTES = 64 * 2**10  # a .dockerignore bigger than this is not a learner's
IGNORE_MAX_PATTERNS = 1000  # each pattern is matched against every path: thousands stall the check and the engine
FOLDER_BYTES_FACTOR = 5  # the whole folder (ignored files too) may hold this many times the context's byte bound
SPECIAL = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
           stat.S_IFBLK: "a device"}


def _read_dockerignore(context: Path) -> list[str] | None:
    """The .dockerignore's lines, or None when there is none; ContextRefused when it is beyond its bounds."""
    ignore_file = context / ".dockerignore"
    if not ignore_file.is_file():
        return None
    try:
        raw = bounded.read_head(ignore_file, IGNORE_MAX_BYTES + 1)
    except OSError:
        return None
    if len(raw) > IGNORE_MAX_BYTES:
        raise ContextRefused(str(ignore_file), f"the .dockerignore is over {IGNORE_MAX_BYTES // 2**10} KiB: "
                             "list folders and wildcards (`data/`, `*.log`), not every file", RefusalKind.IGNORE_FILE)
    lines = [line.strip() for line in raw.decode("utf-8", "replace").splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    if len(patterns) > IGNORE_MAX_PATTERNS:
        line = _pattern_line(lines, IGNORE_MAX_PATTERNS + 1)
        raise ContextRefused(str(ignore_file), f".dockerignore:{line}: the .dockerignore has over "
                             f"{IGNORE_MAX_PATTERNS:,} patterns: list folders and wildcards (`data/`, `*.log`), "
                             "not every file", RefusalKind.IGNORE_FILE)
    return patterns


def _pattern_line(lines: list[str], nth: int) -> int:
    """The line number of the nth pattern (blank lines and comments are no patterns)."""
    count = 0
    for number, text in enumerate(lines, 1):
        if text and not text.startswith("#"):
            count += 1
            if count == nth:
                return number
    return len(lines)


def dockerignore_patterns(context: Path) -> list[str]:
    """The .dockerignore's patterns (none when it is missing); ContextRefused beyond its bounds."""
    return _read_dockerignore(context) or []


def included_paths(context: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """Relative paths the engine would receive, honouring .dockerignore like `docker build`."""
    from docker.utils.build import exclude_paths

    return sorted(exclude_paths(str(context), dockerignore_patterns(context), dockerfile=dockerfile))


FOLDER_FILES_FACTOR = 5  # a folder holding this many times the file bound is refused before .dockerignore is read


def count_files(folder: Path, stop_after: int) -> int:
    """Entries below `folder` (files, links, folders), counted cheaply and only up to `stop_after` + 1."""
    count, stack = 0, [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    count += 1
                    if count > stop_after:
                        return count
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return count


def _walk_included(context: Path, dockerfile: str = "Dockerfile"):
    """The paths `included_paths` lists, one at a time, in the walk's order (docker's own matcher)."""
    from docker.utils.build import PatternMatcher

    return PatternMatcher(dockerignore_patterns(context) + [f"!{dockerfile}"]).walk(str(context))


def check_context(context: Path, max_bytes: int, dockerfile: str = "Dockerfile", max_files: int | None = None) -> int:
    """Refuse, before building, a context that is too big (bytes or files) or holds a symlink leading out of it.
    A folder of very many files is refused before anything walks it with .dockerignore's patterns."""
    context = context.resolve()
    if max_files is not None:
        ceiling = max_files * FOLDER_FILES_FACTOR
        if count_files(context, ceiling) > ceiling:
            raise ContextRefused(
                str(context), f"the folder holds over {ceiling:,} files (the build context may have "
                f"{max_files:,}); remove generated files, or keep them out of the submission", RefusalKind.TOO_BIG)
    total = 0
    files = 0
    for relative in _walk_included(context, dockerfile):  # lazily: a refusal stops the walk
        path = context / relative
        try:
            info = path.lstat()
        except OSError:
            continue
        files += 1
        if max_files is not None and files > max_files:
            raise ContextRefused(
                str(context), f"the build context is over {max_files:,} files (reached at {shown_name(relative)}); "
                "list generated folders in .dockerignore", RefusalKind.TOO_BIG)
        if path.is_symlink():
            target = Path(os.path.normpath(path.parent / os.readlink(path)))
            if not (target == context or context in target.parents):
                raise ContextRefused(str(path), f"{shown_name(relative)} is a symlink to "
                                     f"{shown_name(os.readlink(path))}, outside the build context",
                                     RefusalKind.SYMLINK_OUT)
            continue
        if stat.S_IFMT(info.st_mode) in SPECIAL:
            raise ContextRefused(str(path), _special_message(relative, info.st_mode), RefusalKind.SPECIAL_FILE)
        total += info.st_size
        if total > max_bytes:
            raise ContextRefused(
                str(context),
                f"the build context is over {max_bytes // 2**20} MiB (reached at {shown_name(relative)}); "
                "list big or generated files in .dockerignore",
                RefusalKind.TOO_BIG,
            )
    return total


def _special_message(relative: str, mode: int) -> str:
    what = SPECIAL.get(stat.S_IFMT(mode), "no regular file")
    return f"{shown_name(relative)} is {what}, not a file: reading it blocks or never ends; remove it from your folder"


def scratch_copy(source: Path, parent: Path | None = None, max_bytes: int | None = None,
                 max_files: int | None = None) -> Path:
    """Copy a learner's folder to a private scratch folder, keeping symlinks as links (never following them).

    With `max_bytes` the copy is a bounded snapshot: at most `max_bytes` in all and `max_files` entries
    (ContextRefused beyond either, and for anything but a file, folder or link), each file read with a cap.
    Whatever is refused, the partial copy is removed."""
    root = Path(tempfile.mkdtemp(prefix=scratch.prefix("copy"), dir=parent))
    destination = root / "submission"
    if max_bytes is None:
        shutil.copytree(source, destination, symlinks=True, ignore_dangling_symlinks=True)
        return destination
    source = Path(source)
    budget = {"bytes": max_bytes, "files": max_files}

    def count(folder: str, names: list[str]) -> list[str]:
        if budget["files"] is not None:
            budget["files"] -= len(names)
            if budget["files"] < 0:
                raise ContextRefused(str(source), f"the folder holds over {max_files:,} files; remove generated "
                                     "files, or keep them out of the submission", RefusalKind.TOO_BIG)
        return []

    def copy_file(src: str, dst: str) -> str:
        relative = os.path.relpath(src, source)
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a pipe swapped in never blocks us
        except OSError as exc:
            mode = os.lstat(src).st_mode if os.path.lexists(src) else 0
            if stat.S_IFMT(mode) in SPECIAL:
                raise ContextRefused(src, _special_message(relative, mode), RefusalKind.SPECIAL_FILE) from None
            raise shutil.Error([(src, dst, str(exc))]) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ContextRefused(src, _special_message(relative, info.st_mode), RefusalKind.SPECIAL_FILE)
            if info.st_size > budget["bytes"]:  # before a byte is copied (a sparse file is as big as it says)
                raise _folder_too_big(source, max_bytes, relative)
            os.set_blocking(fd, True)
            with open(dst, "wb") as out:
                while True:  # at most the budget's bytes, however the file grows while it is read
                    sent = os.sendfile(out.fileno(), fd, None, min(budget["bytes"] + 1, 2**24))
                    if not sent:
                        break
                    budget["bytes"] -= sent
                    if budget["bytes"] < 0:
                        raise _folder_too_big(source, max_bytes, relative)
            os.chmod(dst, stat.S_IMODE(info.st_mode))  # from the file read, whatever its path names by now
            os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(fd)
        return dst

    try:
        shutil.copytree(source, destination, symlinks=True, ignore_dangling_symlinks=True, ignore=count,
                        copy_function=copy_file)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return destination


def _folder_too_big(source: Path, max_bytes: int, relative: str) -> ContextRefused:
    return ContextRefused(str(source), f"the folder holds over {max_bytes // 2**20} MiB (reached at "
                          f"{shown_name(relative)}), counting what .dockerignore leaves out: move big files "
                          "(datasets, models, virtual environments) out of the folder", RefusalKind.TOO_BIG)
