"""Rubric for 02-container-lifecycle: the learner's `commands.sh`, carried out command by command in the sandbox.

Each item is judged by what the commands did to the container named `notes`, as the engine had it after each
command (the steps' snapshots) and as the app inside it answered (the observer asks it from inside the
container after every command, so a wrong published port costs the port item only).
"""

import json

import pytest

from dockyard.static.commandline import port_mismatch

NB = "03-containers.ipynb"
pytestmark = pytest.mark.lesson(NB)
NAME = "notes"
APP_PORT = 8000
HOST_PORT = 8080
DATA = "/data"
RUN_LINE = f"docker run -d --name {NAME} -p {HOST_PORT}:{APP_PORT} -e NOTES_OWNER=Ada -v notes-data:{DATA} notes-app"
ASK_APP = ("import json, time, urllib.request\n"
           "for _ in range(50):\n"
           "    try:\n"
           f"        print(urllib.request.urlopen('http://127.0.0.1:{APP_PORT}/notes.json', timeout=2).read().decode())\n"
           "        break\n"
           "    except Exception:\n"
           "        time.sleep(0.2)\n")


class Observer:
    """After each command: the app's own answer from inside `notes` (while it runs), and, right after the
    `docker run` that made it, the answer through each port it publishes on 127.0.0.1."""

    def __init__(self, sandbox, probe):
        self.sandbox = sandbox
        self.probe = probe
        self.answers: dict[int, dict | None] = {}  # step index -> /notes.json as the app said it, or None
        self.published: dict[int, object] = {}  # container port -> HttpResult through its host port, after the run
        self.listening: list[int] = []  # the ports the app listened on inside the container, after the run

    def __call__(self, step, line):
        index = len(line.steps) - 1
        state = step.containers.get(NAME)
        if state is None or not state.running:
            return
        import docker.errors

        try:
            container = self.sandbox.client.containers.get(line.containers[NAME])
        except docker.errors.NotFound:  # gone since the snapshot (`--rm` and it stopped)
            return
        result = self.sandbox.exec(container, ["python", "-c", ASK_APP], timeout_s=15)
        try:
            self.answers[index] = json.loads(result.stdout.strip().splitlines()[-1]) if result.exit_code == 0 else None
        except (ValueError, IndexError):
            self.answers[index] = None
        if step.command.subcommand == "run" and step.command.flag("name") == NAME and not self.published:
            self.listening = sorted({port for _, port in self.sandbox.listening(container)})
            for port in sorted(state.ports):
                url = f"http://127.0.0.1:{state.host_port(port)}/"
                self.published[port] = self.probe.http(url, port=port, timeout_s=5)


@pytest.fixture(scope="session")
def dockyard_command_observer(dockyard_sandbox, dockyard_probe):
    return Observer(dockyard_sandbox, dockyard_probe)


def _runs(command_line):
    """(index, step) of each `docker run` that names its container `notes`."""
    return [(i, step) for i, step in enumerate(command_line.steps)
            if step.command.subcommand == "run" and step.command.flag("name") == NAME]


def _the_run(command_line):
    runs = _runs(command_line)
    assert runs, (f"expected a `docker run` that names its container `{NAME}` (`--name {NAME}`), found none: "
                  f"write `{RUN_LINE}`")
    index, step = runs[0]
    assert step.ok, f"expected your `docker run --name {NAME}` to start the container, seen: {step.one_line()}"
    return index, step


def _auto_removed(run_step) -> str:
    return (": your `docker run --rm` removes the container the moment it stops, so there is nothing left to start "
            "or remove (leave `--rm` out for a service you stop and start)" if run_step.command.flag("rm") else "")


def _after(command_line, index):
    return command_line.steps[index].containers.get(NAME)


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#detach")
def test_runs_detached(dockyard_command_line):
    """`docker run -d --name notes` starts the service in the background"""
    index, step = _the_run(dockyard_command_line)
    assert step.command.flag("detach"), (
        f"expected `docker run -d` (detached), found `{step.command.text}` without `-d`: the service runs in the "
        "foreground and keeps the terminal, so the next commands would wait for it. seen: " + (step.note or ""))
    state = _after(dockyard_command_line, index)
    assert state is not None and state.running, (
        f"expected `{NAME}` running after `docker run -d`, found it {state.status if state else 'missing'}: "
        "read `docker logs notes`")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#ports")
def test_port_published(dockyard_command_line, dockyard_command_observer):
    """The host's port 8080 leads to the app's port 8000, where it answers"""
    _, step = _the_run(dockyard_command_line)
    asked = {port.container: port.host for port in step.command.ports}
    if APP_PORT in asked and asked[APP_PORT] == HOST_PORT:
        answer = dockyard_command_observer.published.get(APP_PORT)
        assert answer is not None and answer.ok and "Notes of" in (answer.text or ""), (
            f"expected the app's page through the host's port {HOST_PORT}, seen: "
            + (answer.explain("Notes of …") if answer is not None else "the container was not running"))
        return
    assert False, port_mismatch(step.command.ports, HOST_PORT, APP_PORT, dockyard_command_observer.listening)


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#env")
def test_owner_set(dockyard_command_line, dockyard_command_observer):
    """NOTES_OWNER is set in the container, and the app greets its owner"""
    index, _ = _the_run(dockyard_command_line)
    state = _after(dockyard_command_line, index)
    owner = (state.env.get("NOTES_OWNER") or "").strip() if state and state.status != "removed" else ""
    assert owner, ("expected `-e NOTES_OWNER=<your name>` on the `docker run`, found no NOTES_OWNER in the "
                   "container's environment (the app says `Notes of nobody`)")
    said = dockyard_command_observer.answers.get(index)
    assert said is None or said.get("owner") == owner, f"expected the app to greet {owner}, it said {said}"


