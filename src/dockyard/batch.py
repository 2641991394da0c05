"""Grade a whole class: many submissions, N at once, each in its own sandbox run.

Inputs: a folder whose sub-folders, `.zip`, `.tar.gz` or `.tgz` files are one learner each (the
learner's name is everything before the archive suffix), or nbgrader's `submitted/<student>/<assignment>/`
(a student without the assignment's folder is listed as "no submission for this assignment").
Outputs in `--out`: gradebook.csv, dockyard-state.json (every report, written after each grading so a
killed run keeps its work; an older batch's `results.json` is read once and migrated, since that name is
Gradescope's format), and feedback/<student>.md|.html. A submission whose content hash and rubric version match
a finished result is not graded again.

Beyond one machine: `--queue redis://…` sends the class to `dockyard worker`s on the Docker hosts
(dockyard.queue) instead of grading here; the outputs are written by the same code below.

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
from dockyard.course import exercises, late
from dockyard.course.points import rubric_points
from dockyard.engine import gc, runs
from dockyard.engine.labels import new_run_id
from dockyard.errors import UsageError
from dockyard.report import classview, feedback, lms
from dockyard.report.model import Report
from dockyard.rubric import child, runner

ARCHIVE_MAX_BYTES = 200 * 2**20  # refuse archives that unpack to more than this
STATE_FILE = "dockyard-state.json"
OLD_STATE_FILE = "results.json"  # the name before issue 17: Gradescope's format's name, read once and migrated
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
NO_SUBMISSION = "no submission for this assignment"
CLASS_FILE = "class.html"  # the class at a glance (report/classview.py)


@dataclass(frozen=True)
class Learner:
    student: str
    source: Path  # folder, .zip, .tar.gz or .tgz (nbgrader: the student's folder when `missing`)
    missing: bool = False  # nbgrader: the student has no folder for this assignment


def student_name(filename: str) -> str:
    """Everything before the archive suffix: `ann.taylor.tar.gz` → `ann.taylor`."""
    for suffix in ARCHIVE_SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return filename


def discover(submissions: Path, exercise_id: str, aliases: tuple[str, ...] = ()) -> list[Learner]:
    """The learners in `submissions`. In nbgrader's layout each student's folder for this exercise is
    `submitted/<student>/<id>/`, or named after one of its older ids (`aliases`)."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise UsageError(f"no such folder: {submissions}")
    nbgrader_root = submissions / "submitted" if (submissions / "submitted").is_dir() else None
    if nbgrader_root is None and submissions.name == "submitted":
        nbgrader_root = submissions
    learners: list[Learner] = []
    if nbgrader_root is not None:
        for student in sorted(p for p in nbgrader_root.iterdir() if p.is_dir()):
            chosen = next((student / name for name in (exercise_id, *aliases) if (student / name).is_dir()), None)
            if chosen is not None:
                learners.append(Learner(student.name, chosen))
            else:  # handed in other assignments, or nothing: listed, never skipped silently
                learners.append(Learner(student.name, student, missing=True))
        return learners
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            learners.append(Learner(entry.name, entry))
        elif entry.name.endswith(ARCHIVE_SUFFIXES) and student_name(entry.name):
            learners.append(Learner(student_name(entry.name), entry))
    if not learners:
        raise UsageError(f"{submissions} holds no submissions (sub-folders, .zip or .tar.gz files)")
    return learners


