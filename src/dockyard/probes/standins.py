"""Which layers on this engine are the course's stand-in base images (baseimages): the secret scan skips them.

Only a real stand-in counts: one layer that `docker import` made, never an image that merely carries the label,
as every image built FROM a stand-in does, or as a learner could write it: a layer skipped here is one the secret
scan never sees.

The verdict on an image id never changes (an id is the hash of the image's config, its layers and comment
included), so it is kept on disk, in a file of our own (dockyard/private.py): every grading is a new process,
and asking the engine about each labelled image again cost two calls an image, ~0.1 s of every scan beside
another grading.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile

from dockyard import private, scratch
from dockyard.engine.labels import STANDIN_LABEL

CACHE_NAME = "standin-layers.json"
_verdicts: dict[str, list[str]] = {}  # image id -> its one layer's diff id, [] for no stand-in (this process)


def layers(client) -> frozenset[str]:
    """The diff ids of the stand-ins' layers on this engine (empty when it cannot tell: scanning them is only
    slower)."""
    try:
        labelled = [summary["Id"] for summary in client.api.images(filters={"label": f"{STANDIN_LABEL}=true"})]
    except Exception:
        return frozenset()
    if any(image_id not in _verdicts for image_id in labelled):
        _verdicts.update(_load())
    new = False
    found: set[str] = set()
    for image_id in labelled:
        if image_id not in _verdicts:
            try:
                _verdicts[image_id] = _verdict(client, image_id)
            except Exception:
                continue  # gone meanwhile, or the engine would not say: not skipped
            new = True
        found.update(_verdicts[image_id])
    if new:
        _save({image_id: _verdicts[image_id] for image_id in labelled if image_id in _verdicts})
    return frozenset(found)


def _verdict(client, image_id: str) -> list[str]:
    attrs = client.api.inspect_image(image_id)
    diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
    if len(diff_ids) != 1 or not str(attrs.get("Comment") or "").startswith("Imported from"):
        return []  # an image built FROM a stand-in (most of those labelled): no need to read its history
    history = client.api.history(image_id)
    imported = len(history) == 1 and str(history[0].get("Comment") or "").startswith("Imported from")
    return list(diff_ids) if imported else []


def _cache_file() -> str | None:
    folder = private.folder(scratch.cache_root(), create=False)
    return None if folder is None else os.path.join(folder, CACHE_NAME)


def _load() -> dict[str, list[str]]:
    """The verdicts kept on disk; nothing from a file that is not ours alone (a planted verdict would hide a
    layer from the scan)."""
    path = _cache_file()
    if path is None:
        return {}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return {}
        try:
            data = json.loads(handle.read(1 << 20))
        except ValueError:
            return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(key, str) and isinstance(value, list)
            and all(isinstance(item, str) for item in value)}


def _save(verdicts: dict[str, list[str]]) -> None:
    """Written whole and renamed into place: a reader sees the old file or the new, never half of one."""
    root = scratch.cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    path = _cache_file()
    if path is None:
        return
    try:
        fd, temporary = tempfile.mkstemp(prefix=".standin-layers-", dir=os.path.dirname(path))
    except OSError:
        return  # not kept: the next scan asks the engine again
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(verdicts, handle)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
