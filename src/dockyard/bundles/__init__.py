"""Platform bundles written from the course's templates in platforms/ (one module per platform):

- gradescope.py: `dockyard package gradescope <id> DIR`: setup.sh, run_autograder, config.env, zipped;
- prairielearn.py: `dockyard package prairielearn <id> DIR`: the external grader's run.sh and config.env,
  the grader image's Dockerfile and a question using them;
- classroom.py: `dockyard classroom <id> DIR`: a GitHub Classroom template repository.

The hosted bundles grade through Dockyard's job queue (their platform has no Docker); the templates stay
in platforms/ (tested there as shipped) and a bundle only adds its configuration.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from dockyard.course import exercises
from dockyard.errors import UsageError

# owner/name as GitHub spells a repository (and as actions/checkout takes it)
GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")


def templates(platform: str) -> Path:
    """platforms/<platform>/ of Dockyard's own checkout (the templates belong to the tool, whichever course
    DOCKYARD_COURSE names), else of the course."""
    for root in (Path(__file__).resolve().parents[3], exercises.course_root()):
        if (root / "platforms" / platform).is_dir():
            return root / "platforms" / platform
    raise UsageError(f"no platforms/{platform}/ templates next to Dockyard or the course",
                     hint="run Dockyard from its repository (make setup), or set DOCKYARD_COURSE to it")


def output_folder(value: str) -> Path:
    """DIR for a bundle: a new or empty folder (a bundle never mixes with files it did not write)."""
    folder = Path(value)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{value}: must be a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def course_source(repository: str | None, ref: str | None) -> tuple[str, str]:
    """Where the platform installs Dockyard from: the flags, else this course checkout's origin and commit
    (a commit, not a branch: every learner is graded by the same rubric)."""
    root = exercises.course_root()

    def git(*argv: str) -> str | None:
        try:
            result = subprocess.run(["git", "-C", str(root), *argv], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None

    repository = repository or git("remote", "get-url", "origin")
    ref = ref or git("rev-parse", "HEAD")
    if not repository:
        raise UsageError("where should the platform install Dockyard from?", hint="pass --course-repository URL")
    if not ref:
        raise UsageError("which version of the course should grade?", hint="pass --course-ref TAG_OR_COMMIT")
    return repository, ref


def clone_url(repository: str) -> str:
    """A URL git clones: owner/name (as GitHub Classroom's workflow takes it) becomes GitHub's https URL."""
    if GITHUB_REPOSITORY.match(repository):
        return f"https://github.com/{repository}"
    return repository


def write_config(path: Path, values: dict[str, str | float | None]) -> Path:
    """A config.env the platform's shell scripts `source`: every value shell-quoted, none left out by accident."""
    lines = ["# written by `dockyard package`; the scripts next to it source this file"]
    lines += [f"{key}={shlex.quote(str(value))}" for key, value in values.items() if value not in (None, "")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)  # it may hold the queue's password
    return path


def copy_script(source: Path, destination: Path) -> Path:
    shutil.copyfile(source, destination)
    destination.chmod(0o755)
    return destination


def submission_files(exercise) -> list[str]:
    """The files a submission holds: the exercise's folder without the course's own exercise.toml and task
    README (the grading builds the submitted folder as it is, so app.py & co. must come with the Dockerfile)."""
    return sorted(str(path.relative_to(exercise.folder)) for path in exercise.folder.rglob("*")
                  if path.is_file() and path.name != "exercise.toml"
                  and path.relative_to(exercise.folder) != Path("README.md"))
