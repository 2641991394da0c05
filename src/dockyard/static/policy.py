"""The compose security policy, applied to the learner's RAW YAML before anything starts.

We read the file with `yaml.compose()` (PyYAML's node tree, which keeps the line of every
key and value), not with `docker compose config`: the policy must say which *line the
learner wrote* broke which rule, and it must run before compose interpolates, merges or
touches anything. Anchors and `<<:` merge keys are followed (a refused key hidden in an
`x-` anchor is still refused), and files the compose file pulls in from the submission
(`include:`, `extends: file:`) are checked too.

Each rule has an id (`no-privileged`, `no-docker-socket`, …); each violation is one line
that says what to do instead. The sandbox rewrites the model again before `up` (limits,
cap_drop, loopback ports), so this policy is the first of two fences, and the one that
explains itself to a learner.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dockyard import bounded
from dockyard.errors import ComposeError, PolicyViolation
from dockyard.static import yamlguard

TRUE = {"true", "yes", "on", "1", "y"}
DOCKER_SOCKETS = ("docker.sock", "podman.sock", "containerd.sock", "dockershim.sock", "crio.sock")
HOST_ONLY_MODES = {  # key -> rule
    "pid": "no-host-pid",
    "ipc": "no-host-ipc",
    "userns_mode": "no-host-userns",
    "uts": "no-host-uts",
    "cgroup": "no-host-cgroup",
}
SECURITY_OPT_REFUSED = re.compile(
    r"^(seccomp\s*[:=]\s*(?!default$).+|apparmor\s*[:=]\s*(?!(default|docker-default)$).+"
    r"|label\s*[:=]\s*disable|systempaths\s*[:=]\s*unconfined)$", re.IGNORECASE)

# rule id -> what to do instead (one line; the violation's message starts with what was found)
ADVICE = {
    "no-privileged": "remove `privileged`: the app never needs full control of the host",
    "no-host-network": "remove `network_mode: host`; publish ports with `ports:` and let services talk over the project network",
    "no-container-network": "remove `network_mode: container:…`; put the services on one compose network instead",
    "no-host-pid": "remove it: a container sees only its own processes",
    "no-host-ipc": "remove it: keep the container's own IPC namespace",
    "no-host-userns": "remove it: keep the default user namespace",
    "no-host-uts": "remove it: set a `hostname:` instead if you need one",
    "no-host-cgroup": "remove it: keep the container's private cgroup namespace",
    "no-cap-add": "remove `cap_add`: the app needs no extra kernel capabilities (use a port above 1024 instead of NET_BIND_SERVICE)",
    "no-devices": "remove it: containers here get no access to host devices",
    "no-unconfined": "remove it: the default seccomp/AppArmor profiles stay on",
    "no-docker-socket": "never mount the Docker socket: it gives the container full control of the host",
    "no-host-bind": "mount a folder of your project (`./data:/app/data`) or a named volume (`data:/app/data`) instead",
    "no-volume-bind": "declare the volume without `driver_opts` (`volumes: {data: {}}`); Docker manages where it lives",
    "no-external": "let compose create it: remove `external` (resources outside your project are not available here)",
    "no-sysctls": "remove `sysctls`: kernel settings are not the app's business",
    "no-cgroup-parent": "remove `cgroup_parent`: the grader places containers itself",
    "no-runtime": "remove `runtime`: the grader chooses the container runtime",
    "no-outside-files": "keep every file the compose file uses inside your project folder and refer to it with a relative path",
    "no-build-host-access": "remove it: builds get no host network, SSH agent or extra privileges",
    "no-kernel-knobs": "remove it: memory, CPU, OOM and I/O settings of containers are the grader's (it sets its own)",
    "no-provider": "remove `provider`: a service here is a container built or pulled, not a plugin run on the host",
    "too-many-services": "a project here has at most {max_services} services: each is a container (or a build) the grader starts",
    "no-log-driver": "remove `logging.driver` (or use json-file): logs stay on the engine, in the grader's bounds",
}
MAX_SERVICES = 20  # services of one project, every included file together
KERNEL_KNOBS = ("oom_kill_disable", "oom_score_adj", "storage_opt", "blkio_config", "cpu_rt_runtime", "cpu_rt_period")


@dataclass(frozen=True)
class Found:
    """A violation before it becomes an exception (kept hashable to drop duplicates from anchors)."""

    file: str
    line: int
    rule: str
    message: str


# ---- YAML node helpers --------------------------------------------------------------------------
def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _pairs(node: Node | None) -> list[tuple[ScalarNode, Node]]:
    """A mapping's (key, value) pairs with `<<:` merges applied (merged first, own keys win)."""
    if not isinstance(node, MappingNode):
        return []
    merged: list[tuple[Node, Node]] = []
    own: list[tuple[Node, Node]] = []
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == "<<" and key.tag in ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:str"):
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                merged.extend(_pairs(source))
        else:
            own.append((key, value))
    own_keys = {k.value for k, _ in own if isinstance(k, ScalarNode)}
    return [(k, v) for k, v in merged if k.value not in own_keys] + own


