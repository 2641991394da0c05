"""Issue 13: learner images built with the engine's BuildKit, contained like the classic builder's.

Engine 20.10's BuildKit runs RUN steps on docker0 whatever network is asked for: its steps must reach the
package index and nothing of the host (firewall.BUILDKIT_RULES). Traffic goes only to what these tests make:
a listener on docker0's gateway address and a labelled container on docker0. The link-local rule is checked by
inspecting it (`iptables -C`), never by sending anything to 169.254.0.0/16.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from dockyard import cli
from dockyard.course import exercises
from dockyard.course.limits import DEFAULT_LIMITS
from dockyard.engine import doctor, firewall, gc
from dockyard.engine.labels import KINDS
from dockyard.rubric import runner
from dockyard.sandbox import Sandbox, buildkit_cgroups
from tests.engine.test_build_isolation import Listener

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "python:3.11-slim"
BUILDKIT = dataclasses.replace(DEFAULT_LIMITS, builder="buildkit")

pytestmark = pytest.mark.skipif(not firewall.build_isolation()[0], reason="needs root next to a local engine")

PROBE = """import socket, sys
for host, port in [(a.split(':')[0], int(a.split(':')[1])) for a in sys.argv[1:]]:
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print('REACHED', host, len(s.recv(4096)))
    except OSError as e:
        print('REFUSED', host, type(e).__name__)
