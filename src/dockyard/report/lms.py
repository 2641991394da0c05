"""A class's Reports as the grade CSV an LMS imports, keyed by the LMS's own student ids (from a roster).

The roster is a CSV the teacher keeps (or exports from the LMS) with one row per student and a
column naming the learner's submission as `dockyard batch` sees it (the folder, or the archive's
name without .zip/.tar.gz): `submission` (aliases: folder, username, login). Any of these columns
are carried over, matched case-insensitively: Student (or name), ID, SIS User ID, SIS Login ID,
Section, Email address (or email), ID number (or idnumber).

Formats:
- `canvas`: `Student, ID, SIS User ID, SIS Login ID, Section, <assignment>`: Canvas's gradebook import
  identifies the student by ID / SIS User ID / SIS Login ID and reads the columns after Section as
  assignments (https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807).
- `moodle`: `Email address, ID number, Full name, <assignment>, Feedback`: Moodle's "Import from CSV"
  maps one identifier column (email or idnumber) to the user, then a column to the grade item and
  one to its feedback (https://docs.moodle.org/en/Grade_import).

A student whose grading could not run, or who handed nothing in, gets an empty grade cell (no
change on import), never a zero the teacher did not decide. Cells that a spreadsheet would take for
a formula (=, +, -, @ first) are quoted with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import BadRoster, UnknownChoice
from dockyard.report.model import Report

FORMATS = ("canvas", "moodle")
_KEY_COLUMNS = ("submission", "folder", "username", "login")
_ALIASES = {
    "student": ("student", "name", "full name"),
    "id": ("id",),
    "sis_user_id": ("sis user id",),
    "sis_login_id": ("sis login id",),
    "section": ("section",),
    "email": ("email address", "email"),
    "idnumber": ("id number", "idnumber"),
}


@dataclass
class Export:
    header: list[str]
    rows: list[list[str]]
    missing: list[str] = field(default_factory=list)  # on the roster, no submission
    unknown: list[str] = field(default_factory=list)  # submitted, not on the roster


def read_roster(path) -> list[dict]:
    """Roster rows as `{"submission": ..., "student": ..., "id": ..., ...}`; BadRoster (a one-line usage error) when unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise BadRoster(path, f"cannot read roster {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise BadRoster(path, f"roster {path} is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    key = next((columns[name] for name in _KEY_COLUMNS if name in columns), None)
    if key is None:
        raise BadRoster(path, f"roster {path} has no 'submission' column (the folder or archive name of each learner)")
    wanted = {heading: next((columns[a] for a in aliases if a in columns), None)
              for heading, aliases in _ALIASES.items()}
    roster, seen = [], set()
    for line, row in enumerate(reader, start=2):
        submission = (row.get(key) or "").strip()
        if not submission:
            continue
        if submission in seen:
            raise BadRoster(path, f"roster {path}:{line}: submission {submission!r} is listed twice", line)
        seen.add(submission)
        entry = {"submission": submission}
        for heading, column in wanted.items():
            entry[heading] = (row.get(column) or "").strip() if column else ""
        roster.append(entry)
    if not roster:
        raise BadRoster(path, f"roster {path} lists no students")
    return roster


def _safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _grade(report: Report | None) -> str:
    if report is None or report.status != "graded":
        return ""
    return f"{report.score:g}"


def _feedback(report: Report | None) -> str:
    if report is None:
        return "no submission"
    if report.status != "graded":
        return "grading could not run" + (" (engine trouble: to be graded again)" if report.retry else "")
    failing = [item.title or item.id for item in report.items if not item.passed]
    summary = f"{report.score:g}/{report.max_score:g} points"
    return summary + ("; to fix: " + "; ".join(failing) if failing else "")


def build(roster: list[dict], reports: dict[str, Report], assignment: str, fmt: str = "canvas") -> Export:
    if fmt not in FORMATS:
        raise UnknownChoice("LMS format", fmt, FORMATS)
    on_roster = {entry["submission"] for entry in roster}
    missing = [entry["submission"] for entry in roster if entry["submission"] not in reports]
    unknown = sorted(name for name in reports if name not in on_roster)
    if fmt == "canvas":
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment]
        rows = [[entry["student"] or entry["submission"], entry["id"], entry["sis_user_id"], entry["sis_login_id"],
                 entry["section"], _grade(reports.get(entry["submission"]))] for entry in roster]
    else:
        header = ["Email address", "ID number", "Full name", assignment, "Feedback"]
        rows = [[entry["email"], entry["idnumber"], entry["student"] or entry["submission"],
                 _grade(reports.get(entry["submission"])), _feedback(reports.get(entry["submission"]))]
                for entry in roster]
    return Export(header, [[_safe(cell) for cell in row] for row in rows], missing, unknown)


def to_csv(export: Export) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_safe(cell) for cell in export.header])
    writer.writerows(export.rows)
    return buffer.getvalue()


def write(export: Export, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_csv(export), encoding="utf-8")
    return path
