"""A learner's `commands.sh` read as the docker commands it holds: pure, no shell, no engine.

The grader never hands the file to a shell. Each logical line (comments and blank lines skipped, a
trailing backslash joins the next line) is split with `shlex` after a scan that refuses what only a
shell would do (`$VAR`, `$(…)`, backticks, pipes, `&&`, `;`, redirections). What is left must be one
`docker` command of the documented set (docs/commandline.md): its subcommand and flags are read the
way docker reads them (`-dit`, `-p8080:8000`, `--name=web`, the first non-flag word ends the
options of `run`), image references are read as docker reads them (`localhost:5000/app:1.0`,
`name@sha256:…`: the only registry is the grading's own, `localhost:5000`), and what the sandbox forbids (privileged, host namespaces, capabilities, devices,
security options, host paths outside the submission, the Docker socket) is refused at its line with
the reason. Any refusal means nothing runs (sandbox/commandline.py carries out a clean script only).
"""

from __future__ import annotations

import enum
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_SCRIPT_BYTES = 64 * 1024  # a learner's command list is a few lines
MAX_COMMANDS = 100
DOCS = "docs/commandline.md"
# The registry a command-line exercise may push to and pull from, as the learner writes it: the grading starts
# one (sandbox/registry.py) and the executor maps this name to it. 127.0.0.1:5000 is the same address spelled out.
GRADING_REGISTRY = "localhost:5000"
REGISTRY_HOSTS = (GRADING_REGISTRY, "127.0.0.1:5000")


class RefusalKind(enum.Enum):
    FORBIDDEN = "forbidden"  # the sandbox forbids it, whatever the exercise
    UNSUPPORTED = "unsupported"  # outside the documented set: the grader cannot carry it out faithfully
    SYNTAX = "syntax"  # not a line the grader can read (shell syntax, a quote left open, a bad value)


@dataclass(frozen=True)
class Refusal:
    line: int
    reason: str
    kind: RefusalKind

    def one_line(self, filename: str = "commands.sh") -> str:
        return f"{filename}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Port:
    """`-p [ip:][host:]container[/proto]`; host None: docker picks one."""

    container: int
    host: int | None
    protocol: str = "tcp"
    text: str = ""


@dataclass(frozen=True)
class Mount:
    """`-v SOURCE:TARGET[:ro|rw]`. kind: "volume" (named), "anonymous" (no source), "bind" (a folder of the submission)."""

    kind: str
    source: str | None  # the volume's name, or the bind path relative to the submission
    target: str
    read_only: bool = False
    text: str = ""


@dataclass(frozen=True)
class ImageRef:
    """An image reference as docker reads it: [REGISTRY/]PATH[:TAG][@DIGEST]. `registry` is None for a name with
    no registry host (a local name, which docker push/pull would send to Docker Hub); canonical() writes the
    grading's registry as `localhost:5000` however it was spelled and adds `:latest` where docker would."""

    registry: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def at_grading_registry(self) -> bool:
        return self.registry in REGISTRY_HOSTS

    @property
    def repository(self) -> str:
        host = GRADING_REGISTRY if self.at_grading_registry else self.registry
        return f"{host}/{self.path}" if host else self.path

    def canonical(self) -> str:
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or 'latest'}"


@dataclass(frozen=True)
class Command:
    line: int  # the line it starts on
    text: str  # the logical line as written (continuations joined), for feedback
    subcommand: str  # canonical: "run", "ps", "network create", … (`container ls` is "ps")
    flags: dict = field(default_factory=dict)  # canonical long name -> True | str | list[str]
    args: tuple[str, ...] = ()  # positional words after the options (for run/exec: image/container, then the command)

    def flag(self, name: str, default=None):
        return self.flags.get(name, default)

    def values(self, name: str) -> list[str]:
        value = self.flags.get(name)
        return list(value) if isinstance(value, list) else []

    # run's pieces, decoded (the parser has checked them)
    @property
    def ports(self) -> list[Port]:
        return [parse_port(text) for text in self.values("publish")]

    @property
    def mounts(self) -> list[Mount]:
        return [parse_mount(text) for text in self.values("volume")]

    @property
    def environment(self) -> list[str]:
        return self.values("env")


@dataclass(frozen=True)
class Script:
    commands: tuple[Command, ...]
    refusals: tuple[Refusal, ...]

    @property
    def ok(self) -> bool:
        return not self.refusals

    def summary(self, filename: str = "commands.sh", most: int = 3) -> str:
        """The refusals as one learner-facing line (the first few)."""
        lines = [refusal.one_line(filename) for refusal in self.refusals[:most]]
        more = len(self.refusals) - most
        return "; ".join(lines) + (f" (and {more} more)" if more > 0 else "")


