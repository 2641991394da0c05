"""Small helpers every course notebook imports: `from dockyard import notebook as nb`.

Everything a notebook creates carries three labels (see `labels`): `dockyard.run=notebook-<name>`
(so the notebook's last cell, `cleanup`, finds it), `dockyard.exercise=<name>`, and
`dockyard.owner=<host>:<kernel pid>` (so `dockyard clean` sweeps it once the kernel is gone).

ipywidgets and matplotlib are imported only inside the helpers that draw, so this module
imports cheaply (and in tests without a front end).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from dockyard import engine
from dockyard.course import exercises
from dockyard.engine import gc
from dockyard.engine.labels import EXERCISE_LABEL, RUN_LABEL, owner_labels
from dockyard.errors import DockyardError
from dockyard.polling import wait_until
from dockyard.sandbox.build import BuildResult, build_image

SOLUTIONS_ENV = "DOCKYARD_SOLUTIONS"  # "1": exercise cells lay the reference solution over a temp copy
AUTOCHECK_ENV = "DOCKYARD_AUTOCHECK"  # "1": Check widgets grade at once (headless runs), no click needed

_scratch_dirs: dict[str, list[Path]] = {}
_benches: dict[str, Path] = {}  # notebook -> its folder of named scratch folders (`folder`)
_built_layers: dict[str, list[str]] = {}


# -- identity -----------------------------------------------------------------------------
def run_id(notebook: str) -> str:
    return f"notebook-{notebook}"


def labels(notebook: str) -> dict[str, str]:
    """The labels for everything `notebook` creates (pass to the SDK's `labels=`)."""
    return {RUN_LABEL: run_id(notebook), EXERCISE_LABEL: notebook, **owner_labels()}


def label_flags(notebook: str) -> str:
    """The same labels as `docker` CLI flags: `--label k=v --label …` (for `run("docker run {flags} …")`)."""
    return " ".join(f"--label {shlex.quote(f'{key}={value}')}" for key, value in labels(notebook).items())


def network(notebook: str) -> str:
    """The notebook's own labelled bridge network (created once). Containers run on it, not on the default
    bridge: it is removed with everything else by `cleanup`, and it gives containers name resolution."""
    name = f"dockyard-nb-{notebook}"
    docker_client = client()
    if not docker_client.networks.list(names=[name]):
        docker_client.networks.create(name, driver="bridge", labels=labels(notebook), check_duplicate=True)
    return name


def docker_run(notebook: str) -> str:
    """`docker run` with the notebook's labels and network: use as `run(f"{DOCKER_RUN} -d image …")`."""
    return f"docker run {label_flags(notebook)} --network {network(notebook)}"


def client():
    """The connected Docker SDK client (one per kernel)."""
    return engine.client()


def course_root() -> Path:
    return exercises.course_root()


def solutions_mode() -> bool:
    return os.environ.get(SOLUTIONS_ENV, "") not in ("", "0", "false", "no")


def require_images(images) -> None:
    """Fail early, with the fix, when a base image is missing (the engine would otherwise try a registry)."""
    import docker.errors

    missing = []
    for image in images:
        try:
            client().images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    if missing:
        raise MissingImages(missing)


# -- the docker CLI -----------------------------------------------------------------------
class CommandFailed(DockyardError, RuntimeError):
    """A command a cell ran failed: the notebook stops where it broke, with the command's own last words."""


class MissingImages(DockyardError, RuntimeError):
    def __init__(self, images: list[str]):
        super().__init__(f"base image(s) missing: {', '.join(images)}",
                         hint="run `.venv/bin/dockyard images` (or `make lab`), which provides them without a "
                              "registry, then run this cell again")
        self.images = tuple(images)


class Result(subprocess.CompletedProcess):
    """A finished command; shows nothing as a cell's value (`run` already printed its output)."""

    def _ipython_display_(self) -> None:
        pass


class Removed(dict):
    """What `cleanup` removed, by kind; shows nothing as a cell's value (`cleanup` already printed it)."""

    def _ipython_display_(self) -> None:
        pass


def run(cmd: str | list[str], timeout: float = 120, check: bool = True, quiet: bool = False,
        env: dict | None = None, cwd: str | Path | None = None, show: bool = True) -> subprocess.CompletedProcess:
    """Run a command (usually `docker …`), print what it printed, and return the result.

    `check=True` raises when it fails, so a broken step stops the notebook where it broke.
    `quiet=True` prints nothing (read `.stdout` yourself). Output is text; stderr follows stdout.
    """
    argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    if show and not quiet:
        print("$ " + shown(argv))
    full_env = dict(os.environ, **(env or {}))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env,
                              cwd=str(cwd) if cwd else None)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"")
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        if not quiet:
            print(out)
        raise CommandFailed(f"`{' '.join(argv)}` took longer than {timeout:.0f} s and was stopped") from None
    if not quiet:
        if done.stdout:
            print(done.stdout.rstrip("\n"))
        if done.stderr:
            print(done.stderr.rstrip("\n"))
    if check and done.returncode != 0:
        raise CommandFailed(f"`{' '.join(argv)}` exited with {done.returncode}: "
                            f"{(done.stderr or done.stdout).strip()[-500:]}")
    return Result(done.args, done.returncode, done.stdout, done.stderr)


