"""Rubric for 15-rag-stack: the outline's api + frontend + redis. Judged on the running stack: the frontend answers
through its published port by asking the api by name, the api caches in redis, redis keeps its data in a declared
named volume, and the fake API key arrives from `.env` by interpolation without reaching any image or compose.yaml."""

import pytest

NB = "10-ai-ml-apps.ipynb"
pytestmark = pytest.mark.lesson(f"{NB}#rag-stack")
SERVICES = ("frontend", "api", "redis")
QUESTION = "what keeps redis data when the container is removed"
ANSWER = "A volume is persistent storage"
KEY = "OPENAI_API_KEY"


@pytest.fixture(scope="session")
def key(dockyard_submission):
    """The key as the learner's `.env` sets it."""
    for line in (dockyard_submission.read(".env") or "").splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip() == KEY:
            return value.strip().strip('"').strip("'")
    raise AssertionError(f"`.env` does not set {KEY}: copy `.env.example` to `.env`")


def _masked(key: str) -> str:
    return key[:6] + "…"


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#rag-stack")
def test_stack_up(dockyard_compose_project):
    """`docker compose up --wait` brings up frontend, api and redis"""
    missing = [name for name in SERVICES if name not in dockyard_compose_project.services]
    assert not missing, f"expected the services {', '.join(SERVICES)}, missing {', '.join(missing)}"


@pytest.mark.points(3)
@pytest.mark.lesson("07-networks.ipynb#service-discovery")
def test_frontend_reaches_api(dockyard_compose_model, dockyard_compose_project, dockyard_probe):
    """The frontend answers a question through its published port, asking the api by its service name"""
    ports = ((dockyard_compose_model.get("services") or {}).get("frontend") or {}).get("ports") or []
    assert any(int(p.get("target") or 0) == 8501 for p in ports), (
        "the frontend publishes no port 8501: keep `ports: [\"8501:8501\"]` on the frontend")
    response = dockyard_probe.http((dockyard_compose_project, "frontend"), f"/ask?q={QUESTION.replace(' ', '+')}",
                                   port=8501)
    text = response.text or ""
    assert response.ok and ANSWER in text, (
        "expected the frontend's page to show the api's answer, found "
        + (text[text.find("<p class=error>"):][:240] if "class=error" in text else response.explain(ANSWER))
        + ": give the frontend `API_URL: http://api:8000` (the api's service name, not localhost: inside the "
          "frontend's container, localhost is the frontend itself)")


@pytest.mark.points(2)
@pytest.mark.lesson("08-compose.ipynb#networking")
def test_api_caches_in_redis(dockyard_compose_project, dockyard_probe):
    """The api reaches redis: the same question asked twice comes from the cache"""
    path = "/ask?q=what+is+a+container"
    first = dockyard_probe.reach(dockyard_compose_project, "frontend", "api", port=8000, path=path)
    second = dockyard_probe.reach(dockyard_compose_project, "frontend", "api", port=8000, path=path)
    assert second.ok and '"cached": true' in (second.text or ""), (
        f"expected the second answer from redis (`\"cached\": true`), found {second.status or 'no answer'} "
        f"{(second.text or second.error or '').strip()[:200]}: the api finds redis by its service name `redis` "
        "on the stack's network; the redis service must be called `redis` and be up")
    assert first.ok


@pytest.mark.points(2)
@pytest.mark.lesson("09-env-and-secrets.ipynb#env-files")
def test_key_from_env_file(key, dockyard_compose_model, dockyard_submission, dockyard_compose_project):
    """The api gets OPENAI_API_KEY from `.env` by interpolation, not written in compose.yaml"""
    written = (dockyard_submission.compose_file.read_text(errors="replace") if dockyard_submission.compose_file else "")
    assert key not in written, (
        f"compose.yaml holds the key itself ({_masked(key)}): it gets committed with the file. Write "
        f"`{KEY}: ${{{KEY}}}` and keep the value in `.env` only")
    # compose's own resolution (interpolation or env_file): a key that only an image's ENV supplies is not in it
    declared = (((dockyard_compose_model.get("services") or {}).get("api") or {}).get("environment") or {}).get(KEY)
    assert declared == key, (
        f"compose does not hand the api {KEY} from `.env` (`docker compose config` shows "
        + (f"{_masked(declared)}" if declared else "none")
        + f"): add `environment: {{{KEY}: ${{{KEY}}}}}` to the api")
    env = dockyard_compose_project.container("api").attrs["Config"]["Env"] or []
    running = dict(item.partition("=")[::2] for item in env).get(KEY)
    assert running == key, (
        f"expected the api's {KEY} to be the value in `.env` ({_masked(key)}), found "
        + (f"{_masked(running)}" if running else "none")
        + f": add `environment: {{{KEY}: ${{{KEY}}}}}` to the api; compose fills it in from `.env`")


@pytest.mark.points(1)
@pytest.mark.lesson("09-env-and-secrets.ipynb#never-bake-secrets")
def test_key_in_no_image(key, dockyard_compose_project, dockyard_probe):
    """The key is in no image of the stack (files, config, history)"""
    leaks = []
    for service in ("frontend", "api"):
        if service in dockyard_compose_project.services:
            scan = dockyard_probe.secret_scan(dockyard_compose_project.container(service).image.id, key)
            leaks += [f"{service}: {place.replace(key, _masked(key))}" for place in scan.where]
    assert not leaks, (
        f"the key is baked into an image ({'; '.join(leaks[:4])}): anyone who pulls it can read it. Pass it at run "
        f"time only (`environment: {{{KEY}: ${{{KEY}}}}}`), never as a build arg, an ENV or a copied file")


@pytest.mark.points(1)
@pytest.mark.lesson("06-volumes.ipynb#named-volumes")
def test_redis_named_volume(dockyard_compose_model, dockyard_compose_project):
    """Redis keeps /data in a named volume declared under `volumes:`"""
    mounts = dockyard_compose_project.container("redis").attrs.get("Mounts") or []
    data = next((m for m in mounts if m.get("Destination") == "/data"), None)
    # the grading runs the stack under its own project name, so a declared volume `v` is `<project>_v` there
    name = (data or {}).get("Name") or ""
    declared = any(name == (spec or {}).get("name") or name.endswith(f"_{key}")
                   for key, spec in (dockyard_compose_model.get("volumes") or {}).items())
    assert data is not None and data.get("Type") == "volume" and declared, (
        "expected redis's /data on a named volume declared under top-level `volumes:`, found "
        + ("nothing mounted there" if data is None
           else f"a {data.get('Type')} mount" if data.get("Type") != "volume"
           else "an anonymous volume (gone with `docker compose down -v`, unnamed in `docker volume ls`)")
        + ": `volumes: [redis-data:/data]` on redis and `volumes: {redis-data: {}}` at the top level")
