"""The platform outputs of `dockyard grade` and `dockyard batch`: their flags checked before anything is
graded (a bad flag is one usage line, exit 2, never a traceback), then each renderer written.

One renderer per platform lives in report/ (pure: a Report in, text out); this module only
reads the flags, picks the grading budget and writes files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import UsageError
from dockyard.report import classroom, gradescope, junit, lms, prairielearn


@dataclass
class GradeOutputs:
    junit: Path | None = None
    junit_flavour: str = "standard"
    codegrade: Path | None = None
    gradescope: Path | None = None
    visibility: str = "visible"
    item_visibility: dict[str, str] = field(default_factory=dict)
    metadata: dict | None = None
    prairielearn: Path | None = None
    classroom: Path | None = None
    deadline_s: float | None = None

    def write(self, report, max_points: float | None = None) -> list[Path]:
        if report.status == "error" and not report.max_score and max_points:
            # a grading that could not run still has the rubric's maximum: platforms sum it (GitHub Classroom
            # skips a runner whose max_score is 0, Gradescope shows x/0)
            report = dataclasses.replace(report, max_score=max_points)
        written = []
        if self.junit:
            written.append(junit.write(report, self.junit, self.junit_flavour))
        if self.codegrade:
            written.append(junit.write(report, self.codegrade, "codegrade"))
        if self.gradescope:
            written.append(gradescope.write(report, self.gradescope, self.visibility, self.item_visibility,
                                            self.metadata))
        if self.prairielearn:
            written.append(prairielearn.write(report, self.prairielearn))
        if self.classroom:
            written.append(classroom.write(report, self.classroom))
        return written


def _output_path(value: str | None, flag: str) -> Path | None:
    if value is None:
        return None
    if not value.strip():
        raise UsageError(f"{flag} needs a file name")
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"{flag} {value}: is a folder, give a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"{flag} {value}: {path.parent} is not a folder")
    return path


def grade_outputs(args, item_ids: list[str] | None = None) -> GradeOutputs:
    """Check `dockyard grade`'s output flags; UsageError (exit 2) names the first bad one."""
    outputs = GradeOutputs(
        junit=_output_path(getattr(args, "junit", None), "--junit"),
        junit_flavour=getattr(args, "junit_flavour", "standard") or "standard",
        codegrade=_output_path(getattr(args, "codegrade", None), "--codegrade"),
        gradescope=_output_path(getattr(args, "gradescope", None), "--gradescope"),
        prairielearn=_output_path(getattr(args, "prairielearn", None), "--prairielearn"),
        classroom=_output_path(getattr(args, "classroom", None), "--classroom"),
    )
    if outputs.junit_flavour != "standard" and not outputs.junit:
        raise UsageError("--junit-flavour applies to --junit FILE, which is missing")
    for value in getattr(args, "visibility", None) or []:
        item, _, when = value.rpartition("=")
        try:
            gradescope.check_visibility(when)
        except ValueError as error:
            raise UsageError(f"--visibility {value}: {error}") from None
        if item:
            if item_ids is not None and not any(item == base or item.startswith(base + "-") for base in item_ids):
                raise UsageError(f"--visibility {value}: no rubric item {item!r}",
                                 hint="items: " + ", ".join(item_ids) if item_ids else None)
            outputs.item_visibility[item] = when
        else:
            outputs.visibility = when
    metadata_file = getattr(args, "submission_metadata", None)
    if (outputs.visibility != "visible" or outputs.item_visibility or metadata_file) and not outputs.gradescope:
        raise UsageError("--visibility and --submission-metadata apply to --gradescope FILE, which is missing")
    if metadata_file is None and outputs.gradescope and Path(gradescope.METADATA_PATH).is_file():
        metadata_file = gradescope.METADATA_PATH  # running as Gradescope's autograder
    if metadata_file is not None:
        try:
            outputs.metadata = gradescope.read_metadata(metadata_file)
        except ValueError as error:
            raise UsageError(f"--submission-metadata: {error}") from None
    deadline = getattr(args, "deadline", None)
    if deadline is not None and not (deadline > 0):
        raise UsageError(f"--deadline {deadline:g}: give a number of seconds above 0")
    if outputs.prairielearn:
        if deadline is not None and deadline > prairielearn.TIMEOUT_CAP_S:
            raise UsageError(f"--deadline {deadline:g}: PrairieLearn stops every job at "
                             f"{prairielearn.TIMEOUT_CAP_S} s, so the results would never be written",
                             hint=f"use {prairielearn.BUDGET_S} or less, and set the question's timeout above it")
        deadline = deadline or prairielearn.BUDGET_S
    outputs.deadline_s = deadline
    return outputs


def lms_roster(args) -> list[dict] | None:
    """`batch --roster`'s rows, checked before the class is graded."""
    roster = getattr(args, "roster", None)
    if roster is None:
        if getattr(args, "export", None):
            raise UsageError("--export applies to --roster CSV, which is missing")
        return None
    try:
        return lms.read_roster(roster)
    except ValueError as error:
        raise UsageError(f"--roster: {error}") from None
