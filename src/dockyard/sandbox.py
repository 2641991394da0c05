"""The one place that talks to the engine's lifecycle: create, label, limit, remove.

Every image, container, network and volume a grading (or a notebook) makes is created
here, carries `dockyard.run=<run id>` and `dockyard.exercise=<id>`, and is removed by
`Sandbox.close()` on success, failure or Ctrl-C. `sweep()` finds what a dead run left
(after a `kill -9`, say) through the `dockyard.owner` label: host and pid of its maker.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from dockyard import build as builds
from dockyard import engine, firewall, scratch
from dockyard.errors import DiskFull, DockyardError, EngineLost
from dockyard.limits import CAP_DROP, DEFAULT_LIMITS, Limits

RUN_LABEL = "dockyard.run"
EXERCISE_LABEL = "dockyard.exercise"
OWNER_LABEL = "dockyard.owner"
STANDIN_LABEL = "dockyard.standin"
KINDS = ("container", "network", "volume", "image")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def owner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
        self._build_network: str | None = None
        self._builds_running = 0  # the build network lives while a build runs (address pools are few)
        self.build_isolated: bool | None = None  # None until the first build; False: built without the rules
        self.build_isolation_note: str | None = None  # why builds were not isolated, for the report
        self._created: dict[str, list[str]] = collections.defaultdict(list)
        self._layer_ids: list[str] = []
        self._compose_projects: list = []
        self._watchdog: DiskWatchdog | None = None
        self.closed = False

    # -- identity -------------------------------------------------------------------
    @property
    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, EXERCISE_LABEL: self.exercise_id, OWNER_LABEL: owner_label()}

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
        """This run's own bridge network (created once). Its egress is refused by the firewall rules."""
        with self._network_lock:  # the prefetch and an item may both ask first
            return self._create_network()

    def _create_network(self) -> str:
        if self._network is None:
            name = self.name("net")
            bridge = firewall.BRIDGE_PREFIX + self.run_id[:12]
            if not self.limits.network_access:
                firewall.ensure()
            self._call(lambda: self.client.networks.create(
                name, driver="bridge", labels=self.labels, check_duplicate=True,
                options={"com.docker.network.bridge.name": bridge},
            ))
            self._created["network"].append(name)
            self._network = name
        return self._network

    def build_network(self) -> str:
        """This run's build network (created once): RUN steps run there, on a `bld…` bridge whose egress
        reaches the internet but not this host, its other bridges or link-local addresses (firewall.BUILD_RULES)."""
        with self._network_lock:
            if self._build_network is None:
                name = self.name("build")
                bridge = firewall.BUILD_BRIDGE_PREFIX + self.run_id[:12]
                self._call(lambda: self.client.networks.create(
                    name, driver="bridge", labels=self.labels, check_duplicate=True,
                    options={"com.docker.network.bridge.name": bridge,
                             "com.docker.network.bridge.enable_icc": "false"},
                ))
                self._created["network"].append(name)
                self._build_network = name
            return self._build_network

    @contextlib.contextmanager
    def building(self):
        """While a build runs: its build network exists; removed once the last build of this run ends
        (Docker has ~30 address pools; a batch must not hold two networks per grading all along)."""
        with self._network_lock:
            self._builds_running += 1
        try:
            yield
        finally:
            with self._network_lock:
                self._builds_running -= 1
                name = self._build_network if self._builds_running == 0 else None
                if name:
                    self._build_network = None
            if name:
                _retry(lambda: self.client.api.remove_network(name))  # else the sweep at close removes it

    def ensure_build_isolation(self) -> bool:
        """Install the build network's rules; BuildNotIsolated when they cannot be and the limits require them."""
        if self.build_isolated is None:
            from dockyard.errors import BuildNotIsolated

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
              buildargs: dict | None = None, target: str | None = None) -> builds.BuildResult:
        self.check_disk()
        builds.refuse_remote_sources(Path(context) / dockerfile)  # before any network is made for it
        self.ensure_build_isolation()
        tag = tag or f"dockyard/{self.exercise_id}:{self.run_id}-{len(self._created['image'])}"
        self._created["image"].append(tag)
        with self.building():
            result = builds.build_image(
                self.client, Path(context), tag=tag, labels=self.labels, dockerfile=dockerfile,
                buildargs=buildargs, target=target, timeout_s=self.limits.build_timeout_s,
                memory=self.limits.build_memory, max_log_bytes=self.limits.build_log_max_bytes,
                tail_lines=self.limits.log_tail_lines, context_max_bytes=self.limits.context_max_bytes,
                network_mode=self.build_network(),
            )
        self._layer_ids.extend(result.layer_ids)
        return result

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
        stdout = _tail(container.logs(stdout=True, stderr=False), self.limits.log_tail_lines)
        stderr = _tail(container.logs(stdout=False, stderr=True), self.limits.log_tail_lines)
        self._remove_container(container.name)
        return ExecResult(exit_code, stdout, stderr, timed_out, oom)

    def exec(self, container, command, user: str | None = None, timeout_s: float = 30) -> ExecResult:
        """Run a command in a running container (through `timeout`, so it cannot hang the grading)."""
        import docker.errors

        argv = command if isinstance(command, list) else ["sh", "-c", command]
        wrapped = ["timeout", "-s", "KILL", str(int(timeout_s)), *argv]
        try:
            result = self._call(lambda: container.exec_run(wrapped, demux=True, user=user or ""))
        except docker.errors.APIError as exc:
            if getattr(exc, "status_code", None) != 409:  # 409: the container is not running
                raise
            return ExecResult(-1, "", _not_running(container))
        stdout, stderr = result.output if result.output else (b"", b"")
        code = result.exit_code
        if code == 126 or code == 127:  # no `timeout` in the image: run plainly
            result = self._call(lambda: container.exec_run(argv, demux=True, user=user or ""))
            stdout, stderr = result.output if result.output else (b"", b"")
            code = result.exit_code
        return ExecResult(code, _tail(stdout or b"", self.limits.log_tail_lines),
                          _tail(stderr or b"", self.limits.log_tail_lines), timed_out=code == 137)

    def logs(self, container) -> str:
        return _tail(self._call(lambda: container.logs(stdout=True, stderr=True)), self.limits.log_tail_lines)

    def watch_disk(self, container) -> None:
        """Bound what a container writes: cgroup v1 cannot throttle buffered writes, so we measure and kill."""
        if self._watchdog is None:
            self._watchdog = DiskWatchdog(self.limits.disk_max_bytes)
        self._watchdog.watch(container)

    def disk_verdict(self, container) -> str | None:
        """Why the watchdog killed this container, if it did."""
        return self._watchdog.killed.get(container.id) if self._watchdog else None

    def listening(self, container) -> list[tuple[str, int]]:
        """TCP (address, port) pairs the container listens on, read from its /proc/net (no tools needed in the image)."""
        return listening_sockets(self, container)

    # -- compose ----------------------------------------------------------------------
    def compose(self, project_dir: Path, files: list[str] | None = None):
        from dockyard.compose import ComposeProject

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
            sweep(self.engine_url, run_id=self.run_id)
            # a removal that failed quietly (a busy engine, say) leaves something: say so, to be swept again
            return not any(leftovers(self.engine_url, run_ids=[self.run_id]).values())
        except Exception:
            return False

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
        last = [line for line in _tail(container.logs(), 5).splitlines() if line.strip()][-1:]
    except Exception:
        return "the container is not running"
    said = f"the container is not running (it stopped with exit code {state.get('ExitCode')}"
    said += " after running out of memory)" if state.get("OOMKilled") else ")"
    return said + (f"; its last output: {last[0][:200]}" if last else "")


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, (requests.ConnectionError, ConnectionError))


