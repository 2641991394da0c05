"""The README's commands as a newcomer meets them: the lock installs on every Python learners have,
`make lab` starts (as root too) and answers on 127.0.0.1 only, and a non-root learner in the
`docker` group goes from a fresh copy of the project to full marks on a reference solution.
"""

from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
LEARNER = "dockyard-learner"  # the non-root user this module makes, and removes
# What a learner's venv must import: the direct dependencies, by import name.
IMPORTS = ("docker", "compose", "dockerfile_parse", "rich", "yaml", "pytest", "jupyterlab",
           "ipywidgets", "nbgrader", "nbclient", "nbformat", "matplotlib", "playwright")


def requires_python() -> SpecifierSet:
    return SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])


def version_of(python: str) -> str | None:
    try:
        return subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                              capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def interpreters() -> dict[str, str]:
    """Every distinct Python on this machine that the project says it supports: version → path."""
    candidates = ["/usr/bin/python3", *glob.glob("/usr/bin/python3.1[0-9]"),
                  *glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")),
                  *filter(None, (shutil.which(f"python3.{minor}") for minor in range(11, 14)))]
    found: dict[str, str] = {}
    for candidate in candidates:
        version = version_of(candidate)
        if version and version in requires_python() and version not in found:
            found[version] = candidate
    return dict(sorted(found.items(), key=lambda item: tuple(map(int, item[0].split(".")))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """The local addresses on which something listens on `port` (IPv4 and IPv6), from /proc."""
    addresses = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                addresses.add(address if width == 32 else ".".join(str(b) for b in bytes.fromhex(address)[::-1]))
    return addresses


def wait_for_lab(port: int, token: str, process: subprocess.Popen, timeout: float = 300) -> dict:
    """JupyterLab's /api/status once it answers; fails with make's output if make stops first."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                     headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make lab stopped (exit {process.returncode}):\n{process.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"make lab did not answer on 127.0.0.1:{port} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_lab(cwd: Path, port: int, token: str, user: str | None = None, env: dict | None = None):
    argv = ["make", "lab", "NO_BROWSER=1", f"PORT={port}", f"TOKEN={token}"]
    if user:
        argv = ["runuser", "-u", user, "--", "env", f"HOME={pwd.getpwnam(user).pw_dir}",
                "PATH=/usr/local/bin:/usr/bin:/bin", *argv]
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)


def test_the_lock_installs_on_every_supported_python(tmp_path):
    """One lock for 3.11 (from Debian 12's 3.11.2) to 3.13: a venv from it on each Python here."""
    found = interpreters()
    minors = {".".join(version.split(".")[:2]) for version in found}
    if not {"3.11", "3.12", "3.13"} <= minors:
        pytest.skip(f"this machine lacks some supported Pythons (has {sorted(found)}); pyenv install them")

    def install(version: str, python: str) -> tuple[str, int, str]:
        venv = tmp_path / f"venv-{version}"
        steps = ([python, "-m", "venv", str(venv)],
                 [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--no-compile",
                  "-c", str(LOCK), "-r", str(LOCK)],
                 [str(venv / "bin/python"), "-c", "import " + ", ".join(IMPORTS)])
        for argv in steps:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
            if result.returncode:
                return version, result.returncode, (result.stderr or result.stdout)[-2000:]
        return version, 0, ""

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(found)) as pool:
        results = list(pool.map(lambda item: install(*item), found.items()))
    failures = [f"Python {version} (exit {code}):\n{output}" for version, code, output in results if code]
    assert not failures, "\n\n".join(failures)


def test_find_python_names_the_python_it_picks_or_what_to_install():
    picked = subprocess.run([ROOT / "scripts/find-python"], capture_output=True, text=True)
    assert picked.returncode == 0, picked.stderr
    assert version_of(picked.stdout.strip()) in requires_python()
    assert picked.stderr.startswith("find-python: using Python 3.1") and picked.stderr.count("\n") == 1
    too_old = next((p for p in glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3"))), None)
    refused = subprocess.run([ROOT / "scripts/find-python", too_old or "/nonexistent/python3"],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "Dockyard needs Python 3.11, 3.12 or 3.13" in refused.stderr and refused.stderr.count("\n") == 1


def test_make_lab_starts_and_answers_on_loopback_only():
    """`make lab` as the README says (as root on this machine: JupyterLab refuses root without --allow-root)."""
    port, token = free_port(), secrets.token_hex(16)
    process = start_lab(ROOT, port, token)
    try:
        status = wait_for_lab(port, token, process)
        assert "started" in status
        assert listening_addresses(port) == {"127.0.0.1"}, "JupyterLab must listen on 127.0.0.1 only"
        the_course_is_reachable(port, token)
    finally:
        stop(process)
    assert not listening_addresses(port), "JupyterLab is still listening after make lab was stopped"


def lab_get(port: int, token: str, path: str) -> tuple[str, object]:
    """(final URL, JSON or text) of a GET on the running JupyterLab, redirects followed."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
        url = response.geturl()
    try:
        return url, json.loads(body)
    except json.JSONDecodeError:
        return url, body


def the_course_is_reachable(port: int, token: str) -> None:
    """What the notebooks' links and the exercises need: the repository root is served (the notebooks'
    `../exercises/…` links resolve), it opens on the first notebook, hidden files are listed by the server
    and shown by the file browser, and terminals are available (exercises 11 and 13: `cp .env.example .env`)."""
    url, _ = lab_get(port, token, "/")
    assert url.endswith("/lab/tree/notebooks/00-welcome.ipynb"), f"JupyterLab opens on {url}"
    _, root = lab_get(port, token, "/api/contents/")
    assert {"notebooks", "exercises"} <= {item["name"] for item in root["content"]}
    _, folder = lab_get(port, token, "/api/contents/exercises/11-compose-stack")
    assert {".dockerignore", ".env.example"} <= {item["name"] for item in folder["content"]}, "hidden files not listed"
    _, browser = lab_get(port, token, "/lab/api/settings/@jupyterlab/filebrowser-extension:browser")
    assert browser["schema"]["properties"]["showHiddenFiles"]["default"] is True, "the file browser hides dotfiles"
    _, terminals = lab_get(port, token, "/api/terminals")
    assert isinstance(terminals, list), "no terminals in this JupyterLab"


@pytest.fixture()
def learner():
    """A non-root user in the `docker` group, removed with its home (and its venv) afterwards."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("making a learner account needs root and useradd")
    subprocess.run(["userdel", "-r", LEARNER], capture_output=True)
    subprocess.run(["useradd", "--create-home", "--groups", "docker", LEARNER], check=True)
    try:
        yield LEARNER
    finally:
        subprocess.run(["pkill", "-KILL", "-u", LEARNER], capture_output=True)
        subprocess.run(["userdel", "-r", LEARNER], capture_output=True)


def fresh_copy_for(user: str) -> Path:
    """The project as `git clone` would give it (tracked and new files, none of the ignored ones)."""
    home = Path(pwd.getpwnam(user).pw_dir)
    destination = home / "dockyard"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run(["chown", "-R", f"{user}:{user}", str(home)], check=True)
    return destination


def test_a_non_root_learner_goes_from_a_fresh_copy_to_full_marks(learner):
    """Debian's own python3 (3.11.2 on Debian 12), `make lab`, then `dockyard check` on the solution."""
    project = fresh_copy_for(learner)
    port, token = free_port(), secrets.token_hex(16)
    process = start_lab(project, port, token, user=learner)
    try:
        wait_for_lab(port, token, process, timeout=900)
    finally:
        stop(process)
    assert version_of(str(project / ".venv/bin/python")) == version_of("/usr/bin/python3"), \
        "make should have built the learner's venv with the python3 on their PATH (Debian's own)"
    exercise = project / "exercises/03-first-image"
    for solved in (project / "solutions/03-first-image").iterdir():
        shutil.copy2(solved, exercise / solved.name)
    subprocess.run(["chown", "-R", f"{learner}:{learner}", str(exercise)], check=True)
    home = pwd.getpwnam(learner).pw_dir
    result = subprocess.run(
        ["runuser", "-u", learner, "--", "env", f"HOME={home}", "PATH=/usr/local/bin:/usr/bin:/bin",
         ".venv/bin/dockyard", "check", "03-first-image"],
        cwd=project, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    first = result.stdout.splitlines()[0].split()
    score, max_score = first[1].split("/")
    assert first[0] == "03-first-image" and score == max_score != "0", result.stdout
    assert "All checks pass" in result.stdout
