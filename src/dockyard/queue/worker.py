"""`dockyard worker --queue redis://…`: grade queued submissions with this host's own engine.

One RQ worker per process (`--processes N` supervises N of them). Each takes a job only while its
engine is healthy (preflight: the engine answers, the base images are present, the disk has room,
the egress firewall is in place), checked before the first job, every PREFLIGHT_EVERY_S, and again
after any grading that ended in an engine error; an unhealthy worker logs why, takes nothing, and
resumes by itself when the engine is back. It runs nothing but `grade_job` (a job naming any other
function is failed with a logged reason), and `grade_job` checks the payload (jobs.validate) before
it uses any of it.

Faults: a learner's own fault is a graded Report, returned as the result and never retried. An
engine error raises EngineTrouble, so RQ retries the job (bounded, `Retry(max=…)` set by the
sender) and this worker re-checks its engine before it takes another. A worker that dies (SIGKILL,
the host gone) stops renewing its lease on the job (RQ's execution heartbeat, LEASE_S); a live
worker's maintenance then finds the job abandoned and requeues it while it has retries left. The
dead worker's engine leftovers are swept when it starts again (its gradings' owner is dead), and
by `dockyard clean` on its host.

Redis restarting (its jobs kept in its append-only file) is ridden out: an idle worker waits for it,
a little longer each time, and goes on; should RQ's loop end on a lost connection all the same, the
worker starts a fresh RQ worker once Redis answers. Only SIGTERM/SIGINT end it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockyard import baseimages, batch, engine, scratch
from dockyard import queue as queues
from dockyard.course import exercises
from dockyard.engine import firewall
from dockyard.engine import gc
from dockyard.errors import ExitStatus
from dockyard.polling import wait_until
from dockyard.queue import first_line, jobs
from dockyard.report.model import Report
from dockyard.rubric import child, runner

log = logging.getLogger("dockyard.worker")

MONITOR_INTERVAL_S = 5  # how often a busy worker renews its lease on the job it grades
LEASE_S = 25  # a job whose lease is not renewed for this long is abandoned (its worker died)
MAINTENANCE_S = 10  # how often an idle worker looks for abandoned jobs
WORKER_TTL_S = 20  # an idle worker's registration lives this long between heartbeats (dequeue waits ttl-15 s)
PREFLIGHT_EVERY_S = 60.0
UNHEALTHY_RETRY_S = 5.0
REDIS_RETRY_MAX_S = 30.0  # the longest pause between two tries while Redis does not answer
JOB_TIMEOUT_S = 3600  # RQ's own bound; runner.grade enforces the exercise's tighter one


class EngineTrouble(RuntimeError):
    """The engine failed the grading (not the learner): RQ retries the job, on another worker if this one is sick."""


def _report_failed(payload_exercise: str, error: str) -> dict:
    return Report.failed(payload_exercise, error).to_dict()


def grade_job(payload) -> dict:
    """THE job function: validate the payload, unpack it, grade it with the local engine, return the Report's dict."""
    exercise_hint = payload.get("exercise") if isinstance(payload, dict) and isinstance(payload.get("exercise"), str) else "unknown"
    try:
        checked = jobs.validate(payload)
        exercise = exercises.load(checked.exercise)
        if batch.rubric_version(exercise) != checked.rubric_version:
            raise jobs.PayloadRefused(f"rubric version {checked.rubric_version} is not this worker's "
                                      f"({batch.rubric_version(exercise)}): update Dockyard on this host or the sender")
    except jobs.PayloadRefused as refusal:
        log.warning("refused a job: %s", refusal)
        return _report_failed(exercise_hint[:64], f"refused by the worker: {refusal}")
    except Exception as exc:  # an unknown exercise and the like: the payload is not for this course
        log.warning("refused a job: %s", exc)
        return _report_failed(exercise_hint[:64], f"refused by the worker: {type(exc).__name__}: {str(exc)[:200]}")
    engine.client.cache_clear()  # never reuse a connection inherited from the worker's own process
    _flag_engine_error(False)  # a retried job: its last try's engine error was another worker's
    scratch_root = Path(tempfile.mkdtemp(prefix=_scratch_prefix()))
    try:
        try:
            folder = jobs.unpack(checked, scratch_root / "submission", batch.content_hash)
        except jobs.PayloadRefused as refusal:
            log.warning("refused a job for %s: %s", checked.student, refusal)
            return _report_failed(checked.exercise, f"refused by the worker: {refusal}")
        log.info("grading %s for %s", checked.exercise, checked.student)
        try:
            report = runner.grade(checked.exercise, folder, engine_url=os.environ.get("DOCKYARD_WORKER_ENGINE") or None)
        except Exception as exc:  # EngineUnavailable before the grading started
            _flag_engine_error()
            raise EngineTrouble(f"the engine could not grade: {exc}") from None
        finally:
            child.stop_forkserver()
        if report.retry:
            _flag_engine_error()
            raise EngineTrouble(f"engine error: {report.error}")
        return report.to_dict()
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)


