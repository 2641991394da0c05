"""Rubric for 05-layer-cache: dependencies before code, no pip cache, apt in one RUN."""

import re
import uuid

import docker.errors
import pytest

from dockyard.static import pip

NB = "05-best-practices.ipynb"
pytestmark = pytest.mark.lesson(NB)

PIP_INSTALL = pip.PIP_INSTALL.pattern


@pytest.mark.points(1)
@pytest.mark.lesson("04-dockerfile.ipynb#Building-an-image")
def test_builds(dockyard_image):
    """The image builds"""


@pytest.mark.points(2)
@pytest.mark.lesson("04-dockerfile.ipynb#Running-the-image")
def test_answers(dockyard_container, dockyard_probe):
    """The app answers on port 8000 (with its dependency installed)"""
    response = dockyard_probe.http(dockyard_container, "/", port=8000, timeout_s=20)
    assert response.ok and "1.2 MB" in response.text, (
        response.explain("Hello! 1234567 bytes is 1.2 MB") + "\n"
        "the app needs `humanize` from requirements.txt installed, and must start with `CMD [\"python\", \"app.py\"]`")


def _pip_caches(image, probe):
    homes = ["/root"] + [f"/home/{name}" for name in probe.listdir(image, "/home")]
    return [f"{home}/.cache/pip" for home in homes if probe.listdir(image, f"{home}/.cache/pip")]


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#No-cache")
def test_no_pip_cache(dockyard_image, dockyard_probe, dockyard_dockerfile):
    """Dependencies are installed with pip's cache disabled (no pip cache in the image)"""
    caches = _pip_caches(dockyard_image, dockyard_probe)
    assert not caches, (
        f"pip left its download cache in the image ({', '.join(caches)}): dead weight in every copy of it. "
        "Install with `pip install --no-cache-dir -r requirements.txt` (or set `ENV PIP_NO_CACHE_DIR=1`)")
    # pip writes no cache where the index forbids caching, so the image alone cannot prove it: the
    # install steps are read as pip reads its options (dockyard.static.pip).
    try:
        base_env = dockyard_probe.image_config(dockyard_dockerfile.final_stage.lineage()[-1].base).env or {}
    except docker.errors.DockerException:  # the image built, so its base exists; an uninspectable base adds no ENV
        base_env = {}
    for run in pip.runs_keeping_cache(dockyard_dockerfile, base_env):
        assert False, (
            f"line {run.line}: `{run.text[:80]}` keeps pip's download cache (~/.cache/pip) in the image layer. "
            "Add `--no-cache-dir`: `RUN pip install --no-cache-dir -r requirements.txt` (or set `ENV PIP_NO_CACHE_DIR=1`)")


@pytest.mark.points(4)
@pytest.mark.lesson(f"{NB}#Order-instructions-by-change-frequency")
def test_requirements_first(dockyard_image, dockyard_probe):
    """requirements.txt is installed before the code is copied (proven by rebuilding)"""
    install = dockyard_image.build.step_matching(PIP_INSTALL)
    assert install is not None, (
        "found no `pip install` step in the build: install the dependencies with "
        "`RUN pip install --no-cache-dir -r requirements.txt`")
    # a unique edit: an edit seen before (by an earlier grading) could still be in the build cache
    after_code = dockyard_probe.rebuild_after_change("app.py", append=f"\n# changed {uuid.uuid4().hex}\n",
                                                     cache_from=dockyard_image)
    step = after_code.step_matching(PIP_INSTALL)
    assert step is not None and step.cached, (
        f"after editing app.py, the rebuild ran `{install.instruction}` again instead of taking it from the cache: "
        "the code is copied before the dependencies are installed. "
        "Do `COPY requirements.txt .` and the `pip install` first, then copy the code")
    after_requirements = dockyard_probe.rebuild_after_change(
        "requirements.txt", append=f"\n# changed {uuid.uuid4().hex}\n", cache_from=dockyard_image)
    step = after_requirements.step_matching(PIP_INSTALL)
    assert step is not None and not step.cached, (
        f"after editing requirements.txt, the rebuild still took `{install.instruction}` from the cache: "
        "the install step does not depend on requirements.txt. "
        "`COPY requirements.txt .` just before `RUN pip install --no-cache-dir -r requirements.txt`")


APT_UPDATE = re.compile(r"\bapt(-get)?\s+(-\S+\s+)*update\b")
APT_INSTALL = re.compile(r"\bapt(-get)?\s+(-\S+\s+)*install\b")
APT_CLEAN = re.compile(r"rm\s+(-\S+\s+)*/var/lib/apt/lists")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#Minimize-layers")
def test_apt_in_one_run(dockyard_dockerfile):
    """No lone `apt-get update` layer (update, install and cleanup in one RUN)"""
    for run in dockyard_dockerfile.final_stage.all("RUN"):
        command = " ".join(run.args) if run.json_form else run.value
        updates, installs = APT_UPDATE.search(command), APT_INSTALL.search(command)
        if updates and not installs:
            assert False, (
                f"line {run.line}: `{run.text[:80]}` is a lone `apt-get update` layer: it is cached and goes stale. "
                "Update and install in one RUN: `RUN apt-get update && apt-get install -y ... && rm -rf /var/lib/apt/lists/*`")
        if installs and not updates:
            assert False, (
                f"line {run.line}: `{run.text[:80]}` installs without `apt-get update` in the same RUN, so it uses "
                "whatever (stale) lists an earlier layer left. Do `apt-get update && apt-get install -y ...` in one RUN")
        if installs:
            assert APT_CLEAN.search(command), (
                f"line {run.line}: `{run.text[:80]}` leaves apt's package lists in the image. "
                "End the same RUN with `&& rm -rf /var/lib/apt/lists/*`")
