"""Feedback files for classroom batch grading: Markdown and a self-contained HTML page.

Everything a learner wrote (feedback quotes their files and logs) is escaped: the HTML page
carries no script and loads nothing, so it can be mailed or uploaded as is.
"""

from __future__ import annotations

import html as _html
import re
from datetime import datetime, timezone

from dockyard.report.model import Report
from dockyard.report.picture import picture_html, picture_markdown


_MARKDOWN = re.compile(r"([\\*_\[\]!~])")  # what could start emphasis, a link or an image


def _md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped; outside `code spans` HTML escaped and
    Markdown's punctuation backslashed, so a learner's `![x](http://…)` shows as text and loads nothing (inside
    code spans Markdown shows `<script>` literally, and entities or backslashes would show as typed)."""
    flat = " ".join((text or "").split())
    if flat.count("`") % 2:
        flat = flat.replace("`", "'")
    pieces = flat.split("`")
    for index in range(0, len(pieces), 2):  # even pieces lie outside code spans
        pieces[index] = _MARKDOWN.sub(r"\\\1", _html.escape(pieces[index], quote=False))
    return "`".join(pieces).replace("|", "\\|")


def late_line(report: Report) -> str:
    """"2 days late: -20% (10%/day, max 3 days); the checks earned 8/10" (or "on time")."""
    late = report.late or {}
    text = late.get("note", "")
    if late.get("penalty"):
        text += f"; the checks earned {late.get('score_before', report.score):g}/{report.max_score:g}"
    return text


def markdown(report: Report, student: str | None = None) -> str:
    who = f" — {student}" if student else ""
    lines = [f"# {report.exercise}{who}", ""]
    if report.status == "error":
        lines += [f"**Grading could not run:** {_md_cell(report.error or 'unknown error')}", ""]
        if report.retry:
            lines += ["This was not your fault: it will be graded again.", ""]
        if not (report.items and report.not_reached):
            return "\n".join(lines)
        lines += [f"**The finished checks: {report.score:g}/{report.max_score:g}** ({report.not_reached} not reached)",
                  ""]
    else:
        passed = sum(1 for item in report.items if item.passed)
        lines += [f"**Score: {report.score:g}/{report.max_score:g}** ({passed}/{len(report.items)} checks passed)", ""]
        if report.late:
            lines += [f"Submitted {_md_cell(late_line(report))}", ""]
    lines += ["| | check | points | feedback |", "|---|---|---:|---|"]
    for item in report.items:
        mark = item.mark
        feedback = "" if item.passed else _md_cell(item.feedback or "did not pass")
        if not item.passed and item.lesson:
            feedback += f" (see {_md_cell(item.lesson)})"
        lines.append(f"| {mark} | {_md_cell(item.title or item.id)} | {item.points:g}/{item.max_points:g} | {feedback} |")
    lines.append("")
    lines += picture_markdown(report.build, _md_cell)
    return "\n".join(lines)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem;margin-bottom:.2rem} .meta{color:#666;margin-top:0}
.score{font-size:1.2rem;font-weight:600} .full{color:#1a7f37} .partial{color:#9a6700} .zero,.error{color:#cf222e}
table{border-collapse:collapse;width:100%;margin-top:1rem} th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
td.mark{font-weight:700;width:1.5rem} tr.pass td.mark{color:#1a7f37} tr.fail td.mark{color:#cf222e} tr.partial td.mark{color:#9a6700} tr.skip td.mark{color:#888}
td.points{white-space:nowrap;text-align:right} .feedback{white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;margin:.3rem 0 0}
.lesson{color:#0969da;font-size:.9em}
""".strip()


def html(report: Report, student: str | None = None) -> str:
    esc = _html.escape
    title = f"{report.exercise} — {student}" if student else report.exercise
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
             f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{esc(report.exercise)}</h1>",
             f'<p class="meta">{esc(student) + " · " if student else ""}graded {esc(generated)}'
             f" in {report.duration_s:.1f} s</p>"]
    stopped = report.status == "error" and bool(report.items) and report.not_reached > 0
    if report.status == "error":
        parts.append(f'<p class="score error">Grading could not run: {esc(report.error or "unknown error")}</p>')
        if report.retry:
            parts.append("<p>This was not your fault: it will be graded again.</p>")
    if stopped:
        parts.append(f'<p class="score partial">The finished checks: {report.score:g}/{report.max_score:g} '
                     f"({report.not_reached} not reached)</p>")
    elif report.status != "error":
        kind = "full" if report.max_score and report.score >= report.max_score else ("partial" if report.score > 0 else "zero")
        passed = sum(1 for item in report.items if item.passed)
        parts.append(f'<p class="score {kind}">Score: {report.score:g}/{report.max_score:g} '
                     f"({passed}/{len(report.items)} checks passed)</p>")
        if report.late:
            parts.append(f'<p class="late">Submitted {esc(late_line(report))}</p>')
    if report.status != "error" or stopped:
        parts.append("<table><thead><tr><th></th><th>check</th><th>points</th></tr></thead><tbody>")
        for item in report.items:
            row_class = {"passed": "pass", "partial": "partial", "not_reached": "skip"}.get(item.outcome, "fail")
            cell = esc(item.title or item.id)
            if not item.passed:
                cell += f'<div class="feedback">{esc(item.feedback or "did not pass")}</div>'
                if item.lesson and item.reached:
                    cell += f'<div class="lesson">See {esc(item.lesson)}</div>'
            parts.append(f'<tr class="{row_class}"><td class="mark">{item.mark}</td><td>{cell}</td>'
                         f'<td class="points">{item.points:g}/{item.max_points:g}</td></tr>')
        parts.append("</tbody></table>")
    if report.build is not None:
        parts.append("<h2>Your build</h2>" + picture_html(report.build))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
