"""The sandbox on the real engine: limits are enforced (not only set), and nothing is ever left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import docker.errors
import pytest

from dockyard.course.limits import Limits
from dockyard.engine import gc, labels
from dockyard.engine.labels import KINDS, RUN_LABEL
from dockyard.errors import BuildFailed, BuildTimedOut, ContextRefused
from dockyard.polling import wait_until
from dockyard.sandbox import Sandbox
from tests.helpers import TEST_BASE, engine_responds_quickly

PYTHON = "python:3.11-slim"
DOCKYARD = [sys.executable, "-m", "dockyard"]


def test_graded_container_gets_the_limits(no_leaks):
    with Sandbox("test-limits") as box:
        running = box.start(PYTHON, ports=(8000,), command=["sleep", "30"])
        host_config = running.container.attrs["HostConfig"]
        assert host_config["Memory"] == 512 * 2**20
        assert host_config["MemorySwap"] == host_config["Memory"], "no extra swap"
        assert host_config["NanoCpus"] == 10**9
        assert host_config["PidsLimit"] == 256
        assert "no-new-privileges:true" in host_config["SecurityOpt"]
        assert not host_config["Privileged"]
        assert "NET_RAW" in host_config["CapDrop"]
        assert host_config["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "1"}}
        assert host_config["OomKillDisable"] is False and host_config["OomScoreAdj"] == 500
        assert host_config["ShmSize"] == 64 * 2**20
        bindings = running.container.attrs["NetworkSettings"]["Ports"]["8000/tcp"]
        assert bindings[0]["HostIp"] == "127.0.0.1" and int(bindings[0]["HostPort"]) > 1024
        assert running.container.labels[RUN_LABEL] == box.run_id


def test_memory_hog_is_oom_killed(no_leaks):
    hog = "a = []\nwhile True:\n    a.append(bytearray(10 * 2**20))\n"
    with Sandbox("test-oom", Limits(memory="64m")) as box:
        result = box.run_once(PYTHON, ["python3", "-c", hog], timeout_s=60)
    assert result.oom_killed, result
    assert result.exit_code == 137
    assert engine_responds_quickly()


def test_a_build_step_out_of_memory_is_the_learners_failure_not_an_engine_fault(no_leaks, tmp_path):
    """Exit 137 in a RUN step: the engine's events show an OOM of that step, so it is scored, not retried."""
    (tmp_path / "Dockerfile").write_text(
        "FROM python:3.11-slim\nRUN python3 -c \"x = bytearray(400 * 2**20); print(len(x))\"\n")
    with Sandbox("test-build-oom", Limits(build_memory="128m")) as box:
        with pytest.raises(BuildFailed) as failed:
            box.build(tmp_path)
    assert "137" in failed.value.reason  # an EngineLost would not be caught here: it is no BuildFailed


def test_fork_bomb_stops_at_the_pids_limit(no_leaks):
    bomb = textwrap.dedent("""
        import os, time
        n = 0
        while True:
            try:
                pid = os.fork()
            except OSError:
                print("forks refused after", n, flush=True)
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            n += 1
    """)
    with Sandbox("test-pids", Limits(pids=64)) as box:
        result = box.run_once(PYTHON, ["python3", "-c", bomb], timeout_s=60)
        assert engine_responds_quickly(), "the engine must stay responsive during a fork bomb"
    assert "forks refused after" in result.stdout, result
    forks = int(result.stdout.split()[-1])
    assert forks < 64


def test_graded_containers_have_no_route_out(no_leaks):
    # 198.51.100.1 is TEST-NET-2 (documentation range): the packet must never leave the machine anyway.
    attempt = ("import socket\ns = socket.socket(); s.settimeout(5)\n"
               "try:\n    s.connect(('198.51.100.1', 80)); print('connected')\n"
               "except OSError as e:\n    print('refused:', e)\n")
    with Sandbox("test-egress") as box:
        started = time.monotonic()
        result = box.run_once(PYTHON, ["python3", "-c", attempt], timeout_s=30)
    assert "refused:" in result.stdout, result
    assert time.monotonic() - started < 20


NOTHING = dict.fromkeys(KINDS, 0)


