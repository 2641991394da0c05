"""The one place that talks to the engine's lifecycle: create, label, limit, remove.

Every image, container, network and volume a grading (or a notebook) makes is created
here, carries `dockyard.run=<run id>` and `dockyard.exercise=<id>`, and is removed by
`Sandbox.close()` on success, failure or Ctrl-C (through `dockyard.engine.gc`, which also finds
what a dead run left, after a `kill -9` say, by the `dockyard.owner` label: host and pid of its maker).
"""

from __future__ import annotations

import collections
import ipaddress
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dockyard import bounded, engine
from dockyard.course.limits import CAP_DROP, DEFAULT_LIMITS, Limits
from dockyard.engine import firewall, gc
from dockyard.engine import build_network as shared_build_network
from dockyard.engine import network_pool, runs
from dockyard.engine.labels import EXERCISE_LABEL, RUN_LABEL, image_labels, new_run_id, owner_labels
from dockyard.errors import BuildFailed, BuildNotIsolated, DiskFull, DockyardError, EngineLost
from dockyard.sandbox import build as builds
from dockyard.sandbox import buildkit, buildkit_cgroups, knobs
from dockyard.sandbox.compose import ComposeProject
from dockyard.sandbox.watchdog import DiskWatchdog
from dockyard.text import tail


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    oom_killed: bool = False


@dataclass(frozen=True)
class RunningContainer:
    """A started learner container and the loopback ports its container ports are published on."""

    container: object  # docker.models.containers.Container
    ports: dict[int, int]  # container port -> host port on 127.0.0.1

    @property
    def id(self) -> str:
        return self.container.id

    def url(self, container_port: int = 8000, path: str = "/") -> str:
        if container_port not in self.ports:
            raise DockyardError(f"port {container_port} is not published (published: {sorted(self.ports) or 'none'})")
        return f"http://127.0.0.1:{self.ports[container_port]}{path}"


