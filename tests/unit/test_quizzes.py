"""The quiz: options in each learner's own stable order, a retry before the answer is shown, and every answer kept
in `<notebook>.answers.json` beside the notebook (read back when the cell runs again)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dockyard import notebook as nb
from dockyard.notebook.questions import (AnswerBook, Question, QuizError, QuizState, learner_id, shown_order)
from dockyard.notebook.widgets import QuizCell, quiz_widget
from tests.helpers import ROOT

OPTIONS = ["It is deleted with the container", "It stays in the named volume", "It moves into the image",
           "It is copied to the host's home folder"]
RIGHT = "It stays in the named volume"
WRONG_WHY = {"It is deleted with the container": "Only the container's writable layer goes with it."}


def question(**overrides) -> Question:
    fields = dict(notebook="06-volumes", id="volume-survives", text="After `docker rm -f`, where is the data?",
                  options=OPTIONS, answer=RIGHT, why="A named volume lives outside the container.", wrong=WRONG_WHY)
    fields.update(overrides)
    return Question.make(**fields)


@pytest.fixture(autouse=True)
def own_folders(tmp_path, monkeypatch):
    """Each test its own learner config and answer folder (never the real ~/.config or the notebooks/ folder)."""
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("DOCKYARD_ANSWERS_DIR", str(tmp_path / "answers"))
    monkeypatch.delenv("DOCKYARD_LEARNER", raising=False)


# -- order -------------------------------------------------------------------------------------------
def test_learner_id_is_made_once_and_kept(tmp_path):
    first = learner_id()
    assert len(first) == 16 and (tmp_path / "config" / "learner-id").read_text().strip() == first
    assert learner_id() == first


def test_learner_id_from_the_environment_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKYARD_LEARNER", "alice")
    assert learner_id() == "alice"
    assert not (tmp_path / "config" / "learner-id").exists()


def test_learner_id_without_a_writable_config_folder_is_still_stable(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the config folder should be")
    monkeypatch.setenv("DOCKYARD_CONFIG", str(blocker / "dockyard"))
    assert learner_id() == learner_id() and learner_id().startswith("user-")


def test_order_is_stable_for_a_learner_across_processes():
    """The same learner sees the same order in another kernel (hash randomisation must not enter the seed)."""
    here = shown_order(question(), "learner-1")
    assert here == shown_order(question(), "learner-1")
    code = ("from dockyard.notebook.questions import Question, shown_order;"
            f"q = Question.make('06-volumes', 'volume-survives', 't', {OPTIONS!r}, {RIGHT!r}, 'w');"
            "print('|'.join(shown_order(q, 'learner-1')))")
    for hash_seed in ("1", "2"):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                env={**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": f"{ROOT / 'src'}"})
        assert result.stdout.strip().split("|") == here


def test_orders_differ_between_learners_and_questions_and_spread_the_answer():
    orders = {tuple(shown_order(question(), f"learner-{n}")) for n in range(40)}
    assert len(orders) > 10, "learners should not share one order"
    assert all(sorted(order) == sorted(OPTIONS) for order in orders)
    positions = {shown_order(question(), f"learner-{n}").index(RIGHT) for n in range(40)}
    assert positions == {0, 1, 2, 3}, "the right answer should land in every position for some learner"
    assert shown_order(question(), "x") != shown_order(question(id="another-question"), "x") or \
        shown_order(question(), "y") != shown_order(question(id="another-question"), "y")


def test_the_widget_shows_the_learners_order():
    box = quiz_widget(question(), "learner-7", AnswerBook("06-volumes"))
    assert [value for _, value in box.choices.options] == shown_order(question(), "learner-7")
    assert [label for label, _ in box.choices.options] == [o.replace("`", "") for o in box.order]
    assert box.choices.value is None and box.feedback.value == ""


# -- retry -------------------------------------------------------------------------------------------
def test_a_wrong_first_answer_says_why_and_allows_a_retry_without_the_answer():
    box = quiz_widget(question(), "learner-1", AnswerBook("06-volumes"))
    box.choices.value = "It is deleted with the container"
    assert "Try again" in box.feedback.value
    assert "writable layer goes with it" in box.feedback.value  # why that option is wrong
    assert RIGHT not in box.feedback.value and "outside the container" not in box.feedback.value
    assert not box.choices.disabled
    box.choices.value = RIGHT
    assert "Right, on the second try" in box.feedback.value and "outside the container" in box.feedback.value
    assert box.choices.disabled


def test_two_wrong_answers_reveal_the_answer_and_settle_the_question():
    box = quiz_widget(question(), "learner-1", AnswerBook("06-volumes"))
    box.choices.value = "It moves into the image"  # no reason written for this one: only "try again"
    assert "Not that one" in box.feedback.value and "Try again" in box.feedback.value
    box.choices.value = "It is deleted with the container"
    assert f"The answer is <b>{RIGHT}</b>" in box.feedback.value and "writable layer goes with it" in box.feedback.value
    assert box.choices.disabled
    verdict, attempt = box.state.choose(RIGHT)  # settled: a third answer is not taken
    assert verdict.kind == "revealed" and attempt is None


def test_a_right_first_answer():
    state = QuizState(question())
    verdict, attempt = state.choose(RIGHT)
    assert verdict.kind == "right" and verdict.tries == 1 and attempt.right


def test_a_prediction_is_taken_once_and_points_to_the_next_cell():
    box = quiz_widget(question(id="predict-survives", predict=True), "learner-1", AnswerBook("06-volumes"))
    box.choices.value = "It moves into the image"
    assert "run the cells below" in box.feedback.value and "<details>" in box.feedback.value
    assert box.choices.disabled and "dockyard-quiz-predict" in box._dom_classes
    assert box.state.verdict().kind == "predicted" and not box.state.attempts[0].right


def test_learner_text_is_escaped():
    nasty = "<img src=x onerror=alert(1)>"
    q = question(options=[*OPTIONS[:3], nasty], text="`<b>` or not?")
    box = quiz_widget(q, "learner-1", AnswerBook("06-volumes"))
    box.choices.value = nasty
    box.choices.value = OPTIONS[0]
    assert "<img" not in box.feedback.value
    assert "<code>&lt;b&gt;</code>" in box.children[0].value


def test_radio_labels_drop_code_marks_but_answers_keep_the_option_text():
    q = question(options=["`-v site:/srv:ro`", "`-v \"$(pwd)/site:/srv:ro\"`"], answer=1, wrong={})
    box = quiz_widget(q, "learner-1", AnswerBook("06-volumes"))
    assert sorted(label for label, _ in box.choices.options) == ['-v "$(pwd)/site:/srv:ro"', "-v site:/srv:ro"]
    box.choices.value = '`-v "$(pwd)/site:/srv:ro"`'
    assert "Right!" in box.feedback.value and box.state.attempts[0].chosen == '`-v "$(pwd)/site:/srv:ro"`'


@pytest.mark.parametrize("change, message", [
    (dict(answer="Not an option"), "is not one of the options"),
    (dict(answer=7), "not an option's index"),
    (dict(options=["same", "same"], answer="same"), "all different"),
    (dict(id="Has Spaces"), "lower-case letters"),
    (dict(wrong={RIGHT: "it is right"}), "not a wrong option"),
])
def test_a_badly_written_quiz_fails_in_one_line(change, message):
    with pytest.raises(QuizError, match=message):
        question(**change)


def test_a_question_without_its_keys_is_refused_by_name():
    with pytest.raises(QuizError, match="lacks why"):
        nb.quizzes("06-volumes", [{"id": "a", "q": "?", "options": ["x", "y"], "answer": 0}])


# -- recording --------------------------------------------------------------------------------------
def test_every_answer_is_recorded_beside_the_notebook(tmp_path):
    box = quiz_widget(question(), "learner-1", AnswerBook("06-volumes"))
    box.choices.value = "It is deleted with the container"
    box.choices.value = RIGHT
    data = json.loads((tmp_path / "answers" / "06-volumes.answers.json").read_text())
    entry = data["learners"]["learner-1"]["questions"]["volume-survives"]
    assert [a["chosen"] for a in entry["attempts"]] == ["It is deleted with the container", RIGHT]
    assert [a["right"] for a in entry["attempts"]] == [False, True]
    assert entry["answer"] == RIGHT and entry["result"] == "right on try 2"
    assert entry["shown"] == shown_order(question(), "learner-1")


def test_running_the_cell_again_restores_the_answers_and_prints_them():
    first = quiz_widget(question(), "learner-1", AnswerBook("06-volumes"))
    first.choices.value = RIGHT
    cell = QuizCell([question(), question(id="other", text="unanswered")], learner="learner-1")
    answered, unanswered = cell.questions
    assert answered.choices.value == RIGHT and answered.choices.disabled and "Right!" in answered.feedback.value
    assert unanswered.choices.value is None and not unanswered.choices.disabled
    assert cell.record and "volume-survives" in cell.record["text/plain"]
    assert "right at once" in cell.record["text/plain"]
    assert "other" not in cell.record["text/plain"]


def test_a_retry_pending_is_restored_as_a_retry():
    first = quiz_widget(question(), "learner-1", AnswerBook("06-volumes"))
    first.choices.value = "It moves into the image"
    again = quiz_widget(question(), "learner-1", AnswerBook("06-volumes"))
    assert not again.choices.disabled and "Try again" in again.feedback.value
    again.choices.value = "It is deleted with the container"
    assert again.choices.disabled and "The answer is" in again.feedback.value


def test_learners_share_a_book_without_overwriting_each_other():
    for learner, choice in (("ann", RIGHT), ("bob", OPTIONS[2])):
        quiz_widget(question(), learner, AnswerBook("06-volumes")).choices.value = choice
    rows = AnswerBook("06-volumes").summary(["volume-survives"])
    assert sorted(rows) == [("ann", "volume-survives", RIGHT, "right at once"),
                            ("bob", "volume-survives", OPTIONS[2], "wrong once, may retry")]
    fresh = quiz_widget(question(), "carol", AnswerBook("06-volumes"))
    assert fresh.choices.value is None


def test_a_damaged_book_is_read_as_empty_and_rewritten(tmp_path):
    path = tmp_path / "answers" / "06-volumes.answers.json"
    path.parent.mkdir()
    path.write_text("{not json")
    box = quiz_widget(question(), "learner-1", AnswerBook("06-volumes"))
    box.choices.value = RIGHT
    assert json.loads(path.read_text())["learners"]["learner-1"]["questions"]["volume-survives"]["attempts"]


def test_an_unwritable_folder_keeps_the_quiz_working(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    box = quiz_widget(question(), "learner-1", AnswerBook("06-volumes", blocker / "sub"))
    box.choices.value = RIGHT
    assert "Right!" in box.feedback.value and "could not be saved" in box.feedback.value


def test_the_notebook_helpers_build_the_cell(tmp_path):
    cell = nb.quizzes("06-volumes", [{"id": "a", "q": "?", "options": ["x", "y", "z"], "answer": "y", "why": "."},
                                      {"id": "b", "q": "??", "options": ["x", "y"], "answer": 0, "why": ".",
                                       "predict": True}])
    assert len(cell.questions) == 2 and cell.record is None
    assert cell.questions[1].state.question.predict
    single = nb.quiz("06-volumes", "c", "?", ["x", "y"], 1, ".")
    assert single.widget is single.questions[0]
    with pytest.raises(QuizError, match="repeat"):
        nb.quizzes("06-volumes", [{"id": "a", "q": "?", "options": ["x", "y"], "answer": 0, "why": "."}] * 2)


def test_answers_to_an_older_wording_do_not_break_the_cell():
    old = question(options=[*OPTIONS[:3], "An option since removed"])
    quiz_widget(old, "learner-1", AnswerBook("06-volumes")).choices.value = "An option since removed"
    box = quiz_widget(question(), "learner-1", AnswerBook("06-volumes"))
    assert box.choices.value is None and not box.choices.disabled and box.state.attempts == []
