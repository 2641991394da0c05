"""Grade a whole class: many submissions, N at once, each in its own sandbox run.

Inputs: a folder whose sub-folders, `.zip` or `.tar.gz` files are one learner each, or
nbgrader's `submitted/<student>/<assignment>/`. Outputs in `--out`: gradebook.csv,
results.json (every report, written after each grading so a killed run keeps its work),
and feedback/<student>.md|.html. A submission whose content hash and rubric version match
a finished result is not graded again.

Fairness: each grading runs in its own pytest process and sandbox (own network, own image
tag, own limits), so one learner's hung build or crash cannot touch another's result.
"""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dockyard import __version__
from dockyard import scratch as scratches
from dockyard.cli import outputs
from dockyard.course import exercises
from dockyard.engine import gc
from dockyard.errors import ExitStatus, UsageError
from dockyard.report import feedback, lms
from dockyard.report.model import Report
from dockyard.rubric import child, runner

ARCHIVE_MAX_BYTES = 200 * 2**20  # refuse archives that unpack to more than this
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Learner:
    student: str
    source: Path  # folder, .zip or .tar.gz


def discover(submissions: Path, exercise_id: str) -> list[Learner]:
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise UsageError(f"no such folder: {submissions}")
    nbgrader_root = submissions / "submitted" if (submissions / "submitted").is_dir() else None
    if nbgrader_root is None and submissions.name == "submitted":
        nbgrader_root = submissions
    learners: list[Learner] = []
    if nbgrader_root is not None:
        for student in sorted(p for p in nbgrader_root.iterdir() if p.is_dir()):
            assignments = sorted(p for p in student.iterdir() if p.is_dir())
            chosen = next((a for a in assignments if a.name == exercise_id), assignments[0] if len(assignments) == 1 else None)
            if chosen is not None:
                learners.append(Learner(student.name, chosen))
        return learners
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            learners.append(Learner(entry.name, entry))
        elif entry.name.endswith(".zip"):
            learners.append(Learner(entry.name[: -len(".zip")], entry))
        elif entry.name.endswith((".tar.gz", ".tgz")):
            learners.append(Learner(entry.name.split(".t")[0], entry))
    if not learners:
        raise UsageError(f"{submissions} holds no submissions (sub-folders, .zip or .tar.gz files)")
    return learners


def unpack(learner: Learner, scratch: Path) -> Path:
    """The learner's files as a folder; archives are unpacked safely (no paths out, no links, bounded size)."""
    if learner.source.is_dir():
        return learner.source
    destination = scratch / learner.student
    destination.mkdir(parents=True, exist_ok=True)
    if learner.source.name.endswith(".zip"):
        with zipfile.ZipFile(learner.source) as archive:
            members = archive.infolist()
            _check_members(learner, [(m.filename, m.file_size) for m in members])
            archive.extractall(destination)
    else:
        with tarfile.open(learner.source, "r:gz") as archive:
            members = [m for m in archive.getmembers() if m.isfile() or m.isdir()]
            _check_members(learner, [(m.name, m.size) for m in members])
            archive.extractall(destination, members=members, filter="data")
    children = [p for p in destination.iterdir() if not p.name.startswith("__MACOSX")]
    # A zip of a folder holds that one folder: grade its contents.
    return children[0] if len(children) == 1 and children[0].is_dir() else destination


def _check_members(learner: Learner, members: list[tuple[str, int]]) -> None:
    total = 0
    for name, size in members:
        if name.startswith("/") or ".." in Path(name).parts:
            raise UsageError(f"{learner.source.name}: refused, it holds a path leading out ({name})")
        total += size
    if total > ARCHIVE_MAX_BYTES:
        raise UsageError(f"{learner.source.name}: refused, it unpacks to over {ARCHIVE_MAX_BYTES // 2**20} MiB")


def content_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_symlink()):
        digest.update(f"{path.relative_to(folder)}->{os.readlink(path)}".encode())
    return digest.hexdigest()


