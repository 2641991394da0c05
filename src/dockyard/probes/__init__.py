"""The checks rubrics are made of. Each probe is small, goes through the sandbox, returns a frozen
dataclass, and never raises for a learner's mistake (an app that does not answer is an `HttpResult`
with `ok=False` and an `error`, not an exception).

Targets: a `BuiltImage` (or an image tag), a `RunningContainer`, a `(compose_project, service)` pair.
"""

from __future__ import annotations

import http.client
import io
import json as jsonlib
import posixpath
import re
import shutil
import socket
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import DockyardError, caused_by
from dockyard.polling import wait_until
from dockyard.probes import diagnose, image_archive, layer_dirs, standins, tree
from dockyard.sandbox import ExecResult, RunningContainer
from dockyard.sandbox.context import scratch_copy
from dockyard.text import last_lines, tail

PROBE_IMAGE = "python:3.11-slim"  # for requests made from inside a compose network
MAX_BODY = 1 * 2**20
BODY_WITHIN_S = 10.0
ANSWER_WITHIN_S = 10.0  # from connecting to the last header: each read's timeout alone lets a byte a second go on
MAX_FILE = 8 * 2**20
SCAN_MAX_FILE = 16 * 2**20
SCAN_MAX_TOTAL = 2 * 2**30
LISTDIR_MAX_MEMBERS = 50_000
# An app that has listened on other ports, and not on the one asked, for this long has settled there: say so now
# rather than wait out the ready timeout (a learner's wrong port cost 20 s a grading).
SETTLED_ELSEWHERE_S = 3.0
SETTLED_ELSEWHERE = object()  # what http()'s attempt returns then


# -- results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuiltImage:
    tag: str
    id: str
    build: object  # dockyard.sandbox.build.BuildResult


@dataclass(frozen=True)
class HttpResult:
    ok: bool
    status: int | None
    text: str
    error: str | None
    attempts: int
    url: str = ""
    headers: dict = field(default_factory=dict, compare=False)

    def json(self):
        try:
            return jsonlib.loads(self.text)
        except ValueError:
            return None

    def explain(self, expected: str | None = None) -> str:
        """One or two lines for the learner: what was expected, what was seen."""
        want = f"expected {expected!r}" if expected else "expected an answer"
        if self.status is None:
            return f"{want} from {self.url or 'the app'}, but {self.error or 'nothing answered'}"
        body = " ".join(self.text.split())[:200] or "an empty body"
        return f"{want} from {self.url}; got HTTP {self.status} with {body}"


@dataclass(frozen=True)
class FileInfo:
    exists: bool
    is_dir: bool = False
    size: int = 0
    mode: int = 0  # permission bits, e.g. 0o644
    uid: int | None = None
    gid: int | None = None
    content: bytes | None = None
    link_target: str | None = None

    @property
    def text(self) -> str | None:
        return None if self.content is None else self.content.decode("utf-8", "replace")


@dataclass(frozen=True)
class ImageConfig:
    user: str
    env: dict
    cmd: list | None
    entrypoint: list | None
    exposed_ports: frozenset
    working_dir: str
    healthcheck: dict | None
    volumes: frozenset
    labels: dict


@dataclass(frozen=True)
class Layer:
    created_by: str
    size: int


@dataclass(frozen=True)
class HealthResult:
    status: str  # healthy | unhealthy | none | starting
    seconds: float
    log: str = ""


@dataclass(frozen=True)
class Process:
    pid: int
    uid: int | None
    user: str
    command: str


@dataclass(frozen=True)
class SecretScan:
    found: bool
    where: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerFile:
    """A regular file as one layer stores it: `layer` counts from 1 at the oldest, as `docker history` from the bottom."""

    layer: int
    path: str
    size: int


# -- helpers ----------------------------------------------------------------------------------
def _tag(image) -> str:
    return image.tag if isinstance(image, BuiltImage) else str(image)


def _file_info(member: tarfile.TarInfo, content: bytes | None) -> FileInfo:
    """What a lookup tells of the archive member at the path asked."""
    return FileInfo(True, member.isdir(), member.size, member.mode & 0o7777, member.uid, member.gid, content,
                    member.linkname or None)


def _is_project_pair(target) -> bool:
    return isinstance(target, tuple) and len(target) == 2 and hasattr(target[0], "container")


