"""A Report as Gradescope's `results.json` (the autograder specification's documented format).

Top level: `score`, `execution_time` (whole seconds), `output`, `output_format`, `tests`; one
test per rubric item with `name`, `number`, `score`, `max_score`, `status` ("passed" | "failed"),
`output` (the feedback), `visibility`. The grand total is also given at top level: Gradescope
takes it over the tests' sum, and it is the same number. Nothing else lives at top level (the
exercise id and max score go to `extra_data`) so the file stays within the spec.

Visibility: one default for every test; a rubric item's own `@pytest.mark.visibility(...)` beats it,
and a per-item override (`{"serves-hello": "hidden"}`, the CLI's `--visibility ITEM=WHEN`) beats both;
the top level takes the default. Gradescope's rule: with hidden tests the learner does not see the
total either, so hiding an item hides the score until the instructor publishes it.

Leaderboard: an exercise that asks for one (`leaderboard = ["image_size", "build_time"]` in its
exercise.toml) gets Gradescope's top-level `leaderboard` list, `{name, value, order}` per metric, read from
the learner's build (smaller is better for both: `order: "asc"`); a grading that did not build has none.

`submission_metadata.json` (/autograder/submission_metadata.json): when given, its `created_at`
against the assignment's `due_date` / `late_due_date` says whether the submission is late, by how
much; that goes in the output and in `extra_data` (no penalty is applied: that is the late policy's
business, not the renderer's).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from dockyard.errors import BadSubmissionMetadata, UnknownChoice
from dockyard.report.model import Report
from dockyard.report.picture import picture_text

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


METADATA_PATH = "/autograder/submission_metadata.json"

# metric -> (the column Gradescope shows, how it ranks, the value from the build picture or None)
LEADERBOARD_METRICS = {
    "image_size": ("Image size (MB)", "asc",
                   lambda build: round(build.size_bytes / 1e6, 1) if build.size_bytes is not None else None),
    "build_time": ("Build time (s)", "asc", lambda build: round(build.seconds, 1)),
}


def check_leaderboard(metrics) -> tuple[str, ...]:
    for metric in metrics:
        if metric not in LEADERBOARD_METRICS:
            raise UnknownChoice("leaderboard metric", metric, tuple(LEADERBOARD_METRICS))
    return tuple(metrics)


def leaderboard(report: Report, metrics) -> list[dict]:
    """Gradescope's leaderboard entries for `metrics`, from a graded report's build (none when it did not build)."""
    build = report.build
    if report.status != "graded" or build is None or build.failed_at is not None:
        return []
    entries = []
    for metric in check_leaderboard(metrics):
        name, order, value_of = LEADERBOARD_METRICS[metric]
        value = value_of(build)
        if value is not None:
            entries.append({"name": name, "value": value, "order": order})
    return entries


def check_visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise UnknownChoice("visibility", value, VISIBILITIES)
    return value


def _when(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadSubmissionMetadata(f"submission metadata: {field} is not a date: {value!r}", field=field) from None


def lateness(metadata: dict) -> dict:
    """`{"late": bool, "late_by_s": int, "after_late_due_date": bool, "previous_submissions": n}` from
    Gradescope's submission metadata (its `created_at`, `assignment.due_date`, `assignment.late_due_date`)."""
    if not isinstance(metadata, dict):
        raise BadSubmissionMetadata("submission metadata must be a JSON object")
    assignment = metadata.get("assignment") or {}
    if not isinstance(assignment, dict):
        raise BadSubmissionMetadata("submission metadata: assignment must be an object", field="assignment")
    created = _when(metadata.get("created_at"), "created_at")
    due = _when(assignment.get("due_date"), "assignment.due_date")
    late_due = _when(assignment.get("late_due_date"), "assignment.late_due_date")
    if created and due and (created.tzinfo is None) != (due.tzinfo is None):
        raise BadSubmissionMetadata("submission metadata: created_at and due_date must both carry a time zone, or neither",
                                    field="created_at")
    late_by = (created - due).total_seconds() if created and due else 0.0
    previous = metadata.get("previous_submissions") or []
    return {"late": late_by > 0, "late_by_s": int(max(late_by, 0)),
            "after_late_due_date": bool(created and late_due and created > late_due),
            "previous_submissions": len(previous) if isinstance(previous, list) else 0}


def _aware(when: datetime | None) -> datetime | None:
    return when if when is None or when.tzinfo else when.replace(tzinfo=timezone.utc)


