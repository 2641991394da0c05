"""The course's quizzes as written in the notebooks: each one valid, the right answer not always in one place, few
yes/no questions, and several predictions, each followed by the cells that settle it."""

from __future__ import annotations

import ast
from collections import Counter

import nbformat
import pytest

from dockyard.notebook.questions import Question
from tests.helpers import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BINARY = {"yes", "no", "true", "false"}


def literal(node, notebook: str):
    """A literal argument; the notebook's `NB` stands for its name."""
    if isinstance(node, ast.Name) and node.id == "NB":
        return notebook
    return ast.literal_eval(node)


def quiz_calls(path):
    """(cell index, Question) for every `nb.quiz(NB, …)` / `nb.quizzes(NB, [...])` in the notebook."""
    notebook = path.stem
    found = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code" or "quiz" not in cell.source:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("quiz", "quizzes")):
                continue
            args = [literal(arg, notebook) for arg in node.args]
            keywords = {kw.arg: literal(kw.value, notebook) for kw in node.keywords}
            assert args and args[0] == notebook, f"{path.name} cell {index}: a quiz's first argument is NB"
            if node.func.attr == "quizzes":
                items = args[1]
            else:
                _, qid, text, options, answer, why = args
                items = [{"id": qid, "q": text, "options": options, "answer": answer, "why": why, **keywords}]
            for item in items:
                question = Question.make(notebook, item["id"], item["q"], item["options"], item["answer"], item["why"],
                                         wrong=item.get("wrong"), predict=bool(item.get("predict")))
                found.append((index, question, item["answer"]))
    return found


ALL = {path.stem: quiz_calls(path) for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_quiz_is_valid_with_ids_unique_in_its_notebook(path):
    questions = ALL[path.stem]
    assert questions, f"{path.name} has no quiz"
    ids = [question.id for _, question, _ in questions]
    assert len(set(ids)) == len(ids), f"{path.name}: quiz ids repeat: {ids}"


def test_the_right_answer_is_not_mostly_in_one_place():
    """The review found the second option right 28 times in 34; shuffling hides the source order from learners,
    and the source is varied too (for anyone reading it, and for a front end without the shuffle)."""
    positions = Counter(question.options.index(question.answer) for qs in ALL.values() for _, question, _ in qs)
    total = sum(positions.values())
    assert max(positions.values()) <= 0.35 * total, positions
    assert len(positions) >= 4, positions


def test_few_yes_no_questions():
    binary = [question.id for qs in ALL.values() for _, question, _ in qs
              if len(question.options) == 2 or {o.lower().rstrip(".") for o in question.options} <= BINARY]
    assert len(binary) <= 2, binary


def test_several_predictions_each_followed_by_the_cells_that_settle_it():
    predictions = [(name, index, question) for name, qs in ALL.items() for index, question, _ in qs if question.predict]
    assert len(predictions) >= 6, [question.id for _, _, question in predictions]
    assert len({name for name, _, _ in predictions}) >= 6, "predictions should be spread over the course"
    for name, index, question in predictions:
        cells = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells
        later = [cell for cell in cells[index + 1:index + 3] if cell.cell_type == "code"]
        assert later and "quiz(" not in later[0].source, \
            f"{name}: prediction {question.id} is not followed by a demo cell"
