"""Text helpers every layer shares: one line, the last lines, and text safe to show a learner.

One place, so "a message on one line" and "the tail of a log" mean the same everywhere.
"""

from __future__ import annotations

import re

FEEDBACK_MAX_CHARS = 1200
LINE_MAX_CHARS = 2000  # one line of learner output, as kept
FEEDBACK_MAX_LINES = 12
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def one_line(text: object, limit: int = 300) -> str:
    """`text` (or an exception) with every run of whitespace, newlines included, as one space; at most `limit`."""
    return " ".join(str(text).split())[:limit]


def tail(data: bytes | str, lines: int) -> str:
    """The last `lines` lines of a log, saying how many earlier ones were left out."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    parts = [part if len(part) <= LINE_MAX_CHARS else part[:LINE_MAX_CHARS] + " …" for part in text.splitlines()]
    if len(parts) > lines:
        parts = [f"… ({len(parts) - lines} earlier lines not shown)"] + parts[-lines:]
    return "\n".join(parts)


def last_lines(text: str | None, count: int, width: int | None = None) -> str:
    """The last `count` non-blank lines joined by " | " (each cut to `width`): a log's gist on one line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return " | ".join(line[:width] if width else line for line in lines[-count:])


def clean(text: object, limit: int = FEEDBACK_MAX_CHARS) -> str:
    """Text safe to put in any report: no ANSI, no control characters, bounded length and lines."""
    text = ANSI.sub("", str(text)).replace("\r\n", "\n").replace("\r", "\n").replace("\t", "  ")
    text = CONTROL.sub("", text)
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    if len(lines) > FEEDBACK_MAX_LINES:
        lines = lines[:FEEDBACK_MAX_LINES] + ["…"]
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"
