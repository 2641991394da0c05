"""What the test tiers share: the repository's folders, the engine fixtures of the engine tiers, and the helpers
that count what a grading left behind.

The fixtures here are imported by `tests/engine/conftest.py`, `tests/course/conftest.py` and
`tests/hostile/conftest.py` only: `tests/unit` never asks for an engine.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import pytest

from dockyard import engine
from dockyard.course import exercises
from dockyard.engine import gc, runs
from dockyard.engine.labels import EXERCISE_LABEL, OWNER_LABEL, RUN_LABEL, owner_is_dead

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
FIXTURES = TESTS / "fixtures"
STATIC_FIXTURES = FIXTURES / "static"
SUBMISSIONS = FIXTURES / "submissions"

# The fixture submissions build FROM this small image: the Debian stand-in (which has perl) under a
# name of its own, so the tests never depend on what a grader may do to the course's base images.
TEST_BASE = "gradertest-base:perl"
TEST_BASE_DOCKERFILE = b"FROM debian:bookworm-slim\nLABEL dockyard.testbase=1\n"


# --- fixtures of the engine tiers ------------------------------------------------------------------


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
    """Gradings keep the learner's build steps as cache; the suite removes the cache it added. Under pytest-xdist
    a worker that finishes first must not prune what another still builds on: the controller prunes once, at
    the end (tests/conftest.py)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    before = gc.build_cache()
    yield
    gc.prune_build_cache(keep=before)


@pytest.fixture()
def no_leaks(docker_client):
    """Asserts the test left no labelled container, network, volume or image behind (counting only what
    dead processes or this one made: gradings other people run on the same engine are not this test's)."""
    before = gc.leftovers(orphaned_only=True)
    yield
    after = gc.leftovers(orphaned_only=True)
    grown = {kind: after[kind] - before[kind] for kind in after if after[kind] > before[kind]}
    assert not grown, f"labelled resources left behind: {grown}"


# --- helpers ---------------------------------------------------------------------------------------


def orphans(*filters: dict) -> list[str]:
    """Labelled containers, networks and volumes matching any of `filters` whose maker is dead: what a grading
    (by nbgrader, by a notebook kernel) left behind. Gradings other people run at the same time have live makers
    and are not counted; images are left out: the grader keeps build steps as cache by design. Teardowns under
    way (their makers ended, their detached copies still removing) are waited for first."""
    runs.wait_for_teardowns()
    client = engine.client()
    found = []
    for flt in filters:
        for kind, listing in (("container", lambda: client.containers.list(all=True, filters=flt)),
                              ("network", lambda: client.networks.list(filters=flt)),
                              ("volume", lambda: client.volumes.list(filters=flt)),
                              ):
            for resource in listing():
                labels = (resource.attrs.get("Labels") if kind in ("network", "volume") else resource.labels) or {}
                if RUN_LABEL in labels and owner_is_dead(labels.get(OWNER_LABEL)):
                    found.append(f"{kind} {getattr(resource, 'name', None) or resource.short_id}")
    return found


def one_exercise_course(root: Path, exercise_id: str, title: str, rubric: str, monkeypatch) -> Path:
    """A course of one exercise whose grader is `rubric` (the text of a test_rubric.py), made the course
    gradings load (DOCKYARD_COURSE) for the rest of the test."""
    (root / "exercises" / exercise_id).mkdir(parents=True)
    (root / "exercises" / exercise_id / "exercise.toml").write_text(f'id = "{exercise_id}"\ntitle = "{title}"\n')
    (root / "graders" / exercise_id).mkdir(parents=True)
    (root / "graders" / exercise_id / "test_rubric.py").write_text(rubric)
    monkeypatch.setenv("DOCKYARD_COURSE", str(root))
    return root


def exercise_filter(exercise_id: str) -> dict:
    return {"label": f"{EXERCISE_LABEL}={exercise_id}"}


def run_filter(run_id: str) -> dict:
    return {"label": f"{RUN_LABEL}={run_id}"}


def engine_responds_quickly(limit_s: float = 5.0) -> bool:
    started = time.monotonic()
    subprocess.run(["docker", "ps", "-q"], capture_output=True, timeout=60)
    return time.monotonic() - started < limit_s


def materialize(exercise_id: str, overlay: Path | None, destination: Path) -> Path:
    """The exercise's reference solution copied to `destination`, with `overlay`'s files on top."""
    exercise = exercises.load(exercise_id, ROOT)
    return exercises.materialize(exercise, exercise.solution, destination, *([overlay] if overlay else []))