def select(learners: list[Learner], only: list[str] | None) -> list[Learner]:
    """The learners named by `--only` (all when None); a name that is not in the class is a usage error."""
    if not only:
        return learners
    known = {learner.student: learner for learner in learners}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise UsageError(f"--only: no submission from {', '.join(unknown)} in this class",
                         hint="names are the folder or archive names, e.g. ann.taylor for ann.taylor.tar.gz")
    return [known[name] for name in dict.fromkeys(only)]


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
    """dockyard-state.json: every finished report, keyed by student, saved after each grading (atomic rename).
    A batch of an older Dockyard kept it as results.json: that file is read once, saved under the new name
    and removed (only when it is ours: a Gradescope results.json has no "results" map and stays)."""

    def __init__(self, out: Path, exercise_id: str, version: str, aliases: tuple[str, ...] = ()):
        self.path = out / STATE_FILE
        self.lock = threading.Lock()
        self.data = {"exercise": exercise_id, "rubric_version": version, "results": {}}
        old = out / OLD_STATE_FILE
        source = self.path if self.path.is_file() else (old if old.is_file() else None)
        saved = None
        if source is not None:
            try:
                saved = json.loads(source.read_text())
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                saved = None  # a damaged file: grade again rather than trust it
        ours = isinstance(saved, dict) and isinstance(saved.get("results"), dict) and "rubric_version" in saved
        if ours and saved.get("exercise") in (exercise_id, *aliases):  # a gradebook kept under an old id goes on
            self.data["results"] = saved["results"]
        if ours and source == old:
            with self.lock:
                self._save()
            try:
                old.unlink()
            except OSError:
                pass

    def _save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data, indent=1, ensure_ascii=False))
        temporary.replace(self.path)

    def finished(self, student: str, digest: str, version: str) -> Report | None:
        entry = self.data["results"].get(student)
        if entry and entry.get("hash") == digest and entry.get("rubric_version") == version \
                and not entry["report"].get("retry"):
            return Report.from_dict(entry["report"])
        return None

    def note_times(self, times: dict[str, tuple]) -> None:
        """Keep each learner's submission time (and a platform's due date) beside their report."""
        with self.lock:
            for student, (submitted, platform_due) in times.items():
                entry = self.data["results"].get(student)
                if entry is not None:
                    entry["submitted_at"] = submitted.isoformat() if submitted else None
                    entry["platform_due"] = platform_due.isoformat() if platform_due else None
            if times:
                self._save()

    def reports(self, exercise: exercises.Exercise | None = None, due=None, policy=None) -> dict[str, Report]:
        """Every learner's report, the late policy applied (`due`/`policy`, else the exercise's `[late]`)."""
        import dataclasses

        due, policy = late_settings(exercise, due, policy)
        reports = {}
        for student, entry in sorted(self.data["results"].items()):
            report = Report.from_dict(entry["report"])
            when = late.parse_time(entry["submitted_at"]) if entry.get("submitted_at") else None
            deadline = due or (late.parse_time(entry["platform_due"]) if entry.get("platform_due") else None)
            verdict = late.assess(report.score, when, deadline, policy) if report.status == "graded" else None
            if verdict is not None:
                report = dataclasses.replace(report, score=verdict["score"], late=verdict)
            reports[student] = report
        return reports

    def record(self, student: str, digest: str, version: str, report: Report) -> None:
        with self.lock:
            self.data["results"][student] = {"hash": digest, "rubric_version": version, "report": report.to_dict()}
            self._save()


@dataclass
class BatchSummary:
    graded: int = 0
    reused: int = 0
    failed: int = 0  # status error (grading could not run)
    retry: int = 0  # engine trouble: marked for retry, not recorded as a zero
    missing: int = 0  # nbgrader: no folder for this assignment

    def count(self, report: Report, reused: bool = False, missing: bool = False) -> None:
        """Count one learner's outcome under the one heading it belongs to."""
        if missing:
            self.missing += 1
        elif reused:
            self.reused += 1
        elif report.retry:
            self.retry += 1
        elif report.status == "error":
            self.failed += 1
        else:
            self.graded += 1