@pytest.mark.points(1)
@pytest.mark.lesson("06-volumes.ipynb#named-volumes")
def test_named_volume(dockyard_command_line):
    """A named volume is mounted at /data, so the notes outlive the container"""
    index, _ = _the_run(dockyard_command_line)
    state = _after(dockyard_command_line, index)
    mounts = [mount for mount in (state.mounts if state else ()) if mount["target"] == DATA]
    assert mounts and mounts[0]["type"] == "volume" and mounts[0]["name"], (
        f"expected a named volume at {DATA} (`-v notes-data:{DATA}`), found "
        + ("nothing mounted there: the notes live in the container and go with it" if not mounts
           else "an anonymous volume (`-v /data`): it has no name to mount again in a new container"
           if mounts[0]["type"] == "anonymous" else f"a {mounts[0]['type']} mount"))


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#run")
def test_listed_in_ps(dockyard_command_line):
    """`docker ps` lists the running container"""
    index, _ = _the_run(dockyard_command_line)
    listings = [step for step in dockyard_command_line.steps[index + 1:] if step.command.subcommand == "ps"]
    assert listings, "expected a `docker ps` after the `docker run`, found none"
    assert any(NAME in step.listed for step in listings), (
        f"expected `docker ps` to list `{NAME}`, it listed " + (", ".join(listings[0].listed) or "nothing")
        + f" (line {listings[0].command.line}): run it while the container runs")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#logs")
def test_logs_read(dockyard_command_line):
    """`docker logs notes` shows the service's start line"""
    index, _ = _the_run(dockyard_command_line)
    reads = [step for step in dockyard_command_line.steps[index + 1:]
             if step.command.subcommand == "logs" and step.command.args[0] == NAME]
    assert reads, f"expected `docker logs {NAME}` after the `docker run`, found none"
    assert any(step.ok and "listening on" in step.output for step in reads), (
        f"expected `docker logs {NAME}` to show `notes: listening on 0.0.0.0:8000 …`, seen: "
        + (reads[0].one_line() if not reads[0].ok else (reads[0].output.strip()[-200:] or "an empty log")
           + " (`--tail 0` shows nothing)"))


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#exec")
def test_exec_adds_note(dockyard_command_line, dockyard_command_observer):
    """`docker exec notes python add_note.py …` adds a note inside the running container"""
    index, _ = _the_run(dockyard_command_line)
    execs = [(i, step) for i, step in enumerate(dockyard_command_line.steps) if i > index
             and step.command.subcommand == "exec" and step.command.args[0] == NAME]
    assert execs, f'expected `docker exec {NAME} python add_note.py "buy milk"` after the run, found none'
    for i, step in execs:
        said = dockyard_command_observer.answers.get(i) or {}
        if step.ok and said.get("notes"):
            return
    i, step = execs[0]
    assert False, ('expected a note added with `docker exec notes python add_note.py "buy milk"`, seen: '
                   + (step.one_line() if not step.ok else f"`{step.command.text}` ran, but the app has no note"))


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#lifecycle")
def test_stop_start_keeps_data(dockyard_command_line, dockyard_command_observer):
    """Stopped and started again, the service comes back with its data"""
    index, run = _the_run(dockyard_command_line)
    stopped_at = None
    for i, step in enumerate(dockyard_command_line.steps[index + 1:], start=index + 1):
        state = step.containers.get(NAME)
        name_in = NAME in step.command.args
        if step.command.subcommand == "stop" and name_in and step.ok and state and state.status == "exited":
            stopped_at = i
        came_back = ((stopped_at is not None and step.command.subcommand == "start")
                     or step.command.subcommand == "restart") and name_in and step.ok
        if came_back and state and state.running:
            before = dockyard_command_observer.answers.get(stopped_at - 1 if stopped_at else i - 1) or {}
            after = dockyard_command_observer.answers.get(i) or {}
            assert after.get("starts", 0) >= 2 and after.get("notes") == before.get("notes", after.get("notes")), (
                f"expected `{NAME}` back with its notes after the start, it said {after or 'nothing'}")
            return
    assert False, (f"expected `docker stop {NAME}` and then `docker start {NAME}` (or `docker restart {NAME}`), "
                   + ("found the stop but no start after it" if stopped_at is not None
                      else "found no stop of it that left it stopped") + _auto_removed(run))


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#rm-and-prune")
def test_removed(dockyard_command_line):
    """`docker rm` removes the container at the end (the volume stays)"""
    index, run = _the_run(dockyard_command_line)
    final = dockyard_command_line.steps[-1].containers.get(NAME)
    removals = [step for step in dockyard_command_line.steps[index + 1:]
                if step.command.subcommand == "rm" and NAME in step.command.args]
    assert removals, (f"expected `docker rm {NAME}` at the end (after `docker stop {NAME}`, or `docker rm -f {NAME}`), "
                      "found none" + (f": the container is still there, {final.status}" if final else ""))
    assert any(step.ok for step in removals), (
        f"expected `docker rm {NAME}` to remove it, seen: {removals[0].one_line()}" + _auto_removed(run))
    assert final is not None and final.status == "removed", (
        f"expected `{NAME}` gone at the end, found it {final.status if final else 'missing'}: a later `docker run` "
        "made it again?")
