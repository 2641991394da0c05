"""A grading child forked from the forkserver inherits none of the caller's memory: what the caller already found out
(the firewall's rules in place, the engine rootless or not, its data root) is handed down in the Job, so the
child does not ask iptables and `docker info` again, and asks again once the check's time is up."""

from __future__ import annotations

import time

import pytest

from dockyard import engine
from dockyard.engine import firewall


@pytest.fixture
def fresh(monkeypatch):
    """A process that has checked nothing yet, whose iptables runs are counted."""
    monkeypatch.setattr(firewall, "_verified_until", {})
    monkeypatch.setattr(firewall, "_ROOTLESS", {})
    monkeypatch.setattr(engine, "_DATA_ROOTS", {})
    monkeypatch.setattr(firewall, "_iptables", lambda: "/usr/sbin/iptables")
    runs = []
    monkeypatch.setattr(firewall, "_iptables_run", lambda argv: runs.append(argv) or 0)
    return runs


def test_a_check_handed_down_is_not_made_again_until_its_time_is_up(fresh):
    handed = {"verified_until": {"build": time.monotonic() + 30, "grading": time.monotonic() + 30},
              "rootless": {"unix:///var/run/docker.sock": False}}
    firewall.adopt_checks(handed)
    assert firewall.ensure_build() and firewall.ensure() and fresh == []
    firewall.adopt_checks({"verified_until": {"build": time.monotonic() - 1}})
    assert firewall.ensure_build() and fresh, "an expired check is made again"


def test_what_a_caller_found_out_round_trips(fresh):
    assert firewall.ensure() and fresh  # checked here: 2 rules asked, then verified
    made = firewall.checks_made()
    assert made["verified_until"]["grading"] > time.monotonic()
    engine.adopt_data_roots({"http+docker://localhost /run/docker.sock": "/srv/docker"})
    assert engine.known_data_roots() == {"http+docker://localhost /run/docker.sock": "/srv/docker"}