def run_batch(exercise_id: str, submissions: Path, out: Path, *, jobs: int | None = None, force: bool = False,
              engine_url: str | None = None, progress=None, grade_one=None,
              only: list[str] | None = None, due=None, policy=None, queue_url: str | None = None,
              result_ttl: int | None = None) -> BatchSummary:
    """Grade every learner; `progress(event, student, report)` is called as work moves on.
    `only`: regrade just these learners (even if unchanged); everyone else's result stays in the gradebook.

    With `queue_url`, the class goes to the workers of that queue (dockyard.queue) instead of this
    host's engine; the outputs are the same files, written by the same code."""
    exercise = exercises.load(exercise_id)
    exercise_id = exercise.id  # an old id (alias) grades, and records, the exercise it names
    learners = select(discover(Path(submissions), exercise_id, exercise.aliases), only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    version = rubric_version(exercise)
    results = Results(out, exercise_id, version, exercise.aliases)
    if queue_url:
        return _run_batch_on_queue(exercise, learners, out, results, version, queue_url=queue_url, force=force,
                                   progress=progress, result_ttl=result_ttl)
    jobs = max(1, jobs or os.cpu_count() or 1)
    grade_one = grade_one or runner.grade
    summary = BatchSummary()
    scratch = Path(tempfile.mkdtemp(prefix=scratches.prefix("batch")))
    cache_before = gc.build_cache(engine_url)
    stop = threading.Event()
    notify = progress or (lambda *args: None)
    max_score = rubric_points(exercise.grader)
    times: dict[str, tuple] = {}
    run_ids: list[str] = []

    def work(index: int, learner: Learner) -> tuple[Learner, Report, bool]:
        if stop.is_set():
            raise concurrent.futures.CancelledError()
        if learner.missing:
            report = Report.failed(exercise_id, NO_SUBMISSION, max_score=max_score)
            results.record(learner.student, "missing", version, report)
            return learner, report, False
        try:
            folder = unpack(learner, scratch)
        except UsageError as refusal:  # a final verdict on this archive: recorded like a grading
            report = Report.failed(exercise_id, refusal.one_line(), max_score=max_score)
            results.record(learner.student, content_hash_of_file(learner.source), version, report)
            return learner, report, False
        submitted, platform_due, _source = late.submission_time(folder, learner.source if learner.source.is_file()
                                                                 else None)
        times[learner.student] = (submitted, platform_due)
        digest = content_hash(folder)
        if not force and not only:
            previous = results.finished(learner.student, digest, version)
            if previous is not None:
                return learner, previous, True
        notify("start", learner.student, None)
        run_id = new_run_id()
        run_ids.append(run_id)
        # the next learner's grading starts while this one's teardown goes on (rubric/detach.py): the engine
        # works on both, as a raw loop's `docker rm` runs beside the next build; the batch waits for all at the end
        report = grade_one(exercise_id, folder, engine_url=engine_url, run_id=run_id, detach_teardown=True)
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
            summary.count(report, reused=reused, missing=learner.missing)
            notify("done", learner.student, report)
    except KeyboardInterrupt:
        stop.set()
        for future in futures:
            future.cancel()
        runner.cancel_all()  # kill the gradings in flight; each sweeps its own run
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        runs.wait_for_teardowns(run_ids)  # a batch ends with its gradings' resources gone
        results.note_times(times)
        write_outputs(out, exercise, results, due=due, policy=policy)
        shutil.rmtree(scratch, ignore_errors=True)

        child.stop_forkserver()
        try:  # the build cache this class added: a class must not fill the disk
            gc.prune_build_cache(engine_url, keep=cache_before)
        except Exception:
            pass  # an engine that went away keeps its cache; `dockyard clean` prunes it later
    return summary


def _run_batch_on_queue(exercise, learners: list[Learner], out: Path, results: Results, version: str, *,
                        queue_url: str, force: bool, progress, result_ttl: int | None) -> BatchSummary:
    """Enqueue one job per changed submission (or attach to the one already there), then record each as it ends."""
    from dockyard import queue as queues  # here: a class graded locally never pays for the queue's modules
    from dockyard.queue import client, jobs

    notify = progress or (lambda *args: None)
    summary = BatchSummary()
    rq_queue = queues.queue(queues.connect(queue_url))
    result_ttl = result_ttl or queues.DEFAULT_RESULT_TTL_S
    scratch = Path(tempfile.mkdtemp(prefix=scratches.prefix("batch")))
    pending: list[client.Pending] = []
    digests: dict[str, str] = {}
    enqueued: dict[str, object] = {}  # job id -> job, in this run

    def finished(student: str, report: Report, reused: bool = False) -> None:
        summary.count(report, reused=reused)
        notify("done", student, report)

    to_enqueue: list[tuple[str, jobs.Payload]] = []  # packed, not yet on the queue (a chunk's worth at most)

    def enqueue_waiting() -> None:
        new = {}  # two learners with the same files share one grading
        for _, payload in to_enqueue:
            if payload.job_id not in enqueued:
                new.setdefault(payload.job_id, payload)
        for payload, job in zip(new.values(), client.enqueue_many(rq_queue, list(new.values()),
                                                                  result_ttl=result_ttl, force=force)):
            enqueued[payload.job_id] = job
        for student, payload in to_enqueue:
            pending.append(client.Pending(student, enqueued[payload.job_id].id))
            notify("queued", student, None)
        to_enqueue.clear()

    try:
        for learner in learners:
            if learner.missing:  # nbgrader: no folder for this assignment, as a local batch records it
                report = Report.failed(exercise.id, NO_SUBMISSION)
                results.record(learner.student, "missing", version, report)
                summary.missing += 1
                notify("done", learner.student, report)
                continue
            try:
                folder = unpack(learner, scratch)
            except UsageError as refusal:  # the same final verdict as a local batch
                report = Report.failed(exercise.id, refusal.one_line())
                results.record(learner.student, content_hash_of_file(learner.source), version, report)
                finished(learner.student, report)
                continue
            digest = content_hash(folder)
            if not force:
                previous = results.finished(learner.student, digest, version)
                if previous is not None:
                    finished(learner.student, previous, reused=True)
                    continue
            try:
                payload = jobs.pack(folder, exercise=exercise.id, rubric_version=version, student=learner.student,
                                    content_hash=digest)
            except jobs.PayloadRefused as refusal:
                report = Report.failed(exercise.id, f"{learner.source.name}: {refusal}")
                results.record(learner.student, digest, version, report)
                finished(learner.student, report)
                continue
            digests[learner.student] = digest
            to_enqueue.append((learner.student, payload))
            if len(to_enqueue) >= client.ENQUEUE_CHUNK:
                enqueue_waiting()
        enqueue_waiting()
        shutil.rmtree(scratch, ignore_errors=True)

        def done(student: str, report: Report) -> None:
            results.record(student, digests[student], version, report)
            finished(student, report)

        client.wait(rq_queue, pending, exercise.id, on_done=done)
    finally:  # on Ctrl-C too: the jobs stay queued, and the same command attaches to them again
        shutil.rmtree(scratch, ignore_errors=True)
        write_outputs(out, exercise, results)
    return summary


def late_settings(exercise, due=None, policy=None):
    """(due, policy): the command line's, else the exercise's `[late] due = "…", policy = "…"`."""
    settings = {}
    if exercise is not None and (exercise.folder / "exercise.toml").is_file():
        import tomllib

        try:
            settings = tomllib.loads((exercise.folder / "exercise.toml").read_text()).get("late") or {}
        except (OSError, tomllib.TOMLDecodeError):
            settings = {}  # exercises.load has judged the file already
    if due is None and settings.get("due"):
        due = late.parse_time(settings["due"], f"{exercise.id}/exercise.toml [late] due")
    if policy is None and settings.get("policy"):
        policy = late.parse_policy(settings["policy"])
    return due, policy


def write_outputs(out: Path, exercise: exercises.Exercise, results: Results, due=None, policy=None) -> None:
    """gradebook.csv and the feedback files, from dockyard-state.json's reports (the single source)."""
    entries = results.reports(exercise, due, policy)
    item_ids: list[str] = []
    for report in entries.values():
        for item in report.items:
            if item.id not in item_ids:
                item_ids.append(item.id)
    with open(out / "gradebook.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "status", *item_ids, "note", "submitted_at", "late",
                         "score_before_late"])
        for student, report in entries.items():
            points = {item.id: item.points for item in report.items if item.reached}
            status = gradebook_status(report)
            note = "" if report.status == "graded" else (report.error or "")
            verdict = report.late or {}
            writer.writerow([student, report.score, report.max_score, status, *(points.get(i, "") for i in item_ids),
                             note, verdict.get("submitted_at", ""), verdict.get("note", ""),
                             verdict.get("score_before", "")])
    lesson_base = os.path.relpath(exercise.folder.parents[1] / "notebooks", out) + "/"
    try:
        (out / CLASS_FILE).write_text(classview.to_html(exercise.id, entries, lesson_base), encoding="utf-8")
    except Exception as error:  # the class view must never cost the gradebook or the feedback
        import sys

        print(f"dockyard: class.html not written: {type(error).__name__}: {str(error)[:160]}", file=sys.stderr)
    feedback_dir = out / "feedback"
    feedback_dir.mkdir(exist_ok=True)
    for student, report in entries.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in student)
        (feedback_dir / f"{safe}.md").write_text(feedback.markdown(report, student=student))
        (feedback_dir / f"{safe}.html").write_text(feedback.html(report, student=student))


def gradebook_status(report: Report) -> str:
    """graded | retry (the engine's trouble) | missing (no submission) | stopped (timed out or crashed midway:
    the finished items count, regrade it) | error (grading could not run)."""
    if report.retry:
        return "retry"
    if report.status == "error" and report.error == NO_SUBMISSION:
        return "missing"
    if report.status == "error" and report.not_reached:
        return "stopped"
    return report.status


LMS_FILE = "lms.csv"


def write_lms(out: Path, exercise_id: str, roster: list[dict], fmt: str = "canvas", due=None, policy=None):
    """lms.csv from dockyard-state.json's reports (the single source), keyed by the roster's LMS ids."""
    exercise = exercises.load(exercise_id)
    saved = Results(out, exercise.id, "", exercise.aliases)
    reports = saved.reports(exercise, due, policy)
    export = lms.build(roster, reports, exercise_id, fmt)
    lms.write(export, out / LMS_FILE)
    return export
