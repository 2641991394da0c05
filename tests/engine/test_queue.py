"""Grading on a real job queue: a real redis-server on a loopback port, real workers, each on its own dockerd.

Unit part (no engine): payloads are data, checked member by member; job ids are content.
Queue part: the class graded through two workers equals a local batch's gradebook; SIGKILL one
worker mid-class and the class still completes, equal, its job retried on the other worker, and
`dockyard clean` leaves 0 resources on either engine; a worker runs no function but grade_job;
Redis killed and restarted with AOF keeps queued and finished jobs.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from dockyard import batch
from dockyard.course import exercises
from dockyard.engine import gc as sandbox
from dockyard.errors import QueueUnreachable
from dockyard import queue as queues
from dockyard.queue import client, jobs
from tests.engines import ExtraEngine, load_image
from tests.redis_server import RedisServer
from tests.engine.test_batch import EXERCISE, ROOT, make_class, read_gradebook

DOCKYARD = [sys.executable, "-m", "dockyard"]
LIMITS = "ready_timeout_s=10"
BASE = "python:3.11-slim"
CLASS_SIZE = 12
# How long a worker has held a job when a test kills it (or its engine): well inside a grading, which takes
# ~1 s on a warm cache, so the kill lands mid-grading rather than racing the grading's end.
HELD_S = 0.3


# -- jobs as data (no engine, no Redis) ----------------------------------------------------------
def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return base64.b64encode(buffer.getvalue()).decode()


def member(name: str, kind=tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.fixture()
def folder(tmp_path):
    exercise = exercises.load(EXERCISE, ROOT)
    path = exercises.materialize(exercise, exercise.solution, tmp_path / "ada")
    (path / "link").symlink_to("Dockerfile")
    return path


def payload_of(folder: Path) -> jobs.Payload:
    exercise = exercises.load(EXERCISE, ROOT)
    return jobs.pack(folder, exercise=EXERCISE, rubric_version=batch.rubric_version(exercise), student="ada",
                     content_hash=batch.content_hash(folder))


def test_a_payload_goes_through_json_and_unpacks_to_the_same_content(folder, tmp_path):
    payload = payload_of(folder)
    data = json.loads(json.dumps(payload.to_data()))  # what RQ's JSON serializer stores
    checked = jobs.validate(data)
    assert checked == payload
    out = jobs.unpack(checked, tmp_path / "unpacked", batch.content_hash)
    assert batch.content_hash(out) == batch.content_hash(folder)
    assert os.readlink(out / "link") == "Dockerfile"
    assert payload.job_id == jobs.job_id(EXERCISE, payload.rubric_version, payload.content_hash)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", payload.job_id), "RQ's job id rule"
    assert payload_of(folder).job_id == payload.job_id, "the same content is the same job"
    (folder / "app.py").write_text("print('changed')\n")
    assert payload_of(folder).job_id != payload.job_id


@pytest.mark.parametrize("change, reason", [
    (lambda d: d.pop("student"), "missing student"),
    (lambda d: d.update(command="rm -rf /"), "unexpected command"),
    (lambda d: d.update(format=2), "format"),
    (lambda d: d.update(exercise="../../etc"), "exercise"),
    (lambda d: d.update(rubric_version="zz"), "rubric_version"),
    (lambda d: d.update(content_hash=7), "content_hash"),
    (lambda d: d.update(student="a\nb"), "student"),
    (lambda d: d.update(tarball="not base64!"), "not base64"),
    (lambda d: d.update(tarball=base64.b64encode(b"junk").decode()), "cannot be read"),
    (lambda d: d.update(tarball=tar_of((member("../escape"), b"x"))), "path leading out"),
    (lambda d: d.update(tarball=tar_of((member("/etc/passwd"), b"x"))), "path leading out"),
    (lambda d: d.update(tarball=tar_of((member("hard", tarfile.LNKTYPE, "Dockerfile"), None))), "not a file"),
    (lambda d: d.update(tarball=tar_of((member("dev", tarfile.CHRTYPE), None))), "not a file"),
    (lambda d: d.update(tarball=tar_of((member("out", tarfile.SYMTYPE, "/etc"), None), (member("out/x"), b"x"))),
     "through a symlink"),
    (lambda d: d.update(tarball=tar_of((member("a"), b"x"), (member("a"), b"y"))), "twice"),
])
def test_a_payload_that_is_not_what_a_worker_expects_is_refused_with_a_reason(folder, change, reason):
    data = payload_of(folder).to_data()
    change(data)
    with pytest.raises(jobs.PayloadRefused, match=reason):
        jobs.validate(data)
    with pytest.raises(jobs.PayloadRefused):
        jobs.validate([data])


def test_an_oversized_or_altered_submission_is_refused(folder, tmp_path, monkeypatch):
    payload = payload_of(folder)
    altered = jobs.validate({**payload.to_data(), "content_hash": "0" * 64})
    with pytest.raises(jobs.PayloadRefused, match="content hash"):
        jobs.unpack(altered, tmp_path / "x", batch.content_hash)
    monkeypatch.setattr(jobs, "MAX_UNPACKED_BYTES", 100)
    with pytest.raises(jobs.PayloadRefused, match="over"):
        payload_of(folder)
    with pytest.raises(jobs.PayloadRefused, match="over"):
        jobs.validate(payload.to_data())


def test_a_refused_payload_becomes_a_failed_report_never_a_retry(folder):
    from dockyard.queue import worker

    data = {**payload_of(folder).to_data(), "rubric_version": "0" * 16}
    report = worker.grade_job(data)
    assert report["status"] == "error" and not report["retry"] and "rubric version" in report["error"]
    assert "refused by the worker" in worker.grade_job({"exercise": EXERCISE})["error"]


def test_queue_urls_are_checked_and_never_printed_with_their_password():
    assert queues.redacted("rediss://grader:s3cret@redis.example:6380/0") == "rediss://grader:***@redis.example:6380/0"
    assert queues.redacted("redis://:s3cret@127.0.0.1:6379/1") == "redis://***@127.0.0.1:6379/1"
    assert queues.redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    for bad in ("", "http://127.0.0.1:6379", "127.0.0.1:6379"):
        with pytest.raises(queues.UsageError):
            queues.check_url(bad)
    with pytest.raises(queues.UsageError) as refused:
        queues.connect("redis://:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in refused.value.one_line()


# -- Redis alone ---------------------------------------------------------------------------------
@pytest.fixture()
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def burst_worker(url: str):
    from dockyard.queue import worker

    connection = queues.connect(url)
    cls = worker.worker_class()
    from rq.serializers import JSONSerializer

    instance = cls([queues.queue(connection)], connection=connection, serializer=JSONSerializer)
    instance.images = []  # preflight: engine, disk, firewall; no base image needed for these jobs
    return instance


def test_a_worker_runs_no_function_but_grade_job(redis_server):
    connection = queues.connect(redis_server.url)
    rq_queue = queues.queue(connection)
    evil = rq_queue.enqueue_call("os.system", args=("touch /tmp/dockyard-queue-pwned",), job_id="evil")
    burst_worker(redis_server.url).work(burst=True)
    evil.refresh()
    assert str(evil.get_status().value) == "failed"
    assert "runs only dockyard.queue.worker.grade_job" in client._last_line(evil)
    assert not Path("/tmp/dockyard-queue-pwned").exists()


def test_redis_restarted_with_aof_keeps_queued_and_finished_jobs(redis_server, folder):
    rq_queue = queues.queue(queues.connect(redis_server.url))
    stale = jobs.Payload(EXERCISE, "0" * 16, "1" * 64, "old", payload_of(folder).tarball)
    done = client.enqueue(rq_queue, stale, result_ttl=600)  # refused by the worker: a quick, final result
    burst_worker(redis_server.url).work(burst=True)
    waiting = client.enqueue(rq_queue, payload_of(folder), result_ttl=600)
    redis_server.restart()  # SIGKILL: only the append-only file survives
    rq_queue = queues.queue(queues.connect(redis_server.url))
    assert rq_queue.job_ids == [waiting.id]
    report = client.outcome(rq_queue.fetch_job(done.id), EXERCISE)
    assert report is not None and "rubric version" in report.error
    assert client.enqueue(rq_queue, payload_of(folder), result_ttl=600).id == waiting.id, "attached, not enqueued again"
    assert len(rq_queue) == 1


def test_a_class_enqueued_in_pipelines_attaches_replaces_and_keeps_as_one_at_a_time_does(redis_server, folder,
                                                                                        monkeypatch):
    """enqueue_many over chunks (3 here): a queued job is attached, a finished one kept (replaced with force),
    a failed one replaced; the jobs come back in the payloads' order."""
    monkeypatch.setattr(client, "ENQUEUE_CHUNK", 3)
    rq_queue = queues.queue(queues.connect(redis_server.url))
    base = payload_of(folder)
    class_of = [jobs.Payload(base.exercise, base.rubric_version, str(index) * 64, f"s{index}", base.tarball)
                for index in range(7)]
    queued = client.enqueue(rq_queue, class_of[1], result_ttl=600)
    finished = client.enqueue(rq_queue, class_of[4], result_ttl=600)
    failed = client.enqueue(rq_queue, class_of[5], result_ttl=600)
    for job, state in ((finished, "finished"), (failed, "failed")):
        rq_queue.remove(job.id)
        job.set_status(state)
    made = client.enqueue_many(rq_queue, class_of, result_ttl=600)
    assert [job.id for job in made] == [payload.job_id for payload in class_of]
    assert made[1].enqueued_at == queued.enqueued_at and made[4].get_status() == "finished"
    assert made[5].get_status() == "queued", "a job that failed for good is graded again"
    assert sorted(rq_queue.job_ids) == sorted(payload.job_id for index, payload in enumerate(class_of) if index != 4)
    again = client.enqueue_many(rq_queue, [class_of[4]], result_ttl=600, force=True)[0]
    assert again.get_status() == "queued", "force grades a finished job again"


