"""Compose projects through the real Docker Compose v2 CLI (argv lists, never a shell).

The learner's file is first normalised by `docker compose config`; the sandbox then
rewrites the normalised model before anything starts: every resource gets the run's
labels, every service the sandbox limits, every published port an ephemeral port on
127.0.0.1, every network a `dy…` bridge name (so the egress rules apply). The rewritten
model goes to compose as JSON; the learner's own file is never changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard import bounded, engine, scratch
from dockyard.course.limits import CAP_DROP
from dockyard.engine import firewall
from dockyard.errors import BuildFailed, ComposeError, DockyardError, EngineLost
from dockyard.sandbox import buildkit, knobs
from dockyard.sandbox.build import refuse_remote_sources
from dockyard.sandbox.context import check_context
from dockyard.static import yamlguard
from dockyard.static.policy import enforce, explain_config_error, find_compose_file
from dockyard.text import tail

CONFIG_MAX_BYTES = 8 * 2**20  # of the normalised model (`docker compose config`): an honest one is a few KiB

# Compose builds with the classic builder (as `Sandbox.build` does), whose RUN steps can run on the sandbox's
# build network; BuildKit's would run on the default bridge, which reaches the host.
CLASSIC_BUILDER = {"DOCKER_BUILDKIT": "0", "COMPOSE_BAKE": "false"}


def run_compose(argv: list[str], *, cwd: Path, engine_url: str | None = None, timeout_s: float = 120,
                check: bool = True, input_text: str | None = None, keep_bytes: int = 4 * 2**20,
                kill_after_bytes: int | None = None,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Compose's output is (partly) the learner's (a build's RUN steps print through it): only its tail is
    kept (`keep_bytes` of each stream), and it is stopped once it printed more than `kill_after_bytes`."""
    command = [engine.compose_binary(), *argv]
    env = {**os.environ, **(extra_env or {})}
    if engine_url:
        env["DOCKER_HOST"] = engine_url
    env.pop("COMPOSE_FILE", None)
    env.pop("COMPOSE_PROJECT_NAME", None)
    try:
        result = bounded.run(command, cwd=cwd, env=env, timeout_s=timeout_s, input_text=input_text,
                             keep_bytes=keep_bytes, kill_after_bytes=kill_after_bytes)
    except subprocess.TimeoutExpired as exc:
        raise ComposeError(command, -1, (exc.stderr or "") if isinstance(exc.stderr, str) else "",
                           message=f"`docker compose {' '.join(argv[-2:])}` did not finish within {timeout_s:.0f} s") from None
    if result.overflow:
        limit = f"{kill_after_bytes / 2**20:g} MiB"
        raise ComposeError(command, result.returncode, result.stderr,
                           message=f"`docker compose {_verb(argv)}` printed more than {limit} and was stopped")
    if check and result.returncode != 0:
        # Compose's stderr carries the learner's build output, so its words cannot tell a dead engine from a
        # learner's `RUN curl` that was refused: ask the engine. `config` never talks to it: its failure is the file's.
        if _verb(argv) != "config" and not engine.answers(engine_url):
            raise EngineLost(f"the Docker engine stopped answering during `docker compose {_verb(argv)}`")
        raise ComposeError(command, result.returncode, result.stderr, message=_explain(argv, result.stderr))
    return result


def _verb(argv: list[str]) -> str:
    return next((word for word in argv if word in ("config", "up", "down", "build", "exec", "ps", "logs")), argv[0])


def _explain(argv: list[str], stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("#", "Container ", "Network ", "Volume "))] or lines
    last = useful[-1] if useful else "no message"
    verb = _verb(argv)
    return f"docker compose {verb} failed: {last[:300]}"


def config(project_dir: Path, files: list[Path], engine_url: str | None = None) -> dict:
    """Validate and normalise with the real `docker compose config`; YAML/schema errors name file and line.
    Each file is first bounded (size, nesting, alias expansion): compose would walk a "billion laughs" for minutes."""
    refuse_costly_yaml(files)
    argv = [arg for file in files for arg in ("-f", str(file))]
    result = run_compose([*argv, "--project-directory", str(project_dir), "config", "--format", "json"],
                         cwd=project_dir, engine_url=engine_url, check=False, timeout_s=60,
                         keep_bytes=CONFIG_MAX_BYTES * 2, kill_after_bytes=CONFIG_MAX_BYTES)
    if result.returncode != 0:
        message = " ".join(result.stderr.strip().splitlines()[-2:]) or "invalid compose file"
        raise ComposeError([engine.compose_binary(), "config"], result.returncode, result.stderr,
                           message=f"the compose file is not valid: {message[:300]}")
    return json.loads(result.stdout)


