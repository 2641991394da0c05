"""commands.sh carried out through the sandbox (sandbox/commandline.py) on the real engine: the sandbox's limits
and labels on what the learner's commands make, names and ports of two gradings that never collide, docker's own
refusals recorded in the learner's names, and nothing of the grader's environment reaching a container."""

from __future__ import annotations

import concurrent.futures
import time
import textwrap

import pytest

from dockyard.engine import gc
from dockyard.engine.labels import KINDS, RUN_LABEL
from dockyard.sandbox import Sandbox
from dockyard.sandbox.commandline import CommandLine
from dockyard.static.commandline import parse_script

PYTHON = "python:3.11-slim"
SERVE = "python -m http.server 8000"


def carry_out(box, text: str, folder):
    script = parse_script(textwrap.dedent(text), root=folder)
    assert script.ok, script.summary()
    line = CommandLine(box, folder, base_images=(PYTHON,))
    line.execute(script)
    return line


def test_commands_get_the_sandbox_limits_labels_and_loopback_ports(tmp_path, no_leaks):
    with Sandbox("test-cli") as box:
        line = carry_out(box, f"""
            docker volume create data
            docker run -d --name web -p 0.0.0.0:8080:8000 -v data:/data -v /cache {PYTHON} {SERVE}
            docker ps
        """, tmp_path)
        assert all(step.ok for step in line.steps), [step.one_line() for step in line.steps]
        attrs = box.client.api.inspect_container(line.containers["web"])
        assert attrs["Name"] == f"/dockyard-test-cli-{box.run_id}-c-web"
        assert attrs["Config"]["Labels"][RUN_LABEL] == box.run_id
        host = attrs["HostConfig"]
        assert host["Memory"] == 512 * 2**20 and host["PidsLimit"] == 256 and not host["Privileged"]
        assert "no-new-privileges:true" in host["SecurityOpt"] and host["CapDrop"]
        bindings = host["PortBindings"]["8000/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], "published on loopback only, whatever was written"
        state = line.steps[1].containers["web"]
        learner_port, real_port = state.ports[8000]
        assert learner_port == 8080 and real_port == int(attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])  # the engine's free port
        volumes = {v.name: v.attrs["Labels"] for v in box.client.volumes.list(filters={"label": f"{RUN_LABEL}={box.run_id}"})}
        assert len(volumes) == 2, f"the named and the anonymous volume, both labelled: {volumes}"
        assert sorted((m["type"], m["name"], m["target"]) for m in state.mounts) == [
            ("anonymous", None, "/cache"), ("volume", "data", "/data")]
        assert line.steps[2].listed == ("web",) and "0.0.0.0:8080->8000/tcp" in line.steps[2].output
    assert gc.leftovers(run_ids=[box.run_id]) == dict.fromkeys(KINDS, 0)


def test_two_gradings_with_the_same_names_never_collide(tmp_path, no_leaks):
    text = f"""
        docker network create backend
        docker run -d --name web --network backend -p 8080:8000 {PYTHON} {SERVE}
        docker exec web python -c "print('up')"
        docker rm -f web
    """

    def one(index):
        folder = tmp_path / str(index)
        folder.mkdir()
        with Sandbox("test-cli") as box:
            return [(step.exit_code, step.output) for step in carry_out(box, text, folder).steps]

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, range(2)))
    for steps in results:
        assert [code for code, _ in steps] == [0, 0, 0, 0], steps
        assert steps[2][1].strip() == "up"


def test_docker_refusals_are_recorded_in_the_learners_names_and_the_script_goes_on(tmp_path, no_leaks):
    with Sandbox("test-cli") as box:
        line = carry_out(box, f"""
            docker run -d --name web {PYTHON} sleep 60
            docker run -d --name web {PYTHON} sleep 60
            docker rm web
            docker logs nothing-here
            docker run notes-app
            docker exec web true
            docker rm -f web
            docker start web
        """, tmp_path)
        codes = [step.exit_code for step in line.steps]
        assert codes[0] == 0 and codes[1] == 125 and codes[2] == 1 and codes[3] == 1 and codes[4] == 125
        assert codes[5] == 0 and codes[6] == 0 and codes[7] == 1
        assert 'container name "/web" is already in use' in line.steps[1].output
        assert "cannot remove container web" in line.steps[2].output and "running" in line.steps[2].output
        assert "No such container: nothing-here" in line.steps[3].output
        assert "build it first" in line.steps[4].output and "pulls nothing" in line.steps[4].output
        assert line.steps[7].containers["web"].status == "removed"
        for step in line.steps:
            assert box.run_id not in step.output, f"an engine name reached the learner: {step.output}"


