"""Benchmark the queue's own cost: RQ on a real redis-server, with a no-op grading function.

Run by hand, not by the test suite (needs redis-server: scripts/ensure-redis):

    .venv/bin/python benchmarks/bench_queue.py                 # 1, 4 and 16 worker processes
    .venv/bin/python benchmarks/bench_queue.py --processes 1 4 16 32 --jobs 2000

What it measures, with Dockyard's own worker class (fork per job, JSON serializer, the payload
check of grade_job's first step) and only the grading itself replaced by a no-op:
- latency: one job at a time, enqueue to finished, as `dockyard grade --queue` sees it;
- throughput: --jobs jobs enqueued, then drained by N worker processes (jobs per second);
- enqueue: 10,000 jobs through a class's path (client.enqueue_many, as `dockyard batch --queue`: look the
  jobs up, then enqueue the new ones, in pipelines), and a tenth as many one at a time (client.enqueue,
  as `dockyard grade --queue`);
and prints the class size (gradings per hour) the measured throughput could serve, and the
queue's cost per grading. Targets (issue 15): under 50 ms per grading; 10,000 jobs enqueued in under 10 s.
Redis runs on 127.0.0.1 and a free port, in a temporary folder, and is stopped at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

TARGET_PER_JOB_MS = 50.0
TARGET_ENQUEUE_10K_S = 10.0
NOOP = "benchmarks.bench_queue.noop_grade"


def noop_grade(payload) -> dict:
    """grade_job's checks on the payload, then a no-op in place of the grading."""
    from dockyard.queue import jobs
    from dockyard.report.model import Report

    checked = jobs.validate(payload)
    return Report.failed(checked.exercise, "no-op").to_dict()


def run_workers(url: str, count: int) -> None:
    """In a worker subprocess: Dockyard's worker class, allowed to run the no-op, preflight off."""
    from rq.serializers import JSONSerializer

    from dockyard import queue as queues
    from dockyard.queue import jobs, worker

    jobs.GRADE_FUNCTION = NOOP
    worker.preflight = lambda *args, **kwargs: []
    worker._warm_imports()  # as run_one does
    connection = queues.connect(url)
    cls = worker.worker_class()
    instance = cls([queues.queue(connection)], connection=connection, serializer=JSONSerializer,
                   job_monitoring_interval=worker.MONITOR_INTERVAL_S, maintenance_interval=worker.MAINTENANCE_S,
                   worker_ttl=worker.WORKER_TTL_S)
    instance.work(burst=False, logging_level="WARNING")


def payload(index: int):
    import hashlib

    from dockyard.queue import jobs

    digest = hashlib.sha256(f"bench-{index}-{time.time_ns()}".encode()).hexdigest()
    return jobs.Payload("03-first-image", "0" * 16, digest, f"learner{index}", TARBALL)


def small_tarball() -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"FROM python:3.11-slim\nCOPY app.py .\nCMD [\"python\", \"app.py\"]\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


TARBALL = small_tarball()


def enqueue_noop(rq_queue, item, result_ttl: int = 600):
    from rq.job import Retry

    return rq_queue.enqueue_call(NOOP, args=(item.to_data(),), job_id=item.job_id, result_ttl=result_ttl,
                                 retry=Retry(max=2))


def wait_all(rq_queue, ids: list[str], timeout_s: float = 600) -> None:
    from rq.job import Job

    deadline = time.monotonic() + timeout_s
    left = list(ids)
    while left:
        statuses = Job.fetch_many(left, connection=rq_queue.connection, serializer=rq_queue.serializer)
        left = [job_id for job_id, job in zip(left, statuses) if job is None or job.get_status(refresh=False).value
                not in ("finished", "failed")]
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(left)} jobs not done within {timeout_s} s")
        if left:
            time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--jobs", type=int, default=300, help="jobs per throughput run (default: 300)")
    parser.add_argument("--enqueue", type=int, default=10_000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_workers(args.worker, 1)
        return 0

    from tests.redis_server import RedisServer

    from dockyard import queue as queues
    from dockyard.queue import client

    folder = Path(tempfile.mkdtemp(prefix="dockyard-bench-queue-"))
    server = RedisServer(folder, appendonly=False).start()
    rows = []
    try:
        rq_queue = queues.queue(queues.connect(server.url))
        for count in args.processes:
            workers = [subprocess.Popen([sys.executable, __file__, "--worker", server.url], cwd=ROOT)
                       for _ in range(count)]
            try:
                warm = [enqueue_noop(rq_queue, payload(-i)).id for i in range(count * 2)]
                wait_all(rq_queue, warm)  # every worker up and listening
                latencies = []
                for index in range(20):
                    started = time.perf_counter()
                    job = enqueue_noop(rq_queue, payload(index))
                    wait_all(rq_queue, [job.id])
                    latencies.append(time.perf_counter() - started)
                latencies.sort()
                ids = []
                started = time.perf_counter()
                for index in range(args.jobs):
                    ids.append(enqueue_noop(rq_queue, payload(index)).id)
                wait_all(rq_queue, ids)
                elapsed = time.perf_counter() - started
                rows.append((count, latencies[len(latencies) // 2] * 1000, args.jobs / elapsed))
                print(f"{count:>3} worker process(es): median enqueue→finished {rows[-1][1]:.1f} ms, "
                      f"{rows[-1][2]:.0f} jobs/s", flush=True)
            finally:
                for process in workers:
                    process.terminate()
                for process in workers:
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
            rq_queue.connection.flushdb()

        started = time.perf_counter()  # a class's path (dockyard batch --queue): look up and enqueue in pipelines
        client.enqueue_many(rq_queue, [payload(index) for index in range(args.enqueue)], result_ttl=600)
        enqueue_s = time.perf_counter() - started
        rq_queue.connection.flushdb()
        one_by_one = max(1, args.enqueue // 10)
        started = time.perf_counter()  # one grading's path (dockyard grade --queue): one job, two round trips
        for index in range(one_by_one):
            client.enqueue(rq_queue, payload(index), result_ttl=600)
        single_ms = (time.perf_counter() - started) * 1000 / one_by_one
        rq_queue.connection.flushdb()
    finally:
        server.stop()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    print()
    print("| worker processes | queue cost per job (enqueue→finished, median) | jobs/s | gradings/hour the queue allows |")
    print("|---:|---:|---:|---:|")
    for count, latency_ms, rate in rows:
        print(f"| {count} | {latency_ms:.1f} ms | {rate:.0f} | {rate * 3600:,.0f} |")
    print(f"\nenqueue {args.enqueue:,} jobs (a class's path: look up, then enqueue, in pipelines): {enqueue_s:.2f} s "
          f"({args.enqueue / enqueue_s:,.0f}/s)")
    print(f"enqueue one at a time (one grading's path), {one_by_one:,} jobs: {single_ms:.2f} ms per job")
    worst = max(latency for _, latency, _ in rows)
    print(f"target: under {TARGET_PER_JOB_MS:g} ms per grading: {'met' if worst < TARGET_PER_JOB_MS else 'MISSED'} "
          f"(worst median {worst:.1f} ms); 10,000 enqueued in under {TARGET_ENQUEUE_10K_S:g} s: "
          f"{'met' if enqueue_s * 10_000 / args.enqueue < TARGET_ENQUEUE_10K_S else 'MISSED'}")
    print("a real grading takes 2-30 s of engine time: with the queue's cost this small, a class is bounded by "
          "the Docker hosts (about cores / grading-seconds per host), not by the queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
