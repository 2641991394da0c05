"""`dockyard reset <id>`: put an exercise folder back as the course ships it, keeping the learner's version.

The starter files are the ones git has for `exercises/<id>/` at a revision (HEAD by default: the course as
cloned). Before anything changes, the whole folder is copied to `backups/<id>/<date-time>/` under the course
root, so nothing a learner wrote is ever lost. Files the starter does not have (a `.env`, a `compose.yaml`
the learner added) are moved out with it, so the folder is exactly the starter again.
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import UsageError


@dataclass(frozen=True)
class Starter:
    """One tracked file: its path inside the exercise folder, its bytes, and git's mode."""

    path: str
    data: bytes
    mode: str  # "100644", "100755" or "120000" (a symlink; data is the target)


@dataclass
class Plan:
    changed: list[str] = field(default_factory=list)  # differ from the starter
    missing: list[str] = field(default_factory=list)  # in the starter, gone from the folder
    extra: list[str] = field(default_factory=list)  # in the folder, not in the starter

    @property
    def nothing_to_do(self) -> bool:
        return not (self.changed or self.missing or self.extra)


def _git(folder: Path, *args: str) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=folder, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise UsageError("reset needs git, and git is not installed",
                         hint="install git, or copy the starter files from the course again") from None
    if result.returncode:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git could not read the starter files: {message[-1] if message else 'failed'}",
                         hint="reset works in a git clone of the course")
    return result.stdout


def starter_files(folder: Path, revision: str = "HEAD") -> dict[str, Starter]:
    """The exercise's files as git has them at `revision`, keyed by their path inside `folder`."""
    folder = folder.resolve()
    listing = _git(folder, "ls-tree", "-r", "-z", revision)  # run inside the folder: its files, paths relative to it
    files: dict[str, Starter] = {}
    for entry in filter(None, listing.split(b"\0")):
        meta, _, name = entry.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        if kind != "blob":
            continue
        relative = name.decode()
        files[relative] = Starter(relative, _git(folder, "cat-file", "blob", sha), mode)
    if not files:
        raise UsageError(f"git has no starter files for {folder.name} at {revision}")
    return files


def _current(folder: Path) -> dict[str, Path]:
    found = {}
    for path in folder.rglob("*"):
        if path.is_symlink() or path.is_file():
            found[path.relative_to(folder).as_posix()] = path
    return found


def _same(path: Path, starter: Starter) -> bool:
    if starter.mode == "120000":
        return path.is_symlink() and os.readlink(path).encode() == starter.data
    if path.is_symlink():
        return False
    executable = bool(path.stat().st_mode & stat.S_IXUSR)
    return path.read_bytes() == starter.data and executable == (starter.mode == "100755")


def plan(folder: Path, starters: dict[str, Starter]) -> Plan:
    current = _current(folder)
    result = Plan()
    for name, starter in sorted(starters.items()):
        if name not in current:
            result.missing.append(name)
        elif not _same(current[name], starter):
            result.changed.append(name)
    result.extra = sorted(name for name in current if name not in starters)
    return result


def backup_folder(course_root: Path, exercise_id: str, now: datetime.datetime | None = None) -> Path:
    stamp = (now or datetime.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    base = course_root / "backups" / exercise_id / stamp
    candidate, n = base, 1
    while candidate.exists():  # two resets in the same second
        n += 1
        candidate = base.with_name(f"{stamp}-{n}")
    return candidate


def reset(folder: Path, starters: dict[str, Starter], backup: Path, changes: Plan) -> None:
    """Copy `folder` to `backup`, then make it hold exactly the starter files."""
    backup.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, backup, symlinks=True)
    for name in changes.extra:
        (folder / name).unlink()
    for name in changes.changed + changes.missing:
        starter, target = starters[name], folder / name
        if target.is_symlink() or target.exists():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        if starter.mode == "120000":
            os.symlink(starter.data.decode(), target)
        else:
            target.write_bytes(starter.data)
            target.chmod(0o755 if starter.mode == "100755" else 0o644)
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()),
                            key=lambda p: len(p.parts), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
