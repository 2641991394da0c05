"""The sender's side: enqueue submissions, attach to their jobs, turn finished jobs into Reports.

A job's id is its content (jobs.job_id: exercise, rubric version, content hash), so a batch that
is killed and started again finds the jobs it enqueued (queued, in progress or finished) and waits
for those instead of enqueuing them again; an unchanged submission whose job finished is not
graded again; two identical submissions share one grading.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from dockyard import queue as queues
from dockyard.errors import QueueUnreachable
from dockyard.polling import wait_until
from dockyard.queue import first_line, jobs
from dockyard.report.model import Report

RETRIES = 2  # an engine error or a dead worker: the job runs at most 1 + RETRIES times
POLL_S = 0.5
OUTAGE_BUDGET_S = 120.0  # a Redis restart (AOF replay) is ridden out; past this the sender gives up, jobs kept
log = logging.getLogger("dockyard.queue")
FINAL_FAILED = ("failed", "stopped", "canceled")


@dataclass
class Pending:
    key: str  # the caller's name for it (a student)
    job_id: str


ENQUEUE_CHUNK = 500  # jobs per Redis round trip: a class of thousands is a few pipelines, not thousands of calls


def enqueue(rq_queue, payload: jobs.Payload, *, result_ttl: int, force: bool = False):
    """The payload's job: see `enqueue_many`."""
    return enqueue_many(rq_queue, [payload], result_ttl=result_ttl, force=force)[0]


def enqueue_many(rq_queue, payloads: list[jobs.Payload], *, result_ttl: int, force: bool = False) -> list:
    """Each payload's job, in order: the existing one (attach) unless it failed for good, or `force` and it
    is over (a job queued or in progress is a fresh grading already: attach to it even with `force`); else a
    new one. Looked up and enqueued in pipelines of ENQUEUE_CHUNK, so a class costs a few round trips."""
    from rq.job import Job

    found: list = []
    for start in range(0, len(payloads), ENQUEUE_CHUNK):
        chunk = payloads[start:start + ENQUEUE_CHUNK]
        existing = Job.fetch_many([payload.job_id for payload in chunk], connection=rq_queue.connection,
                                  serializer=rq_queue.serializer)
        found.extend(_attach_or_enqueue(rq_queue, chunk, existing, result_ttl=result_ttl, force=force))
    return found


def _attach_or_enqueue(rq_queue, payloads: list[jobs.Payload], existing: list, *, result_ttl: int, force: bool) -> list:
    from rq.job import Retry

    chosen: list = [None] * len(payloads)
    fresh: list[int] = []
    for index, job in enumerate(existing):
        if job is not None:
            status = job.get_status(refresh=False)
            status = str(getattr(status, "value", status)) if status is not None else None
            if status is not None and status not in FINAL_FAILED and not (force and status == "finished"):
                chosen[index] = job
                continue
            try:
                job.delete()
            except Exception:  # RQ cannot tidy a job whose execution was abandoned (its worker died): drop the hash
                rq_queue.connection.delete(job.key)
        fresh.append(index)
    if fresh:
        made = rq_queue.enqueue_many([
            rq_queue.prepare_data(jobs.GRADE_FUNCTION, args=(payloads[index].to_data(),),
                                  job_id=payloads[index].job_id, timeout=3600, result_ttl=result_ttl,
                                  failure_ttl=result_ttl, retry=Retry(max=RETRIES),
                                  description=f"{payloads[index].exercise} for {payloads[index].student}")
            for index in fresh])
        for index, job in zip(fresh, made):
            chosen[index] = job
    return chosen


