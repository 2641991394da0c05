"""nbgrader partial credit from a Report, for a notebook's autograded cell.

nbgrader scores a grade cell 0 when it raises, takes its last expression as partial credit
when that is a number in [0, points], and gives full marks otherwise. So the cell ends with

    partial_credit(report, 10)

which returns the earned points scaled to the cell's points, and raises (with the failing
items' feedback, so the learner sees why) when there is nothing to give: score zero or
grading could not run. The generated grade cells pass `cell_points("check-<id>", ...)`
(dockyard.rubric.gradecell), the points in the cell's own metadata, and grade through
`gradecell.grade_quietly`, since nbgrader also scores 0 a cell with any stderr output.
"""

from __future__ import annotations

from dockyard.report.model import Report


class NoCredit(AssertionError):
    """Raised so nbgrader records 0 for the cell; the message is the learner's feedback."""


def _explain(report: Report) -> str:
    if report.status == "error":
        return f"{report.exercise}: grading could not run: {report.error or 'unknown error'}"
    failing = [item for item in report.items if not item.passed]
    lines = [f"{report.exercise}: {report.score:g}/{report.max_score:g} points"]
    for item in failing:
        feedback = " ".join((item.feedback or "did not pass").split())
        lines.append(f"✗ {item.title or item.id}: {feedback}" + (f" (see {item.lesson})" if item.lesson else ""))
    if not report.items:
        lines.append("no checks ran")
    return "\n".join(lines)


def partial_credit(report: Report, cell_points: float) -> float:
    """`report.score / report.max_score * cell_points`, rounded to 2 places; exactly `cell_points`
    for a full score. Raises NoCredit (an AssertionError) when the score is zero or status is error."""
    if cell_points < 0:
        raise ValueError("cell_points must be >= 0")
    if report.status == "error" or not report.max_score or report.score <= 0:
        raise NoCredit(_explain(report))
    if report.score >= report.max_score:
        return float(cell_points)
    earned = round(report.score / report.max_score * cell_points, 2)
    return min(max(earned, 0.0), float(cell_points))


def summary(report: Report) -> str:
    """What a grade cell can print before its last expression (the same text NoCredit carries)."""
    return _explain(report)