def shown(argv: list[str]) -> str:
    """The command as the learner reads it: the notebook's own `--label dockyard.…` flags (there for cleanup,
    the same on every command) shown once as `--label …`."""
    words, skip = [], False
    for index, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "--label" and index + 1 < len(argv) and argv[index + 1].startswith("dockyard."):
            skip = True
            if words[-1:] != ["--label …"]:
                words.append("--label …")
            continue
        words.append(shlex.quote(word) if " " in word or not word else word)
    return " ".join(words)


def buildkit(cmd: str, **kwargs) -> subprocess.CompletedProcess:
    """`docker build …` with BuildKit: Debian's 20.10 client talks to the engine's built-in BuildKit (no buildx)."""
    binary = engine.buildkit_cli() or "docker"
    argv = shlex.split(cmd)
    if argv and argv[0] == "docker":
        argv[0] = binary
    return run(argv, env={"DOCKER_BUILDKIT": "1", **kwargs.pop("env", {})}, **kwargs)


# -- files and scratch folders ---------------------------------------------------------------
def scratch(notebook: str, what: str = "work") -> Path:
    """A fresh temporary folder, removed by `cleanup(notebook)`."""
    path = Path(tempfile.mkdtemp(prefix=f"dockyard-{notebook}-{what}-"))
    _scratch_dirs.setdefault(notebook, []).append(path)
    return path


def write_files(folder: str | Path, files: dict[str, str], show: bool = True) -> Path:
    """Write `{relative name: text}` into `folder` (created), and list what was written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if show:
        print(f"wrote {', '.join(files)} in {folder}")
    return folder


def folder(notebook: str, name: str, files: dict[str, str] | None = None) -> Path:
    """A scratch folder called exactly `name` (compose names its project after it), holding `files`;
    removed by `cleanup(notebook)`."""
    if notebook not in _benches:
        _benches[notebook] = scratch(notebook, "bench")
    return write_files(_benches[notebook] / name, files or {}, show=False)


def show_file(path: str | Path, title: str | None = None) -> None:
    path = Path(path)
    print(f"── {title or path.name} " + "─" * max(0, 60 - len(title or path.name)))
    print(path.read_text() if path.exists() else "(missing)")


# -- images -------------------------------------------------------------------------------------
def build(notebook: str, context: str | Path, tag: str, *, dockerfile: str = "Dockerfile",
          buildargs: dict | None = None, target: str | None = None, show: bool = True,
          timeout_s: float = 300):
    """Build `context` with the classic builder, labelled for `notebook`; print the steps (and which were cached).

    Returns `dockyard.sandbox.build.BuildResult` (`.steps`, `.cached_steps()`, `.duration_s`, `.image_id`).
    """
    result = build_image(client(), Path(context), tag=tag, labels=labels(notebook), dockerfile=dockerfile,
                         buildargs=buildargs, target=target, timeout_s=timeout_s)
    _built_layers.setdefault(notebook, []).extend(result.layer_ids)
    result = _Built(*(getattr(result, field.name) for field in dataclasses.fields(result)))
    if show:
        for step in result.steps:
            print(f"  step {step.number:>2}  {'CACHED ' if step.cached else '       '} {step.instruction}")
        print(f"built {tag} in {result.duration_s:.1f} s ({len(result.cached_steps())}/{len(result.steps)} steps from cache)")
    return result


def _built_class():
    class Built(BuildResult):
        """A BuildResult that shows nothing as a cell's value (`build` already printed the steps)."""

        def _ipython_display_(self) -> None:
            pass

    return Built


def _Built(*args):
    global _BUILT
    if _BUILT is None:
        _BUILT = _built_class()
    return _BUILT(*args)


_BUILT = None


