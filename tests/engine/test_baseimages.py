"""Base images on the real engine: the stand-ins behave like the upstream images where the course relies on them.

The module first runs `baseimages.ensure` (builds the stand-ins when no registry answers, in ~1.5 min from
nothing, or imports them from the tarball cache in seconds). Everything a test creates carries
`dockyard.run=test-baseimages` and is removed even when the test fails; the last test checks that
nothing is left.
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.request
import uuid

import docker.errors
import pytest

from dockyard import baseimages, engine
from dockyard.baseimages import official, recipes
from dockyard.errors import BaseImageUnavailable

RUN = "test-baseimages"
LABELS = {"dockyard.run": RUN}
LABEL_FILTER = {"label": f"dockyard.run={RUN}"}
PYTHONS = ("python:3.11-slim", "python:3.11")


# --- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    return engine.client()


@pytest.fixture(scope="module")
def statuses(client):
    """The course's base images, made present once for the whole module."""
    results = baseimages.ensure(client)
    yield {status.image: status for status in results}
    sweep(client)


@pytest.fixture()
def made(client):
    """Whatever a test creates, removed afterwards, on success or failure alike."""
    created: list = []
    yield created
    for thing in reversed(created):
        try:
            if isinstance(thing, docker.models.containers.Container):
                thing.remove(force=True, v=True)  # v: the anonymous volumes of VOLUME /data and the like
            elif isinstance(thing, str):  # an image reference
                client.images.remove(thing, force=True)
            else:
                thing.remove()
        except docker.errors.NotFound:
            pass
    sweep(client)


def sweep(client) -> dict[str, int]:
    """Remove every resource labelled for this module; returns how many of each kind there were."""
    found = {"container": 0, "network": 0, "volume": 0, "image": 0}
    for container in client.containers.list(all=True, filters=LABEL_FILTER):
        found["container"] += 1
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=LABEL_FILTER):
        found["network"] += 1
        network.remove()
    for volume in client.volumes.list(filters=LABEL_FILTER):
        found["volume"] += 1
        volume.remove(force=True)
    for _ in range(5):  # children before parents: repeat until nothing labelled is left
        images = client.api.images(all=True, filters=LABEL_FILTER)
        if not images:
            break
        found["image"] = max(found["image"], len(images))
        for image in images:
            try:
                client.api.remove_image(image["Id"], force=True)
            except docker.errors.APIError:
                pass
    return found


def run(client, made, image: str, command, **kwargs) -> tuple[int, str]:
    """Run a command to completion in a labelled container; (exit code, output)."""
    container = client.containers.create(image, command, labels=LABELS, **kwargs)
    made.append(container)
    container.start()
    code = container.wait(timeout=120)["StatusCode"]
    return code, container.logs().decode(errors="replace")


def build(client, made, dockerfile: str, name: str) -> str:
    """Build a context-free Dockerfile with the SDK (classic builder); returns the image reference."""
    tag = f"dockyard-test-baseimages-{name}:{uuid.uuid4().hex[:8]}"
    made.append(tag)
    try:
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, labels=LABELS, rm=True,
                            forcerm=True, nocache=True, pull=False)
    except docker.errors.BuildError as exc:
        tail = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log)[-2000:]
        pytest.fail(f"the build failed: {exc.msg}\n{tail}")
    return tag


def unique(prefix: str) -> str:
    return f"dockyard-test-{prefix}-{uuid.uuid4().hex[:8]}"


# --- the images on the real engine -----------------------------------------------------------------


def test_every_course_image_is_present_and_every_standin_is_labelled(client, statuses):
    for image in recipes.course_images():
        assert baseimages.present(client, image), image
        attrs = client.api.inspect_image(image)
        labels = attrs["Config"].get("Labels") or {}
        if statuses[image].action == "pulled" or attrs.get("RepoDigests"):
            continue  # the real image from a registry
        assert labels.get(recipes.STANDIN_LABEL) == "true", image
        assert labels.get(recipes.RECIPE_LABEL) == recipes.recipe_hash(recipes.recipe_for(image)), image


def test_non_python_standins_have_the_upstream_config(client, statuses):
    redis = client.api.inspect_image("redis:7")["Config"]
    assert redis["WorkingDir"] == "/data" and "/data" in redis["Volumes"] and "6379/tcp" in redis["ExposedPorts"]
    assert redis["Cmd"] == ["redis-server"]
    registry = client.api.inspect_image("registry:2")["Config"]
    assert "/var/lib/registry" in registry["Volumes"] and "5000/tcp" in registry["ExposedPorts"]


