"""`dockyard package gradescope <id> DIR`: Gradescope's autograder zip for one exercise.

Gradescope builds an image from `setup.sh` and runs `run_autograder` per submission, with the files in
/autograder/submission and `submission_metadata.json` beside them, and reads
/autograder/results/results.json (gradescope/autograder_samples docs/specs.md). The zip holds the two
scripts from platforms/gradescope/ and a config.env naming the exercise, the queue, the budget and the
policies (cooldown, late); the budget stays under Gradescope's autograder timeout (10 min by default).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from dockyard import bundles
from dockyard.errors import UsageError

DEFAULT_BUDGET_S = 540
TIMEOUT_S = 600  # Gradescope's default autograder timeout; a teacher who raises it can raise --budget too
MARGIN_S = 40  # run_autograder's own start, and its kill margin (BUDGET_S + 30)


def check_budget(budget_s: float | None) -> float:
    budget = budget_s or DEFAULT_BUDGET_S
    if budget + MARGIN_S > TIMEOUT_S:
        raise UsageError(f"--budget {budget:g}: with run_autograder's margin it passes Gradescope's "
                         f"{TIMEOUT_S} s timeout", hint=f"use {TIMEOUT_S - MARGIN_S} or less")
    return budget


def package(exercise, folder: Path, *, queue_url: str, repository: str, ref: str, budget_s: float | None = None,
            visibility: str | None = None, cooldown: str | None = None, late: str | None = None,
            due: str | None = None) -> Path:
    budget = check_budget(budget_s)
    source = bundles.templates("gradescope")
    files = [bundles.copy_script(source / name, folder / name) for name in ("setup.sh", "run_autograder")]
    files.append(bundles.write_config(folder / "config.env", {
        "EXERCISE": exercise.id, "QUEUE_URL": queue_url, "BUDGET_S": f"{budget:g}", "VISIBILITY": visibility,
        "COOLDOWN": cooldown, "LATE": late, "DUE": due, "COURSE_REPOSITORY": bundles.clone_url(repository), "COURSE_REF": ref}))
    archive = folder / f"{exercise.id}-gradescope.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:  # at the zip's top level, as Gradescope requires; the scripts keep their mode
            info = zipfile.ZipInfo(path.name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, path.read_bytes())
    return archive
