"""class.html: the class at a glance, written by `batch` next to the gradebook.

What a teacher needs to decide what to teach again: the score histogram; each rubric item's pass rate
(partial credit counted as its fraction) with its lesson; the most common failure messages per item;
the grading times; and the learners whose grading could not run (to regrade with `--only`).
The charts are inline SVG drawn here (no plotting library: a batch pays nothing to load one), so the page
works offline, loads nothing and runs no script; every learner string (names, feedback) is escaped.
"""

from __future__ import annotations

import collections
import html
import re
import statistics
from datetime import datetime, timezone

from dockyard.report.model import Report

COMMON_FAILURES = 3
MESSAGE_CHARS = 160


def _first_line(text: str) -> str:
    return next((part.strip() for part in (text or "").splitlines() if part.strip()), "did not pass")


def _shorten(line: str) -> str:
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


# numbers that differ between learners with the same failure (the host port a probe used, its attempts, a line
# number, a duration): masked in the key a failure is counted under, or 200 learners' one mistake lists as 200
_NUMBER = re.compile(r"\d+(\.\d+)?")


def failure_key(message: str) -> str:
    return _NUMBER.sub("#", message)


def analyse(reports: dict[str, Report]) -> dict:
    graded = {name: r for name, r in reports.items() if r.status == "graded"}
    items: dict[str, dict] = {}
    for report in graded.values():
        for item in report.items:
            entry = items.setdefault(item.id, {"title": item.title or item.id, "lesson": item.lesson,
                                               "max_points": item.max_points, "earned": 0.0, "count": 0,
                                               "passed": 0, "failures": collections.Counter(),
                                               "wordings": collections.defaultdict(collections.Counter)})
            entry["count"] += 1
            entry["earned"] += (item.points / item.max_points) if item.max_points else float(item.passed)
            entry["passed"] += int(item.passed)
            if not item.passed:
                message = _first_line(item.feedback)  # keyed whole: a cut at a number's width would split it
                entry["failures"][failure_key(message)] += 1
                entry["wordings"][failure_key(message)][_shorten(message)] += 1
    for entry in items.values():
        entry["rate"] = entry["earned"] / entry["count"] if entry["count"] else 0.0
    not_run = {name: r for name, r in reports.items() if r.status != "graded"}
    return {"graded": graded, "items": items, "not_run": not_run,
            "durations": {name: r.duration_s for name, r in reports.items() if r.duration_s}}


def _histogram(graded: dict[str, Report]) -> str | None:
    if not graded:
        return None
    maximum = max((r.max_score for r in graded.values()), default=1) or 1
    bins = min(20, max(5, int(maximum) + 1))
    return _histogram_svg("histogram", "histogram of the scores", "Scores", [r.score for r in graded.values()],
                          maximum, bins, f"score (of {maximum:g})", "learners", "#4c72b0")


def _item_rates(items: dict[str, dict]) -> str | None:
    if not items:
        return None
    left, bar_height, width = 190, 22, CHART_WIDTH
    height = bar_height * len(items) + 66
    plot = width - left - 50
    parts = [_chart_title(width, "Rubric items")]
    for row, (name, entry) in enumerate(items.items()):
        rate = entry["rate"] * 100
        y = 28 + row * bar_height
        colour = "#c44e52" if rate < 50 else "#dd8452" if rate < 80 else "#55a868"
        shown = name if len(name) <= 28 else name[:27] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{html.escape(shown)}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{plot * rate / 100:.1f}" height="{bar_height - 6}" '
                     f'fill="{colour}"><title>{html.escape(name)}: {rate:.0f}%</title></rect>'
                     f'<text x="{left + plot * rate / 100 + 4:.1f}" y="{y + 15}">{rate:.0f}%</text>')
    axis_y = 28 + len(items) * bar_height
    parts.append(_line(left, axis_y, left + plot, axis_y))
    for tick in (0, 25, 50, 75, 100):
        x = left + plot * tick / 100
        parts.append(_line(x, axis_y, x, axis_y + 4) + f'<text x="{x:.1f}" y="{axis_y + 16}" '
                     f'text-anchor="middle">{tick}</text>')
    parts.append(f'<text x="{left + plot / 2:.1f}" y="{axis_y + 34}" text-anchor="middle">'
                 "% of the item's points earned</text>")
    return _svg("item-rates", "each item's pass rate", width, height, parts)