def content_hash_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rubric_version(exercise: exercises.Exercise) -> str:
    digest = hashlib.sha256(__version__.encode())
    for folder in (exercise.grader,):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    digest.update((exercise.folder / "exercise.toml").read_bytes())
    return digest.hexdigest()[:16]


class Results:
    """results.json: every finished report, keyed by student, saved after each grading (atomic rename)."""

    def __init__(self, out: Path, exercise_id: str, version: str):
        self.path = out / RESULTS_FILE
        self.lock = threading.Lock()
        self.data = {"exercise": exercise_id, "rubric_version": version, "results": {}}
        if self.path.is_file():
            try:
                saved = json.loads(self.path.read_text())
                if saved.get("exercise") == exercise_id:
                    self.data["results"] = saved.get("results", {})
            except (OSError, json.JSONDecodeError):
                pass  # a damaged file: grade again rather than trust it

    def finished(self, student: str, digest: str, version: str) -> Report | None:
        entry = self.data["results"].get(student)
        if entry and entry.get("hash") == digest and entry.get("rubric_version") == version \
                and not entry["report"].get("retry"):
            return Report.from_dict(entry["report"])
        return None

    def record(self, student: str, digest: str, version: str, report: Report) -> None:
        with self.lock:
            self.data["results"][student] = {"hash": digest, "rubric_version": version, "report": report.to_dict()}
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.data, indent=1, ensure_ascii=False))
            temporary.replace(self.path)


@dataclass
class BatchSummary:
    graded: int = 0
    reused: int = 0
    failed: int = 0  # status error (grading could not run)
    retry: int = 0  # engine trouble: marked for retry, not recorded as a zero
    interrupted: bool = False
    engines_used: tuple[str, ...] = ()


def run_batch(exercise_id: str, submissions: Path, out: Path, *, jobs: int | None = None, force: bool = False,
              engines: list[str] | None = None, progress=None, grade_one=None) -> BatchSummary:
    """Grade every learner; `progress(event, student, report)` is called as work moves on."""
    exercise = exercises.load(exercise_id)
    learners = discover(Path(submissions), exercise_id)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    version = rubric_version(exercise)
    results = Results(out, exercise_id, version)
    jobs = max(1, jobs or os.cpu_count() or 1)
    engines = engines or [None]
    grade_one = grade_one or runner.grade
    summary = BatchSummary()
    used_engines: set[str] = set()
    scratch = Path(tempfile.mkdtemp(prefix=scratches.prefix("batch")))
    cache_before = {url: gc.dangling_images(url) for url in engines}
    stop = threading.Event()
    notify = progress or (lambda *args: None)

    def work(index: int, learner: Learner) -> tuple[Learner, Report, bool]:
        if stop.is_set():
            raise concurrent.futures.CancelledError()
        try:
            folder = unpack(learner, scratch)
        except UsageError as refusal:  # a final verdict on this archive: recorded like a grading
            report = Report.failed(exercise_id, refusal.one_line())
            results.record(learner.student, content_hash_of_file(learner.source), version, report)
            return learner, report, False
        digest = content_hash(folder)
        if not force:
            previous = results.finished(learner.student, digest, version)
            if previous is not None:
                return learner, previous, True
        engine_url = engines[index % len(engines)]
        used_engines.add(engine_url or "default")
        notify("start", learner.student, None)
        report = grade_one(exercise_id, folder, engine_url=engine_url)
        if not stop.is_set():
            results.record(learner.student, digest, version, report)
        return learner, report, False

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade")
    futures = [pool.submit(work, index, learner) for index, learner in enumerate(learners)]
    try:
        for future in concurrent.futures.as_completed(futures):
            try:
                learner, report, reused = future.result()
            except concurrent.futures.CancelledError:
                continue
            if reused:
                summary.reused += 1
            elif report.retry:
                summary.retry += 1
            elif report.status == "error":
                summary.failed += 1
            else:
                summary.graded += 1
            notify("done", learner.student, report)
    except KeyboardInterrupt:
        stop.set()
        summary.interrupted = True
        for future in futures:
            future.cancel()
        runner.cancel_all()  # kill the gradings in flight; each sweeps its own run
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        write_outputs(out, exercise, results)
        shutil.rmtree(scratch, ignore_errors=True)

        child.stop_forkserver()
        for url, before in cache_before.items():  # the build cache this class added: a class must not fill the disk
            try:
                gc.prune_build_cache(url, keep=before)
            except Exception:
                pass  # an engine that went away keeps its cache; `dockyard clean` prunes it later
    summary.engines_used = tuple(sorted(used_engines))
    return summary