def created_at(metadata: dict) -> datetime | None:
    """The submission's time on Gradescope's clock (UTC when it carries no zone), for the late policy."""
    return _aware(_when(metadata.get("created_at"), "created_at"))


def due_date(metadata: dict) -> datetime | None:
    return _aware(_when((metadata.get("assignment") or {}).get("due_date"), "assignment.due_date"))


def read_metadata(path) -> dict:
    """The submission metadata file as a dict; BadSubmissionMetadata (a one-line usage error) when it
    cannot be used."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise BadSubmissionMetadata(f"cannot read submission metadata {path}: {error.strerror or error}", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadSubmissionMetadata(f"submission metadata {path} is not JSON: {error}", path) from None
    lateness(data)  # every date checked now, not half-way through writing results
    return data


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts) or f"{seconds} s"


def to_dict(report: Report, visibility: str = "visible", item_visibility: dict[str, str] | None = None,
            metadata: dict | None = None, leaderboard_metrics=()) -> dict:
    check_visibility(visibility)
    item_visibility = item_visibility or {}
    for value in item_visibility.values():
        check_visibility(value)
    tests = []
    for number, item in enumerate(report.items, start=1):
        output = "" if item.passed else (item.feedback or "this check did not pass")
        if item.partial:
            output = f"Partial credit: {item.points:g}/{item.max_points:g} points. {output}"
        if not item.passed and item.lesson:
            output += f"\n\nSee {item.lesson}"
        tests.append({
            "name": item.title or item.id,
            "number": str(number),
            "score": item.points,
            "max_score": item.max_points,
            "status": "passed" if item.passed else "failed",
            "output": output,
            "output_format": "text",  # feedback quotes the learner's files: never render it as HTML/Markdown
            "visibility": item_visibility.get(item.id, item.visibility if item.visibility in VISIBILITIES
                                              else visibility),
            "tags": [item.id],
        })
    if report.status == "error":
        output = f"Grading could not run: {report.error or 'unknown error'}"
        if report.not_reached:
            output += f"\n{report.not_reached} check(s) were not reached; the others are graded below."
        if report.retry:
            output += ("\nThis was not your fault: your score is withheld until the autograder runs again "
                       "(resubmit, or ask your instructor to regrade).")
            # Gradescope: "If test cases are hidden, students will not be able to see their total score":
            # one hidden test withholds the total while the message above stays visible
            tests.append({"name": "Grading did not finish (withheld)", "number": str(len(tests) + 1), "score": 0.0,
                          "max_score": 0.0, "status": "failed", "output": output, "output_format": "text",
                          "visibility": "hidden", "tags": ["withheld"]})
    else:
        output = f"{report.exercise}: {report.score:g}/{report.max_score:g} points"
    for note in report.notes:
        output += f"\nNote: {note}"
    if report.late:
        output += (f"\nLate policy: {report.late.get('note', '')}; score {report.late.get('score_before', 0):g}"
                   f" → {report.score:g}")
    extra = {"exercise": report.exercise, "max_score": report.max_score, "status": report.status,
             "run_id": report.run_id, "retry": report.retry, "not_reached": report.not_reached}
    if report.late:
        extra["late_policy"] = report.late
    if metadata is not None:
        late = lateness(metadata)
        extra.update(late)
        if late["after_late_due_date"]:
            output += f"\nSubmitted after the late due date ({_duration(late['late_by_s'])} after the due date)."
        elif late["late"]:
            output += f"\nSubmitted late: {_duration(late['late_by_s'])} after the due date."
    if report.build is not None and report.build.steps:
        output += "\n\nYour build:\n" + picture_text(report.build)
    results = {
        "score": report.score,
        "execution_time": int(math.ceil(report.duration_s)),
        "output": output,
        "output_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": extra,
    }
    board = leaderboard(report, leaderboard_metrics)
    if board:
        results["leaderboard"] = board
    return results


def to_json(report: Report, visibility: str = "visible", item_visibility: dict[str, str] | None = None,
            metadata: dict | None = None, leaderboard_metrics=()) -> str:
    return json.dumps(to_dict(report, visibility, item_visibility, metadata, leaderboard_metrics), indent=2,
                      ensure_ascii=False)


def write(report: Report, path="/autograder/results/results.json", visibility: str = "visible",
          item_visibility: dict[str, str] | None = None, metadata: dict | None = None) -> Path:
    path = Path(path)
    text = to_json(report, visibility, item_visibility, metadata)  # a bad argument fails before the file is touched
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
