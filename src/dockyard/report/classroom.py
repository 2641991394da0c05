"""A Report as GitHub Classroom's grading result: the base64 JSON a grader step sets as its `result` output.

Contract (classroom-resources/autograding-command-grader `generateResult`, read by
classroom-resources/autograding-grading-reporter `src/main.js` and `src/notify-classroom.js`):

    {"version": 1, "status": "pass|fail|error", "max_score": N,
     "tests": [{"name", "status": "pass|fail|error", "score", "message", "test_code", "filename",
                "line_no", "duration"}]}

The reporter decodes `$<RUNNER>_RESULTS` (base64), records `totalPoints` = the **sum of tests[].score**
and `maxPoints` = the sum of the runners' `max_score` (a runner with max_score 0 is skipped), and fails
the job when any runner's status is `fail` or `error`. So each rubric item is one test whose score is
the points earned, `max_score` is the report's, and a grading that could not run is one `error` test
worth 0 (with the reason as its message) rather than an empty list.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from dockyard.report.model import Report

VERSION = 1
OUTPUT_NAME = "result"  # the grader step's output the reporter reads through env <STEP-ID>_RESULTS


def _message(item) -> str:
    if item.passed:
        return ""
    text = item.feedback or "this check did not pass"
    return text + (f"\nSee {item.lesson}" if item.lesson else "")


def to_dict(report: Report) -> dict:
    if report.status == "error" and report.items:
        # stopped midway (Report.stopped): the finished items keep their points, the rest are `error` tests worth 0,
        # and the runner's status is `error` so the reporter fails the job with the reason
        tests = [{"name": item.title or item.id, "status": "pass" if item.passed else ("fail" if item.reached else "error"),
                  "score": item.points, "message": _message(item), "test_code": item.id,
                  "filename": "", "line_no": 0, "duration": 0} for item in report.items]
        status = "error"
    elif report.status == "error":
        tests = [{"name": f"{report.exercise}: grading", "status": "error", "score": 0,
                  "message": f"Grading could not run: {report.error or 'unknown error'}"
                             + (" (not your fault: re-run the workflow)" if report.retry else ""),
                  "test_code": f"dockyard grade {report.exercise}", "filename": "", "line_no": 0,
                  "duration": int(report.duration_s * 1000)}]
        status = "error"
    else:
        tests = [{"name": item.title or item.id, "status": "pass" if item.passed else "fail",
                  "score": item.points, "message": _message(item), "test_code": item.id,
                  "filename": "", "line_no": 0, "duration": 0} for item in report.items]
        status = "pass" if report.items and all(item.passed for item in report.items) else "fail"
    return {"version": VERSION, "status": status, "max_score": report.max_score, "tests": tests}


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), ensure_ascii=False, separators=(",", ":"))


def encode(report: Report) -> str:
    """base64 of the UTF-8 JSON: one line, safe for `name=value` in $GITHUB_OUTPUT (no newline, no `=` issue:
    GitHub splits each line at its first `=`)."""
    return base64.b64encode(to_json(report).encode("utf-8")).decode("ascii")


def decode(value: str) -> dict:
    """What the reporter does: `JSON.parse(Buffer.from(value, "base64").toString("utf-8"))`."""
    return json.loads(base64.b64decode(value).decode("utf-8"))


def write(report: Report, path) -> Path:
    """Append `result=<base64>` to `path`, the way a step writes its outputs: point it at $GITHUB_OUTPUT."""
    path = Path(path)
    if path.parent != Path("."):
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{OUTPUT_NAME}={encode(report)}\n")
    return path


def github_output() -> str | None:
    """The step's output file on a GitHub runner, if any."""
    return os.environ.get("GITHUB_OUTPUT") or None
