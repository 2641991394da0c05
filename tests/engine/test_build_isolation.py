"""Issue #14: a learner's build reaches nothing of the grading host.

Traffic goes only to what these tests make: listeners on 127.0.0.1 and on the gateway address of
the build network the test's sandbox created. The link-local rule is checked by inspecting it
(`iptables -C`), never by sending anything to 169.254.0.0/16. The package-index test reaches PyPI
the way every graded build does (through the host's usual route).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from dockyard.course import exercises
from dockyard.course.limits import DEFAULT_LIMITS
from dockyard.engine import build_network, doctor, firewall, gc
from dockyard.engine.labels import KINDS, RUN_LABEL
from dockyard.report import terminal
from dockyard.rubric import runner
from dockyard.sandbox import Sandbox
from dockyard.static import remote

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "python:3.11-slim"

pytestmark = pytest.mark.skipif(not firewall.build_isolation()[0], reason="needs root next to a local engine")


class Listener:
    """A TCP listener that counts every connection made to it and answers with a secret."""

    def __init__(self, host: str):
        self.secret = f"host-only-secret-{uuid.uuid4().hex}"
        self.hits = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = self.sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            body = self.secret.encode()
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def loopback_listener():
    listener = Listener("127.0.0.1")
    yield listener
    listener.close()


def _iptables_has(chain: str, rule: list[str]) -> bool:
    return subprocess.run(["iptables", "-C", chain, *rule], capture_output=True).returncode == 0


def test_build_rules_are_installed_once_and_refuse_the_host_bridges_and_link_local():
    assert firewall.ensure_build()
    before = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert firewall.ensure_build()  # idempotent: nothing added the second time
    assert subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout == before
    assert _iptables_has("INPUT", ["-i", "bld+", "-m", "conntrack", "--ctstate", "NEW",
                                   "-j", "REJECT", "--reject-with", "icmp-port-unreachable"])
    reject = ["-j", "REJECT", "--reject-with", "icmp-net-unreachable"]
    assert _iptables_has("DOCKER-USER", ["-i", "bld+", "-d", "169.254.0.0/16", *reject])
    for bridge in ("docker0", "dy+", "bld+", "br-+"):
        assert _iptables_has("DOCKER-USER", ["-i", "bld+", "-o", bridge, *reject]), bridge
    # build bridges are outside the grading bridges' wildcard (which refuses all their egress)
    assert not firewall.BUILD_BRIDGE_PREFIX.startswith(firewall.BRIDGE_PREFIX)
    assert not "docker0".startswith(firewall.BUILD_BRIDGE_PREFIX)
    assert firewall.build_rules_active()


def test_doctor_says_builds_are_isolated():
    finding = next(f for f in doctor.doctor() if f.name == "build isolation")
    assert finding.ok and "169.254.0.0/16" in finding.detail


def test_graded_add_of_a_loopback_url_is_refused_and_never_fetched(loopback_listener, tmp_path, capsys):
    exercise = exercises.load("03-first-image", ROOT)
    folder = exercises.materialize(exercise, exercise.solution, tmp_path / "submission")
    dockerfile = folder / "Dockerfile"
    lines = dockerfile.read_text().splitlines()
    add = f"ADD http://127.0.0.1:{loopback_listener.port}/file /app/leak.txt"
    lines.insert(2, add)
    dockerfile.write_text("\n".join(lines) + "\n")

    report = runner.grade("03-first-image", folder)
    terminal.render(report)
    said = capsys.readouterr()

    assert loopback_listener.hits == 0
    everything = report.to_json() + said.out + said.err + terminal.to_text(report)
    assert loopback_listener.secret not in everything
    assert report.status == "graded" and report.score < report.max_score
    builds = next(item for item in report.items if item.id == "builds")
    assert builds.feedback.startswith(f"Dockerfile:3: `{add}` asks the Docker engine to fetch a URL itself")
    assert "download it in a RUN step, or COPY a file from your folder" in builds.feedback
    assert "04-dockerfile.ipynb#copy-vs-add" in builds.feedback
    assert gc.leftovers(run_ids=[report.run_id]) == dict.fromkeys(KINDS, 0)


def test_sandbox_build_refuses_a_remote_add_itself(loopback_listener, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {PYTHON}\nADD http://127.0.0.1:{loopback_listener.port}/x /x\n")
    with Sandbox("test-remote-add") as box:
        with pytest.raises(remote.RemoteSourceRefused) as refused:
            box.build(tmp_path)
    assert str(refused.value).startswith("Dockerfile:2: ")
    assert loopback_listener.hits == 0
    assert gc.leftovers(run_ids=[box.run_id]) == dict.fromkeys(KINDS, 0)


def test_run_steps_run_on_the_shared_build_network_that_cannot_reach_its_gateway(tmp_path, docker_client):
    with Sandbox("test-build-net") as box:
        name = box.build_network()
        network = docker_client.networks.get(name)
        assert network.attrs["Labels"] == build_network.LABELS and RUN_LABEL not in network.attrs["Labels"]
        assert network.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"  # builds never meet
        bridge = network.attrs["Options"]["com.docker.network.bridge.name"]
        assert bridge.startswith(firewall.BUILD_BRIDGE_PREFIX) and len(bridge) <= 15
        gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
        listener = Listener(gateway)
        try:
            with socket.create_connection((gateway, listener.port), timeout=5) as control:  # the host itself may
                control.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert listener.secret.encode() in control.recv(4096)
            assert listener.hits == 1
            probe = ("import socket\n"
                     "try:\n"
                     f"    s = socket.create_connection(('{gateway}', {listener.port}), timeout=5)\n"
                     "    s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print('REACHED', len(s.recv(4096)))\n"
                     "except OSError as e:\n"
                     "    print('REFUSED', type(e).__name__)\n")
            (tmp_path / "probe.py").write_text(probe)
            (tmp_path / "Dockerfile").write_text(
                f"FROM {PYTHON}\nCOPY probe.py /probe.py\nRUN echo {uuid.uuid4().hex} && python3 /probe.py\n")
            result = box.build(tmp_path)
        finally:
            listener.close()
        log = "\n".join(result.log_tail)
        assert listener.hits == 1, "a RUN step reached the host through the build network's gateway"
        assert "REFUSED" in log and "REACHED" not in log, log
        assert listener.secret not in log
        assert box.build_isolated is True and box.build_isolation_note is None
        run_id = box.run_id
    assert gc.leftovers(run_ids=[run_id]) == dict.fromkeys(KINDS, 0)
    # it outlives the grading, empty: the next grading's build uses it as it is
    assert not docker_client.api.inspect_network(name)["Containers"]
    assert Sandbox("test-build-net-again").build_network() == name


def test_a_network_named_like_the_build_network_but_not_ours_is_never_built_on(docker_client, monkeypatch):
    impostor = f"dockyard-test-impostor-{uuid.uuid4().hex[:8]}"
    docker_client.api.create_network(impostor, driver="bridge", labels={RUN_LABEL: "test-impostor"})
    monkeypatch.setattr(build_network, "NAME", impostor)
    try:
        with pytest.raises(build_network.DockerNetworkMismatch) as refused:
            build_network.ensure(docker_client)
        assert f"docker network rm {impostor}" in refused.value.one_line()
    finally:
        docker_client.api.remove_network(impostor)


def test_a_run_step_on_the_build_network_still_reaches_the_package_index(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {PYTHON}\n"
        f"RUN echo {uuid.uuid4().hex} && pip download --no-deps --no-cache-dir -d /tmp/dl six==1.16.0 "
        "&& ls /tmp/dl\n")
    with Sandbox("test-build-egress") as box:
        result = box.build(tmp_path)
        assert result.step_matching("pip download") and not result.step_matching("pip download").cached
        assert any("six-1.16.0" in line for line in result.log_tail), result.log_tail
    assert gc.leftovers(run_ids=[box.run_id]) == dict.fromkeys(KINDS, 0)


def test_without_the_rules_the_grader_refuses_to_build_unless_allowed(tmp_path, monkeypatch):
    why = "not running as root, so the build network's iptables rules cannot be installed"
    monkeypatch.setattr(firewall, "build_isolation", lambda engine_url=None, install=True: (False, why))
    exercise = exercises.load("03-first-image", ROOT)
    folder = exercises.materialize(exercise, exercise.solution, tmp_path / "submission")

    refused = runner.grade("03-first-image", folder)
    assert refused.status == "error" and not refused.retry
    assert "builds cannot be isolated" in refused.error and why in refused.error

    with Sandbox("test-no-rules") as box:
        from dockyard.errors import BuildNotIsolated

        with pytest.raises(BuildNotIsolated):
            box.build(folder)
        assert gc.leftovers(run_ids=[box.run_id])["image"] == 0

    # a learner's own check (`dockyard check`, the notebook's button) builds anyway, and says so
    own = runner.grade("03-first-image", folder, self_check=True)
    assert own.status == "graded" and own.score == own.max_score, own
    assert own.notes == (f"builds were not isolated: {why}",)

    monkeypatch.setenv("DOCKYARD_LIMITS", "require_build_isolation=false")
    allowed = runner.grade("03-first-image", folder)
    assert allowed.status == "graded" and allowed.score == allowed.max_score, allowed
    assert allowed.notes == (f"builds were not isolated: {why}",)
    assert "builds were not isolated" in terminal.to_text(allowed)

    monkeypatch.setenv("DOCKYARD_LIMITS", "require_build_isolation=true")  # a shared host keeps them required
    assert runner.grade("03-first-image", folder, self_check=True).status == "error"


def test_exercise_toml_can_waive_isolation_but_not_remote_sources(tmp_path):
    course = tmp_path / "course"
    (course / "exercises" / "x").mkdir(parents=True)
    (course / "exercises" / "x" / "exercise.toml").write_text(
        'id = "x"\n[sandbox]\nrequire_build_isolation = false\nnetwork_access = true\n')
    exercise = exercises.load("x", course)
    assert exercise.limits.require_build_isolation is False
    with pytest.raises(Exception):
        DEFAULT_LIMITS.with_overrides({"allow_remote_sources": True})


def test_a_remote_engine_cannot_be_isolated_from_here():
    assert firewall.engine_is_local("unix:///var/run/docker.sock")
    assert firewall.engine_is_local("tcp://127.0.0.1:2375")
    assert not firewall.engine_is_local("tcp://10.1.2.3:2376")
    assert not firewall.engine_is_local("ssh://grader@build-host")
    isolated, why = firewall.build_isolation("tcp://10.1.2.3:2376")  # decided without contacting it
    assert not isolated and "not on this machine" in why


def test_self_check_environment_keeps_an_explicit_choice():
    assert runner._self_check_environment({})["DOCKYARD_LIMITS"] == "require_build_isolation=false"
    assert runner._self_check_environment({"DOCKYARD_LIMITS": "ready_timeout_s=5"})["DOCKYARD_LIMITS"] == \
        "ready_timeout_s=5,require_build_isolation=false"
    strict = {"DOCKYARD_LIMITS": "require_build_isolation=true"}
    assert runner._self_check_environment(dict(strict)) == strict