class Sandbox:
    """Creates and later removes everything one grading run needs. Use as a context manager."""

    def __init__(self, exercise_id: str = "adhoc", limits: Limits = DEFAULT_LIMITS,
                 engine_url: str | None = None, run_id: str | None = None):
        self.exercise_id = exercise_id
        self.limits = limits
        self.engine_url = engine_url
        self.run_id = run_id or new_run_id()
        self.client = engine.client(engine_url)
        self._network: str | None = None
        self._network_lock = threading.Lock()
        self._network_lease: network_pool.Lease | None = None
        self._extra_networks = 0
        self.build_isolated: bool | None = None  # None until the first build; False: built without the rules
        self.build_isolation_note: str | None = None  # why builds were not isolated, for the report
        self._created: dict[str, list[str]] = collections.defaultdict(list)
        self._references: list[str] = []  # names this run gave images (tags, pulled digests): untagged at close
        self._compose_projects: list = []
        self._watchdog: DiskWatchdog | None = None
        self.closed = False
        self.builders_used: list[str] = []  # which builder built each image of this run, in order
        runs.hold(self.run_id)  # the run is alive until close ends (or this process, or its detached copy, does)

    # -- identity -------------------------------------------------------------------
    @property
    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, EXERCISE_LABEL: self.exercise_id, **owner_labels()}

    @property
    def image_labels(self) -> dict[str, str]:
        """What the images this run builds carry: no owner, whose pid would be a new build step every time."""
        return image_labels(self.run_id, self.exercise_id)

    def name(self, what: str) -> str:
        """A unique, readable resource name: dockyard-<exercise>-<run>-<what>."""
        return f"dockyard-{self.exercise_id}-{self.run_id}-{what}".lower()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- guards ---------------------------------------------------------------------
    def check_disk(self, needed_bytes: int = engine.MIN_FREE_BYTES) -> None:
        free = engine.free_bytes_on_data_root(self.client)
        if free is not None and free[0] < needed_bytes:
            raise DiskFull(free[0], needed_bytes, free[1])

    # -- networks and volumes -------------------------------------------------------
    def network(self) -> str:
        """This run's bridge network (leased from the pool, or made, once). Its egress is refused by the firewall
        rules; no other grading's container is ever on it while this run holds it (engine/network_pool.py)."""
        with self._network_lock:  # the prefetch and an item may both ask first
            return self._create_network()

    def _create_network(self) -> str:
        if self._network is None:
            if not self.limits.network_access:
                firewall.ensure()
            self._network_lease = self._call(lambda: network_pool.acquire(self.client, self.engine_url))
            if self._network_lease is not None:  # a ready bridge of the pool, this run's alone until close
                self._network = self._network_lease.name
                return self._network
            name = self.name("net")  # every slot taken: a network of this run's own, removed by its sweep
            bridge = firewall.BRIDGE_PREFIX + self.run_id[:12]
            self._call(lambda: self.client.networks.create(
                name, driver="bridge", labels=self.labels, check_duplicate=True,
                options={"com.docker.network.bridge.name": bridge},
            ))
            self._created["network"].append(name)
            self._network = name
        return self._network

    @property
    def network_is_pooled(self) -> bool:
        """Whether this run's network is leased from the pool (it carries no run label, and outlives the run)."""
        return self._network_lease is not None

    def extra_network(self, what: str) -> str:
        """Another bridge of this run (a command-line exercise's `docker network create`): labelled, and a `dy…`
        bridge, so the firewall's wildcard refuses its egress like the run's own network's."""
        if not self.limits.network_access:
            firewall.ensure()
        with self._network_lock:
            name = self.name(what)
            self._extra_networks += 1
            if self._extra_networks > 99:  # the bridge's name has room for two digits (15 characters in all)
                raise DockyardError("at most 99 extra networks in one grading")
            bridge = f"{firewall.BRIDGE_PREFIX}{self.run_id[:10]}n{self._extra_networks}"
            self._call(lambda: self.client.networks.create(
                name, driver="bridge", labels=self.labels, check_duplicate=True,
                options={"com.docker.network.bridge.name": bridge}))
            self._created["network"].append(name)
            return name

    def build_network(self) -> str:
        """The build network RUN steps run on: the engine's one shared `bld…` bridge (engine/build_network.py),
        whose egress reaches the internet but not this host, its other bridges or link-local addresses
        (firewall.BUILD_RULES), and whose containers cannot reach each other (icc off). It outlives the grading:
        making and removing a bridge per grading cost ~0.25 s of every Check."""
        return self._call(lambda: shared_build_network.ensure(self.client, self.engine_url))

    def ensure_build_isolation(self) -> bool:
        """Install the build network's rules; BuildNotIsolated when they cannot be and the limits require them."""
        if self.build_isolated is None:
            isolated, why = firewall.build_isolation(self.engine_url)
            if not isolated and self.limits.require_build_isolation:
                raise BuildNotIsolated(why)
            self.build_isolated = isolated
            self.build_isolation_note = None if isolated else f"builds were not isolated: {why}"
        return self.build_isolated

    def volume(self, what: str = "data") -> str:
        name = self.name(what)
        self._call(lambda: self.client.volumes.create(name=name, labels=self.labels))
        self._created["volume"].append(name)
        return name

    # -- images ---------------------------------------------------------------------
    def build(self, context: Path, *, dockerfile: str = "Dockerfile", tag: str | None = None,
              buildargs: dict | None = None, target: str | None = None,
              cache_from: tuple[str, ...] = ()) -> builds.BuildResult:
        """Build the context; `cache_from` (image ids) makes the classic builder take its cache from those images'
        own steps only, as `docker build --cache-from` does (a rebuild probe's question is about one build)."""
        self.check_disk()
        builds.refuse_remote_sources(Path(context) / dockerfile)  # before any network is made for it
        builder = buildkit.choose(self.limits.builder, Path(context) / dockerfile)
        buildkit.refuse_unsupported(Path(context) / dockerfile, builder)  # one line, not a raw build log
        self.builders_used.append(builder)
        if builder == "buildkit":
            return self._build_with_buildkit(Path(context), dockerfile=dockerfile, tag=tag, buildargs=buildargs,
                                             target=target)
        self.ensure_build_isolation()
        tag = tag or f"dockyard/{self.exercise_id}:{self.run_id}-{len(self._created['image'])}"
        self._created["image"].append(tag)
        return builds.build_image(
            self.client, Path(context), tag=tag, labels=self.image_labels, dockerfile=dockerfile,
            buildargs=buildargs, target=target, timeout_s=self.limits.build_timeout_s,
            memory=self.limits.build_memory, max_log_bytes=self.limits.build_log_max_bytes,
            tail_lines=self.limits.log_tail_lines, context_max_bytes=self.limits.context_max_bytes,
            context_max_files=self.limits.context_max_files, network_mode=self.build_network(),
            disk_max_bytes=self.limits.disk_max_bytes, cache_from=cache_from,
        )

    def _build_with_buildkit(self, context: Path, *, dockerfile: str, tag: str | None, buildargs: dict | None,
                             target: str | None) -> builds.BuildResult:
        """The BuildKit path (sandbox/buildkit.py): the same context checks, then its RUN steps on docker0 under
        the firewall's docker0 rules and the cgroup guard's memory/pids bound (docs/builders.md)."""
        builds.check_context(context, self.limits.context_max_bytes, dockerfile, self.limits.context_max_files)
        builds.refuse_grader_bases(self.client, context / dockerfile)
        self.ensure_buildkit_isolation()
        tag = tag or f"dockyard/{self.exercise_id}:{self.run_id}-{len(self._created['image'])}"
        self._created["image"].append(tag)
        started = time.monotonic()
        with buildkit_cgroups.bounded(self.limits.build_memory, self.limits.pids, self.limits.disk_max_bytes) as guard:
            try:
                return buildkit.build_image(
                    context, tag=tag, labels=self.image_labels, dockerfile=dockerfile, buildargs=buildargs, target=target,
                    timeout_s=self.limits.build_timeout_s, max_log_bytes=self.limits.build_log_max_bytes,
                    tail_lines=self.limits.log_tail_lines, secrets=self.build_secrets(context),
                    engine_url=self.engine_url, api=self.client.api)
            except BuildFailed as failed:
                raise buildkit.explained_kill(failed, guard.noted_since(started), self.limits) from None

    def build_secrets(self, context: Path) -> dict[str, Path]:
        """The exercise's build secrets (`build_secrets = {id = "file"}` in [sandbox]) that the learner's folder
        has: a file inside the folder (a link out of it is never offered)."""
        offered = {}
        root = Path(context).resolve()
        for name, relative in sorted((self.limits.build_secrets or {}).items()):
            path = (Path(context) / str(relative)).resolve()
            if path.is_file() and (path == root or root in path.parents):
                offered[str(name)] = path
        return offered

    def ensure_buildkit_isolation(self) -> None:
        """BuildKit's RUN steps use docker0: its rules (firewall.BUILDKIT_RULES) must be in place, as the build
        bridge's are for the classic builder; BuildNotIsolated when they cannot be and the limits require them."""
        isolated, why = firewall.buildkit_isolation(self.engine_url)
        if not isolated and self.limits.require_build_isolation:
            raise BuildNotIsolated(why)
        self.build_isolated = isolated if self.build_isolated is None else (self.build_isolated and isolated)
        if not isolated:
            self.build_isolation_note = f"builds were not isolated: {why}"

    def tag(self, image: str, repository: str, tag: str) -> str:
        """Tag an image of this run again (it keeps the run's label, so the sweep removes it with the image)."""
        self._call(lambda: self.client.images.get(image).tag(repository, tag))
        self._created["image"].append(f"{repository}:{tag}")
        self._references.append(f"{repository}:{tag}")  # on a base image, the label sweep would miss it
        return f"{repository}:{tag}"

    def push(self, repository: str, tag: str) -> list[dict]:
        """`docker push repository:tag` through the engine (to the run's registry): the engine's progress
        messages, the last one an `error` when the push failed. Only this run's registry is ever named here."""
        self._references.append(f"{repository}:{tag}")
        return self._call(lambda: list(self.client.api.push(repository, tag=tag, stream=True, decode=True)))

    def pull(self, reference: str) -> list[dict]:
        """`docker pull reference` (`repo:tag` or `repo@sha256:…`) through the engine, from the run's registry:
        its progress messages, the last one an `error` when it failed. The name it adds is untagged at close."""
        repository, separator, rest = reference.partition("@")
        if not separator:
            repository, _, rest = reference.rpartition(":")
        self._references.append(reference)
        return self._call(lambda: list(self.client.api.pull(repository, tag=rest, stream=True, decode=True)))

    def remember_reference(self, reference: str) -> None:
        """A name the engine gave an image for this run (a push's `repo@sha256:…`): untagged at close."""
        self._references.append(reference)

    # -- containers -----------------------------------------------------------------
    def _container_options(self) -> dict:
        options = dict(
            labels=self.labels,
            mem_limit=self.limits.memory,
            memswap_limit=self.limits.memory,  # equal to memory: no extra swap
            nano_cpus=int(self.limits.cpus * 1e9),
            pids_limit=self.limits.pids,
            security_opt=["no-new-privileges:true"],
            cap_drop=list(CAP_DROP),
            privileged=False,
            network=self.network(),
        )
        options.update(knobs.container_options(self.limits))  # log cap, OOM, shm: the sandbox's
        if self.limits.runtime:
            options["runtime"] = self.limits.runtime
        return options

    def start(self, image: str, *, ports: tuple[int, ...] = (8000,), command=None, environment: dict | None = None,
              volumes: dict | None = None, name: str | None = None, read_only: bool = False,
              **extra) -> RunningContainer:
        """Start a detached container with the sandbox limits; `ports` publish on 127.0.0.1, host port chosen by the engine."""
        options = self._container_options()
        options.update(extra)
        container_name = self.name(name or f"c{len(self._created['container'])}")
        self._created["container"].append(container_name)
        container = self._call(lambda: self.client.containers.run(
            image, command=command, environment=environment or {}, detach=True, name=container_name,
            ports={f"{port}/tcp": ("127.0.0.1", None) for port in ports}, volumes=volumes or {},
            read_only=read_only, **options,
        ))
        container.reload()
        self.watch_disk(container)
        published: dict[int, int] = {}
        for key, bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).items():
            if bindings:
                published[int(key.split("/")[0])] = int(bindings[0]["HostPort"])
        return RunningContainer(container, published)

    def run_once(self, image: str, command=None, environment: dict | None = None,
                 timeout_s: float | None = None, **extra) -> ExecResult:
        """`docker run --rm image command`, bounded: the outcome, its output, whether it timed out or was OOM-killed."""
        running = self.start(image, ports=(), command=command, environment=environment, **extra)
        container = running.container
        timeout = timeout_s or self.limits.run_timeout_s
        timed_out = False
        try:
            status = container.wait(timeout=timeout)
            exit_code = status.get("StatusCode", -1)
        except Exception:
            timed_out = True
            container.kill()
            exit_code = -1
        container.reload()
        oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
        lines = self.limits.log_tail_lines  # from the engine's tail: a flood of output costs nothing here
        stdout = tail(bounded.container_logs(container, stdout=True, stderr=False, lines=lines), lines)
        stderr = tail(bounded.container_logs(container, stdout=False, stderr=True, lines=lines), lines)
        self._remove_container(container.name)
        return ExecResult(exit_code, stdout, stderr, timed_out, oom)

    def exec(self, container, command, user: str | None = None, timeout_s: float = 30,
             environment: list[str] | None = None, workdir: str | None = None) -> ExecResult:
        """Run a command in a running container (through `timeout`, so it cannot hang the grading)."""
        import docker.errors

        argv = command if isinstance(command, list) else ["sh", "-c", command]
        wrapped = ["timeout", "-s", "KILL", str(int(timeout_s)), *argv]
        options = dict(user=user or "", environment=environment, workdir=workdir)
        try:
            code, stdout, stderr = self._call(lambda: bounded.exec_run(container, wrapped, **options))
        except docker.errors.APIError as exc:
            if getattr(exc, "status_code", None) != 409:  # 409: the container is not running
                raise
            return ExecResult(-1, "", _not_running(container))
        if code == 126 or code == 127:  # no `timeout` in the image: run plainly
            code, stdout, stderr = self._call(lambda: bounded.exec_run(container, argv, **options))
        return ExecResult(code, tail(stdout or b"", self.limits.log_tail_lines),
                          tail(stderr or b"", self.limits.log_tail_lines), timed_out=code == 137)

    def logs(self, container) -> str:
        lines = self.limits.log_tail_lines
        return tail(self._call(lambda: bounded.container_logs(container, lines=lines)), lines)

    def watch_disk(self, container) -> None:
        """Bound what a container writes: cgroup v1 cannot throttle buffered writes, so we measure and kill."""
        if self._watchdog is None:
            self._watchdog = DiskWatchdog(self.limits.disk_max_bytes)
        self._watchdog.watch(container)

    def disk_verdict(self, container) -> str | None:
        """Why the watchdog killed this container, if it did."""
        return self._watchdog.killed.get(container.id) if self._watchdog else None

    def listening(self, container, host_only: bool = False) -> list[tuple[str, int]] | None:
        """TCP (address, port) pairs the container listens on, read from its /proc/net (no tools needed in the image).
        `host_only`: only where this host sees the container's /proc (no exec: cheap enough to ask often), else None."""
        return listening_sockets(self, container, host_only)

    # -- compose ----------------------------------------------------------------------
    def compose(self, project_dir: Path, files: list[str] | None = None) -> ComposeProject:
        project = ComposeProject(self, Path(project_dir), files)
        self._compose_projects.append(project)
        return project

    # -- cleanup ----------------------------------------------------------------------
    def _remove_container(self, name: str) -> None:
        try:
            self.client.containers.get(name).remove(force=True, v=True)
        except Exception:
            pass

    def close(self) -> bool:
        """Remove everything this run made; True when nothing of it is left. Never raises: cleanup
        must not hide the real outcome (and whoever started the run sweeps again when it is False)."""
        if self.closed:
            return True
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.stop()
        for project in reversed(self._compose_projects):
            try:
                project.close()
            except Exception:
                pass
        # The learner's build steps stay as (unlabelled) build cache: a re-grade after editing one line
        # must rebuild from that line only. Only images carrying this run's label are removed (by sweep).
        try:
            gc.sweep(self.engine_url, run_id=self.run_id)
            self._untag_references()
            # a removal that failed quietly (a busy engine, say) leaves something: say so, to be swept again
            return not any(gc.leftovers(self.engine_url, run_ids=[self.run_id]).values())
        except Exception:
            return False
        finally:
            self._release_network()
            runs.release(self.run_id)

    def _release_network(self) -> None:
        """Hand the pooled network back once this run's containers are gone (the next lease checks it is empty)."""
        if self._network_lease is not None:
            self._network_lease.release()
            self._network_lease = None

    def _untag_references(self) -> None:
        """The names this run gave images that the label sweep left: on an image of no run (a base image
        tagged or pushed by a learner's `docker tag python:3.11-slim …`) they are only names, removed as
        `docker rmi NAME` removes one (never the image itself: it keeps its own tags)."""
        import docker.errors

        for reference in dict.fromkeys(reversed(self._references)):
            try:
                self.client.api.remove_image(reference, noprune=True)
            except docker.errors.NotFound:
                pass  # swept with its image already
            except Exception:
                pass  # a name still in use is the sweep's to retry; nothing else may hide the outcome

    def _call(self, action):
        """Run an engine call, turning "the engine went away" into EngineLost (retry-worthy, not the learner's fault)."""
        try:
            return action()
        except Exception as exc:
            if _is_connection_error(exc):
                raise EngineLost(f"the Docker engine stopped answering: {str(exc).splitlines()[0][:160]}") from None
            raise