def test_nothing_left_after_a_clean_run(docker_client, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {PYTHON}\nRUN echo built > /built\n")
    with Sandbox("test-clean") as box:
        built = box.build(tmp_path)
        box.start(built.tag, command=["sleep", "30"])
        box.volume()
        # its network is leased from the pool (no run owns it) unless every slot was taken; the build network is shared
        own_network = 0 if box.network_is_pooled else 1
        assert gc.leftovers(run_ids=[box.run_id]) == {"container": 1, "network": own_network, "volume": 1, "image": 1}
    assert gc.leftovers(run_ids=[box.run_id]) == NOTHING


def test_nothing_left_after_an_exception(docker_client):
    with pytest.raises(RuntimeError):
        with Sandbox("test-exception") as box:
            box.start(PYTHON, command=["sleep", "30"])
            box.volume()
            raise RuntimeError("boom")
    assert gc.leftovers(run_ids=[box.run_id]) == NOTHING


def test_clean_after_sigkill(docker_client, tmp_path):
    script = textwrap.dedent(f"""
        import time
        from dockyard.sandbox import Sandbox
        box = Sandbox("test-sigkill")
        box.start({PYTHON!r}, command=["sleep", "120"])
        box.volume()
        print(box.run_id, flush=True)
        time.sleep(120)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        run_id = child.stdout.readline().strip()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        assert gc.leftovers(run_ids=[run_id])["container"] == 1, "the killed run should have left its container"
        cleaned = subprocess.run([*DOCKYARD, "clean"], capture_output=True, text=True, timeout=120)
        assert cleaned.returncode == 0, cleaned.stderr
    finally:
        if child.poll() is None:
            child.kill()
    assert gc.leftovers(run_ids=[run_id]) == NOTHING


def test_clean_spares_live_runs(docker_client):
    with Sandbox("test-live") as box:
        box.start(PYTHON, command=["sleep", "30"])
        subprocess.run([*DOCKYARD, "clean"], capture_output=True, timeout=120, check=True)
        assert gc.leftovers(run_ids=[box.run_id])["container"] == 1, "a live run's resources must survive `dockyard clean`"
    assert gc.leftovers(run_ids=[box.run_id]) == NOTHING


def test_build_timeout_stops_the_build(tmp_path, no_leaks, docker_client):
    (tmp_path / "Dockerfile").write_text(f"FROM {PYTHON}\nRUN sleep 600\n")
    started = time.monotonic()
    with Sandbox("test-build-timeout", Limits(build_timeout_s=5)) as box:
        with pytest.raises(BuildTimedOut) as raised:
            box.build(tmp_path)
    assert time.monotonic() - started < 40
    assert "longer than 5 s" in str(raised.value)
    # the engine cancels the build and removes its step container. One listing call (no inspect per container:
    # other gradings on this engine remove theirs between a list and an inspect)
    def step_containers():
        return [c["Id"] for c in docker_client.api.containers(all=True) if "sleep 600" in (c.get("Command") or "")]

    assert wait_until(lambda: not step_containers(), 30, 1), "the cancelled build's container is still there"


def test_context_with_symlink_out_is_refused(tmp_path, no_leaks):
    (tmp_path / "Dockerfile").write_text(f"FROM {PYTHON}\nCOPY . /app\n")
    (tmp_path / "shadow").symlink_to("/etc/shadow")
    with Sandbox("test-symlink") as box:
        with pytest.raises(ContextRefused) as raised:
            box.build(tmp_path)
    assert "shadow" in str(raised.value) and "outside" in str(raised.value)


def test_oversized_context_is_refused_before_building(tmp_path, no_leaks):
    (tmp_path / "Dockerfile").write_text(f"FROM {PYTHON}\nCOPY . /app\n")
    with open(tmp_path / "big.bin", "wb") as big:  # sparse: costs no disk
        big.truncate(3 * 2**30)
    started = time.monotonic()
    with Sandbox("test-big-context") as box:
        with pytest.raises(ContextRefused) as raised:
            box.build(tmp_path)
    assert "50 MiB" in str(raised.value)
    assert time.monotonic() - started < 5


def test_doctor_with_no_engine_says_one_line_and_exits_3():
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = subprocess.run([*DOCKYARD, "doctor"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 3
    assert "Traceback" not in result.stdout + result.stderr
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in result.stdout


def test_doctor_is_happy_on_this_machine():
    result = subprocess.run([*DOCKYARD, "doctor"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compose" in result.stdout and "base images" in result.stdout


def test_clean_removes_scratch_folders_of_gone_graders_only(tmp_path):
    """A grading killed with SIGKILL leaves its scratch copy; `dockyard clean` removes it, never one in use."""
    from dockyard import scratch

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"dockyard-copy-{gone.pid}-abc"
    (dead / "submission").mkdir(parents=True)
    (dead / "submission" / "app.py").write_text("print('a learner file')\n")
    alive = tmp_path / f"{scratch.prefix('grade')}def"
    alive.mkdir()
    unrelated = tmp_path / "dockyard-notes"
    unrelated.mkdir()
    assert scratch.sweep(tmp_path) == 1
    assert not dead.exists() and alive.is_dir() and unrelated.is_dir()


def test_a_dead_run_is_recognised_by_pid_and_start_time(tmp_path):
    """A zombie owner (ended, never reaped) and a pid now used by another process both count as dead."""
    import socket

    from dockyard import scratch

    host = socket.gethostname()
    me, my_start = os.getpid(), scratch.process_start(os.getpid())
    assert my_start is not None
    assert scratch.process_alive(me) and scratch.process_alive(me, my_start)
    assert not labels.owner_is_dead(f"{host}:{me}", str(my_start))
    assert not labels.owner_is_dead(f"{host}:{me}")  # a label from before start times: pid only
    assert labels.owner_is_dead(f"{host}:{me}", str(my_start + 1)), "the same pid, another process"
    assert labels.owner_labels() == {labels.OWNER_LABEL: f"{host}:{me}",
                                        labels.OWNER_START_LABEL: str(my_start)}
    zombie = os.fork()
    if zombie == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while (scratch._stat(zombie) or ["?"])[0] != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scratch._stat(zombie)[0] == "Z"
        assert not scratch.process_alive(zombie)
        assert labels.owner_is_dead(f"{host}:{zombie}")
    finally:
        os.waitpid(zombie, 0)
    reused = tmp_path / f"dockyard-grade-{me}-s{my_start + 1}-abc"  # our pid, another start: a dead maker's
    reused.mkdir()
    mine = tmp_path / f"{scratch.prefix('grade')}def"
    mine.mkdir()
    assert f"-{me}-s{my_start}-" in mine.name
    assert scratch.sweep(tmp_path) == 1
    assert not reused.exists() and mine.is_dir()


def test_sweep_removes_what_a_reused_pid_seemed_to_own(docker_client):
    """Resources whose owner's pid is alive but is another process now (another start time) are a dead run's."""
    import socket

    from dockyard import scratch

    me = os.getpid()
    run_id = labels.new_run_id()
    owned = {labels.RUN_LABEL: run_id, labels.EXERCISE_LABEL: "test-reused-pid",
             labels.OWNER_LABEL: f"{socket.gethostname()}:{me}",
             labels.OWNER_START_LABEL: str(scratch.process_start(me) + 1)}
    docker_client.containers.create(PYTHON, ["true"], labels=owned, name=f"dockyard-test-reused-{run_id}")
    gc.sweep()
    assert gc.leftovers(run_ids=[run_id]) == dict.fromkeys(KINDS, 0)


def test_a_rebuild_with_cache_from_follows_its_own_image_not_a_newer_half_built_chain(no_leaks, tmp_path):
    """The classic builder's local cache takes the newest matching child of a step. Another grading that built the
    same first steps since, and has not committed its RUN yet (here: its RUN failed), leaves a newer chain with no
    RUN on it: a plain rebuild steps onto it and finds the install uncached. `cache_from` keeps to the image's own."""
    first, rival = tmp_path / "first", tmp_path / "rival"
    for folder, run in ((first, f"RUN echo installed {os.getpid()} > /installed"), (rival, "RUN false")):
        folder.mkdir()
        (folder / "requirements.txt").write_text(f"pinned {tmp_path.name}\n")
        (folder / "Dockerfile").write_text(f"FROM {TEST_BASE}\nWORKDIR /app\nCOPY requirements.txt .\n{run}\n")
    with Sandbox("test-cache-from", Limits(builder="classic")) as box:
        built = box.build(first)
        with pytest.raises(docker.errors.BuildError):  # the newer chain, its RUN never committed
            # forcerm: the failed RUN's container goes too (rm alone keeps it)
            box.client.images.build(path=str(rival), nocache=True, rm=True, forcerm=True)
        plain = box.build(first)
        own = box.build(first, cache_from=(built.image_id, *built.layer_ids))
    run_step = len(plain.steps)  # the RUN is the last step
    assert not plain.steps[run_step - 1].cached, "the race this guards against did not happen: the test is void"
    assert own.steps[run_step - 1].cached, [(step.instruction, step.cached) for step in own.steps]