def test_a_sender_rides_out_a_redis_restart_and_gets_its_report(redis_server, folder):
    """Redis killed and back 2 s later while `batch --queue` waits: the job lives on in the AOF, the wait goes on."""
    rq_queue = queues.queue(queues.connect(redis_server.url))
    job = client.enqueue(rq_queue, payload_of(folder), result_ttl=600)
    reports: dict = {}
    waiter = threading.Thread(target=lambda: reports.update(
        client.wait(rq_queue, [client.Pending("ada", job.id)], EXERCISE, budget_s=300)))
    waiter.start()
    time.sleep(1.0)  # the sender is polling
    redis_server.kill()
    time.sleep(2.0)  # it polls a dead server meanwhile
    redis_server.start()
    # a worker of its own process grades it on this host's engine (a worker forked from this test process
    # would inherit the forkserver state of gradings run here before: no real worker is forked that way)
    subprocess.run([sys.executable, "-c", "import sys; from dockyard.queue import worker; "
                    "worker.run_one(sys.argv[1], None, [], 600, burst=True)", redis_server.url],
                   check=True, capture_output=True, timeout=300)
    waiter.join(300)
    assert not waiter.is_alive()
    report = reports["ada"]
    assert report.status == "graded" and report.score == report.max_score > 0, report.error