@pytest.mark.parametrize("facts", official.FACTS, ids=lambda facts: facts.image)
def test_each_image_has_the_official_images_facts(client, statuses, made, facts):
    """What course answers depend on, as baseimages.official records it from upstream's Dockerfiles:
    it holds for a stand-in and for the real image alike."""
    config = client.api.inspect_image(facts.image)["Config"]
    env = dict(entry.split("=", 1) for entry in config["Env"])
    for key, value in facts.env.items():
        assert key in env and (env[key] == value or not value), f"{facts.image}: {key}={env.get(key)!r}, upstream has {value!r}"
    assert tuple(config["Cmd"]) == facts.cmd
    script = " && ".join(f"test -x {path}" for path in facts.executables)
    if facts.site_packages:
        script += (" && python -c 'import site, sysconfig; print(sysconfig.get_paths()[\"purelib\"]); print(site.getusersitepackages())'"
                   # --prefix=/install, then copied over /usr/local, is importable (offline: a package of our own)
                   " && mkdir -p /tmp/demo/demo_pkg && echo 'X = 1' > /tmp/demo/demo_pkg/__init__.py"
                   " && printf 'from setuptools import setup\\nsetup(name=\"demo_pkg\", version=\"1\", packages=[\"demo_pkg\"])\\n' > /tmp/demo/setup.py"
                   " && pip install -q --no-index --no-build-isolation --prefix=/install /tmp/demo >/dev/null 2>&1"
                   " && cp -a /install/. /usr/local/ && cd / && python -c 'import demo_pkg; print(demo_pkg.__file__)'")
    code, output = run(client, made, facts.image, ["sh", "-c", script], entrypoint=[])
    assert code == 0, f"{facts.image}: {output}"
    if facts.site_packages:
        purelib, user_site, imported = output.split()[:3]
        assert purelib == facts.site_packages and user_site == facts.user_site, output
        assert imported.startswith(facts.site_packages + "/demo_pkg/"), output


def test_standins_answer_to_the_exact_tags_of_what_is_inside(client, statuses):
    for recipe in recipes.RECIPES:
        if statuses[recipe.image].action == "pulled":
            continue  # the real image: its patch release is upstream's, not the stand-in's aliases
        image_id = client.api.inspect_image(recipe.image)["Id"]
        for alias in recipe.aliases:
            assert client.api.inspect_image(alias)["Id"] == image_id, alias


@pytest.mark.parametrize("image", PYTHONS)
def test_python_and_pip_run_in_the_python_images(client, statuses, made, image):
    code, output = run(client, made, image, ["sh", "-c", "python --version && pip --version && python3 -m venv /tmp/v"
                                                        " && /tmp/v/bin/python -c 'import sys; print(sys.prefix)'"])
    assert code == 0, output
    assert output.startswith("Python 3.11"), output
    assert "python 3.11" in output and "/tmp/v" in output, output


@pytest.mark.parametrize("image,has_gcc", [("python:3.11-slim", False), ("python:3.11", True)])
def test_only_the_full_python_image_has_a_compiler(client, statuses, made, image, has_gcc):
    code, output = run(client, made, image, ["sh", "-c", "command -v gcc"])
    assert (code == 0) == has_gcc, output


@pytest.mark.parametrize("image", ["debian:bookworm-slim", "python:3.11-slim", "redis:7"])
def test_apt_lists_are_cleaned_and_host_certificates_are_in(client, statuses, made, image):
    code, output = run(client, made, image, ["sh", "-c", "ls /var/lib/apt/lists; grep -c BEGIN /etc/ssl/certs/ca-certificates.crt"],
                       entrypoint=[])
    lines = [line for line in output.split() if line not in ("lock", "partial", "auxfiles")]
    assert code == 0, output
    assert len(lines) == 1 and int(lines[0]) > 100, f"apt lists left, or no CA bundle: {output}"


def test_pip_install_from_the_index_works_inside_a_build_from_slim(client, statuses, made):
    tag = build(client, made, (
        "FROM python:3.11-slim\n"
        f"LABEL dockyard.run={RUN}\n"
        "RUN pip install --no-cache-dir six==1.16.0 && python -c 'import six; assert six.__version__ == \"1.16.0\"'\n"
    ), "pip")
    code, output = run(client, made, tag, ["python", "-c", "import six; print(six.__file__)"])
    assert code == 0 and "/usr/local/lib/python3.11/" in output, output


def test_the_courses_multi_stage_patterns_work(client, statuses, made):
    """Builder stage on python:3.11, runtime on -slim: `pip install --user` + COPY /root/.local, and site-packages."""
    tag = build(client, made, (
        "FROM python:3.11 AS builder\n"
        f"LABEL dockyard.run={RUN}\n"
        "RUN pip install --user --no-cache-dir six==1.16.0 && pip install --no-cache-dir idna==3.7\n"
        "FROM python:3.11-slim\n"
        f"LABEL dockyard.run={RUN}\n"
        "COPY --from=builder /root/.local /root/.local\n"
        "COPY --from=builder /usr/local/lib/python3.11/site-packages /usr/local/lib/python3.11/site-packages\n"
        "ENV PATH=/root/.local/bin:$PATH\n"
        "RUN python -c 'import six, idna; print(six.__file__, idna.__file__)'\n"
    ), "multistage")
    code, output = run(client, made, tag, ["python", "-c", "import six, idna; print(six.__file__)"])
    assert code == 0 and "/root/.local/lib/python3.11/site-packages/six.py" in output, output


