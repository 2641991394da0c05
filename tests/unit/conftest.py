"""The unit tier: no Docker engine at all. Every test here runs with DOCKER_HOST pointing at a socket that does
not exist, so a test that reaches for the engine fails here instead of quietly depending on one."""

import pytest

NO_ENGINE = "unix:///nonexistent/dockyard-unit-tests.sock"


@pytest.fixture(autouse=True)
def no_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
