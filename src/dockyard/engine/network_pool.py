"""A small pool of ready grading networks, so a grading neither makes nor removes its bridge while the learner waits.

Making a bridge network costs ~0.1 s and removing it ~0.2 s on this engine, every grading. Instead a grading
leases one of a few long-lived `dy…` bridges (their egress refused by firewall.RULES, as every grading bridge's),
uses it alone, and hands it back once its containers are gone:
- one grading at a time: a lease is an exclusive `flock` on the slot's lock file, held by the grading's process
  for its whole life, so a killed grading's slot comes free by itself (the kernel drops the lock);
- checked empty before reuse: a slot whose network still has a container attached (a dead run's, not yet swept)
  is passed over; `dockyard clean` sweeps that container by its run label as always, and the slot is good again;
- none free (more gradings at once than slots, or `DOCKYARD_NETWORK_POOL=0`): the grading makes a network of its
  own, as it did before, removed by its sweep.
The pool's networks carry `dockyard.pool=<slot>` and no run label (no run owns them); `dockyard clean --all`
removes those no grading holds. Lock files and names are per host and per engine: two machines sharing a remote
engine, or two engines on one machine, never lease each other's.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.engine.firewall import BRIDGE_PREFIX

POOL_LABEL = "dockyard.pool"
HOST_LABEL = "dockyard.pool.host"
MAX_SLOTS = 8


def slots() -> int:
    """How many pooled networks this host keeps per engine (`DOCKYARD_NETWORK_POOL`, default 4; 0 turns it off)."""
    text = os.environ.get("DOCKYARD_NETWORK_POOL", "").strip()
    return max(0, min(MAX_SLOTS, int(text))) if text.isdigit() else 4


def engine_key(engine_url: str | None) -> str:
    """This host and engine, in 8 hex digits: part of every pooled network's name, bridge and lock file."""
    engine = engine_url or os.environ.get("DOCKER_HOST") or "default"
    return hashlib.sha256(f"{socket.gethostname()}|{engine}".encode()).hexdigest()[:8]


def _lock_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / f"dockyard-network-pool-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@dataclass
class Lease:
    """One pooled network, held by this process until `release()` (or its death)."""

    name: str
    _fd: int

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the file drops the flock
            self._fd = -1


def names(engine_url: str | None, slot: int) -> tuple[str, str]:
    """(network name, bridge name) of a slot; the bridge fits Linux's 15 characters and starts with `dy`."""
    key = engine_key(engine_url)
    return f"dockyard-pool-{key}-{slot}", f"{BRIDGE_PREFIX}p{slot}{key}"


def acquire(client, engine_url: str | None) -> Lease | None:
    """Lease a free, empty pooled network (made on first use); None when every slot is taken or unusable."""
    import docker.errors

    for slot in range(slots()):
        fd = _try_lock(engine_url, slot)
        if fd is None:
            continue
        name, bridge = names(engine_url, slot)
        try:
            try:
                attrs = client.api.inspect_network(name)
            except docker.errors.NotFound:
                client.api.create_network(name, driver="bridge", check_duplicate=True,
                                          labels={POOL_LABEL: str(slot), HOST_LABEL: socket.gethostname()},
                                          options={"com.docker.network.bridge.name": bridge})
                return Lease(name, fd)
            if _ours(attrs, bridge) and not attrs.get("Containers"):
                return Lease(name, fd)
        except docker.errors.APIError:
            pass  # this slot cannot be had now (made meanwhile elsewhere, the bridge name taken): the next one
        os.close(fd)
    return None


def _try_lock(engine_url: str | None, slot: int) -> int | None:
    path = _lock_dir() / f"{engine_key(engine_url)}-{slot}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        os.close(fd)
        return None


def _ours(attrs: dict, bridge: str) -> bool:
    return (POOL_LABEL in (attrs.get("Labels") or {}) and attrs.get("Driver") == "bridge"
            and (attrs.get("Options") or {}).get("com.docker.network.bridge.name") == bridge)


def remove_idle(client, engine_url: str | None) -> int:
    """Remove this host's pooled networks of this engine that no grading holds and nothing is attached to
    (`dockyard clean --all`); how many were removed."""
    import docker.errors

    removed = 0
    for slot in range(MAX_SLOTS):
        fd = _try_lock(engine_url, slot)
        if fd is None:
            continue  # leased: in use
        try:
            name, bridge = names(engine_url, slot)
            try:
                attrs = client.api.inspect_network(name)
            except docker.errors.NotFound:
                continue
            if _ours(attrs, bridge) and not attrs.get("Containers"):
                try:
                    client.api.remove_network(name)
                    removed += 1
                except docker.errors.APIError:
                    pass  # still held by the engine for a moment: the next clean
        finally:
            os.close(fd)
    return removed