def validate(path, engine_url: str | None = None) -> dict:
    """`docker compose config` on the file: the normalised model, or a ComposeError naming file and line."""
    path = Path(path)
    try:
        return config(path.parent, [path], engine_url)
    except ComposeError as exc:
        raise ComposeError(exc.argv, exc.returncode, exc.stderr, message=explain_config_error(exc.stderr, path)) from None


def refuse_costly_yaml(files: list[Path]) -> None:
    """ComposeError (naming file:line and the bound) for a compose file too costly to walk; YAML syntax
    errors are left to compose and the policy, which explain them."""
    import yaml

    for file in files:
        try:
            text = bounded.read_head(file, yamlguard.MAX_BYTES + 1).decode("utf-8", "replace")
            yamlguard.check_text(text, Path(file).name)
        except yamlguard.YamlTooCostly as exc:
            raise ComposeError([engine.compose_binary(), "config"], 1, "",
                               message=f"{exc}; the file is refused") from None
        except (OSError, yaml.YAMLError):
            continue


@dataclass(frozen=True)
class PublishedPort:
    service: str
    target: int
    declared_host_port: str | None  # what the learner wrote ("8000"), before the rewrite
    host_ip: str | None


def declared_ports(model: dict) -> list[PublishedPort]:
    ports = []
    for service_name, service in (model.get("services") or {}).items():
        for port in service.get("ports") or []:
            ports.append(PublishedPort(service_name, int(port.get("target")), port.get("published") or None,
                                       port.get("host_ip")))
    return ports


def bridge_name(project: str, network: str) -> str:
    return firewall.BRIDGE_PREFIX + hashlib.sha256(f"{project}/{network}".encode()).hexdigest()[:12]


def sandboxed_model(model: dict, project: str, labels: dict[str, str], limits,
                    image_labels: dict[str, str] | None = None) -> dict:
    """The normalised model with labels, limits, loopback-only ephemeral ports and `dy…` bridges. What a service
    builds carries `image_labels` (default: `labels`), as the sandbox's own builds do."""
    rewritten = json.loads(json.dumps(model))
    rewritten["name"] = project
    for name, service in (rewritten.get("services") or {}).items():
        service["labels"] = {**(service.get("labels") or {}), **labels}
        knobs.sandbox_service(service, limits)  # resources, OOM, logs, ...: the sandbox's, not the learner's
        service["security_opt"] = ["no-new-privileges:true"]
        service["cap_drop"] = list(CAP_DROP)
        if "build" in service:
            service["build"]["labels"] = {**(service["build"].get("labels") or {}), **(image_labels or labels)}
        service["ports"] = [
            {"target": int(port["target"]), "host_ip": "127.0.0.1", "protocol": port.get("protocol", "tcp")}
            for port in service.get("ports") or []
        ]
        if not service.get("networks") and "network_mode" not in service:
            service["networks"] = {"default": None}
    networks = rewritten.setdefault("networks", {})
    networks.setdefault("default", {"name": f"{project}_default"})
    for network_name, network in networks.items():
        network = network or {}
        if not network.get("external"):  # `config` named it after the folder: make it this run's own
            network["name"] = f"{project}_{network_name}"
        network["labels"] = {**(network.get("labels") or {}), **labels}
        network["driver"] = "bridge"
        network["driver_opts"] = {**(network.get("driver_opts") or {}),
                                  "com.docker.network.bridge.name": bridge_name(project, network_name)}
        networks[network_name] = network
    for volume_name, volume in (rewritten.get("volumes") or {}).items():
        volume = volume or {}
        if not volume.get("external"):
            volume["name"] = f"{project}_{volume_name}"
        volume["labels"] = {**(volume.get("labels") or {}), **labels}
        rewritten["volumes"][volume_name] = volume
    return rewritten


