"""Rubric for 01-registry: the learner's `commands.sh` ships the image through a registry started for this grading.

The grading starts the `registry:2` stand-in (sandbox/registry.py); the learner's `localhost:5000` names it.
Each item is judged by what happened: the registry's own API says what was pushed (through its published port),
each pull's record says which digest the engine pulled, the container says which image it runs, and the app
answers (or not) through the port the run published.
"""

import pytest

from dockyard import partial
from dockyard.sandbox import registry as grading_registry
from dockyard.static.commandline import GRADING_REGISTRY, parse_reference, port_mismatch

NB = "02-images-and-layers.ipynb"
pytestmark = pytest.mark.lesson(NB)
APP_PORT = 8000
HOST_PORT = 8080
SHOWN = f"{GRADING_REGISTRY}/shipit"  # the names the README uses
RUN_LINE = f"docker run -d -p {HOST_PORT}:{APP_PORT} {SHOWN}@sha256:<digest>"


@pytest.fixture(scope="session")
def dockyard_command_registry(dockyard_sandbox, dockyard_commands):
    return grading_registry.start(dockyard_sandbox)


class Observer:
    """Right after each `docker run` that started a container: the app's answer through each published port."""

    def __init__(self, probe):
        self.probe = probe
        self.answers: dict[int, dict] = {}  # step index -> {container port: HttpResult}

    def __call__(self, step, line):
        if step.command.subcommand != "run" or not step.ok:
            return
        name = step.command.flag("name") or next(reversed(line.containers), None)
        state = step.containers.get(name)
        if state is None or not state.running:
            return
        self.answers[len(line.steps) - 1] = {
            port: self.probe.http(f"http://127.0.0.1:{state.host_port(port)}/", port=port, timeout_s=5)
            for port in sorted(state.ports)}


@pytest.fixture(scope="session")
def dockyard_command_observer(dockyard_probe):
    return Observer(dockyard_probe)


def _steps(command_line, subcommand):
    return [(i, step) for i, step in enumerate(command_line.steps) if step.command.subcommand == subcommand]


def _pushes(command_line, command_registry):
    """(step, repository path, tag) of each push the registry now holds, as its catalog and tags list say."""
    catalog = set(command_registry.catalog())
    held = []
    for _, step in _steps(command_line, "push"):
        ref = parse_reference(step.command.args[0])
        if step.ok and ref.path in catalog and (ref.tag or "latest") in command_registry.tags(ref.path):
            held.append((step, ref.path, ref.tag or "latest"))
    return held


def _container_of(command_line, index, step):
    unnamed = sum(1 for i, run in _steps(command_line, "run") if i <= index and not run.command.flag("name"))
    name = step.command.flag("name") or f"unnamed-{unnamed}"  # the executor's name for the n-th unnamed run
    return name, step.containers.get(name)


def _the_run(command_line):
    """The `docker run` the items judge: the first that runs what was pulled, else the first that ran at all."""
    runs = _steps(command_line, "run")
    assert runs, f"expected a `docker run` of what you pulled, found none: write `{RUN_LINE}`"
    for index, step in runs:
        if step.ok and parse_reference(step.command.args[0]).canonical() in command_line.pulled:
            return index, step
    for index, step in runs:
        if step.ok:
            return index, step
    index, step = runs[0]
    assert False, f"expected your `docker run` to start the container, seen: {step.one_line()}"


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#push")
def test_named_for_registry(dockyard_command_line):
    """The image gets a name at the registry (`localhost:5000/…`)"""
    named = [step for step in dockyard_command_line.steps if step.ok and step.command.subcommand in ("tag", "build")
             and any(parse_reference(name).at_grading_registry
                     for name in (step.command.args[1:] if step.command.subcommand == "tag" else step.command.values("tag")))]
    builds = _steps(dockyard_command_line, "build")
    assert not builds or builds[0][1].ok, f"expected the image to build, seen: {builds[0][1].one_line()}"
    assert named, (f"expected a name that starts with the registry's address, `docker tag shipit:1.0 {SHOWN}:1.0`, "
                   "found none: a name without it (`shipit:1.0`) means Docker Hub to `docker push`")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#push")
def test_pushed(dockyard_command_line, dockyard_command_registry):
    """The registry holds the pushed image (its catalog lists the repository and the tag)"""
    pushes = _steps(dockyard_command_line, "push")
    assert pushes, f"expected `docker push {SHOWN}:1.0` after the tag, found no push: the registry is empty"
    held = _pushes(dockyard_command_line, dockyard_command_registry)
    assert held, ("expected the registry to hold what you pushed, seen: " + pushes[0][1].one_line()
                  + f"; the registry's catalog lists {dockyard_command_registry.catalog() or 'nothing'}")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#pull-by-digest")
