"""Hold the rubrics honest: every reference solution scores full marks, every starter less,
every typical mistake loses exactly its items (with feedback naming the mistake), every
alternative correct solution scores full marks, and gradings are repeatable. Real engine.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from dockyard.course import exercises
from dockyard.engine import gc
from dockyard.engine.labels import KINDS
from dockyard.rubric import runner

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "exercises"
REPEATED = ("03-first-image", "04-entrypoint-cmd")  # graded three times: the score must not move


def collect_cases() -> list[tuple[str, str, Path | None]]:
    cases = []
    for exercise_id in exercises.ids(ROOT):
        cases.append((exercise_id, "solution", None))
        cases.append((exercise_id, "starter", None))
        for kind in ("mistakes", "alternatives"):
            for folder in sorted((CASES_DIR / exercise_id / kind).glob("*/")):
                cases.append((exercise_id, f"{kind[:-1]}:{folder.name}", folder))
    return cases


def submission_for(exercise_id: str, kind: str, overlay: Path | None, destination: Path) -> Path:
    exercise = exercises.load(exercise_id, ROOT)
    if kind == "starter":
        return exercises.materialize(exercise, None, destination)
    return exercises.materialize(exercise, exercise.solution, destination, *([overlay] if overlay else []))


def feedback_of(report, item_ids=None) -> str:
    return "\n".join(f"{i.id}: {i.feedback}" for i in report.items if not i.passed and (item_ids is None or i.id in item_ids))


@pytest.mark.parametrize("exercise_id,kind,overlay", collect_cases(),
                         ids=[f"{e}-{k}" for e, k, _ in collect_cases()])
def test_case(exercise_id, kind, overlay, tmp_path):
    folder = submission_for(exercise_id, kind, overlay, tmp_path / "submission")
    report = runner.grade(exercise_id, folder)
    assert report.status == "graded", report.error
    assert report.max_score > 0 and report.items
    failed = {item.id for item in report.items if not item.passed}
    if kind == "solution" or kind.startswith("alternative:"):
        assert report.score == report.max_score, feedback_of(report)
    elif kind == "starter":
        assert report.score < report.max_score, "the starter must not already pass"
    else:
        expect = tomllib.loads((overlay / "expect.toml").read_text())
        assert failed == set(expect["lost"]), f"lost {sorted(failed)}, expected {sorted(expect['lost'])}\n" + feedback_of(report)
        points = {item.id: item.points for item in report.items}
        for item_id, earned in expect.get("partial", {}).items():  # dockyard.partial: part of the item's points
            assert points.get(item_id) == earned, f"{item_id}: {points.get(item_id)} points, expected {earned}"
        text = feedback_of(report).lower()
        for word in expect.get("feedback", []):
            assert word.lower() in text, f"the feedback should mention {word!r}:\n{feedback_of(report)}"
    for item in report.items:
        if not item.passed:
            assert item.feedback.strip(), f"{item.id} failed without feedback"
    # this grading's own run: others' gradings on a shared engine hold labelled resources of their own meanwhile
    assert gc.leftovers(run_ids=[report.run_id]) == dict.fromkeys(KINDS, 0), "the grading left resources behind"


@pytest.mark.parametrize("exercise_id", REPEATED)
def test_three_runs_give_the_same_score(exercise_id, tmp_path):
    scores = set()
    for kind in ("solution", "starter"):
        folder = submission_for(exercise_id, kind, None, tmp_path / kind)
        runs = [runner.grade(exercise_id, folder) for _ in range(3)]
        per_item = {tuple((i.id, i.passed) for i in r.items) for r in runs}
        assert len({r.score for r in runs}) == 1 and len(per_item) == 1, [r.score for r in runs]
        scores.add(runs[0].score)
    assert len(scores) == 2, "solution and starter should not score the same"
