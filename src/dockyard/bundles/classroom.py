"""`dockyard classroom <id> DIR`: a GitHub Classroom template repository for one exercise.

DIR gets the exercise's starter files (what `dockyard reset` restores: the learner's files with their TODOs,
without the course's exercise.toml), a README for the learner (the task, and how grading works), and
`.github/workflows/classroom.yml`: platforms/github-classroom's workflow with this exercise, the course
repository and its pinned ref filled in. The workflow installs Dockyard from the course at that ref
(never a rubric copy from the learner's repository), provisions the base images, grades, and reports
through the official reporter action (pinned by SHA).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from dockyard import bundles
from dockyard.errors import UsageError

WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
_SETTINGS = ("EXERCISE", "COURSE_REPOSITORY", "COURSE_REF")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def repository_name(value: str) -> str:
    """owner/name, as actions/checkout takes it (a GitHub URL is shortened to that)."""
    name = re.sub(r"^(https://github\.com/|git@github\.com:)", "", value.strip()).removesuffix(".git").strip("/")
    if not bundles.GITHUB_REPOSITORY.match(name):
        raise UsageError(f"--course-repository {value}: not a GitHub repository (owner/name)")
    return name


def workflow_text(exercise_id: str, repository: str, ref: str) -> str:
    """The template's workflow with its three `env:` settings replaced (their comments kept); each value is
    checked against a strict pattern first, so nothing can break out of the YAML scalar."""
    if not _REF.match(ref):
        raise UsageError(f"--course-ref {ref}: not a tag, branch or commit name")
    text = (bundles.templates("github-classroom") / WORKFLOW).read_text(encoding="utf-8")
    values = {"EXERCISE": exercise_id, "COURSE_REPOSITORY": repository, "COURSE_REF": ref}
    for key in _SETTINGS:
        text, count = re.subn(rf"^(\s+{key}: )\S+", lambda match: match.group(1) + values[key], text, count=1,
                              flags=re.MULTILINE)
        if count != 1:
            raise UsageError(f"platforms/github-classroom/{WORKFLOW} has no {key} setting to fill in")
    return text


def readme(exercise, task: str) -> str:
    return (f"{task.rstrip()}\n\n## How this assignment is graded\n\n"
            "Every push runs the **Autograding Tests** workflow (the Actions tab): Dockyard builds your image, runs it "
            f"and checks it against the course's rubric for `{exercise.id}`, and GitHub Classroom records the points. "
            "Each check's feedback (what was expected, what was seen, where the course teaches it) is in the "
            "workflow's log and annotations. Edit only your files "
            f"({', '.join(exercise.learner_files)}); the rubric comes from the course, not from this repository.\n\n"
            f"Check before you push, in the course's lab: `dockyard check {exercise.id} .`\n")


def package(exercise, folder: Path, *, repository: str, ref: str) -> Path:
    text = workflow_text(exercise.id, repository_name(repository), ref)
    for name in bundles.submission_files(exercise):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(exercise.folder / name, folder / name, follow_symlinks=False)
    task = exercise.readme.read_text(encoding="utf-8") if exercise.readme.is_file() else f"# {exercise.title}\n"
    (folder / "README.md").write_text(readme(exercise, task), encoding="utf-8")
    (folder / WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    (folder / WORKFLOW).write_text(text, encoding="utf-8")
    return folder
