"""Quizzes without the widget: the question, its order for one learner, the retry rule, and the answer book.

* **Order.** Each learner sees a question's options in an order of their own, the same every time: the seed is
  the learner's id and the question's id. The id is a random token made once and kept in the learner's config
  folder (`$DOCKYARD_CONFIG`, else `$XDG_CONFIG_HOME/dockyard`, else `~/.config/dockyard`), or
  `$DOCKYARD_LEARNER` when set (a hub's user name, say). Where the source lists the right answer matters no more.
* **Retry.** A wrong first answer says why that option is wrong (when the quiz says) and lets the learner try
  again; a second wrong answer reveals the right one. A *prediction* ("predict, then run the cell and see") is
  taken once: the cells below show whether it was right.
* **Answer book.** Every answer is written to `<notebook>.answers.json` beside the notebook (the kernel's working
  folder, or `$DOCKYARD_ANSWERS_DIR`). A file survives what a notebook's outputs do not: nbgrader's
  submit/collect copy every file of the assignment folder and autograde copies them next to the notebook it
  re-runs, while widget state is not saved by default and re-running replaces the outputs. When a quiz cell
  runs, it reads the book back: answered questions stay answered, and the cell prints what was recorded as
  a plain output (kept in the saved notebook and in nbgrader's autograded copy and feedback).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import random
import re
import secrets
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

LEARNER_ENV = "DOCKYARD_LEARNER"        # a fixed learner id, instead of the stored random one
CONFIG_ENV = "DOCKYARD_CONFIG"          # the folder that keeps the learner id
ANSWERS_DIR_ENV = "DOCKYARD_ANSWERS_DIR"  # where the answer books go, instead of the notebook's folder
ANSWERS_SUFFIX = ".answers.json"
RETRIES = 1                             # wrong answers allowed before the right one is shown
ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FORMAT = 1


class QuizError(ValueError):
    """A quiz written wrongly in a notebook (one line, for the notebook's author)."""


# -- the question ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    notebook: str
    id: str                      # unique in its notebook: the shuffle's seed and the answer book's key
    text: str
    options: tuple[str, ...]
    answer: str                  # the right option's text
    why: str                     # why the answer is right (shown once answered, or revealed)
    wrong: dict[str, str] = field(default_factory=dict)  # option -> why it is wrong (shown on a wrong try)
    predict: bool = False        # a prediction: answered once, then the cells below show the truth

    @classmethod
    def make(cls, notebook: str, id: str, text: str, options, answer: int | str, why: str,
             wrong: dict[str, str] | None = None, predict: bool = False) -> "Question":
        options = tuple(str(option) for option in options)
        if not ID.match(id or ""):
            raise QuizError(f"quiz id {id!r}: use lower-case letters, digits and dashes")
        if len(options) < 2 or len(set(options)) != len(options):
            raise QuizError(f"quiz {id}: give at least two options, all different")
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(options):
                raise QuizError(f"quiz {id}: answer {answer} is not an option's index")
            answer = options[answer]
        if answer not in options:
            raise QuizError(f"quiz {id}: the answer {answer!r} is not one of the options")
        wrong = dict(wrong or {})
        for option in wrong:
            if option not in options or option == answer:
                raise QuizError(f"quiz {id}: `wrong` explains {option!r}, which is not a wrong option")
        return cls(notebook, id, text, options, answer, why, wrong, predict)


# -- the learner and their order ------------------------------------------------------------------
def config_root() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "dockyard"))


