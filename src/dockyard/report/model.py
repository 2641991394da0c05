"""The one result of a grading: a Report of Items. Every renderer reads this; none writes it."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Literal

Status = Literal["graded", "error"]


@dataclass(frozen=True)
class Item:
    id: str  # stable, from the rubric test's name: "serves-hello"
    title: str  # from the docstring's first line
    points: float  # earned
    max_points: float
    passed: bool
    feedback: str = ""  # empty when passed; otherwise what was expected, what was seen, where it is taught
    lesson: str | None = None  # notebook section that teaches it, e.g. "04-dockerfile.ipynb#WORKDIR"
    visibility: str | None = None  # from @pytest.mark.visibility("after_due_date"): when a platform shows it
    # "passed" | "failed" | "partial" (dockyard.partial: part of the points, with feedback) | "not_reached" (the
    # grading stopped before this item ran). Added field: older reports without it derive it from passed/points.
    outcome: str | None = None

    def __post_init__(self):
        if self.outcome is None:
            object.__setattr__(self, "outcome", "passed" if self.passed else
                               ("partial" if 0 < self.points < self.max_points else "failed"))

    @property
    def partial(self) -> bool:
        return self.outcome == "partial"

    @property
    def reached(self) -> bool:
        return self.outcome != "not_reached"

    @property
    def mark(self) -> str:
        """One character for tables: ✓ passed, ◐ partial credit, ✗ failed, – not reached."""
        return {"passed": "✓", "partial": "◐", "not_reached": "–"}.get(self.outcome, "✗")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
STEP_TEXT_MAX = 300


@dataclass(frozen=True)
class PictureStep:
    """One step of the learner's build. `instruction` is the learner's own text: every renderer escapes it."""

    number: int
    instruction: str
    cached: bool  # came from the build cache (a FROM never does: its image is the base)
    seconds: float
    size_bytes: int | None  # what the step added (a FROM: the whole base image); None when unknown
    in_final_image: bool = True  # False: a step of an earlier stage, left out of the final image

    @property
    def is_from(self) -> bool:
        return self.instruction.upper().startswith("FROM")


@dataclass(frozen=True)
class BuildPicture:
    """The build of the learner's image, step by step: what the Check result draws."""

    steps: tuple[PictureStep, ...]
    seconds: float  # the whole build
    size_bytes: int | None  # the final image; None when unknown
    failed_at: int | None = None  # the build failed (or was stopped) at this step: there is no image

    @classmethod
    def from_build(cls, result) -> "BuildPicture":
        """From a `dockyard.sandbox.build.BuildResult` (read by its attributes: this layer talks to no engine)."""
        return cls(_picture_steps(result.steps), round(float(result.duration_s), 2),
                   getattr(result, "size_bytes", None))

    @classmethod
    def from_failure(cls, failure) -> "BuildPicture | None":
        """From a `dockyard.errors.BuildFailed` that saw steps (the last is the one that failed); else None."""
        steps = _picture_steps(getattr(failure, "steps", ()))
        if not steps:
            return None
        return cls(steps, round(float(getattr(failure, "seconds", 0.0) or 0.0), 2), None, steps[-1].number)

    @classmethod
    def from_dict(cls, data: dict) -> "BuildPicture":
        known = PictureStep.__dataclass_fields__
        steps = tuple(PictureStep(**{k: v for k, v in step.items() if k in known}) for step in data.get("steps", ()))
        return cls(steps, float(data.get("seconds") or 0.0), data.get("size_bytes"), data.get("failed_at"))

    @property
    def cached_count(self) -> int:
        return sum(1 for step in self.steps if step.cached)

    def first_rebuilt(self) -> PictureStep | None:
        """The first step that ran rather than coming from the cache (every step after it ran too)."""
        return next((step for step in self.steps if not step.cached and not step.is_from), None)

    def failed(self, step: PictureStep) -> bool:
        return self.failed_at is not None and step.number == self.failed_at

    def largest(self) -> PictureStep | None:
        """The step of the final image that added the most bytes."""
        sized = [step for step in self.steps if step.size_bytes and step.in_final_image]
        return max(sized, key=lambda step: step.size_bytes, default=None)


def _picture_steps(steps) -> tuple[PictureStep, ...]:
    return tuple(PictureStep(int(step.number), _one_line(step.instruction), bool(step.cached),
                             round(float(getattr(step, "seconds", 0.0) or 0.0), 2),
                             getattr(step, "size_bytes", None), bool(getattr(step, "in_final_image", True)))
                 for step in steps)


def _one_line(text: object) -> str:
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    return flat if len(flat) <= STEP_TEXT_MAX else flat[:STEP_TEXT_MAX - 1] + "…"


@dataclass(frozen=True)
class Report:
    exercise: str
    score: float
    max_score: float
    status: Status
    error: str | None
    duration_s: float
    items: tuple[Item, ...] = ()
    run_id: str | None = None
    retry: bool = False  # the engine failed us (not the learner): grade again rather than record a zero
    notes: tuple[str, ...] = ()  # what a teacher must know about how it was graded ("builds were not isolated: …")
    # Added field: how many items did not run because the grading stopped (timeout, crash). Their items are in
    # `items` with outcome "not_reached"; score counts the finished items, max_score is always the rubric's.
    not_reached: int = 0
    # Added field: the late policy applied (batch): submitted_at, due, late_by_s, penalty, score_before, note.
    # `score` is then the score after the penalty; the items keep the points they earned.
    late: dict | None = None
    # Added field: the learner's image build, step by step (time, cache, size), when the rubric built it.
    build: BuildPicture | None = None

    @classmethod
    def from_items(cls, exercise: str, items: list[Item], duration_s: float, run_id: str | None = None) -> "Report":
        return cls(exercise, round(sum(i.points for i in items), 2), round(sum(i.max_points for i in items), 2),
                   "graded", None, round(duration_s, 2), tuple(items), run_id)

    @classmethod
    def failed(cls, exercise: str, error: str, duration_s: float = 0.0, max_score: float = 0.0,
               retry: bool = False, run_id: str | None = None) -> "Report":
        return cls(exercise, 0.0, max_score, "error", error, round(duration_s, 2), (), run_id, retry)

    @property
    def fraction(self) -> float:
        return self.score / self.max_score if self.max_score else 0.0

    @classmethod
    def stopped(cls, exercise: str, reason: str, finished: list[Item], planned: list[Item], duration_s: float,
                max_score: float, run_id: str | None = None, retry: bool = False) -> "Report":
        """A grading stopped midway (timeout, crash): the finished items count, the rest are "not reached"
        with the reason; status stays "error" (regrade it), max_score is the rubric's."""
        done = {item.id for item in finished}
        rest = [Item(item.id, item.title, 0.0, item.max_points, False, f"not reached: {reason}", item.lesson,
                     item.visibility, "not_reached") for item in planned if item.id not in done]
        items = [*finished, *rest]
        max_score = round(sum(i.max_points for i in items), 2) if planned else max_score
        return cls(exercise, round(sum(i.points for i in finished), 2), max_score, "error", reason,
                   round(duration_s, 2), tuple(items), run_id, retry, not_reached=len(rest))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["items"] = [asdict(item) for item in self.items]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        items = tuple(Item(**item) for item in data.get("items", []))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "items"}
        if "notes" in known:
            known["notes"] = tuple(known["notes"] or ())
        if isinstance(known.get("build"), dict):
            known["build"] = BuildPicture.from_dict(known["build"])
        elif "build" in known:
            known["build"] = None
        return cls(**known, items=items)