def _scratch_prefix() -> str:
    return scratch.prefix("queue")


def _flag_engine_error(flag: bool = True) -> None:
    """Tell the worker (our parent: we run in RQ's work horse) to preflight before its next job."""
    try:
        from rq import get_current_job

        job = get_current_job()
        if job is not None and bool(job.meta.get("engine_error")) != flag:
            job.meta["engine_error"] = flag
            job.save_meta()
    except Exception:
        pass


# -- preflight ------------------------------------------------------------------------------------
def preflight(engine_url: str | None, images: list[str] | None = None) -> list[str]:
    """What keeps this host from grading now (empty: healthy). A fresh client: never a cached, dead one."""
    import docker

    url = engine.engine_url(engine_url)
    try:
        client = docker.DockerClient(base_url=url, timeout=20, version="auto")
        client.ping()
    except Exception as exc:
        return [f"the engine at {url} does not answer ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"]
    problems: list[str] = []
    try:
        wanted = images if images is not None else baseimages.course_images()
        missing = [image for image in wanted if not _exists(client, image)]
        if missing:
            problems.append("base images missing: " + ", ".join(missing) + " (run `dockyard images`)")
        engine._DATA_ROOTS.pop(client.api.base_url, None)
        free = engine.free_bytes_on_data_root(client)
        if free is not None and free[0] < engine.MIN_FREE_BYTES:
            problems.append(f"only {free[0] / 2**30:.1f} GiB free on {free[1]} (needs {engine.MIN_FREE_BYTES / 2**30:.0f})")
    except Exception as exc:
        problems.append(f"the engine failed a check: {str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}")
    finally:
        client.close()
    if not (firewall.ensure() and firewall.active()):
        problems.append("the egress firewall is not in place (run the worker as root on the engine's host)")
    return problems


def _exists(client, image: str) -> bool:
    """The image is on this engine (pulled, loaded or a stand-in of any recipe: `dockyard images` refreshes those)."""
    import docker.errors

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


# -- the RQ worker ----------------------------------------------------------------------------------
def worker_class():
    from rq import Worker

    class GradingWorker(Worker):
        """RQ's forking worker that runs only grade_job, and only while its engine is healthy."""

        engine_url: str | None = None
        images: list[str] | None = None
        _healthy_until = 0.0
        _was_unhealthy = False

        def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
            return LEASE_S  # RQ's default adds 60 s: a dead worker's job would wait over a minute

        stopping = False  # SIGTERM/SIGINT came: RQ's loop ending is then the end, not an outage

        def request_stop(self, signum, frame):
            self.stopping = True
            super().request_stop(signum, frame)

        def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
            import redis

            self.wait_until_healthy()
            dequeue = super().dequeue_job_and_maintain_ttl

            def attempt():
                try:
                    return ("dequeued", dequeue(timeout, max_idle_time))
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                    # RQ retries a lost blocking pop itself, but not the state it sets before it
                    if self.stopping or self._stop_requested:
                        return ("stopping", None)
                    log.warning("worker %s: the queue does not answer (%s); trying again", self.name, first_line(exc))
                    return None

            return wait_until(attempt, None, 1.0, backoff=2.0, max_interval_s=REDIS_RETRY_MAX_S)[1]

        def wait_until_healthy(self) -> None:
            if time.monotonic() < self._healthy_until:
                return  # checked less than PREFLIGHT_EVERY_S ago
            wait_until(self._healthy_or_stopping, None, UNHEALTHY_RETRY_S)

        def _healthy_or_stopping(self) -> bool:
            """One preflight: True when healthy (or asked to stop); else say so, keep the heartbeat, wait again."""
            if self._stop_requested:
                return True
            problems = preflight(self.engine_url, self.images)
            if not problems:
                if self._was_unhealthy:
                    log.warning("worker %s: healthy again, taking jobs", self.name)
                self._was_unhealthy = False
                self._healthy_until = time.monotonic() + PREFLIGHT_EVERY_S
                return True
            log.error("worker %s: unhealthy, taking no jobs: %s", self.name, "; ".join(problems))
            self._was_unhealthy = True
            self.heartbeat()
            if self.should_run_maintenance_tasks:  # a sick worker still requeues others' abandoned jobs
                self.run_maintenance_tasks()
            return False

        def execute_job(self, job, queue):
            try:
                name = job.func_name
            except Exception as exc:  # data that does not even decode as a job
                name = f"<undecodable: {type(exc).__name__}>"
            if name != jobs.GRADE_FUNCTION:
                reason = f"refused: this worker runs only {jobs.GRADE_FUNCTION}, not {name[:120]}"
                log.warning("worker %s: job %s %s", self.name, job.id, reason)
                job.retries_left = 0
                self.handle_job_failure(job, queue=queue, exc_string=reason)
                return
            super().execute_job(job, queue)
            try:
                job.refresh()
                if job.meta.get("engine_error"):
                    log.warning("worker %s: job %s met an engine error; checking the engine before the next job",
                                self.name, job.id)
                    self._healthy_until = 0.0
            except Exception:
                self._healthy_until = 0.0

    return GradingWorker


