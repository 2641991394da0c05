"""Egress rules for grading networks: graded containers talk to their own network only.

Docker's `internal` networks would do this, but they cannot publish ports, and the
grader reaches apps through ports published on 127.0.0.1. So grading networks are
ordinary bridges whose interface names start with `dy`, and two host rules (one
wildcard each, installed once) refuse everything they send beyond their own bridge:
no route out to the internet, nothing new towards the host. Replies to the host's
own connections (the published ports) still pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from dockyard import engine

BRIDGE_PREFIX = "dy"
RULES = (
    ("DOCKER-USER", ["-i", BRIDGE_PREFIX + "+", "!", "-o", BRIDGE_PREFIX + "+",
                     "-j", "REJECT", "--reject-with", "icmp-net-unreachable"]),
    ("INPUT", ["-i", BRIDGE_PREFIX + "+", "-m", "conntrack", "--ctstate", "NEW",
               "-j", "REJECT", "--reject-with", "icmp-port-unreachable"]),
)


def _iptables() -> str | None:
    if os.geteuid() != 0:
        return None
    return shutil.which("iptables") or (os.path.exists("/usr/sbin/iptables") and "/usr/sbin/iptables") or None


def _has(iptables: str, chain: str, rule: list[str]) -> bool:
    return subprocess.run([iptables, "-C", chain, *rule], capture_output=True).returncode == 0


def active() -> bool:
    iptables = _iptables()
    return bool(iptables) and all(_has(iptables, chain, rule) for chain, rule in RULES)


def ensure() -> bool:
    """Install the rules when we may (root, local engine); True when they are in place (found in place, they are
    not asked again for VERIFIED_FOR_S: every grading network's creation asks)."""
    return _ensure("grading", RULES)


# ---- build networks ---------------------------------------------------------------------------
# RUN steps of a graded build run on the engine's shared build bridge (engine/build_network.py), named
# `bld…` (outside `dy`, so the grading bridges' wildcard refusal of all egress never applies to it).
# A build needs the internet (pip, apt, through the host's usual route) and nothing of the host:
# new connections to the host itself (its every address, the bridge's gateway included), to the other
# bridges (docker0, `dy…` grading bridges, other build bridges, user networks `br-…`) and to link-local
# 169.254.0.0/16 (a cloud's metadata service) are refused. The engine's embedded DNS forwards queries
# from the step's own network namespace, so name resolution goes the internet's way too.
BUILD_BRIDGE_PREFIX = "bld"
_BUILD_IN = ["-i", BUILD_BRIDGE_PREFIX + "+"]
_NET_UNREACHABLE = ["-j", "REJECT", "--reject-with", "icmp-net-unreachable"]
BUILD_RULES = (
    ("INPUT", [*_BUILD_IN, "-m", "conntrack", "--ctstate", "NEW",
               "-j", "REJECT", "--reject-with", "icmp-port-unreachable"]),
    ("DOCKER-USER", [*_BUILD_IN, "-d", "169.254.0.0/16", *_NET_UNREACHABLE]),
    ("DOCKER-USER", [*_BUILD_IN, "-o", "docker0", *_NET_UNREACHABLE]),
    ("DOCKER-USER", [*_BUILD_IN, "-o", BRIDGE_PREFIX + "+", *_NET_UNREACHABLE]),
    ("DOCKER-USER", [*_BUILD_IN, "-o", BUILD_BRIDGE_PREFIX + "+", *_NET_UNREACHABLE]),
    ("DOCKER-USER", [*_BUILD_IN, "-o", "br-+", *_NET_UNREACHABLE]),
)


VERIFIED_FOR_S = 30.0  # a grading checks the rules once (its forked child inherits the check), not per build
_verified_until: dict[str, float] = {}  # rule set ("build", "buildkit") -> checked in place until


def _iptables_run(argv: list[str]) -> int:
    """iptables' exit code; its start is retried (exec of a child can fail transiently under load)."""
    import time

    for attempt in range(3):
        try:
            return subprocess.run(argv, capture_output=True, timeout=30).returncode
        except (OSError, subprocess.TimeoutExpired):
            if attempt == 2:
                raise
            time.sleep(0.1 * (attempt + 1))
    return 1


def _rules_active(rules) -> bool:
    iptables = _iptables()
    return bool(iptables) and all(_iptables_run([iptables, "-C", chain, *rule]) == 0 for chain, rule in rules)


def _ensure(name: str, rules) -> bool:
    """Install `rules` when we may (idempotent), each first in its chain; True when all are in place. A set found
    in place is not asked again for VERIFIED_FOR_S (iptables is slow, and a grading asks before every build)."""
    import time

    if time.monotonic() < _verified_until.get(name, 0.0):
        return True
    iptables = _iptables()
    if not iptables:
        return False
    for chain, rule in reversed(rules):  # each goes first in its chain: keep the listed order
        if _iptables_run([iptables, "-C", chain, *rule]) != 0:
            if _iptables_run([iptables, "-I", chain, "1", *rule]) != 0:
                return False
    if not _rules_active(rules):
        return False
    _verified_until[name] = time.monotonic() + VERIFIED_FOR_S
    return True


def checks_made() -> dict:
    """What this process has found out (rule sets verified until when, which engines are rootless), for a grading
    child forked from the forkserver, which does not inherit it: asking iptables and `docker info` again cost
    ~0.3 s of every batch grading. The monotonic clock is the system's, so a deadline means the same there."""
    return {"verified_until": dict(_verified_until), "rootless": dict(_ROOTLESS)}


def adopt_checks(checks: dict) -> None:
    _verified_until.update(checks.get("verified_until") or {})
    _ROOTLESS.update(checks.get("rootless") or {})


def build_rules_active() -> bool:
    return _rules_active(BUILD_RULES)


def ensure_build() -> bool:
    """Install the build-network rules when we may (idempotent); True when all are in place."""
    return _ensure("build", BUILD_RULES)


def engine_is_local(engine_url: str | None) -> bool:
    """The engine runs on this machine (its iptables are ours): a unix socket, or tcp to loopback."""
    url = engine.engine_url(engine_url)
    if url.startswith(("unix://", "npipe://")) or url.startswith("/"):
        return True
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def build_isolation(engine_url: str | None = None, install: bool = True) -> tuple[bool, str]:
    """(isolated, why): whether graded builds run on a network that cannot reach this host's services."""
    if not engine_is_local(engine_url):
        return False, f"the engine at {engine.engine_url(engine_url)} is not on this machine, so its build network cannot be firewalled from here"
    if os.geteuid() != 0:
        return False, "not running as root, so the build network's iptables rules cannot be installed"
    if _iptables() is None:
        return False, "iptables is not installed, so the build network's rules cannot be installed"
    if _rootless(engine_url):
        return False, "the engine is rootless: its networks live in a namespace this host's iptables do not see"
    try:
        in_place = ensure_build() if install else build_rules_active()
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"iptables could not be run ({exc}), so the build network's rules cannot be checked"
    if not in_place:
        return False, "the build network's iptables rules are not in place (iptables refused them)"
    return True, ("RUN steps run on a build network that reaches the internet but not this host, "
                  "its other bridges or 169.254.0.0/16")


_ROOTLESS: dict[str, bool] = {}  # engine URL -> it runs rootless (asked once: `docker info` is slow)


def _rootless(engine_url: str | None) -> bool:
    url = engine.engine_url(engine_url)
    if url not in _ROOTLESS:
        try:
            security = " ".join(engine.client(engine_url).info().get("SecurityOptions") or [])
        except Exception:
            return False
        _ROOTLESS[url] = "rootless" in security
    return _ROOTLESS[url]


# ---- BuildKit's steps on docker0 --------------------------------------------------------------------
# Engine 20.10's built-in BuildKit runs RUN steps on the default bridge (docker0) whatever network the build
# asks for. While the grader builds with BuildKit, docker0 gets the build bridge's rules: the internet yes;
# the host itself, the other bridges, another container on docker0 (another build) and 169.254.0.0/16 no.
# They are installed once, on the first BuildKit build (never for a run that only uses the classic builder),
# and stay, like the others: a container on docker0 is then as contained as a build step.
DEFAULT_BRIDGE = "docker0"
_DOCKER0_IN = ["-i", DEFAULT_BRIDGE]
BUILDKIT_RULES = (
    ("INPUT", [*_DOCKER0_IN, "-m", "conntrack", "--ctstate", "NEW",
               "-j", "REJECT", "--reject-with", "icmp-port-unreachable"]),
    ("DOCKER-USER", [*_DOCKER0_IN, "-d", "169.254.0.0/16", *_NET_UNREACHABLE]),
    ("DOCKER-USER", [*_DOCKER0_IN, "-o", DEFAULT_BRIDGE, *_NET_UNREACHABLE]),
    ("DOCKER-USER", [*_DOCKER0_IN, "-o", BRIDGE_PREFIX + "+", *_NET_UNREACHABLE]),
    ("DOCKER-USER", [*_DOCKER0_IN, "-o", BUILD_BRIDGE_PREFIX + "+", *_NET_UNREACHABLE]),
    ("DOCKER-USER", [*_DOCKER0_IN, "-o", "br-+", *_NET_UNREACHABLE]),
)


def buildkit_rules_active() -> bool:
    return _rules_active(BUILDKIT_RULES)


def ensure_buildkit() -> bool:
    """Install docker0's rules for BuildKit's steps when we may (idempotent); True when all are in place."""
    return _ensure("buildkit", BUILDKIT_RULES)


def buildkit_isolation(engine_url: str | None = None, install: bool = True) -> tuple[bool, str]:
    """(isolated, why) for BuildKit's RUN steps, which run on docker0 (see BUILDKIT_RULES)."""
    isolated, why = build_isolation(engine_url, install=install)
    if not isolated:
        return False, why.replace("the build network's", "docker0's")
    try:
        in_place = ensure_buildkit() if install else buildkit_rules_active()
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"iptables could not be run ({exc}), so docker0's rules for BuildKit cannot be checked"
    if not in_place:
        return False, "docker0's iptables rules for BuildKit's RUN steps are not in place (iptables refused them)"
    return True, ("BuildKit's RUN steps run on docker0, which reaches the internet but not this host, "
                  "another container on docker0, the other bridges or 169.254.0.0/16")
