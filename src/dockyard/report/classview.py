"""class.html: the class at a glance, written by `batch` next to the gradebook.

What a teacher needs to decide what to teach again: the score histogram; each rubric item's pass rate
(partial credit counted as its fraction) with its lesson; the most common failure messages per item;
the grading times; and the learners whose grading could not run (to regrade with `--only`).
Plots are drawn with matplotlib (Agg, no display) and embedded as PNG data URIs, so the page works
offline, loads nothing and runs no script; every learner string (names, feedback) is escaped.
"""

from __future__ import annotations

import base64
import collections
import html
import io
import re
import statistics
from datetime import datetime, timezone

from dockyard.report.model import Report

COMMON_FAILURES = 3
MESSAGE_CHARS = 160


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    scores = [r.score for r in graded.values()]
    maximum = max((r.max_score for r in graded.values()), default=1) or 1
    figure, axes = plt.subplots(figsize=(6, 3))
    bins = min(20, max(5, int(maximum) + 1))
    axes.hist(scores, bins=bins, range=(0, maximum), color="#4c72b0", edgecolor="white")
    axes.set_xlabel(f"score (of {maximum:g})")
    axes.set_ylabel("learners")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count of learners: no 0.5 learner on the axis
    axes.set_title("Scores")
    return _png(figure)


def _item_rates(items: dict[str, dict]) -> str | None:
    if not items:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = list(items)
    rates = [items[name]["rate"] * 100 for name in names]
    figure, axes = plt.subplots(figsize=(6, 0.35 * len(names) + 1))
    axes.barh(names[::-1], rates[::-1], color=["#c44e52" if r < 50 else "#dd8452" if r < 80 else "#55a868"
                                               for r in rates[::-1]])
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of the item's points earned")
    axes.set_title("Rubric items")
    return _png(figure)


def _times(durations: dict[str, float]) -> str | None:
    if not durations:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(6, 2.6))
    axes.hist(list(durations.values()), bins=min(20, max(5, len(durations))), color="#8172b2", edgecolor="white")
    axes.set_xlabel("seconds per grading")
    axes.set_ylabel("gradings")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Grading times")
    return _png(figure)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem} th,td{text-align:left;padding:.35rem .5rem;
border-bottom:1px solid #ddd;vertical-align:top} td.num{text-align:right;white-space:nowrap} .meta{color:#666}
img{max-width:100%} ul{margin:.2rem 0;padding-left:1.2rem} .low{color:#cf222e;font-weight:600}
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
        parts.append(f'<img id="histogram" alt="histogram of the scores" src="{histogram}">')
    parts.append("<h2>Rubric items</h2>")
    rates = _item_rates(items)
    if rates:
        parts.append(f'<img id="item-rates" alt="each item\'s pass rate" src="{rates}">')
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
        parts.append(f'<img id="times" alt="grading times" src="{times}">')
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
