"""dockyard.polling.wait_until: the one waiting loop (probes, notebooks, builds, the queue). A fake clock: no waiting."""

from __future__ import annotations

import pytest

from dockyard.polling import wait_until


class FakeTime:
    def __init__(self):
        self.now = 1000.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 6))
        self.now += seconds


def counting(answers):
    calls = []

    def check():
        calls.append(1)
        return answers[len(calls) - 1] if len(calls) <= len(answers) else None

    return check, calls


def test_the_first_answer_ends_the_wait_and_falsy_answers_count():
    fake = FakeTime()
    check, calls = counting([None, False, 0])  # 0 (an exit code, say) is an answer; None and False are "not yet"
    assert wait_until(check, 10, 0.5, clock=fake.clock, sleep=fake.sleep) == 0
    assert len(calls) == 3 and fake.pauses == [0.5, 0.5]
    check, _ = counting(["", "late"])
    assert wait_until(check, 10, 0.5, clock=fake.clock, sleep=fake.sleep) == ""


def test_time_up_returns_none_after_a_last_check_at_the_deadline():
    fake = FakeTime()
    check, calls = counting([])
    assert wait_until(check, 1.2, 0.5, clock=fake.clock, sleep=fake.sleep) is None
    assert fake.pauses == [0.5, 0.5, 0.2] and len(calls) == 4  # never sleeps past the deadline
    assert fake.now == pytest.approx(1001.2)


def test_a_timeout_of_zero_is_one_attempt():
    fake = FakeTime()
    check, calls = counting([])
    assert wait_until(check, 0, 0.5, clock=fake.clock, sleep=fake.sleep) is None
    assert len(calls) == 1 and fake.pauses == []


def test_the_pause_grows_up_to_its_cap():
    fake = FakeTime()
    check, _ = counting([None] * 5 + [True])
    assert wait_until(check, 60, 0.1, backoff=2, max_interval_s=0.5, clock=fake.clock, sleep=fake.sleep) is True
    assert fake.pauses == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_no_timeout_waits_until_the_answer_and_an_exception_ends_the_wait():
    fake = FakeTime()
    check, calls = counting([None] * 99 + ["done"])
    assert wait_until(check, None, 1, clock=fake.clock, sleep=fake.sleep) == "done" and len(calls) == 100

    def never():
        raise LookupError("the engine went away")

    with pytest.raises(LookupError):
        wait_until(never, 5, 1, clock=fake.clock, sleep=fake.sleep)


def test_the_real_clock_is_the_default():
    check, calls = counting([None, "up"])
    assert wait_until(check, 5, 0.01) == "up" and len(calls) == 2


def test_src_has_no_other_waiting_loop():
    """A `while` loop that sleeps is a hand-rolled wait: use wait_until. Retries (`for attempt in range`) and the
    worker's supervisor (restarts its children until a signal: an event loop, not a wait for an answer) stay."""
    import ast

    from tests.helpers import ROOT

    allowed = {("queue/worker.py", "_supervise")}
    found = []
    for path in sorted((ROOT / "src" / "dockyard").rglob("*.py")):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for loop in [node for node in ast.walk(tree) if isinstance(node, ast.While)]:
            sleeps = [call for call in ast.walk(loop) if isinstance(call, ast.Call)
                      and isinstance(call.func, ast.Attribute) and call.func.attr == "sleep"]
            function = parents.get(loop)
            while function is not None and not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                function = parents.get(function)  # the innermost function holding the loop
            where = (path.relative_to(ROOT / "src" / "dockyard").as_posix(), getattr(function, "name", "<module>"))
            if sleeps and where not in allowed:
                found.append(f"{where[0]}:{loop.lineno} in {where[1]}()")
    assert found == []


def test_an_unhealthy_worker_waits_through_wait_until_and_takes_jobs_once_healthy(monkeypatch):
    """The RQ worker's health gate, without Redis: preflight fails twice, then passes; a stop request ends it."""
    from dockyard.queue import worker

    answers = [["no engine answers"], ["no engine answers"], []]
    asked, beats = [], []
    monkeypatch.setattr(worker, "preflight", lambda url, images: (asked.append(url), answers[len(asked) - 1])[1])
    monkeypatch.setattr(worker, "UNHEALTHY_RETRY_S", 0.01)
    cls = worker.worker_class()
    monkeypatch.setattr(cls, "should_run_maintenance_tasks", property(lambda self: False))
    gate = cls.__new__(cls)  # no Redis connection: only the gate's own state
    gate.name, gate.engine_url, gate.images, gate._stop_requested = "w1", "unix:///x.sock", None, False
    gate.heartbeat = lambda: beats.append(1)
    gate.wait_until_healthy()
    assert len(asked) == 3 and len(beats) == 2 and gate._was_unhealthy is False
    gate.wait_until_healthy()  # healthy a moment ago: no new preflight
    assert len(asked) == 3

    gate._healthy_until, gate._stop_requested = 0.0, True
    gate.wait_until_healthy()  # asked to stop: no more waiting for health
    assert len(asked) == 3