# -- the documented set ---------------------------------------------------------------------------
# Each subcommand: its flags as {spelling: (canonical name, takes a value, repeatable)}.
def _flags(*specs: tuple[str, str, bool, bool]) -> dict[str, tuple[str, bool, bool]]:
    table = {}
    for spellings, name, takes_value, repeatable in specs:
        for spelling in spellings.split():
            table[spelling] = (name, takes_value, repeatable)
    return table


FLAGS: dict[str, dict[str, tuple[str, bool, bool]]] = {
    "run": _flags(("-d --detach", "detach", False, False), ("-p --publish", "publish", True, True),
                  ("-e --env", "env", True, True), ("--env-file", "env-file", True, True),
                  ("-v --volume", "volume", True, True), ("--name", "name", True, False),
                  ("--rm", "rm", False, False), ("--network --net", "network", True, False),
                  ("--restart", "restart", True, False), ("-w --workdir", "workdir", True, False),
                  ("-i --interactive", "interactive", False, False), ("-t --tty", "tty", False, False)),
    "ps": _flags(("-a --all", "all", False, False), ("-q --quiet", "quiet", False, False),
                 ("--no-trunc", "no-trunc", False, False)),
    "logs": _flags(("-f --follow", "follow", False, False), ("-n --tail", "tail", True, False),
                   ("-t --timestamps", "timestamps", False, False)),
    "exec": _flags(("-i --interactive", "interactive", False, False), ("-t --tty", "tty", False, False),
                   ("-e --env", "env", True, True), ("-w --workdir", "workdir", True, False),
                   ("-u --user", "user", True, False)),
    "stop": _flags(("-t --time --timeout", "time", True, False)),
    "start": _flags(),
    "restart": _flags(("-t --time --timeout", "time", True, False)),
    "rm": _flags(("-f --force", "force", False, False), ("-v --volumes", "volumes", False, False)),
    "network create": _flags(("-d --driver", "driver", True, False)),
    "volume create": _flags(),
    "build": _flags(("-t --tag", "tag", True, True), ("-f --file", "file", True, False),
                    ("-q --quiet", "quiet", False, False), ("--target", "target", True, False),
                    ("--build-arg", "build-arg", True, True)),
    "tag": _flags(),
    "inspect": _flags(("-f --format", "format", True, False)),
    "push": _flags(("-q --quiet", "quiet", False, False)),
    "pull": _flags(("-q --quiet", "quiet", False, False)),
    "images": _flags(("--digests", "digests", False, False), ("-q --quiet", "quiet", False, False),
                     ("-a --all", "all", False, False), ("--no-trunc", "no-trunc", False, False)),
}

# how many positional words each takes: (at least, at most; None: no upper bound)
ARITY = {"run": (1, None), "ps": (0, 0), "logs": (1, 1), "exec": (2, None), "stop": (1, None),
         "start": (1, None), "restart": (1, None), "rm": (1, None), "network create": (1, 1),
         "volume create": (1, 1), "build": (1, 1), "tag": (2, 2), "inspect": (1, None), "push": (1, 1),
         "pull": (1, 1), "images": (0, 1)}
USAGE = {"run": "docker run [OPTIONS] IMAGE [COMMAND…]", "logs": "docker logs [OPTIONS] CONTAINER",
         "exec": "docker exec [OPTIONS] CONTAINER COMMAND…", "stop": "docker stop CONTAINER…",
         "start": "docker start CONTAINER…", "restart": "docker restart CONTAINER…", "rm": "docker rm CONTAINER…",
         "network create": "docker network create NAME", "volume create": "docker volume create NAME",
         "build": "docker build [-t NAME] [-f Dockerfile] [--target STAGE] [--build-arg NAME=value] CONTEXT", "tag": "docker tag SOURCE TARGET",
         "inspect": "docker inspect [--format TEMPLATE] NAME…", "ps": "docker ps [-a] [-q]",
         "push": f"docker push {GRADING_REGISTRY}/NAME[:TAG]",
         "pull": f"docker pull {GRADING_REGISTRY}/NAME[:TAG] or {GRADING_REGISTRY}/NAME@sha256:DIGEST",
         "images": "docker images [--digests] [REPOSITORY[:TAG]]"}

# run and exec stop reading options at their first positional word (the image / the container)
STOPS_AT_FIRST_ARG = ("run", "exec")

