"""Carry out a parsed `commands.sh` (static/commandline.py) through the Sandbox, one command after another.

Nothing here runs a shell or the docker CLI: each command becomes the engine calls it stands for, made
with the sandbox's limits and labels. The learner's names are theirs only inside this run: container
`notes` is `dockyard-<exercise>-<run>-c-notes` on the engine (two gradings never collide), volume `data`
is a labelled volume of this run, image `notes-app` a tag of this run. Published ports go to free
ports on 127.0.0.1 whatever host port the command asked for (the step remembers which is which).
Anonymous volumes are made as labelled volumes too, so nothing unlabelled is ever left behind.
Where the exercise has a registry (sandbox/registry.py), `localhost:5000/…` names it: `push` and `pull` go
through the engine to it at `127.0.0.1:<its port>`, and every name they add is untagged when the run ends.

Each command's result is a `Step`: its exit code, what docker would have printed (in the learner's
names), a note where the grader had to do something a terminal would not (a `docker run` without `-d`
that keeps running is left running after FOREGROUND_S), and a snapshot of the learner's containers
after it. A failing command does not stop the script (a shell would go on too); the engine going away
(EngineLost) does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import bounded
from dockyard.errors import BuildFailed, BuildNotIsolated, DiskFull, DockyardError, EngineLost, EngineUnavailable
from dockyard.polling import wait_until
from dockyard.static.commandline import FORMAT_ACTION, GRADING_REGISTRY, Command, Script, parse_reference
from dockyard.text import clean, tail

FOREGROUND_S = 8.0  # how long a `docker run` without -d may hold the "terminal" before the grader moves on
READY_S = 15.0  # after run -d / start: how long to wait for the container to listen on its published ports
SETTLE_S = 1.5  # listening, but not on the published ports, this long: it will not move to them
LOG_LINES = 100
EXEC_S = 30.0  # a `docker exec` is stopped after this long


@dataclass(frozen=True)
class ContainerState:
    """One learner container as the engine had it after a step, in the learner's names."""

    name: str
    status: str  # running, exited, created, restarting, … ("removed": no longer exists)
    image: str = ""
    env: dict = field(default_factory=dict)
    mounts: tuple = ()  # ({"type": "volume"|"anonymous"|"bind", "name": learner's name or None, "target": "/data"}, …)
    ports: dict = field(default_factory=dict)  # container port -> (learner's host port or None, 127.0.0.1 port)
    started_at: str = ""
    image_id: str = ""  # the image it runs (sha256:…)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def host_port(self, container_port: int) -> int | None:
        """The 127.0.0.1 port the grader can reach `container_port` on (while it runs)."""
        pair = self.ports.get(container_port)
        return pair[1] if pair else None


@dataclass
class Step:
    command: Command
    exit_code: int = 0
    output: str = ""
    note: str = ""
    containers: dict = field(default_factory=dict)  # learner's name -> ContainerState after this step
    listed: tuple = ()  # ps: the learner's names it listed
    digest: str = ""  # push: the manifest digest the engine pushed; pull: the one it pulled
    image_id: str = ""  # pull: the image it gave

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def one_line(self) -> str:
        said = self.output.strip().splitlines()[-1:] if not self.ok else []
        return clean(f"line {self.command.line}: `{self.command.text}` exited {self.exit_code}"
                     + (f": {said[0]}" if said else ""), 300)


