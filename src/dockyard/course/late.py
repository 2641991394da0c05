"""Late policy: when each learner submitted, and what lateness costs.

Submission times, best source first:
- nbgrader's `timestamp.txt` in the assignment folder (`2026-11-30 12:00:00.123456 UTC`, or ISO 8601);
- Gradescope's `submission_metadata.json` (`created_at`; its `assignment.due_date` when no `--due` is given);
- else the newest modification time of the learner's files (an archive: the archive's own time).

A policy reads `10%/day, max 3 days` (also `%/hour`, `hours`): every started day (or hour) after the
due date costs that share of the score; a submission later than the maximum gets no credit. `--due`
is ISO 8601 (`2026-12-01T23:59`, `2026-12-01 23:59+01:00`); a time without a zone is UTC.
The penalty is applied to the gradebook and feedback at output time: the graded reports stay as they were.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dockyard.errors import UsageError

USAGE = 'expected e.g. "10%/day, max 3 days" or "5%/hour"'
_POLICY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*/\s*(day|hour)\s*(?:,\s*max(?:imum)?\s+(\d+(?:\.\d+)?)\s*"
                     r"(days?|hours?)\s*)?$", re.IGNORECASE)
UNIT_S = {"day": 86400, "hour": 3600}


@dataclass(frozen=True)
class Policy:
    percent: float  # per started unit
    unit: str  # day | hour
    max_late_s: float | None = None  # later than this: no credit
    text: str = ""

    def penalty(self, late_by_s: float) -> float:
        """The share of the score lost, 0..1."""
        if late_by_s <= 0:
            return 0.0
        if self.max_late_s is not None and late_by_s > self.max_late_s:
            return 1.0
        units = math.ceil(late_by_s / UNIT_S[self.unit])
        return min(1.0, units * self.percent / 100)


def parse_policy(text: str) -> Policy:
    match = _POLICY.match(text or "")
    if not match:
        raise UsageError(f"--late: cannot read {text!r}; {USAGE}")
    percent, unit, limit, limit_unit = match.groups()
    if float(percent) > 100:
        raise UsageError(f"--late: {percent}% per {unit} is more than the whole score; {USAGE}")
    max_s = float(limit) * UNIT_S[limit_unit.lower().rstrip("s")] if limit else None
    return Policy(float(percent), unit.lower(), max_s, text.strip())


def parse_time(text: str, what: str = "--due") -> datetime:
    value = str(text).strip()
    cleaned = re.sub(r"\s*(UTC|Z)$", "+00:00", value, flags=re.IGNORECASE)
    try:
        when = datetime.fromisoformat(cleaned)
    except ValueError:
        raise UsageError(f"{what}: cannot read {value!r}; expected a date and time like 2026-12-01T23:59 "
                         "(ISO 8601; UTC unless a zone is given)") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _quiet_time(text) -> datetime | None:
    try:
        return parse_time(text, "time")
    except (UsageError, TypeError):
        return None


def submission_time(folder: Path, source: Path | None = None) -> tuple[datetime | None, datetime | None, str]:
    """(submitted_at, due_date from the platform or None, where it came from)."""
    folder = Path(folder)
    stamp = folder / "timestamp.txt"
    if stamp.is_file():
        when = _quiet_time(stamp.read_text(errors="replace").strip().splitlines()[0] if stamp.read_text(
            errors="replace").strip() else "")
        if when:
            return when, None, "timestamp.txt"
    metadata = folder / "submission_metadata.json"
    if metadata.is_file():
        try:
            data = json.loads(metadata.read_text())
        except (OSError, ValueError):
            data = {}
        when = _quiet_time(data.get("created_at")) if isinstance(data, dict) else None
        if when:
            due = _quiet_time((data.get("assignment") or {}).get("due_date")) if isinstance(
                data.get("assignment"), dict) else None
            return when, due, "submission_metadata.json"
    if source is not None and Path(source).is_file():
        return datetime.fromtimestamp(Path(source).stat().st_mtime, timezone.utc), None, "file time"
    times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    if times:
        return datetime.fromtimestamp(max(times), timezone.utc), None, "file times"
    return None, None, ""


def describe(late_by_s: float) -> str:
    if late_by_s <= 0:
        return "on time"
    days, rest = divmod(int(late_by_s), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    return (" ".join(parts) or "under a minute") + " late"


def assess(score: float, submitted: datetime | None, due: datetime | None, policy: Policy | None) -> dict | None:
    """What lateness does to one learner's score, or None when there is no due date or no time."""
    if due is None or submitted is None:
        return None
    late_by = (submitted - due).total_seconds()
    penalty = policy.penalty(late_by) if policy else 0.0
    final = round(score * (1 - penalty), 2)
    if late_by <= 0:
        note = "on time"
    elif penalty >= 1 and policy and policy.max_late_s is not None and late_by > policy.max_late_s:
        note = f"{describe(late_by)}: after the latest accepted time, no credit ({policy.text})"
    elif penalty:
        note = f"{describe(late_by)}: -{penalty * 100:g}% ({policy.text})"
    else:
        note = describe(late_by)
    return {"submitted_at": submitted.isoformat(), "due": due.isoformat(), "late_by_s": max(0, int(late_by)),
            "penalty": penalty, "score_before": score, "score": final, "note": note}
