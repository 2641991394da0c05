"""A grading job is data: what the sender puts on the queue, and what a worker accepts from it.

The payload is one JSON object (RQ's JSON serializer; never pickle) with exactly these keys:

    {"format": 1, "exercise": "03-first-image", "rubric_version": "<16 hex>",
     "content_hash": "<64 hex>", "student": "ada", "tarball": "<base64 of a .tar.gz>"}

The tarball holds the submission's files, folders and symlinks (nothing else: no hard links,
devices or fifos), relative paths only, bounded in size and count. A worker treats a job like any
submission, untrusted: `validate()` checks every key and every tar member before a byte is
written, `unpack()` extracts with tarfile's "tar" filter, and the unpacked folder must hash to the
`content_hash` it came with. Then the grading itself applies the same context checks (size,
symlinks leading out) as a local grading, because it is the same `runner.grade`.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1
GRADE_FUNCTION = "dockyard.queue.worker.grade_job"  # the one function a worker runs
KEYS = frozenset({"format", "exercise", "rubric_version", "content_hash", "student", "tarball"})
MAX_TARBALL_BYTES = 64 * 2**20  # compressed, as sent
MAX_UNPACKED_BYTES = 200 * 2**20  # the same bound as a batch's .zip/.tar.gz submissions (batch.ARCHIVE_MAX_BYTES)
MAX_MEMBERS = 20_000
EXERCISE_ID = re.compile(r"[0-9a-z][0-9a-z_-]{0,63}")
HEX16 = re.compile(r"[0-9a-f]{16}")
HEX64 = re.compile(r"[0-9a-f]{64}")


class PayloadRefused(ValueError):
    """The job is not what a worker expects; the message says why (it is logged and becomes the result)."""


@dataclass(frozen=True)
class Payload:
    exercise: str
    rubric_version: str
    content_hash: str
    student: str
    tarball: bytes

    def to_data(self) -> dict:
        return {"format": FORMAT, "exercise": self.exercise, "rubric_version": self.rubric_version,
                "content_hash": self.content_hash, "student": self.student,
                "tarball": base64.b64encode(self.tarball).decode("ascii")}

    @property
    def job_id(self) -> str:
        return job_id(self.exercise, self.rubric_version, self.content_hash)


def job_id(exercise: str, rubric_version: str, content_hash: str) -> str:
    """One job per (exercise, rubric version, content): a resent or restarted batch finds its job again."""
    return f"dy-{exercise}-{rubric_version}-{content_hash[:40]}"


def pack(folder: Path, *, exercise: str, rubric_version: str, student: str, content_hash: str) -> Payload:
    """The folder as a payload; raises PayloadRefused when it is over the bounds (a final verdict)."""
    folder = Path(folder)
    buffer = io.BytesIO()
    total = 0
    count = 0
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            if not (path.is_symlink() or path.is_file() or path.is_dir()):
                continue  # sockets, fifos: not part of a submission (content_hash skips them too)
            count += 1
            if count > MAX_MEMBERS:
                raise PayloadRefused(f"refused: the submission holds over {MAX_MEMBERS} files")
            info = archive.gettarinfo(str(path), arcname=relative)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                total += info.size
                if total > MAX_UNPACKED_BYTES:
                    raise PayloadRefused(f"refused: the submission is over {MAX_UNPACKED_BYTES // 2**20} MiB")
                with open(path, "rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)
    data = buffer.getvalue()
    if len(data) > MAX_TARBALL_BYTES:
        raise PayloadRefused(f"refused: the submission compresses to over {MAX_TARBALL_BYTES // 2**20} MiB")
    return Payload(exercise, rubric_version, content_hash, student, data)


def validate(data) -> Payload:
    """The payload checked key by key (types, formats, bounds, every tar member); raises PayloadRefused."""
    if not isinstance(data, dict):
        raise PayloadRefused(f"the payload is a {type(data).__name__}, not an object")
    keys = set(data)
    if keys != KEYS:
        missing, extra = sorted(KEYS - keys), sorted(keys - KEYS)
        raise PayloadRefused("the payload's keys are wrong: " + "; ".join(
            part for part in (missing and f"missing {', '.join(missing)}", extra and f"unexpected {', '.join(extra)}")
            if part))
    if data["format"] != FORMAT or isinstance(data["format"], bool):
        raise PayloadRefused(f"payload format {data['format']!r} is not {FORMAT}: sender and worker run different Dockyards")
    for key, pattern in (("exercise", EXERCISE_ID), ("rubric_version", HEX16), ("content_hash", HEX64)):
        if not isinstance(data[key], str) or not pattern.fullmatch(data[key]):
            raise PayloadRefused(f"the payload's {key} is not valid: {str(data[key])[:80]!r}")
    student = data["student"]
    if not isinstance(student, str) or not 0 < len(student) <= 200 or not student.isprintable():
        raise PayloadRefused("the payload's student is not a printable name of 1-200 characters")
    if not isinstance(data["tarball"], str) or len(data["tarball"]) > (MAX_TARBALL_BYTES * 4) // 3 + 4:
        raise PayloadRefused(f"the payload's tarball is not a string of at most {MAX_TARBALL_BYTES // 2**20} MiB")
    try:
        tarball = base64.b64decode(data["tarball"].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise PayloadRefused("the payload's tarball is not base64") from None
    payload = Payload(data["exercise"], data["rubric_version"], data["content_hash"], student, tarball)
    _members(tarball)  # every member checked now, before anything is written
    return payload


def _members(tarball: bytes) -> list[tarfile.TarInfo]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz")
        members = []
        for member in archive:
            members.append(member)
            if len(members) > MAX_MEMBERS:
                raise PayloadRefused(f"the tarball holds over {MAX_MEMBERS} members")
    except PayloadRefused:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise PayloadRefused(f"the tarball cannot be read: {str(exc)[:120]}") from None
    total = 0
    names: set[str] = set()
    links: set[str] = set()
    for member in members:
        name = member.name
        parts = Path(name).parts
        if not name or name.startswith("/") or ".." in parts or "\\" in name or "\0" in name:
            raise PayloadRefused(f"the tarball holds a path leading out ({name[:120]!r})")
        if not (member.isreg() or member.isdir() or member.issym()):
            raise PayloadRefused(f"the tarball holds {name[:120]!r}, which is not a file, folder or symlink")
        if name in names:
            raise PayloadRefused(f"the tarball holds {name[:120]!r} twice")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            raise PayloadRefused(f"the tarball writes {name[:120]!r} through a symlink")
        names.add(name)
        if member.issym():
            links.add(name)
        total += member.size if member.isreg() else 0
        if total > MAX_UNPACKED_BYTES:
            raise PayloadRefused(f"the tarball unpacks to over {MAX_UNPACKED_BYTES // 2**20} MiB")
    return members


def unpack(payload: Payload, destination: Path, content_hash) -> Path:
    """Extract a validated payload into `destination` (created); checks the content hash it came with
    (`content_hash(folder)`: batch.content_hash, passed in so this module stays below batch)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    members = _members(payload.tarball)
    with tarfile.open(fileobj=io.BytesIO(payload.tarball), mode="r:gz") as archive:
        archive.extractall(destination, members=members, filter="tar")
    if content_hash(destination) != payload.content_hash:
        raise PayloadRefused("the submission does not match its content hash (damaged or altered on the way)")
    return destination
