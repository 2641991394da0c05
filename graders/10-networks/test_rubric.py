"""Rubric for 10-networks: a public `web` and a private `api` on two user-defined networks."""

import ipaddress
from urllib.parse import urlparse

import pytest

from dockyard import partial

pytestmark = pytest.mark.lesson("07-networks.ipynb")

EXPECTED_ITEMS = "Items: apples, bread, coffee"


def _services(model):
    return model.get("services") or {}


def _networks_of(service: dict) -> set[str]:
    networks = service.get("networks")
    if networks is None and "network_mode" not in service:
        return {"default"}
    return set(networks or {})


@pytest.mark.points(1)
@pytest.mark.lesson("08-compose.ipynb")
def test_compose_valid(dockyard_submission, dockyard_compose_model):
    """compose.yaml is valid and defines `web` and `api`"""
    services = set(_services(dockyard_compose_model))
    missing = {"web", "api"} - services
    assert not missing, (
        f"expected services `web` and `api`, found {', '.join(sorted(services)) or 'none'}: "
        f"add {', '.join(sorted(missing))} (build ./web and ./api)")


@pytest.mark.points(3)
@pytest.mark.lesson("07-networks.ipynb#service-discovery")
def test_web_shows_items(dockyard_compose_project, dockyard_probe):
    """`web` shows the items it fetched from `api`"""
    response = dockyard_probe.http((dockyard_compose_project, "web"), "/", port=8000)
    assert response.ok and EXPECTED_ITEMS in response.text, response.explain(
        f"`{EXPECTED_ITEMS}` from web on port 8000: web must reach api by its service name "
        "(API_URL=http://api:8000) over a network they share (backend)")


@pytest.mark.points(2)
@pytest.mark.lesson("07-networks.ipynb#publishing-ports")
def test_api_not_published(dockyard_compose_model):
    """`api` publishes no port on the host"""
    ports = _services(dockyard_compose_model).get("api", {}).get("ports") or []
    seen = ", ".join(f"{p.get('published') or '(random)'}:{p.get('target')}" for p in ports)
    assert not ports, (
        f"the api publishes {seen} on the host, so anyone can bypass the web: remove `ports:` from `api` "
        "(web reaches it over the backend network without any published port)")


@pytest.mark.points(2)
@pytest.mark.lesson("07-networks.ipynb#user-defined-networks")
def test_networks_separated(dockyard_compose_model):
    """`api` is on `backend` only; `web` is on `frontend` and `backend`"""
    services = _services(dockyard_compose_model)
    declared = set(dockyard_compose_model.get("networks") or {}) - {"default"}
    missing = {"frontend", "backend"} - declared
    assert not missing, (
        f"expected two user-defined networks `frontend` and `backend`, found "
        f"{', '.join(sorted(declared)) or 'only the default network'}: declare them under top-level `networks:`")
    api_networks = _networks_of(services.get("api", {}))
    web_networks = _networks_of(services.get("web", {}))
    problems = []
    if "frontend" in api_networks:
        problems.append("the api is on the `frontend` network: keep it on `backend` only, so only the web can reach it")
    elif api_networks != {"backend"}:
        problems.append(f"expected the api on `backend` only, found {', '.join(sorted(api_networks))}: "
                        "set `networks: [backend]`")
    if not {"frontend", "backend"} <= web_networks:
        problems.append(f"expected the web on `frontend` and `backend`, found {', '.join(sorted(web_networks))}: "
                        "the web needs both (public side and the api's side)")
    if len(problems) == 1:  # one of the two services placed right: half the item
        partial(0.5, problems[0])
    assert not problems, "; ".join(problems)


def _api_names(model) -> set[str]:
    """Names that resolve to the api on a compose network: its service name, aliases, container name."""
    api = _services(model).get("api", {})
    names = {"api"}
    for network in (api.get("networks") or {}).values():
        names.update((network or {}).get("aliases") or [])
    if api.get("container_name"):
        names.add(api["container_name"])
    return names


@pytest.mark.points(2)
@pytest.mark.lesson("07-networks.ipynb#service-discovery")
def test_api_url_service_name(dockyard_compose_model):
    """`API_URL` names the api service, not an address"""
    environment = _services(dockyard_compose_model).get("web", {}).get("environment") or {}
    api_url = environment.get("API_URL")
    assert api_url, "the web has no API_URL: add `API_URL: http://api:8000` to the web's `environment:`"
    parsed = urlparse(api_url if "//" in api_url else f"http://{api_url}")
    host = (parsed.hostname or "").lower()
    try:
        ipaddress.ip_address(host)
        is_address = True
    except ValueError:
        is_address = host in ("localhost",)
    assert not is_address and host in _api_names(dockyard_compose_model), (
        f"API_URL is {api_url}: "
        + ("`localhost` inside the web container is the web itself, not the api; "
           if host in ("localhost", "127.0.0.1") else
           "container IP addresses change on every start; " if is_address else
           f"`{host}` is not the api's service name; ")
        + "use the service name: API_URL=http://api:8000")
    assert (parsed.port or 80) == 8000, f"API_URL is {api_url}: the api listens on port 8000 (http://api:8000)"