def _times(durations: dict[str, float]) -> str | None:
    if not durations:
        return None
    values = list(durations.values())
    return _histogram_svg("times", "grading times", "Grading times", values, max(values) or 1,
                          min(20, max(5, len(values))), "seconds per grading", "gradings", "#8172b2")


# -- the charts: inline SVG, drawn here (no plotting library to load: a batch of a class pays no second for them)
CHART_WIDTH = 540


def _svg(chart_id: str, label: str, width: float, height: float, parts: list[str]) -> str:
    return (f'<svg id="{chart_id}" role="img" aria-label="{html.escape(label)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" font-size="12" '
            f'font-family="system-ui,sans-serif"><title>{html.escape(label)}</title>{"".join(parts)}</svg>')


def _chart_title(width: float, title: str) -> str:
    return f'<text x="{width / 2}" y="16" text-anchor="middle" font-weight="600">{html.escape(title)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#444"/>'


def bin_counts(values: list[float], high: float, bins: int) -> list[int]:
    """How many values fall in each of `bins` equal bins over [0, high] (a value at `high` in the last)."""
    counts = [0] * bins
    for value in values:
        index = int(value / high * bins) if high else 0
        counts[min(max(index, 0), bins - 1)] += 1
    return counts


def _histogram_svg(chart_id: str, label: str, title: str, values: list[float], high: float, bins: int,
                   x_label: str, y_label: str, colour: str) -> str:
    counts = bin_counts(values, high, bins)
    width, height, left, top, bottom = CHART_WIDTH, 230, 46, 26, 40
    plot_width, plot_height = width - left - 12, height - top - bottom
    peak = max(counts) or 1
    step = max(1, -(-peak // 4))  # whole learners on the axis, at most five ticks
    bar = plot_width / bins
    parts = [_chart_title(width, title)]
    for index, count in enumerate(counts):
        tall = plot_height * count / peak
        low_edge, high_edge = high * index / bins, high * (index + 1) / bins
        parts.append(f'<rect x="{left + index * bar + 1:.1f}" y="{top + plot_height - tall:.1f}" '
                     f'width="{max(bar - 2, 1):.1f}" height="{tall:.1f}" fill="{colour}">'
                     f"<title>{low_edge:.3g} to {high_edge:.3g}: {count}</title></rect>")
    base = top + plot_height
    parts.append(_line(left, base, left + plot_width, base) + _line(left, top, left, base))
    for tick in range(0, peak + 1, step):
        y = base - plot_height * tick / peak
        parts.append(_line(left - 4, y, left, y) + f'<text x="{left - 7}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{tick}</text>")
    for index in range(0, bins + 1, max(1, bins // 5)):
        x = left + index * bar
        parts.append(_line(x, base, x, base + 4) + f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">'
                     f"{high * index / bins:.3g}</text>")
    parts.append(f'<text x="{left + plot_width / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                 f"{html.escape(x_label)}</text>"
                 f'<text transform="translate(12 {top + plot_height / 2:.1f}) rotate(-90)" text-anchor="middle">'
                 f"{html.escape(y_label)}</text>")
    return _svg(chart_id, label, width, height, parts)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem} th,td{text-align:left;padding:.35rem .5rem;
border-bottom:1px solid #ddd;vertical-align:top} td.num{text-align:right;white-space:nowrap} .meta{color:#666}
svg{max-width:100%;height:auto;display:block;margin:.5rem 0} ul{margin:.2rem 0;padding-left:1.2rem} .low{color:#cf222e;font-weight:600}
""".strip()


def _failure(wordings: collections.Counter, count: int) -> str:
    """One failure as the learners most often saw it, with how many had it (in any of its wordings)."""
    shown = wordings.most_common(1)[0][0]
    others = f", {len(wordings) - 1} other wording(s)" if len(wordings) > 1 else ""
    return f'<li>{html.escape(shown)} <span class="meta">({count}×{others})</span></li>'


def to_html(exercise_id: str, reports: dict[str, Report], lesson_base: str = "") -> str:
    esc = html.escape
    data = analyse(reports)
    graded, items, not_run = data["graded"], data["items"], data["not_run"]
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    scores = [r.score for r in graded.values()]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'\">",
             f"<title>Class: {esc(exercise_id)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>The class at a glance: {esc(exercise_id)}</h1>",
             f'<p class="meta">{len(reports)} learners, {len(graded)} graded, {len(not_run)} could not be graded '
             f"· written {esc(generated)}</p>"]
    if scores:
        parts.append(f"<p>Median score {statistics.median(scores):g}, mean {statistics.mean(scores):.2f}, "
                     f"lowest {min(scores):g}, highest {max(scores):g}.</p>")
    histogram = _histogram(graded)
    if histogram:
        parts.append(histogram)
    parts.append("<h2>Rubric items</h2>")
    rates = _item_rates(items)
    if rates:
        parts.append(rates)
    parts.append('<table id="items"><thead><tr><th>item</th><th>pass rate</th><th>lesson</th>'
                 "<th>most common failures</th></tr></thead><tbody>")
    for item_id, entry in sorted(items.items(), key=lambda pair: pair[1]["rate"]):
        lesson = entry["lesson"]
        link = f'<a href="{esc(lesson_base + lesson)}">{esc(lesson)}</a>' if lesson else ""
        failures = "".join(_failure(entry["wordings"][key], count)
                           for key, count in entry["failures"].most_common(COMMON_FAILURES))
        low = ' class="num low"' if entry["rate"] < 0.5 else ' class="num"'
        parts.append(f"<tr><td>{esc(entry['title'])}<br><span class=\"meta\">{esc(item_id)} · "
                     f"{entry['max_points']:g} pt</span></td><td{low}>{entry['rate'] * 100:.0f}% "
                     f"<span class=\"meta\">({entry['passed']}/{entry['count']} full)</span></td><td>{link}</td>"
                     f"<td>{'<ul>' + failures + '</ul>' if failures else ''}</td></tr>")
    parts.append("</tbody></table>")
    parts.append("<h2>Grading times</h2>")
    durations = data["durations"]
    times = _times(durations)
    if times:
        slowest = sorted(durations.items(), key=lambda pair: -pair[1])[:3]
        parts.append(times)
        parts.append(f"<p>Median {statistics.median(durations.values()):.1f} s; slowest: "
                     + ", ".join(f"{esc(name)} ({seconds:.1f} s)" for name, seconds in slowest) + ".</p>")
    parts.append("<h2>Could not be graded</h2>")
    if not_run:
        parts.append('<table id="not-run"><thead><tr><th>learner</th><th>why</th></tr></thead><tbody>')
        for name, report in sorted(not_run.items()):
            why = ("the engine failed (not the learner): regrade with --only" if report.retry
                   else report.error or "unknown")
            parts.append(f"<tr><td>{esc(name)}</td><td>{esc(why)}</td></tr>")
        parts.append("</tbody></table>")
        parts.append('<p class="meta">Regrade them with <code>dockyard batch … '
                     + " ".join(f"--only {esc(name)}" for name in sorted(not_run)[:5])
                     + ("…" if len(not_run) > 5 else "") + "</code>.</p>")
    else:
        parts.append("<p>Every grading ran.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
