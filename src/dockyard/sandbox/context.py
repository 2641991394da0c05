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


def check_context(context: Path, max_bytes: int, dockerfile: str = "Dockerfile") -> int:
    """Refuse, before building, a context that is too big or holds a symlink leading out of it."""
    context = context.resolve()
    total = 0
    for relative in included_paths(context, dockerfile):
        path = context / relative
        try:
            info = path.lstat()
        except OSError:
            continue
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