class CommandFailed(Exception):
    """A command that docker would refuse (exit code, message): a learner's result, never the grader's fault."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


class CommandLine:
    """The learner's docker, as far as one run of one script goes."""

    def __init__(self, sandbox, folder: Path, base_images: tuple[str, ...] = (), registry=None):
        self.sandbox = sandbox
        self.registry = registry  # the grading's registry (sandbox/registry.py), or None: nothing answers there
        self.folder = Path(folder).resolve()
        self.base_images = tuple(base_images)
        self.containers: dict[str, str] = {}  # learner name -> engine name
        self.images: dict[str, str] = {}  # learner ref (canonical: name:tag or name@digest) -> engine ref
        self.pulled: dict[str, str] = {}  # learner refs that name what a pull gave (and tags of them) -> image id
        self.pushed: dict[str, str] = {}  # learner repository (localhost:5000/name) -> the digest its last push made
        self.volumes: dict[str, str] = {}
        self.networks: dict[str, str] = {}
        self.learner_port: dict[tuple[str, int], int | None] = {}  # (container, container port) -> host port asked
        self.steps: list[Step] = []
        self._anonymous = 0
        self._unnamed = 0

    # -- the script ----------------------------------------------------------------------------------
    def execute(self, script: Script, observe=None) -> list[Step]:
        """Every command of a clean script, in order; `observe(step, self)` after each (a rubric's probes)."""
        if not script.ok:
            raise DockyardError("a refused script is never run: " + script.summary())
        self.sandbox.network()  # the run's network (and the firewall rules) before any container
        for command in script.commands:
            step = Step(command)
            try:
                getattr(self, "_" + command.subcommand.replace(" ", "_"))(command, step)
            except CommandFailed as exc:
                step.exit_code, step.output = exc.code, self.in_learner_names(exc.message)
            except (EngineLost, EngineUnavailable, DiskFull, BuildNotIsolated):
                raise  # not the learner's doing: the grading is an error (retried), never a failed command
            except BuildFailed as exc:
                lines = [line for line in exc.log_tail if line.strip()][-5:]
                step.exit_code = 1
                step.output = self.in_learner_names("\n".join([*lines, exc.reason]))
            except Exception as exc:  # docker.errors.APIError / NotFound: docker's own refusal, as the CLI shows it
                step.exit_code = 125 if command.subcommand == "run" else 1
                step.output = self.in_learner_names(f"Error response from daemon: {_explain(exc)}")
            step.containers = self.snapshot()
            self.steps.append(step)
            if observe is not None:
                observe(step, self)
        return self.steps

    def in_learner_names(self, text: str) -> str:
        """Engine names (and the grader's paths) in a message, put back as the learner wrote them."""
        text = str(text)
        for table in (self.containers, self.volumes, self.networks):
            for mine, engine_name in sorted(table.items(), key=lambda pair: -len(pair[1])):
                text = text.replace(engine_name, mine)
        for mine, engine_tag in sorted(self.images.items(), key=lambda pair: -len(pair[1])):
            text = text.replace(engine_tag, mine)
        if self.registry is not None:
            text = text.replace(self.registry.address, GRADING_REGISTRY)
        return text.replace(str(self.folder), ".")

    # -- lookups --------------------------------------------------------------------------------------
    def container(self, name: str):
        import docker.errors

        engine_name = self.containers.get(name)
        if engine_name is None:
            raise CommandFailed(f"Error response from daemon: No such container: {name}")
        try:
            return self.sandbox.client.containers.get(engine_name)
        except docker.errors.NotFound:
            raise CommandFailed(f"Error response from daemon: No such container: {name}") from None

    def _image_ref(self, name: str) -> str:
        ref = self._full(name)
        if ref in self.images:
            return self.images[ref]
        if name in self.base_images or ref in self.base_images:
            return name  # a course base image, already on the engine: never pulled here
        raise CommandFailed(f"Unable to find image '{ref}' here: build it first in commands.sh "
                            f"(`docker build -t {name} .`); the grader pulls nothing", 125)

    def _engine_tag(self, learner_ref: str) -> str:
        ref = parse_reference(learner_ref)
        if ref.at_grading_registry and self.registry is not None:
            return f"{self.registry.address}/{ref.path}:{ref.tag or 'latest'}"  # the registry's port is this run's
        name, _, tag = learner_ref.rpartition(":")
        repository = "dockyard/" + f"{self.sandbox.exercise_id}-{name.replace('/', '-').replace(':', '-')}".lower()
        return f"{repository}:{self.sandbox.run_id}-{tag}"

    def _volume(self, name: str) -> str:
        if name not in self.volumes:
            self.volumes[name] = self.sandbox.volume(f"v-{name}")
        return self.volumes[name]

    def _network(self, name: str) -> str:
        if name not in self.networks:
            raise CommandFailed(f"Error response from daemon: network {name} not found: create it first "
                                f"(`docker network create {name}`)", 125)
        return self.networks[name]

    # -- snapshots -------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, ContainerState]:
        states = {}
        for name in self.containers:
            states[name] = self.state(name)
        return states

    def state(self, name: str) -> ContainerState:
        import docker.errors

        try:
            attrs = self.sandbox.client.api.inspect_container(self.containers[name])
        except docker.errors.NotFound:
            return ContainerState(name, "removed")
        env = dict(item.partition("=")[::2] for item in (attrs.get("Config") or {}).get("Env") or [])
        mounts = []
        reverse = {engine_name: mine for mine, engine_name in self.volumes.items()}
        for mount in attrs.get("Mounts") or []:
            if mount.get("Type") == "volume":
                volume = mount.get("Name", "")
                kind = "volume" if volume in reverse else "anonymous"
                mounts.append({"type": kind, "name": reverse.get(volume), "target": mount.get("Destination")})
            else:
                mounts.append({"type": mount.get("Type"), "name": None, "target": mount.get("Destination")})
        ports = {}
        for key, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
            number = int(key.split("/")[0])
            if bindings:
                ports[number] = (self.learner_port.get((name, number)), int(bindings[0]["HostPort"]))
        state = attrs.get("State") or {}
        image = self.in_learner_names((attrs.get("Config") or {}).get("Image", ""))
        return ContainerState(name, state.get("Status", "unknown"), image, env, tuple(mounts), ports,
                              state.get("StartedAt", ""), attrs.get("Image", ""))

    # -- the commands ------------------------------------------------------------------------------------
    def _build(self, command: Command, step: Step) -> None:
        context = self._inside(command.args[0])
        dockerfile = command.flag("file") or "Dockerfile"
        if not (context / dockerfile).is_file():
            raise CommandFailed(f"unable to prepare context: no {dockerfile} in {command.args[0]}")
        tags = [self._full(tag) for tag in command.values("tag")]
        first = self._engine_tag(tags[0]) if tags else None
        buildargs = dict(text.split("=", 1) for text in command.values("build-arg")) or None
        result = self.sandbox.build(context, dockerfile=dockerfile, tag=first, buildargs=buildargs,
                                    target=command.flag("target"))
        for tag in tags:
            self.images[tag] = self._engine_tag(tag)
            self.pulled.pop(tag, None)
            if tag != tags[0]:
                self._tag_engine(first, self.images[tag])
        step.output = f"Successfully built {result.image_id[7:19] if result.image_id else ''}" + "".join(
            f"\nSuccessfully tagged {tag}" for tag in tags)

    def _tag(self, command: Command, step: Step) -> None:
        source = self._image_ref(command.args[0])
        target = self._full(command.args[1])
        self.images[target] = self._engine_tag(target)
        self._tag_engine(source, self.images[target])
        if self._full(command.args[0]) in self.pulled:  # a new name for what was pulled
            self.pulled[target] = self.pulled[self._full(command.args[0])]
        else:
            self.pulled.pop(target, None)

    def _tag_engine(self, source: str, engine_tag: str) -> None:
        repository, _, tag = engine_tag.rpartition(":")
        self.sandbox.tag(source, repository, tag)

    @staticmethod
    def _full(name: str) -> str:
        """The learner's reference as docker reads it: `:latest` added, the grading's registry as localhost:5000."""
        return parse_reference(name).canonical()

    def _volume_create(self, command: Command, step: Step) -> None:
        self._volume(command.args[0])
        step.output = command.args[0]

    def _network_create(self, command: Command, step: Step) -> None:
        name = command.args[0]
        if name in self.networks:
            raise CommandFailed(f"Error response from daemon: network with name {name} already exists")
        self.networks[name] = self.sandbox.extra_network(f"n-{name}")
        step.output = name

    def _run(self, command: Command, step: Step) -> None:
        image = self._image_ref(command.args[0])
        name = command.flag("name")
        if name is None:
            self._unnamed += 1
            name = f"unnamed-{self._unnamed}"  # docker would pick a name; the script could not know it anyway
        if name in self.containers and self.state(name).status != "removed":
            raise CommandFailed(f'docker: Error response from daemon: Conflict. The container name "/{name}" is '
                                "already in use. Remove it first (`docker rm -f " + name + "`)", 125)
        environment, notes = self._environment(command)
        volumes = self._mounts(command)
        ports = []
        for port in command.ports:
            if port.protocol != "tcp":
                notes.append(f"`-p {port.text}`: only TCP ports are published here")
                continue
            ports.append(port.container)
            self.learner_port[(name, port.container)] = port.host
        extra = {}
        if command.flag("network") not in (None, "bridge", "default"):  # those two: the run's own network
            network = self._network(command.flag("network"))
            # on a user network docker's DNS answers to the container's name: here, the learner's name
            extra["network"] = network
            extra["networking_config"] = {network: self.sandbox.client.api.create_endpoint_config(aliases=[name])}
        if command.flag("workdir"):
            extra["working_dir"] = command.flag("workdir")
        if command.flag("restart") not in (None, "no"):
            policy, _, count = command.flag("restart").partition(":")
            extra["restart_policy"] = {"Name": policy, **({"MaximumRetryCount": int(count)} if count else {})}
        detach = bool(command.flag("detach"))
        if command.flag("rm") and detach:
            extra["auto_remove"] = True
        self.containers[name] = self.sandbox.name(f"c-{name}")
        running = self.sandbox.start(image, ports=tuple(ports), command=list(command.args[1:]) or None,
                                     environment=environment, volumes=volumes, name=f"c-{name}", **extra)
        container = running.container
        if detach:
            step.output = container.id
            self._wait_ready(container, ports)
        else:
            self._foreground(name, container, command, step, notes)
        step.note = "; ".join(notes)

    def _foreground(self, name, container, command: Command, step: Step, notes: list[str]) -> None:
        try:
            status = container.wait(timeout=FOREGROUND_S)
        except Exception:  # still running: a server started without -d
            notes.append(f"`docker run` without `-d` keeps your terminal until the container stops: `{name}` was "
                         f"still running after {FOREGROUND_S:.0f} s, so the grader left it running and went on "
                         "(in a terminal, the next lines would wait for it)")
            step.output = self.sandbox.logs(container)
            return
        step.exit_code = int(status.get("StatusCode", 1))
        step.output = self.sandbox.logs(container)
        if command.flag("rm"):
            container.remove(force=True, v=True)

    def _wait_ready(self, container, ports: list[int]) -> None:
        """As a person would before the next command: until it listens on its published ports, or stops, or
        has listened on other ports for a moment (it is up, only not where `-p` points: no use waiting longer)."""
        if not ports:
            return
        up_since: list[float] = []  # when it first listened on some port (empty: not yet)

        def done_waiting() -> bool:
            try:
                container.reload()
            except Exception:
                return True  # removed (`--rm` and it stopped)
            if container.status not in ("running", "created", "restarting"):
                return True
            listening = {port for _, port in self.sandbox.listening(container)}
            if set(ports) <= listening:
                return True
            if listening:
                up_since[:] = up_since or [time.monotonic()]
                return time.monotonic() - up_since[0] > SETTLE_S
            return False

        wait_until(done_waiting, min(READY_S, self.sandbox.limits.ready_timeout_s), 0.2)

    def _environment(self, command: Command) -> tuple[list[str], list[str]]:
        """-e and --env-file as docker reads them; a NAME with no value would come from the learner's own shell,
        which the grader does not have (and never hands its own environment to a container)."""
        environment, notes = [], []
        for path in command.values("env-file"):
            file = self._inside(path)
            if not file.is_file():
                raise CommandFailed(f"docker: open {path}: no such file or directory", 125)
            for raw in bounded.read_head(file, 64 * 1024).decode("utf-8", "replace").splitlines():
                line = raw.strip()
                if line and not line.startswith("#"):
                    self._one_variable(line, environment, notes, f"--env-file {path}")
        for item in command.values("env"):
            self._one_variable(item, environment, notes, "-e")
        return environment, notes

    @staticmethod
    def _one_variable(item: str, environment: list[str], notes: list[str], where: str) -> None:
        if "=" in item:
            environment.append(item)
        else:
            notes.append(f"`{where} {item}` takes {item} from your shell's environment, which the grader does "
                         f"not have: write `{item}=value`")

    def _mounts(self, command: Command) -> dict:
        volumes = {}
        for mount in command.mounts:
            mode = "ro" if mount.read_only else "rw"
            if mount.kind == "volume":
                volumes[self._volume(mount.source)] = {"bind": mount.target, "mode": mode}
            elif mount.kind == "anonymous":
                self._anonymous += 1  # a labelled volume of this run (docker's own would carry no label)
                volumes[self.sandbox.volume(f"anon{self._anonymous}")] = {"bind": mount.target, "mode": mode}
            else:
                folder = self._inside(mount.source)
                folder.mkdir(parents=True, exist_ok=True)
                volumes[str(folder)] = {"bind": mount.target, "mode": mode}
        return volumes

    def _inside(self, relative: str) -> Path:
        """A path of the submission (resolved now, on the grader's copy: a link out is refused)."""
        resolved = (self.folder / relative).resolve()
        if resolved != self.folder and self.folder not in resolved.parents:
            raise CommandFailed(f"{relative} leads out of your folder", 125)
        return resolved

    def _ps(self, command: Command, step: Step) -> None:
        rows, listed = [], []
        for name in self.containers:
            state = self.state(name)
            if state.status == "removed" or (not command.flag("all") and not state.running):
                continue
            listed.append(name)
            ports = ", ".join(f"0.0.0.0:{learner}->{port}/tcp" if learner else f"{port}/tcp"
                              for port, (learner, _) in sorted(state.ports.items()))
            rows.append((name, state.image, state.status, ports))
        step.listed = tuple(listed)
        if command.flag("quiet"):
            step.output = "\n".join(row[0] for row in rows)
        else:
            step.output = "\n".join(["NAMES  IMAGE  STATUS  PORTS", *("  ".join(row) for row in rows)])

    def _logs(self, command: Command, step: Step) -> None:
        container = self.container(command.args[0])
        lines = command.flag("tail")
        count = LOG_LINES if lines in (None, "all") else min(int(lines), LOG_LINES)
        step.output = tail(bounded.container_logs(container, lines=count), count) if count else ""
        notes = []
        if command.flag("follow"):
            notes.append("`-f` follows the log until you press Ctrl-C: the grader read what was there and went on")
        if command.flag("timestamps"):
            notes.append("`-t`: the log is shown here without timestamps")
        step.note = "; ".join(notes)

    def _exec(self, command: Command, step: Step) -> None:
        container = self.container(command.args[0])
        container.reload()
        if container.status != "running":
            raise CommandFailed(f"Error response from daemon: container {command.args[0]} is not running", 1)
        result = self.sandbox.exec(container, list(command.args[1:]), user=command.flag("user"), timeout_s=EXEC_S,
                                   environment=command.environment or None, workdir=command.flag("workdir"))
        step.exit_code = result.exit_code
        step.output = tail(result.stdout + result.stderr, LOG_LINES)
        if result.timed_out:
            step.note = f"stopped after {EXEC_S:.0f} s: a command run with docker exec here must end by itself"
        if command.flag("interactive") or command.flag("tty"):
            keyboard = "no keyboard here: `-i`/`-t` run the command without input"
            step.note = f"{step.note}; {keyboard}" if step.note else keyboard

    def _stop(self, command: Command, step: Step) -> None:
        for name in command.args:
            container = self.container(name)
            container.stop(timeout=self._stop_time(command))
        step.output = "\n".join(command.args)

    def _stop_time(self, command: Command) -> int:
        asked = command.flag("time")
        limit = int(self.sandbox.limits.stop_timeout_s)
        return min(int(asked), limit) if asked is not None else limit

    def _start(self, command: Command, step: Step) -> None:
        for name in command.args:
            container = self.container(name)
            container.start()
            self._wait_ready(container, [port for (owner, port) in self.learner_port if owner == name])
        step.output = "\n".join(command.args)

    def _restart(self, command: Command, step: Step) -> None:
        for name in command.args:
            container = self.container(name)
            container.restart(timeout=self._stop_time(command))
            self._wait_ready(container, [port for (owner, port) in self.learner_port if owner == name])
        step.output = "\n".join(command.args)

    def _rm(self, command: Command, step: Step) -> None:
        import docker.errors

        for name in command.args:
            container = self.container(name)
            try:
                container.remove(force=bool(command.flag("force")), v=bool(command.flag("volumes")))
            except docker.errors.APIError as exc:
                if getattr(exc, "status_code", None) == 409:
                    raise CommandFailed(f"Error response from daemon: cannot remove container {name}: container "
                                        "is running: stop the container before removing or force remove") from None
                raise
        step.output = "\n".join(command.args)

    # -- the registry ---------------------------------------------------------------------------------
    def _no_registry(self) -> CommandFailed:
        return CommandFailed(f'Get "http://{GRADING_REGISTRY}/v2/": dial tcp 127.0.0.1:5000: connect: connection '
                             "refused (this exercise starts no registry)")

    def _push(self, command: Command, step: Step) -> None:
        learner = self._full(command.args[0])
        ref = parse_reference(learner)
        if self.registry is None:
            raise self._no_registry()
        if learner not in self.images:
            raise CommandFailed(f"An image does not exist locally with the tag: {ref.repository}")
        repository, _, tag = self.images[learner].rpartition(":")
        messages = self.sandbox.push(repository, tag)
        failed = _failure(messages)
        if failed:
            raise CommandFailed(failed)
        digests = [m["aux"]["Digest"] for m in messages if isinstance(m.get("aux"), dict) and m["aux"].get("Digest")]
        step.digest = digests[-1] if digests else ""
        if step.digest:
            self.pushed[ref.repository] = step.digest  # as after a real push, the digest names the local image too
            pushed = f"{ref.repository}@{step.digest}"
            self.images[pushed] = f"{repository}@{step.digest}"
            self.sandbox.remember_reference(self.images[pushed])
        lines = [f"The push refers to repository [{ref.repository}]"] + _progress(messages)
        step.output = self.in_learner_names("\n".join(lines)) if not command.flag("quiet") else learner

    def _pull(self, command: Command, step: Step) -> None:
        learner = self._full(command.args[0])
        ref = parse_reference(learner)
        if self.registry is None:
            raise self._no_registry()
        digest = ref.digest
        pushed = self.pushed.get(ref.repository)
        if digest and pushed and digest != pushed and self.registry.manifest_digest(ref.path, digest) is None:
            # commands.sh is written before the grading's push happens, and that push rebuilds the image (with
            # the grader's labels): its digest cannot be the one the learner copied from their own terminal
            step.note = (f"the digest you wrote, {digest[:19]}…, is not one this grading's registry holds: digests "
                         "differ from machine to machine and build to build, so the grader pulled the digest its own "
                         f"push of {ref.repository} made, {pushed[:19]}…, in its place")
            digest = pushed
        engine_ref = (f"{self.registry.address}/{ref.path}@{digest}" if digest
                      else f"{self.registry.address}/{ref.path}:{ref.tag}")
        messages = self.sandbox.pull(engine_ref)
        failed = _failure(messages)
        if failed:
            raise CommandFailed(f"Error response from daemon: {failed}")
        image = self.sandbox.client.api.inspect_image(engine_ref)
        statuses = [str(m.get("status", "")) for m in messages]
        said = [line.split(":", 1)[1].strip() for line in statuses if line.startswith("Digest:")]
        step.digest = digest or (said[-1] if said else "")
        step.image_id = image.get("Id", "")
        self.images[learner] = engine_ref
        self.pulled[learner] = step.image_id
        shown = [f"{ref.tag or ref.digest}: Pulling from {ref.path}", *_progress(messages), learner]
        step.output = learner if command.flag("quiet") else self.in_learner_names("\n".join(shown))

    def _images(self, command: Command, step: Step) -> None:
        """The learner's images (built, tagged, pulled), as `docker images [--digests]` lists them."""
        wanted = self._full(command.args[0]) if command.args else None
        rows = []
        for mine, engine_ref in self.images.items():
            ref = parse_reference(mine)
            if ref.digest and not command.flag("digests"):
                continue  # docker lists a digest-only name as <none> under --digests only
            if wanted and (parse_reference(wanted).repository != ref.repository
                           or (":" in command.args[0].rsplit("/", 1)[-1] and wanted != mine)):
                continue
            try:
                attrs = self.sandbox.client.api.inspect_image(engine_ref)
            except Exception:
                continue  # gone (a name the script untagged)
            digests = [self.in_learner_names(d).partition("@")[2] for d in attrs.get("RepoDigests") or []
                       if self.in_learner_names(d).partition("@")[0] == ref.repository]
            image_id = attrs.get("Id", "")
            rows.append((ref.repository, ref.tag or "<none>", (ref.digest or (digests[0] if digests else "<none>")),
                         image_id if command.flag("no-trunc") else image_id.removeprefix("sha256:")[:12]))
        if command.flag("quiet"):
            step.output = "\n".join(dict.fromkeys(row[3] for row in rows))
            return
        header = ("REPOSITORY", "TAG", "DIGEST", "IMAGE ID") if command.flag("digests") else ("REPOSITORY", "TAG", "IMAGE ID")
        step.output = "\n".join("   ".join(row) for row in [header, *(
            row if command.flag("digests") else (row[0], row[1], row[3]) for row in rows)])

    def _inspect(self, command: Command, step: Step) -> None:
        found = []
        for name in command.args:
            if name in self.containers and self.state(name).status != "removed":
                state = self.state(name)
                found.append({"Name": "/" + name, "State": {"Status": state.status, "Running": state.running},
                              "Config": {"Image": state.image, "Env": [f"{k}={v}" for k, v in state.env.items()]},
                              "Mounts": [{"Type": "volume" if m["type"] == "anonymous" else m["type"],
                                          "Name": m["name"], "Destination": m["target"]} for m in state.mounts],
                              "Ports": {f"{port}/tcp": learner for port, (learner, _) in state.ports.items()}})
            elif name in self.volumes:
                found.append({"Name": name, "Driver": "local"})
            elif name in self.networks:
                found.append({"Name": name, "Driver": "bridge"})
            elif self._full(name) in self.images:
                found.append(self._image_facts(self.images[self._full(name)]))
            else:
                raise CommandFailed(f"Error: No such object: {name}")
        template = command.flag("format")
        if template is None:
            step.output = json.dumps(found, indent=2)
        else:
            step.output = "\n".join(render_format(template, facts) for facts in found)

    def _image_facts(self, engine_ref: str) -> dict:
        """`docker image inspect` of one of the learner's images, with the learner's names only."""
        attrs = self.sandbox.client.api.inspect_image(engine_ref)
        mine = set(self.images)
        tags = [self.in_learner_names(t) for t in attrs.get("RepoTags") or []]
        digests = [self.in_learner_names(d) for d in attrs.get("RepoDigests") or []]
        config = attrs.get("Config") or {}
        return {"Id": attrs.get("Id", ""), "RepoTags": [t for t in tags if t in mine],
                "RepoDigests": [d for d in digests if d.partition("@")[0] in {parse_reference(m).repository for m in mine}],
                "Created": attrs.get("Created", ""), "Size": attrs.get("Size", 0),
                "Config": {"Cmd": config.get("Cmd"), "Entrypoint": config.get("Entrypoint"),
                           "ExposedPorts": config.get("ExposedPorts"), "WorkingDir": config.get("WorkingDir", ""),
                           "Env": config.get("Env") or []}}


