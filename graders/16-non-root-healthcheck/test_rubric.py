"""Rubric for exercise 16-non-root-healthcheck: a dedicated user, USER, and a HEALTHCHECK on /health."""

import pytest

from dockyard.rubric.health import assert_check_detects_failure

pytestmark = pytest.mark.lesson("11-production.ipynb#exercise")

ROOT_NAMES = {"", "root", "0"}


def _user_part(user: str | None) -> str:
    return (user or "").split(":", 1)[0].strip()


@pytest.mark.points(2)
@pytest.mark.lesson("11-production.ipynb#hardening")
def test_user_not_root(dockyard_image, dockyard_probe):
    """The image's user is set, and is not root"""
    user = dockyard_probe.image_config(dockyard_image).user
    name = _user_part(user)
    assert name not in ROOT_NAMES, (
        f"expected the image to switch to an unprivileged user, found User={user or '(not set: root)'}. "
        "Create a user (e.g. `RUN useradd --create-home --uid 1000 appuser`) and add `USER appuser` before CMD."
    )


@pytest.mark.points(2)
@pytest.mark.lesson("11-production.ipynb#hardening")
def test_process_not_root(dockyard_container, dockyard_probe):
    """The app's process runs with a non-zero uid"""
    # Wait for the app first, so that we look at the process that serves it.
    dockyard_probe.http(dockyard_container, "/", port=8000)
    processes = dockyard_probe.processes(dockyard_container)
    assert processes, "expected the app's process in the running container, found none: did it exit? " \
        f"Its logs: {dockyard_probe.logs(dockyard_container)[-300:]}"
    as_root = [p for p in processes if p.uid == 0]
    assert not as_root, (
        "expected every process of the app to run with a non-zero uid, found running as root (uid 0): "
        + "; ".join(f"pid {p.pid} `{p.command[:80]}`" for p in as_root[:3])
        + ". Add `USER <your user>` to the Dockerfile (after the steps that need root) so the app does not run as root."
    )


@pytest.mark.points(2)
@pytest.mark.lesson("11-production.ipynb#health-checks")
def test_healthcheck_defined(dockyard_image, dockyard_probe):
    """A HEALTHCHECK is defined"""
    healthcheck = dockyard_probe.image_config(dockyard_image).healthcheck
    test = (healthcheck or {}).get("Test") if isinstance(healthcheck, dict) else getattr(healthcheck, "test", healthcheck)
    assert test and list(test)[:1] != ["NONE"], (
        "expected a HEALTHCHECK instruction in the Dockerfile, found none. Add e.g. "
        "`HEALTHCHECK --interval=5s CMD [\"python\", \"-c\", \"import urllib.request; "
        "urllib.request.urlopen('http://localhost:8000/health', timeout=2)\"]`."
    )


@pytest.mark.points(2)
@pytest.mark.lesson("11-production.ipynb#health-checks")
def test_turns_healthy(dockyard_container, dockyard_probe):
    """The container turns healthy within 30 s"""
    health = dockyard_probe.wait_healthy(dockyard_container, timeout_s=30)
    last = (health.log or "").strip().splitlines()[-3:] if health.log else []
    details = (" Last check output: " + " | ".join(line[:160] for line in last) + ".") if last else ""
    hint = ""
    if "curl" in (health.log or "") and ("not found" in (health.log or "") or "No such file" in (health.log or "")):
        hint = " python:3.11-slim has no curl: write the check with python's urllib.request instead."
    assert health.status != "none", (
        "expected the container to report a health status, found no HEALTHCHECK. Add one that calls /health."
    )
    assert health.status == "healthy", (
        f"expected the container to be `healthy` within 30 s, found `{health.status}` after {health.seconds:.0f} s."
        f"{details}{hint} Make sure the check exits 0 when /health answers, and use a short --interval (e.g. 5s)."
    )


@pytest.mark.points(2)
@pytest.mark.lesson("11-production.ipynb#health-checks")
def test_check_detects_failure(dockyard_container, dockyard_probe):
    """The health check notices when /health fails"""
    assert_check_detects_failure(dockyard_probe, dockyard_container)


@pytest.mark.points(2)
def test_app_answers(dockyard_container, dockyard_probe):
    """The app answers on port 8000"""
    response = dockyard_probe.http(dockyard_container, "/", port=8000)
    assert response.ok and "Hello from a well-behaved container" in response.text, \
        response.explain("200 with `Hello from a well-behaved container!`; check the app still starts as your new user")
