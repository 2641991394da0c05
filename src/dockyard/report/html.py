"""A report as an HTML table: what the notebook's Check widget shows (pure: usable without a front end).

Stable CSS classes (a browser test relies on them): `dockyard-rubric` the table, one `tr.dockyard-item` per item
whose first cell is ✓ or ✗ (`tr.dockyard-pass` / `tr.dockyard-fail`), `dockyard-total`, `dockyard-error`;
under the table, the picture of the learner's build (`dockyard-build`, report/picture.py) when it was built.
"""

from __future__ import annotations

import html

from dockyard.report.picture import picture_html

PASS, FAIL = "✓", "✗"


def _lesson_link(lesson: str | None) -> str:
    if not lesson:
        return ""
    return f' <a href="{html.escape(lesson)}" target="_blank" title="where the course teaches this">📖 {html.escape(lesson)}</a>'


def report_html(report) -> str:
    """A `dockyard.report.model.Report` as an HTML table (class `dockyard-rubric`)."""
    style = ("<style>.dockyard-rubric{border-collapse:collapse;margin-top:6px;font-size:13px}"
             ".dockyard-rubric td,.dockyard-rubric th{border-bottom:1px solid #ddd;padding:4px 8px;"
             "text-align:left;vertical-align:top}.dockyard-rubric .dockyard-pass td:first-child{color:#1a7f37}"
             ".dockyard-rubric .dockyard-fail td:first-child{color:#cf222e}"
             ".dockyard-rubric pre{white-space:pre-wrap;margin:0;font-size:12px}</style>")
    if getattr(report, "status", "graded") == "error":
        retry = " (the engine failed, not you: press Check again)" if getattr(report, "retry", False) else ""
        return (style + f'<div class="dockyard-error" style="color:#cf222e"><b>Could not grade {html.escape(report.exercise)}'
                f"</b>{retry}:<pre>{html.escape(report.error or 'unknown error')}</pre></div>"
                + picture_html(getattr(report, "build", None)))
    rows = []
    for item in report.items:
        mark = PASS if item.passed else FAIL
        feedback = "" if item.passed else f"<pre>{html.escape(item.feedback or '')}</pre>"
        lesson = "" if item.passed else _lesson_link(item.lesson)
        rows.append(
            f'<tr class="dockyard-item {"dockyard-pass" if item.passed else "dockyard-fail"}" data-item="{html.escape(item.id)}">'
            f"<td>{mark}</td><td>{html.escape(item.title)}</td>"
            f"<td>{_points(item.points)}/{_points(item.max_points)}</td><td>{feedback}{lesson}</td></tr>"
        )
    passed = sum(1 for item in report.items if item.passed)
    total = (f'<tfoot><tr class="dockyard-total"><th></th><th>Total ({passed}/{len(report.items)} items)</th>'
             f"<th>{_points(report.score)}/{_points(report.max_score)}</th>"
             f"<th>{'All done — well built!' if report.score == report.max_score and report.max_score else ''}"
             f" <small>graded in {report.duration_s:.1f} s</small></th></tr></tfoot>")
    return (style + f'<table class="dockyard-rubric" data-exercise="{html.escape(report.exercise)}" '
            f'data-score="{report.score}" data-max-score="{report.max_score}">'
            "<thead><tr><th></th><th>Rubric item</th><th>Points</th><th>Feedback</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody>{total}</table>" + picture_html(getattr(report, "build", None)))


def _points(value: float) -> str:
    return f"{value:g}"
