"""Build an image with BuildKit through the Docker CLI, bounded like the classic build; and which builder to use.

The engine's built-in BuildKit (Engine 20.10) builds what the classic builder refuses: `RUN --mount=type=cache`,
`RUN --mount=type=secret`, `COPY --chmod`, `COPY --link`. It is reached through the CLI
(`DOCKER_BUILDKIT=1 docker build --progress=plain`, or `docker buildx build` where the client has buildx), run as
a process group of its own: a build that runs too long or prints too much is stopped by ending the group (the
engine then cancels the build: its step containers go with it). Facts come from the progress output
(`buildkit_progress.py`), the image id from `--iidfile`, the run's labels from `--label` (no LABEL step).

What this path lacks on Engine 20.10 (docs/builders.md): its RUN steps run on the default bridge (docker0),
not on the shared `bld…` build bridge, and under the engine's `buildkit` cgroup, not the build's memory bound.
The firewall's docker0 rules (`firewall.BUILDKIT_RULES`) give them the build bridge's network isolation, and the
cgroup guard (`buildkit_cgroups.py`) bounds each step's memory and pids while a BuildKit build of ours runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from dockyard import scratch
from dockyard.errors import BaseImageMissing, BuildFailed, BuildTimedOut, UsageError
from dockyard.sandbox.build import BuildResult, BuildStep, course_base_missing, explain_build_error
from dockyard.sandbox.buildkit_progress import PlainProgress
from dockyard.static import syntax
from dockyard.static.dockerfile import DockerfileError, DockerfileFacts, parse_dockerfile

BUILDERS = ("classic", "buildkit", "auto")
DOCKER_CLI = "/usr/bin/docker"  # Debian's client (20.10): its `build` speaks to the engine's BuildKit


# ---- which builder ----------------------------------------------------------------------------------
def choose(builder: str, dockerfile: Path) -> str:
    """"classic" or "buildkit" for this Dockerfile: `auto` takes BuildKit only where the Dockerfile needs it
    (static/syntax.py: `RUN --mount`, `COPY --chmod`); the classic path runs RUN steps on the shared build bridge."""
    if builder not in BUILDERS:
        raise UsageError(f"unknown builder {builder!r}", hint="use classic, buildkit or auto")
    if builder != "auto":
        return builder
    try:
        facts = parse_dockerfile(dockerfile)
    except DockerfileError:
        return "classic"  # the build says what is wrong, as it always has
    return syntax.resolve_builder(builder, facts)


def refuse_unsupported(dockerfile: Path, builder: str) -> None:
    """Syntax the chosen builder cannot build (a heredoc, `COPY --link`; `RUN --mount` for classic): one line at
    the learner's line (static/syntax.py), not a failed build's raw log."""
    try:
        facts = parse_dockerfile(dockerfile)
    except DockerfileError:
        return
    problems = syntax.builder_problems(facts, builder)
    if problems:
        raise BuildFailed(problems[0].message, [], step=None)


# ---- the client --------------------------------------------------------------------------------------
def has_buildx(cli: str = DOCKER_CLI) -> bool:
    """The client has the buildx plugin (Docker 23+): asked, never assumed."""
    try:
        return subprocess.run([cli, "buildx", "version"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def command(context: Path, *, tag: str, labels: dict[str, str], dockerfile: str, iidfile: Path,
            buildargs: dict[str, str] | None = None, target: str | None = None,
            secrets: dict[str, Path] | None = None, buildx: bool = False, cli: str = DOCKER_CLI) -> list[str]:
    argv = [cli, "buildx", "build", "--load"] if buildx else [cli, "build"]
    argv += ["--progress=plain", "--pull=false", "--iidfile", str(iidfile), "-t", tag, "-f", str(context / dockerfile)]
    for key, value in sorted(labels.items()):
        argv += ["--label", f"{key}={value}"]
    for key, value in sorted((buildargs or {}).items()):
        argv += ["--build-arg", f"{key}={value}"]
    for name, source in sorted((secrets or {}).items()):
        argv += ["--secret", f"id={name},src={source}"]
    if target:
        argv += ["--target", target]
    return [*argv, str(context)]


def environment(engine_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DOCKER_", "BUILDKIT_"))}
    env.update(DOCKER_BUILDKIT="1", BUILDKIT_PROGRESS="plain", DOCKER_CLI_HINTS="false")
    if engine_url:
        env["DOCKER_HOST"] = engine_url if "://" in engine_url else f"unix://{engine_url}"
    elif os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    env["DOCKER_CONFIG"] = tempfile.mkdtemp(prefix=scratch.prefix("dockercfg"))  # no learner's or user's config
    return env


def build_image(context: Path, *, tag: str, labels: dict[str, str], dockerfile: str = "Dockerfile",
                buildargs: dict[str, str] | None = None, target: str | None = None, timeout_s: float = 300,
                max_log_bytes: int = 16 * 2**20, tail_lines: int = 200, secrets: dict[str, Path] | None = None,
                engine_url: str | None = None, api=None, on_step=None) -> BuildResult:
    """Run the build; the BuildResult of the classic path, or BuildFailed / BuildTimedOut / BaseImageMissing.
    The caller has checked the context and the Dockerfile (sandbox.build does, for both builders)."""
    workdir = Path(tempfile.mkdtemp(prefix=scratch.prefix("buildkit")))
    env = environment(engine_url)
    try:
        argv = command(Path(context), tag=tag, labels=labels, dockerfile=dockerfile, iidfile=workdir / "iid",
                       buildargs=buildargs, target=target, secrets=secrets, buildx=has_buildx())
        progress = PlainProgress(tail_lines)
        outcome = _run(argv, env, progress, timeout_s, max_log_bytes, on_step)
        image_id = (workdir / "iid").read_text().strip() if (workdir / "iid").is_file() else ""
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(env["DOCKER_CONFIG"], ignore_errors=True)
    return result(progress, outcome, tag=tag, image_id=image_id, dockerfile=Path(context) / dockerfile,
                  target=target, max_log_bytes=max_log_bytes, timeout_s=timeout_s, api=api)


def _run(argv: list[str], env: dict, progress: PlainProgress, timeout_s: float, max_log_bytes: int,
         on_step=None) -> dict:
    """Run the CLI in its own process group, feeding its output to `progress`; stop the group on a bound."""
    started = time.monotonic()
    outcome = {"code": None, "overflow": False, "timed_out": False, "printed": 0}
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)

    def read() -> None:
        with process.stdout:
            for raw in process.stdout:
                outcome["printed"] += len(raw)
                if outcome["printed"] > max_log_bytes:
                    outcome["overflow"] = True
                    _stop(process)
                    return
                before = len(progress.vertices)
                progress.feed(raw.decode("utf-8", "replace"))  # a step past the engine's log limit is clipped
                if on_step is not None and len(progress.vertices) > before:
                    on_step(progress)

    reader = threading.Thread(target=read, name="buildkit-output", daemon=True)
    reader.start()
    try:
        outcome["code"] = process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        outcome["timed_out"] = True
        _stop(process)
        outcome["code"] = process.wait()
    reader.join(10)
    outcome["seconds"] = round(time.monotonic() - started, 2)
    return outcome


def _stop(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """End the CLI's process group: SIGTERM (the CLI cancels the build on the engine), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def stage_names(facts: DockerfileFacts | None) -> list[str]:
    """The names BuildKit gives the stages in its output, in Dockerfile order: the `AS` alias, else
    `stage-<index>` (a one-stage Dockerfile's steps may carry no stage name at all: `[2/4] RUN …`)."""
    if facts is None:
        return []
    return [stage.name or f"stage-{stage.index}" for stage in facts.stages]