def learner_id() -> str:
    """This learner's id: `$DOCKYARD_LEARNER`, else a random token kept in the config folder (made on first use)."""
    fixed = os.environ.get(LEARNER_ENV, "").strip()
    if fixed:
        return fixed
    path = config_root() / "learner-id"
    with contextlib.suppress(OSError):
        stored = path.read_text().strip()
        if stored:
            return stored
    token = secrets.token_hex(8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # two kernels at once: the first one wins
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        return token
    except FileExistsError:
        return path.read_text().strip() or token
    except OSError:
        # A read-only home: still one order per person on this machine, only not a private token.
        return "user-" + hashlib.sha256(f"{getpass.getuser()}@{socket.gethostname()}".encode()).hexdigest()[:16]


def shown_order(question: Question, learner: str) -> list[str]:
    """The options in this learner's order: a shuffle seeded by learner, notebook and question, so it never changes."""
    seed = hashlib.sha256(f"{learner}\n{question.notebook}\n{question.id}".encode()).digest()
    order = list(question.options)
    random.Random(int.from_bytes(seed[:8], "big")).shuffle(order)
    return order


# -- the retry rule ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    chosen: str
    right: bool
    at: str = ""

    def to_json(self) -> dict:
        return {"chosen": self.chosen, "right": self.right, "at": self.at}


@dataclass(frozen=True)
class Verdict:
    """What to tell the learner now. kind: open | right | retry | revealed | predicted."""
    kind: str
    chosen: str | None = None
    why_wrong: str | None = None   # why the chosen option is wrong, when the quiz says
    tries: int = 0

    @property
    def done(self) -> bool:
        return self.kind in ("right", "revealed", "predicted")


class QuizState:
    """One learner's attempts at one question, and what follows from them."""

    def __init__(self, question: Question, attempts=()):
        self.question = question
        self.attempts: list[Attempt] = list(attempts)

    def verdict(self) -> Verdict:
        if not self.attempts:
            return Verdict("open")
        last = self.attempts[-1]
        tries = len(self.attempts)
        if self.question.predict:
            return Verdict("predicted", self.attempts[0].chosen, tries=1)
        if last.right:
            return Verdict("right", last.chosen, tries=tries)
        if tries > RETRIES:
            return Verdict("revealed", last.chosen, self.question.wrong.get(last.chosen), tries)
        return Verdict("retry", last.chosen, self.question.wrong.get(last.chosen), tries)

    def choose(self, option: str, now: str | None = None) -> tuple[Verdict, Attempt | None]:
        """Take an answer; (the verdict, the attempt to record), or (the standing verdict, None) once it is settled."""
        if option not in self.question.options:
            raise QuizError(f"quiz {self.question.id}: {option!r} is not an option")
        if self.verdict().done:
            return self.verdict(), None
        attempt = Attempt(option, option == self.question.answer, now or timestamp())
        self.attempts.append(attempt)
        return self.verdict(), attempt


def timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def result_text(question: Question, attempts: list[Attempt]) -> str:
    """The outcome in a few words, for the teacher."""
    state = QuizState(question, attempts)
    verdict = state.verdict()
    if verdict.kind == "open":
        return "not answered"
    if verdict.kind == "predicted":
        return "predicted right" if attempts[0].right else "predicted wrong"
    if verdict.kind == "right":
        return "right at once" if verdict.tries == 1 else f"right on try {verdict.tries}"
    if verdict.kind == "revealed":
        return "wrong twice, answer shown"
    return "wrong once, may retry"


# -- the answer book ------------------------------------------------------------------------------
def answers_folder() -> Path:
    return Path(os.environ.get(ANSWERS_DIR_ENV) or os.getcwd())


class AnswerBook:
    """`<notebook>.answers.json`: per learner, per question, the order shown and every attempt."""

    def __init__(self, notebook: str, folder: str | Path | None = None):
        self.notebook = notebook
        self.path = Path(folder or answers_folder()) / f"{notebook}{ANSWERS_SUFFIX}"

    def read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"format": FORMAT, "notebook": self.notebook, "learners": {}}
        if not isinstance(data, dict) or not isinstance(data.get("learners"), dict):
            return {"format": FORMAT, "notebook": self.notebook, "learners": {}}
        return data

    def attempts(self, learner: str, question_id: str) -> list[Attempt]:
        entry = self.read()["learners"].get(learner, {}).get("questions", {}).get(question_id, {})
        found = []
        for item in entry.get("attempts", []) if isinstance(entry, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("chosen"), str):
                found.append(Attempt(item["chosen"], bool(item.get("right")), str(item.get("at", ""))))
        return found

    def record(self, learner: str, question: Question, shown: list[str], attempts: list[Attempt]) -> None:
        """Write this learner's attempts at `question` (the whole list: the book holds the state, not a log)."""
        with self._locked():
            data = self.read()
            person = data["learners"].setdefault(learner, {"questions": {}})
            person.setdefault("questions", {})[question.id] = {
                "question": question.text,
                "kind": "prediction" if question.predict else "question",
                "answer": question.answer,
                "shown": shown,
                "attempts": [attempt.to_json() for attempt in attempts],
                "result": result_text(question, attempts),
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            with os.fdopen(fd, "w") as out:
                json.dump(data, out, indent=1, ensure_ascii=False)
                out.write("\n")
            os.replace(tmp, self.path)  # readers never see half a file

    @contextlib.contextmanager
    def _locked(self):
        """Two kernels of one notebook answering at once must not lose each other's answers."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / f".{self.path.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def summary(self, question_ids: list[str]) -> list[tuple[str, str, str, str]]:
        """(learner, question id, first choice, result) for these questions, in their order, for every learner."""
        rows = []
        for learner, person in self.read()["learners"].items():
            questions = person.get("questions", {}) if isinstance(person, dict) else {}
            for question_id in question_ids:
                entry = questions.get(question_id)
                if isinstance(entry, dict) and entry.get("attempts"):
                    first = entry["attempts"][0].get("chosen", "") if isinstance(entry["attempts"][0], dict) else ""
                    rows.append((learner, question_id, str(first), str(entry.get("result", ""))))
        return rows