def layers(image: str) -> list[tuple[str, int]]:
    """(instruction, bytes) for each history entry of `image`, oldest first."""
    entries = client().api.history(image)
    rows = []
    for entry in reversed(entries):
        created_by = entry.get("CreatedBy", "") or ""
        rows.append((_short_instruction(created_by), int(entry.get("Size", 0) or 0)))
    return rows


def _short_instruction(created_by: str) -> str:
    text = created_by.replace("/bin/sh -c #(nop) ", "").replace("/bin/sh -c ", "RUN ").strip()
    text = " ".join(text.split())
    return text


def human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def show_layers(image: str, title: str | None = None, max_label: int = 48, skip_empty: bool = False) -> None:
    """A horizontal bar chart of the layer sizes of `image` (from `docker history`), oldest at the top."""
    import matplotlib.pyplot as plt

    rows = layers(image)
    if skip_empty:
        rows = [row for row in rows if row[1] > 0]
    names = [(name[: max_label - 1] + "…") if len(name) > max_label else name for name, _ in rows]
    sizes = [size / 1e6 for _, size in rows]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.2))
    bars = ax.barh(range(len(rows)), sizes, color=["#2496ed" if s > 0 else "#c8d3dc" for s in sizes])
    ax.set_yticks(range(len(rows)), names, fontsize=8, family="monospace")
    ax.invert_yaxis()
    ax.set_xlabel("MB added by the layer")
    ax.set_title(title or f"{image}: {len(rows)} history entries, {human(sum(s for _, s in rows))} in all")
    for bar, size in zip(bars, sizes):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {size:.1f}" if size >= 0.05 else " 0",
                va="center", fontsize=7)
    fig.tight_layout()
    plt.show()


def compare_sizes(images: dict[str, str], title: str = "Image sizes"):
    """Bar chart of total image sizes: `{label: image}`."""
    import matplotlib.pyplot as plt

    sizes = {label: client().images.get(image).attrs["Size"] / 1e6 for label, image in images.items()}
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(sizes) + 1.2))
    bars = ax.barh(list(sizes), list(sizes.values()), color="#2496ed")
    ax.invert_yaxis()
    ax.set_xlabel("MB")
    ax.set_title(title)
    for bar, size in zip(bars, sizes.values()):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {size:.0f} MB", va="center", fontsize=8)
    fig.tight_layout()
    plt.show()
    return sizes


# -- containers ------------------------------------------------------------------------------
def host_port(container, container_port: int = 8000) -> int:
    """The 127.0.0.1 port the engine chose for `container_port` (published with `-p 127.0.0.1::PORT`)."""
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{container_port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in ("127.0.0.1", ""):
            return int(binding["HostPort"])
    raise RuntimeError(f"port {container_port} is not published on 127.0.0.1")


class Body(str):
    """A response body; shows nothing as a cell's value (`http_get` already printed it)."""

    def _ipython_display_(self) -> None:
        pass


def http_get(url: str, timeout_s: float = 20, show: bool = True) -> str:
    """GET a URL on 127.0.0.1, retrying while the app starts; returns (and prints) the body."""
    if not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError("the course only talks to containers through ports published on 127.0.0.1")
    last = None

    def get() -> Body | None:
        nonlocal last
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                body = response.read().decode(errors="replace")
                if show:
                    print(f"GET {url} → {response.status}: {body.strip()[:300]}")
                return Body(body)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            if show:
                print(f"GET {url} → {exc.code}: {body.strip()[:300]}")
            return Body(body)
        except (urllib.error.URLError, ConnectionError, OSError) as exc:  # not up yet
            last = exc
            return None

    answer = wait_until(get, timeout_s, 0.3)
    if answer is None:
        raise RuntimeError(f"nothing answered at {url} within {timeout_s:.0f} s ({last})")
    return answer


# -- compose -------------------------------------------------------------------------------------
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
COMPOSE_OVERRIDES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yml",
                     "docker-compose.override.yaml")


