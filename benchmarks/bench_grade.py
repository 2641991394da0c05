"""How much does the grader add to Docker's own work?

Times, alternating in one run, `dockyard grade <id> <folder> --json` against the raw docker CLI
sequence doing the same Docker work, and prints the ratio of the medians with the spread over rounds
(target on a warm build cache: at most 1.10x). Then the re-grade after editing one line of the app
against the raw sequence after a like edit, each side edited anew in every round (medians again).
The raw sequence, with the same (classic) builder:
- one container (03-first-image): build, run with a published loopback port, wait for the port to
  answer, one HTTP request, remove the container and the tag;
- a compose exercise (11-compose-stack): `docker compose up -d --build --wait` (ports on loopback),
  one request per service (HTTP to a published port, `redis-cli ping` in a redis), `down -v`.
  Its rubric does more than that (it restarts the stack once, say): the ratio shows the whole of it.
`dockyard grade` runs as a learner's repeated checks do, on the warm resident grader (dockyard/resident; the
warm-up grading starts it); `--resident off` starts every grading cold instead, for the figure without it.

    python benchmarks/bench_grade.py 03-first-image solutions/03-first-image [--rounds 5]
    python benchmarks/bench_grade.py 11-compose-stack

A folder holding only the learner's files (a solution) is laid over exercises/<id>/ first.
"""

from __future__ import annotations

import argparse
import json
import os
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
    if exercise.folder.resolve() != folder.resolve() and not (folder / "exercise.toml").is_file():
        return exercises.materialize(exercise, folder, destination)  # a solution: the learner's files only
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
    settle()
    return elapsed


def resident_served() -> int | None:
    """How many commands the warm resident grader (dockyard/resident) has served; None when none runs."""
    from dockyard.resident import client

    path = client.socket_path(client.fingerprint())
    try:
        return int(json.loads(Path(f"{path}.json").read_text())["served"]) if path else None
    except (OSError, ValueError, KeyError):
        return None


def wait_for_resident(within_s: float = 15.0) -> None:
    """The warm-up grading starts the resident grader; the timed ones should find it listening."""
    deadline = time.monotonic() + within_s
    while resident_served() is None and time.monotonic() < deadline:
        time.sleep(0.05)


def settle() -> None:
    """Let the grading's detached teardown finish (untimed): the next timing must not share the engine with it."""
    from dockyard.engine import runs

    runs.wait_for_teardowns()


CLASSIC = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the builder `dockyard grade` uses for these exercises


