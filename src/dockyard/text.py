"""Text helpers every layer shares: one line, the last lines, and text safe to show a learner.

One place, so "a message on one line" and "the tail of a log" mean the same everywhere.
"""

from __future__ import annotations

import os
import re

FEEDBACK_MAX_CHARS = 1200
LINE_MAX_CHARS = 2000  # one line of learner output, as kept
FEEDBACK_MAX_LINES = 12
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
SURROGATE = re.compile(r"[\ud800-\udfff]")  # a non-UTF-8 byte of a file name, as os.fsdecode keeps it
UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
NAME_MAX_CHARS = 160


def one_line(text: object, limit: int = 300) -> str:
    """`text` (or an exception) with every run of whitespace, newlines included, as one space; at most `limit`."""
    return " ".join(str(text).split())[:limit]


def shown_name(name: object, limit: int = NAME_MAX_CHARS) -> str:
    """A file name (or a link's target) as a message may quote it: every byte that is not UTF-8, every control
    or direction character spelt as an escape (`bad\\xffname`, `two\\nlines`), bounded. A learner's name then
    cannot break a line, a terminal or an encoder, and two different names never look alike."""
    def escape(match: re.Match) -> str:
        char = match.group()
        if "\udc80" <= char <= "\udcff":  # os.fsdecode's surrogateescape: the original byte
            return f"\\x{ord(char) - 0xdc00:02x}"
        return char.encode("unicode_escape", "backslashreplace").decode("ascii")

    text = UNSHOWABLE.sub(escape, os.fsdecode(name) if isinstance(name, bytes) else str(name))
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    text = SURROGATE.sub("\ufffd", CONTROL.sub("", text))  # a lone surrogate cannot be printed or written
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    if len(lines) > FEEDBACK_MAX_LINES:
        lines = lines[:FEEDBACK_MAX_LINES] + ["…"]
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"
