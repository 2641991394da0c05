"""Say, in a learner's terms, why a container never answered: killed for memory, disk or time,
crashed, listening on the wrong port or only on 127.0.0.1, stuck at the process limit, or
trying to reach a network graded containers do not have. Only called on the failure path.
"""

from __future__ import annotations

NETWORK_MARKERS = ("Network is unreachable", "Temporary failure in name resolution", "Name or service not known",
                   "No route to host", "[Errno 101]", "[Errno -3]", "[Errno -2]", "getaddrinfo failed")
NETWORK_HINT = ("it tried to reach the network: graded containers have no route beyond their own network, "
                "so the app must not download anything when it starts (do it in the Dockerfile instead)")


def network_hint(logs: str) -> str | None:
    return NETWORK_HINT if any(marker in (logs or "") for marker in NETWORK_MARKERS) else None


def why_stopped(sandbox, container, logs: str) -> str | None:
    """A cause more precise than the exit code, when there is one."""
    disk = sandbox.disk_verdict(container)
    if disk:
        return disk
    state = container.attrs.get("State") or {}
    if state.get("OOMKilled"):
        return f"it ran out of memory: the sandbox allows {sandbox.limits.memory}B and the kernel killed it"
    return network_hint(logs)


def why_no_answer(sandbox, container, port: int, logs: str) -> str:
    """What the container was doing instead of answering on `port`."""
    disk = sandbox.disk_verdict(container)
    if disk:
        return disk
    hints = []
    try:
        listening = sandbox.listening(container)
    except Exception:
        listening = None
    if listening is not None:
        on_port = [address for address, number in listening if number == port]
        if not listening:
            hints.append("the app listens on no port at all")
        elif on_port and all(address in ("127.0.0.1", "::1") for address in on_port):
            hints.append(f"the app listens on {on_port[0]}:{port} only, which cannot be reached from outside "
                         f"the container: listen on 0.0.0.0:{port}")
        elif not on_port:
            seen = ", ".join(f"{address}:{number}" for address, number in listening[:5])
            hints.append(f"the app listens on {seen}, not on port {port}")
    pids = _pids(container)
    if pids is not None and pids >= sandbox.limits.pids - 2:
        hints.append(f"it is stuck at the process limit ({pids} of {sandbox.limits.pids} processes: a fork bomb?)")
    network = network_hint(logs)
    if network:
        hints.append(network)
    return "; ".join(hints)


def listens_elsewhere(listening: list[tuple[str, int]] | None, port: int) -> bool:
    """The app listens, but not where it can be reached on `port`: on other ports only, or on `port` on loopback
    only. Unknown (None) or nothing yet (an app still starting) is not that."""
    if not listening:
        return False
    on_port = [address for address, number in listening if number == port]
    return not on_port or all(address in ("127.0.0.1", "::1") for address in on_port)


def _pids(container) -> int | None:
    try:
        # one-shot: the engine answers at once, instead of waiting ~1 s for a second sample we do not need
        return int(container.stats(stream=False, one_shot=True).get("pids_stats", {}).get("current"))
    except Exception:
        return None
