"""The notebook widgets: the Check button that grades an exercise, and the quiz. The only module importing ipywidgets.

Stable CSS classes (a browser test relies on them):
  `dockyard-check`  the Check button        `dockyard-rubric`  the rubric table (drawn by dockyard.report.html)
  `dockyard-progress` the progress bar       `dockyard-quiz` a quiz; `dockyard-quiz-feedback` its feedback
  `dockyard-status` the progress message
"""

from __future__ import annotations

import html
import os
import threading
import time
from pathlib import Path

import ipywidgets as W

from dockyard.report.html import FAIL, PASS, report_html
from dockyard.report.model import Report
from dockyard.rubric.runner import grade


# -- the Check widget ---------------------------------------------------------------------------
class _Progress:
    """Turns whatever the grader reports into the bar and the label.

    Accepts `progress(message)`, `progress(done, total)`, `progress(done, total, message)`, keyword forms,
    or an object with `done`/`total`/`message` attributes: the grader's callback is free to choose.
    """

    def __init__(self, bar: W.IntProgress, label: W.Label):
        self.bar, self.label = bar, label
        self.started = time.monotonic()
        self.message = "starting…"

    def __call__(self, *args, **kwargs) -> None:
        numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        texts = [str(a) for a in args if isinstance(a, str)]
        for arg in args:
            if not isinstance(arg, (int, float, str)) and arg is not None:
                for name in ("message", "text", "step", "title"):
                    if isinstance(getattr(arg, name, None), str):
                        texts.append(getattr(arg, name))
                        break
                if isinstance(getattr(arg, "done", None), int) and isinstance(getattr(arg, "total", None), int):
                    numbers = [arg.done, arg.total]
        done = kwargs.get("done", numbers[0] if len(numbers) >= 2 else None)
        total = kwargs.get("total", numbers[1] if len(numbers) >= 2 else None)
        message = kwargs.get("message") or (texts[0] if texts else None)
        if total:
            self.bar.max = max(int(total), 1)
            self.bar.value = min(int(done or 0), self.bar.max)
        if message:
            self.message = message
        self.tick()

    def tick(self) -> None:
        self.label.value = f"{self.message} ({time.monotonic() - self.started:.0f} s)"


def grade_report(exercise_id: str, folder: str | Path, progress=None):
    """Run the grader; any failure of ours becomes an error Report, never an exception in the notebook."""
    started = time.monotonic()
    try:
        return grade(exercise_id, Path(folder), progress=progress, self_check=True)
    except Exception as exc:  # a Report is the only thing the widget shows
        message = getattr(exc, "one_line", None)
        text = message() if callable(message) else f"{type(exc).__name__}: {exc}"
        return Report.failed(exercise_id, text, time.monotonic() - started)


def check_widget(exercise_id: str, folder: str | Path, autorun: bool | None = None) -> W.VBox:
    """A "Check" button that grades `folder` as `exercise_id` in a background thread and shows the rubric.

    `autorun` (default: env DOCKYARD_AUTOCHECK=1) grades at once, in the foreground: for headless runs.
    """
    folder = Path(folder)
    button = W.Button(description="Check", icon="check", button_style="primary",
                      tooltip=f"grade {exercise_id} from {folder}")
    button.add_class("dockyard-check")
    bar = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="160px", visibility="hidden"))
    bar.add_class("dockyard-progress")
    label = W.Label(value=f"{exercise_id}: grades {folder}")
    label.add_class("dockyard-status")
    result = W.HTML(value="")
    result.add_class("dockyard-result")
    box = W.VBox([W.HBox([button, bar, label]), result])
    box.add_class("dockyard-check-widget")
    state = {"running": False}

    def work() -> None:
        progress = _Progress(bar, label)
        stop = threading.Event()

        def ticker() -> None:  # the seconds keep counting while a long build runs
            while not stop.wait(1.0):
                progress.tick()

        threading.Thread(target=ticker, daemon=True).start()
        try:
            report = grade_report(exercise_id, folder, progress=progress)
            result.value = report_html(report)
            if report.status == "graded":
                label.value = f"{exercise_id}: {report.score:g}/{report.max_score:g} points"
            else:
                label.value = f"{exercise_id}: not graded"
        finally:
            stop.set()
            bar.layout.visibility = "hidden"
            button.disabled = False
            button.description = "Check again"
            state["running"] = False

    def start(_=None, background: bool = True) -> None:
        if state["running"]:
            return
        state["running"] = True
        button.disabled = True
        result.value = ""
        bar.value, bar.max = 0, 1
        bar.layout.visibility = "visible"
        label.value = "grading…"
        if background:
            threading.Thread(target=work, name=f"check-{exercise_id}", daemon=True).start()
        else:
            work()

    button.on_click(start)
    if autorun is None:
        autorun = os.environ.get("DOCKYARD_AUTOCHECK", "") not in ("", "0", "false", "no")
    if autorun:
        start(background=False)
    box.start = start  # for tests and for code: `widget.start(background=False)`
    return box


# -- the quiz --------------------------------------------------------------------------------------
def quiz_widget(question: str, options: list[str], answer: int | str, explanation: str) -> W.VBox:
    """Radio buttons; choosing one shows at once whether it is right, and why the right answer is right."""
    right = options[answer] if isinstance(answer, int) else answer
    if right not in options:
        raise ValueError(f"the answer {right!r} is not one of the options")
    title = W.HTML(value=f"<b>Quiz:</b> {html.escape(question)}")
    choices = W.RadioButtons(options=list(options), value=None, layout=W.Layout(width="max-content"))
    feedback = W.HTML(value="")
    feedback.add_class("dockyard-quiz-feedback")

    def on_change(change) -> None:
        chosen = change["new"]
        if chosen is None:
            return
        if chosen == right:
            feedback.value = f'<span style="color:#1a7f37">{PASS} Right!</span> {html.escape(explanation)}'
        else:
            feedback.value = (f'<span style="color:#cf222e">{FAIL} Not quite.</span> The answer is '
                              f"<b>{html.escape(right)}</b>: {html.escape(explanation)}")

    choices.observe(on_change, names="value")
    box = W.VBox([title, choices, feedback])
    box.add_class("dockyard-quiz")
    box.choices, box.feedback = choices, feedback
    return box