class Probes:
    """`probe.<name>(...)` in rubrics: bound to one sandbox (and the submission, for rebuilds)."""

    def __init__(self, sandbox, submission=None, progress=None):
        self.sandbox = sandbox
        self.submission = submission
        self.progress = progress or (lambda message: None)
        self._inspection: dict[str, object] = {}  # image tag -> created (never started) container
        self._trees: dict[str, tree.Tree | None] = {}  # image tag -> its working directory, read once (probes/tree.py)
        self._images: dict[str, object] = {}  # image id -> the engine's image (an id's content never changes)
        self._never_ready: dict[tuple, str] = {}  # (container id, port) -> why, so we wait only once
        self.probe_image = PROBE_IMAGE

    @property
    def client(self):
        return self.sandbox.client

    def _container_of(self, target):
        if isinstance(target, RunningContainer):
            return target.container
        if _is_project_pair(target):
            project, service = target
            return project.container(service)
        if hasattr(target, "exec_run"):
            return target
        raise TypeError(f"not a container target: {target!r}")

    # -- HTTP -----------------------------------------------------------------------------------
    def http(self, target, path: str = "/", port: int = 8000, method: str = "GET", body=None, headers=None,
             timeout_s: float | None = None, expect_status: int | None = None) -> HttpResult:
        """A request to the app, retried (bounded) until it answers or the ready timeout passes."""
        __tracebackhide__ = True
        container = None
        if isinstance(target, str):
            url = target
        elif isinstance(target, RunningContainer):
            container = target.container
            if port not in target.ports:
                exited = _exited(container)
                if exited is not None:  # stopped at once: the ports were never bound
                    return HttpResult(False, None, "", self._why_stopped(container, exited), 0)
                return HttpResult(False, None, "", f"port {port} is not published by the container", 0)
            url = target.url(port, path)
        elif _is_project_pair(target):
            project, service = target
            try:
                container = project.container(service)
                host_port = project.port(service, port)
            except DockyardError as exc:
                return HttpResult(False, None, "", str(exc), 0)
            if host_port is None:
                return HttpResult(False, None, "", f"service {service!r} publishes no port {port}", 0)
            url = f"http://127.0.0.1:{host_port}{path}"
        else:
            raise TypeError(f"not an HTTP target: {target!r}")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"probes only talk to http://127.0.0.1 (got {url})")
        key = (getattr(container, "id", url), port)
        timeout_s = timeout_s if timeout_s is not None else self.sandbox.limits.ready_timeout_s
        if key in self._never_ready:
            timeout_s = 0  # one attempt: we already waited for this app once
        data = body.encode() if isinstance(body, str) else body
        if isinstance(body, (dict, list)):
            data = jsonlib.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        attempts, error = 0, None
        last_state_check = 0.0
        elsewhere_since: float | None = None  # since when the app listens, but not where it is asked

        def attempt() -> HttpResult | object | None:
            """One request: its result, the container's exit, SETTLED_ELSEWHERE, or None (not ready yet)."""
            nonlocal attempts, error, last_state_check, elsewhere_since
            attempts += 1
            request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
            try:
                with _opener().open(request, timeout=5) as response:
                    return self._http_result(response.status, _read_body(response), dict(response.headers),
                                             attempts, url, expect_status)
            except urllib.error.HTTPError as exc:
                return self._http_result(exc.code, _read_body(exc) if exc.fp else b"", dict(exc.headers or {}),
                                         attempts, url, expect_status)
            except AnswerTooSlow as exc:  # it answers, too slowly to wait for: not an app still starting
                self._never_ready[key] = str(exc)
                return HttpResult(False, None, "", str(exc), attempts, url)
            except Exception as exc:  # refused, reset, empty reply: not ready yet
                error = _net_error(exc)
            now = time.monotonic()
            if container is not None and now - last_state_check > 0.5:
                last_state_check = now
                exited = _exited(container)
                if exited is not None:
                    why = self._why_stopped(container, exited)
                    self._never_ready[key] = why
                    return HttpResult(False, None, "", why, attempts, url)
                if diagnose.listens_elsewhere(self.sandbox.listening(container, host_only=True), port):
                    elsewhere_since = elsewhere_since or now
                    if now - elsewhere_since >= SETTLED_ELSEWHERE_S:
                        return SETTLED_ELSEWHERE
                else:
                    elsewhere_since = None
            return None

        answer = wait_until(attempt, timeout_s, 0.05, backoff=1.5, max_interval_s=0.5)
        if answer is not None and answer is not SETTLED_ELSEWHERE:
            return answer
        why = f"nothing answered on port {port} after {attempts} attempt(s) ({error})"
        if container is not None:
            seen = diagnose.why_no_answer(self.sandbox, container, port, self.sandbox.logs(container))
            why = f"{why}: {seen}" if seen else why
        self._never_ready[key] = why
        return HttpResult(False, None, "", why, attempts, url)

    def _why_stopped(self, container, exit_code: int) -> str:
        logs = self.sandbox.logs(container)
        cause = diagnose.why_stopped(self.sandbox, container, logs)
        last = last_lines(logs, 2, width=160)
        return (f"the container stopped (exit code {exit_code}) before answering"
                f"{': ' + cause if cause else ''}{'; its last output: ' + last if last else ''}")

    def _http_result(self, status, raw: bytes, headers, attempts, url, expect_status) -> HttpResult:
        ok = status == expect_status if expect_status is not None else 200 <= status < 400
        return HttpResult(ok, status, raw.decode("utf-8", "replace"), None, attempts, url, headers)

    # -- running containers -------------------------------------------------------------------------
    def exec(self, target, command, user: str | None = None) -> ExecResult:
        return self.sandbox.exec(self._container_of(target), command, user=user)

    def run(self, image, command=None, environment: dict | None = None, entrypoint=None) -> ExecResult:
        """`docker run --rm [--entrypoint …] image command`; a container that cannot even start is exit
        code 127, not an exception. `entrypoint` replaces the image's (say, to run python whatever it has)."""
        import docker.errors

        extra = {"entrypoint": entrypoint} if entrypoint is not None else {}
        try:
            return self.sandbox.run_once(_tag(image), command=command, environment=environment, **extra)
        except docker.errors.APIError as exc:
            reason = " ".join(str(getattr(exc, "explanation", "") or exc).split())[:300]
            return ExecResult(127, "", f"the container could not start: {reason}")

    def logs(self, target) -> str:
        if _is_project_pair(target):
            project, service = target
            return project.logs(service)
        return self.sandbox.logs(self._container_of(target))

    def wait_healthy(self, target, timeout_s: float = 30) -> HealthResult:
        container = self._container_of(target)
        started = time.monotonic()
        log = ""

        def settled() -> HealthResult | None:
            """The health check's verdict once there is one (or no health check, or a stopped container)."""
            nonlocal log
            container.reload()
            health = (container.attrs.get("State") or {}).get("Health")
            if not health:
                return HealthResult("none", time.monotonic() - started)
            status = health.get("Status", "starting")
            log = "\n".join(f"exit {entry.get('ExitCode')}: {check_output_line(str(entry.get('Output', '')))}"
                             for entry in health.get("Log") or [])
            if status in ("healthy", "unhealthy"):
                return HealthResult(status, round(time.monotonic() - started, 2), tail(log, 5))
            if not (container.attrs.get("State") or {}).get("Running"):
                return HealthResult("unhealthy", round(time.monotonic() - started, 2), "the container stopped")
            return None

        verdict = wait_until(settled, timeout_s, 0.5)
        return verdict if verdict is not None else HealthResult("starting", round(time.monotonic() - started, 2),
                                                               tail(log, 5))

    def run_healthcheck(self, target) -> ExecResult | None:
        """Run the container's own HEALTHCHECK command once, now, as the engine would (same user, same
        timeout): None when the image has no health check. Its exit code says what the engine would record."""
        container = self._container_of(target)
        check = ((container.attrs.get("Config") or {}).get("Healthcheck") or {})
        test = list(check.get("Test") or [])
        if not test or test[0] == "NONE":
            return None
        argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        timeout_s = max(1.0, min((check.get("Timeout") or 30 * 10**9) / 1e9, 30.0))
        return self.sandbox.exec(container, argv, timeout_s=timeout_s)

    def processes(self, target) -> list[Process]:
        container = self._container_of(target)
        top = container.top(ps_args="-o pid,uid,args")
        titles = [title.upper() for title in top.get("Titles") or []]
        users = _passwd(self._read_file(container, "/etc/passwd", MAX_FILE).content or b"")
        processes = []
        for row in top.get("Processes") or []:
            values = dict(zip(titles, row))
            uid = int(values["UID"]) if str(values.get("UID", "")).isdigit() else None
            processes.append(Process(int(values.get("PID", 0)), uid, users.get(uid, str(uid)),
                                     values.get("COMMAND") or values.get("ARGS") or values.get("CMD") or ""))
        return processes

    # -- images ----------------------------------------------------------------------------------
    def _image(self, image):
        key = image.id if isinstance(image, BuiltImage) else _tag(image)
        if not key.startswith("sha256:"):  # a tag can move to another image: asked each time
            return self.client.images.get(key)
        if key not in self._images:
            self._images[key] = self.client.images.get(key)
        return self._images[key]

    def image_config(self, image) -> ImageConfig:
        config = self._image(image).attrs.get("Config") or {}
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in config.get("Env") or [])
        ports = frozenset(int(key.split("/")[0]) for key in (config.get("ExposedPorts") or {}))
        return ImageConfig(config.get("User") or "", env, config.get("Cmd"), config.get("Entrypoint"), ports,
                           config.get("WorkingDir") or "", config.get("Healthcheck"),
                           frozenset(config.get("Volumes") or {}), dict(config.get("Labels") or {}))

    def history(self, image) -> list[Layer]:
        rows = self._image(image).history()
        layers = [Layer(_created_by(row.get("CreatedBy") or ""), int(row.get("Size") or 0)) for row in reversed(rows)]
        return [layer for layer in layers if not _GRADER_LABEL.match(layer.created_by)]  # the sandbox's own labels

    def image_size(self, image) -> int:
        return int(self._image(image).attrs.get("Size") or 0)

    def layer_count(self, image) -> int:
        return len((self._image(image).attrs.get("RootFS") or {}).get("Layers") or [])

    def base_size(self, name: str) -> int:
        try:
            return int(self.client.images.get(name).attrs.get("Size") or 0)
        except Exception:
            return 0

    def _inspection_container(self, image):
        """A created, never started container of `image`: its files can be read without running the app."""
        tag = _tag(image)
        if tag not in self._inspection:
            name = self.sandbox.name(f"inspect{len(self._inspection)}")
            self._inspection[tag] = self.sandbox._call(lambda: self.client.containers.create(
                tag, entrypoint=["/dockyard-never-runs"], command=[], labels=self.sandbox.labels, name=name,
                network_disabled=True))
            self.sandbox._created["container"].append(name)
        return self._inspection[tag]

    def file(self, image, path: str) -> FileInfo:
        snapshot = self._tree_holding(image, path)
        if snapshot is not None:
            conclusive, entry = snapshot.file(path)
            if conclusive and entry is None:
                return FileInfo(False)
            if conclusive:
                try:
                    return FileInfo(True, entry.is_dir, entry.size, entry.mode, entry.uid, entry.gid,
                                    entry.read(MAX_FILE))
                except OSError:
                    pass  # the layer went away meanwhile: the engine answers
        return self._read_file(self._inspection_container(image), path, MAX_FILE)

    def _tree_holding(self, image, path: str) -> tree.Tree | None:
        """The image's working directory, read once (probes/tree.py), when `path` lies below it."""
        root = "/" + posixpath.normpath(self.image_config(image).working_dir or "/").lstrip("/")
        if root == "/" or tree.below(root, path) is None:
            return None
        tag = _tag(image)
        if tag not in self._trees:
            self._trees[tag] = self._read_tree(image, root)
        return self._trees[tag]

    def _read_tree(self, image, root: str) -> tree.Tree | None:
        """From the engine's layer folders where this host can read them (no container needed), else in one
        archive of the folder."""
        folders = layer_dirs.of(self._image(image).attrs)
        found = tree.Tree.from_layers(root, folders) if folders is not None else None
        return found if found is not None else self._archive_tree(self._inspection_container(image), root)

    def _archive_tree(self, container, root: str) -> tree.Tree | None:
        import docker.errors

        try:
            stream, stat = container.get_archive(root, chunk_size=65536)
        except docker.errors.APIError:
            return None
        reader = _StreamReader(stream)
        try:
            if not int(stat.get("mode", 0)) & (1 << 31):  # no folder there (a link, a file): the engine answers each
                return None
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                return tree.Tree.from_archive(root, archive)
        except tarfile.TarError:
            return None
        finally:
            reader.close()

    def _read_file(self, container, path: str, max_bytes: int) -> FileInfo:
        import docker.errors

        try:
            stream, stat = container.get_archive(path, chunk_size=65536)
        except docker.errors.NotFound:
            return FileInfo(False)
        except docker.errors.APIError as exc:
            if getattr(exc, "status_code", None) in (404, 400) or "not a directory" in str(exc.explanation or ""):
                return FileInfo(False)  # "not a directory": the path goes through a file, so nothing is there
            raise
        is_dir = bool(int(stat.get("mode", 0)) & (1 << 31))
        reader = _StreamReader(stream)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                member = archive.next()
                if member is None:
                    return FileInfo(True, is_dir, int(stat.get("size", 0)))
                content = None
                if member.isfile():
                    handle = archive.extractfile(member)
                    content = handle.read(max_bytes) if handle else None
                return _file_info(member, content)
        finally:
            reader.close()

    def listdir(self, image, path: str) -> list[str]:
        snapshot = self._tree_holding(image, path)
        names = snapshot.listdir(path) if snapshot is not None else None
        return names if names is not None else self._list_folder(self._inspection_container(image), path)

    def _list_folder(self, container, path: str) -> list[str]:
        import docker.errors

        try:
            stream, stat = container.get_archive(path.rstrip("/") or "/", chunk_size=65536)
        except docker.errors.APIError:
            return []
        if not int(stat.get("mode", 0)) & (1 << 31):
            return []
        names = set()
        reader = _StreamReader(stream)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                for count, member in enumerate(archive):
                    parts = [part for part in member.name.split("/") if part not in ("", ".")]
                    depth = 0 if (path.rstrip("/") or "/") == "/" else 1  # "/" archives without a top folder
                    if len(parts) > depth:
                        names.add(parts[depth])
                    if count > LISTDIR_MAX_MEMBERS:
                        break
        finally:
            reader.close()
        return sorted(names)

    def secret_scan(self, image, needle: str) -> SecretScan:
        """Is `needle` anywhere: any layer's files (also those deleted by a later layer), config, history?"""
        wanted = needle.encode()
        where: list[str] = []
        image_object = self._image(image)
        config = image_object.attrs.get("Config") or {}
        for key in ("Env", "Cmd", "Entrypoint", "Labels", "User", "WorkingDir"):
            if needle in jsonlib.dumps(config.get(key)):
                where.append(f"config:{key}")
        for row in image_object.history():
            if needle in (row.get("CreatedBy") or ""):
                where.append(f"history:{_created_by(row.get('CreatedBy'))[:80]}")
        scanned = 0

        def look(layer: str, entry, reader) -> bool:
            nonlocal scanned
            if entry.size > SCAN_MAX_FILE:
                return True
            scanned += entry.size
            if wanted in reader.read():
                name = "/" + member_path(entry.name)
                if name not in where:
                    where.append(name)
            return scanned <= SCAN_MAX_TOTAL

        # the course's stand-in bases cannot hold a learner's secret: their layers (most of the bytes) are skipped
        layers = self._walk_saved_image(image_object.id, look, skip=standins.layers(self.client))
        if not where:  # a secret found is found, even where another layer could not be read
            _refuse_unreadable(layers, "the secret scan could not read every layer of the image")
        return SecretScan(bool(where), tuple(where))

    def layer_files(self, image, under: str) -> list[LayerFile]:
        """The regular files below `under` in each layer of the image (a file a later layer deletes is still
        listed, in the layer that added it; the deletion markers, `.wh.*`, are not).

        What the final filesystem cannot show: `RUN rm` in a later step hides a file but every copy of the image
        still carries it."""
        prefix = under.strip("/") + "/"
        found: list[tuple[str, str, int]] = []

        def look(layer: str, entry, reader) -> bool:
            name = member_path(entry.name)
            if name.startswith(prefix) and not name.rsplit("/", 1)[-1].startswith(".wh."):
                found.append((layer, "/" + name, entry.size))
            return True

        layers = self._walk_saved_image(self._image(image).id, look)
        _refuse_unreadable(layers, "could not read every layer of the image")
        return [LayerFile(layers.layer_number(layer) or 0, path, size) for layer, path, size in found]

    def _walk_saved_image(self, image_id: str, look, skip: frozenset[str] = frozenset()):
        """The image's layers read from the engine's own folders where this host can (probes/layer_dirs.py), else
        `docker save` of the image streamed through `image_archive.walk_layers` (any save format, any
        compression), never held whole in memory. `skip`: layers (by diff id) the folders' walk may leave out."""
        attrs = self._image(image_id).attrs
        folders = layer_dirs.of(attrs)
        if folders is not None:
            diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
            return layer_dirs.walk(folders, look, skip={str(folder) for folder, diff_id in zip(folders, diff_ids)
                                                        if diff_id in skip})
        reader = io.BufferedReader(_StreamReader(self.client.api.get_image(image_id)))
        try:
            return image_archive.walk_layers(reader, look)
        finally:
            reader.close()

    # -- rebuilds --------------------------------------------------------------------------------
    def rebuild_after_change(self, filename: str, append: str = "\n# changed\n", *, cache_from=None):
        """Rebuild a copy of the submission with one file changed; the result tells which steps were cached.

        A unique marker goes with the change: build steps persist as cache between gradings, and the
        same edit made by an earlier grading would otherwise come from cache too. `cache_from` (the `image`
        fixture): take the cache from that build's own steps only (every stage's), so a grading beside another
        of the same exercise cannot step onto the other's half-built chain (the classic builder's cache)."""
        append = f"{append}\n# dockyard {uuid.uuid4().hex}\n"

        if self.submission is None:
            raise DockyardError("rebuild_after_change needs the submission")
        copy = scratch_copy(self.submission.path)
        try:
            target = copy / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "a") as handle:
                handle.write(append)
            sources = () if cache_from is None else (cache_from.id, *cache_from.build.layer_ids)
            return self.sandbox.build(copy, cache_from=sources)
        finally:
            shutil.rmtree(copy.parent, ignore_errors=True)

    # -- compose -----------------------------------------------------------------------------------
    def reach(self, project, from_service: str, to_service: str, port: int = 8000, path: str = "/") -> HttpResult:
        """A request made from inside `from_service`'s network namespace (a short-lived probe container
        sharing it, so the learner's image needs neither curl nor python) to http://<to_service>:<port><path>."""
        url = f"http://{to_service}:{port}{path}"
        try:
            source = project.container(from_service)
        except DockyardError as exc:
            return HttpResult(False, None, "", str(exc), 0, url)
        deadline_s = min(self.sandbox.limits.ready_timeout_s, 30)
        script = _REACH_SCRIPT.format(url=jsonlib.dumps(url), deadline=deadline_s)
        result = self.sandbox.run_once(self.probe_image, command=["python3", "-c", script], network=None,
                                       network_mode=f"container:{source.id}", timeout_s=deadline_s + 15)
        for line in reversed(result.stdout.splitlines()):
            if line.startswith("{"):
                data = jsonlib.loads(line)
                status = data.get("status")
                ok = status is not None and 200 <= status < 400
                return HttpResult(ok, status, data.get("text", ""), data.get("error"), data.get("attempts", 1), url)
        return HttpResult(False, None, "", f"the probe could not run: {last_lines(result.stderr, 2, width=160)}", 0, url)

    def compose_restart(self, project, volumes: bool = False) -> None:
        project.down(volumes=volumes)  # the project's own down: it also removes orphaned anonymous volumes
        project.up()

    def published_ports(self, project) -> dict[str, list[int]]:
        ports: dict[str, list[int]] = {service: [] for service in project.services}
        for port in project.ports_declared:
            ports.setdefault(port.service, []).append(port.target)
        return ports

    def network_members(self, project) -> dict[str, list[str]]:
        return project.networks()