def request(url: str, within_s: float = 60, container: str | None = None) -> bool:
    """Wait for `url` to answer, then read one answer; False when nothing did within `within_s` (or, given the
    container, once it stopped): a learner's mistake the raw sequence meets as the grader does."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
            return True
        except Exception:
            if time.monotonic() > deadline or (container and not running(container)):
                return False
            time.sleep(0.05)


def running(container: str) -> bool:
    state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", container], capture_output=True,
                           text=True).stdout.strip()
    return state == "true"


def raw_tolerant(folder: Path, port: int = 8000, path: str = "/", tag: str = "bench-raw:class",
                 within_s: float = 10, strict: bool = False) -> float:
    """The raw sequence for one container: build, run with a loopback port, one request, remove. For any
    submission, the mistaken ones too: a build that fails ends it, an app that does not answer within
    `within_s` (or stops) is removed (the class benchmark, bench_batch.py). `strict`: either one is an error."""
    started = time.perf_counter()
    if subprocess.run(["docker", "build", "-q", "--label", LABEL, "-t", tag, str(folder)], capture_output=True,
                      env=CLASSIC).returncode != 0:
        if strict:
            raise SystemExit(f"raw sequence: the build of {folder} failed")
        return time.perf_counter() - started
    container = subprocess.run(["docker", "run", "-d", "--label", LABEL, "-p", f"127.0.0.1::{port}", tag],
                               capture_output=True, text=True).stdout.strip()
    try:
        published = subprocess.run(["docker", "port", container, f"{port}/tcp"], capture_output=True,
                                   text=True).stdout.split(":")[-1].strip() if container else ""
        answered = bool(published) and request(f"http://127.0.0.1:{published}{path}", within_s, container)
        if strict and not answered:
            raise SystemExit(f"raw sequence: nothing answered on port {port}")
    finally:
        if container:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "rmi", "--no-prune", tag], capture_output=True)  # keep the build cache, as grade does
    return time.perf_counter() - started


def raw_once(folder: Path, port: int, path: str, tag: str, restart: bool = False) -> float:
    if (folder / "compose.yaml").is_file():
        return raw_compose_once(folder, path, tag.split(":")[-1], restart=restart)
    return raw_tolerant(folder, port, path, tag, within_s=60, strict=True)


def raw_compose_once(folder: Path, path: str, round_name: str, restart: bool = False) -> float:
    """`up -d --build --wait`, one request per service, `down -v`: the services' published ports moved to loopback
    (an override file the timing leaves out, as the grader's own spec rewrite happens before its build too).
    `restart`: also the rubric's own restart between them (`down`, keeping the volumes, `up --wait`, the requests
    again), which proves the data lives in a volume: the same Docker work as the grading."""
    import yaml

    model = yaml.safe_load((folder / "compose.yaml").read_text())
    override = {"services": {}}
    for name, service in (model.get("services") or {}).items():
        targets = [str(p).rsplit(":", 1)[-1] for p in service.get("ports") or []]
        if targets:
            override["services"][name] = {"ports": [f"127.0.0.1::{target}" for target in targets]}
    ports_file = folder.parent / "bench-ports.yaml"  # outside the build context: it must not change the cache
    ports_file.write_text(yaml.safe_dump(override).replace("ports:", "ports: !override"))
    name = f"bench-raw-{round_name}".lower().replace(".", "-")
    project = ["docker", "compose", "-p", name, "--project-directory", str(folder), "-f",
               str(folder / "compose.yaml"), "-f", str(ports_file)]
    def up_and_ask() -> None:
        subprocess.run([*project, "up", "-d", "--build", "--wait"], check=True, capture_output=True, env=CLASSIC)
        for name, service in (model.get("services") or {}).items():
            if "redis" in str(service.get("image", "")):
                subprocess.run([*project, "exec", "-T", name, "redis-cli", "ping"], check=True, capture_output=True)
            for target in override["services"].get(name, {}).get("ports", []):
                published = subprocess.run([*project, "port", name, target.rsplit(":", 1)[-1]], check=True,
                                           capture_output=True, text=True).stdout.strip()
                if not request(f"http://127.0.0.1:{published.rsplit(':', 1)[-1]}{path}"):
                    raise SystemExit(f"raw sequence: service {name} did not answer")

    started = time.perf_counter()
    try:
        up_and_ask()
        if restart:
            subprocess.run([*project, "down"], check=True, capture_output=True)
            up_and_ask()
    finally:
        subprocess.run([*project, "down", "-v"], capture_output=True)
        built = [f"{name}-{service}" for service, spec in (model.get("services") or {}).items() if spec.get("build")]
        if built:  # the tags only: the steps stay as build cache, as grade keeps them
            subprocess.run(["docker", "rmi", "--no-prune", *built], capture_output=True)
    return time.perf_counter() - started


def edit_one_line(folder: Path) -> Path:
    candidates = sorted(folder.glob("*.py")) or sorted(p for p in folder.iterdir() if p.is_file() and p.name != "Dockerfile")
    target = candidates[0]
    with open(target, "a") as handle:
        handle.write("\n# edited by the benchmark\n")
    return target


def report(ours_name: str, ours: list[float], raw_name: str, raw: list[float], target: float) -> None:
    """The ratio of the medians, the medians behind it and each side's spread over the rounds."""
    ours_median, raw_median = statistics.median(ours), statistics.median(raw)
    print(f"median: {ours_name} {ours_median:.2f} s (spread {min(ours):.2f}-{max(ours):.2f}), {raw_name} "
          f"{raw_median:.2f} s (spread {min(raw):.2f}-{max(raw):.2f}), ratio {ours_median / raw_median:.2f}x "
          f"(target <= {target:.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", default="03-first-image")
    parser.add_argument("folder", nargs="?", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--path", default="/")
    parser.add_argument("--resident", choices=("on", "off"), default="on",
                        help="grade on the warm resident grader, as a learner's repeated checks do (default), or "
                             "start every grading cold (DOCKYARD_RESIDENT=0)")
    args = parser.parse_args()
    os.environ["DOCKYARD_RESIDENT"] = "1" if args.resident == "on" else "0"
    folder = Path(args.folder or f"solutions/{args.exercise}")
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as scratch:
        submission = prepare(args.exercise, folder, Path(scratch) / "submission")
        print(f"warming the build cache ({submission})…", flush=True)
        grade_once(args.exercise, submission)
        if args.resident == "on":
            wait_for_resident()
        raw_once(submission, args.port, args.path, "bench-raw:warm")
        served_before = resident_served()
        compose = (submission / "compose.yaml").is_file()
        graded, raw, raw_restarted = [], [], []
        for round_number in range(args.rounds):  # alternate, so drift hits all alike
            graded.append(grade_once(args.exercise, submission))
            raw.append(raw_once(submission, args.port, args.path, f"bench-raw:{round_number}"))
            line = f"round {round_number + 1}: grade {graded[-1]:.2f} s, raw {raw[-1]:.2f} s"
            if compose:
                raw_restarted.append(raw_once(submission, args.port, args.path, f"bench-raw:r{round_number}",
                                              restart=True))
                line += f", raw with the rubric's restart {raw_restarted[-1]:.2f} s"
            print(line, flush=True)
        served = resident_served()
        print("resident grader: " + (f"served {served - (served_before or 0)} of the {args.rounds} timed gradings"
                                     if served is not None else "off (every grading started its own Python)"))
        report("dockyard grade", graded, "raw docker CLI", raw, target=1.10)
        if compose:
            report("dockyard grade", graded, "raw docker CLI with the rubric's restart (the same Docker work)",
                   raw_restarted, target=1.10)
        regraded, rebuilt = [], []
        for round_number in range(args.rounds):  # each side after its own one-line edit, alternating
            edited = edit_one_line(submission)
            regraded.append(grade_once(args.exercise, submission))
            edit_one_line(submission)
            rebuilt.append(raw_once(submission, args.port, args.path, f"bench-raw:edited{round_number}",
                                    restart=compose))
        print(f"re-grade after editing one line of {edited.name}" + (" (raw with the restart)" if compose else "")
              + ":")
        report("re-grade", regraded, "raw after a like edit", rebuilt, target=1.10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