def outcome(job, exercise_id: str, *, fresh: bool = False) -> Report | None:
    """The job's Report once it is final (finished, or failed with no retry left), else None.
    `fresh`: the job was just fetched, so its status need not be read again."""
    status = job.get_status(refresh=not fresh)
    status = str(getattr(status, "value", status))
    if status == "finished":
        result = job.return_value(refresh=True)
        if isinstance(result, dict):
            try:
                return Report.from_dict(result)
            except (TypeError, ValueError):
                pass
        return Report.failed(exercise_id, "the worker returned something that is not a Report", retry=True)
    if status in FINAL_FAILED:
        reason = _last_line(job)
        return Report.failed(exercise_id, f"the queue could not grade it after {RETRIES + 1} tries: {reason}", retry=True)
    return None


def _last_line(job) -> str:
    try:
        latest = job.latest_result()
        text = (latest.exc_string if latest is not None else None) or job.exc_info or ""
    except Exception:
        text = job.exc_info or ""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no reason given"


def wait(rq_queue, pending: list[Pending], exercise_id: str, *, budget_s: float | None = None, on_done=None) -> dict:
    """Poll the jobs until each is final (or the budget is spent); `on_done(key, report)` as each ends."""
    from rq.job import Job

    import redis

    left = {item.key: item for item in pending}
    reports: dict[str, Report] = {}
    outage_since: list[float] = []  # when Redis stopped answering (empty: it answers)

    def all_final() -> bool:
        try:
            waiting = list(left.items())
            for start in range(0, len(waiting), ENQUEUE_CHUNK):  # a class's jobs in a few round trips per poll
                chunk = waiting[start:start + ENQUEUE_CHUNK]
                fetched = Job.fetch_many([item.job_id for _, item in chunk], connection=rq_queue.connection,
                                         serializer=rq_queue.serializer)
                for (key, item), job in zip(chunk, fetched):
                    if job is None:  # expired or deleted under us: say so rather than wait for ever
                        report = Report.failed(exercise_id, f"job {item.job_id} is gone from the queue", retry=True)
                    else:
                        report = outcome(job, exercise_id, fresh=True)
                    if report is not None:
                        reports[key] = report
                        del left[key]
                        if on_done:
                            on_done(key, report)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            # Redis restarting (or replaying its append-only file): the jobs live on in it, so wait for it
            now = time.monotonic()
            if not outage_since:
                outage_since.append(now)
                log.warning("the queue stopped answering (%s); waiting up to %.0f s for it", first_line(exc),
                            OUTAGE_BUDGET_S)
            elif now - outage_since[0] > OUTAGE_BUDGET_S:
                raise QueueUnreachable(f"the grading queue stopped answering {now - outage_since[0]:.0f} s ago "
                                       f"({first_line(exc)})",
                                       hint="the jobs stay queued: run the same command again to attach to them") from None
            return False
        if outage_since:
            log.warning("the queue answers again after %.0f s; waiting for %d job(s)",
                        time.monotonic() - outage_since.pop(), len(left))
        return not left

    wait_until(all_final, budget_s, POLL_S)  # time up: the jobs still out are not in `reports`
    return reports



def submit_one(url: str, exercise_id: str, folder: Path, *, rubric_version: str, content_hash: str, budget_s: float,
               result_ttl: int, force: bool = False) -> Report:
    """`dockyard grade --queue`: one job, waited for within the budget (the caller hashes: batch.content_hash)."""
    try:
        payload = jobs.pack(folder, exercise=exercise_id, rubric_version=rubric_version,
                            student=Path(folder).name or "submission", content_hash=content_hash)
    except jobs.PayloadRefused as refusal:
        return Report.failed(exercise_id, str(refusal))
    rq_queue = queues.queue(queues.connect(url))
    job = enqueue(rq_queue, payload, result_ttl=result_ttl, force=force)
    reports = wait(rq_queue, [Pending("one", job.id)], exercise_id, budget_s=budget_s)
    if "one" in reports:
        return reports["one"]
    return Report.failed(exercise_id, f"no worker finished it within {budget_s:g} s (job {job.id} stays queued; "
                                      "run the same command again to wait for it)", retry=True)