def _failure(messages: list[dict]) -> str:
    """The error a push or pull stream ended with ("" when it went through)."""
    for message in messages:
        if message.get("error") or message.get("errorDetail"):
            return clean(str(message.get("error") or (message.get("errorDetail") or {}).get("message", "")), 300)
    return ""


def _progress(messages: list[dict]) -> list[str]:
    """The lines docker prints for a push or pull: each layer's last status, then the closing lines."""
    layers: dict[str, str] = {}
    closing = []
    for message in messages:
        status = str(message.get("status", ""))
        if message.get("id") and not status.startswith(("Pulling from", "The push refers")):
            if "progressDetail" not in message or not message.get("progressDetail"):
                layers[str(message["id"])] = status
        elif status and not status.startswith(("Pulling from", "The push refers")):
            closing.append(status)
    return [f"{layer}: {status}" for layer, status in layers.items()] + closing


def render_format(template: str, facts: dict) -> str:
    """`--format` as docker's Go template has it, for the actions the parser accepts (static/commandline.py)."""
    def value(match) -> str:
        found = facts
        if match["field"] != ".":
            for part in match["field"].strip(".").split("."):
                found = found.get(part) if isinstance(found, dict) else None
        if match["index"]:
            position = int(match["position"])
            if not isinstance(found, list) or position >= len(found):
                raise CommandFailed(f"template: :1:2: executing \"\" at <index {match['field']} {position}>: "
                                    "error calling index: index out of range: " + str(position))
            found = found[position]
        if match["json"]:
            return json.dumps(found)
        if isinstance(found, list):
            return "[" + " ".join(str(item) for item in found) + "]"
        if isinstance(found, dict):
            return "map[" + " ".join(f"{k}:{v}" for k, v in found.items()) + "]"
        return "<no value>" if found is None else str(found)

    return FORMAT_ACTION.sub(value, template)


def _explain(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return clean(str(text).splitlines()[0] if str(text).strip() else type(exc).__name__, 300)
