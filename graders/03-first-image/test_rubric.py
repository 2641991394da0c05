"""Rubric for 03-first-image: a first Dockerfile for a tiny web app."""

import pytest

from dockyard import expect
from dockyard.static.dockerfile import is_pinned, is_python_base

NB = "04-dockerfile.ipynb"
pytestmark = pytest.mark.lesson(NB)


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#Building-an-image")
def test_builds(dockyard_image):
    """The image builds"""


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#from")
def test_pinned_base(dockyard_dockerfile):
    """The base image is a Python image pinned to a specific tag"""
    stage = dockyard_dockerfile.final_stage
    expect(is_python_base(stage), expected="a Python base image such as `FROM python:3.11-slim`",
           found=f"`FROM {stage.base}`", fix="start from an official python image")
    assert is_pinned(stage), (
        f"`FROM {stage.base}` is not pinned: without a tag (or with `latest`) the base changes under you. "
        "Name a specific version, e.g. `FROM python:3.11-slim`")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#workdir")
def test_workdir(dockyard_dockerfile):
    """The working directory is /app"""
    workdir = dockyard_dockerfile.workdir
    expect(workdir == "/app", expected="`WORKDIR /app`", found=f"`WORKDIR {workdir}`" if workdir else "no WORKDIR",
           fix="add `WORKDIR /app` after FROM, so the app lives (and runs) in /app")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#copy")
def test_app_in_place(dockyard_image, dockyard_probe):
    """The app is at /app/app.py in the image"""
    info = dockyard_probe.file(dockyard_image, "/app/app.py")
    if info.exists and not info.is_dir:
        return
    found = [name for name in dockyard_probe.listdir(dockyard_image, "/app")]
    assert False, (
        "expected the app at `/app/app.py`, but the image has "
        + (f"only {', '.join(sorted(found)[:8])} in /app" if found else "no /app/app.py")
        + ": copy it with `COPY app.py .` after `WORKDIR /app`")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#expose")
def test_exposes_8000(dockyard_dockerfile):
    """Port 8000 is exposed"""
    ports = dockyard_dockerfile.exposed_ports
    expect(8000 in ports, expected="`EXPOSE 8000`",
           found="EXPOSE " + " ".join(map(str, ports)) if ports else "no EXPOSE",
           fix="add `EXPOSE 8000` to document the port the app listens on")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#cmd-exec-form")
def test_exec_form(dockyard_dockerfile):
    """The start command (CMD or ENTRYPOINT) is in exec form"""
    entrypoint, cmd = dockyard_dockerfile.entrypoint, dockyard_dockerfile.cmd
    assert entrypoint or cmd, "the Dockerfile has no CMD: add `CMD [\"python\", \"app.py\"]` so the image knows what to run"
    for instruction in (entrypoint, cmd):
        if instruction is not None:
            assert dockyard_dockerfile.is_exec_form(instruction), (
                f"`{instruction.text}` (line {instruction.line}) is in shell form: it runs under `/bin/sh -c`, which "
                "swallows `docker stop`'s signal. Use exec form, a JSON list: `CMD [\"python\", \"app.py\"]`")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#Running-the-image")
def test_answers(dockyard_container, dockyard_probe):
    """The running container answers `Hello from Docker!` on port 8000"""
    response = dockyard_probe.http(dockyard_container, "/", port=8000, timeout_s=20)
    assert response.ok and "Hello from Docker!" in response.text, (
        response.explain("Hello from Docker!") + "\n"
        "the app must run when the container starts and listen on 0.0.0.0:8000 "
        "(`docker logs` shows what it printed)")
