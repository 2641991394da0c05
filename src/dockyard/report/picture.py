"""The picture of the learner's build: one bar per step, scaled by the size it added, with its time and
whether it came from the cache. It answers "why is my image 400 MB" and "why did everything rebuild".

Drawn from `Report.build` (a `BuildPicture`) for every renderer: HTML (the notebook's Check result and the
feedback page: CSS bars, no script, nothing loaded), a rich table for the terminal, and Markdown. A step's
text is the learner's own: it is escaped for each of them (HTML entities, rich Text, Markdown cells).

Stable CSS classes (a browser test may rely on them): `dockyard-build` the picture, one `tr.dockyard-step`
per step with `dockyard-cached`, `dockyard-ran`, `dockyard-base` or `dockyard-failed` (a failed build's last
step), `dockyard-other-stage` for a step the final image leaves out, `dockyard-cache-stop` for the step where
the cache stopped; `data-size` holds the bytes ("" when unknown).
"""

from __future__ import annotations

import html as _html

from dockyard.report.model import BuildPicture, PictureStep

BAR_CHARS = 20  # the terminal's and Markdown's longest bar


def human(size: int | None) -> str:
    """Bytes the way `docker images` says them (decimal units): 0 B, 950 B, 1.2 kB, 125.1 MB, 1.23 GB."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.2f} GB"


def seconds(value: float) -> str:
    """"6.4 s", or "2m05s" from a minute on (short: it fits the terminal's column)."""
    if value < 59.95:
        return f"{value:.1f} s"
    whole = round(value)
    return f"{whole // 60}m{whole % 60:02d}s"


def cache_word(step: PictureStep, picture: BuildPicture | None = None) -> str:
    """What happened to the step: it failed, its base image (a FROM), came from the cache, or ran."""
    if picture is not None and picture.failed(step):
        return "failed"
    return "base" if step.is_from else ("cached" if step.cached else "ran")


def size_text(step: PictureStep, picture: BuildPicture) -> str:
    """The step's size; nothing when the build failed (no image, so no history to read sizes from)."""
    return "" if picture.failed_at is not None else human(step.size_bytes)


def fraction(step: PictureStep, picture: BuildPicture) -> float:
    """The step's bar length, 0..1: its size against the biggest step's (the biggest fills the width)."""
    biggest = max((s.size_bytes or 0 for s in picture.steps), default=0)
    return (step.size_bytes or 0) / biggest if biggest else 0.0


def _quote(step: PictureStep, limit: int = 60) -> str:
    text = step.instruction if len(step.instruction) <= limit else step.instruction[:limit - 1] + "…"
    return f"step {step.number} (`{text.replace('`', chr(39))}`)"


def summary(picture: BuildPicture) -> str:
    """"Your image: 152.3 MB, built in 3.2 s; 4 of 5 steps came from the cache." """
    size = f"Your image: {human(picture.size_bytes)}, " if picture.size_bytes is not None else "Your image: "
    steps = [step for step in picture.steps if not step.is_from]
    cached = f"{picture.cached_count} of {len(steps)} step{'s' if len(steps) != 1 else ''} came from the cache."
    if picture.failed_at is not None:
        return f"The build stopped at step {picture.failed_at} after {seconds(picture.seconds)}; {cached}"
    return f"{size}built in {seconds(picture.seconds)}; {cached}"


def hints(picture: BuildPicture, marked: str = "marked “earlier stage”") -> list[str]:
    """Short sentences under the picture: why steps ran again, where the bytes are. Plain text holding the
    learner's step text: each renderer escapes them."""
    said = []
    if picture.failed_at is not None:
        failed = next(step for step in picture.steps if picture.failed(step))
        said.append(f"S{_quote(failed)[1:]} failed after {seconds(failed.seconds)}.")
        if failed is not picture.steps[0]:
            said[0] += (" The steps before it stay in the cache: the next build starts again at step "
                        f"{failed.number}, unless a line above it changes.")
        return said
    steps = [step for step in picture.steps if not step.is_from]
    rebuilt = picture.first_rebuilt()
    if steps and rebuilt is None:
        said.append("Every step came from the cache: nothing it uses changed since the last build.")
    elif steps and rebuilt is steps[0]:
        said.append("No step came from the cache: this is the first build of these steps, or the first one "
                    "changed (every step after a change runs again).")
    elif rebuilt is not None:
        staged = sum(1 for step in picture.steps if step.is_from) > 1  # another stage has a cache of its own
        after = "the steps after it in its stage" if staged else "every step after it"
        said.append(f"The cache stopped at {_quote(rebuilt)}: that line, or a file it copies, changed since the "
                    f"last build, so it and {after} ran again.")
    largest = picture.largest()
    if largest is not None and picture.size_bytes:
        share = 100 * (largest.size_bytes or 0) / picture.size_bytes
        what = "the base image, " if largest.is_from else ""
        said.append(f"The biggest part is {what}{_quote(largest)}: {human(largest.size_bytes)}, "
                    f"{share:.0f}% of the image.")
    if any(not step.in_final_image for step in picture.steps):
        said.append(f"Steps {marked} belong to a stage the final image leaves out: their bytes are not in it.")
    return said


# -- HTML ---------------------------------------------------------------------------------------------
_STYLE = (
    "<style>.dockyard-build{margin-top:10px;font-size:13px}"
    ".dockyard-build table{border-collapse:collapse;width:100%;max-width:56rem}"
    ".dockyard-build td,.dockyard-build th{padding:2px 6px;text-align:left;vertical-align:middle;"
    "border-bottom:1px solid #eee;white-space:nowrap}"
    ".dockyard-build td.dockyard-step-text{max-width:24rem;overflow:hidden;text-overflow:ellipsis;"
    "font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
    ".dockyard-build td.dockyard-step-bar{width:40%;min-width:8rem}"
    ".dockyard-build .dockyard-bar{height:10px;border-radius:2px;background:#0969da;min-width:1px}"
    ".dockyard-build .dockyard-cached .dockyard-bar{background:#8c959f}"
    ".dockyard-build .dockyard-base .dockyard-bar{background:#54aeff}"
    ".dockyard-build .dockyard-other-stage{opacity:.55}"
    ".dockyard-build .dockyard-cache-stop td{border-top:2px solid #bf8700}"
    ".dockyard-build .dockyard-failed .dockyard-cache-word{background:#ffebe9;border-color:#cf222e;color:#cf222e}"
    ".dockyard-build .dockyard-cache-word{font-size:11px;padding:0 5px;border-radius:8px;border:1px solid #d0d7de}"
    ".dockyard-build .dockyard-cached .dockyard-cache-word{background:#eaeef2}"
    ".dockyard-build .dockyard-ran .dockyard-cache-word{background:#ddf4ff;border-color:#54aeff}"
    ".dockyard-build td.dockyard-num{text-align:right;color:#57606a}"
    ".dockyard-build p{margin:4px 0}</style>"
)


def picture_html(picture: BuildPicture | None) -> str:
    """The picture as an HTML fragment (class `dockyard-build`); empty when there is no build to show."""
    if picture is None or not picture.steps:
        return ""
    esc = _html.escape
    rows = []
    stop = picture.first_rebuilt() if picture.cached_count else None  # where the cache stopped, if it did
    for step in picture.steps:
        word = cache_word(step, picture)
        classes = (f"dockyard-step dockyard-{word}" + ("" if step.in_final_image else " dockyard-other-stage")
                   + (" dockyard-cache-stop" if step is stop else ""))
        stage = "" if step.in_final_image else " <small>earlier stage</small>"
        width = f"{100 * fraction(step, picture):.1f}%" if step.size_bytes else "0"
        bar = f'<div class="dockyard-bar" style="width:{width}"></div>' if step.size_bytes else ""
        size = "" if step.size_bytes is None else str(int(step.size_bytes))
        rows.append(
            f'<tr class="{classes}" data-step="{step.number}" data-size="{size}">'
            f'<td class="dockyard-num">{step.number}</td>'
            f'<td class="dockyard-step-text" title="{esc(step.instruction)}">{esc(step.instruction)}</td>'
            f'<td><span class="dockyard-cache-word">{word}</span>{stage}</td>'
            f'<td class="dockyard-num">{seconds(step.seconds)}</td>'
            f'<td class="dockyard-step-bar">{bar}</td>'
            f'<td class="dockyard-num">{size_text(step, picture)}</td></tr>')
    said = "".join(f"<p>{esc(line)}</p>" for line in hints(picture))
    return (_STYLE + f'<div class="dockyard-build" data-size="{picture.size_bytes or ""}">'
            f"<p><b>{esc(summary(picture))}</b></p>"
            "<table><thead><tr><th>#</th><th>step</th><th>cache</th><th>time</th><th colspan=\"2\">size added</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{said}</div>")


# -- terminal (rich) --------------------------------------------------------------------------------------
OTHER_STAGE = "*"  # after the cache word, in the terminal and Markdown: a step the final image leaves out


def _bar(step: PictureStep, picture: BuildPicture, chars: int = BAR_CHARS) -> str:
    if not step.size_bytes:
        return ""
    return "█" * max(1, round(chars * fraction(step, picture)))


def _plain_word(step: PictureStep, picture: BuildPicture) -> str:
    return cache_word(step, picture) + ("" if step.in_final_image else OTHER_STAGE)


def plain_hints(picture: BuildPicture) -> list[str]:
    return hints(picture, marked=f"marked {OTHER_STAGE}")


def picture_table(picture: BuildPicture, width: int = 100):
    """The picture as a compact rich Table fitting `width` columns: the numbers always show whole, the bars
    shorten and the step's text gives way (ellipsis) on a narrow terminal. Learner text goes in as Text."""
    from rich.table import Table
    from rich.text import Text

    fixed = 2 + 7 + 6 + 9 + 8  # "#", cache, time, the size's number, the gaps between columns
    bar_chars = max(4, min(BAR_CHARS, width - fixed - 24))
    step_width = max(10, min(48, width - fixed - bar_chars))
    grid = Table(box=None, pad_edge=False, show_header=True, header_style="bold", expand=False)
    grid.add_column("#", justify="right", no_wrap=True, width=2)
    grid.add_column("step", no_wrap=True, overflow="ellipsis", max_width=step_width)
    grid.add_column("cache", no_wrap=True, width=7)
    grid.add_column("time", justify="right", no_wrap=True, width=6)
    grid.add_column("size added", no_wrap=True, width=bar_chars + 9)
    for step in picture.steps:
        word = cache_word(step, picture)
        dim = "" if step.in_final_image else " dim"
        cache = Text(_plain_word(step, picture),
                     style={"cached": "dim", "ran": "cyan", "base": "blue", "failed": "bold red"}[word] + dim)
        bar = _bar(step, picture, bar_chars)
        size = Text(bar, style=("bright_black" if step.cached else "blue") + dim)
        size.append(f"{' ' if bar else ''}{size_text(step, picture)}", style=dim.strip())
        grid.add_row(str(step.number), Text(step.instruction, style=dim.strip()), cache,
                     Text(seconds(step.seconds), style=dim.strip()), size)
    return grid


def picture_summary(picture: BuildPicture):
    from rich.text import Text

    return Text(summary(picture), style="bold")


def picture_hints(picture: BuildPicture):
    from rich.text import Text

    return Text("\n".join(plain_hints(picture)), style="dim")


def picture_text(picture: BuildPicture | None, width: int = 88) -> str:
    """The terminal's picture as plain text (no colour): for text-only outputs (Gradescope's)."""
    if picture is None or not picture.steps:
        return ""
    import io

    from rich.console import Console

    console = Console(record=True, width=width, color_system=None, force_terminal=False, file=io.StringIO())
    console.print(picture_summary(picture))
    console.print(picture_table(picture, width=width))
    console.print(picture_hints(picture))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()).strip("\n")


# -- Markdown ---------------------------------------------------------------------------------------------
def picture_markdown(picture: BuildPicture | None, cell) -> list[str]:
    """Markdown lines; `cell` makes learner text safe in a table cell (feedback._md_cell)."""
    if picture is None or not picture.steps:
        return []
    lines = ["## Your build", "", cell(summary(picture)), "", "| # | step | cache | time | size added |",
             "|---:|---|---|---:|---|"]
    for step in picture.steps:
        bar = _bar(step, picture)
        lines.append(f"| {step.number} | {cell(step.instruction)} | {_plain_word(step, picture)} | "
                     f"{seconds(step.seconds)} | {bar + ' ' if bar else ''}{size_text(step, picture)} |")
    lines.append("")
    lines += [f"- {cell(line)}" for line in plain_hints(picture)]
    return [*lines, ""]