def test_a_sender_gives_up_in_one_line_when_redis_stays_away(redis_server, folder, monkeypatch):
    rq_queue = queues.queue(queues.connect(redis_server.url))
    job = client.enqueue(rq_queue, payload_of(folder), result_ttl=600)
    monkeypatch.setattr(client, "OUTAGE_BUDGET_S", 1.0)
    redis_server.kill()
    started = time.monotonic()
    with pytest.raises(QueueUnreachable) as gone:
        client.wait(rq_queue, [client.Pending("ada", job.id)], EXERCISE, budget_s=60)
    assert time.monotonic() - started < 30
    line = gone.value.one_line()
    assert "stopped answering" in line and "run the same command again" in line and "\n" not in line


def test_a_worker_waits_for_redis_before_it_takes_a_job(redis_server, folder):
    """RQ retries its blocking pop, not the state it sets before it: the worker retries that too."""
    rq_queue = queues.queue(queues.connect(redis_server.url))
    queued = client.enqueue(rq_queue, payload_of(folder), result_ttl=600)
    worker = burst_worker(redis_server.url)
    redis_server.kill()
    taken: list = []
    dequeue = threading.Thread(target=lambda: taken.append(worker.dequeue_job_and_maintain_ttl(None)))
    dequeue.start()
    time.sleep(3.0)  # the worker meets a dead Redis, and retries
    assert dequeue.is_alive(), "the worker gave up on the queue instead of waiting for it"
    redis_server.start()
    dequeue.join(60)
    assert taken and taken[0] is not None and taken[0][0].id == queued.id


