"""How much does the grader add to Docker's own work?

Times, alternating in one run, `dockyard grade <id> <folder> --json` against the raw docker CLI
sequence doing the same Docker work (build, run with a published loopback port, wait for the port
to answer, one HTTP request, remove the container and the tag), and prints the ratio (target on a
warm build cache: at most 1.15x). Then prints the re-grade time after editing one line of the app.

A third sequence adds to the raw one the Docker work the sandbox cannot skip: each grading's own
network (`docker network create` before the run, `docker network rm` after; the foundation issue
asks for it). It shows how much of the gap is the sandbox's engine work and how much the grader's.

    python benchmarks/bench_grade.py 03-first-image solutions/03-first-image [--rounds 5]

A folder holding only the learner's files (a solution) is laid over exercises/<id>/ first.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LABEL = "dockyard.run=bench-raw"


def prepare(exercise_id: str, folder: Path, destination: Path) -> Path:
    from dockyard.course import exercises

    exercise = exercises.load(exercise_id)
    if (folder / "Dockerfile").is_file() and exercise.folder.resolve() != folder.resolve() and \
            not any(p.suffix == ".py" for p in folder.iterdir()) and any(exercise.folder.glob("*.py")):
        return exercises.materialize(exercise, folder, destination)  # a solution overlay
    if folder.resolve() == destination.resolve():
        return destination
    shutil.copytree(folder, destination, dirs_exist_ok=True)
    return destination


def grade_once(exercise_id: str, folder: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dockyard", "grade", exercise_id, str(folder), "--json"],
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"dockyard grade failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    return elapsed


def raw_once(folder: Path, port: int, path: str, tag: str, own_network: bool = False) -> float:
    started = time.perf_counter()
    network = []
    if own_network:  # as the sandbox does it: a bridge of its own, made while the image builds
        name = f"bench-raw-{tag.split(':')[-1]}"
        maker = subprocess.Popen(["docker", "network", "create", "--label", LABEL, name], stdout=subprocess.DEVNULL)
        network = ["--network", name]
    subprocess.run(["docker", "build", "-q", "--label", LABEL, "-t", tag, str(folder)], check=True,
                   capture_output=True)
    if own_network:
        maker.wait()
    container = subprocess.run(["docker", "run", "-d", "--label", LABEL, *network, "-p", f"127.0.0.1::{port}", tag],
                               check=True, capture_output=True, text=True).stdout.strip()
    try:
        host_port = subprocess.run(["docker", "port", container, f"{port}/tcp"], check=True, capture_output=True,
                                   text=True).stdout.split(":")[-1].strip()
        url = f"http://127.0.0.1:{host_port}{path}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise SystemExit(f"raw sequence: nothing answered at {url}")
                time.sleep(0.05)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "rmi", "--no-prune", tag], capture_output=True)  # keep the build cache, as grade does
        if own_network:
            subprocess.run(["docker", "network", "rm", name], capture_output=True)
    return time.perf_counter() - started


def edit_one_line(folder: Path) -> Path:
    candidates = sorted(folder.glob("*.py")) or sorted(p for p in folder.iterdir() if p.is_file() and p.name != "Dockerfile")
    target = candidates[0]
    with open(target, "a") as handle:
        handle.write("\n# edited by the benchmark\n")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", default="03-first-image")
    parser.add_argument("folder", nargs="?", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--path", default="/")
    args = parser.parse_args()
    folder = Path(args.folder or f"solutions/{args.exercise}")
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as scratch:
        submission = prepare(args.exercise, folder, Path(scratch) / "submission")
        print(f"warming the build cache ({submission})…", flush=True)
        grade_once(args.exercise, submission)
        raw_once(submission, args.port, args.path, "bench-raw:warm")
        graded, raw, networked = [], [], []
        for round_number in range(args.rounds):  # alternate, so drift hits all alike
            graded.append(grade_once(args.exercise, submission))
            raw.append(raw_once(submission, args.port, args.path, f"bench-raw:{round_number}"))
            networked.append(raw_once(submission, args.port, args.path, f"bench-raw:n{round_number}", own_network=True))
            print(f"round {round_number + 1}: grade {graded[-1]:.2f} s, raw {raw[-1]:.2f} s, "
                  f"raw with its own network {networked[-1]:.2f} s", flush=True)
        grade_median, raw_median = statistics.median(graded), statistics.median(raw)
        networked_median = statistics.median(networked)
        print(f"median: dockyard grade {grade_median:.2f} s, raw docker CLI {raw_median:.2f} s, "
              f"ratio {grade_median / raw_median:.2f}x (target <= 1.15x)")
        print(f"median: raw docker CLI with the sandbox's own network {networked_median:.2f} s, "
              f"ratio {grade_median / networked_median:.2f}x")
        edited = edit_one_line(submission)
        print(f"re-grade after editing one line of {edited.name}: {grade_once(args.exercise, submission):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
