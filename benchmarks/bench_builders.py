"""Build time of one exercise with each builder, cold (nothing cached after FROM) and warm (all cached).

    .venv/bin/python benchmarks/bench_builders.py [exercise-id] [rounds]

Builds the exercise's reference solution through the sandbox, as a grading does (build network or docker0
rules, bounds), with a unique first step so the cold build rebuilds every step (pip install included).
Prints the figures; asserts nothing about them (timing targets are read, not tested).
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from dockyard.course import exercises
from dockyard.engine import gc
from dockyard.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]


def one_round(exercise, builder: str) -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    try:
        context = exercises.materialize(exercise, exercise.solution, folder / "submission")
        lines = (context / "Dockerfile").read_text().splitlines()
        at = next(i for i, line in enumerate(lines) if line.upper().startswith("FROM")) + 1
        lines.insert(at, f"RUN echo {uuid.uuid4().hex} > /tmp/bench")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        limits = dataclasses.replace(exercise.limits, builder=builder)
        times = []
        with Sandbox(f"bench-{builder}", limits=limits) as box:
            for _ in range(2):  # cold, then warm
                started = time.monotonic()
                box.build(context)
                times.append(time.monotonic() - started)
        return times[0], times[1]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    exercise_id = sys.argv[1] if len(sys.argv) > 1 else "05-layer-cache"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    exercise = exercises.load(exercise_id, ROOT)
    before = gc.build_cache()
    try:
        for builder in ("classic", "buildkit"):
            runs = [one_round(exercise, builder) for _ in range(rounds)]
            cold = statistics.median(run[0] for run in runs)
            warm = statistics.median(run[1] for run in runs)
            print(f"{exercise_id} {builder:8s} cold {cold:5.2f} s  warm {warm:5.2f} s  (median of {rounds}; "
                  f"cold: {', '.join(f'{run[0]:.2f}' for run in runs)})")
    finally:
        gc.prune_build_cache(keep=before)


if __name__ == "__main__":
    main()
