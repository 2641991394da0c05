"""Rubric for 02-layer-cache: dependencies before code, no pip cache, apt in one RUN."""

import re
import uuid

import pytest

from dockyard.static.dockerfile import parse_key_values

NB = "05-best-practices.ipynb"
pytestmark = pytest.mark.lesson(NB)

PIP_INSTALL = r"\bpip3?(\.\d+)?\s+install\b|-m\s+pip\s+install\b"


@pytest.mark.points(1)
@pytest.mark.lesson("04-dockerfile.ipynb#Building-an-image")
def test_builds(image):
    """The image builds"""


@pytest.mark.points(2)
@pytest.mark.lesson("04-dockerfile.ipynb#Running-the-image")
def test_answers(container, probe):
    """The app answers on port 8000 (with its dependency installed)"""
    response = probe.http(container, "/", port=8000, timeout_s=20)
    assert response.ok and "1.2 MB" in response.text, (
        response.explain("Hello! 1234567 bytes is 1.2 MB") + "\n"
        "the app needs `humanize` from requirements.txt installed, and must start with `CMD [\"python\", \"app.py\"]`")


def _pip_caches(image, probe):
    homes = ["/root"] + [f"/home/{name}" for name in probe.listdir(image, "/home")]
    return [f"{home}/.cache/pip" for home in homes if probe.listdir(image, f"{home}/.cache/pip")]


FALSY = {"", "0", "false", "no", "off"}


def _cache_disabled(run, env) -> bool:
    """This pip-install RUN leaves no cache behind: --no-cache-dir, PIP_NO_CACHE_DIR (in the image's
    environment or on the command line), or the cache removed in the same RUN."""
    command = " ".join(run.args) if run.json_form else run.value
    if re.search(r"--no-cache-dir\b", command) or re.search(r"\bpip3?\s+cache\s+purge\b", command):
        return True
    if re.search(r"\bPIP_NO_CACHE_DIR=(?![\"']?(0|false|no|off)?[\"']?(\s|$))", command, re.IGNORECASE):
        return True
    if re.search(r"\brm\s+(-\S+\s+)*\S*\.cache(/pip)?/?(\s|$|;|&)", command):
        return True
    return str(env.get("PIP_NO_CACHE_DIR", "")).strip().lower() not in FALSY


def _env_before(stage, line, base_env):
    """The environment in force at `line` of `stage`: the base image's, then the stage's ENV/ARG lines above it."""
    env = dict(base_env)
    for instruction in stage.instructions:
        if instruction.line >= line:
            break
        if instruction.keyword == "ENV":
            env.update(parse_key_values(instruction.value, legacy=True))
        elif instruction.keyword == "ARG" and "=" in instruction.value:
            env.update(parse_key_values(instruction.value, legacy=False))
    return env


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#No-cache")
def test_no_pip_cache(image, probe, dockerfile):
    """Dependencies are installed with pip's cache disabled (no pip cache in the image)"""
    caches = _pip_caches(image, probe)
    assert not caches, (
        f"pip left its download cache in the image ({', '.join(caches)}): dead weight in every copy of it. "
        "Install with `pip install --no-cache-dir -r requirements.txt` (or set `ENV PIP_NO_CACHE_DIR=1`)")
    # Some pip builds write no cache at all, so the filesystem alone cannot prove it: check the install step too.
    stage = dockerfile.final_stage
    base = stage.lineage()[-1].base
    try:
        base_env = probe.image_config(base).env or {}
    except Exception:  # the image built, so its base exists; be lenient if it cannot be inspected
        base_env = {}
    installs = [run for run in dockerfile.final_stage.all("RUN")
                if re.search(PIP_INSTALL, " ".join(run.args) if run.json_form else run.value)]
    for run in installs:
        assert _cache_disabled(run, _env_before(stage, run.line, base_env or {})), (
            f"line {run.line}: `{run.text[:80]}` keeps pip's download cache (~/.cache/pip) in the image layer. "
            "Add `--no-cache-dir`: `RUN pip install --no-cache-dir -r requirements.txt` (or set `ENV PIP_NO_CACHE_DIR=1`)")


@pytest.mark.points(4)
@pytest.mark.lesson(f"{NB}#Order-instructions-by-change-frequency")
def test_requirements_first(image, probe):
    """requirements.txt is installed before the code is copied (proven by rebuilding)"""
    install = image.build.step_matching(PIP_INSTALL)
    assert install is not None, (
        "found no `pip install` step in the build: install the dependencies with "
        "`RUN pip install --no-cache-dir -r requirements.txt`")
    # a unique edit: an edit seen before (by an earlier grading) could still be in the build cache
    after_code = probe.rebuild_after_change("app.py", append=f"\n# changed {uuid.uuid4().hex}\n")
    step = after_code.step_matching(PIP_INSTALL)
    assert step is not None and step.cached, (
        f"after editing app.py, the rebuild ran `{install.instruction}` again instead of taking it from the cache: "
        "the code is copied before the dependencies are installed. "
        "Do `COPY requirements.txt .` and the `pip install` first, then copy the code")
    after_requirements = probe.rebuild_after_change("requirements.txt", append=f"\n# changed {uuid.uuid4().hex}\n")
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
def test_apt_in_one_run(dockerfile):
    """No lone `apt-get update` layer (update, install and cleanup in one RUN)"""
    for run in dockerfile.final_stage.all("RUN"):
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
