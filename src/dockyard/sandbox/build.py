"""Build an image from a context folder with the classic builder, bounded in time, output and disk.

The SDK's `images.build` returns a one-shot generator and cannot be stopped; we stream
the engine's JSON ourselves in a reader thread so that a build that runs too long or
prints too much can be cut off by closing the connection (the engine then cancels the
build and removes its intermediate containers: `forcerm`). A RUN step that writes more than the
disk bound to its layer is cut off the same way (measured like a container's, `sandbox/watchdog.py`).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.baseimages import recipes
from dockyard.baseimages.official import KNOWN_DIFFERENCES
from dockyard.errors import BaseImageMissing, BuildFailed, BuildTimedOut, ContextRefused, EngineLost, RefusalKind
from dockyard.polling import wait_until
from dockyard.sandbox.context import check_context, dockerignore_patterns
from dockyard.sandbox.watchdog import tree_size
from dockyard.static import remote

STEP_LINE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
LAYER_ID = re.compile(r"^ ---> ([0-9a-f]{12})$")
STEP_CONTAINER = re.compile(r"^ ---> Running in ([0-9a-f]{12})$")


@dataclass(frozen=True)
class BuildStep:
    number: int
    instruction: str
    cached: bool
    seconds: float = 0.0  # from this step's line in the build output to the next step's (a cached step: ~0)
    image_id: str | None = None  # short id of the image this step made (a FROM: the base's)
    # What the step added (a FROM: the base image's whole size), from the image history; None if unknown.
    size_bytes: int | None = None
    in_final_image: bool = True  # False for the steps of an earlier stage the final image does not start from


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tag: str
    steps: tuple[BuildStep, ...]
    log_tail: tuple[str, ...]
    duration_s: float
    layer_ids: tuple[str, ...] = field(default=(), repr=False)  # every step's image, for cleanup
    size_bytes: int | None = None  # the final image's size, from its history; None if unknown

    def cached_steps(self) -> list[BuildStep]:
        return [step for step in self.steps if step.cached]

    def step_matching(self, pattern: str) -> BuildStep | None:
        """The first step whose instruction matches `pattern` (a regex, case-insensitive)."""
        regex = re.compile(pattern, re.IGNORECASE)
        return next((step for step in self.steps if regex.search(step.instruction)), None)


FROM_LINE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)


def refuse_grader_bases(docker_client, dockerfile: Path) -> None:
    """A learner's image may not start FROM another run's image (the grader's own, or a classmate's)."""
    try:
        text = dockerfile.read_text(errors="replace")
    except OSError:
        return
    stages: set[str] = set()
    for base, alias in FROM_LINE.findall(text):
        if base.lower() in stages:
            pass
        elif base.lower().startswith(("dockyard/", "dockyard-")):
            raise ContextRefused(str(dockerfile), f"`FROM {base}` uses one of the grader's own images; start from a public base image",
                                  RefusalKind.GRADER_BASE)
        else:
            try:
                labels = docker_client.images.get(base).labels or {}
            except Exception:
                labels = {}
            if "dockyard.run" in labels:
                raise ContextRefused(str(dockerfile), f"`FROM {base}` uses an image another grading made; start from a public base image",
                                  RefusalKind.GRADER_BASE)
        if alias:
            stages.add(alias.lower())


def refuse_remote_sources(dockerfile: Path) -> None:
    """`ADD <url>`, `ADD <git repo>`, `RUN --network=host`, `--mount=type=ssh`: never built (static/remote.py)."""
    remote.enforce(dockerfile)


def _context_tar(context: Path, dockerfile: str):
    from docker.utils.build import tar

    return tar(str(context), exclude=dockerignore_patterns(context), dockerfile=(dockerfile, None), gzip=False)


def build_image(
    docker_client,
    context: Path,
    *,
    tag: str,
    labels: dict[str, str],
    dockerfile: str = "Dockerfile",
    buildargs: dict[str, str] | None = None,
    target: str | None = None,
    timeout_s: float = 300,
    memory: str | None = None,
    max_log_bytes: int = 16 * 2**20,
    tail_lines: int = 200,
    context_max_bytes: int = 50 * 2**20,
    context_max_files: int | None = None,
    network_mode: str | None = None,
    disk_max_bytes: int | None = None,
    cache_from: tuple[str, ...] = (),
) -> BuildResult:
    context = Path(context)
    if not (context / dockerfile).is_file():
        raise BuildFailed(f"no {dockerfile} in the submission", [])
    check_context(context, context_max_bytes, dockerfile, context_max_files)
    refuse_grader_bases(docker_client, context / dockerfile)
    refuse_remote_sources(context / dockerfile)
    api = docker_client.api
    params = {
        "t": tag,
        "dockerfile": dockerfile,
        "rm": True,
        "forcerm": True,
        "pull": False,
        "labels": json.dumps(labels),
        "buildargs": json.dumps(buildargs or {}),
    }
    if target:
        params["target"] = target
    if cache_from:
        # The classic builder's local cache takes the newest matching child of a step: two gradings building
        # the same steps at once make two chains, and a rebuild could step onto the other's half-built one
        # (a RUN not committed yet looks uncached). Cache from one build's step images (every stage's, not only
        # the final image's chain) follows that build only.
        params["cachefrom"] = json.dumps(list(cache_from))
    if network_mode:  # the network RUN steps run on (the sandbox's build network)
        params["networkmode"] = network_mode
    if memory:
        from docker.utils import parse_bytes

        params["memory"] = parse_bytes(memory)
        params["memswap"] = parse_bytes(memory)
    started = time.monotonic()
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    steps: list[BuildStep] = []
    step_started: list[float] = []  # when each step's line came (monotonic): the steps' times
    layer_ids: list[str] = []
    step_containers: list[str] = []  # short ids of the containers RUN steps ran in, in order
    outcome: dict = {"error": None, "image_id": None, "overflow": False, "disk": False, "exception": None,
                     "ended": None}

    with _context_tar(context, dockerfile) as fileobj:
        try:
            response = api._post(  # low-level on purpose: we need the response to close it
                api._url("/build"), data=fileobj, params=params,
                headers={"Content-Type": "application/tar"}, stream=True, timeout=None,
            )
            api._raise_for_status(response)
        except Exception as exc:
            raise _classify(exc, tag) from None

        def read_stream() -> None:
            printed = 0
            try:
                for chunk in api._stream_helper(response, decode=True):
                    if "error" in chunk:
                        outcome["error"] = str(chunk.get("error", "")).strip()
                        tail.append(outcome["error"])
                    if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                        outcome["image_id"] = chunk["aux"]["ID"]
                    text = chunk.get("stream")
                    if not text:
                        continue
                    printed += len(text)
                    if printed > max_log_bytes:
                        outcome["overflow"] = True
                        return
                    for line in text.splitlines():
                        _note_line(line, steps, layer_ids, step_containers)
                        if len(steps) > len(step_started):
                            step_started.append(time.monotonic())
                        tail.append(line[:500])
            except Exception as exc:  # the connection closed under us (timeout, overflow, engine gone)
                outcome["exception"] = exc
            finally:
                outcome["ended"] = time.monotonic()

        reader = threading.Thread(target=read_stream, name=f"build-{tag}", daemon=True)
        reader.start()
        watch = _StepDiskWatch(api, disk_max_bytes) if disk_max_bytes else None
        deadline = time.monotonic() + timeout_s
        while reader.is_alive() and time.monotonic() < deadline:
            reader.join(min(1.0, max(0.0, deadline - time.monotonic())))
            if watch is not None and reader.is_alive() and step_containers and watch.over(step_containers[-1]):
                outcome["disk"] = True
                break
        timed_out = reader.is_alive() and not outcome["disk"]
        if timed_out or outcome["overflow"] or outcome["disk"]:
            _abort(response)  # the engine sees the client leave and cancels the build
            reader.join(10)
            response.close()
    duration = time.monotonic() - started
    log_tail = tuple(tail)
    # the steps so far, timed (a stopped reader may still hold the list): what the picture of a failure shows
    seen = without_label_steps(timed_steps(list(steps), list(step_started)[:len(steps)],
                                           outcome["ended"] or time.monotonic()), labels)
    so_far = {"steps": seen, "seconds": round(duration, 2)}
    if timed_out:
        raise BuildTimedOut(f"the build took longer than {timeout_s:.0f} s and was stopped", list(log_tail),
                            step=steps[-1].instruction if steps else None, **so_far)
    if outcome["disk"]:
        raise BuildFailed(f"a build step wrote more than {disk_max_bytes // 2**20} MiB to its disk and the build was "
                          "stopped", list(log_tail), step=steps[-1].instruction if steps else None, **so_far)
    if outcome["overflow"]:
        raise BuildFailed(f"the build printed more than {max_log_bytes // 2**20} MiB and was stopped", list(log_tail),
                          step=steps[-1].instruction if steps else None, **so_far)
    if outcome["exception"] is not None:
        raise _classify(outcome["exception"], tag) from None
    if outcome["error"]:
        failing = steps[-1].instruction if steps else None
        if "code: 137" in outcome["error"] or "context canceled" in outcome["error"]:
            # a restarting engine kills the step it runs
            _raise_if_engine_went_away(docker_client, tag, step_containers[-1] if step_containers else None,
                                       since=time.time() - duration)
        missing = course_base_missing(outcome["error"], failing)
        if missing:  # the engine lacks one of the course's own images: set-up trouble, graded again
            raise BaseImageMissing(missing)
        raise BuildFailed(explain_build_error(outcome["error"], failing), list(log_tail), step=failing, **so_far)
    image_id = outcome["image_id"]
    if not image_id:
        try:
            image_id = docker_client.images.get(tag).id
        except Exception:
            raise BuildFailed("the build ended without producing an image", list(log_tail)) from None
    sized, size = with_sizes(api, image_id, seen)
    return BuildResult(image_id, tag, sized, log_tail, duration, tuple(layer_ids), size)


def without_label_steps(steps: tuple[BuildStep, ...], labels: dict[str, str]) -> tuple[BuildStep, ...]:
    """The learner's steps: the engine adds one `LABEL key=value` step per label we asked for at the end of
    the build (never cached: the run's id is in them), and they are ours, not the learner's."""
    kept = list(steps)
    while kept and _is_label_step(kept[-1].instruction, labels):
        kept.pop()
    return tuple(kept)


def _is_label_step(instruction: str, labels: dict[str, str]) -> bool:
    keyword, _, rest = instruction.partition(" ")
    key, equals, value = rest.strip().partition("=")
    return keyword.upper() == "LABEL" and bool(equals) and labels.get(key) == value.strip().strip('"')


def timed_steps(steps: list[BuildStep], started: list[float], ended: float) -> tuple[BuildStep, ...]:
    """Each step's time: from its line in the output to the next step's line (the last: to the end)."""
    ends = [*started[1:], ended]
    return tuple(dataclasses.replace(step, seconds=round(max(0.0, ends[i] - started[i]), 2)) if i < len(started)
                 else step for i, step in enumerate(steps))


def with_sizes(api, image_id: str, steps: tuple[BuildStep, ...]) -> tuple[tuple[BuildStep, ...], int | None]:
    """The steps with the size each added, and the image's size, read from the image history (`docker
    history`): one engine call per build stage. The picture is a courtesy: when the engine will not say,
    the sizes stay unknown (None) and the build's outcome is the same."""
    histories: dict[str, list[dict]] = {}
    for last in _stage_ends(steps):
        try:
            histories[last] = api.history(last)
        except Exception:
            histories[last] = []
    try:
        final = api.history(image_id)
    except Exception:
        return steps, None
    return step_sizes(steps, final, histories), sum(int(entry.get("Size") or 0) for entry in final)


def _stage_ends(steps) -> list[str]:
    """The image of the last step of every stage but the last (the final image's history covers the last)."""
    ends, current = [], None
    for step in steps:
        if step.instruction.upper().startswith("FROM") and current:
            ends.append(current)
        current = step.image_id or current
    return ends


def step_sizes(steps, final: list[dict], stages: dict[str, list[dict]]) -> tuple[BuildStep, ...]:
    """Match each step's image to its entry in a history (newest first; `Id` is `sha256:<id>` for an image
    this engine has, `<missing>` for a layer pulled with its base): a step's size is its entry's, a FROM's the
    sum of its base's entries (the whole base image). A step of an earlier stage is not `in_final_image`."""
    final_ids = [_short(entry.get("Id")) for entry in final]
    sized = []
    history = final
    for index, step in enumerate(steps):
        if step.instruction.upper().startswith("FROM"):  # the stage's history: its last step's image's
            history = next((stages[step_id] for step_id in _stage_images(steps, index) if step_id in stages), final)
        ids = [_short(entry.get("Id")) for entry in history]
        size = None
        if step.image_id and step.image_id in ids:
            at = ids.index(step.image_id)
            entries = history[at:] if step.instruction.upper().startswith("FROM") else history[at:at + 1]
            size = sum(int(entry.get("Size") or 0) for entry in entries)
        elif FROM_SCRATCH.match(step.instruction):
            size = 0  # the empty image: no id to look up, nothing in it
        # a step whose image we did not see is taken to be in the final image (not dimmed on a guess)
        in_final = step.image_id in final_ids if step.image_id else True
        sized.append(dataclasses.replace(step, size_bytes=size, in_final_image=in_final))
    return tuple(sized)


FROM_SCRATCH = re.compile(r"^FROM\s+(--\S+\s+)*scratch(\s|$)", re.IGNORECASE)


def _stage_images(steps, start: int) -> list[str]:
    """The images of the stage that begins at steps[start], last first."""
    images = []
    for index in range(start, len(steps)):
        if index > start and steps[index].instruction.upper().startswith("FROM"):
            break
        if steps[index].image_id:
            images.append(steps[index].image_id)
    return images[::-1]


def _short(image_id) -> str:
    return str(image_id or "").removeprefix("sha256:")[:12]


class _StepDiskWatch:
    """What the running RUN step has written (its container's writable layer), measured as the sandbox's disk
    watchdog measures a container's: where the engine's data root is visible from here, else nothing."""

    def __init__(self, api, max_bytes: int, interval_s: float = 1.0):
        self.api, self.max_bytes, self.interval_s = api, max_bytes, interval_s
        self._upper: dict[str, str | None] = {}
        self._last = 0.0

    def over(self, container_id: str) -> bool:
        if time.monotonic() - self._last < self.interval_s:
            return False
        self._last = time.monotonic()
        if container_id not in self._upper:
            try:
                data = (self.api.inspect_container(container_id).get("GraphDriver") or {}).get("Data") or {}
            except Exception:  # the step ended (and its container was removed) meanwhile
                return False
            upper = data.get("UpperDir")
            self._upper[container_id] = upper if upper and os.path.isdir(upper) else None
        upper = self._upper[container_id]
        return upper is not None and tree_size(upper, self.max_bytes + 1) > self.max_bytes


def _raise_if_engine_went_away(docker_client, tag: str, step_container: str | None, since: float,
                               watch_s: float = 8.0) -> None:
    """A step killed (137) is the learner's (out of memory, or its own `kill -9`) or the engine's (a daemon
    shutting down kills what it runs); the second must be retried, not scored. The engine's events tell
    which: the learner's OOM is an `oom` event of the step's container, the engine's kill a `kill` event
    (nothing inside a container makes one), and a restarted engine has no events of that step at all."""
    if step_container:
        try:
            events = docker_client.api.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                                              filters={"type": "container"})
            actions = {event.get("Action") or event.get("status") for event in events
                       if str(event.get("id", "")).startswith(step_container)}
        except Exception:
            raise EngineLost(f"the Docker engine stopped (or restarted) while building {tag}") from None
        if "oom" in actions or (actions and "kill" not in actions):
            return  # the learner's doing
        raise EngineLost(f"the Docker engine stopped (or restarted) while building {tag}")
    # no step container seen (nothing to ask the events about): a stopping engine stops answering soon
    def still_answers() -> None:
        try:
            docker_client.ping()
        except Exception:
            raise EngineLost(f"the Docker engine stopped (or restarted) while building {tag}") from None

    wait_until(still_answers, watch_s, 0.15)  # never "answers": it watches for watch_s, or raises


def _abort(response) -> None:
    """Shut the build's socket down under the reader thread (`close()` would wait for the reader's lock)."""
    raw = getattr(getattr(getattr(response.raw, "_fp", None), "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None) or getattr(raw, "sock", None) or raw
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        response.close()


def _note_line(line: str, steps: list[BuildStep], layer_ids: list[str], step_containers: list[str]) -> None:
    match = STEP_LINE.match(line)
    if match:
        steps.append(BuildStep(int(match.group(1)), match.group(3), cached=False))
        return
    if line.strip() == "---> Using cache" and steps:
        steps[-1] = dataclasses.replace(steps[-1], cached=True)
        return
    match = LAYER_ID.match(line)
    if match:
        layer_ids.append(match.group(1))
        if steps:  # the last image a step's lines name is the one it made (ONBUILD triggers make several)
            steps[-1] = dataclasses.replace(steps[-1], image_id=match.group(1))
        return
    match = STEP_CONTAINER.match(line)
    if match:
        step_containers.append(match.group(1))


PULL_FAILURES = ("pull access denied", "repository does not exist", "manifest unknown", "no such host",
                 "registry-1.docker.io", "i/o timeout", "connection refused", "not found: manifest")


def _from_base(step: str) -> str:
    words = step.split()[1:]
    return next((word for word in words if not word.startswith("--")), "?")


def course_base_missing(error: str, step: str | None) -> str | None:
    """The base image a FROM could not pull when it is one the course provides offline (so the engine should
    have it: `dockyard images`), else None (the learner named an image this machine does not have)."""
    first = error.splitlines()[0] if error else ""
    if not (step and step.upper().startswith("FROM") and any(marker in first for marker in PULL_FAILURES)):
        return None
    base = _from_base(step)
    if "@" in base:
        return None  # a digest pin names upstream's bytes: no offline copy has them (the learner's choice)
    repository = recipes.split_reference(base)[0]
    reference = base if ":" in base.rsplit("/", 1)[-1] else f"{base}:latest"
    return base if reference in recipes.known_tags(repository) else None


SHOWN_TAGS = 4


def explain_build_error(error: str, step: str | None) -> str:
    first = error.splitlines()[0] if error else "unknown error"
    if step and step.upper().startswith("FROM") and any(marker in first for marker in PULL_FAILURES):
        base = step.split()[1] if len(step.split()) > 1 else "?"
        if base.startswith("--"):
            base = next((word for word in step.split()[1:] if not word.startswith("--")), base)
        shown = base if ":" in base or "@" in base else f"{base} (that is, {base}:latest)"
        shown = re.sub(r"(@sha256:[0-9a-f]{12})[0-9a-f]+", r"\1…", shown)  # the digest's head says which
        repository = recipes.split_reference(base.split("@")[0])[0]
        offline = recipes.known_tags(repository)
        if "@" in base:
            pinned = f" ({KNOWN_DIFFERENCES['digests']})"
        elif repository == "python" and re.match(r"\d+\.\d+\.\d+", base.rpartition(":")[2]):
            pinned = f" ({KNOWN_DIFFERENCES['PYTHON_VERSION']})"  # python:3.11.9-slim: another patch release
        else:
            pinned = ""
        # the shortest names first and at most SHOWN_TAGS of them: the whole sentence must fit the feedback's
        # 300 characters, or its end (how to list them all) is what gets cut
        named = sorted(offline, key=len)[:SHOWN_TAGS]
        more = f" and {len(offline) - len(named)} more" if len(offline) > len(named) else ""
        use = (f"this machine has {', '.join(named)}{more}" if offline
               else "use one of the course's base images, e.g. python:3.11-slim")
        return (f"the base image {shown} is not on this machine and could not be pulled{pinned}; "
                f"{use} (`dockyard images` lists them)")
    where = f" at `{step}`" if step else ""
    return f"the build failed{where}: {first}"


def _classify(exc: Exception, tag: str) -> Exception:
    import requests

    if isinstance(exc, (requests.ConnectionError,)):
        return EngineLost(f"the Docker engine went away while building {tag}: {str(exc).splitlines()[0][:160]}")
    explanation = getattr(exc, "explanation", None)  # the engine's own words (e.g. a Dockerfile parse error)
    text = (str(explanation) if explanation else str(exc)).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return BuildFailed(f"the engine refused the build: {text}", [])
