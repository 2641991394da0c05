"""`dockyard package prairielearn <id> DIR`: PrairieLearn course files for one exercise.

PrairieLearn runs the question's `entrypoint` in the grader image with the files in /grade/student and
reads /grade/results/results.json (docs/externalGrading.md); a job is killed at its `timeout`, at most
600 s. DIR gets `serverFilesCourse/dockyard/run.sh` and `config.env` (queue, budget),
`questions/<id>/info.json` + `question.html` (a file upload of the exercise's learner files), and
`grader-image/Dockerfile` (Dockyard at the pinned course ref), to copy into the PrairieLearn course.
No cooldown: a grading job sees nothing of earlier ones (PrairieLearn's own question settings limit attempts).
"""

from __future__ import annotations

import html
import json
import shutil
import uuid
from pathlib import Path

from dockyard import bundles
from dockyard.errors import UsageError
from dockyard.report import prairielearn

MARGIN_S = 40  # run.sh's kill margin (BUDGET_S + 20) and the container's start, under the question's timeout


def check_budget(budget_s: float | None) -> float:
    budget = budget_s or prairielearn.BUDGET_S
    if budget + MARGIN_S > prairielearn.TIMEOUT_CAP_S:
        raise UsageError(f"--budget {budget:g}: PrairieLearn stops every job at {prairielearn.TIMEOUT_CAP_S} s, "
                         "and run.sh needs its margin", hint=f"use {prairielearn.TIMEOUT_CAP_S - MARGIN_S} or less")
    return budget


def package(exercise, folder: Path, *, queue_url: str, repository: str, ref: str, budget_s: float | None = None,
            image: str | None = None) -> Path:
    budget = check_budget(budget_s)
    source = bundles.templates("prairielearn")
    server = folder / "serverFilesCourse" / "dockyard"
    server.mkdir(parents=True)
    bundles.copy_script(source / "run.sh", server / "run.sh")
    bundles.write_config(server / "config.env", {"QUEUE_URL": queue_url, "BUDGET_S": f"{budget:g}"})
    (folder / "grader-image").mkdir()
    shutil.copyfile(source / "Dockerfile", folder / "grader-image" / "Dockerfile")
    question = folder / "questions" / exercise.id
    question.mkdir(parents=True)
    info = {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dockyard:{exercise.id}")),  # stable across re-packaging
        "title": f"Dockyard {exercise.id}: {exercise.title}", "topic": "Docker", "type": "v3",
        "gradingMethod": "External", "singleVariant": True,
        "externalGradingOptions": {
            "enabled": True, "image": image or f"dockyard-grader:{ref[:12]}",
            "serverFilesCourse": ["dockyard/"],
            "entrypoint": f"/grade/serverFilesCourse/dockyard/run.sh {exercise.id}",
            "timeout": int(min(prairielearn.TIMEOUT_CAP_S, budget + MARGIN_S)),
            "enableNetworking": True,  # the grader must reach the queue
        },
    }
    (question / "info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(
        f"# {exercise.id} on PrairieLearn\n\nCopy `serverFilesCourse/dockyard/` and `questions/{exercise.id}/` into "
        "your PrairieLearn course. Build `grader-image/Dockerfile` with\n"
        f"`--build-arg COURSE_REPOSITORY={bundles.clone_url(repository)} --build-arg COURSE_REF={ref}`, push it, and name it in\n"
        "`info.json`'s `image`. Run `dockyard worker --queue ...` on a Docker host (same course ref).\n"
        "`config.env` holds the queue's URL: keep the course repository private.\n", encoding="utf-8")
    names = ", ".join(bundles.submission_files(exercise))
    (question / "question.html").write_text(
        f"<pl-question-panel>\n<p>{html.escape(exercise.title)}: {html.escape(exercise.concept)}. Upload your "
        f"{html.escape(', '.join(exercise.learner_files))} with the exercise's other files; Dockyard builds and runs it and grades it against the course rubric.</p>\n"
        f"</pl-question-panel>\n<pl-file-upload file-names=\"{html.escape(names)}\"></pl-file-upload>\n"
        "<pl-submission-panel><pl-external-grader-results></pl-external-grader-results></pl-submission-panel>\n",
        encoding="utf-8")
    return folder
