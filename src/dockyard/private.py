"""A folder that is ours alone, for what other users must not read, plant or replace (run marks, sockets).

Only `os`: the resident grader's client checks its folder on every `dockyard check`, before anything heavy loads.
"""

from __future__ import annotations

import os
import stat


def folder(path: str | os.PathLike, create: bool = False) -> str | None:
    """`path` if it is ours alone: a real folder (no link), owned by us, that no one else may write (in a shared
    /tmp another user could have made the name first). None where it is not, or cannot be made."""
    path = os.fspath(path)
    try:
        if create:
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return path