def test_a_worker_rides_out_a_redis_restart_and_takes_the_next_job(redis_server, folder, tmp_path):
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([*DOCKYARD, "worker", "--queue", redis_server.url, "--processes", "1", "--base-images", BASE],
                              stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Listening on" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text(errors="replace")[-2000:]
            time.sleep(0.3)
        redis_server.kill()
        time.sleep(8.0)  # the worker's blocking dequeue and its heartbeats lose the connection meanwhile
        redis_server.start()
        rq_queue = queues.queue(queues.connect(redis_server.url))
        job = client.enqueue(rq_queue, payload_of(folder), result_ttl=600)
        report = client.wait(rq_queue, [client.Pending("ada", job.id)], EXERCISE, budget_s=240).get("ada")
        assert worker.poll() is None, "the worker must outlive the outage: " + log.read_text(errors="replace")[-2000:]
        assert report is not None and report.status == "graded" and report.score == report.max_score, \
            log.read_text(errors="replace")[-2000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)


# -- a class through two workers on two engines ---------------------------------------------------
class Worker:
    def __init__(self, name: str, url: str, engine: ExtraEngine, folder: Path):
        self.name, self.url, self.engine, self.log = name, url, engine, folder / f"worker-{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        env = {**os.environ, "DOCKYARD_LIMITS": LIMITS}
        self.process = subprocess.Popen(
            [*DOCKYARD, "worker", "--queue", self.url, "--processes", "1", "--engine", self.engine.url,
             "--base-images", BASE], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill_tree(self) -> None:
        """As a host that dies: SIGKILL the worker, its work horse and the grading it runs, all at once."""
        root = psutil.Process(self.process.pid)
        tree = [root, *root.children(recursive=True)]
        for process in tree:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.kill_tree()


@pytest.fixture(scope="module")
def farm(tmp_path_factory, docker_client):
    folder = Path(os.environ["DOCKYARD_QUEUE_TEST_LOGS"]) if os.environ.get("DOCKYARD_QUEUE_TEST_LOGS") \
        else tmp_path_factory.mktemp("farm")  # the workers' logs (and Redis's): set it to keep them
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(folder / "redis").start()
    engines = []
    workers = []
    try:
        for name in ("qa", "qb"):
            extra = ExtraEngine(name, Path(f"/tmp/dockyard-engine-{name}")).start()
            engines.append(extra)
            load_image(docker_client, extra.url, BASE)
        workers = [Worker(name, server.url, extra, folder).start() for name, extra in zip(("a", "b"), engines)]
        yield server, workers, folder
    finally:
        for worker in workers:
            worker.stop()
        for extra in engines:
            extra.destroy()
        server.stop()


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A class of 12: test_batch's six (a solution, the starter, three mistakes, a zipped solution) and six
    more whose files differ by a comment, so each is a grading of its own (identical files share one job)."""
    folder = make_class(tmp_path_factory.mktemp("class"))
    for name, again in (("ada", "ada-again"), ("ada", "ada-third"), ("bob", "bob-again"), ("cy", "cy-again"),
                        ("dee", "dee-again"), ("eve", "eve-again")):
        copy = shutil.copytree(folder / name, folder / again)
        with open(copy / "Dockerfile", "a") as dockerfile:
            dockerfile.write(f"# {again}: handed in again\n")
    assert len(list(folder.iterdir())) == CLASS_SIZE
    return folder


@pytest.fixture(scope="module")
def local_gradebook(classroom, tmp_path_factory, docker_client):
    out = tmp_path_factory.mktemp("local")
    previous = os.environ.get("DOCKYARD_LIMITS")
    os.environ["DOCKYARD_LIMITS"] = LIMITS
    try:
        summary = batch.run_batch(EXERCISE, classroom, out, jobs=2)
    finally:
        os.environ.pop("DOCKYARD_LIMITS") if previous is None else os.environ.update(DOCKYARD_LIMITS=previous)
    assert summary.graded == CLASS_SIZE
    return read_gradebook(out)


def test_class_through_the_queue_equals_a_local_batch(farm, classroom, local_gradebook, tmp_path):
    server, workers, _ = farm
    out = tmp_path / "queued"
    result = subprocess.run([*DOCKYARD, "batch", EXERCISE, str(classroom), "--queue", server.url, "--out", str(out)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert f"{CLASS_SIZE} graded" in result.stdout, result.stdout
    assert read_gradebook(out) == local_gradebook
    assert (out / "gradebook.csv").read_text().count("\n") == CLASS_SIZE + 1
    assert sorted(p.name for p in (out / "feedback").iterdir()) == sorted(
        f"{s}.{ext}" for s in local_gradebook for ext in ("md", "html"))
    graded_by = [worker.text().count("grading 03-first-image for") for worker in workers]
    assert all(graded_by), f"both workers must have graded someone: {graded_by}"

    again = subprocess.run([*DOCKYARD, "batch", EXERCISE, str(classroom), "--queue", server.url, "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"{CLASS_SIZE} unchanged" in again.stdout, again.stdout


def test_a_worker_killed_mid_class_loses_nothing(farm, classroom, local_gradebook, tmp_path):
    server, (victim, survivor), _ = farm
    out = tmp_path / "killed"
    command = [*DOCKYARD, "batch", EXERCISE, str(classroom), "--queue", server.url, "--out", str(out), "--force"]
    sender = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rq_queue = queues.queue(queues.connect(server.url))
    taken = hold_a_job(rq_queue, victim, sender)  # kill it in the middle of that grading
    victim.kill_tree()
    stdout, stderr = sender.communicate(timeout=900)
    assert sender.returncode == 0, stderr
    assert f"{CLASS_SIZE} graded" in stdout and "0 to retry" in stdout, stdout
    assert read_gradebook(out) == local_gradebook, "the class is complete and equal"

    job = rq_queue.fetch_job(taken)
    assert str(job.get_status().value) == "finished"
    assert job.retries_left == client.RETRIES - 1, "the killed worker's job was retried once"
    assert job.worker_name == worker_name(survivor) and f"({taken})" in survivor.text(), "graded by the other worker"
    print(f"killed worker's job {taken}: retried, finished on the survivor; retries left {job.retries_left}")

    victim.start()  # its next start sweeps what its dead grading left
    deadline = time.monotonic() + 120
    while "Listening on" not in victim.text().rsplit("worker on", 1)[-1]:
        assert time.monotonic() < deadline, victim.text()[-2000:]
        time.sleep(0.5)
    for extra in (victim.engine, survivor.engine):
        cleaned = subprocess.run([*DOCKYARD, "clean", "--engine", extra.url], capture_output=True, text=True, timeout=300)
        assert cleaned.returncode == 0, cleaned.stderr
        assert sandbox.leftovers(extra.url, orphaned_only=True) == dict.fromkeys(sandbox.KINDS, 0), extra.name


def graded_so_far(state: Path) -> int:
    try:
        return len(json.loads(state.read_text()).get("results") or {})
    except (OSError, ValueError):  # not written yet, or caught mid-write
        return 0


def test_redis_restarted_mid_class_loses_nothing(farm, classroom, local_gradebook, tmp_path):
    server, workers, _ = farm
    out = tmp_path / "redis-restarted"
    command = [*DOCKYARD, "batch", EXERCISE, str(classroom), "--queue", server.url, "--out", str(out), "--force"]
    sender = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = out / batch.STATE_FILE  # written after each grading: some graded, the rest queued or in hand
    deadline = time.monotonic() + 300
    while graded_so_far(state) < 2:
        assert time.monotonic() < deadline and sender.poll() is None, sender.poll() is not None and sender.communicate()
        time.sleep(0.2)
    server.kill()  # as a crash: only the append-only file keeps the jobs
    time.sleep(3.0)
    server.start()
    stdout, stderr = sender.communicate(timeout=900)
    assert sender.returncode == 0, stderr
    assert f"{CLASS_SIZE} graded" in stdout and "0 to retry" in stdout, stdout
    assert "the queue stopped answering" in stderr and "answers again" in stderr, stderr
    assert read_gradebook(out) == local_gradebook, "the class is complete and equal"
    assert all(worker.process.poll() is None for worker in workers), "both workers outlived the outage"


def worker_name(worker: Worker) -> str:
    names = re.findall(r"Worker (\w+): started with PID", worker.text())
    assert names, worker.text()[-2000:]
    return names[-1]


def hold_a_job(rq_queue, worker: Worker, sender: subprocess.Popen, held_s: float = HELD_S) -> str:
    """The id of a job `worker` has been grading for `held_s` seconds (waits for one): in the middle of it."""
    name = worker_name(worker)
    deadline = time.monotonic() + 300
    while True:
        assert time.monotonic() < deadline and sender.poll() is None, \
            f"{worker.name} never held a job long enough: {sender.poll() is not None and sender.communicate()}"
        for job_id in rq_queue.started_job_registry.get_job_ids():
            job = rq_queue.fetch_job(job_id.split(":")[0])
            if job is not None and job.worker_name == name and job.started_at and \
                    (time.time() - job.started_at.timestamp()) > held_s and str(job.get_status().value) == "started":
                return job.id
        time.sleep(0.1)


def test_an_engine_stopped_mid_class_sends_its_job_to_the_other_worker(farm, classroom, local_gradebook, tmp_path):
    server, (sick, healthy), _ = farm
    out = tmp_path / "engine-stopped"
    command = [*DOCKYARD, "batch", EXERCISE, str(classroom), "--queue", server.url, "--out", str(out), "--force"]
    sender = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rq_queue = queues.queue(queues.connect(server.url))
    taken = hold_a_job(rq_queue, sick, sender)
    sick.engine.stop()
    try:
        stdout, stderr = sender.communicate(timeout=900)
        assert sender.returncode == 0, stderr
        assert f"{CLASS_SIZE} graded" in stdout and "0 to retry" in stdout, stdout
        assert read_gradebook(out) == local_gradebook
        job = rq_queue.fetch_job(taken)
        assert str(job.get_status().value) == "finished"
        if job.meta.get("engine_error"):  # else its grading was over before the engine went (nothing to retry)
            assert job.retries_left < client.RETRIES and job.worker_name == worker_name(healthy), "retried elsewhere"
        retried = [job for job in (rq_queue.fetch_job(i) for i in rq_queue.finished_job_registry.get_job_ids())
                   if job is not None and job.retries_left < client.RETRIES]
        assert all(job.worker_name == worker_name(healthy) for job in retried), "an engine error is graded elsewhere"
        print(f"jobs retried after an engine error, all finished by the healthy worker: {[j.id for j in retried]}")
        print(f"job {taken} held by the worker whose engine stopped: engine error {bool(job.meta.get('engine_error'))}, "
              f"retries left {job.retries_left}, finished by {'the healthy worker' if job.worker_name == worker_name(healthy) else 'itself'}")
        assert "unhealthy, taking no jobs" in sick.text() and "does not answer" in sick.text()
    finally:
        for attempt in range(4):  # a dockerd started right after its predecessor may panic on the old state
            try:
                sick.engine.restart()
                break
            except RuntimeError:
                if attempt == 3:
                    raise
                time.sleep(10)
    deadline = time.monotonic() + 120
    while "healthy again, taking jobs" not in sick.text():
        assert time.monotonic() < deadline, sick.text()[-2000:]
        time.sleep(0.5)
    for extra in (sick.engine, healthy.engine):
        subprocess.run([*DOCKYARD, "clean", "--engine", extra.url], capture_output=True, text=True, timeout=300)
        assert sandbox.leftovers(extra.url, orphaned_only=True) == dict.fromkeys(sandbox.KINDS, 0), extra.name