def test_pulled_by_digest(dockyard_command_line, dockyard_command_registry):
    """The image is pulled back by its digest (`name@sha256:…`), the one the registry gave the push"""
    pulls = _steps(dockyard_command_line, "pull")
    assert pulls, (f"expected `docker pull {SHOWN}@sha256:<digest>` after the push, found no pull: find the digest "
                   "with `docker images --digests` or in the push's last line")
    digests = {dockyard_command_registry.manifest_digest(path, tag)
               for _, path, tag in _pushes(dockyard_command_line, dockyard_command_registry)}
    by_digest = [step for _, step in pulls if parse_reference(step.command.args[0]).digest]
    for step in by_digest:
        if step.ok and step.digest in digests:
            return
    if by_digest:
        step = by_digest[0]
        assert False, (f"expected a pull by the digest the registry gave your push ({', '.join(sorted(filter(None, digests))) or 'nothing was pushed'}), "
                       "seen: " + (step.one_line() if not step.ok else f"line {step.command.line} pulled {step.digest}"))
    pulled = [step for _, step in pulls if step.ok]
    if pulled:
        partial(0.5, f"expected a pull by digest, `{SHOWN}@sha256:…`, seen `{pulled[0].command.text}` "
                     f"(line {pulled[0].command.line}), a pull by tag: a tag can move to other bytes tomorrow, a "
                     "digest always names these exact bytes")
    assert False, f"expected `docker pull {SHOWN}@sha256:<digest>` to work, seen: {pulls[0][1].one_line()}"


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#pull-by-digest")
def test_runs_pulled_image(dockyard_command_line):
    """The container runs what the pull gave (the same image, by the pulled name)"""
    index, step = _the_run(dockyard_command_line)
    written = parse_reference(step.command.args[0]).canonical()
    _, state = _container_of(dockyard_command_line, index, step)
    pulled_id = dockyard_command_line.pulled.get(written)
    if pulled_id is not None:
        assert state is not None and state.image_id == pulled_id, (
            f"expected the container to run the pulled image {pulled_id[:19]}…, seen "
            + (state.image_id[:19] + "…" if state else "no container"))
        return
    if parse_reference(written).digest and written in dockyard_command_line.images:
        partial(0.5, f"expected `docker run` of what `docker pull` gave, seen `{step.command.text}` (line "
                     f"{step.command.line}): that digest names your local image after the push, but nothing "
                     "was pulled: pull it first, as another machine would")
    assert False, (f"expected `docker run` of the image you pulled (`{SHOWN}@sha256:…`), seen `{step.command.text}` "
                   f"(line {step.command.line}): `{step.command.args[0]}` is "
                   + ("the image you built, not the one the pull gave: on another machine only the pulled one "
                      "would be there" if written in dockyard_command_line.images else "not a name a pull gave")
                   + (f"; the pull gave {', '.join(dockyard_command_line.pulled)}" if dockyard_command_line.pulled
                      else "; nothing was pulled"))


@pytest.mark.points(1)
@pytest.mark.lesson("03-containers.ipynb#detach")
def test_runs_detached(dockyard_command_line):
    """It runs in the background (`docker run -d`)"""
    index, step = _the_run(dockyard_command_line)
    assert step.command.flag("detach"), (
        f"expected `docker run -d` (detached), found `{step.command.text}` without `-d`: the service keeps the "
        "terminal. seen: " + (step.note or ""))
    name, state = _container_of(dockyard_command_line, index, step)
    assert state is not None and state.running, (
        f"expected the container running after `docker run -d`, found it {state.status if state else 'missing'}")


@pytest.mark.points(2)
@pytest.mark.lesson("03-containers.ipynb#ports")
def test_answers_on_port(dockyard_command_line, dockyard_command_observer):
    """The host's port 8080 leads to the app's port 8000, where it answers"""
    index, step = _the_run(dockyard_command_line)
    asked = {port.container: port.host for port in step.command.ports}
    if asked.get(APP_PORT) == HOST_PORT:
        answer = (dockyard_command_observer.answers.get(index) or {}).get(APP_PORT)
        assert answer is not None and answer.ok and "shipit" in (answer.text or ""), (
            f"expected the app's page through the host's port {HOST_PORT}, seen: "
            + (answer.explain("shipit …") if answer is not None else "the container was not running"))
        return
    assert False, port_mismatch(step.command.ports, HOST_PORT, APP_PORT)
