"""The platform outputs of `dockyard grade` and `dockyard batch`: their flags checked before anything is
graded (a bad flag is one usage line, exit 2, never a traceback), then each renderer written.

`--format NAME[=DEST]` (repeatable) names each output and where it goes (`-`, the default, is stdout; only
one output may take stdout). The older flags are aliases: `--json` is `--format json`, `--junit FILE`
`--format junit=FILE`, `--codegrade FILE` `--format codegrade=FILE`, and so on.

One renderer per platform lives in report/ (pure: a Report in, text out); this module only
reads the flags, picks the grading budget, applies Gradescope's metadata (lateness, cooldown) and writes.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.course import cooldown as cooldowns
from dockyard.course import late
from dockyard.errors import BadDuration, BadRoster, BadSubmissionMetadata, UnknownChoice, UsageError
from dockyard.report import classroom, gradescope, junit, lms, prairielearn

FORMATS = ("json", "junit", "gradescope", "prairielearn", "classroom", "codegrade")
STDOUT = "-"
# the older flags, each one --format (kept: scripts and the platform templates use them)
ALIASES = (("junit", "junit"), ("codegrade", "codegrade"), ("gradescope", "gradescope"),
           ("prairielearn", "prairielearn"), ("classroom", "classroom"))


@dataclass
class GradeOutputs:
    targets: list[tuple[str, Path | str]] = field(default_factory=list)  # (format, path or "-")
    junit_flavour: str = "standard"
    visibility: str = "visible"
    item_visibility: dict[str, str] = field(default_factory=dict)
    metadata: dict | None = None
    deadline_s: float | None = None
    due: object = None  # datetime | None: --due, else Gradescope's due_date
    policy: late.Policy | None = None
    cooldown_s: float | None = None
    leaderboard: tuple[str, ...] = ()  # the exercise's leaderboard metrics (Gradescope)

    def wants(self, name: str) -> bool:
        return any(fmt == name for fmt, _ in self.targets)

    @property
    def platform(self) -> bool:
        """A platform file is asked for: then bad input becomes that file's "could not grade", not a usage error."""
        return any(fmt != "json" for fmt, _ in self.targets)

    @property
    def stdout_taken(self) -> bool:
        return any(dest == STDOUT for _, dest in self.targets)

    def apply_late(self, report):
        """The late policy, with Gradescope's created_at as the submission time (batch does the same per learner)."""
        if self.metadata is None or report.status != "graded":
            return report
        submitted = gradescope.created_at(self.metadata)
        verdict = late.assess(report.score, submitted, self.due or gradescope.due_date(self.metadata), self.policy)
        if verdict is None:
            return report
        return dataclasses.replace(report, score=verdict["score"], late=verdict)

    def render(self, name: str, report) -> str:
        if name == "json":
            return report.to_json() + "\n"
        if name in ("junit", "codegrade"):
            return junit.to_xml(report, "codegrade" if name == "codegrade" else self.junit_flavour)
        if name == "gradescope":
            return gradescope.to_json(report, self.visibility, self.item_visibility, self.metadata,
                                      self.leaderboard) + "\n"
        if name == "prairielearn":
            return prairielearn.to_json(report) + "\n"
        if name == "classroom":
            return f"{classroom.OUTPUT_NAME}={classroom.encode(report)}\n"
        raise ValueError(name)

    def write(self, report, max_points: float | None = None, stdout=None, platforms_only: bool = False) -> list[Path]:
        """Every output; `platforms_only` when the command then fails (exit 3): the platforms still get their
        "could not grade" file, while --json keeps its contract (nothing on stdout when grading failed)."""
        if report.status == "error" and not report.max_score and max_points:
            # a grading that could not run still has the rubric's maximum: platforms sum it (GitHub Classroom
            # skips a runner whose max_score is 0, Gradescope shows x/0)
            report = dataclasses.replace(report, max_score=max_points)
        written = []
        for name, dest in self.targets:
            if platforms_only and name == "json":
                continue
            if dest == STDOUT:
                _send(self.render(name, report), dest, stdout)
            elif name == "classroom":  # appended, as a step's outputs are: $GITHUB_OUTPUT holds other steps' too
                written.append(classroom.write(report, dest))
            elif name == "prairielearn":
                written.append(prairielearn.write(report, dest))
            else:
                written.append(_send(self.render(name, report), dest, stdout))  # rendered before the file is touched
        return written


    def write_gradescope(self, results: dict, stdout=None) -> None:
        """Gradescope's results.json made elsewhere (a submission the cooldown turned away) to its destinations."""
        import json

        text = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
        for name, dest in self.targets:
            if name == "gradescope":
                _send(text, dest, stdout)


