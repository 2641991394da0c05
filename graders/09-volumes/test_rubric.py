"""Rubric for 09-volumes: the notes app under Compose, its notes kept in a named volume at /data."""

import uuid

import pytest

pytestmark = pytest.mark.lesson("06-volumes.ipynb")

SERVICE = "notes"


def _post_note(probe, project, text):
    return probe.http((project, SERVICE), "/notes", port=8000, method="POST", body=text)


def _notes(probe, project):
    return probe.http((project, SERVICE), "/notes", port=8000)


@pytest.mark.points(1)
@pytest.mark.lesson("08-compose.ipynb")
def test_compose_valid(dockyard_submission):
    """compose.yaml is valid and defines the `notes` service"""
    assert dockyard_submission.compose_file is not None, (
        "no compose file found: write `compose.yaml` (or `docker-compose.yml`) next to the Dockerfile")
    assert not dockyard_submission.compose_error, f"the compose file is not valid: {dockyard_submission.compose_error}"
    services = sorted((dockyard_submission.compose or {}).get("services") or {})
    assert SERVICE in services, (
        f"expected a service named `notes`, found {', '.join(services) or 'no services'}: rename it to `notes`")


@pytest.mark.points(2)
@pytest.mark.lesson("06-volumes.ipynb#named-volumes")
def test_named_volume(dockyard_compose_model, dockyard_submission):
    """A named volume (not a bind mount) is mounted at /data"""
    service = (dockyard_compose_model.get("services") or {}).get(SERVICE) or {}
    mounts = service.get("volumes") or []
    at_data = [m for m in mounts if str(m.get("target", "")).rstrip("/") == "/data"]
    declared = dockyard_compose_model.get("volumes") or {}
    seen = ", ".join(f"{m.get('type')} {m.get('source') or '(anonymous)'} -> {m.get('target')}" for m in mounts)
    assert at_data, (
        "expected a named volume mounted at /data (where the app writes notes.txt), "
        f"found {seen or 'no volumes on `notes`'}: add `volumes: [\"notes-data:/data\"]` to the service")
    mount = at_data[0]
    source = str(mount.get("source") or "")
    if source.startswith(str(dockyard_submission.path)):
        source = "./" + source[len(str(dockyard_submission.path)):].lstrip("/")
    assert mount.get("type") == "volume", (
        f"/data is a host bind mount ({source}), not a named volume: a bind mount ties the data "
        "to one folder on one machine; use `notes-data:/data` and declare `notes-data` under top-level `volumes:`")
    assert mount.get("source") and mount.get("source") in declared, (
        "/data is an anonymous volume: it is not reused after `docker compose down`; give it a name "
        "(`notes-data:/data`) and declare it under top-level `volumes:`")


@pytest.mark.points(2)
def test_app_answers(dockyard_compose_project, dockyard_probe):
    """The app answers on port 8000 and stores a note"""
    saved = _post_note(dockyard_probe, dockyard_compose_project, "first note from the grader")
    assert saved.ok, saved.explain("201 saved: … from POST /notes (publish port 8000; start the app with CMD)")
    notes = _notes(dockyard_probe, dockyard_compose_project)
    assert notes.ok and "first note from the grader" in notes.text, notes.explain(
        "GET /notes to list the note just posted")


@pytest.mark.points(3)
@pytest.mark.lesson("06-volumes.ipynb#persistence")
def test_survives_down_up(dockyard_compose_project, dockyard_probe):
    """A note survives `docker compose down` and `up`"""
    marker = f"keep-me-{uuid.uuid4().hex[:8]}"
    saved = _post_note(dockyard_probe, dockyard_compose_project, marker)
    assert saved.ok, saved.explain("POST /notes to answer 201 before the restart")
    dockyard_probe.compose_restart(dockyard_compose_project, volumes=False)
    notes = _notes(dockyard_probe, dockyard_compose_project)
    assert notes.ok, notes.explain("the app to answer again after `docker compose down` and `up`")
    assert marker in notes.text, (
        "the note posted before `docker compose down` was gone after `up`: the app writes "
        "/data/notes.txt (DATA_DIR), so mount a named volume exactly there")


@pytest.mark.points(2)
@pytest.mark.lesson("06-volumes.ipynb#removing-volumes")
def test_gone_after_down_v(dockyard_compose_project, dockyard_probe):
    """After `docker compose down -v` the notes are gone"""
    marker = f"drop-me-{uuid.uuid4().hex[:8]}"
    saved = _post_note(dockyard_probe, dockyard_compose_project, marker)
    assert saved.ok, saved.explain("POST /notes to answer 201")
    dockyard_probe.compose_restart(dockyard_compose_project, volumes=True)
    notes = _notes(dockyard_probe, dockyard_compose_project)
    assert notes.ok, notes.explain("the app to answer again after `docker compose down -v` and `up`")
    assert marker not in notes.text, (
        "the note was still there after `docker compose down -v`: the data lives outside Docker's volumes "
        "(a bind mount to a host folder?); use a named volume, which `down -v` removes")


SHELL_FORM = (["/bin/sh", "-c"], ["sh", "-c"])


@pytest.mark.points(1)
@pytest.mark.lesson("04-dockerfile.ipynb#CMD")
def test_port_and_exec_form(dockyard_image, dockyard_probe):
    """The image documents port 8000 and starts the app in exec form"""
    config = dockyard_probe.image_config(dockyard_image)
    assert 8000 in config.exposed_ports, (
        f"expected the image to document port 8000 (`EXPOSE 8000`), found "
        f"{', '.join(map(str, sorted(config.exposed_ports))) or 'no exposed port'}: add `EXPOSE 8000` to the Dockerfile")
    for name, value in (("ENTRYPOINT", config.entrypoint), ("CMD", config.cmd)):
        if value and list(value[:2]) in SHELL_FORM:
            assert False, (
                f"the image's {name} is in shell form ({' '.join(value)}): `/bin/sh` runs as PID 1 and swallows "
                "`docker compose down`'s stop signal. Use exec form, a JSON list: `CMD [\"python\", \"app.py\"]`")