def stage_index(facts: DockerfileFacts | None, shown: str) -> int | None:
    """Which stage a step's shown stage name (`base`, `stage-1`, or none) is."""
    if facts is None:
        return None
    if not shown:
        return 0 if len(facts.stages) == 1 else None
    for stage in facts.stages:
        if shown.lower() in (stage.name, f"stage-{stage.index}"):
            return stage.index
    return None


def _final_chain(facts: DockerfileFacts | None, target: str | None) -> set[int]:
    """The stages whose steps are in the final image: the target (or last) stage and those it starts FROM."""
    if facts is None:
        return set()
    stage = facts.stage(target) if target else facts.final_stage
    chain = set()
    while stage is not None:
        chain.add(stage.index)
        stage = stage.parent
    return chain


def result(progress: PlainProgress, outcome: dict, *, tag: str, image_id: str, dockerfile: Path,
           target: str | None, max_log_bytes: int, timeout_s: float, api=None) -> BuildResult:
    """What the build did, from its progress: a BuildResult, or the error the classic path would raise."""
    try:
        facts = parse_dockerfile(dockerfile)
    except DockerfileError:
        facts = None
    steps = _steps(progress, facts, target)
    log_tail = tuple(progress.tail)
    so_far = {"steps": steps, "seconds": outcome.get("seconds", 0.0)}
    running = progress.running
    if outcome["timed_out"]:
        raise BuildTimedOut(f"the build took longer than {timeout_s:.0f} s and was stopped", list(log_tail),
                            step=running, **so_far)
    if outcome["overflow"]:
        raise BuildFailed(f"the build printed more than {max_log_bytes // 2**20} MiB and was stopped", list(log_tail),
                          step=running, **so_far)
    if outcome["code"] != 0 or not image_id:
        error = progress.error or (log_tail[-1] if log_tail else f"the builder exited with code {outcome['code']}")
        failing = progress.failed_vertex.step[3] if progress.failed_vertex else progress.failing_step
        if failing is None:
            failing = next((step.instruction for step in steps if step.instruction.upper().startswith("FROM")
                            and "not found" in error), None)
        missing = course_base_missing(error, failing)
        if missing:
            raise BaseImageMissing(missing)
        raise BuildFailed(explain_build_error(error, failing), list(log_tail), step=failing, **so_far)
    size = None
    if api is not None:
        try:
            size = sum(int(entry.get("Size") or 0) for entry in api.history(image_id))
        except Exception:
            size = None
    return BuildResult(image_id, tag, steps, log_tail, outcome.get("seconds", 0.0), (), size)


