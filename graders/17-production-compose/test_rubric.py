"""Rubric for 17-production-compose: the limits as Compose declares them (`docker compose config`), and the
restart policy, log rotation and read-only root filesystem as the engine runs them (the container's HostConfig),
with the app still answering."""

import pytest

from dockyard import expect, partial

NB = "11-production.ipynb"
pytestmark = pytest.mark.lesson(NB)
MAX_MEMORY = 256 * 2**20


@pytest.fixture(scope="session")
def service(dockyard_compose_model):
    """The `app` service as `docker compose config` normalises it (no build, no start)."""
    services = dockyard_compose_model.get("services") or {}
    expect("app" in services, expected="a service called `app`", found=f"{sorted(services) or 'none'}")
    return services["app"]


@pytest.fixture(scope="session")
def host_config(dockyard_compose_project):
    return dockyard_compose_project.container("app").attrs.get("HostConfig") or {}


def _limit(service, key, legacy):
    """A limit from `deploy.resources.limits.<key>` or the service-level `<legacy>` key, as a number (or None)."""
    value = (((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get(key)
    if value in (None, "", 0, "0"):
        value = service.get(legacy)
    try:
        return float(value) if value not in (None, "", 0, "0") else None
    except (TypeError, ValueError):
        return None


@pytest.mark.points(1)
def test_answers(dockyard_compose_project, dockyard_probe):
    """The app answers on port 8000"""
    response = dockyard_probe.http((dockyard_compose_project, "app"), "/", port=8000)
    assert response.ok and "ok, visit" in (response.text or ""), response.explain("`ok, visit N` on port 8000")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#resource-limits")
def test_memory_limit(service):
    """Memory is limited to 256 MB or less"""
    memory = _limit(service, "memory", "mem_limit")
    expect(memory is not None, expected="a memory limit", found="none",
           fix="add `deploy: {resources: {limits: {memory: 128M}}}` (or `mem_limit: 128m`) to the `app` service")
    expect(memory <= MAX_MEMORY, expected="a memory limit of at most 256 MB", found=f"{memory / 2**20:.0f} MB",
           fix="a limit that high protects the host from nothing; this app needs less than 64 MB")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#resource-limits")
def test_cpu_limit(service):
    """CPU is limited to one core or less"""
    cpus = _limit(service, "cpus", "cpus")
    expect(cpus is not None and 0 < cpus <= 1, expected="a CPU limit of at most 1 core",
           found=f"{cpus if cpus is not None else 'none'}",
           fix="add `cpus: \"0.5\"` under `deploy.resources.limits` (or `cpus: 0.5` on the service)")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#restart-policies")
def test_restart_policy(host_config):
    """The engine restarts it unless you stopped it (`restart: unless-stopped`)"""
    policy = (host_config.get("RestartPolicy") or {}).get("Name") or "no"
    if policy in ("always", "on-failure"):  # it comes back after a crash: half the item
        partial(0.5, f"expected the restart policy `unless-stopped`, found `{policy}`: it brings the app back "
                + ("after a crash, but also restarts a container you stopped yourself when the engine restarts. "
                   if policy == "always" else "after a crash, but not after the engine (or the machine) restarts. ")
                + "Use `restart: unless-stopped` on the `app` service")
    assert policy == "unless-stopped", (
        f"expected the restart policy `unless-stopped` on the running container, found `{policy}`: "
        "add `restart: unless-stopped` to the `app` service")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#logging")
def test_log_rotation(service):
    """Logs go to json-file, rotated (`max-size`)"""
    # Read from the model, as the limits are: the grading sandbox caps every container's log by itself,
    # so the running container would show a max-size the learner never wrote.
    log = service.get("logging") or {}
    driver, options = log.get("driver") or "json-file", log.get("options") or {}
    assert driver in ("json-file", "local"), (
        f"expected the json-file log driver (what `docker logs` reads), found `{driver}`")
    assert options.get("max-size"), (
        f"expected rotated logs (a `max-size` option), found {options or 'no options'}: without it the log file "
        "grows until the disk is full. Add `logging: {driver: json-file, options: {max-size: 10m, max-file: \"3\"}}`")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#hardening")
def test_read_only_root(dockyard_compose_project, host_config, dockyard_probe):
    """The root filesystem is read-only and the app still works (a tmpfs at /tmp)"""
    assert host_config.get("ReadonlyRootfs"), (
        "expected a read-only root filesystem on the running container, found a writable one: "
        "add `read_only: true` to the `app` service (and a `tmpfs: [/tmp]` for the file the app writes)")
    response = dockyard_probe.http((dockyard_compose_project, "app"), "/", port=8000)
    if not response.ok:  # read-only is half the item; an app that still works is the other half
        partial(0.5, f"the root filesystem is read-only, but the app cannot write its count: it answered "
                f"{response.status or 'nothing'} `{(response.text or '').strip()[:120]}`. Give it a writable /tmp: "
                "`tmpfs: [/tmp]`")
