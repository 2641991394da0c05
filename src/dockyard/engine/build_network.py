"""The build network: one shared, long-lived bridge per engine that the classic builder's RUN steps run on.

Its bridge's name starts with `bld`, so firewall.BUILD_RULES hold for it: a RUN step reaches the internet
(pip, apt) but not this host, the other bridges or link-local addresses. Its inter-container traffic is off
(`enable_icc=false`, and BUILD_RULES refuse `bld…` to `bld…` too), so two gradings' RUN steps on it at once
cannot reach each other: one bridge serves every grading, made once, never in a grading's critical path
(a bridge of each grading's own cost ~0.07 s to make and ~0.2 s to remove, on every Check), and it holds
one of the engine's few address pools for good rather than one per grading in flight.

It carries `dockyard.shared=build` (no run label: no run owns it, so no sweep of a run removes it);
`dockyard clean --all` removes it when nothing is attached, and the next build makes it again.
"""

from __future__ import annotations

import threading

from dockyard.engine.firewall import BUILD_BRIDGE_PREFIX
from dockyard.engine.network_pool import engine_key
from dockyard.errors import DockyardError

NAME = "dockyard-build"
SHARED_LABEL = "dockyard.shared"
LABELS = {SHARED_LABEL: "build"}
ICC_OFF = {"com.docker.network.bridge.enable_icc": "false"}
_lock = threading.Lock()


def bridge(engine_url: str | None) -> str:
    """Its interface name: `bld` first (firewall.BUILD_BRIDGE_PREFIX), at most 15 characters, and one of its own
    per engine and host (two engines on one machine share the host's interface names)."""
    return BUILD_BRIDGE_PREFIX + engine_key(engine_url)


def ensure(client, engine_url: str | None = None) -> str:
    """The shared build network's name, made first if the engine has none (two gradings making it at once: one
    wins, the other finds it). One inspect when it exists."""
    import docker.errors

    api = client.api
    with _lock:
        try:
            if _usable(api.inspect_network(NAME)):
                return NAME
            raise DockerNetworkMismatch(NAME)
        except docker.errors.NotFound:
            pass
        try:
            api.create_network(NAME, driver="bridge", labels=LABELS, check_duplicate=True,
                               options={"com.docker.network.bridge.name": bridge(engine_url), **ICC_OFF})
        except docker.errors.APIError as failed:
            # made meanwhile by another grading: the engine says so with 409 (the name) or 403 (the bridge's name)
            try:
                attrs = api.inspect_network(NAME)
            except docker.errors.NotFound:
                raise failed from None  # not made at all: the engine's own reason
            if not _usable(attrs):
                raise DockerNetworkMismatch(NAME) from None
        return NAME


def _usable(attrs: dict) -> bool:
    """Ours, on a `bld…` bridge with icc off: a network of that name made by someone else is never built on."""
    options = attrs.get("Options") or {}
    return ((attrs.get("Labels") or {}).get(SHARED_LABEL) == "build" and attrs.get("Driver") == "bridge"
            and str(options.get("com.docker.network.bridge.name", "")).startswith(BUILD_BRIDGE_PREFIX)
            and all(options.get(key) == value for key, value in ICC_OFF.items()))


class DockerNetworkMismatch(DockyardError):
    def __init__(self, name: str):
        super().__init__(f"a Docker network named {name!r} exists but is not Dockyard's build network",
                         hint=f"remove it: docker network rm {name}")


def remove_if_idle(client) -> bool:
    """Remove the shared build network when no container is attached (`dockyard clean --all`); True if removed."""
    import docker.errors

    try:
        attrs = client.api.inspect_network(NAME)
    except docker.errors.NotFound:
        return False
    if not _usable(attrs) or attrs.get("Containers"):
        return False
    try:
        client.api.remove_network(NAME)
        return True
    except docker.errors.APIError:
        return False  # a build attached meanwhile: the next clean