def _tail(data: bytes | str, lines: int) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    parts = text.splitlines()
    if len(parts) > lines:
        parts = [f"… ({len(parts) - lines} earlier lines not shown)"] + parts[-lines:]
    return "\n".join(parts)


def _owner_is_dead(owner: str | None) -> bool:
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return False  # another machine's run: not ours to judge
    return not pid.isdigit() or not scratch.process_alive(int(pid))


def sweep(engine_url: str | None = None, run_id: str | None = None, everything: bool = False) -> dict[str, int]:
    """Remove labelled resources: one run's (`run_id`), dead runs' (default), or all (`everything`).

    Order matters: containers before the networks and volumes they hold, images last.
    Returns how many of each kind were removed.
    """
    client = engine.client(engine_url)
    label = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL

    def chosen(resource_labels: dict | None) -> bool:
        if run_id or everything:
            return True
        return _owner_is_dead((resource_labels or {}).get(OWNER_LABEL))

    api = client.api  # raw listings: another run removing its own things must not break this sweep
    flt = {"label": label}

    def remove_container(container) -> bool:
        try:
            api.remove_container(container["Id"], force=True, v=True)
            return True
        except Exception:
            return False

    def remove_network(network) -> bool:
        _retry(lambda: api.remove_network(network["Id"]))
        return True

    def remove_volume(volume) -> bool:
        _retry(lambda: api.remove_volume(volume["Name"], force=True))
        return True

    def remove_image(image) -> bool:
        return _remove_labelled_chain(client, image["Id"])

    # Containers first (they hold the networks, volumes and images); then the rest, all at once:
    # each removal is an engine round trip of its own, and a grading waits for its sweep.
    containers = [("container", remove_container, c) for c in api.containers(all=True, filters=flt)
                  if chosen(c.get("Labels"))]
    removed = dict.fromkeys(KINDS, 0)
    _remove_all(containers, removed)
    rest = [("network", remove_network, n) for n in api.networks(filters=flt) if chosen(n.get("Labels"))]
    rest += [("volume", remove_volume, v) for v in api.volumes(filters=flt).get("Volumes") or []
             if chosen(v.get("Labels"))]
    # stand-in bases carry no run label, so they are never listed here
    rest += [("image", remove_image, i) for i in api.images(filters=flt) if chosen(i.get("Labels"))]
    _remove_all(rest, removed)
    return removed