def compose(notebook: str, args: str | list[str], folder: str | Path, *, project: str | None = None,
            files: tuple[str, ...] = (), check: bool = True, show: bool = True, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """`docker compose <args>` in `folder`, every service, network, volume and image labelled for `notebook`.

    The labels come in through one extra override file (`-f`), written from the project's own
    `docker compose config`; the learner's compose files are left as they are. The project is named
    `nbNN-<folder name>` unless `project` says otherwise.
    """
    folder = Path(folder)
    project = project or f"nb{notebook[:2]}-{folder.name}"
    argv = shlex.split(args) if isinstance(args, str) else list(args)
    chosen = [flag for name in files for flag in ("-f", name)]
    if not files:
        # compose reads compose.override.yaml by itself only when no -f is given: keep that behaviour
        default = next((name for name in COMPOSE_FILES if (folder / name).is_file()), COMPOSE_FILES[0])
        override = next((name for name in COMPOSE_OVERRIDES if (folder / name).is_file()), None)
        chosen = ["-f", default] + (["-f", override] if override else [])
    base = [engine.compose_binary(), "-p", project, *chosen]  # the Compose v2 binary `docker compose` runs
    labelled = _label_override(notebook, folder, base, project, env)
    if show:
        print("$ docker compose " + " ".join(shlex.quote(arg) for arg in argv))
    # the classic builder, as the grader's own compose builds use (sandbox/compose.py): what Check builds
    full_env = {**(env or {}), "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
    return run([*base, "-f", str(labelled), *argv], cwd=folder, env=full_env,
               check=check, quiet=not show, show=False, timeout=timeout)


def _label_override(notebook: str, project_folder: Path, base: list[str], project: str, env: dict | None) -> Path:
    """An override file giving every service, build, network and volume of the project `notebook`'s labels."""
    full_env = {**os.environ, **(env or {})}
    argv = [*base, "config", "--format", "json"]
    every_profile = [] if "COMPOSE_PROFILES" in full_env else ["--profile", "*"]
    result = subprocess.run(argv + every_profile, cwd=project_folder, env=full_env, capture_output=True, text=True)
    if result.returncode != 0 and every_profile:  # a compose without `--profile '*'`: try plainly
        result = subprocess.run(argv, cwd=project_folder, env=full_env, capture_output=True, text=True)
    if result.returncode != 0:
        raise CommandFailed(f"`docker compose config` failed in {project_folder}: {result.stderr.strip()[-500:]}")
    model = json.loads(result.stdout)
    marks = labels(notebook)
    override: dict = {"services": {}, "networks": {}, "volumes": {}}
    for name, service in (model.get("services") or {}).items():
        override["services"][name] = {"labels": dict(marks), **({"build": {"labels": dict(marks)}}
                                                                 if service.get("build") else {})}
    for kind in ("networks", "volumes"):
        for name, entry in (model.get(kind) or {}).items():
            if not (entry or {}).get("external"):
                override[kind][name] = {"labels": dict(marks)}
    path = folder(notebook, ".labels") / f"{project}.json"  # ours: the learner's folder stays as it is
    path.write_text(json.dumps({key: value for key, value in override.items() if value}, indent=1))
    return path


def containers(notebook: str, all: bool = True):
    """The containers `notebook` made (compose's included), as SDK objects."""
    return client().containers.list(all=all, filters={"label": f"{RUN_LABEL}={run_id(notebook)}"})


def wait_healthy(container, timeout: float = 60) -> float:
    """Seconds until the container's HEALTHCHECK says healthy (raises when it turns unhealthy or times out)."""
    start = time.monotonic()

    def healthy() -> bool:
        container.reload()
        status = (container.attrs["State"].get("Health") or {}).get("Status")
        if status == "unhealthy":
            raise CommandFailed(f"{container.name} turned unhealthy")
        return status == "healthy"

    if not wait_until(healthy, timeout, 0.25):
        raise CommandFailed(f"{container.name} was not healthy within {timeout:.0f} s")
    return time.monotonic() - start


# -- exercises ----------------------------------------------------------------------------------
def exercise_folder(exercise_id: str, notebook: str | None = None, show: bool = True, readme: bool = False) -> Path:
    """The folder the Check grades: the learner's `exercises/<id>/`, or (DOCKYARD_SOLUTIONS=1) the reference
    solution laid over a temporary copy of it. Prints the task's files so the learner sees what to edit;
    `readme=True` shows the task itself (the exercise's README) and links that open its files in the editor."""
    exercise = exercises.load(exercise_id)
    if readme and exercise.readme.is_file():
        from IPython.display import Markdown, display

        display(Markdown(exercise.readme.read_text()))
    if solutions_mode():
        destination = scratch(notebook or exercise_id, "solution") / exercise_id
        folder = exercises.materialize(exercise, exercise.solution, destination)
        note = "DOCKYARD_SOLUTIONS=1: the reference solution, in a temporary copy"
    else:
        folder = exercise.folder
        note = "your folder: edit the files here (in JupyterLab's file browser, or any editor)"
    if show:
        print(f"{exercise.id}: {exercise.title}\n{note}\n  {folder}")
        for name in exercise.learner_files:
            path = folder / name
            print()
            show_file(path, f"{name} (you write this)")
    if readme and not solutions_mode():
        for name in exercise.learner_files:
            open_in_lab(Path(folder) / name)
    return folder


def open_in_lab(path: str | Path) -> None:
    """Offer a link that opens a file in JupyterLab (relative to the notebooks/ folder)."""
    from IPython.display import Markdown, display

    path = Path(path).resolve()
    try:
        relative = os.path.relpath(path, Path.cwd())
    except ValueError:
        relative = str(path)
    display(Markdown(f"Open [{path.name}]({relative}) in the editor"))


def check(exercise_id: str, folder: str | Path):
    """The Check widget (a button that grades `folder` and shows the rubric)."""
    from dockyard.notebook.widgets import check_widget

    return check_widget(exercise_id, folder)


# -- quiz -----------------------------------------------------------------------------------------
def quiz(notebook: str, id: str, question: str, options: list[str], answer: int | str, why: str, *,
         wrong: dict[str, str] | None = None, predict: bool = False):
    """A multiple-choice question: `answer` is the right option (its text, or its index in `options`).

    The options appear in this learner's own order; a wrong first answer says why (from `wrong`, option -> reason)
    and may be retried; `predict=True` asks for a prediction the cells below settle. Answers go to
    `<notebook>.answers.json` beside the notebook (see dockyard.notebook.questions).
    """
    return quizzes(notebook, [{"id": id, "q": question, "options": options, "answer": answer, "why": why,
                               "wrong": wrong, "predict": predict}])


def quizzes(notebook: str, questions: list[dict]):
    """Several questions in one cell. Each: {"id", "q", "options", "answer", "why"} and optional "wrong", "predict"."""
    from dockyard.notebook.questions import Question, QuizError
    from dockyard.notebook.widgets import QuizCell

    made = []
    for number, q in enumerate(questions, 1):
        missing = [key for key in ("id", "q", "options", "answer", "why") if key not in q]
        if missing:
            raise QuizError(f"question {number} of {notebook}'s quiz lacks {', '.join(missing)}")
        made.append(Question.make(notebook, q["id"], q["q"], q["options"], q["answer"], q["why"],
                                  wrong=q.get("wrong"), predict=bool(q.get("predict"))))
    return QuizCell(made)


# -- cleanup -------------------------------------------------------------------------------------
def cleanup(notebook: str, quiet: bool = False) -> Removed:
    """Remove every container, network, volume and image labelled for `notebook`, and its scratch folders."""
    docker_client = client()
    flt = {"label": f"{RUN_LABEL}={run_id(notebook)}"}
    removed = Removed(container=[], network=[], volume=[], image=[])
    for container in docker_client.containers.list(all=True, filters=flt):
        try:
            container.remove(force=True, v=True)
            removed["container"].append(container.name)
        except Exception as exc:
            if not gc.gone(exc):  # removed meanwhile (by a sweep, or with its container): done
                raise
    for network in docker_client.networks.list(filters=flt):
        gc.retry(network.remove, pause_s=0.3, reraise=True)
        removed["network"].append(network.name)
    for volume in docker_client.volumes.list(filters=flt):
        gc.retry(lambda: volume.remove(force=True), pause_s=0.3, reraise=True)
        removed["volume"].append(volume.name)
    images = docker_client.images.list(filters=flt)
    # Only images carrying this notebook's run label come here. (Images built FROM a course stand-in inherit its
    # `dockyard.standin` label, so that label cannot tell a base image from ours; the run label can.)
    for image in sorted(images, key=lambda i: -len(i.tags)):  # tagged first; untagged parents go with them
        try:
            docker_client.images.remove(image.id, force=True, noprune=False)
            removed["image"].append(image.tags[0] if image.tags else image.short_id)
        except Exception as exc:
            if not gc.gone(exc):  # removed meanwhile (by a sweep, or with its container): done
                raise
    for layer in reversed(_built_layers.pop(notebook, [])):  # untagged stage images of multi-stage builds
        try:
            if not docker_client.images.get(layer).tags:
                docker_client.images.remove(layer, noprune=False)
        except Exception:
            pass
    for path in _scratch_dirs.pop(notebook, []):
        shutil.rmtree(path, ignore_errors=True)
    _benches.pop(notebook, None)
    if not quiet:
        if any(removed.values()):
            for kind, names in removed.items():
                if names:
                    print(f"removed {len(names)} {kind}(s): {', '.join(names)}")
        else:
            print("nothing to remove")
    return removed


def leftovers(notebook: str) -> int:
    """How many resources labelled for `notebook` exist now."""
    return sum(gc.leftovers(run_ids=[run_id(notebook)]).values())