_REACH_SCRIPT = """
import json, time, urllib.request, urllib.error
url, deadline, attempts, error = {url}, time.monotonic() + {deadline}, 0, None
while True:
    attempts += 1
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            print(json.dumps({{"status": r.status, "text": r.read(65536).decode("utf-8", "replace"), "attempts": attempts}})); break
    except urllib.error.HTTPError as e:
        print(json.dumps({{"status": e.code, "text": "", "attempts": attempts}})); break
    except Exception as e:
        error = str(getattr(e, "reason", e))
    if time.monotonic() > deadline:
        print(json.dumps({{"status": None, "error": "could not reach " + url + ": " + error, "attempts": attempts}})); break
    time.sleep(0.3)
"""


def member_path(name: str) -> str:
    """A layer member's path without its leading `./` or `/`: `./.env` is `.env` (stripping dots would say `env`)."""
    return name.removeprefix("./").lstrip("/")


def _refuse_unreadable(layers, what: str) -> None:
    if layers.unreadable:
        name, why = next(iter(layers.unreadable.items()))
        raise DockyardError(f"{what}: {name} is {why}",
                            hint="this is the grader's limit, not your mistake; tell your teacher")


class _StreamReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (the engine's streamed archives), for tarfile's `r|`."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._source = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def close(self) -> None:
        closer = getattr(self._source, "close", None)
        if closer:
            try:
                closer()
            except Exception:
                pass
        super().close()


def _read_body(response, max_bytes: int = MAX_BODY, within_s: float = BODY_WITHIN_S) -> bytes:
    """At most `max_bytes` of a body, and for at most about `within_s` (+ one read's socket timeout): an app
    that answers forever, or one byte at a time, costs the grading neither memory nor its time."""
    deadline = time.monotonic() + within_s
    chunks, size = [], 0
    try:
        while size < max_bytes and time.monotonic() < deadline:
            chunk = response.read1(min(65536, max_bytes - size)) if hasattr(response, "read1") else \
                response.read(min(65536, max_bytes - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except Exception:  # a reset or a socket timeout mid-body: what came is the body
        pass
    return b"".join(chunks)


# curl's progress meter, which a failing `curl -f` health check prints before its one useful line.
_METER = re.compile(r"^\s*(% Total\s+% Received|Dload\s+Upload)|^[\d\s.:kKMG-]+$")


def check_output_line(output: str) -> str:
    """The meaningful last line of a check's output (curl's error, not its progress meter)."""
    lines = [line.strip() for line in output.replace("\r", "\n").splitlines()]
    meaningful = [line for line in lines if line and not _METER.search(line)]
    return (meaningful[-1] if meaningful else "(no output)")[:200]


class AnswerTooSlow(Exception):
    """The app began an answer and did not finish its status line and headers in time."""


class _DeadlineConnection(http.client.HTTPConnection):
    """An HTTP connection whose status line and headers must all arrive within ANSWER_WITHIN_S of connecting:
    past it the socket is shut down under the reader (the body has its own bound, `_read_body`)."""

    within_s = ANSWER_WITHIN_S

    def connect(self) -> None:
        super().connect()
        self._cut = False
        self._timer = threading.Timer(self.within_s, self._shut)
        self._timer.daemon = True
        self._timer.start()

    def _shut(self) -> None:
        self._cut = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass

    def getresponse(self):
        try:
            return super().getresponse()
        except Exception:
            if getattr(self, "_cut", False):
                raise AnswerTooSlow(f"the app did not finish its answer (status line and headers) within "
                                    f"{self.within_s:g} s of the connection") from None
            raise
        finally:
            timer = getattr(self, "_timer", None)
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
        super().close()


class _DeadlineHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_DeadlineConnection, req)


def _opener():
    # never through a proxy; the answer's head within its deadline
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _DeadlineHandler)


def _net_error(exc: Exception) -> str:
    """Why a request got no answer, from the exception's type (urllib wraps the socket's error in `.reason`)."""
    if caused_by(exc, ConnectionRefusedError):
        return "connection refused"
    if caused_by(exc, ConnectionResetError, http.client.RemoteDisconnected, http.client.IncompleteRead):
        return "the connection was closed without an answer"  # RemoteDisconnected: closed before any reply
    reason = getattr(exc, "reason", exc)
    return (str(reason) or type(reason).__name__)[:120]


def _exited(container) -> int | None:
    try:
        container.reload()
    except Exception:
        return -1
    state = container.attrs.get("State") or {}
    if state.get("Running") or state.get("Status") in ("created", "restarting"):
        return None
    return int(state.get("ExitCode", -1))




_GRADER_LABEL = re.compile(r"^LABEL dockyard\.(run|exercise|host|owner|owner\.start)=")


def _created_by(text: str) -> str:
    text = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", text or "")
    return re.sub(r"^/bin/sh -c ", "RUN ", text).strip()


def _passwd(content: bytes) -> dict[int, str]:
    users = {}
    for line in content.decode("utf-8", "replace").splitlines():
        parts = line.split(":")
        if len(parts) > 3 and parts[2].isdigit():
            users.setdefault(int(parts[2]), parts[0])
    return users


__all__ = ["Probes", "BuiltImage", "HttpResult", "FileInfo", "ImageConfig", "Layer", "HealthResult", "Process",
           "SecretScan", "ExecResult", "Path"]
