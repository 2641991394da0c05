"""`dockyard reset <id>`: the starter files come back from git, the learner's version goes to a dated backup,
and nothing changes without --yes (or a yes at the prompt)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCKYARD = [sys.executable, "-m", "dockyard"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd,
                   check=True, capture_output=True)


@pytest.fixture()
def course(tmp_path):
    """A one-exercise course in its own git repository."""
    folder = tmp_path / "exercises" / "t-reset"
    folder.mkdir(parents=True)
    (folder / "exercise.toml").write_text('title = "Reset me"\nconcept = "reset"\nnotebook = "00.ipynb"\n')
    (folder / "Dockerfile").write_text("FROM python:3.11-slim\n# TODO\n")
    (folder / "README.md").write_text("# t-reset\n")
    (folder / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (folder / "run.sh").chmod(0o755)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "course")
    return tmp_path


def run(course: Path, *args: str):
    return subprocess.run([*DOCKYARD, "reset", "t-reset", *args], capture_output=True, text=True,
                          env={**os.environ, "DOCKYARD_COURSE": str(course)}, stdin=subprocess.DEVNULL, timeout=60)


def test_reset_restores_the_starter_and_keeps_the_learners_files(course):
    folder = course / "exercises" / "t-reset"
    (folder / "Dockerfile").write_text("FROM python:3.11-slim\nCMD [\"python\"]\n")
    (folder / "README.md").unlink()
    (folder / ".env").write_text("SECRET=mine\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "compose.yaml").write_text("services: {}\n")

    result = run(course, "--yes")
    assert result.returncode == 0, result.stderr
    assert "changed: Dockerfile" in result.stdout and "missing: README.md" in result.stdout
    assert "moved to the backup: .env" in result.stdout

    assert (folder / "Dockerfile").read_text() == "FROM python:3.11-slim\n# TODO\n"
    assert (folder / "README.md").read_text() == "# t-reset\n"
    assert not (folder / ".env").exists() and not (folder / "sub").exists()
    assert os.access(folder / "run.sh", os.X_OK)

    backups = list((course / "backups" / "t-reset").iterdir())
    assert len(backups) == 1 and f"backups/t-reset/{backups[0].name}/" in result.stdout
    kept = backups[0]
    assert (kept / "Dockerfile").read_text() == "FROM python:3.11-slim\nCMD [\"python\"]\n"
    assert (kept / ".env").read_text() == "SECRET=mine\n" and (kept / "sub" / "compose.yaml").is_file()

    again = run(course, "--yes")
    assert again.returncode == 0 and "nothing to reset" in again.stdout
    assert len(list((course / "backups" / "t-reset").iterdir())) == 1


def test_reset_asks_first(course):
    folder = course / "exercises" / "t-reset"
    (folder / "Dockerfile").write_text("FROM scratch\n")
    result = run(course)  # no terminal to ask on, no --yes: refuse, change nothing
    assert result.returncode == 2 and "--yes" in result.stderr
    assert (folder / "Dockerfile").read_text() == "FROM scratch\n"
    assert not (course / "backups").exists()


def test_reset_of_an_unknown_exercise_is_a_usage_error(course):
    result = subprocess.run([*DOCKYARD, "reset", "nope", "--yes"], capture_output=True, text=True,
                            env={**os.environ, "DOCKYARD_COURSE": str(course)}, timeout=60)
    assert result.returncode == 2 and "unknown exercise" in result.stderr
