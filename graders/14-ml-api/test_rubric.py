"""Rubric for exercise 14-ml-api: a FastAPI model server packaged the production way."""

import json
import re

import docker.errors
import pytest

from dockyard.rubric.health import assert_check_detects_failure
from dockyard.static import pip
from dockyard.static.dockerfile import is_pinned, is_python_base

pytestmark = pytest.mark.lesson("10-ai-ml-apps.ipynb#exercise")

SLIM = "python:3.11-slim"
MAX_EXTRA_MB = 90
ROOT_NAMES = {"", "root", "0"}
PIP_INSTALL = pip.PIP_INSTALL.pattern
SHELL_FORM = (["/bin/sh", "-c"], ["sh", "-c"])


def _option(argv: list[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in argv (the last one wins), else None."""
    value = None
    for index, token in enumerate(argv):
        if token == name and index + 1 < len(argv):
            value = argv[index + 1]
        elif token.startswith(name + "="):
            value = token.split("=", 1)[1]
    return value


@pytest.mark.points(1)
@pytest.mark.lesson("04-dockerfile.ipynb#FROM")
def test_pinned_slim_base(dockyard_dockerfile):
    """The base image is a pinned slim python image"""
    root = dockyard_dockerfile.final_stage.lineage()[-1]
    base = root.base
    tag = (root.base_tag or "").lower()
    ok = is_python_base(root) and is_pinned(root) and tag not in ("", "latest") and "slim" in tag \
        and bool(re.match(r"^\d", tag))
    assert ok, (
        f"expected a slim python base pinned to a version (e.g. `FROM {SLIM}`), found `FROM {base or '?'}`. "
        "Untagged or `latest` images change under you, and the full image is hundreds of MB bigger."
    )


@pytest.mark.points(1)
@pytest.mark.lesson("05-best-practices.ipynb#Order-instructions-by-change-frequency")
def test_deps_before_code(dockyard_image, dockyard_probe):
    """Requirements are installed before the code is copied (editing main.py keeps pip install cached)"""
    first = dockyard_image.build.step_matching(PIP_INSTALL)
    assert first is not None, (
        "expected a `RUN pip install --no-cache-dir -r requirements.txt` step, found none in the build."
    )
    rebuild = dockyard_probe.rebuild_after_change("main.py", cache_from=dockyard_image)
    step = rebuild.step_matching(PIP_INSTALL)
    assert step is not None and step.cached, (
        "expected a rebuild after editing main.py to take `pip install` from the cache, but it ran again: "
        "the code is copied before the dependencies are installed. `COPY requirements.txt .` and "
        "`RUN pip install ...` first, then `COPY . .`."
    )


@pytest.mark.points(1)
@pytest.mark.lesson("05-best-practices.ipynb#No-cache")
def test_no_pip_cache(dockyard_image, dockyard_dockerfile, dockyard_probe):
    """pip's cache is off: none left in the image"""
    homes = ["/root"] + [f"/home/{name}" for name in dockyard_probe.listdir(dockyard_image, "/home")]
    caches = [f"{home}/.cache/pip" for home in homes if dockyard_probe.listdir(dockyard_image, f"{home}/.cache/pip")]
    assert not caches, (
        f"expected no pip cache in the image, found {', '.join(caches)}: the downloaded wheels stay in a layer "
        "for ever. Install with `pip install --no-cache-dir -r requirements.txt` (or ENV PIP_NO_CACHE_DIR=1)."
    )
    # pip only caches what the index lets it cache: the practice is checked too, read as pip reads
    # its options (dockyard.static.pip).
    try:
        base_env = dockyard_probe.image_config(dockyard_dockerfile.final_stage.lineage()[-1].base).env or {}
    except docker.errors.DockerException:  # the image built, so its base exists
        base_env = {}
    keeping = pip.runs_keeping_cache(dockyard_dockerfile, base_env)
    assert not keeping, (
        f"expected pip's cache to be disabled, found `{keeping[0].text[:100]}` (line {keeping[0].line}) without "
        "--no-cache-dir: its download cache would be baked into the layer. Use "
        "`pip install --no-cache-dir -r requirements.txt` (or set `ENV PIP_NO_CACHE_DIR=1` before it)."
    )


@pytest.mark.points(1)
@pytest.mark.lesson("11-production.ipynb#hardening")
def test_non_root(dockyard_image, dockyard_container, dockyard_probe):
    """The API runs as a non-root user"""
    user = dockyard_probe.image_config(dockyard_image).user
    assert (user or "").split(":", 1)[0].strip() not in ROOT_NAMES, (
        f"expected the image to switch to an unprivileged user, found User={user or '(not set: root)'}. "
        "Add `RUN useradd -m -u 1000 appuser` and `USER appuser` before CMD."
    )
    dockyard_probe.http(dockyard_container, "/health", port=8000)
    as_root = [p for p in dockyard_probe.processes(dockyard_container) if p.uid == 0]
    assert not as_root, (
        "expected no process of the API to run as root, found uid 0: "
        + "; ".join(f"`{p.command[:80]}`" for p in as_root[:3]) + ". Put `USER appuser` before CMD."
    )


@pytest.mark.points(1)
@pytest.mark.lesson("04-dockerfile.ipynb#EXPOSE")
def test_port_exposed(dockyard_image, dockyard_probe):
    """Port 8000 is exposed"""
    ports = dockyard_probe.image_config(dockyard_image).exposed_ports
    assert 8000 in ports, (
        f"expected `EXPOSE 8000`, found {'EXPOSE ' + ', '.join(map(str, sorted(ports))) if ports else 'no EXPOSE'}. "
        "Document the port uvicorn listens on."
    )


@pytest.mark.points(1)
@pytest.mark.lesson("10-ai-ml-apps.ipynb#healthcheck")
def test_turns_healthy(dockyard_container, dockyard_probe):
    """A HEALTHCHECK turns the container healthy within 30 s"""
    health = dockyard_probe.wait_healthy(dockyard_container, timeout_s=30)
    assert health.status != "none", (
        "expected a HEALTHCHECK, found none. Add one that calls http://localhost:8000/health with python "
        "(the slim image has no curl), e.g. `HEALTHCHECK --interval=5s CMD [\"python\", \"-c\", "
        "\"import urllib.request; urllib.request.urlopen('http://localhost:8000/health', timeout=2)\"]`."
    )
    log = (health.log or "").strip()
    hint = " python:3.11-slim has no curl: use python's urllib.request." if "curl" in log and "not found" in log else ""
    last = " | ".join(line[:160] for line in log.splitlines()[-2:])
    assert health.status == "healthy", (
        f"expected `healthy` within 30 s, found `{health.status}` after {health.seconds:.0f} s"
        f"{' (last check: ' + last + ')' if last else ''}.{hint} Use a short --interval (e.g. 5s)."
    )


@pytest.mark.points(1)
@pytest.mark.lesson("11-production.ipynb#health-checks")
def test_check_detects_failure(dockyard_container, dockyard_probe):
    """The health check notices when /health fails"""
    assert_check_detects_failure(dockyard_probe, dockyard_container)


@pytest.mark.points(1)
@pytest.mark.lesson("10-ai-ml-apps.ipynb#fastapi-image")
def test_uvicorn_cmd(dockyard_image, dockyard_probe):
    """An exec-form CMD runs uvicorn on 0.0.0.0:8000"""
    config = dockyard_probe.image_config(dockyard_image)
    entrypoint, cmd = list(config.entrypoint or []), list(config.cmd or [])
    argv = entrypoint + cmd
    shell = any(part[:2] == prefix for part in (entrypoint, cmd) for prefix in SHELL_FORM)
    assert not shell, (
        f"expected the exec form `CMD [\"uvicorn\", \"main:app\", \"--host\", \"0.0.0.0\", \"--port\", \"8000\"]`, "
        f"found the shell form (`{' '.join((entrypoint or cmd)[2:])[:120]}` run by /bin/sh): uvicorn would not be "
        "PID 1 and would miss `docker stop`'s SIGTERM. Write the command as a JSON list."
    )
    runs_uvicorn = any(token.rsplit("/", 1)[-1] == "uvicorn" for token in argv) or \
        any(argv[i:i + 2] == ["-m", "uvicorn"] for i in range(len(argv)))
    assert runs_uvicorn, f"expected the command to start uvicorn, found `{json.dumps(argv)}`."
    host = _option(argv, "--host") or config.env.get("UVICORN_HOST")
    port = _option(argv, "--port") or config.env.get("UVICORN_PORT") or "8000"
    assert host in ("0.0.0.0", "::"), (
        f"expected uvicorn to listen on 0.0.0.0, found {('--host ' + host) if host else 'no --host (uvicorn then uses 127.0.0.1)'}: "
        "127.0.0.1 inside a container is unreachable through a published port. Add `\"--host\", \"0.0.0.0\"`."
    )
    assert port == "8000", f"expected uvicorn on port 8000, found --port {port}. Use `\"--port\", \"8000\"`."


@pytest.mark.points(2)
def test_predicts(dockyard_container, dockyard_probe):
    """POST /predict answers with a correct label and score"""
    headers = {"Content-Type": "application/json"}
    cases = {"I love this, the course is great and helpful": "positive",
             "terrible, slow and broken": "negative"}
    for text, label in cases.items():
        response = dockyard_probe.http(dockyard_container, "/predict", port=8000, method="POST",
                              body=json.dumps({"text": text}), headers=headers)
        assert response.ok, response.explain(
            f'200 with {{"label": "{label}", ...}} from POST /predict (is uvicorn listening on 0.0.0.0:8000?)')
        try:
            answer = response.json()
        except Exception:
            answer = None
        assert isinstance(answer, dict) and answer.get("label") == label and \
            isinstance(answer.get("score"), (int, float)) and 0 <= answer["score"] <= 1, (
                f'expected {{"label": "{label}", "score": <0..1>}} for {text!r}, found {response.text[:200]!r}. '
                "Serve the provided main.py unchanged (uvicorn main:app)."
            )


@pytest.mark.points(1)
@pytest.mark.lesson("10-ai-ml-apps.ipynb#fastapi-image")
def test_image_size(dockyard_image, dockyard_probe):
    """The image is at most 90 MB larger than python:3.11-slim"""
    size = dockyard_probe.image_size(dockyard_image)
    extra_mb = (size - dockyard_probe.base_size(SLIM)) / 1e6
    assert extra_mb <= MAX_EXTRA_MB, (
        f"expected the image to add at most {MAX_EXTRA_MB} MB to {SLIM}, found +{extra_mb:.0f} MB "
        f"({size / 1e6:.0f} MB in all). Start from the slim image, skip build-essential (the wheels need no "
        "compiler), install with --no-cache-dir, and keep tests/, venvs and caches out with .dockerignore."
    )


# What exercises/14-ml-api/README.md item 7 keeps out of the image (looked for in the app's folder).
JUNK = ("tests", "__pycache__", ".pytest_cache", "venv", ".venv", ".env")


@pytest.mark.points(1)
@pytest.mark.lesson("05-best-practices.ipynb#dockerignore")
def test_context_kept_lean(dockyard_image, dockyard_probe):
    """The image holds no tests, caches, virtual environments or .env files"""
    appdir = dockyard_probe.image_config(dockyard_image).working_dir or "/"
    found = [name for name in JUNK if dockyard_probe.file(dockyard_image, f"{appdir.rstrip('/')}/{name}").exists]
    assert not found, (
        f"expected none of tests/, caches, venvs or .env in {appdir}, found {', '.join(found)}: `COPY . .` copies "
        "whatever `.dockerignore` lets through. List them in .dockerignore (`tests/`, `__pycache__/`, `.venv/`, `.env`)")