def _send(text: str, dest: Path | str, stdout=None) -> Path | str:
    """One output's text to stdout (`-`) or to its file (folders made as needed)."""
    if dest == STDOUT:
        (stdout or sys.stdout).write(text)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
    return dest


def _output_path(value: str | None, flag: str) -> Path | str | None:
    if value is None:
        return None
    if value == STDOUT:
        return STDOUT
    if not value.strip():
        raise UsageError(f"{flag} needs a file name")
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"{flag} {value}: is a folder, give a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"{flag} {value}: {path.parent} is not a folder")
    return path


def _targets(args) -> list[tuple[str, Path | str]]:
    targets = []
    if getattr(args, "json", False):
        targets.append(("json", STDOUT))
    for attribute, name in ALIASES:
        path = _output_path(getattr(args, attribute, None), f"--{attribute}")
        if path is not None:
            targets.append((name, path))
    for value in getattr(args, "format", None) or []:
        name, sep, dest = value.partition("=")
        if name not in FORMATS:
            raise UsageError(f"--format {value}: unknown format {name!r}", hint="formats: " + ", ".join(FORMATS))
        targets.append((name, _output_path(dest if sep else STDOUT, f"--format {name}=")))
    if sum(1 for _, dest in targets if dest == STDOUT) > 1:
        raise UsageError("only one output can go to stdout (-)", hint="give the others a file: --format NAME=FILE")
    files = [str(dest) for name, dest in targets if dest != STDOUT and name != "classroom"]
    if len(files) != len(set(files)):
        raise UsageError("two outputs name the same file", hint="give each --format its own file")
    return targets


def grade_outputs(args, item_ids: list[str] | None = None) -> GradeOutputs:
    """Check `dockyard grade`'s output flags; UsageError (exit 2) names the first bad one."""
    outputs = GradeOutputs(targets=_targets(args),
                           junit_flavour=getattr(args, "junit_flavour", "standard") or "standard")
    if outputs.junit_flavour != "standard" and not outputs.wants("junit"):
        raise UsageError("--junit-flavour applies to --junit FILE, which is missing")
    for value in getattr(args, "visibility", None) or []:
        item, _, when = value.rpartition("=")
        try:
            gradescope.check_visibility(when)
        except UnknownChoice as error:
            raise error.given_as(f"--visibility {value}") from None
        if item:
            if item_ids is not None and not any(item == base or item.startswith(base + "-") for base in item_ids):
                raise UsageError(f"--visibility {value}: no rubric item {item!r}",
                                 hint="items: " + ", ".join(item_ids) if item_ids else None)
            outputs.item_visibility[item] = when
        else:
            outputs.visibility = when
    metadata_file = getattr(args, "submission_metadata", None)
    cooldown = getattr(args, "cooldown", None)
    wants_gradescope = outputs.wants("gradescope")
    if (outputs.visibility != "visible" or outputs.item_visibility or metadata_file or cooldown) \
            and not wants_gradescope:
        raise UsageError("--visibility, --submission-metadata and --cooldown apply to Gradescope's output "
                         "(--format gradescope=FILE), which is missing")
    if metadata_file is None and wants_gradescope and Path(gradescope.METADATA_PATH).is_file():
        metadata_file = gradescope.METADATA_PATH  # running as Gradescope's autograder
    if metadata_file is not None:
        try:
            outputs.metadata = gradescope.read_metadata(metadata_file)
        except BadSubmissionMetadata as error:
            raise error.given_as("--submission-metadata") from None
    if cooldown is not None:
        try:
            outputs.cooldown_s = cooldowns.parse(cooldown)
        except BadDuration as error:
            raise error.given_as(f"--cooldown {cooldown}") from None
    if (getattr(args, "due", None) or getattr(args, "late", None)) and outputs.metadata is None:
        raise UsageError("--due and --late need the submission's time: Gradescope's submission_metadata.json",
                         hint="pass --submission-metadata FILE with --format gradescope=FILE (for a class: batch --late)")
    if getattr(args, "due", None):
        outputs.due = late.parse_time(args.due)
    if getattr(args, "late", None):
        outputs.policy = late.parse_policy(args.late)
    deadline = getattr(args, "deadline", None)
    if deadline is not None and not (deadline > 0):
        raise UsageError(f"--deadline {deadline:g}: give a number of seconds above 0")
    if outputs.wants("prairielearn"):
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
    except BadRoster as error:
        raise error.given_as("--roster") from None