def _remove_all(work: list, removed: dict[str, int]) -> None:
    """Run (kind, remove, resource) removals side by side; count those that removed something."""
    if len(work) <= 1:
        results = [remove(resource) for _, remove, resource in work]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(work))) as pool:
            results = list(pool.map(lambda job: job[1](job[2]), work))
    for (kind, _, _), ok in zip(work, results):
        removed[kind] += bool(ok)


def _remove_labelled_chain(client, image_id: str) -> bool:
    """Remove an image and those of its parents that are the builder's per-run LABEL steps (they carry
    the run label or this run's owner label, which no later grading can reuse), but keep the learner's
    own steps below them: they are the build cache the next grading reuses."""
    removed = False
    owner = None
    while image_id:
        try:
            image = client.images.get(image_id)
        except Exception:
            return removed
        parent = image.attrs.get("Parent") or ""
        if owner is None:
            owner = (image.labels or {}).get(OWNER_LABEL, "")
        try:
            client.images.remove(image.id, force=True, noprune=True)
            removed = True
        except Exception:
            return removed
        if not parent:
            return removed
        try:
            parent_labels = client.images.get(parent).labels or {}
        except Exception:
            return removed
        if RUN_LABEL not in parent_labels and not (owner and parent_labels.get(OWNER_LABEL) == owner):
            return removed
        image_id = parent
    return removed


def _retry(action, attempts: int = 5) -> None:
    for attempt in range(attempts):
        try:
            action()
            return
        except Exception as exc:
            if "not found" in str(exc).lower() or "no such" in str(exc).lower():
                return
            time.sleep(0.2 * (attempt + 1))


