"""Small helpers notebooks 06–11 need on top of `dockyard.notebook`: a labelled lab bench.

A `Lab` is one notebook's bench: the labels every resource it makes carries
(`dockyard.run=notebook-<name>`, `dockyard.exercise=<name>`, `dockyard.owner=<host>:<kernel pid>`,
so `dockyard clean` sweeps them once the kernel is gone), a scratch folder, `docker compose`
with those labels added through an override file the learner never has to write, and one
`cleanup()` for the notebook's last cell.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from dockyard import engine
from dockyard import notebook as nb
from dockyard.course import exercises
from dockyard.engine.labels import RUN_LABEL
from dockyard.polling import wait_until

DOCKER_BUILDKIT_CLI = "/usr/bin/docker"  # Debian's 20.10 client: BuildKit without buildx


class Lab:
    """One notebook's labelled resources, scratch folder and cleanup."""

    def __init__(self, notebook: str, images: tuple[str, ...] = ("python:3.11-slim",)):
        self.notebook = notebook
        self.run_id = f"notebook-{notebook}"
        self.client = engine.client()
        self.labels = nb.labels(notebook)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"dockyard-{notebook}-"))
        self._projects: list[tuple[str, Path]] = []
        self.require_images(images)

    def require_images(self, images) -> None:
        """Fail early, with the fix, when a base image is missing (the engine would otherwise try a registry)."""
        import docker.errors

        missing = []
        for image in images:
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                missing.append(image)
        if missing:
            raise RuntimeError(f"base image(s) missing: {', '.join(missing)}. Run `.venv/bin/dockyard images` "
                               "(or `make lab`), which provides them without a registry, then run this cell again.")

    # -- names and flags ----------------------------------------------------------------
    @property
    def label_flags(self) -> str:
        """`--label k=v …` for `!docker run/build/network create/volume create` cells."""
        return " ".join(f"--label {shlex.quote(f'{k}={v}')}" for k, v in self.labels.items())

    def name(self, what: str) -> str:
        return f"nb{self.notebook[:2]}-{what}"

    def folder(self, name: str, files: dict[str, str]) -> Path:
        """A scratch folder holding `files` (name -> text); returns its path."""
        path = self.scratch / name
        path.mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return path

    # -- commands ---------------------------------------------------------------------------
    def sh(self, command: str, cwd: Path | None = None, env: dict | None = None, check: bool = True,
           show: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a shell command, print what it printed; raise if it fails (unless check=False)."""
        full_env = {**os.environ, **(env or {})}
        result = subprocess.run(command, shell=True, cwd=cwd or self.scratch, env=full_env, text=True,
                                capture_output=True, timeout=timeout, errors="replace")
        if show:
            output = (result.stdout + result.stderr).rstrip()
            if output:
                print(output)
        if check and result.returncode != 0:
            raise RuntimeError(f"`{command}` exited with {result.returncode}")
        return result

    def build(self, folder: Path, tag: str, *, buildkit: bool = False, extra: str = "", show: bool = True):
        """`docker build` with the lab's labels (BuildKit through Debian's 20.10 client when asked)."""
        if buildkit:
            command = f"DOCKER_BUILDKIT=1 {DOCKER_BUILDKIT_CLI} build --progress=plain"
        else:
            command = f"DOCKER_BUILDKIT=0 {DOCKER_BUILDKIT_CLI} build -q"
        return self.sh(f"{command} {self.label_flags} {extra} -t {tag} .", cwd=folder, show=show)

    # -- compose ----------------------------------------------------------------------------
    def compose(self, args: str, folder: Path, project: str | None = None, files: tuple[str, ...] = (),
                check: bool = True, show: bool = True, env: dict | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
        """`docker compose <args>` in `folder`, every service/network/volume/image labelled for cleanup.

        The labels come in through one extra override file (`-f`), written from the project's own
        `docker compose config`; the learner's compose files are left as they are.
        """
        project = project or self.name(folder.name)
        file_flags = " ".join(f"-f {shlex.quote(f)}" for f in files)
        base = f"docker compose -p {project} {file_flags}".rstrip()
        override = self._label_override(folder, base, env)
        if (project, folder) not in self._projects:
            self._projects.append((project, folder))
        if not files:
            # compose only reads compose.override.yaml by itself when no -f is given: keep that behaviour
            default = next((n for n in ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
                            if (folder / n).is_file()), "compose.yaml")
            extra = [default] + [n for n in ("compose.override.yaml", "compose.override.yml",
                                             "docker-compose.override.yml", "docker-compose.override.yaml")
                                 if (folder / n).is_file()][:1]
            file_flags = " ".join(f"-f {n}" for n in extra)
        command = f"docker compose -p {project} {file_flags} -f {override} {args}"
        if show:
            print(f"$ docker compose {args}")
        env = {**(env or {}), "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
        return self.sh(command, cwd=folder, env=env, check=check, show=show, timeout=timeout)

    def _label_override(self, folder: Path, base: str, env: dict | None) -> str:
        full_env = {**os.environ, **(env or {})}
        profiles = "COMPOSE_PROFILES" in full_env
        argv = [*shlex.split(base), "config", "--format", "json"]
        result = subprocess.run(argv + ([] if profiles else ["--profile", "*"]),
                                cwd=folder, env=full_env, capture_output=True, text=True)
        if result.returncode != 0:  # compose without `--profile '*'`: try plainly
            result = subprocess.run(argv, cwd=folder, env=full_env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"`docker compose config` failed:\n{result.stderr}")
        model = json.loads(result.stdout)
        override: dict = {"services": {}, "networks": {}, "volumes": {}}
        for name, service in (model.get("services") or {}).items():
            entry: dict = {"labels": dict(self.labels)}
            if service.get("build"):
                entry["build"] = {"labels": dict(self.labels)}
            override["services"][name] = entry
        for name, network in (model.get("networks") or {}).items():
            if not network.get("external"):
                override["networks"][name] = {"labels": dict(self.labels)}
        for name, volume in (model.get("volumes") or {}).items():
            if not volume.get("external"):
                override["volumes"][name] = {"labels": dict(self.labels)}
        override = {key: value for key, value in override.items() if value}
        path = self.scratch / f".labels-{abs(hash(str(folder)))}.json"
        path.write_text(json.dumps(override, indent=1))
        return str(path)

    # -- inspection helpers ---------------------------------------------------------------
    def containers(self, all: bool = True):
        return self.client.containers.list(all=all, filters={"label": f"{RUN_LABEL}={self.run_id}"})

    def host_port(self, container, port: int = 8000) -> int:
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
        return int(bindings[0]["HostPort"])

    def wait_http(self, url: str, timeout: float = 60, expect: str | None = None) -> str:
        """GET `url` (on 127.0.0.1) until it answers; returns the body."""
        last = ""

        def get() -> str | None:
            nonlocal last
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read().decode()
                    if expect is None or expect in body:
                        return body
                    last = body
            except Exception as exc:  # not up yet
                last = str(exc)
            return None

        answer = wait_until(get, timeout, 0.3)
        if answer is None:
            raise TimeoutError(f"{url} did not answer in {timeout:.0f} s (last: {last[:200]})")
        return answer

    def wait_healthy(self, container, timeout: float = 60) -> float:
        """Seconds until the container's healthcheck says healthy."""
        start = time.monotonic()

        def healthy() -> bool:
            container.reload()
            status = container.attrs["State"].get("Health", {}).get("Status")
            if status == "unhealthy":
                raise RuntimeError("the container turned unhealthy")
            return status == "healthy"

        if not wait_until(healthy, timeout, 0.25):
            raise TimeoutError("not healthy in time")
        return time.monotonic() - start

    # -- cleanup ------------------------------------------------------------------------------
    def cleanup(self) -> int:
        """Remove every resource this notebook made (compose projects first, then `dockyard.notebook.cleanup`)."""
        for project, folder in reversed(self._projects):
            if folder.exists():
                subprocess.run(["docker", "compose", "-p", project, "down", "-v", "--remove-orphans", "--timeout", "2"],
                               cwd=folder, capture_output=True, text=True)
        nb.cleanup(self.notebook)  # every image with this notebook's run label too (stand-in based or not)
        shutil.rmtree(self.scratch, ignore_errors=True)
        left = nb.leftovers(self.notebook)
        print("left behind:", left)
        return left


def exercise_folder(exercise_id: str, notebook: str) -> Path:
    """The task (README) and the learner's folder, or (DOCKYARD_SOLUTIONS=1) the reference solution in a temp copy."""
    from IPython.display import Markdown, display

    exercise = exercises.load(exercise_id)
    if exercise.readme.is_file():
        display(Markdown(exercise.readme.read_text()))
    folder = nb.exercise_folder(exercise_id, notebook)
    if not nb.solutions_mode():
        for name in exercise.learner_files:
            nb.open_in_lab(Path(folder) / name)
    return folder


def quiz(notebook: str, questions: list[dict]):
    """Several `dockyard.notebook.quiz` questions in one cell (see `dockyard.notebook.questions` for the keys)."""
    return nb.quizzes(notebook, questions)