def test_redis_answers_ping_from_another_container_and_keeps_a_key_across_restarts(client, statuses, made):
    network = client.networks.create(unique("net"), driver="bridge", labels=LABELS)
    made.append(network)
    volume = client.volumes.create(unique("data"), labels=LABELS)
    made.append(volume)

    def start_server():
        server = client.containers.run("redis:7", detach=True, name=unique("redis"), network=network.name,
                                       volumes={volume.name: {"bind": "/data", "mode": "rw"}}, labels=LABELS)
        made.append(server)
        deadline = time.monotonic() + 30
        while server.exec_run(["redis-cli", "ping"]).output.strip() != b"PONG":
            assert time.monotonic() < deadline, server.logs().decode()[-1000:]
            time.sleep(0.2)
        return server

    server = start_server()
    code, output = run(client, made, "redis:7", ["redis-cli", "-h", server.name, "ping"], network=network.name)
    assert (code, output.strip()) == (0, "PONG"), output
    code, output = run(client, made, "redis:7", ["redis-cli", "-h", server.name, "set", "lesson", "volumes"],
                       network=network.name)
    assert output.strip() == "OK", output
    server.stop(timeout=10)  # SIGTERM: redis saves dump.rdb to /data, as upstream
    server.remove(v=True)
    server = start_server()
    code, output = run(client, made, "redis:7", ["redis-cli", "-h", server.name, "get", "lesson"],
                       network=network.name)
    assert output.strip() == "volumes", f"the key did not survive a restart: {output!r}"


def test_the_registry_standin_takes_a_push_on_loopback(client, statuses, made):
    registry = client.containers.run("registry:2", detach=True, name=unique("registry"), labels=LABELS,
                                     ports={"5000/tcp": ("127.0.0.1", None)})
    made.append(registry)
    registry.reload()
    port = registry.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).read()
            break
        except OSError:
            assert time.monotonic() < deadline, registry.logs().decode()[-1000:]
            time.sleep(0.2)
    repository = f"localhost:{port}/dockyard-test-baseimages"
    client.images.get("debian:bookworm-slim").tag(repository, "1")
    made.append(f"{repository}:1")
    messages = list(client.api.push(repository, tag="1", stream=True, decode=True))
    assert not [m for m in messages if m.get("error")], messages[-3:]
    catalog = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/_catalog", timeout=5).read())
    assert "dockyard-test-baseimages" in catalog["repositories"]


def test_an_image_that_can_be_neither_pulled_nor_built_says_which_and_what_to_do(client, statuses):
    with pytest.raises(BaseImageUnavailable) as caught:
        baseimages.ensure(client, images=["dockyard-test/no-such-image:1"])
    assert caught.value.image == "dockyard-test/no-such-image:1"
    assert "dockyard-test/no-such-image:1" in caught.value.one_line() and caught.value.hint


@pytest.mark.skipif(os.geteuid() != 0 or not baseimages._find_debootstrap(), reason="building needs root and debootstrap")
def test_an_unreachable_mirror_gives_one_line_saying_what_to_do(client, statuses, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKYARD_CACHE", str(tmp_path))
    monkeypatch.setenv("DOCKYARD_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
    before = client.api.inspect_image("registry:2")["Id"]
    with pytest.raises(BaseImageUnavailable) as caught:
        baseimages.ensure(client, images=["registry:2"], force=True)
    line = caught.value.one_line()
    assert "registry:2" in line and "127.0.0.1:9" in line and "DOCKYARD_DEBIAN_MIRROR" in line, line
    assert "\n" not in line
    assert client.api.inspect_image("registry:2")["Id"] == before, "a failed build must leave the image alone"
    assert not list((tmp_path / "images" / "work").iterdir()), "the build's scratch trees are removed"


def test_a_second_ensure_with_everything_present_is_quick_and_does_nothing(client, statuses):
    started = time.monotonic()
    again = baseimages.ensure(client)
    elapsed = time.monotonic() - started
    assert [status.action for status in again] == ["present"] * len(recipes.course_images())
    assert elapsed < 2.0, f"re-run took {elapsed:.2f} s"


def test_nothing_is_left_behind(client):
    """Runs last in this module: the per-test teardowns removed everything they made."""
    assert sweep(client) == {"container": 0, "network": 0, "volume": 0, "image": 0}