def _not_running(container) -> str:
    """Why nothing can run in a stopped container, in the words a learner needs (its exit, its last line)."""
    try:
        container.reload()
        state = container.attrs.get("State") or {}
        last = [line for line in tail(bounded.container_logs(container, lines=5), 5).splitlines() if line.strip()][-1:]
    except Exception:
        return "the container is not running"
    said = f"the container is not running (it stopped with exit code {state.get('ExitCode')}"
    said += " after running out of memory)" if state.get("OOMKilled") else ")"
    return said + (f"; its last output: {last[0][:200]}" if last else "")


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, (requests.ConnectionError, ConnectionError))




def listening_sockets(box: "Sandbox", container, host_only: bool = False) -> list[tuple[str, int]] | None:
    """Parse /proc/net/tcp{,6} of the container's network namespace (state 0A = LISTEN)."""
    text = ""
    pid = (container.attrs.get("State") or {}).get("Pid")
    # the engine's pids are this host's only when it listens on a unix socket here (a TCP engine is elsewhere)
    if pid and str(box.client.api.base_url).startswith("http+docker://"):
        for name in ("tcp", "tcp6"):
            try:
                text += Path(f"/proc/{pid}/net/{name}").read_text()
            except OSError:
                pass
    if not text and host_only:
        return None
    if not text:
        try:
            text = bounded.exec_run(container, ["cat", "/proc/net/tcp", "/proc/net/tcp6"])[1].decode("ascii", "replace")
        except Exception:
            return []
    found = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A":
            continue
        address_hex, _, port_hex = fields[1].partition(":")
        address = _decode_address(address_hex)
        if address != "127.0.0.11":  # Docker's embedded DNS, not the app
            found.add((address, int(port_hex, 16)))
    return sorted(found)


def _decode_address(address_hex: str) -> str:
    raw = bytes.fromhex(address_hex)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    address = ipaddress.IPv6Address(b"".join(words))
    return str(address.ipv4_mapped or address)


