"""What a graded Dockerfile may not ask of the grading machine, refused before the build starts.

* `ADD <url>` and `ADD <git repository>`: the engine itself fetches them, from the grading host's
  network namespace, so they reach whatever the host reaches (its loopback services, other
  learners' published apps, a cloud's metadata service at 169.254.169.254). A RUN step that
  downloads runs on the build network instead, which cannot reach the host (firewall.BUILD_RULES).
* `FROM` (or `COPY --from=`) an image on a registry at localhost or a private address: the engine
  pulls it from the host's network too.
* `RUN --network=host`, `RUN --mount=type=ssh` and `RUN --security=insecure`: never granted (the
  legacy builder ignores or rejects them; a BuildKit builder would honour them).
* More than MAX_STEPS instructions: each is a container and a layer, so hundreds of tiny steps cost the
  engine minutes and its disk a layer each; refused at the first step past the bound.

No exercise can turn these off. Each refusal names the learner's line (`Dockerfile:7: …`), says
what to do instead and where the course teaches it. Nothing is ever fetched to decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import BuildFailed
from dockyard.static.dockerfile import (DockerfileError, _parse_arg, _split_words, parse_dockerfile, parse_key_values,
                                        read_source, substitute)

BASICS = "04-dockerfile.ipynb"
LESSON = f"{BASICS}#copy-vs-add"
RUN_LESSON = f"{BASICS}#run"
FROM_LESSON = f"{BASICS}#from"
LAYERS_LESSON = "02-images-and-layers.ipynb"
MAX_STEPS = 100  # instructions of one Dockerfile, all stages together
FIX_ADD = "download it in a RUN step, or COPY a file from your folder"

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
GIT = re.compile(r"^(git@|[\w.-]+@[\w.-]+:|(github\.com|gitlab\.com|bitbucket\.org)/)", re.IGNORECASE)
SHOWN_MAX = 120
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Refusal:
    line: int  # 1-based, the learner's line
    rule: str  # "no-remote-add", "no-build-host-network", "no-build-ssh", "no-build-insecure"
    message: str  # what was found and what to do instead
    lesson: str

    def one_line(self, file: str = "Dockerfile") -> str:
        return f"{file}:{self.line}: {self.message} (see {self.lesson})"

    def __str__(self) -> str:
        return self.one_line()


class RemoteSourceRefused(BuildFailed):
    """The Dockerfile asks the engine for something of the grading host's; nothing was built."""

    def __init__(self, refusals: list[Refusal]):
        super().__init__(summary(refusals), [])
        self.refusals = refusals


def shown(instruction) -> str:
    """The instruction as the learner wrote it, on one line, printable and bounded (renderers escape it)."""
    text = " ".join(_UNPRINTABLE.sub(" ", instruction.text.split("\n", 1)[0]).split()).replace("`", "'")
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"


def is_remote(source: str) -> bool:
    source = source.strip()
    return bool(URL.match(source) or "://" in source or GIT.match(source))


def _image_references(instruction, variables: dict[str, str]) -> list[str]:
    """Image references the engine would pull for this instruction: FROM's base, COPY --from=, RUN --mount from=."""
    references = []
    if instruction.keyword == "FROM":
        words = _split_words(instruction.value)
        if words:
            references.append(substitute(words[0], variables))
    for name, value in instruction.flag_items:
        if instruction.keyword in ("COPY", "ADD") and name == "from":
            references.append(substitute(value, variables))
        elif instruction.keyword == "RUN" and name == "mount":
            match = re.search(r"(?:^|,)\s*from\s*=\s*([^,]+)", value)
            if match:
                references.append(substitute(match.group(1).strip(), variables))
    return references


def host_registry(reference: str) -> str | None:
    """The registry host of an image reference when it is this machine or a private address
    (localhost, 127.0.0.0/8, ::1, 169.254.0.0/16, RFC 1918 …), else None. Names are not resolved."""
    import ipaddress

    first, slash, _ = reference.strip().partition("/")
    if not slash or not ("." in first or ":" in first or first.lower() == "localhost"):
        return None  # `python:3.11-slim`, `org/img`, a stage name: Docker Hub or no registry at all
    host = first[1:].split("]", 1)[0] if first.startswith("[") else first.rsplit(":", 1)[0] if first.count(":") == 1 else first
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_link_local or address.is_unspecified or address.is_private:
        return host
    return None


def _is_git(source: str) -> bool:
    return bool(GIT.match(source) or source.lower().startswith("git://") or re.search(r"\.git(#|$)", source))


def _variables(facts) -> dict[str, str]:
    """Every ARG default and ENV value of the file (more than any one stage sees: a refusal errs on the safe side)."""
    variables = {key: value for key, value in facts.global_args.items() if value is not None}
    for instruction in facts.instructions:
        if instruction.keyword == "ARG":
            variables.update({k: v for k, v in _parse_arg(instruction.value).items() if v is not None})
        elif instruction.keyword == "ENV":
            variables.update(parse_key_values(instruction.value, legacy=True))
    return variables