# `docker container ls` and friends: the management-command spellings of the same commands
ALIASES = {("container", "run"): "run", ("container", "ls"): "ps", ("container", "ps"): "ps",
           ("container", "list"): "ps", ("container", "logs"): "logs", ("container", "exec"): "exec",
           ("container", "stop"): "stop", ("container", "start"): "start", ("container", "restart"): "restart",
           ("container", "rm"): "rm", ("container", "remove"): "rm", ("container", "inspect"): "inspect",
           ("image", "build"): "build", ("image", "tag"): "tag", ("image", "inspect"): "inspect",
           ("image", "push"): "push", ("image", "pull"): "pull", ("image", "ls"): "images",
           ("image", "list"): "images",
           ("network", "create"): "network create", ("volume", "create"): "volume create",
           ("builder", "build"): "build"}
GROUPS = ("container", "image", "network", "volume", "builder")

# flags the sandbox forbids (any subcommand), and why, in the learner's words
FORBIDDEN = {
    "--privileged": "`--privileged` gives the container the whole machine; graded containers never get it",
    "--cap-add": "`--cap-add` gives the container kernel capabilities; graded containers only lose them",
    "--device": "`--device` hands the container a device of the grading machine",
    "--security-opt": "`--security-opt` changes the sandbox's security settings, which are the grader's",
    "--pid": "`--pid` shares a process namespace (the host's or another container's)",
    "--ipc": "`--ipc` shares an IPC namespace (the host's or another container's)",
    "--uts": "`--uts` shares the host's UTS namespace",
    "--userns": "`--userns` changes the sandbox's user namespace",
    "--cgroupns": "`--cgroupns` shares the host's cgroup namespace",
    "--cgroup-parent": "`--cgroup-parent` moves the container out of the sandbox's cgroup",
    "--volumes-from": "`--volumes-from` mounts another container's volumes, which may be the host's",
    "--mount": "`--mount` is not run here: write `-v NAME:/path` for a named volume",
    "--gpus": "`--gpus` hands the container the machine's GPUs",
    "--sysctl": "`--sysctl` changes kernel settings",
    "--runtime": "`--runtime` is the grader's choice, not the command's",
    "--add-host": "`--add-host` is not needed here: containers on one network reach each other by name",
    "--insecure-registry": "`--insecure-registry` is a setting of the engine, which is the grader's (the grading's "
                           f"registry, {GRADING_REGISTRY}, needs no such setting)",
    "--insecure": f"`--insecure` is no docker flag: the grading's registry, {GRADING_REGISTRY}, needs no TLS setting",
    "--disable-content-trust": "`--disable-content-trust` changes how the engine trusts images, which is the "
                               "grader's setting",
}
# subcommands the sandbox forbids outright, and why
FORBIDDEN_COMMANDS = {
    "login": f"`docker login` stores credentials on the grading machine: the grading's registry, {GRADING_REGISTRY}, "
             "needs none, and the grader keeps nobody's",
    "logout": f"`docker logout` changes the grading machine's credentials: the grading's registry, {GRADING_REGISTRY}, "
              "needs none",
}
HOST_NETWORKS = {"host": "`--network host` puts the container on the grading machine's own network",
                 "container": "`--network container:…` joins another container's network namespace"}
DOCKER_SOCKET = ("/var/run/docker.sock", "/run/docker.sock")
GLOBAL_OPTIONS = ("-H", "--host", "--context", "-c", "--config", "--tls", "--tlsverify", "--tlscacert", "--tlscert",
                  "--tlskey", "-D", "--debug", "-l", "--log-level")

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")  # docker's container/volume/network names
IMAGE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$")
# an image reference as docker's reference grammar has it: [host[:port]/]path[:tag][@algorithm:hex]
PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REFERENCE = re.compile(rf"^(?P<path>{PATH_COMPONENT}(?:/{PATH_COMPONENT})*)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}))?"
                       r"(?:@(?P<digest>[A-Za-z0-9]+:[A-Za-z0-9]+))?$")
REGISTRY_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# what `inspect --format` evaluates: text and {{.Field.Sub}}, {{index .Field N}}, {{json .Field}} actions
FORMAT_ACTION = re.compile(r"\{\{-?\s*(?:(?P<json>json)\s+)?(?:(?P<index>index)\s+)?(?P<field>(?:\.[A-Za-z][A-Za-z0-9]*)+|\.)"
                           r"(?:\s+(?P<position>\d{1,3}))?\s*-?\}\}")
RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:\d{1,3})?)$")
PORT = re.compile(r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(?:(?P<host>\d{1,5})?:)?"
                  r"(?P<container>\d{1,5})(?:/(?P<proto>tcp|udp))?$")


# -- reading the file -------------------------------------------------------------------------------
def parse_file(path: Path, root: Path | None = None) -> Script:
    """Read `path` (bounded) and parse it; bind mounts and build contexts must stay inside `root`
    (default: the file's folder)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        return Script((), (Refusal(0, f"{path.name} could not be read: {exc.strerror or exc}", RefusalKind.SYNTAX),))
    if len(raw) > MAX_SCRIPT_BYTES:
        return Script((), (Refusal(0, f"{path.name} is over {MAX_SCRIPT_BYTES // 1024} KiB: that is not a list of "
                                      "commands", RefusalKind.SYNTAX),))
    if b"\x00" in raw:
        return Script((), (Refusal(0, f"{path.name} is not a text file", RefusalKind.SYNTAX),))
    return parse_script(raw.decode("utf-8", "replace"), root=root if root is not None else path.parent)


def parse_script(text: str, root: Path | None = None) -> Script:
    """Every docker command of the text, in order, and every line refused (with its number and reason)."""
    commands: list[Command] = []
    refusals: list[Refusal] = []
    for number, logical in logical_lines(text):
        try:
            words = split_line(logical)
        except LineRefused as exc:
            refusals.append(Refusal(number, exc.reason, exc.kind))
            continue
        if not words:
            continue
        try:
            commands.append(parse_command(number, logical.strip(), words, root))
        except LineRefused as exc:
            refusals.append(Refusal(number, exc.reason, exc.kind))
    if len(commands) > MAX_COMMANDS:
        refusals.append(Refusal(commands[MAX_COMMANDS].line, f"more than {MAX_COMMANDS} commands: the grader runs "
                                                             "at most that many", RefusalKind.UNSUPPORTED))
    return Script(tuple(commands), tuple(refusals))


class LineRefused(Exception):
    def __init__(self, reason: str, kind: RefusalKind = RefusalKind.SYNTAX):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line: a line ending in an unescaped backslash continues."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    joined: list[tuple[int, str]] = []
    start, parts = None, []
    for number, line in enumerate(lines, start=1):
        if start is None:
            start = number
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1 and not _in_comment(line):
            parts.append(line[:-1])
            continue
        parts.append(line)
        joined.append((start, "".join(parts) if len(parts) == 1 else " ".join(p.strip() for p in parts)))
        start, parts = None, []
    if parts:
        joined.append((start, " ".join(p.strip() for p in parts)))
    return joined


def _in_comment(line: str) -> bool:
    try:
        return len(_strip_comment(line)) < len(line)
    except LineRefused:
        return False


def _strip_comment(line: str) -> str:
    """The line without its comment, scanning quotes the way sh does: `#` starts a comment at a word's start,
    outside quotes (`a#b` is one word). Refuses what only a shell would do with the line."""
    quote = None
    index = 0
    while index < len(line):
        char = line[index]
        if quote == "'":
            if char == "'":
                quote = None
        elif char == "\\" and quote is None:
            index += 2
            continue
        elif char == "\\" and quote == '"':
            index += 2
            continue
        elif quote == '"':
            if char == '"':
                quote = None
            elif char in "$`":
                raise LineRefused(_expansion(line, index))
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
        elif char in "$`":
            raise LineRefused(_expansion(line, index))
        elif char in ";|&<>()":
            raise LineRefused(_operator(line, index))
        index += 1
    return line


def _expansion(line: str, index: int) -> str:
    what = "`…`" if line[index] == "`" else ("$(…)" if line[index + 1:index + 2] == "(" else "a variable ($NAME)")
    return (f"{what} is shell syntax, and commands.sh is never run by a shell: write the value itself "
            "(the grader runs each docker command as written)")


def _operator(line: str, index: int) -> str:
    op = line[index:index + 2] if line[index:index + 2] in ("&&", "||", ">>") else line[index]
    return (f"`{op}` is shell syntax (pipes, `&&`, `;`, redirections), and commands.sh is never run by a shell: "
            "write one docker command per line")


def split_line(logical: str) -> list[str]:
    """The words of one logical line (comment removed), or LineRefused."""
    text = _strip_comment(logical)
    if not text.strip():
        return []
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise LineRefused(f"this line does not split into words: {str(exc).lower()}") from None


# -- one command -------------------------------------------------------------------------------------
def parse_command(line: int, text: str, words: list[str], root: Path | None) -> Command:
    if words[0] != "docker":
        raise LineRefused(f"only docker commands run here, and this line starts with `{_show(words[0])}` "
                          f"(try it in a terminal instead; {DOCS} lists what commands.sh may hold)",
                          RefusalKind.UNSUPPORTED)
    rest = words[1:]
    if not rest:
        raise LineRefused("`docker` alone does nothing: write a subcommand such as `docker run …`")
    if rest[0].startswith("-"):
        flag = rest[0].split("=", 1)[0]
        if flag in GLOBAL_OPTIONS:
            raise LineRefused(f"docker's own option `{_show(flag)}` picks the engine, which is the grader's: "
                              "write `docker <subcommand> …`", RefusalKind.FORBIDDEN)
        raise LineRefused(f"`docker {_show(rest[0])}` is not a subcommand: write `docker <subcommand> …`")
    if rest[0] in FORBIDDEN_COMMANDS:
        raise LineRefused(FORBIDDEN_COMMANDS[rest[0]], RefusalKind.FORBIDDEN)
    if rest[0] in GROUPS:
        if len(rest) < 2 or (rest[0], rest[1]) not in ALIASES:
            shown = " ".join(_show(word) for word in rest[:2])
            raise LineRefused(f"`docker {shown}` is not one of the commands the grader runs ({DOCS})",
                              RefusalKind.UNSUPPORTED)
        subcommand, rest = ALIASES[(rest[0], rest[1])], rest[2:]
    elif rest[0] in FLAGS and " " not in rest[0]:
        subcommand, rest = rest[0], rest[1:]
    else:
        raise LineRefused(f"`docker {_show(rest[0])}` is not one of the commands the grader runs ({DOCS})",
                          RefusalKind.UNSUPPORTED)
    flags, args = _read_options(subcommand, rest)
    command = Command(line, text, subcommand, flags, tuple(args))
    _check(command, root)
    return command


def _read_options(subcommand: str, words: list[str]) -> tuple[dict, list[str]]:
    table = FLAGS[subcommand]
    flags: dict = {}
    args: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if args and subcommand in STOPS_AT_FIRST_ARG:
            args.append(word)  # the container's own command: its flags are not docker's
            continue
        if word == "--":
            args.extend(words[index:])
            break
        if word.startswith("--") and len(word) > 2:
            spelling, has_inline, inline = word.partition("=")
            _refuse_forbidden(spelling, inline if has_inline else (words[index] if index < len(words) else ""))
            spec = table.get(spelling)
            if spec is None:
                raise _unknown_flag(subcommand, spelling)
            name, takes_value, repeatable = spec
            if takes_value:
                if has_inline:
                    value = inline
                elif index < len(words):
                    value = words[index]
                    index += 1
                else:
                    raise LineRefused(f"`{_show(spelling)}` needs a value ({USAGE.get(subcommand, '')})")
                _store(flags, name, value, repeatable, spelling)
            else:
                if has_inline and inline.lower() not in ("true", "false"):
                    raise LineRefused(f"`{_show(spelling)}` takes no value (found `{_show(word)}`)")
                if not has_inline or inline.lower() == "true":
                    flags[name] = True
        elif word.startswith("-") and len(word) > 1:
            # a cluster of one-letter flags (`-dit`); a flag that takes a value takes the rest of the word
            # or the next word (`-p8080:8000`, `-p 8080:8000`)
            position = 1
            while position < len(word):
                spelling = "-" + word[position]
                spec = table.get(spelling)
                if spec is None:
                    _refuse_forbidden(spelling, "")
                    raise _unknown_flag(subcommand, spelling)
                name, takes_value, repeatable = spec
                if takes_value:
                    value = word[position + 1:]
                    if value.startswith("="):
                        value = value[1:]
                    if not value:
                        if index >= len(words):
                            raise LineRefused(f"`{spelling}` needs a value ({USAGE.get(subcommand, '')})")
                        value = words[index]
                        index += 1
                    _store(flags, name, value, repeatable, spelling)
                    break
                flags[name] = True
                position += 1
        else:
            args.append(word)
    return flags, args


def _store(flags: dict, name: str, value: str, repeatable: bool, spelling: str) -> None:
    if repeatable:
        flags.setdefault(name, []).append(value)
    elif name in flags and flags[name] != value:
        raise LineRefused(f"`{_show(spelling)}` is given twice, with different values")
    else:
        flags[name] = value


def _refuse_forbidden(spelling: str, value: str) -> None:
    if spelling in FORBIDDEN:
        raise LineRefused(FORBIDDEN[spelling], RefusalKind.FORBIDDEN if spelling != "--mount" else RefusalKind.UNSUPPORTED)
    if spelling in ("--network", "--net"):
        mode = value.split(":", 1)[0]
        if mode in HOST_NETWORKS:
            raise LineRefused(HOST_NETWORKS[mode] + "; graded containers stay on their own network",
                              RefusalKind.FORBIDDEN)


def _unknown_flag(subcommand: str, spelling: str) -> LineRefused:
    known = sorted({spec[0] for spec in FLAGS[subcommand].values()})
    listed = ", ".join(f"--{name}" for name in known) if known else "none"
    return LineRefused(f"`docker {subcommand} {_show(spelling)}` is not a flag the grader runs "
                       f"(flags of `docker {subcommand}` here: {listed}; {DOCS})", RefusalKind.UNSUPPORTED)


def _check(command: Command, root: Path | None) -> None:
    """Arity and the values that matter to the sandbox: names, ports, mounts, files, networks."""
    low, high = ARITY[command.subcommand]
    count = len(command.args)
    if count < low or (high is not None and count > high):
        raise LineRefused(f"`docker {command.subcommand}` takes {_arity_words(low, high)}: "
                          f"{USAGE[command.subcommand]}")
    sub = command.subcommand
    if sub == "run":
        _check_image(command.args[0], digest_ok=True)
        if command.flag("name") is not None:
            _check_name(command.flag("name"), "container")
        for text in command.values("publish"):
            parse_port(text)
        for text in command.values("volume"):
            mount = parse_mount(text)
            if mount.kind == "bind":
                _inside(mount.source, root, "a bind mount")
        for text in command.values("env-file"):
            _inside(text, root, "an --env-file")
        for text in command.values("env"):
            _check_env(text)
        if command.flag("network") == "none":
            raise LineRefused("`--network none` is not run here: leave `--network` out (the container then gets "
                              "the grading's own network)", RefusalKind.UNSUPPORTED)
        if command.flag("network") is not None:
            _check_name(command.flag("network"), "network")
        if command.flag("restart") is not None and not RESTART.match(command.flag("restart")):
            raise LineRefused(f"`--restart {_show(command.flag('restart'))}`: the policies are no, always, "
                              "unless-stopped and on-failure[:N]")
        if command.flag("rm") and command.flag("restart") not in (None, "no"):
            raise LineRefused("`--rm` and `--restart` cannot go together (docker refuses them too)")
    elif sub == "exec":
        _check_name(command.args[0], "container")
        for text in command.values("env"):
            _check_env(text)
    elif sub in ("logs", "stop", "start", "restart", "rm"):
        for name in command.args:
            _check_name(name, "container")
        for key in ("time", "tail"):
            value = command.flag(key)
            if value is not None and not (value.isdigit() or (key == "tail" and value == "all")):
                raise LineRefused(f"`--{key} {_show(value)}` needs a whole number")
    elif sub in ("network create", "volume create"):
        _check_name(command.args[0], sub.split()[0])
        driver = command.flag("driver")
        if driver is not None and driver != "bridge":
            raise LineRefused(f"`--driver {_show(driver)}`: only bridge networks are made here", RefusalKind.UNSUPPORTED)
    elif sub == "build":
        _inside(command.args[0], root, "the build context")
        if command.flag("file") is not None:
            _inside(str(PurePosixPath(command.args[0]) / command.flag("file")), root, "the Dockerfile")
        for tag in command.values("tag"):
            _check_image(tag)
        if command.flag("target") is not None:
            _check_name(command.flag("target"), "build stage")
        for text in command.values("build-arg"):
            if "=" not in text:  # `--build-arg NAME` takes NAME from the caller's environment, which is not here
                raise LineRefused(f"`--build-arg {_show(text)}`: write NAME=value (the grader has no environment "
                                  "of yours to take it from)")
            _check_env(text)
    elif sub == "tag":
        _check_image(command.args[0], digest_ok=True)
        _check_image(command.args[1])
    elif sub == "inspect":
        for name in command.args:
            if not NAME.match(name):
                _check_image(name, digest_ok=True)
        if command.flag("format") is not None:
            check_format(command.flag("format"))
    elif sub == "push":
        _registry_only(command.args[0], "push", digest_ok=False)
    elif sub == "pull":
        _registry_only(command.args[0], "pull", digest_ok=True)
    elif sub == "images":
        if command.args:
            _check_image(command.args[0])


def _arity_words(low: int, high: int | None) -> str:
    if high == 0:
        return "no arguments"
    if high is None:
        return f"at least {low} argument{'s' if low > 1 else ''}"
    return f"{low} argument{'s' if low > 1 else ''}" if low == high else f"{low} to {high} arguments"


def _check_name(name: str, what: str) -> None:
    if not NAME.match(name):
        raise LineRefused(f"`{_show(name)}` is not a valid {what} name (letters, digits, `_`, `.` and `-`, "
                          "starting with a letter or digit)")


def _check_image(name: str, digest_ok: bool = False) -> ImageRef:
    """A reference the grader can carry out. Any registry may be part of a local name (`docker build -t
    ghcr.io/org/app:sha` only names an image, as docker's own does); only a push or pull talks to one."""
    ref = parse_reference(name)
    if ref.digest and not digest_ok:
        raise LineRefused(f"`{_show(name)}`: a digest (`@sha256:…`) names content that exists already: it cannot "
                          "be a new name (write NAME:TAG)")
    return ref


def _registry_only(name: str, verb: str, digest_ok: bool) -> ImageRef:
    """A push or pull: to or from the grading's registry, never another and never Docker Hub."""
    ref = _check_image(name, digest_ok=digest_ok)
    if ref.registry is not None and not ref.at_grading_registry:
        raise LineRefused(f"`{_show(name)}` names the registry `{_show(ref.registry)}`: the grader talks only to the "
                          f"grading's own registry, `{GRADING_REGISTRY}` (nothing goes to or comes from another "
                          "machine)", RefusalKind.FORBIDDEN)
    if ref.registry is None:
        where = "to" if verb == "push" else "from"
        raise LineRefused(f"`docker {verb} {_show(name)}` would {verb} {where} Docker Hub: the grader {verb + ('es' if verb == 'push' else 's')} only "
                          f"{where} the grading's registry, so name it `{GRADING_REGISTRY}/{_show(ref.path)}…` "
                          + ("(tag it first: `docker tag " + _show(name) + f" {GRADING_REGISTRY}/{_show(name)}`)"
                             if verb == "push" else "(the course's base images are on the engine already)"),
                          RefusalKind.FORBIDDEN)
    return ref


def parse_reference(text: str) -> ImageRef:
    """[REGISTRY/]PATH[:TAG][@DIGEST] as docker splits it: the first component is a registry host when it holds a
    `.` or a `:` or is `localhost`. LineRefused when it is no image reference at all."""
    host, slash, rest = text.partition("/")
    registry = None
    if slash and ("." in host or ":" in host or host == "localhost"):
        if not REGISTRY_HOST.match(host):
            raise _not_an_image(text)
        registry, text_path = host.lower(), rest
    else:
        text_path = text
    match = REFERENCE.match(text_path)
    if not match:
        raise _not_an_image(text)
    digest = match["digest"]
    if digest is not None and not DIGEST.match(digest):
        raise LineRefused(f"`{_show(text)}`: a digest is `sha256:` followed by 64 hexadecimal digits (lower case), "
                          "as `docker push` or `docker images --digests` prints it")
    return ImageRef(registry, match["path"], match["tag"], digest)


def _not_an_image(name: str) -> LineRefused:
    return LineRefused(f"`{_show(name)}` is not an image name the grader runs (a local name such as `notes-app` or "
                       f"`notes-app:1.0`, or `{GRADING_REGISTRY}/notes-app:1.0`, lower case)", RefusalKind.UNSUPPORTED)


def check_format(template: str) -> None:
    """`inspect --format`: text and the actions the grader evaluates ({{.A.B}}, {{index .A 0}}, {{json .A}})."""
    rest = FORMAT_ACTION.sub("", template)
    if "{{" in rest or "}}" in rest:
        raise LineRefused(f"`--format {_show(template)}`: the grader evaluates `{{{{.Field}}}}`, `{{{{.A.B}}}}`, "
                          "`{{index .Field 0}}` and `{{json .Field}}` (no other template actions)",
                          RefusalKind.UNSUPPORTED)
    for match in FORMAT_ACTION.finditer(template):
        if bool(match["index"]) != bool(match["position"]):
            raise LineRefused(f"`--format {_show(template)}`: write `{{{{index .Field N}}}}` (a field and a position)",
                              RefusalKind.UNSUPPORTED)


def _check_env(text: str) -> None:
    key = text.split("=", 1)[0]
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
        raise LineRefused(f"`-e {_show(text)}`: expected NAME=value")


def parse_port(text: str) -> Port:
    match = PORT.match(text)
    if not match:
        raise LineRefused(f"`-p {_show(text)}`: expected HOST_PORT:CONTAINER_PORT such as `8080:8000` "
                          "(one port each; ranges are not run here)")
    container = int(match["container"])
    host = int(match["host"]) if match["host"] else None
    for port in (container, host):
        if port is not None and not 1 <= port <= 65535:
            raise LineRefused(f"`-p {_show(text)}`: ports go from 1 to 65535")
    return Port(container, host, match["proto"] or "tcp", text)


def port_mismatch(ports: tuple[Port, ...] | list[Port], host_port: int, app_port: int,
                  listening: tuple[int, ...] | list[int] = ()) -> str:
    """Rubric feedback for a `docker run` whose `-p` flags do not lead the host's `host_port` to the app's
    `app_port`: what was expected, what the flags publish instead, and where the app listens when known."""
    asked = {port.container: port.host for port in ports}
    if not asked:
        found = "no `-p` at all: without it nothing outside the container reaches the app"
    elif app_port in asked:
        found = f"the app's port {app_port} published on the host's port {asked[app_port] or '(any)'}"
    else:
        found = ", ".join(f"`-p {port.text}` (the container's port {port.container}, where nothing listens)"
                          for port in ports)
    heard = f"; the app listens on {', '.join(map(str, listening))}" if listening else ""
    return f"expected `-p {host_port}:{app_port}` (HOST:CONTAINER: the app listens on {app_port}), found {found}{heard}"


def parse_mount(text: str) -> Mount:
    parts = text.split(":")
    if len(parts) == 1:
        source, target, options = None, parts[0], ""
    elif len(parts) in (2, 3):
        source, target, options = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    else:
        raise LineRefused(f"`-v {_show(text)}`: expected NAME:/path (a named volume) or /path")
    if not target.startswith("/"):
        raise LineRefused(f"`-v {_show(text)}`: the path inside the container must start with / "
                          "(`-v NAME:/data`)")
    if options not in ("", "ro", "rw"):
        raise LineRefused(f"`-v {_show(text)}`: the only options run here are ro and rw", RefusalKind.UNSUPPORTED)
    read_only = options == "ro"
    if source is None:
        return Mount("anonymous", None, target, read_only, text)
    if source in DOCKER_SOCKET or source.rstrip("/").endswith("docker.sock"):
        raise LineRefused("mounting the Docker socket hands the container the engine, and with it the grading "
                          "machine", RefusalKind.FORBIDDEN)
    if source.startswith("/") or source.startswith("~"):
        raise LineRefused(f"`-v {_show(text)}` mounts a folder of the grading machine: a host path outside your "
                          "folder is never mounted (use a named volume, `-v NAME:{target}`, or `./folder:{target}`)"
                          .replace("{target}", target), RefusalKind.FORBIDDEN)
    if source.startswith("."):
        return Mount("bind", source, target, read_only, text)
    if not NAME.match(source):
        raise LineRefused(f"`-v {_show(text)}`: `{_show(source)}` is neither a volume name nor ./a/folder")
    return Mount("volume", source, target, read_only, text)


def _inside(relative: str, root: Path | None, what: str) -> None:
    """A path the command reads on the host must be a relative path that stays in the submission."""
    if relative.startswith("/") or relative.startswith("~"):
        raise LineRefused(f"{what} `{_show(relative)}` is a path of the grading machine: only paths inside your "
                          "folder, written relative to it (`.`, `./data`), are used", RefusalKind.FORBIDDEN)
    if root is None:
        if ".." in PurePosixPath(relative).parts:
            raise LineRefused(f"{what} `{_show(relative)}` leads out of your folder", RefusalKind.FORBIDDEN)
        return
    base = Path(root).resolve()
    try:
        resolved = (base / relative).resolve()
    except (OSError, RuntimeError):
        raise LineRefused(f"{what} `{_show(relative)}` cannot be resolved") from None
    if resolved != base and base not in resolved.parents:
        raise LineRefused(f"{what} `{_show(relative)}` leads out of your folder", RefusalKind.FORBIDDEN)


def _show(text: str, most: int = 60) -> str:
    """Learner text as it may appear inside feedback: printable, one line, bounded (escaped later for HTML)."""
    shown = "".join(char if char.isprintable() else "?" for char in str(text))
    return shown if len(shown) <= most else shown[: most - 1] + "…"