def write_outputs(out: Path, exercise: exercises.Exercise, results: Results) -> None:
    """gradebook.csv and the feedback files, from results.json's reports (the single source)."""
    entries = {student: Report.from_dict(entry["report"]) for student, entry in sorted(results.data["results"].items())}
    item_ids: list[str] = []
    for report in entries.values():
        for item in report.items:
            if item.id not in item_ids:
                item_ids.append(item.id)
    with open(out / "gradebook.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "status", *item_ids])
        for student, report in entries.items():
            points = {item.id: item.points for item in report.items}
            status = "retry" if report.retry else report.status
            writer.writerow([student, report.score, report.max_score, status, *(points.get(i, "") for i in item_ids)])
    feedback_dir = out / "feedback"
    feedback_dir.mkdir(exist_ok=True)
    for student, report in entries.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in student)
        (feedback_dir / f"{safe}.md").write_text(feedback.markdown(report, student=student))
        (feedback_dir / f"{safe}.html").write_text(feedback.html(report, student=student))


LMS_FILE = "lms.csv"


def write_lms(out: Path, exercise_id: str, roster: list[dict], fmt: str = "canvas"):
    """lms.csv from results.json's reports (the single source), keyed by the roster's LMS ids."""
    saved = Results(out, exercise_id, "")
    reports = {student: Report.from_dict(entry["report"]) for student, entry in saved.data["results"].items()}
    export = lms.build(roster, reports, exercise_id, fmt)
    lms.write(export, out / LMS_FILE)
    return export


def command(args, env) -> int:
    """`dockyard batch`: a rich progress bar (done / failed / ETA) on stderr, a summary on stdout."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    exercises.load(args.exercise)  # unknown exercise: exit 2 before anything starts
    roster = outputs.lms_roster(args)  # a bad roster: exit 2 before anything is graded
    learners = discover(Path(args.submissions), args.exercise)
    counts = {"failed": 0}
    with Progress(TextColumn("[bold]grading[/]"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("[red]{task.fields[failed]} failed[/]"), TimeRemainingColumn(),
                  TextColumn("{task.fields[last]}"), console=env.console(stderr=True), transient=False) as bar:
        task = bar.add_task("grading", total=len(learners), failed=0, last="")

        def progress(event: str, student: str, report: Report | None) -> None:
            if event == "done" and report is not None:
                if report.status != "graded":
                    counts["failed"] += 1
                bar.update(task, advance=1, failed=counts["failed"],
                           last=f"{student}: {report.score:g}/{report.max_score:g}" if report.status == "graded"
                           else f"{student}: {'retry' if report.retry else 'error'}")

        summary = run_batch(args.exercise, Path(args.submissions), Path(args.out), jobs=args.jobs,
                            force=args.force, engines=args.engine or None, progress=progress)
    print(f"{summary.graded} graded, {summary.reused} unchanged (kept), {summary.failed} failed, "
          f"{summary.retry} to retry → {Path(args.out) / 'gradebook.csv'}", file=env.stdout)
    if roster is not None:
        export = write_lms(Path(args.out), args.exercise, roster, getattr(args, "export", None) or "canvas")
        print(f"{len(export.rows)} student(s) on the roster → {Path(args.out) / LMS_FILE} ({args.export or 'canvas'})",
              file=env.stdout)
        if export.missing:
            print(f"dockyard: on the roster without a submission (empty grade): {', '.join(export.missing)}",
                  file=env.stderr)
        if export.unknown:
            print(f"dockyard: submitted but not on the roster (not in {LMS_FILE}): {', '.join(export.unknown)}",
                  file=env.stderr)
    return ExitStatus.OK