def _steps(progress: PlainProgress, facts: DockerfileFacts | None, target: str | None) -> tuple[BuildStep, ...]:
    final = _final_chain(facts, target)
    steps = []
    seen_stages: set[int | None] = set()
    for vertex in progress.step_vertices(stage_names(facts)):
        shown, _k, _n, instruction = vertex.step
        index = stage_index(facts, shown)
        if index is not None and index not in seen_stages and not instruction.upper().startswith("FROM "):
            # BuildKit shows one FROM for stages that share a base: each stage's picture starts at its FROM
            steps.append(BuildStep(len(steps) + 1, facts.stages[index].instructions[0].text, cached=True,
                                   in_final_image=index in final if final else True))
        seen_stages.add(index)
        if instruction.upper().startswith("FROM ") and index is not None:
            instruction = facts.stages[index].instructions[0].text  # as written (BuildKit shows docker.io/…)
        steps.append(BuildStep(len(steps) + 1, instruction, cached=vertex.cached,
                               seconds=round(vertex.seconds or 0.0, 2),
                               in_final_image=index in final if final and index is not None else True))
    return tuple(steps)


def explained_kill(failed: BuildFailed, noted: str | None, limits) -> BuildFailed:
    """A step killed (`exit code: 137`) while the cgroup guard saw it at a bound: say which bound, as the classic
    build does ("a build step wrote more than … to its disk", "ran out of memory")."""
    if isinstance(failed, BuildTimedOut) or "exit code: 137" not in failed.reason or noted is None:
        return failed
    if noted == "disk":
        reason = (f"a build step wrote more than {limits.disk_max_bytes // 2**20} MiB to its disk and the build was "
                  "stopped")
    else:
        reason = (f"the build step `{failed.step}` ran out of memory (the build's bound is {limits.build_memory}) and "
                  "was stopped" if failed.step else f"a build step ran out of memory ({limits.build_memory})")
    return BuildFailed(reason, failed.log_tail, step=failed.step, steps=failed.steps, seconds=failed.seconds)