"""


def _iptables_has(chain: str, rule: list[str]) -> bool:
    return subprocess.run(["iptables", "-C", chain, *rule], capture_output=True).returncode == 0


def test_docker0_rules_are_installed_once_and_doctor_names_them():
    assert firewall.ensure_buildkit()
    before = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert firewall.ensure_buildkit() and subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout == before
    reject = ["-j", "REJECT", "--reject-with", "icmp-net-unreachable"]
    assert _iptables_has("DOCKER-USER", ["-i", "docker0", "-d", "169.254.0.0/16", *reject])
    for bridge in ("docker0", "dy+", "bld+", "br-+"):
        assert _iptables_has("DOCKER-USER", ["-i", "docker0", "-o", bridge, *reject]), bridge
    assert _iptables_has("INPUT", ["-i", "docker0", "-m", "conntrack", "--ctstate", "NEW",
                                   "-j", "REJECT", "--reject-with", "icmp-port-unreachable"])
    finding = next(f for f in doctor.doctor() if f.name == "BuildKit builds")
    assert finding.ok and "169.254.0.0/16" in finding.detail and "memory" in finding.detail


def test_a_buildkit_run_step_reaches_the_package_index_but_not_the_host_nor_another_container(tmp_path, docker_client):
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True).stdout
    gateway = shown.split(" inet ")[1].split("/")[0]  # this host's address on docker0
    host = Listener(gateway)
    with Sandbox("test-buildkit-net", limits=BUILDKIT) as box:
        # another build's step, or any container on docker0: a listener there
        neighbour = docker_client.containers.run(
            PYTHON, ["python3", "-m", "http.server", "8080"], detach=True, labels=box.labels, network="bridge",
            name=box.name("neighbour"))
        box._created["container"].append(neighbour.name)
        neighbour.reload()
        neighbour_ip = neighbour.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        (tmp_path / "probe.py").write_text(PROBE)
        (tmp_path / "Dockerfile").write_text(
            f"FROM {PYTHON}\nCOPY probe.py /probe.py\n"
            f"RUN --mount=type=cache,target=/root/.cache/pip echo {uuid.uuid4().hex} && "
            f"python3 /probe.py {gateway}:{host.port} {neighbour_ip}:8080 && "
            "pip download --no-deps -d /tmp/dl six==1.16.0 && cat /sys/fs/cgroup/memory/memory.limit_in_bytes\n")
        try:
            result = box.build(tmp_path)
        finally:
            host.close()
        log = "\n".join(result.log_tail)
        assert box.builders_used == ["buildkit"] and box.build_isolated is True
        assert f"REFUSED {gateway}" in log and f"REFUSED {neighbour_ip}" in log and "REACHED" not in log, log
        assert host.hits == 0 and host.secret not in log
        assert any("six-1.16.0" in line for line in result.log_tail), log  # the internet: yes
        assert any(line.endswith(f" {2**30}") for line in result.log_tail), log  # the step's memory: bounded (1g)
        assert docker_client.images.get(result.image_id).labels["dockyard.run"] == box.run_id  # --label, no step
        assert not result.step_matching("^LABEL")
        run_id = box.run_id
    assert gc.leftovers(run_ids=[run_id]) == dict.fromkeys(KINDS, 0)


def test_every_step_cgroup_is_bounded_only_while_a_buildkit_build_runs():
    with buildkit_cgroups.bounded("256m", 64) as guard:
        assert guard._limits()[:2] == (256 * 2**20, 64)
    assert guard._limits() is None


def test_builder_classic_still_grades_and_refuses_buildkit_syntax_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKYARD_BUILDER", "auto")  # `--builder` sets it for the process: restored after the test
    exercise = exercises.load("05-layer-cache", ROOT)
    overlay = ROOT / "tests" / "exercises" / "05-layer-cache" / "alternatives" / "buildkit-cache-mount"
    folder = exercises.materialize(exercise, exercise.solution, tmp_path / "cache-mount", overlay)
    code = cli.main(["grade", "05-layer-cache", str(folder), "--json", "--builder", "classic"])
    report = json.loads(capsys.readouterr().out)
    assert code != 0 or report["score"] < report["max_score"]
    builds = next(item for item in report["items"] if item["id"] == "builds")
    assert builds["feedback"].startswith("Dockerfile line 5: `RUN --mount` needs BuildKit")
    # the reference solution, built by the classic builder when asked: full marks, as ever
    solution = exercises.materialize(exercise, exercise.solution, tmp_path / "solution")
    assert cli.main(["grade", "05-layer-cache", str(solution), "--json", "--builder", "classic"]) == 0
    classic = json.loads(capsys.readouterr().out)
    assert classic["score"] == classic["max_score"], classic
    assert cli.main(["grade", "05-layer-cache", str(solution), "--builder", "buildkit", "--queue",
                     "redis://127.0.0.1:1/0"]) == 2
    assert "--builder applies to gradings on this machine" in capsys.readouterr().err


def test_a_buildkit_grading_leaves_no_container_image_or_cache_record(tmp_path, monkeypatch):
    exercise = exercises.load("03-first-image", ROOT)
    folder = exercises.materialize(exercise, exercise.solution, tmp_path / "submission")
    (folder / "Dockerfile").write_text((folder / "Dockerfile").read_text().replace(
        "COPY app.py .", f"COPY --chmod=644 app.py .\nRUN echo {uuid.uuid4().hex} > /tmp/unique"))
    before = gc.build_cache()
    report = runner.grade("03-first-image", folder)
    assert report.status == "graded" and report.score == report.max_score, report
    assert report.build is not None and any(step.instruction.startswith("COPY --chmod") for step in report.build.steps)
    assert gc.leftovers(run_ids=[report.run_id]) == dict.fromkeys(KINDS, 0)
    made = gc.build_cache() - before
    assert any(entry.startswith(gc.BUILDKIT_RECORD) for entry in made), "BuildKit kept no cache record of its steps"
    gc.prune_build_cache(keep=before)
    assert not (made & gc.build_cache()), "the grading's BuildKit cache records outlived the prune"


def test_a_compose_service_whose_dockerfile_needs_buildkit_is_built_by_it_and_runs(tmp_path):
    """A service's `RUN --mount=type=cache` (what Docker's docs teach for pip) builds with BuildKit through the
    sandbox, contained like any learner image; the other service still builds with compose's classic builder."""
    (tmp_path / "fast").mkdir()
    (tmp_path / "fast" / "Dockerfile").write_text(
        f"FROM {PYTHON}\nRUN --mount=type=cache,target=/root/.cache echo {uuid.uuid4().hex} > /built\n"
        'CMD ["python", "-m", "http.server", "8000"]\n')
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "Dockerfile").write_text(f'FROM {PYTHON}\nRUN echo {uuid.uuid4().hex} > /built\n'
                                                   'CMD ["sleep", "300"]\n')
    (tmp_path / "compose.yaml").write_text("services:\n  fast:\n    build: ./fast\n    ports: ['8000']\n"
                                           "  plain:\n    build: ./plain\n")
    with Sandbox("t-compose-buildkit", DEFAULT_LIMITS) as sandbox:
        project = sandbox.compose(tmp_path)
        project.up()
        assert sandbox.builders_used == ["buildkit"]  # the plain service went through compose's own build
        assert {service: project.container(service).status for service in ("fast", "plain")} == \
            {"fast": "running", "plain": "running"}
        assert project.exec("fast", ["cat", "/built"]).exit_code == 0
        run_id = sandbox.run_id
    assert gc.leftovers(run_ids=[run_id]) == dict.fromkeys(KINDS, 0)
