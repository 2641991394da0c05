"""Rubric for 11-compose-stack: the visit counter (`api`) and `redis` as one Compose stack."""

import re

import pytest

from dockyard import expect

pytestmark = pytest.mark.lesson("08-compose.ipynb")

SETTINGS = ("REDIS_HOST", "REDIS_PORT")


def _service(model, name):
    return (model.get("services") or {}).get(name) or {}


def _visits(probe, project):
    response = probe.http((project, "api"), "/", port=8000)
    found = re.search(r"Visits:\s*(\d+)", response.text or "") if response.ok else None
    return response, int(found.group(1)) if found else None


@pytest.mark.points(1)
def test_up_wait(dockyard_compose_project, dockyard_probe):
    """`docker compose up --wait` succeeds and the api answers"""
    response, visits = _visits(dockyard_probe, dockyard_compose_project)
    assert visits is not None, response.explain(
        "`Visits: N` from the api on port 8000 (the api reads REDIS_HOST and REDIS_PORT from .env)")


@pytest.mark.points(2)
def test_counter_counts(dockyard_compose_project, dockyard_probe):
    """The counter counts: each visit adds one"""
    first, before = _visits(dockyard_probe, dockyard_compose_project)
    second, after = _visits(dockyard_probe, dockyard_compose_project)
    expect(before is not None and after == before + 1, expected="two visits to count N then N+1",
           found=f"{before} then {after}", fix="the api must reach redis by its service name (REDIS_HOST=redis)")


@pytest.mark.points(2)
@pytest.mark.lesson("06-volumes.ipynb#named-volumes")
def test_survives_restart(dockyard_compose_project, dockyard_probe):
    """The count survives `docker compose down` and `up`"""
    _, before = _visits(dockyard_probe, dockyard_compose_project)
    assert before is not None, "the counter did not answer before the restart"
    dockyard_probe.compose_restart(dockyard_compose_project, volumes=False)
    response, after = _visits(dockyard_probe, dockyard_compose_project)
    assert after is not None, response.explain("`Visits: N` after `docker compose down` and `up`")
    assert after > before, (
        f"the count went from {before} back to {after} after `down` and `up`: redis keeps its data in /data; "
        "mount a named volume there (`redis-data:/data`, declared under top-level `volumes:`)")


@pytest.mark.points(1)
@pytest.mark.lesson("08-compose.ipynb#depends-on")
def test_depends_on_healthy(dockyard_compose_model):
    """`api` waits for a healthy `redis` (depends_on with condition: service_healthy)"""
    depends = _service(dockyard_compose_model, "api").get("depends_on") or {}
    condition = (depends.get("redis") or {}).get("condition") if "redis" in depends else None
    assert condition == "service_healthy", (
        "expected `depends_on: {redis: {condition: service_healthy}}` on the api, found "
        + ("no dependency on redis" if "redis" not in depends
           else "a plain `depends_on: [redis]` (it only waits for the container to start, not for redis to be ready)"
           if condition in (None, "service_started") else f"condition `{condition}`"))


@pytest.mark.points(1)
@pytest.mark.lesson("08-compose.ipynb#healthchecks")
def test_redis_healthcheck(dockyard_compose_model, dockyard_compose_project, dockyard_probe):
    """`redis` has a healthcheck using `redis-cli ping`, and it turns healthy"""
    check = _service(dockyard_compose_model, "redis").get("healthcheck") or {}
    test = check.get("test") or []
    text = " ".join(test) if isinstance(test, list) else str(test)
    expect("redis-cli" in text and "ping" in text.lower() and not check.get("disable"),
           expected="a redis healthcheck running `redis-cli ping`", found=text or "none",
           fix='add `healthcheck: {test: ["CMD", "redis-cli", "ping"], interval: 2s, retries: 10}`')
    health = dockyard_probe.wait_healthy((dockyard_compose_project, "redis"), timeout_s=30)
    assert health.status == "healthy", (
        f"the redis healthcheck did not pass (status {health.status}): run it by hand with "
        f"`docker compose exec redis redis-cli ping`; last output: {str(health.log)[-200:]}")


@pytest.mark.points(1)
@pytest.mark.lesson("08-compose.ipynb#restart-policies")
def test_restart_policy(dockyard_compose_model):
    """`api` has a restart policy (`unless-stopped`)"""
    restart = _service(dockyard_compose_model, "api").get("restart")
    expect(restart in ("unless-stopped", "always"), expected="`restart: unless-stopped` on the api",
           found=restart or "no restart policy", fix="without it a crashed api stays down")


@pytest.mark.points(1)
@pytest.mark.lesson("07-networks.ipynb#publishing-ports")
def test_redis_not_published(dockyard_compose_model):
    """`redis` publishes no port on the host"""
    ports = _service(dockyard_compose_model, "redis").get("ports") or []
    seen = ", ".join(f"{p.get('published') or '(random)'}:{p.get('target')}" for p in ports)
    assert not ports, (
        f"redis publishes {seen} on the host: anyone could read or wipe your data; remove `ports:` from "
        "redis (the api reaches it over the stack's network)")


@pytest.mark.points(1)
@pytest.mark.lesson("09-env-and-secrets.ipynb#env-file")
def test_env_file(dockyard_submission, dockyard_compose_project):
    """The api's settings come from the `.env` file"""
    assert dockyard_submission.exists(".env"), "no `.env` file: copy `.env.example` to `.env`"
    values = {}
    for line in (dockyard_submission.read(".env") or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip().strip('"').strip("'")
    missing = [name for name in SETTINGS if name not in values]
    assert not missing, f"`.env` does not set {', '.join(missing)}: copy the lines from `.env.example`"
    raw = (((dockyard_submission.compose or {}).get("services") or {}).get("api") or {})
    environment = raw.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    literal = [name for name in SETTINGS
               if name in environment and environment[name] is not None and "${" not in str(environment[name])]
    uses_env_file = bool(raw.get("env_file"))
    assert not literal and (uses_env_file or all(name in environment for name in SETTINGS)), (
        "expected the api to read its settings from `.env` (`env_file: .env`), found "
        + (f"{', '.join(literal)} written into compose.yaml" if literal else "no env_file")
        + ": put them in `.env` and add `env_file: .env` to the api")
    env = dockyard_compose_project.container("api").attrs["Config"]["Env"] or []
    running = dict(item.partition("=")[::2] for item in env)
    wrong = [name for name in SETTINGS if running.get(name) != values[name]]
    assert not wrong, (
        f"the api's {', '.join(wrong)} differ from `.env` ({', '.join(f'{n}={running.get(n)}' for n in wrong)}): "
        "hand `.env` to the api with `env_file: .env`")
