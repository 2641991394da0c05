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
    """Install the rules when we may (root, local engine); True when they are in place."""
    iptables = _iptables()
    if not iptables:
        return False
    for chain, rule in RULES:
        if not _has(iptables, chain, rule):
            if subprocess.run([iptables, "-I", chain, "1", *rule], capture_output=True).returncode != 0:
                return False
    return True