def _get(node: Node | None, key: str) -> tuple[ScalarNode, Node] | None:
    for k, v in _pairs(node):
        if isinstance(k, ScalarNode) and k.value == key:
            return k, v
    return None


def _scalar(node: Node | None) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def _items(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def _truthy(node: Node | None) -> bool:
    value = _scalar(node)
    return value is not None and value.strip().lower() in TRUE


def _entries(node: Node | None) -> list[tuple[str, Node, Node]]:
    """A list (`- A=b`, `- "NET_ADMIN"`) or a mapping (`A: b`) as (text, node for the line, value node)."""
    if isinstance(node, SequenceNode):
        return [(_scalar(item) or "", item, item) for item in node.value]
    return [(f"{k.value}", k, v) for k, v in _pairs(node)]


# ---- the policy -------------------------------------------------------------------------------
class _Checker:
    def __init__(self, root: Path):
        self.root = Path(os.path.realpath(root))
        self.found: list[Found] = []
        self.seen_files: set[Path] = set()
        self.services = 0

    def add(self, file: str, node: Node, rule: str, what: str) -> None:
        advice = ADVICE[rule].replace("{max_services}", str(MAX_SERVICES))
        violation = Found(file, _line(node), rule, f"{what} — {advice}")
        if violation not in self.found:
            self.found.append(violation)

    def inside(self, base: Path, path_text: str) -> Path | None:
        """The resolved path when `path_text` (relative to `base`) stays inside the submission, else None."""
        text = path_text.strip()
        if not text or "$" in text or text.startswith("~") or re.match(r"^[A-Za-z]:[\\/]", text) or text.startswith("\\\\"):
            return None
        resolved = Path(os.path.realpath(os.path.join(base, text)))
        if resolved == self.root or self.root in resolved.parents:
            return resolved
        return None

    # the file ------------------------------------------------------------------------------
    def check_file(self, path: Path) -> None:
        path = Path(os.path.realpath(path))
        if path in self.seen_files:
            return
        self.seen_files.add(path)
        name = os.path.relpath(path, self.root) if self.root in path.parents else path.name
        document = load_nodes(path, name)
        if document is None:
            return
        base = path.parent
        services = _get(document, "services")
        for service_key, service in _pairs(services[1] if services else None):
            self.services += 1
            if self.services == MAX_SERVICES + 1:  # counted over every file the project includes
                self.add(name, service_key, "too-many-services",
                         f"service `{_scalar(service_key)}` is service number {MAX_SERVICES + 1}")
            if self.services > MAX_SERVICES:
                continue  # past the bound nothing else is checked: the project is refused already
            self.check_service(name, base, service_key.value, service)
        for section in ("volumes", "networks", "secrets", "configs"):
            found = _get(document, section)
            for key, value in _pairs(found[1] if found else None):
                self.check_top_level(name, base, section, key, value)
        include = _get(document, "include")
        if include:
            for item in _items(include[1]) or [include[1]]:
                paths = [item] if isinstance(item, ScalarNode) else []
                if isinstance(item, MappingNode):
                    for key in ("path", "env_file", "project_directory"):
                        entry = _get(item, key)
                        if entry:
                            paths += _items(entry[1]) or [entry[1]]
                for path_node in paths:
                    self.check_file_reference(name, base, path_node, "include", follow=True)

    def check_file_reference(self, name: str, base: Path, node: Node, what: str, follow: bool = False) -> None:
        text = _scalar(node)
        if text is None:
            return
        resolved = self.inside(base, text)
        if resolved is None:
            self.add(name, node, "no-outside-files", f"`{what}: {text}` points outside the project folder")
        elif follow and resolved.is_file():
            self.check_file(resolved)

    # services ------------------------------------------------------------------------------
    def check_service(self, name: str, base: Path, service_name: str, service: Node) -> None:
        where = f"service `{service_name}`"
        for key, value in _pairs(service):
            key_name = key.value if isinstance(key, ScalarNode) else ""
            text = (_scalar(value) or "").strip()
            if "$" in text and key_name in ("privileged", "network_mode", "runtime", *HOST_ONLY_MODES):
                # compose would interpolate it (`privileged: ${P:-true}`): the policy cannot see the value
                rule = {"privileged": "no-privileged", "network_mode": "no-host-network",
                        "runtime": "no-runtime"}.get(key_name) or HOST_ONLY_MODES[key_name]
                self.add(name, key, rule, f"{where} sets `{key_name}` from a variable ({text})")
            elif key_name == "privileged" and _truthy(value):
                self.add(name, key, "no-privileged", f"{where} sets `privileged: {text}`")
            elif key_name == "network_mode":
                if text.lower() == "host":
                    self.add(name, key, "no-host-network", f"{where} uses `network_mode: host`")
                elif text.lower().startswith("container:"):
                    self.add(name, key, "no-container-network", f"{where} uses `network_mode: {text}`")
            elif key_name in HOST_ONLY_MODES:
                if text.lower() == "host" or text.lower().startswith("container:"):
                    self.add(name, key, HOST_ONLY_MODES[key_name], f"{where} sets `{key_name}: {text}`")
            elif key_name == "cap_add":
                capabilities = ", ".join(entry for entry, _, _ in _entries(value)) or text
                self.add(name, key, "no-cap-add", f"{where} adds capabilities ({capabilities})")
            elif key_name in ("devices", "device_cgroup_rules", "gpus"):
                self.add(name, key, "no-devices", f"{where} sets `{key_name}`")
            elif key_name == "security_opt":
                for entry, node, _ in _entries(value):
                    if SECURITY_OPT_REFUSED.match(entry.strip()) or "$" in entry:
                        self.add(name, node, "no-unconfined", f"{where} sets `security_opt: {entry.strip()}`")
            elif key_name in KERNEL_KNOBS:
                self.add(name, key, "no-kernel-knobs", f"{where} sets `{key_name}`")
            elif key_name == "use_api_socket" and (_truthy(value) or "$" in text):
                self.add(name, key, "no-docker-socket", f"{where} sets `use_api_socket: {text}`")
            elif key_name == "provider":
                self.add(name, key, "no-provider", f"{where} is a `provider` service")
            elif key_name == "logging":
                driver = _get(value, "driver")
                driver_name = (_scalar(driver[1]) or "").strip() if driver else ""
                if driver and driver_name not in ("json-file", ""):
                    self.add(name, driver[0], "no-log-driver", f"{where} logs with the `{driver_name}` driver")
            elif key_name == "sysctls":
                self.add(name, key, "no-sysctls", f"{where} sets `sysctls`")
            elif key_name == "cgroup_parent":
                self.add(name, key, "no-cgroup-parent", f"{where} sets `cgroup_parent`")
            elif key_name == "runtime":
                self.add(name, key, "no-runtime", f"{where} sets `runtime: {text}`")
            elif key_name == "volumes":
                for item in _items(value):
                    self.check_service_volume(name, base, where, item)
            elif key_name == "volumes_from":
                for entry, node, _ in _entries(value):
                    if entry.strip().lower().startswith("container:"):
                        self.add(name, node, "no-external", f"{where} takes volumes from `{entry.strip()}`")
            elif key_name == "external_links":
                self.add(name, key, "no-external", f"{where} links to containers outside the project (`external_links`)")
            elif key_name == "env_file":
                for item in _items(value) or [value]:
                    path_node = _get(item, "path")[1] if isinstance(item, MappingNode) and _get(item, "path") else item
                    self.check_file_reference(name, base, path_node, "env_file")
            elif key_name == "extends" and isinstance(value, MappingNode):
                file_entry = _get(value, "file")
                if file_entry:
                    self.check_file_reference(name, base, file_entry[1], "extends.file", follow=True)
            elif key_name == "build":
                self.check_build(name, base, where, value)

    def check_build(self, name: str, base: Path, where: str, build: Node) -> None:
        if isinstance(build, ScalarNode):
            self.check_build_path(name, base, build, "build")
            return
        for key, value in _pairs(build):
            key_name = key.value
            if key_name == "context":
                self.check_build_path(name, base, value, "build.context")
            elif key_name == "dockerfile" and (_scalar(value) or "").startswith(("/", "~", "..")):
                self.check_file_reference(name, base, value, "build.dockerfile")
            elif key_name == "additional_contexts":
                for entry, node, context in _entries(value):
                    target = _scalar(context) if isinstance(value, MappingNode) else entry.partition("=")[2]
                    if target and not re.match(r"^[a-z][a-z0-9+.-]*://|^docker-image://|^service:", target):
                        if self.inside(base, target) is None:
                            self.add(name, node, "no-outside-files",
                                     f"{where} uses a build context outside the project folder (`{target}`)")
            elif key_name == "network" and (_scalar(value) or "").strip().lower() == "host":
                self.add(name, key, "no-build-host-access", f"{where} builds with `network: host`")
            elif key_name in ("ssh", "entitlements", "privileged"):
                if key_name != "privileged" or _truthy(value):
                    self.add(name, key, "no-build-host-access", f"{where} sets `build.{key_name}`")

    def check_build_path(self, name: str, base: Path, node: Node, what: str) -> None:
        text = _scalar(node)
        if text is None or re.match(r"^[a-z][a-z0-9+.-]*://|^git@", text.strip()):
            return  # a URL (git repo): not a host path
        if self.inside(base, text) is None:
            self.add(name, node, "no-outside-files", f"`{what}: {text}` points outside the project folder")

    def check_service_volume(self, name: str, base: Path, where: str, item: Node) -> None:
        if isinstance(item, ScalarNode):
            source, target = _split_short_volume(item.value)
            if source is None:
                return  # anonymous volume: `- /app/data`
            if _is_named_volume(source):
                return
            self.check_bind_source(name, base, where, item, source, target)
        elif isinstance(item, MappingNode):
            kind = (_scalar((_get(item, "type") or (None, None))[1]) or "volume").strip().lower()
            source_entry = _get(item, "source")
            source = (_scalar(source_entry[1]) if source_entry else "") or ""
            target = _scalar((_get(item, "target") or (None, None))[1]) or ""
            if kind == "bind":
                self.check_bind_source(name, base, where, source_entry[0] if source_entry else item, source, target)
            elif kind == "npipe":
                self.add(name, item, "no-docker-socket", f"{where} mounts the named pipe `{source}`")
            elif kind == "volume" and source and not _is_named_volume(source):
                self.check_bind_source(name, base, where, item, source, target)

    def check_bind_source(self, name: str, base: Path, where: str, node: Node, source: str, target: str) -> None:
        if any(source.rstrip("/").endswith(sock) for sock in DOCKER_SOCKETS) or source.rstrip("/") in ("/var/run", "/run"):
            self.add(name, node, "no-docker-socket", f"{where} mounts the Docker socket `{source}`")
            return
        resolved = self.inside(base, source)
        if resolved is None:
            self.add(name, node, "no-host-bind", f"{where} mounts the host path `{source}` (outside the project folder)")
        elif resolved.name.endswith(DOCKER_SOCKETS) or (resolved.exists() and resolved.is_socket()):
            self.add(name, node, "no-docker-socket", f"{where} mounts the socket `{source}`")

    # top-level volumes / networks / secrets / configs -----------------------------------------
    def check_top_level(self, name: str, base: Path, section: str, key: Node, value: Node) -> None:
        label = f"{section[:-1]} `{key.value}`"
        external = _get(value, "external")
        if external and (_truthy(external[1]) or isinstance(external[1], MappingNode)):
            self.add(name, external[0], "no-external", f"{label} is `external`")
        if section == "volumes":
            options = _get(value, "driver_opts")
            if options:
                opts = {k.value: (_scalar(v) or "") for k, v in _pairs(options[1])}
                if "bind" in re.split(r"[,\s]+", opts.get("o", "")) or opts.get("device", "").startswith(("/", ".", "~")) \
                        or opts.get("type", "") == "none":
                    self.add(name, options[0], "no-volume-bind",
                             f"{label} binds a host path with `driver_opts` ({opts.get('device') or opts.get('o')})")
        elif section == "networks":
            driver = _get(value, "driver")
            if driver and (_scalar(driver[1]) or "").strip().lower() in ("host", "macvlan", "ipvlan"):
                self.add(name, driver[0], "no-host-network", f"{label} uses the `{_scalar(driver[1])}` driver")
        else:  # secrets, configs
            file_entry = _get(value, "file")
            if file_entry:
                self.check_file_reference(name, base, file_entry[1], f"{section}.{key.value}.file")


def _split_short_volume(spec: str) -> tuple[str | None, str]:
    """`SRC:DST[:MODE]` → (SRC, DST); `DST` alone → (None, DST). Windows `C:\\x:/y` kept whole."""
    spec = spec.strip()
    match = re.match(r"^([A-Za-z]:[\\/][^:]*):(.*)$", spec)
    if match:
        return match.group(1), match.group(2).split(":", 1)[0]
    parts = spec.split(":")
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


def _is_named_volume(source: str) -> bool:
    """Docker's rule: a source that is not a path (no `/`, `.`, `~`, `$`, drive letter) names a volume."""
    return bool(re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", source)) and not source.startswith(".")


COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def find_compose_file(folder: Path) -> Path | None:
    """The project's compose file, by the names `docker compose` looks for, in its order."""
    for name in COMPOSE_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def load_nodes(path: Path, name: str | None = None) -> Node | None:
    """The YAML node tree of a compose file; ComposeError (file:line) when it is not YAML."""
    try:
        text = bounded.read_head(path, yamlguard.MAX_BYTES + 1).decode("utf-8", "replace")
    except OSError as exc:
        raise ComposeError(["policy"], 1, "", message=f"cannot read {name or path}: {exc.strerror}") from None
    try:  # bounded (size, nesting, alias expansion) before anything walks it
        return yamlguard.check_text(text, name or Path(path).name)
    except yamlguard.YamlTooCostly as exc:
        raise ComposeError(["policy"], 1, "", message=f"{exc}; the file is refused") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name or Path(path).name}:{mark.line + 1}" if mark is not None else (name or Path(path).name)
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ComposeError(["policy"], 1, str(exc), message=f"{where}: YAML error: {problem}") from None
    except RecursionError:
        raise ComposeError(["policy"], 1, "", message=f"{name or path}: YAML nests too deeply") from None


def check_compose(path, root=None) -> list[PolicyViolation]:
    """Every policy violation in a compose file (and the files it includes from the project), in
    file and line order. `root` is the submission folder (default: the compose file's folder).
    Raises ComposeError (with file:line) when the file is not YAML."""
    path = Path(path)
    checker = _Checker(Path(root) if root is not None else path.parent)
    checker.check_file(path)
    main = checker.found[0].file if checker.found else ""
    found = sorted(checker.found, key=lambda v: (v.file != main, v.file, v.line))
    violations = []
    for v in found:
        violation = PolicyViolation(v.file, v.line, v.rule, v.message)
        violation.detail = v.message  # the message without "file:line:" and "[rule]"
        violations.append(violation)
    return violations


def enforce(path, root=None) -> None:
    """Raise the first violation (its message counts the others, `.violations` holds all); None when clean."""
    violations = check_compose(path, root)
    if not violations:
        return
    first = violations[0]
    message = first.detail
    if len(violations) > 1:
        others = ", ".join(f"{v.rule} at line {v.line}" for v in violations[1:4])
        more = f" and {len(violations) - 4} more" if len(violations) > 4 else ""
        message += f" (also: {others}{more})"
    error = PolicyViolation(first.file, first.line, first.rule, message)
    error.violations = violations
    raise error


# ---- `docker compose config`'s errors, with file:line (the call itself is sandbox.compose.validate) ----------
def explain_config_error(stderr: str, path) -> str:
    """Compose's stderr → "compose.yaml:4: …". YAML errors are located by PyYAML (compose's own line
    numbers are often off); schema errors (`services.api.ports must be a list`) by walking the node tree."""
    path = Path(path)
    lines = [line.strip() for line in (stderr or "").strip().splitlines() if line.strip()]
    text = " ".join(lines) or "invalid compose file"
    text = re.sub(r"^(parsing|validating|loading)\s+\S+?:\s+", "", text)
    text = text.replace(str(path), path.name)
    if "yaml:" in text:
        try:
            load_nodes(path)
        except ComposeError as yaml_error:
            return yaml_error.message
        match = re.search(r"line (\d+)", text)
        line = f":{match.group(1)}" if match else ""
        problem = re.sub(r"^yaml:\s*(line \d+:\s*)?", "", text)
        return f"{path.name}{line}: the compose file is not valid YAML: {problem}"[:400]
    line = _line_of_dotted_path(path, text)
    return f"{path.name}{':' + str(line) if line else ''}: the compose file is not valid: {text}"[:400]


def _line_of_dotted_path(path: Path, text: str) -> int | None:
    """The line of `services.api.ports` (or of the deepest part of it that exists) in the file."""
    match = re.search(r"\b((?:services|volumes|networks|secrets|configs)(?:\.[\w.-]+)?)", text)
    quoted = re.search(r"[Aa]dditional propert(?:y|ies) '?([\w-]+)'?", text)
    if not match:
        return None
    try:
        node = load_nodes(path)
    except ComposeError:
        return None
    parts = match.group(1).split(".")
    if quoted:
        parts.append(quoted.group(1))
    line = None
    for part in parts:
        if isinstance(node, SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = _line(node)
            continue
        entry = _get(node, part)
        if entry is None:
            break
        line = _line(entry[0])
        node = entry[1]
    return line