def test_a_foreground_run_is_bounded_and_the_graders_environment_never_reaches_a_container(tmp_path, monkeypatch,
                                                                                            no_leaks):
    monkeypatch.setenv("DOCKYARD_TEST_SECRET", "do-not-leak")
    (tmp_path / "app.env").write_text("# a comment\nFROM_FILE=yes\nDOCKYARD_TEST_SECRET\n")
    with Sandbox("test-cli") as box:
        line = carry_out(box, f"""
            docker run --rm -e DOCKYARD_TEST_SECRET -e GIVEN=1 --env-file app.env -w /tmp {PYTHON} sh -c 'env; pwd; exit 3'
            docker run --name server {PYTHON} {SERVE}
            docker ps
        """, tmp_path)
        once, server, listing = line.steps
        assert once.exit_code == 3 and "GIVEN=1" in once.output and "FROM_FILE=yes" in once.output
        assert "/tmp" in once.output and "do-not-leak" not in once.output
        assert "from your shell's environment" in once.note
        assert once.containers[next(iter(once.containers))].status == "removed", "--rm removed it"
        assert server.ok and "still running after" in server.note and listing.listed == ("server",)


def test_an_image_built_and_tagged_by_the_script_is_this_runs_and_goes_with_it(tmp_path, no_leaks):
    (tmp_path / "Dockerfile").write_text(f"FROM {PYTHON}\nCMD [\"python\", \"-c\", \"print('built here')\"]\n")
    with Sandbox("test-cli") as box:
        line = carry_out(box, """
            docker build -t mine .
            docker tag mine mine:2.0
            docker run --rm mine:2.0
            docker inspect mine:2.0
        """, tmp_path)
        assert all(step.ok for step in line.steps), [step.one_line() for step in line.steps]
        assert "built here" in line.steps[2].output
        tags = {tag for image in box.client.images.list(filters={"label": f"{RUN_LABEL}={box.run_id}"}) for tag in image.tags}
        assert tags == {f"dockyard/test-cli-mine:{box.run_id}-latest", f"dockyard/test-cli-mine:{box.run_id}-2.0"}
    assert gc.leftovers(run_ids=[box.run_id]) == dict.fromkeys(KINDS, 0)


def test_a_build_takes_its_target_stage_and_build_args(tmp_path, no_leaks):
    """`--target` stops at the stage named (a CI pipeline's `test` stage), `--build-arg` reaches its ARG."""
    (tmp_path / "Dockerfile").write_text(
        f"FROM {PYTHON} AS runtime\nARG FLAVOUR=plain\nRUN echo \"$FLAVOUR\" > /flavour\n"
        "FROM runtime AS test\nRUN echo tested > /stage\n"
        "FROM runtime\nRUN echo shipped > /stage\n")
    with Sandbox("test-cli") as box:
        line = carry_out(box, """
            docker build --target test --build-arg FLAVOUR=mint -t app:test .
            docker run --rm app:test cat /stage /flavour
        """, tmp_path)
        assert all(step.ok for step in line.steps), [step.one_line() for step in line.steps]
        assert line.steps[1].output.split() == ["tested", "mint"]
    assert gc.leftovers(run_ids=[box.run_id]) == dict.fromkeys(KINDS, 0)


def test_a_refused_script_is_never_carried_out(tmp_path):
    script = parse_script("docker run --privileged app\n")
    with Sandbox("test-cli") as box:
        with pytest.raises(Exception, match="never run"):
            CommandLine(box, tmp_path).execute(script)


