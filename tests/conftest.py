"""Shared fixtures for the course's own tests: the engine, and a leak check around each test module."""

from __future__ import annotations

import pytest

from dockyard import engine, sandbox


@pytest.fixture(scope="session")
def docker_client():
    return engine.client()


@pytest.fixture()
def no_leaks(docker_client):
    """Asserts the test left no labelled container, network, volume or image behind."""
    before = sandbox.leftovers()
    yield
    after = sandbox.leftovers()
    grown = {kind: after[kind] - before[kind] for kind in after if after[kind] > before[kind]}
    assert not grown, f"labelled resources left behind: {grown}"