def _warm_imports() -> None:
    """Import once, here, what every grading needs and this module does not import at its top (the docker SDK,
    heavy): RQ forks a work horse per job, which then inherits it instead of importing it again (tens of ms a job)."""
    import docker  # noqa: F401


def run_one(url: str, engine_url: str | None, images: list[str] | None, result_ttl: int, burst: bool = False) -> int:
    """One RQ worker in this process, until SIGTERM/SIGINT (RQ's warm shutdown: the job in hand finishes)."""
    from rq.serializers import JSONSerializer

    import redis

    connection = queues.connect(url)
    _warm_imports()
    cls = worker_class()
    while True:
        worker = cls([queues.queue(connection)], connection=connection, serializer=JSONSerializer,
                     default_result_ttl=result_ttl, job_monitoring_interval=MONITOR_INTERVAL_S,
                     maintenance_interval=MAINTENANCE_S, worker_ttl=WORKER_TTL_S)
        worker.engine_url = engine_url
        worker.images = images
        try:
            worker.work(burst=burst, logging_level="INFO", with_scheduler=False)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            log.warning("worker %s: lost the queue (%s)", worker.name, first_line(exc))
        if burst or worker.stopping:
            return 0
        # RQ's loop ends on an error it does not retry (a lost connection mid-heartbeat): start again once Redis is back
        log.warning("worker %s: RQ stopped without being asked; starting a fresh worker once the queue answers",
                    worker.name)
        _wait_for_redis(connection)


def _wait_for_redis(connection) -> None:
    """Until Redis answers; SIGTERM/SIGINT meanwhile end the process at once (no job is in hand)."""
    import redis

    def leave(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    def answers() -> bool | None:
        try:
            return connection.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return None

    wait_until(answers, None, 1.0, backoff=2.0, max_interval_s=REDIS_RETRY_MAX_S)



def sweep_leftovers(engine_url: str | None) -> None:
    """What dead gradings on this host left: engine resources whose owner died, and their scratch folders."""
    try:
        removed = gc.sweep(engine_url)
        folders = scratch.sweep()
        if any(removed.values()) or folders:
            log.warning("swept what dead gradings left: %s, %d scratch folder(s)",
                        ", ".join(f"{n} {k}(s)" for k, n in removed.items() if n) or "no engine resources", folders)
    except Exception as exc:
        log.warning("could not sweep leftovers yet (%s); the next start or `dockyard clean` will", exc)


def command(args, env) -> int:
    """`dockyard worker`: sweep, then run --processes workers (supervised: one that dies is started again)."""
    logging.basicConfig(level=logging.INFO, stream=env.stderr, format="%(asctime)s %(name)s %(message)s")
    url = queues.check_url(args.queue)
    queues.connect(url)  # fail now, in one line, when Redis does not answer
    engine_url = args.engine
    if engine_url:
        os.environ["DOCKYARD_WORKER_ENGINE"] = engine_url  # grade_job runs in RQ's work horse: it reads this
        os.environ["DOCKER_HOST"] = engine_url
    images = [image for image in (args.base_images or "").split(",") if image] or None
    processes = args.processes or os.cpu_count() or 1
    sweep_leftovers(engine_url)
    log.info("worker on %s for engine %s: %d process(es)", queues.redacted(url), engine_url or "local", processes)
    if processes == 1:
        run_one(url, engine_url, images, args.result_ttl)
        return ExitStatus.OK
    return _supervise(args, processes)


def _supervise(args, processes: int) -> int:
    """N single-process workers; one that dies is started again (after a pause, so a crash loop stays slow)."""
    argv = [sys.executable, "-m", "dockyard", "worker", "--queue", args.queue, "--processes", "1",
            "--result-ttl", str(args.result_ttl)]
    if args.engine:
        argv += ["--engine", args.engine]
    if args.base_images:
        argv += ["--base-images", args.base_images]
    children: list[subprocess.Popen] = [subprocess.Popen(argv) for _ in range(processes)]
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        for process in children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            time.sleep(1)
            for index, process in enumerate(children):
                if process.poll() is not None and not stopping:
                    log.warning("worker process %d exited (%s); starting another in 5 s", process.pid, process.returncode)
                    time.sleep(5)
                    if not stopping:
                        children[index] = subprocess.Popen(argv)
    finally:
        for process in children:
            try:
                process.wait(timeout=3700)
            except subprocess.TimeoutExpired:
                process.kill()
    return ExitStatus.OK
