"""A per-learner cooldown between gradings on Gradescope, kept where Gradescope keeps state: the
submission's own `submission_metadata.json`, whose `previous_submissions[]` carry each earlier
submission's `submission_time`, `score` and `results` (Gradescope's docs suggest it for rate limits).

A submission made within the cooldown of the learner's last *graded* submission is not graded: it keeps that
submission's score and tests, and says when the next grading is possible. A submission turned away
by the cooldown is marked (`extra_data.cooldown`) and never counts as graded, so resubmitting during the
cooldown does not push it further out. The platform's own clock (created_at) is the only clock used.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from dockyard.errors import BadDuration

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hours?|d|days?)?\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
           "days": 86400}


def parse(text: str) -> float:
    """'30m', '2h', '90s', '600' (seconds) → seconds; BadDuration (a usage error) with the accepted forms."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise BadDuration(text)
    return float(match.group(1)) * _UNIT_S[(match.group(2) or "s").lower()]


def _when(value) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def last_graded(metadata: dict) -> tuple[datetime, dict] | None:
    """The newest previous submission that was graded (not turned away by a cooldown), with its time."""
    newest = None
    for previous in metadata.get("previous_submissions") or []:
        if not isinstance(previous, dict):
            continue
        results = previous.get("results") if isinstance(previous.get("results"), dict) else {}
        if (results.get("extra_data") or {}).get("cooldown"):
            continue
        when = _when(previous.get("submission_time"))
        if when is not None and (newest is None or when > newest[0]):
            newest = (when, previous)
    return newest


def blocked(metadata: dict, cooldown_s: float) -> tuple[float, dict] | None:
    """(seconds left, the previous submission) when this submission falls within the cooldown, else None."""
    now = _when(metadata.get("created_at"))
    last = last_graded(metadata)
    if now is None or last is None:
        return None
    left = cooldown_s - (now - last[0]).total_seconds()
    return (left, last[1]) if left > 0 else None


def _wait(seconds: float) -> str:
    minutes = max(1, int(-(-seconds // 60)))
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def gradescope_results(left_s: float, previous: dict, cooldown_s: float) -> dict:
    """Gradescope's results.json for a submission turned away: the previous grading's score and tests."""
    results = previous.get("results") if isinstance(previous.get("results"), dict) else {}
    tests = [test for test in results.get("tests") or [] if isinstance(test, dict)]
    score = previous.get("score", results.get("score", 0))
    message = (f"Not graded: submissions are graded at most once every {_wait(cooldown_s)}, and your last graded "
               f"submission was {_wait(cooldown_s - left_s)} ago. Submit again in {_wait(left_s)}. "
               f"Until then this submission keeps your last graded score ({score:g}) and its feedback.")
    return {"score": score, "execution_time": 0, "output": message, "output_format": "text",
            "visibility": results.get("visibility", "visible"), "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"cooldown": True, "cooldown_left_s": int(left_s)}}