def test_what_a_container_writes_through_a_bind_mount_is_bounded(tmp_path, no_leaks):
    from dockyard.course.limits import Limits

    with Sandbox("test-cli", Limits(disk_max_bytes=32 * 2**20)) as box:
        line = carry_out(box, f"""
            docker run -d --name filler -v ./out:/out {PYTHON} sh -c 'head -c 200000000 /dev/zero > /out/big; sleep 60'
        """, tmp_path)
        container = box.client.containers.get(line.containers["filler"])
        for _ in range(60):
            container.reload()
            if container.status != "running":
                break
            time.sleep(0.5)
        assert container.status == "exited" and box.disk_verdict(container), "the watchdog stopped it"
    assert (tmp_path / "out").is_dir(), "the bind mount is a folder of the submission's copy"


def test_a_network_the_script_creates_is_a_fenced_bridge_where_names_resolve(tmp_path, no_leaks):
    from dockyard.engine import firewall

    fetch = "import urllib.request; print(urllib.request.urlopen('http://web:8000/', timeout=5).status)"
    with Sandbox("test-cli") as box:
        line = carry_out(box, f"""
            docker network create backend
            docker run -d --name web --network backend {PYTHON} {SERVE}
            docker run -d --name client --network=backend {PYTHON} sleep 60
            docker exec client python -c "{fetch}"
        """, tmp_path)
        assert [step.exit_code for step in line.steps] == [0, 0, 0, 0], [step.output for step in line.steps]
        assert line.steps[3].output.strip() == "200"
        network = box.client.networks.get(line.networks["backend"])
        assert network.attrs["Labels"][RUN_LABEL] == box.run_id
        bridge = network.attrs["Options"]["com.docker.network.bridge.name"]
        assert bridge.startswith(firewall.BRIDGE_PREFIX) and len(bridge) <= 15, bridge


def test_the_graders_own_faults_are_never_a_learners_failed_command(tmp_path, monkeypatch):
    from dockyard.errors import DiskFull

    (tmp_path / "Dockerfile").write_text(f"FROM {PYTHON}\n")
    with Sandbox("test-cli") as box:
        def full(*_args, **_kwargs):
            raise DiskFull(1, 2, "/var/lib/docker")

        monkeypatch.setattr(box, "build", full)
        with pytest.raises(DiskFull):
            carry_out(box, "docker build -t mine .", tmp_path)


def test_a_base_image_pushed_and_pulled_through_the_gradings_registry_keeps_none_of_its_names(tmp_path, no_leaks):
    """Tags and pulled digests on an image of no run (a course base image) are names the label sweep cannot see:
    the sandbox untags each at close. The registry container and its volume go with the run."""
    from dockyard.sandbox import registry

    box_names: list[str] = []
    with Sandbox("test-cli") as box:
        before = set(box.client.images.get(PYTHON).attrs.get("RepoDigests") or [])
        grading_registry = registry.start(box)
        line = CommandLine(box, tmp_path, base_images=(PYTHON,), registry=grading_registry)
        line.execute(parse_script(textwrap.dedent(f"""
            docker tag {PYTHON} localhost:5000/py:base
            docker push localhost:5000/py:base
            docker pull localhost:5000/py:base
            docker images --digests localhost:5000/py
            docker pull localhost:5000/nothing:here
        """)))
        push, pull, images, missing = line.steps[1:]
        assert push.ok and pull.ok, [step.one_line() for step in line.steps]
        digest = grading_registry.manifest_digest("py", "base")
        assert push.digest == digest == pull.digest and "py" in grading_registry.catalog()
        assert f"base: digest: {digest}" in push.output and "127.0.0.1" not in push.output + images.output
        assert digest in images.output and pull.image_id == box.client.images.get(PYTHON).id
        assert not missing.ok and "localhost:5000/nothing" in missing.output
        box_names = [f"{grading_registry.address}/py:base", f"{grading_registry.address}/py@{digest}"]
    image = box.client.images.get(PYTHON)
    assert not set(image.tags) & set(box_names) and set(image.attrs.get("RepoDigests") or []) == before
    assert gc.leftovers(run_ids=[box.run_id]) == dict.fromkeys(KINDS, 0)
