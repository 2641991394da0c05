"""Rubric for 04-entrypoint-cmd: the image is a command (ENTRYPOINT) with a default argument (CMD)."""

import docker.errors
import pytest

NB = "04-dockerfile.ipynb"
pytestmark = pytest.mark.lesson(NB)


def _run(probe, image, args=None, environment=None):
    """`docker run img args` as an ExecResult; a container that cannot even start (e.g. `exec: "Alice":
    executable file not found`) is a learner's outcome too, reported as exit code 127 with the engine's words."""
    from dockyard.sandbox import ExecResult

    try:
        return probe.run(image, args, environment=environment)
    except docker.errors.APIError as exc:  # the container could not start (e.g. no such executable)
        text = str(getattr(exc, "explanation", None) or exc)
        if "exec:" in text:
            text = "exec:" + text.split("exec:", 1)[1].split(": unknown")[0]
        return ExecResult(127, "", text.strip()[:300])


def _shown(result) -> str:
    """What a run printed, for feedback: stdout, else stderr, on one or two lines."""
    if result.timed_out:
        return "the container did not finish in time"
    text = (result.stdout or "").strip() or (result.stderr or "").strip()
    lines = text.splitlines()
    if not lines:
        return f"nothing was printed (exit code {result.exit_code})"
    shown = " / ".join(lines[-3:])
    return f"`{shown[:200]}` (exit code {result.exit_code})"


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#cmd")
def test_default_run(dockyard_image, dockyard_probe):
    """`docker run img` prints `Hello, World!`"""
    result = _run(dockyard_probe, dockyard_image)
    assert (result.stdout or "").strip() == "Hello, World!" and result.exit_code == 0, (
        f"`docker run img` should print `Hello, World!`, it printed {_shown(result)}. "
        "The image needs `ENV GREETING=Hello`, an exec-form ENTRYPOINT running greet.py and `CMD [\"World\"]`")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#entrypoint")
def test_name_argument(dockyard_image, dockyard_probe):
    """`docker run img Alice` prints `Hello, Alice!`"""
    result = _run(dockyard_probe, dockyard_image, ["Alice"])
    assert (result.stdout or "").strip() == "Hello, Alice!" and result.exit_code == 0, (
        f"`docker run img Alice` should print `Hello, Alice!`, it printed {_shown(result)}. "
        "Arguments after the image name replace CMD and are appended to ENTRYPOINT: put the fixed command in "
        "`ENTRYPOINT [\"python\", \"greet.py\"]` and only the default name in CMD")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#env")
def test_greeting_override(dockyard_image, dockyard_probe):
    """`docker run -e GREETING=Hi img Bob` prints `Hi, Bob!`"""
    result = _run(dockyard_probe, dockyard_image, ["Bob"], environment={"GREETING": "Hi"})
    assert (result.stdout or "").strip() == "Hi, Bob!" and result.exit_code == 0, (
        f"`docker run -e GREETING=Hi img Bob` should print `Hi, Bob!`, it printed {_shown(result)}. "
        "The greeting must come from the environment (an `ENV` default that `-e` can override), "
        "and the name from the run's arguments")


@pytest.mark.points(2)
@pytest.mark.lesson(f"{NB}#entrypoint")
def test_exec_entrypoint(dockyard_image, dockyard_probe):
    """ENTRYPOINT is set, in exec form"""
    entrypoint = list(dockyard_probe.image_config(dockyard_image).entrypoint or [])
    assert entrypoint, (
        "the image has no ENTRYPOINT: with CMD alone, `docker run img Alice` tries to run a program called `Alice`. "
        "Add `ENTRYPOINT [\"python\", \"greet.py\"]`")
    assert entrypoint[:2] != ["/bin/sh", "-c"], (
        f"the ENTRYPOINT is in shell form (`{' '.join(entrypoint[2:])[:80]}` runs under `/bin/sh -c`), which ignores CMD "
        "and the run's arguments. Use exec form, a JSON list: `ENTRYPOINT [\"python\", \"greet.py\"]`")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#env")
def test_greeting_env(dockyard_image, dockyard_probe):
    """GREETING=Hello is in the image's environment"""
    env = dockyard_probe.image_config(dockyard_image).env or {}
    value = env.get("GREETING")
    assert value == "Hello", (
        f"expected `GREETING=Hello` in the image's environment, found "
        f"{f'GREETING={value}' if value is not None else 'no GREETING'}: add `ENV GREETING=Hello`")


@pytest.mark.points(1)
@pytest.mark.lesson(f"{NB}#cmd")
def test_cmd_default(dockyard_image, dockyard_probe):
    """CMD supplies the default argument (World)"""
    config = dockyard_probe.image_config(dockyard_image)
    cmd = list(config.cmd or [])
    entrypoint = list(config.entrypoint or [])
    assert cmd, (
        "the image has no CMD, so there is no default name to replace: add `CMD [\"World\"]` after the ENTRYPOINT")
    assert cmd[:2] != ["/bin/sh", "-c"], (
        f"CMD is in shell form (`{' '.join(cmd[2:])[:60]}`): with an ENTRYPOINT it must be a JSON list of "
        "arguments: `CMD [\"World\"]`")
    assert "World" in cmd and not any("greet" in part or "python" in part for part in cmd), (
        f"CMD is `{cmd}`: it should hold only the default argument, `CMD [\"World\"]`, while the command itself "
        "(python greet.py) goes in ENTRYPOINT")
    assert "World" not in entrypoint, (
        f"`World` is part of the ENTRYPOINT ({entrypoint}), so it cannot be replaced: move it to `CMD [\"World\"]`")
