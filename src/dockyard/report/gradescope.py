"""A Report as Gradescope's `results.json` (the autograder specification's documented format).

Top level: `score`, `execution_time` (whole seconds), `output`, `output_format`, `tests`; one
test per rubric item with `name`, `number`, `score`, `max_score`, `status` ("passed" | "failed"),
`output` (the feedback), `visibility`. The grand total is also given at top level: Gradescope
takes it over the tests' sum, and it is the same number. Nothing else lives at top level (the
exercise id and max score go to `extra_data`) so the file stays within the spec.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from dockyard.report.model import Report

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def to_dict(report: Report, visibility: str = "visible") -> dict:
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    tests = []
    for number, item in enumerate(report.items, start=1):
        output = "" if item.passed else (item.feedback or "this check did not pass")
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
            "visibility": visibility,
            "tags": [item.id],
        })
    if report.status == "error":
        output = f"Grading could not run: {report.error or 'unknown error'}"
        if report.retry:
            output += "\nThis was not your fault: please resubmit, or ask your instructor to re-run the autograder."
    else:
        output = f"{report.exercise}: {report.score:g}/{report.max_score:g} points"
    for note in report.notes:
        output += f"\nNote: {note}"
    return {
        "score": report.score,
        "execution_time": int(math.ceil(report.duration_s)),
        "output": output,
        "output_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"exercise": report.exercise, "max_score": report.max_score, "status": report.status,
                       "run_id": report.run_id, "retry": report.retry},
    }


def to_json(report: Report, visibility: str = "visible") -> str:
    return json.dumps(to_dict(report, visibility), indent=2, ensure_ascii=False)


def write(report: Report, path="/autograder/results/results.json", visibility: str = "visible") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(report, visibility), encoding="utf-8")
    return path
