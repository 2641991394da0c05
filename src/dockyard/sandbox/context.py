"""The build context before a build: what the engine would receive, refused when too big or leading out,
and the learner's folder copied to a private scratch folder first."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dockyard import scratch
from dockyard.errors import ContextRefused, RefusalKind


def dockerignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.is_file():
        return []
    try:
        lines = ignore_file.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


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
                str(context), f"the build context is over {max_files:,} files (reached at {relative}); "
                "list generated folders in .dockerignore", RefusalKind.TOO_BIG)
        if path.is_symlink():
            target = Path(os.path.normpath(path.parent / os.readlink(path)))
            if not (target == context or context in target.parents):
                raise ContextRefused(str(path), f"{relative} is a symlink to {os.readlink(path)}, outside the build context",
                                     RefusalKind.SYMLINK_OUT)
            continue
        total += info.st_size
        if total > max_bytes:
            raise ContextRefused(
                str(context),
                f"the build context is over {max_bytes // 2**20} MiB (reached at {relative}); "
                "list big or generated files in .dockerignore",
                RefusalKind.TOO_BIG,
            )
    return total


def scratch_copy(source: Path, parent: Path | None = None) -> Path:
    """Copy a learner's folder to a private scratch folder, keeping symlinks as links (never following them)."""
    destination = Path(tempfile.mkdtemp(prefix=scratch.prefix("copy"), dir=parent)) / "submission"
    shutil.copytree(source, destination, symlinks=True, ignore_dangling_symlinks=True)
    return destination
