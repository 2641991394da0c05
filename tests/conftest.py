"""Shared fixtures for the course's own tests: the engine, the test base image, and leak checks."""

from __future__ import annotations

import io
import os

import pytest

from dockyard import engine, sandbox

# The fixture submissions build FROM this small image: the Debian stand-in (which has perl) under a
# name of its own, so the tests never depend on what a grader may do to the course's base images.
TEST_BASE = "gradertest-base:perl"
TEST_BASE_DOCKERFILE = b"FROM debian:bookworm-slim\nLABEL dockyard.testbase=1\n"


@pytest.fixture(scope="session")
def docker_client():
    return engine.client()


@pytest.fixture(scope="session", autouse=True)
def test_base_image(docker_client):
    """Build the fixtures' base image when it is missing (`make test` has built the stand-ins first)."""
    try:
        docker_client.images.get(TEST_BASE)
    except Exception:
        docker_client.images.build(fileobj=io.BytesIO(TEST_BASE_DOCKERFILE), tag=TEST_BASE, rm=True)
    return TEST_BASE


@pytest.fixture(scope="session", autouse=True)
def no_build_cache_left(docker_client):
    """Gradings keep the learner's build steps as cache; the suite removes the cache it added."""
    before = sandbox.dangling_images()
    yield
    sandbox.prune_build_cache(keep=before)


@pytest.fixture()
def no_leaks(docker_client):
    """Asserts the test left no labelled container, network, volume or image behind (counting only what
    dead processes or this one made: gradings other people run on the same engine are not this test's)."""
    before = sandbox.leftovers(orphaned_only=True)
    yield
    after = sandbox.leftovers(orphaned_only=True)
    grown = {kind: after[kind] - before[kind] for kind in after if after[kind] > before[kind]}
    assert not grown, f"labelled resources left behind: {grown}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under `make test` (DOCKYARD_NO_SKIPS=1) a skipped test is a failure: everything the suite needs
    is installed by the project itself, so a skip there would only hide a missing install step."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("DOCKYARD_NO_SKIPS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under make test, where nothing may be missing: {reason}"
