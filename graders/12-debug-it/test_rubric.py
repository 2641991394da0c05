"""Rubric for 12-debug-it: the menu stack, fixed. Each of the starter's three faults is judged by what it breaks:
the api answering through the port compose publishes, the api's environment as `docker compose config` resolves
it, and the api waiting for a db whose healthcheck really tells ready from not ready."""

import pytest

from dockyard.rubric.health import assert_check_detects_failure

NB = "08-compose.ipynb"
pytestmark = pytest.mark.lesson(NB)
MENU = "Today's menu: soup, bread, tea"
DB_HEALTH = "http://localhost:7000/health"


def _service(model, name):
    return (model.get("services") or {}).get(name) or {}


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#compose-commands")
def test_stack_up(dockyard_compose_project):
    """`docker compose up --wait` brings the api and the db up"""
    missing = [name for name in ("api", "db") if name not in dockyard_compose_project.services]
    assert not missing, f"expected the services `api` and `db`, found {sorted(dockyard_compose_project.services)}"


@pytest.mark.points(3)
@pytest.mark.lesson("07-networks.ipynb#publishing-ports")
def test_answers_on_published_port(dockyard_compose_model, dockyard_compose_project, dockyard_probe):
    """The api answers with the menu through the port compose publishes"""
    ports = _service(dockyard_compose_model, "api").get("ports") or []
    assert ports, "the api publishes no port: add `ports: [\"8000:8000\"]` (host port : the port api.py listens on)"
    targets = sorted({int(port["target"]) for port in ports if port.get("target")})
    answers = {target: dockyard_probe.http((dockyard_compose_project, "api"), "/", port=target) for target in targets}
    good = [target for target, response in answers.items() if response.ok and MENU in (response.text or "")]
    if good:
        return
    wrong = [t for t in targets if t != 8000]
    where = (f"your `ports:` sends the host's port to the api's port {', '.join(map(str, wrong))}, but api.py listens "
             "on 8000 (its log says `listening on 0.0.0.0:8000`): publish `\"8000:8000\"`" if 8000 not in targets
             else "the api's port 8000 is published but it does not serve the menu: read `docker compose logs api`")
    seen = "; ".join(f"port {t}: " + (f"{r.status} {(r.text or '').strip()[:160]}" if r.status else r.error)
                     for t, r in answers.items())
    assert False, f"expected `{MENU}` from the api, {where}. seen: {seen}"


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#env-files")
def test_db_host_set(dockyard_compose_model, dockyard_compose_project):
    """The api gets `DB_HOST=db` in its environment"""
    declared = (_service(dockyard_compose_model, "api").get("environment") or {}).get("DB_HOST")
    env = dockyard_compose_project.container("api").attrs["Config"]["Env"] or []
    running = dict(item.partition("=")[::2] for item in env).get("DB_HOST")
    db = _service(dockyard_compose_model, "db")
    # any name the stack's DNS gives the db is right: its service name, a network alias, its hostname
    names = {"db", db.get("hostname"), db.get("container_name")} | {
        alias for network in (db.get("networks") or {}).values() for alias in ((network or {}).get("aliases") or [])}
    assert running in names - {None} and declared == running, (
        "expected the api's environment to hold `DB_HOST=db` (the db's service name), found "
        + (f"`DB_HOST={running}`" if running is not None else "no DB_HOST (the api's 503 says `DB_HOST is not set`)")
        + ": add `environment: {DB_HOST: db}` to the api (or an `env_file:` that sets it)")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#depends-on")
def test_waits_for_healthy_db(dockyard_compose_model):
    """The api starts only once the db is healthy (`condition: service_healthy`)"""
    depends = _service(dockyard_compose_model, "api").get("depends_on") or {}
    condition = (depends.get("db") or {}).get("condition") if "db" in depends else None
    assert condition == "service_healthy", (
        "expected `depends_on: {db: {condition: service_healthy}}` on the api, found "
        + ("no dependency on the db" if "db" not in depends
           else "a plain `depends_on: [db]`: it waits only until the db's container has started, and the db "
                "needs a few seconds more before it accepts connections (its log: `loading data`)"
           if condition in (None, "service_started") else f"condition `{condition}`"))


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#healthchecks")
def test_db_healthcheck_is_real(dockyard_compose_model, dockyard_compose_project, dockyard_probe):
    """The db's healthcheck asks the db itself: it passes when the db serves and fails when it does not"""
    check = _service(dockyard_compose_model, "db").get("healthcheck") or {}
    assert check.get("test") and not check.get("disable"), (
        "expected a healthcheck on the db, found none: `healthcheck: {test: [\"CMD\", \"python\", \"-c\", "
        "\"import urllib.request; urllib.request.urlopen('http://localhost:7000/health')\"], interval: 1s, retries: 30}`")
    assert_check_detects_failure(dockyard_probe, (dockyard_compose_project, "db"), url=DB_HEALTH)