class ComposeProject:
    """One learner compose project run inside a sandbox: up, probe, down; removed by the sandbox."""

    def __init__(self, sandbox, project_dir: Path, files: list[str] | None = None):
        self.sandbox = sandbox
        self.project_dir = Path(project_dir)
        found = [self.project_dir / name for name in files] if files else [find_compose_file(self.project_dir)]
        if not found or found[0] is None or not all(path.is_file() for path in found):
            raise DockyardError("no compose file (compose.yaml or docker-compose.yml) in the submission")
        self.files = found
        for file in found:  # the security policy, before anything is validated, built or started
            enforce(file, root=self.project_dir)
        self.name = f"dy{sandbox.run_id}{len(sandbox._compose_projects)}"
        self.model = config(self.project_dir, self.files, sandbox.engine_url)
        self.ports_declared = declared_ports(self.model)
        self._spec_dir = Path(tempfile.mkdtemp(prefix=scratch.prefix("compose")))
        self.spec_file = self._spec_dir / "compose.sandboxed.json"
        self.spec_file.write_text(json.dumps(
            sandboxed_model(self.model, self.name, sandbox.labels, sandbox.limits, sandbox.image_labels), indent=1))
        self.up_done = False

    @property
    def services(self) -> list[str]:
        return sorted(self.model.get("services") or {})

    def _compose(self, *argv: str, timeout_s: float = 120, check: bool = True,
                 kill_after_bytes: int | None = None,
                 extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return run_compose(["-f", str(self.spec_file), "-p", self.name, "--project-directory", str(self.project_dir),
                            *argv], cwd=self.project_dir, engine_url=self.sandbox.engine_url, timeout_s=timeout_s,
                           check=check, kill_after_bytes=kill_after_bytes, extra_env=extra_env)

    def build(self) -> None:
        """Build every service that has `build:`. A Dockerfile that needs BuildKit (or an exercise that asks for
        it) is built by `Sandbox.build`, contained as any learner image is (docs/builders.md), and the service
        then runs that image; compose builds the others with the classic builder, RUN steps on our network."""
        builds = {name: service["build"] for name, service in (self.model.get("services") or {}).items()
                  if service.get("build")}
        for build in builds.values():
            check_context(Path(build.get("context", self.project_dir)), self.sandbox.limits.context_max_bytes,
                          build.get("dockerfile", "Dockerfile"), self.sandbox.limits.context_max_files)
            _refuse_remote_sources(Path(build.get("context", self.project_dir)), build.get("dockerfile", "Dockerfile"))
        classic = [name for name, build in builds.items() if not self._built_with_buildkit(name, build)]
        if classic:
            self.sandbox.check_disk()
            if not self.sandbox.limits.network_access:
                firewall.ensure()
            self._use_build_network()
            # the classic builder: the engine's BuildKit cannot run steps on a network of ours
            self._compose("build", *classic, timeout_s=self.sandbox.limits.build_timeout_s,
                          kill_after_bytes=self.sandbox.limits.build_log_max_bytes, extra_env=CLASSIC_BUILDER)

    def _built_with_buildkit(self, service: str, build: dict) -> bool:
        """Build `service` with BuildKit through the sandbox when its Dockerfile needs it, and point the service at
        the image; False (nothing done) when the classic builder will do."""
        context = Path(build.get("context", self.project_dir))
        dockerfile = Path(build.get("dockerfile", "Dockerfile"))
        if dockerfile.is_absolute():
            try:
                dockerfile = dockerfile.relative_to(context)
            except ValueError:
                return False  # a Dockerfile outside its context: compose's own build says what is wrong
        if buildkit.choose(self.sandbox.limits.builder, context / dockerfile) != "buildkit":
            return False
        args = {key: str(value) for key, value in (build.get("args") or {}).items() if value is not None}
        try:
            built = self.sandbox.build(context, dockerfile=str(dockerfile), buildargs=args or None,
                                       target=build.get("target"))
        except BuildFailed as failed:  # which service's build, in the learner's words
            raise BuildFailed(f"service {service}: {failed.reason}", failed.log_tail, step=failed.step,
                              steps=failed.steps, seconds=failed.seconds) from None
        spec = json.loads(self.spec_file.read_text())
        entry = spec["services"][service]
        entry.pop("build", None)
        entry["image"] = built.tag
        self.spec_file.write_text(json.dumps(spec, indent=1))
        return True

    def _use_build_network(self) -> None:
        """RUN steps of the services' builds run on the sandbox's build network, like `Sandbox.build`'s
        (refused, BuildNotIsolated, when its rules cannot be installed and the limits require them)."""
        self.sandbox.ensure_build_isolation()
        network = self.sandbox.build_network()
        spec = json.loads(self.spec_file.read_text())
        for service in (spec.get("services") or {}).values():
            if service.get("build"):
                service["build"]["network"] = network
        self.spec_file.write_text(json.dumps(spec, indent=1))

    def up(self, wait: bool = True) -> None:
        """`up -d --wait`: returns once every service runs (and is healthy where it has a healthcheck)."""
        if not self.up_done:
            self.build()
        if not self.sandbox.limits.network_access:
            firewall.ensure()
        timeout = self.sandbox.limits.ready_timeout_s
        argv = ["up", "-d", "--no-build"]  # built above, bounded by the build timeout
        if wait:
            argv += ["--wait", "--wait-timeout", str(int(timeout))]
        self._compose(*argv, timeout_s=timeout + 30)
        self.up_done = True

    def down(self, volumes: bool = False, images: bool = False) -> None:
        """`down` (named volumes kept unless `volumes`). Anonymous volumes go either way: they carry no
        labels, no later container can mount them again, and left alone they would leak."""
        anonymous = {mount["Name"] for container in self.containers() for mount in container.attrs.get("Mounts", [])
                     if mount.get("Type") == "volume" and re.fullmatch(r"[0-9a-f]{64}", mount.get("Name", ""))}
        argv = ["down", "--remove-orphans", "--timeout", str(self.sandbox.limits.stop_timeout_s)]
        if volumes:
            argv.append("-v")
        if images:
            argv += ["--rmi", "local"]
        self._compose(*argv, timeout_s=120, check=False)
        for name in anonymous:
            try:
                self.sandbox.client.volumes.get(name).remove(force=True)
            except Exception:
                pass  # already gone with `-v`

    def close(self) -> None:
        """Take the project down with its volumes and built images, and remove the rewritten spec."""
        try:
            self.down(volumes=True, images=True)
        finally:
            shutil.rmtree(self._spec_dir, ignore_errors=True)

    def containers(self, service: str | None = None) -> list:
        filters = {"label": [f"com.docker.compose.project={self.name}"]}
        if service:
            filters["label"].append(f"com.docker.compose.service={service}")
        return self.sandbox.client.containers.list(all=True, filters=filters)

    def container(self, service: str):
        found = self.containers(service)
        if not found:
            raise DockyardError(f"service {service!r} has no container (services: {', '.join(self.services)})")
        return found[0]

    def port(self, service: str, container_port: int) -> int | None:
        """The loopback host port a service's container port is published on, or None."""
        container = self.container(service)
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{container_port}/tcp")
        return int(bindings[0]["HostPort"]) if bindings else None

    def url(self, service: str, container_port: int = 8000, path: str = "/") -> str:
        port = self.port(service, container_port)
        if port is None:
            raise DockyardError(f"service {service!r} publishes no port {container_port}")
        return f"http://127.0.0.1:{port}{path}"

    def exec(self, service: str, command, timeout_s: float = 30):
        return self.sandbox.exec(self.container(service), command, timeout_s=timeout_s)

    def logs(self, service: str | None = None) -> str:
        lines = self.sandbox.limits.log_tail_lines  # from the engine's tail of each container's log
        result = self._compose("logs", "--no-color", "--tail", str(lines), *([service] if service else []),
                               check=False, timeout_s=60)
        return tail(result.stdout + result.stderr, lines)

    def networks(self) -> dict[str, list[str]]:
        """Each project network (by its compose name) and the services attached to it."""
        members: dict[str, list[str]] = {}
        for container in self.containers():
            service = container.labels.get("com.docker.compose.service", "?")
            for network in (container.attrs["NetworkSettings"]["Networks"] or {}):
                short = re.sub(rf"^{re.escape(self.name)}_", "", network)
                members.setdefault(short, []).append(service)
        return {network: sorted(set(services)) for network, services in members.items()}


def _refuse_remote_sources(context: Path, dockerfile: str) -> None:
    """A service's Dockerfile may not ADD a URL or ask for the host's network either (static/remote.py)."""
    path = Path(dockerfile) if Path(dockerfile).is_absolute() else context / dockerfile
    if path.is_file():
        refuse_remote_sources(path)
