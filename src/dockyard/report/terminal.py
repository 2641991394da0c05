"""A Report as a short, colourful rich table: ✓/◐/✗, points, feedback, and where to learn more.

◐ is partial credit (`dockyard.partial`), – an item a stopped grading did not reach."""

from __future__ import annotations

from dockyard.report.model import Report
from dockyard.report.picture import picture_hints, picture_summary, picture_table

PASS = "✓"
FAIL = "✗"


def _points(value: float) -> str:
    return f"{value:g}"


def score_style(report: Report) -> str:
    if report.status == "error":
        return "bold red"
    if report.max_score and report.score >= report.max_score:
        return "bold green"
    return "bold yellow" if report.score > 0 else "bold red"


def header(report: Report):
    from rich.text import Text

    text = Text()
    text.append(report.exercise, style="bold cyan")
    text.append("  ")
    if report.status == "error":
        text.append("could not grade", style="bold red")
        if report.items and report.not_reached:
            text.append(f"  {_points(report.score)}/{_points(report.max_score)} points from the finished checks",
                        style="dim")
    else:
        text.append(f"{_points(report.score)}/{_points(report.max_score)} points", style=score_style(report))
        passed = sum(1 for item in report.items if item.passed)
        text.append(f"  ({passed}/{len(report.items)} checks passed)", style="dim")
    text.append(f"  {report.duration_s:.1f} s", style="dim")
    return text


def table(report: Report, hints: bool = True):
    from rich.table import Table
    from rich.text import Text

    grid = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=False)
    grid.add_column("", width=1, no_wrap=True)
    grid.add_column("check", overflow="fold")
    grid.add_column("points", justify="right", no_wrap=True)
    for item in report.items:
        mark = Text(item.mark, style="bold green" if item.passed else
                    ("bold yellow" if item.partial else ("dim" if not item.reached else "bold red")))
        cell = Text(item.title or item.id, style="" if item.passed else "bold")
        if not item.passed and item.feedback:
            cell.append("\n")
            cell.append(item.feedback.strip(), style="yellow" if item.partial else ("dim" if not item.reached
                                                                                  else "red"))
        if not item.passed and hints and item.lesson:
            cell.append("\n")
            cell.append(f"📖 see {item.lesson}", style="cyan")
        points_style = "green" if item.passed else ("yellow" if item.points > 0 else "red")
        grid.add_row(mark, cell, Text(f"{_points(item.points)}/{_points(item.max_points)}", style=points_style))
    return grid


def render(report: Report, console=None, hints: bool = True) -> None:
    """Print the report on `console` (a rich Console; a new one on stdout when None)."""
    if console is None:
        from rich.console import Console

        console = Console()
    console.print(header(report))
    for note in report.notes:
        console.print(f"! {note}", style="yellow", markup=False, highlight=False)
    if report.status == "error":
        console.print(f"[bold red]{FAIL}[/] ", end="")
        console.print(report.error or "grading could not run", style="red", markup=False, highlight=False)
        if report.retry:
            console.print("This was not your fault: the Docker engine failed us. Please run it again.", style="yellow")
        if report.items and report.not_reached:  # a grading stopped midway: what it finished still shows
            console.print(table(report, hints=hints))
            render_build(report, console, hints=hints)
        return
    if report.items:
        console.print(table(report, hints=hints))
    else:
        console.print("no checks ran", style="yellow")
    render_build(report, console, hints=hints)
    if report.max_score and report.score >= report.max_score:
        console.print("All checks pass. Well done!", style="bold green")
    elif hints and any(not item.passed for item in report.items):
        marks = "✗ and ◐" if any(item.partial for item in report.items) else "✗"
        console.print(f"Fix the {marks} items above and run the check again.", style="dim")


def render_build(report: Report, console, hints: bool = True) -> None:
    """The picture of the learner's build (report/picture.py), when the rubric built the image."""
    if report.build is None or not report.build.steps:
        return
    console.print()
    console.print(picture_summary(report.build))
    console.print(picture_table(report.build, width=console.width))
    if hints:
        console.print(picture_hints(report.build))


def to_text(report: Report, hints: bool = True, width: int = 100) -> str:
    """The same report as plain text (no colour), e.g. for logs."""
    from rich.console import Console

    console = Console(record=True, width=width, color_system=None, force_terminal=False, file=_Null())
    render(report, console, hints=hints)
    return console.export_text()


class _Null:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass
