"""Generate a synthetic class: N submissions of 03-first-image and 06-dockerignore, mixed from the
reference solution, the starter and the typical mistakes in tests/exercises/<id>/mistakes/.

    python benchmarks/make_class.py OUT [--count 40]

Writes OUT/<exercise>/<student>/ folders, ready for `dockyard batch <exercise> OUT/<exercise>`.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
from pathlib import Path

from dockyard.course import exercises

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ("03-first-image", "06-dockerignore")


def variants(exercise: exercises.Exercise) -> list[tuple[str, list[Path | None]]]:
    """(name, overlays) for the solution, the starter and each typical mistake."""
    found = [("solution", [exercise.solution]), ("starter", [None])]
    for mistake in sorted((ROOT / "tests" / "exercises" / exercise.id / "mistakes").glob("*/")):
        found.append((mistake.name, [exercise.solution, mistake]))
    return found


def make_class(out: Path, count: int) -> dict[str, int]:
    made = {}
    for exercise_id, share in zip(EXERCISES, (count - count // 2, count // 2)):
        exercise = exercises.load(exercise_id, ROOT)
        folder = out / exercise_id
        shutil.rmtree(folder, ignore_errors=True)
        for number, (name, overlays) in zip(range(share), itertools.cycle(variants(exercise))):
            student = folder / f"student{number:03d}-{name}"
            exercises.materialize(exercise, None, student, *[layer for layer in overlays if layer is not None])
        made[exercise_id] = share
    return made


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=40)
    arguments = parser.parse_args()
    print(make_class(arguments.out, arguments.count))
