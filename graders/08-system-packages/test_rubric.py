"""Rubric for 08-system-packages: python-magic needs the Debian library libmagic1 at run time. Judged by the app
working in the container, by what the image's layers hold (no apt package lists in any layer the Dockerfile
added, even one a later step hides), and by the install being one RUN: update, install, clean up."""

import re

import docker.errors
import pytest

from dockyard.static import pip

NB = "05-best-practices.ipynb"
pytestmark = pytest.mark.lesson(NB)

APT_UPDATE = re.compile(r"\bapt(-get)?\s+(-\S+\s+)*update\b")
APT_INSTALL = re.compile(r"\bapt(-get)?\s+(-\S+\s+)*install\b")
NO_RECOMMENDS = re.compile(r"--no-install-recommends\b|APT::Install-Recommends=(false|0|no)\b", re.I)
LISTS = "var/lib/apt/lists"


def _command(run) -> str:
    return " ".join(run.args) if run.json_form else run.value


def _runs(dockerfile):
    """The RUN steps that end up in the image: the final stage's and those of the stages it is built FROM."""
    return [run for stage in reversed(dockerfile.final_stage.lineage()) for run in stage.all("RUN")]


def _base(dockerfile) -> str:
    return dockerfile.final_stage.lineage()[-1].base


@pytest.mark.points(1)
@pytest.mark.lesson("04-dockerfile.ipynb#Building-an-image")
def test_builds(dockyard_image):
    """The image builds"""


@pytest.mark.points(3)
def test_library_works_at_run_time(dockyard_container, dockyard_probe):
    """The app runs: `import magic` finds libmagic in the container"""
    response = dockyard_probe.http(dockyard_container, "/", port=8000, timeout_s=20)
    if response.ok and "PDF document" in (response.text or ""):
        return
    logs = dockyard_probe.logs(dockyard_container)
    if "libmagic" in logs:
        assert False, (
            "the app stopped at `import magic`: ImportError: failed to find libmagic. pip installed the Python part "
            "only; the C library comes from Debian: `apt-get install -y --no-install-recommends libmagic1` (in the "
            "same RUN as `apt-get update`)")
    assert False, response.explain("`sample.pdf is: PDF document, version 1.4` on port 8000")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#minimize-layers")
def test_one_apt_run(dockyard_dockerfile):
    """One RUN does `apt-get update` and `apt-get install` together"""
    runs = _runs(dockyard_dockerfile)
    installs = [run for run in runs if APT_INSTALL.search(_command(run))]
    for run in runs:
        command = _command(run)
        if APT_UPDATE.search(command) and not APT_INSTALL.search(command):
            assert False, (
                f"line {run.line}: `{run.text[:80]}` is a lone `apt-get update` layer: the build cache keeps it, "
                "so a later install reads stale lists (and its lists stay in the image). Update and install in one "
                "RUN: `RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 && rm -rf "
                "/var/lib/apt/lists/*`")
    assert installs, ("expected a RUN that installs libmagic1 with apt-get, found none: "
                      "`RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 && "
                      "rm -rf /var/lib/apt/lists/*`")
    for run in installs:
        assert APT_UPDATE.search(_command(run)), (
            f"line {run.line}: `{run.text[:80]}` installs without `apt-get update` in the same RUN, so it uses "
            "whatever (stale, or no) lists an earlier layer left: `apt-get update && apt-get install -y ...`")
    assert len(installs) == 1, (
        f"expected one RUN that installs the system packages, found {len(installs)} (lines "
        f"{', '.join(str(run.line) for run in installs)}): each one is another layer with its own update; "
        "install them all in one `apt-get install`")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#docker-history")
def test_no_apt_lists_in_any_layer(dockyard_image, dockyard_dockerfile, dockyard_probe):
    """No layer of yours keeps apt's package lists (/var/lib/apt/lists)"""
    try:
        base_layers = dockyard_probe.layer_count(_base(dockyard_dockerfile))
    except docker.errors.DockerException:
        base_layers = 0
    kept = [f for f in dockyard_probe.layer_files(dockyard_image, LISTS) if f.layer > base_layers and f.size > 0]
    if not kept:
        return
    layers = sorted({f.layer for f in kept})
    megabytes = sum(f.size for f in kept) / 1e6
    later_rm = any(re.search(rf"rm\s+(-\S+\s+)*/{LISTS}", _command(run)) and not APT_UPDATE.search(_command(run))
                   for run in _runs(dockyard_dockerfile))
    assert False, (
        f"{megabytes:.0f} MB of apt package lists ({len(kept)} files, e.g. {kept[0].path}) are in layer "
        f"{', '.join(map(str, layers))} of the image (`docker history` counts from the bottom). "
        + ("A `rm` in a later RUN only hides them: the layer that `apt-get update` wrote still carries them. "
           if later_rm else "")
        + "End the RUN that runs `apt-get update` with `&& rm -rf /var/lib/apt/lists/*`")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#minimize-layers")
def test_no_recommends(dockyard_dockerfile):
    """`apt-get install` brings no recommended extras (`--no-install-recommends`)"""
    installs = [run for run in _runs(dockyard_dockerfile) if APT_INSTALL.search(_command(run))]
    assert installs, "no `apt-get install` found: install libmagic1 with `apt-get install -y --no-install-recommends`"
    for run in installs:
        assert NO_RECOMMENDS.search(_command(run)), (
            f"line {run.line}: `{run.text[:80]}` also installs every package the ones you asked for recommend "
            "(often tens of MB you never use): add `--no-install-recommends`")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#pip-no-cache-dir")
def test_no_pip_cache(dockyard_image, dockyard_probe, dockyard_dockerfile):
    """The Python dependency is installed without pip's cache"""
    try:
        base_env = dockyard_probe.image_config(_base(dockyard_dockerfile)).env or {}
    except docker.errors.DockerException:
        base_env = {}
    for run in pip.runs_keeping_cache(dockyard_dockerfile, base_env):
        assert False, (
            f"line {run.line}: `{run.text[:80]}` keeps pip's download cache (~/.cache/pip) in the image layer: "
            "`RUN pip install --no-cache-dir -r requirements.txt` (or `ENV PIP_NO_CACHE_DIR=1`)")
    assert not dockyard_probe.listdir(dockyard_image, "/root/.cache/pip"), (
        "pip left its download cache in the image (/root/.cache/pip): install with `--no-cache-dir`")
