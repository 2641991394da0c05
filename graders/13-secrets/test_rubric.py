"""Rubric for 13-secrets: the API key reaches the app at run time and is never baked into the image."""


import pytest

pytestmark = pytest.mark.lesson("09-env-and-secrets.ipynb")

# The fake key the exercise ships in `.env` (and the starter Dockerfile bakes in).
SHIPPED_KEY = "sk-dockyard-FAKE-4f9c2a7e1b3d8c6a"


def _env_key(submission) -> str | None:
    for line in (submission.read(".env") or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip().removeprefix("export ").strip() == "API_KEY":
            return value.strip().strip('"').strip("'") or None
    return None


@pytest.fixture(scope="session")
def keys(dockyard_submission) -> list[str]:
    """Every string that is the secret: the key in the learner's .env and the one the exercise shipped."""
    found = [SHIPPED_KEY]
    learner_key = _env_key(dockyard_submission)
    if learner_key and learner_key not in found:
        found.append(learner_key)
    return found


@pytest.fixture(scope="session")
def scans(dockyard_image, dockyard_probe, keys):
    return {key: dockyard_probe.secret_scan(dockyard_image, key) for key in keys}


def _places(scans, prefix: str | tuple[str, ...]) -> list[str]:
    """Where the key was found, the key itself masked (feedback is shown and stored)."""
    found = set()
    for key, scan in scans.items():
        for place in scan.where:
            if place.startswith(prefix):
                found.add(place.replace(key, key[:3] + "…"))
    return sorted(found)


@pytest.mark.points(2)
@pytest.mark.lesson("09-env-and-secrets.ipynb#never-bake-secrets")
def test_not_in_config(dockyard_image, dockyard_probe, scans):
    """The key is not in the image's configuration (ENV)"""
    places = _places(scans, "config")
    env = dockyard_probe.image_config(dockyard_image).env
    assert not places and not env.get("API_KEY"), (
        f"the API key is in the image's config ({', '.join(places) or 'ENV API_KEY'}): anyone with the image "
        "reads it with `docker image inspect`; remove `ENV API_KEY=…` from the Dockerfile and pass it at run time")


@pytest.mark.points(2)
@pytest.mark.lesson("09-env-and-secrets.ipynb#never-bake-secrets")
def test_not_in_history(scans):
    """The key is not in the image's history"""
    places = _places(scans, "history")
    assert not places, (
        f"the API key shows in `docker history` ({'; '.join(places)[:200]}): no ENV, ARG or RUN may hold it; "
        "remove it from the Dockerfile and hand it in at run time")


@pytest.mark.points(2)
@pytest.mark.lesson("05-best-practices.ipynb#dockerignore")
def test_not_in_filesystem(scans):
    """The key is in no file of the image"""
    places = _places(scans, "/")
    hint = []
    if any(place.endswith("/.env") for place in places):
        hint.append("`COPY . .` copied `.env`: add `.env` to `.dockerignore`, which keeps it out of the build context")
    others = [place for place in places if not place.endswith("/.env")]
    if others:
        hint.append(f"{', '.join(p.rsplit('/', 1)[-1] for p in others[:3])} hold(s) the key and went into the image: "
                    "take the key out of them (it belongs in `.env` only)")
    assert not places, f"the API key is in the image's files ({', '.join(places)[:200]}): " + "; ".join(hint)


@pytest.mark.points(1)
@pytest.mark.lesson("05-best-practices.ipynb#dockerignore")
def test_dockerignore(dockyard_submission):
    """`.dockerignore` keeps `.env` out of the build context"""
    from docker.utils.build import exclude_paths

    assert dockyard_submission.exists(".dockerignore"), (
        "no `.dockerignore`: without it every `COPY . .` sends `.env` (and the key) into the build; add one with `.env`")
    patterns = [line.strip() for line in (dockyard_submission.read(".dockerignore") or "").splitlines()
                if line.strip() and not line.strip().startswith("#")]
    included = exclude_paths(str(dockyard_submission.path), list(patterns), dockerfile="Dockerfile")
    assert ".env" not in included, (
        f"`.dockerignore` does not exclude `.env` (its patterns: {', '.join(patterns) or 'none'}): add a line `.env`")
    assert "app.py" in included, "`.dockerignore` excludes app.py too: the image needs it; ignore only what it must not hold"


def _literal_values(compose: dict) -> list[str]:
    """`API_KEY` values written into the compose file itself (not `${…}` substitutions, not pass-through)."""
    found = []
    for name, service in ((compose or {}).get("services") or {}).items():
        service = service or {}
        build = service.get("build") if isinstance(service.get("build"), dict) else {}
        for where, values in (("environment", service.get("environment")), ("build args", build.get("args"))):
            if isinstance(values, list):
                values = dict(str(item).partition("=")[::2] if "=" in str(item) else (str(item), None)
                              for item in values)
            value = (values or {}).get("API_KEY")
            if value is not None and str(value).strip() and "${" not in str(value) and not str(value).startswith("$"):
                found.append(f"{name}: {where} API_KEY={str(value)[:3]}…")
    return found


@pytest.mark.points(1)
@pytest.mark.lesson("09-env-and-secrets.ipynb#env-file")
def test_compose_no_literal(dockyard_submission, keys):
    """The compose file holds no literal key"""
    assert dockyard_submission.compose_file is not None, "no compose file found: write `compose.yaml`"
    text = dockyard_submission.compose_file.read_text(errors="replace")
    leaked = [f"{key[:3]}…" for key in keys if key in text] + _literal_values(dockyard_submission.compose)
    assert not leaked, (
        f"{dockyard_submission.compose_file.name} holds the key itself ({', '.join(leaked)}): anyone who reads the "
        "file (or the repo) has it; use `env_file: .env` or `API_KEY: ${API_KEY}`")


def _app_service(project) -> str:
    model = project.model.get("services") or {}
    for name, service in model.items():
        if any(port.get("target") == 8000 for port in service.get("ports") or []):
            return name
    return sorted(model)[0]


@pytest.mark.points(2)
@pytest.mark.lesson("09-env-and-secrets.ipynb#env-file")
def test_authorized_under_compose(dockyard_submission, dockyard_compose_project, dockyard_probe, keys):
    """Under `docker compose up`, with `.env` present, the app answers `authorized`"""
    service = _app_service(dockyard_compose_project)
    response = dockyard_probe.http((dockyard_compose_project, service), "/", port=8000)
    assert response.ok and "authorized" in response.text, response.explain(
        "`authorized` on port 8000: hand API_KEY to the container from .env (`env_file: .env`)")
    env = dockyard_compose_project.container(service).attrs["Config"]["Env"] or []
    running = dict(item.partition("=")[::2] for item in env).get("API_KEY")
    expected = _env_key(dockyard_submission)
    assert running and running == expected, (
        "the app is authorized, but not with the key from `.env`"
        + (" (the image still carries one)" if running else "")
        + ": hand API_KEY in at run time with `env_file: .env`")