def leftovers(engine_url: str | None = None, run_ids: list[str] | None = None,
              orphaned_only: bool = False) -> dict[str, int]:
    """How many labelled resources exist now (the figure tests and benchmarks assert to be 0): all, or some
    runs'. `orphaned_only` counts only those whose maker is dead or is this very process: what is left
    once this process's gradings are over, while other people's gradings run on the same engine."""
    client = engine.client(engine_url)
    labels = [f"{RUN_LABEL}={run_id}" for run_id in run_ids] if run_ids else [RUN_LABEL]
    me = owner_label()

    def counted(rows: list[dict]) -> int:
        if not orphaned_only:
            return len(rows)
        owners = [(row.get("Labels") or {}).get(OWNER_LABEL) for row in rows]
        return sum(1 for owner in owners if owner == me or _owner_is_dead(owner))

    totals = dict.fromkeys(KINDS, 0)
    api = client.api  # one listing call per kind: no per-object inspect that races with removals
    for label in labels:
        flt = {"label": label}
        totals["container"] += counted(api.containers(all=True, filters=flt))
        totals["network"] += counted(api.networks(filters=flt))
        totals["volume"] += counted(api.volumes(filters=flt).get("Volumes") or [])
        totals["image"] += counted(api.images(filters=flt))
    return totals


class DiskWatchdog:
    """Polls the size of each watched container's writable layer and named volumes; kills past the limit.

    Works where the engine's data root is visible from here (a local engine, as root); elsewhere it
    watches nothing and the run's time bounds are the only bound.
    """

    def __init__(self, max_bytes: int, interval_s: float = 1.0):
        import threading

        self.max_bytes = max_bytes
        self.interval_s = interval_s
        self.watched: dict[str, tuple[object, list[str]]] = {}
        self.killed: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="disk-watchdog", daemon=True)
        self._thread.start()

    def watch(self, container) -> None:
        attrs = container.attrs
        paths = [attrs.get("GraphDriver", {}).get("Data", {}).get("UpperDir")]
        paths += [mount.get("Source") for mount in attrs.get("Mounts", []) if mount.get("Type") == "volume"]
        paths = [path for path in paths if path and os.path.isdir(path)]
        if paths:
            self.watched[container.id] = (container, paths)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            for container_id, (container, paths) in list(self.watched.items()):
                used = sum(_tree_size(path, self.max_bytes + 1) for path in paths)
                if used > self.max_bytes:
                    self.watched.pop(container_id, None)
                    self.killed[container_id] = (f"the container wrote more than {self.max_bytes // 2**20} MiB "
                                                 "to its disk and was stopped")
                    try:
                        container.kill()
                    except Exception:
                        pass

    def stop(self) -> None:
        self._stop.set()


def _tree_size(path: str, stop_after: int) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
            if total > stop_after:
                return total
    return total


def listening_sockets(box: "Sandbox", container) -> list[tuple[str, int]]:
    """Parse /proc/net/tcp{,6} of the container's network namespace (state 0A = LISTEN)."""
    text = ""
    pid = (container.attrs.get("State") or {}).get("Pid")
    if pid:
        for name in ("tcp", "tcp6"):
            try:
                text += Path(f"/proc/{pid}/net/{name}").read_text()
            except OSError:
                pass
    if not text:
        try:
            text = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"]).output.decode("ascii", "replace")
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
    import ipaddress

    raw = bytes.fromhex(address_hex)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    address = ipaddress.IPv6Address(b"".join(words))
    return str(address.ipv4_mapped or address)


def dangling_images(engine_url: str | None = None) -> set[str]:
    return {image.id for image in engine.client(engine_url).images.list(filters={"dangling": True})}


def prune_build_cache(engine_url: str | None = None, keep: set[str] | frozenset = frozenset()) -> int:
    """Remove the build cache gradings leave: dangling images built on the course's stand-in bases.

    A grading keeps the learner's build steps as cache, so re-checking after a one-line edit
    rebuilds from that line only. `batch` prunes what it added at its end and `dockyard clean`
    prunes it all, so a class of 300 does not fill the disk. `keep`: ids to spare.
    """
    client = engine.client(engine_url)
    standins = {image.id for image in client.images.list(filters={"label": f"{STANDIN_LABEL}=true"})
                if RUN_LABEL not in (image.labels or {})}
    removed = 0
    for image_id in dangling_images(engine_url) - set(keep):
        try:
            ancestry = {layer.get("Id") for layer in client.api.history(image_id)}
        except Exception:
            continue
        if ancestry & standins:
            try:
                client.images.remove(image_id, noprune=False)
                removed += 1
            except Exception:
                pass  # in use by a running build or container: next time
    return removed