def _sources(instruction) -> list[str]:
    """ADD's source arguments (everything but the destination); a heredoc's body is not one."""
    import json

    first_line = instruction.value.split("\n", 1)[0]
    if instruction.json_form:
        try:
            words = json.loads(instruction.value)
        except ValueError:
            words = _split_words(first_line)
    else:
        words = _split_words(first_line)
    return [word for word in words[:-1] if not word.startswith("<<")]


def _nested(instruction):
    """`ONBUILD ADD …` / `ONBUILD RUN …` as the instruction it would run, or None."""
    try:
        inner = parse_dockerfile(f"FROM scratch\n{instruction.value}\n").instructions[-1]
    except DockerfileError:
        return None
    from dataclasses import replace

    return replace(inner, line=instruction.line, raw=inner.raw)


def refusals(facts) -> list[Refusal]:
    """Every line of the Dockerfile (parsed `DockerfileFacts`) that the grader refuses to build, in line order."""
    variables = _variables(facts)
    found: list[Refusal] = []
    for instruction in facts.instructions:
        subject = instruction
        if instruction.keyword == "ONBUILD":
            subject = _nested(instruction)
            if subject is None:
                continue
        written = shown(instruction)
        for reference in _image_references(subject, variables):
            host = host_registry(reference)
            if host:
                found.append(Refusal(instruction.line, "no-host-registry", (
                    f"`{written}` asks the Docker engine to pull from a registry at {host}, which is the grading "
                    "machine itself or its private network: start from a public base image "
                    "(`dockyard images` lists the course's)"), FROM_LESSON))
        if subject.keyword == "ADD":
            remote = [source for source in _sources(subject)
                      if is_remote(source) or is_remote(substitute(source, variables))]
            if remote:
                what = "a git repository" if any(_is_git(substitute(s, variables)) for s in remote) else "a URL"
                found.append(Refusal(instruction.line, "no-remote-add", (
                    f"`{written}` asks the Docker engine to fetch {what} itself, from the grading machine's own "
                    f"network, so it is refused before building: {FIX_ADD}"), LESSON))
        elif subject.keyword == "RUN":
            for name, value in subject.flag_items:
                value = substitute(value, variables).strip().lower()
                if name == "network" and value not in ("default", "none", ""):
                    found.append(Refusal(instruction.line, "no-build-host-network", (
                        f"`{written}` asks for the `{value}` network; build steps here run on the build's own "
                        "network only: remove `--network`"), RUN_LESSON))
                elif name == "mount" and re.search(r"(^|,)\s*type\s*=\s*ssh\b", value):
                    found.append(Refusal(instruction.line, "no-build-ssh", (
                        f"`{written}` asks for the grading machine's SSH agent, which builds never get: "
                        "remove `--mount=type=ssh` and use public sources (or COPY a file from your folder)"),
                        RUN_LESSON))
                elif name == "security" and value == "insecure":
                    found.append(Refusal(instruction.line, "no-build-insecure", (
                        f"`{written}` asks for extra privileges, which builds never get: remove `--security`"),
                        RUN_LESSON))
    if len(facts.instructions) > MAX_STEPS:  # each step is a container and a layer: hundreds are minutes of build
        step = facts.instructions[MAX_STEPS]
        found.append(Refusal(step.line, "too-many-steps", (
            f"the Dockerfile has {len(facts.instructions)} steps and this is step {MAX_STEPS + 1}; the grader builds "
            f"at most {MAX_STEPS} (each step is a container and a layer): join RUN commands with `&&`, and COPY "
            "a folder rather than its files one by one"), LAYERS_LESSON))
        found.sort(key=lambda refusal: refusal.line)
    return found


# When the parser cannot read the file, the engine may still: a plain scan of ADD lines.
_ADD_LINE = re.compile(r"^\s*(?:ONBUILD\s+)?ADD\s+(.*)$", re.IGNORECASE)


def scan_text(text: str) -> list[Refusal]:
    """Remote ADD sources found line by line, for a Dockerfile `parse_dockerfile` refused."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ADD_LINE.match(line)
        if match and any(is_remote(word.strip("\"'[],")) for word in match.group(1).split()):
            written = " ".join(_UNPRINTABLE.sub(" ", line).split()).replace("`", "'")[:SHOWN_MAX]
            found.append(Refusal(number, "no-remote-add", (
                f"`{written}` asks the Docker engine to fetch a URL itself, from the grading machine's own "
                f"network, so it is refused before building: {FIX_ADD}"), LESSON))
    return found


def check(path_or_text) -> list[Refusal]:
    """Refusals for a Dockerfile given as a path or as text ([] when it may be built)."""
    try:
        return refusals(parse_dockerfile(path_or_text))
    except DockerfileError:
        try:
            text, _ = read_source(path_or_text)
        except DockerfileError:
            return []
        return scan_text(text)


def summary(found: list[Refusal], file: str = "Dockerfile") -> str:
    """The first refusal's line, counting the others."""
    if not found:
        return ""
    text = found[0].one_line(file)
    if len(found) > 1:
        text += " (also: " + ", ".join(f"{r.rule} at line {r.line}" for r in found[1:4]) + ")"
    return text


def enforce(dockerfile) -> None:
    """Raise RemoteSourceRefused when the Dockerfile (a path) asks for what builds never get."""
    found = check(dockerfile)
    if found:
        raise RemoteSourceRefused(found)
