"""Classroom benchmark: a synthetic class of 40 graded with --jobs 1 and --jobs 2, in one run, against a raw loop.

    .venv/bin/python benchmarks/bench_batch.py [--count 40] [--rounds 2]

The class: 20 of 03-first-image and 20 of 06-dockerignore (solutions, starters and typical mistakes,
benchmarks/make_class.py). The raw loop does the same Docker work with the docker CLI two at a time, as a
shell loop with `xargs -P 2` would: each submission built, run with a loopback port, one request (an app
that does not answer gets 10 s), removed. Prints `dockyard batch --jobs 2` against that loop (target: at
most 1.15x, medians over the rounds and their spread), the speed-up over --jobs 1, seconds per submission, the
grader's own CPU time against the engine's (dockerd + containerd + shims), the grader process's peak memory,
and the labelled resources and dangling images left. Targets on a 2-core machine: speed-up >= 1.6x, peak
memory < 200 MB, zero leftovers, no dangling images added.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_class  # noqa: E402
from bench_grade import raw_tolerant  # noqa: E402  (the raw sequence, tolerant of a learner's mistakes)

from dockyard import engine  # noqa: E402
from dockyard.engine import gc  # noqa: E402


def engine_cpu_seconds() -> float:
    """CPU time used so far by dockerd, containerd and their shims (from /proc)."""
    total = 0.0
    ticks = 100.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            if comm in ("dockerd", "containerd") or comm.startswith("containerd-shim"):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
        except OSError:
            continue
    return total


def dangling_images() -> int:
    return len(engine.client().images.list(filters={"dangling": True}))


DANGLING_ADDED = []  # by each `dockyard batch` (it prunes what it added at its end): each should be 0
PER_EXERCISE: dict[str, dict[str, list[float]]] = {}  # exercise -> {"batch": [...], "raw": [...]} wall seconds


def note(exercise_id: str, side: str, seconds: float) -> None:
    PER_EXERCISE.setdefault(exercise_id, {"batch": [], "raw": []})[side].append(seconds)


def grade_class(folders: list[Path], jobs: int, out: Path) -> tuple[float, float, float]:
    """Wall seconds, grader CPU seconds (this process's children), engine CPU seconds. With --jobs 2 each
    exercise's own wall time is noted too (which exercise carries the difference to the raw loop)."""
    dangling_before = dangling_images()
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    engine_before = engine_cpu_seconds()
    started = time.monotonic()
    for folder in folders:
        folder_started = time.monotonic()
        subprocess.run([sys.executable, "-m", "dockyard", "batch", folder.name, str(folder), "--jobs", str(jobs),
                        "--out", str(out / folder.name), "--force"], check=True, stdout=subprocess.DEVNULL)
        if jobs == 2:
            note(folder.name, "batch", time.monotonic() - folder_started)
    wall = time.monotonic() - started
    DANGLING_ADDED.append(dangling_images() - dangling_before)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    grader_cpu = (after_children.ru_utime - before_children.ru_utime) + (after_children.ru_stime - before_children.ru_stime)
    return wall, grader_cpu, engine_cpu_seconds() - engine_before


def raw_loop(folders: list[Path], jobs: int = 2, record: bool = True) -> float:
    """Wall seconds of the raw docker CLI doing each submission's Docker work, `jobs` at a time, one exercise
    after the other (as the batches run)."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    for folder in folders:
        folder_started = time.monotonic()
        students = sorted(p for p in folder.iterdir() if p.is_dir())
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda s: raw_tolerant(s, tag=f"bench-raw:{s.name.lower()}"), students))
        if record:
            note(folder.name, "raw", time.monotonic() - folder_started)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (batch --jobs 2, raw loop), alternating")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-batch-"))
    made = make_class.make_class(work / "class", arguments.count)
    folders = [work / "class" / exercise_id for exercise_id in made]
    kept_cache = gc.build_cache()

    raw_loop(folders, record=False)  # warm both sides' build cache alike
    figures = {1: grade_class(folders, 1, work / "out-jobs1")}
    batched, raw = [], []
    for round_number in range(arguments.rounds):  # alternate, so drift hits both alike
        figures[2] = grade_class(folders, 2, work / f"out-jobs2-{round_number}")
        batched.append(figures[2][0])
        raw.append(raw_loop(folders))
        print(f"round {round_number + 1}: batch --jobs 2 {batched[-1]:.1f} s, raw loop -P 2 {raw[-1]:.1f} s", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    count = sum(made.values())
    (wall1, cpu1, engine1), (wall2, cpu2, engine2) = figures[1], figures[2]
    print(f"class: {count} submissions {made}")
    print(f"--jobs 1: {wall1:7.1f} s wall, {wall1 / count:5.2f} s/submission, grader CPU {cpu1:6.1f} s, engine CPU {engine1:6.1f} s")
    print(f"--jobs 2: {wall2:7.1f} s wall, {wall2 / count:5.2f} s/submission, grader CPU {cpu2:6.1f} s, engine CPU {engine2:6.1f} s")
    print(f"speed-up: {wall1 / wall2:.2f}x (target >= 1.6x)")
    batch_median, raw_median = statistics.median(batched), statistics.median(raw)
    print(f"median: batch --jobs 2 {batch_median:.1f} s (spread {min(batched):.1f}-{max(batched):.1f}), raw loop "
          f"two at a time {raw_median:.1f} s (spread {min(raw):.1f}-{max(raw):.1f}), ratio "
          f"{batch_median / raw_median:.2f}x (target <= 1.15x)")
    for exercise_id, sides in PER_EXERCISE.items():
        exercise_batch, exercise_raw = statistics.median(sides["batch"]), statistics.median(sides["raw"])
        print(f"  {exercise_id}: batch {exercise_batch:.1f} s, raw {exercise_raw:.1f} s, "
              f"ratio {exercise_batch / exercise_raw:.2f}x")
    print(f"peak memory of a grader process (batch, or one rubric run): {peak_mb:.0f} MB (target < 200 MB)")
    print(f"labelled resources left: {gc.leftovers()} (target: all 0)")
    print(f"dangling images added by each batch: {DANGLING_ADDED} (target: all 0)")
    gc.prune_build_cache(keep=kept_cache)  # the raw loop's own cached steps (`rmi --no-prune` keeps them)
    shutil.rmtree(work, ignore_errors=True)  # the synthetic class and its gradebooks


if __name__ == "__main__":
    main()
