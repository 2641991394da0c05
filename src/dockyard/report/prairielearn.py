"""A Report as PrairieLearn's external grader `results.json` (docs/externalGrading.md, "Grading results").

- `score`: a float in [0.0, 1.0], the only required field when the submission is gradable;
- `gradable: false` when grading could not run (no Dockerfile, a refused build context, an engine
  failure...): "no points will be awarded or lost, and the student will not be penalized an attempt",
  with the reason in `format_errors` (a string or a list of strings);
- `message`, `output` (the picture of the learner's build, as text), and `tests[]` of `{name, description,
  points, max_points, message, output}`, rendered by `<pl-external-grader-results>`;
- the file must stay under 1 MB: long feedback is cut, never the scores.

The job itself is killed after the question's `timeout` (at most 600 s): see BUDGET_S.
"""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.report.model import Report
from dockyard.report.picture import picture_text

RESULTS_PATH = "/grade/results/results.json"
MAX_BYTES = 1_000_000
TIMEOUT_CAP_S = 600  # PrairieLearn's ceiling for externalGradingOptions.timeout
BUDGET_S = 540  # Dockyard's default grading budget under --prairielearn: leaves time to start and report
_FIELD_MAX = 4000  # characters of feedback per test, so a class of long logs cannot pass 1 MB


def _cut(text: str, limit: int = _FIELD_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_dict(report: Report) -> dict:
    if report.status == "error":
        reason = report.error or "grading could not run"
        data = {"gradable": False, "format_errors": [_cut(reason)],
                "message": "Your submission could not be graded, so no attempt was used: " + _cut(reason, 500)}
        if report.not_reached:  # stopped midway: nothing is awarded, so a resubmission is graded whole
            data["message"] += (f" ({len(report.items) - report.not_reached} of {len(report.items)} checks finished "
                                "before it stopped)")
        if report.retry:
            data["message"] += " (the grading machine failed, not your files: submit again)"
        return data
    tests = []
    for item in report.items:
        tests.append({
            "name": item.title or item.id,
            "description": item.id,
            "points": item.points,
            "max_points": item.max_points,
            "message": "" if item.passed else _cut(item.feedback or "this check did not pass"),
            "output": f"See {item.lesson}" if item.lesson and not item.passed else "",
        })
    score = min(max(report.fraction, 0.0), 1.0)
    data = {"gradable": True, "score": round(score, 4),
            "message": f"{report.exercise}: {report.score:g}/{report.max_score:g} points", "tests": tests}
    if report.build is not None and report.build.steps:  # shown preformatted, as text
        data["output"] = _cut("Your build:\n" + picture_text(report.build))
    return data


def to_json(report: Report) -> str:
    text = json.dumps(to_dict(report), indent=2, ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_BYTES:  # only feedback can be that long: drop it, keep the scores
        data = to_dict(report)
        for test in data.get("tests", []):
            test["message"] = _cut(test["message"], 200)
        text = json.dumps(data, ensure_ascii=False)
    return text


def write(report: Report, path=RESULTS_PATH) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # "/grade/results is not automatically created"
    path.write_text(to_json(report), encoding="utf-8")
    return path
