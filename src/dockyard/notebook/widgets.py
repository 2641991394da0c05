"""The notebook widgets: the Check button that grades an exercise, and the quiz. The only module importing ipywidgets.

Stable CSS classes (a browser test relies on them):
  `dockyard-check`  the Check button        `dockyard-rubric`  the rubric table (drawn by dockyard.report.html)
  `dockyard-progress` the progress bar       `dockyard-quiz` a quiz; `dockyard-quiz-feedback` its feedback
  `dockyard-status` the progress message     `dockyard-quiz-predict` a prediction; `dockyard-quiz-record` answers kept
"""

from __future__ import annotations

import html
import os
import re
import threading
import time
from pathlib import Path

import ipywidgets as W

from dockyard.errors import DockyardError
from dockyard.notebook.questions import (AnswerBook, Attempt, Question, QuizError, QuizState, Verdict, learner_id,
                                         shown_order)
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
        # the result shows once the last item ends; a detached process removes the grading's containers
        return grade(exercise_id, Path(folder), progress=progress, self_check=True, detach_teardown=True)
    except Exception as exc:  # a Report is the only thing the widget shows
        text = exc.one_line() if isinstance(exc, DockyardError) else f"{type(exc).__name__}: {exc}"
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
def inline_html(text: str) -> str:
    """Escape learner-facing text; `backticks` become <code> (the quizzes are written like the notebooks' Markdown)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def verdict_html(question: Question, verdict: Verdict) -> str:
    """The feedback under a question: right, try again (and why not that one), revealed, or a prediction taken."""
    why_wrong = f" {inline_html(verdict.why_wrong)}" if verdict.why_wrong else ""
    if verdict.kind == "right":
        lead = "Right!" if verdict.tries == 1 else "Right, on the second try."
        return f'<span style="color:#1a7f37">{PASS} {lead}</span> {inline_html(question.why)}'
    if verdict.kind == "retry":
        return (f'<span style="color:#cf222e">{FAIL} Not that one.</span>{why_wrong} '
                "<b>Try again</b>: pick another option.")
    if verdict.kind == "revealed":
        return (f'<span style="color:#cf222e">{FAIL} Not quite.</span>{why_wrong} The answer is '
                f"<b>{inline_html(question.answer)}</b>: {inline_html(question.why)}")
    if verdict.kind == "predicted":
        return (f"Your prediction: <b>{inline_html(verdict.chosen or '')}</b>. Now <b>run the cells below</b> and see."
                "<details><summary>After you have run it: the answer</summary>"
                f"<b>{inline_html(question.answer)}</b>: {inline_html(question.why)}</details>")
    return ""


def quiz_widget(question: Question, learner: str | None = None, book: AnswerBook | None = None) -> W.VBox:
    """Radio buttons in this learner's order. A wrong first answer may be retried; every answer goes to `book`.

    Attributes for tests and code: `choices` (the RadioButtons), `feedback` (HTML), `state` (QuizState).
    """
    learner = learner or learner_id()
    book = book or AnswerBook(question.notebook)
    order = shown_order(question, learner)
    # Answers to an older wording of the question: those whose option is gone are dropped, the rest re-judged.
    state = QuizState(question, [Attempt(a.chosen, a.chosen == question.answer, a.at)
                                 for a in book.attempts(learner, question.id) if a.chosen in question.options])
    lead = "Predict first, then run the cells below and see:" if question.predict else "Quiz:"
    title = W.HTML(value=f"<b>{lead}</b> {inline_html(question.text)}")
    verdict = state.verdict()
    # Restored from the book: the last answer stays chosen, and a settled question stays settled.
    # Radio labels are plain text: the quiz's `code` marks are dropped there (the value stays the option's text).
    choices = W.RadioButtons(options=[(re.sub(r"`([^`]+)`", r"\1", option), option) for option in order],
                             value=verdict.chosen, layout=W.Layout(width="max-content"), disabled=verdict.done)
    feedback = W.HTML(value=verdict_html(question, verdict))
    feedback.add_class("dockyard-quiz-feedback")

    def on_change(change) -> None:
        chosen = change["new"]
        if chosen is None:
            return
        verdict, attempt = state.choose(chosen)
        note = ""
        if attempt is not None:
            try:
                book.record(learner, question, order, state.attempts)
            except OSError as error:  # a read-only folder must not break the quiz
                note = ('<br><small style="color:#9a6700">your answer could not be saved in '
                        f"{html.escape(str(book.path))}: {html.escape(error.strerror or str(error))}</small>")
        feedback.value = verdict_html(question, verdict) + note
        choices.disabled = verdict.done

    choices.observe(on_change, names="value")
    box = W.VBox([title, choices, feedback])
    box.add_class("dockyard-quiz")
    if question.predict:
        box.add_class("dockyard-quiz-predict")
    box.choices, box.feedback, box.state, box.order = choices, feedback, state, order
    return box


def record_bundle(book: AnswerBook, question_ids: list[str]) -> dict[str, str] | None:
    """The answers the book holds for these questions, as a plain output (text and HTML), or None when it holds none.

    A plain output is saved with the notebook (widget state is not), so a teacher opening the notebook, or nbgrader's
    autograded copy (it re-runs the cell with the book beside it), sees them.
    """
    rows = book.summary(question_ids)
    if not rows:
        return None
    lines = [f"Recorded answers ({book.path.name}):"]
    lines += [f"  {learner} · {qid}: first chose {first!r} ({result})" for learner, qid, first, result in rows]
    cells = "".join(f"<tr><td>{html.escape(learner)}</td><td>{html.escape(qid)}</td><td>{inline_html(first)}</td>"
                    f"<td>{html.escape(result)}</td></tr>" for learner, qid, first, result in rows)
    table = ('<details class="dockyard-quiz-record">'
             f"<summary>Recorded answers ({html.escape(book.path.name)})</summary>"
             "<table><tr><th>learner</th><th>question</th><th>first choice</th><th>result</th></tr>"
             f"{cells}</table></details>")
    return {"text/plain": "\n".join(lines), "text/html": table}


class QuizCell:
    """What a quiz cell shows: the questions' widget, then (as a plain, saved output) the answers recorded so far."""

    def __init__(self, questions: list[Question], learner: str | None = None, folder: str | Path | None = None):
        if not questions:
            raise QuizError("a quiz needs at least one question")
        ids = [question.id for question in questions]
        if len(set(ids)) != len(ids):
            raise QuizError(f"quiz ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        self.learner = learner or learner_id()
        self.book = AnswerBook(questions[0].notebook, folder)
        self.questions = [quiz_widget(question, self.learner, self.book) for question in questions]
        self.widget = self.questions[0] if len(self.questions) == 1 else W.VBox(self.questions)
        self.record = record_bundle(self.book, ids)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        if self.record:
            display(self.record, raw=True)
