"""Rubric for 06-dockerignore: the provided Dockerfile does `COPY . .`; the learner's .dockerignore
must keep secrets and junk out of the image without keeping the app out too."""

import fnmatch

import pytest

NB = "05-best-practices.ipynb"
pytestmark = pytest.mark.lesson(f"{NB}#use-dockerignore")

API_KEY = "sk-dockyard-fake-3f9a1c7e5b2d4086"  # the fake key in exercises/06-dockerignore/.env


def _appdir(image, probe):
    return (probe.image_config(image).working_dir or "/app").rstrip("/") or "/"


def _present(image, probe, path):
    return probe.file(image, path).exists


@pytest.mark.points(1)
@pytest.mark.lesson("04-dockerfile.ipynb#Building-an-image")
def test_builds(dockyard_image):
    """The image builds"""


@pytest.mark.points(1)
@pytest.mark.lesson("04-dockerfile.ipynb#Running-the-image")
def test_answers(dockyard_container, dockyard_probe):
    """The app answers on port 8000"""
    response = dockyard_probe.http(dockyard_container, "/", port=8000, timeout_s=20)
    assert response.ok and "Quote of the day" in response.text, (
        response.explain("Quote of the day: ...") + "\n"
        "is app.py still in the image? A pattern in .dockerignore may be keeping it out")


@pytest.mark.points(3)
def test_no_env_secret(dockyard_image, dockyard_probe):
    """`.env` is not in the image, and its API key is nowhere in it"""
    appdir = _appdir(dockyard_image, dockyard_probe)
    assert not _present(dockyard_image, dockyard_probe, f"{appdir}/.env"), (
        f"`.env` (with your API key) was copied into the image at {appdir}/.env: anyone who pulls the image can read it. "
        "Add `.env` to .dockerignore")
    scan = dockyard_probe.secret_scan(dockyard_image, API_KEY)
    assert not scan.found, (
        f"the API key from .env is in the image ({', '.join(scan.where[:3])}): exclude every file holding it "
        "in .dockerignore (`.env`)")


@pytest.mark.points(1)
def test_no_git(dockyard_image, dockyard_probe):
    """`.git` is not in the image"""
    appdir = _appdir(dockyard_image, dockyard_probe)
    assert not _present(dockyard_image, dockyard_probe, f"{appdir}/.git"), (
        f"the `.git` folder was copied into the image ({appdir}/.git): the whole history, old secrets included, "
        "ships with it. Add `.git` to .dockerignore")


@pytest.mark.points(1)
def test_no_bytecode(dockyard_image, dockyard_probe):
    """No `__pycache__` / `*.pyc` bytecode in the image"""
    appdir = _appdir(dockyard_image, dockyard_probe)
    found = [name for name in dockyard_probe.listdir(dockyard_image, appdir) if fnmatch.fnmatch(name, "*.pyc")]
    found += [f"__pycache__/{name}" for name in dockyard_probe.listdir(dockyard_image, f"{appdir}/__pycache__")]
    assert not found, (
        f"Python bytecode from your machine was copied into the image ({', '.join(found[:3])}): "
        "it is stale and Python rebuilds it anyway. Add `__pycache__/` and `*.pyc` to .dockerignore")


@pytest.mark.points(1)
def test_no_venv(dockyard_image, dockyard_probe):
    """The local `venv/` is not in the image"""
    appdir = _appdir(dockyard_image, dockyard_probe)
    assert not _present(dockyard_image, dockyard_probe, f"{appdir}/venv"), (
        f"your local virtual environment was copied into the image ({appdir}/venv): it belongs to your machine "
        "(wrong paths, wrong platform). Add `venv/` to .dockerignore")


@pytest.mark.points(1)
def test_no_logs(dockyard_image, dockyard_probe):
    """No `*.log` files in the image"""
    appdir = _appdir(dockyard_image, dockyard_probe)
    found = [name for name in dockyard_probe.listdir(dockyard_image, appdir) if fnmatch.fnmatch(name, "*.log")]
    assert not found, (
        f"log files were copied into the image ({', '.join(found[:3])}): add `*.log` to .dockerignore")


@pytest.mark.points(1)
def test_no_notes_or_os_junk(dockyard_image, dockyard_probe):
    """No `notes.md` or `.DS_Store` in the image"""
    appdir = _appdir(dockyard_image, dockyard_probe)
    found = [name for name in ("notes.md", ".DS_Store") if _present(dockyard_image, dockyard_probe, f"{appdir}/{name}")]
    assert not found, (
        f"{' and '.join(f'`{name}`' for name in found)} went into the image: notes and OS junk are no use to the app. "
        "Add `*.md` and `.DS_Store` to .dockerignore")


@pytest.mark.points(1)
def test_app_present(dockyard_image, dockyard_probe):
    """`app.py` is still in the image (nothing needed was ignored)"""
    appdir = _appdir(dockyard_image, dockyard_probe)
    info = dockyard_probe.file(dockyard_image, f"{appdir}/app.py")
    assert info.exists and not info.is_dir, (
        f"`app.py` is missing from {appdir}: your .dockerignore keeps out the app itself. "
        "Exclude only the junk (e.g. `*.pyc`, not `*.py`; with `*`, re-include the app with `!app.py`)")
