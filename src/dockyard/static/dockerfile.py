"""Facts about a learner's Dockerfile, read without Docker.

Tokenising is done by `dockerfile-parse` (the maintained parser: comments, continuation
lines, `startline`); this module turns its flat list into what a rubric asks about
(stages, the final stage's CMD/USER/ENV/WORKDIR/EXPOSE, exec vs shell form, flags) and
papers over its quirks:

* it accepts any word as an instruction (`hello world` becomes `HELLO`): we refuse
  unknown keywords, as `docker build` would;
* it does not know heredocs (`RUN <<EOF`): we fold the body back into the instruction;
* its lines are 0-based: ours are 1-based, like every editor and hadolint;
* it does not tell JSON (exec) form from shell form: we decide as Docker does (the
  value parses as a JSON list of strings, otherwise it is shell form);
* ARGs declared before the first FROM are substituted into FROM (`python:${PY}-slim`).

Everything here is pure: a `DockerfileFacts` is built from text and never changes.
"""

from __future__ import annotations

import enum
import io
import json
import os
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import DockyardError

KEYWORDS = frozenset({
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
})
# Instructions that take leading `--flag[=value]` options (BuildKit syntax).
FLAGGED = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})
# Instructions whose value may be a JSON array.
JSON_CAPABLE = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "COPY", "ADD"})
MAX_BYTES = 1_000_000


class DockerfileProblem(enum.Enum):
    """Why a Dockerfile cannot be read: the grader acts on the kind (a binary file cannot even be built)."""

    INVALID = "invalid"  # text, but not a Dockerfile the parser accepts (or no such file)
    TOO_BIG = "too-big"
    NOT_TEXT = "not-text"  # binary data (NUL bytes)
    NOT_UTF8 = "not-utf8"


class DockerfileError(DockyardError):
    """The Dockerfile cannot be read as one: `str()` is one line saying why (and where); `kind` says which way."""

    def __init__(self, reason: str, line: int | None = None, hint: str | None = None,
                 kind: DockerfileProblem = DockerfileProblem.INVALID):
        super().__init__(f"Dockerfile line {line}: {reason}" if line else f"Dockerfile: {reason}", hint=hint)
        self.reason = reason
        self.line = line
        self.kind = kind


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: "COPY"
    value: str  # the arguments after the flags, continuation lines joined: "/root/.local /root/.local"
    line: int  # 1-based first line
    json_form: bool = False  # value is a JSON array (exec form for RUN/CMD/ENTRYPOINT)
    flags: dict = field(default_factory=dict, compare=False)  # {"from": "builder", "chown": "app"}
    end_line: int = 0  # 1-based last line (continuations, heredoc)
    raw: str = ""  # the value as written, flags included: "--from=builder /root/.local /root/.local"
    stage: int = -1  # index of the stage it belongs to (-1: a global ARG before the first FROM)
    flag_items: tuple = field(default=(), compare=False, repr=False)  # every flag in order (repeated --mount)

    @property
    def args(self) -> list[str]:
        """The arguments as a list: the JSON array in exec form, shell-like words otherwise."""
        if self.json_form:
            return json.loads(self.value)
        return _split_words(self.value)

    @property
    def text(self) -> str:
        """`KEYWORD raw`, as a learner would recognise it (one line)."""
        return f"{self.keyword} {self.raw}".strip()

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Stage:
    name: str | None  # the `AS name` alias (lower case, as Docker treats it), or None
    base: str  # the image reference after ARG substitution: "python:3.11-slim"
    base_name: str  # "python", "ghcr.io/org/img"; for `FROM builder` the stage name
    base_tag: str | None  # "3.11-slim", or None when untagged
    base_digest: str | None = None  # "sha256:…" when pinned by digest
    instructions: tuple[Instruction, ...] = ()  # FROM first, then the stage's own instructions
    index: int = 0
    platform: str | None = None  # from `FROM --platform=…`
    line: int = 0  # the FROM's line
    parent: "Stage | None" = field(default=None, repr=False, compare=False)  # when FROM names an earlier stage

    @property
    def from_stage(self) -> bool:
        """True when this stage builds on an earlier stage of the same Dockerfile."""
        return self.parent is not None

    def all(self, keyword: str) -> list[Instruction]:
        keyword = keyword.upper()
        return [i for i in self.instructions if i.keyword == keyword]

    def has(self, keyword: str) -> bool:
        return bool(self.all(keyword))

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def lineage(self) -> list["Stage"]:
        """This stage, then the stages it inherits from (nearest first)."""
        chain, stage = [], self
        while stage is not None and stage not in chain:
            chain.append(stage)
            stage = stage.parent
        return chain

    def inherited_last(self, keyword: str) -> Instruction | None:
        """The last `keyword` in force in this stage, looking into the stages it is built FROM."""
        for stage in self.lineage():
            found = stage.last(keyword)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class DockerfileFacts:
    stages: tuple[Stage, ...]
    instructions: tuple[Instruction, ...]  # every instruction in file order (global ARGs included)
    global_args: dict = field(default_factory=dict)  # ARG defaults declared before the first FROM
    path: str | None = None
    text: str = ""

    # ---- stages -------------------------------------------------------------------------------
    @property
    def final_stage(self) -> Stage:
        return self.stages[-1]

    @property
    def base_images(self) -> list[str]:
        """External images the stages start from, in order (earlier stages named in FROM excluded)."""
        return [stage.base for stage in self.stages if not stage.from_stage]

    def stage(self, name_or_index: str | int) -> Stage | None:
        if isinstance(name_or_index, int):
            return self.stages[name_or_index] if -len(self.stages) <= name_or_index < len(self.stages) else None
        wanted = name_or_index.lower()
        return next((s for s in self.stages if s.name == wanted), None)

    # ---- instructions -------------------------------------------------------------------------
    def all(self, keyword: str) -> list[Instruction]:
        keyword = keyword.upper()
        return [i for i in self.instructions if i.keyword == keyword]

    def has(self, keyword: str) -> bool:
        return bool(self.all(keyword))

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def index_of(self, keyword: str, pattern: str | None = None) -> int | None:
        """Index in `.instructions` of the first `keyword` whose value (flags included) matches
        the regex `pattern` (re.search), or None when there is none.

        None rather than -1 so that an order check like `index_of("COPY", "requirements") <
        index_of("COPY", r"^\\. ")` cannot pass by accident when one is missing."""
        keyword = keyword.upper()
        regex = re.compile(pattern) if pattern else None
        for index, instruction in enumerate(self.instructions):
            if instruction.keyword == keyword and (regex is None or regex.search(instruction.raw)):
                return index
        return None

    def find(self, keyword: str, pattern: str | None = None) -> Instruction | None:
        """The first `keyword` instruction matching `pattern` (like `index_of`, but the instruction)."""
        index = self.index_of(keyword, pattern)
        return None if index is None else self.instructions[index]

    @staticmethod
    def is_exec_form(instruction: Instruction | None) -> bool:
        """True for RUN/CMD/ENTRYPOINT/SHELL written as a JSON array; False for shell form or None."""
        return bool(instruction is not None and instruction.json_form
                    and instruction.keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "HEALTHCHECK"))

    # ---- what the final image will have (the final stage, following FROM <earlier stage>) --------
    @property
    def cmd(self) -> Instruction | None:
        return self.final_stage.inherited_last("CMD")

    @property
    def entrypoint(self) -> Instruction | None:
        return self.final_stage.inherited_last("ENTRYPOINT")

    @property
    def healthcheck(self) -> Instruction | None:
        return self.final_stage.inherited_last("HEALTHCHECK")

    @property
    def user(self) -> str | None:
        """The last USER of the final stage (as written, e.g. "appuser" or "1000:1000"), or None."""
        instruction = self.final_stage.inherited_last("USER")
        return instruction.value.strip() if instruction else None

    @property
    def env(self) -> dict[str, str]:
        """ENV of the final stage (and the stages it is built FROM), values as written, unexpanded."""
        env: dict[str, str] = {}
        for stage in reversed(self.final_stage.lineage()):
            for instruction in stage.all("ENV"):
                env.update(parse_key_values(instruction.value, legacy=True))
        return env

    @property
    def args(self) -> dict[str, str | None]:
        """ARG defaults: global ones, then the final stage's (None when declared without default)."""
        result: dict[str, str | None] = dict(self.global_args)
        for stage in reversed(self.final_stage.lineage()):
            for instruction in stage.all("ARG"):
                result.update(_parse_arg(instruction.value))
        return result

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for stage in reversed(self.final_stage.lineage()):
            for instruction in stage.all("LABEL"):
                labels.update(parse_key_values(instruction.value, legacy=False))
        return labels

    @property
    def exposed_ports(self) -> list[int]:
        """Ports EXPOSEd by the final stage, as ints (protocols dropped, ranges expanded, sorted)."""
        variables = {**{k: v for k, v in self.args.items() if v is not None}, **self.env}
        ports: set[int] = set()
        for stage in self.final_stage.lineage():
            for instruction in stage.all("EXPOSE"):
                for word in _split_words(substitute(instruction.value, variables)):
                    number = word.split("/", 1)[0]
                    low, _, high = number.partition("-")
                    if low.isdigit() and (not high or high.isdigit()):
                        start, end = int(low), int(high or low)
                        if 0 < start <= end <= 65535 and end - start < 1024:
                            ports.update(range(start, end + 1))
        return sorted(ports)

    @property
    def workdir(self) -> str | None:
        """The effective WORKDIR of the final stage (relative ones resolved as Docker does), or None."""
        current: str | None = None
        for stage in reversed(self.final_stage.lineage()):
            for instruction in stage.all("WORKDIR"):
                value = instruction.value.strip()
                current = posixpath.normpath(posixpath.join(current or "/", value)) if value else current
        return current


# ---- hand-written checks neither the parser nor hadolint covers ---------------------------------
PYTHON_IMAGE = re.compile(r"^(python|pypy)(\d[\w.-]*)?$")


def is_python_base(stage: Stage) -> bool:
    """The stage starts from a Python image (python, library/python, docker.io/…/python, pypy),
    directly or through an earlier stage of the same Dockerfile."""
    for ancestor in stage.lineage():
        if ancestor.from_stage:
            continue
        last_component = ancestor.base_name.rsplit("/", 1)[-1].lower()
        return bool(PYTHON_IMAGE.match(last_component))
    return False


def is_pinned(stage: Stage) -> bool:
    """The base image names a version: a tag other than `latest`, or a digest. `scratch` and
    stages built FROM an earlier stage count as pinned (there is nothing to pin)."""
    if stage.from_stage or stage.base_name == "scratch":
        return True
    if stage.base_digest:
        return True
    return bool(stage.base_tag) and stage.base_tag.lower() != "latest"


# ---- parsing ----------------------------------------------------------------------------------
def read_source(path_or_text: str | bytes | os.PathLike) -> tuple[str, str | None]:
    """(text, path) from a path or the Dockerfile's text; DockerfileError for unreadable input.

    A `Path` is always a file; a `str` is a file when it names one (one line, exists), text otherwise."""
    path: str | None = None
    if isinstance(path_or_text, os.PathLike) or (
            isinstance(path_or_text, str) and "\n" not in path_or_text and len(path_or_text) < 4096
            and _looks_like_path(path_or_text)):
        path = os.fspath(path_or_text)
        file = Path(path)
        if file.is_dir():
            file = file / "Dockerfile"
            path = str(file)
        if not file.is_file():
            raise DockerfileError(f"no such file: {path}", hint="the Dockerfile must be named `Dockerfile`")
        if file.stat().st_size > MAX_BYTES:
            raise DockerfileError(f"the file is larger than {MAX_BYTES // 1000} kB; is it really a Dockerfile?",
                                  kind=DockerfileProblem.TOO_BIG)
        data: str | bytes = file.read_bytes()
    else:
        data = path_or_text
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise DockerfileError(f"the file is larger than {MAX_BYTES // 1000} kB; is it really a Dockerfile?",
                                  kind=DockerfileProblem.TOO_BIG)
        if b"\x00" in data:
            raise DockerfileError("the file is binary (it contains NUL bytes), not a text Dockerfile",
                                  kind=DockerfileProblem.NOT_TEXT)
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DockerfileError(f"the file is not UTF-8 text (bad byte at offset {exc.start})",
                                  hint="save it as UTF-8 text", kind=DockerfileProblem.NOT_UTF8) from None
    if "\x00" in data:
        raise DockerfileError("the file is binary (it contains NUL bytes), not a text Dockerfile",
                              kind=DockerfileProblem.NOT_TEXT)
    return data.lstrip("\ufeff"), path


def _looks_like_path(text: str) -> bool:
    stripped = text.strip()
    if not stripped:
        return False
    if os.path.exists(stripped):
        return True
    first = stripped.split(None, 1)[0].upper()
    return first not in KEYWORDS and " " not in stripped and ("/" in stripped or "dockerfile" in stripped.lower())


def parse_dockerfile(path_or_text: str | bytes | os.PathLike) -> DockerfileFacts:
    """Parse a Dockerfile (a path, or its text) into `DockerfileFacts`; DockerfileError if it is not one."""
    text, path = read_source(path_or_text)
    if not text.strip():
        raise DockerfileError("the file is empty", hint="a Dockerfile starts with `FROM <image>`")
    from dockerfile_parse import DockerfileParser

    try:
        parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
        structure = parser.structure
    except Exception as exc:  # the parser has no error type of its own
        raise DockerfileError(f"the parser could not read it: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None
    entries = _fold_heredocs([entry for entry in structure], text.splitlines())
    entries = [entry for entry in entries if entry["instruction"] != "COMMENT"]
    if not entries:
        raise DockerfileError("the file has only comments, no instructions",
                              hint="a Dockerfile starts with `FROM <image>`")

    instructions: list[Instruction] = []
    stages: list[Stage] = []
    stage_instructions: list[list[Instruction]] = []
    stage_heads: list[dict] = []
    global_args: dict[str, str | None] = {}
    for entry in entries:
        keyword = entry["instruction"].upper()
        line = entry["startline"] + 1
        if keyword not in KEYWORDS:
            word = entry["content"].strip().split(None, 1)[0][:40] if entry["content"].strip() else keyword
            raise DockerfileError(f"`{word}` is not a Dockerfile instruction", line=line,
                                  hint="each line starts with an instruction such as FROM, RUN, COPY, CMD; "
                                       "continue long commands with a trailing `\\`")
        raw = (entry["value"] or "").strip()
        if not raw:
            raise DockerfileError(f"{keyword} needs arguments", line=line)
        flags, flag_items, value = _split_flags(raw) if keyword in FLAGGED else ({}, (), raw)
        if not value and keyword != "HEALTHCHECK":
            raise DockerfileError(f"{keyword} has options but no arguments", line=line)
        json_form = keyword in JSON_CAPABLE and _is_json_list(value)
        if keyword == "ENV" and not parse_key_values(value, legacy=True):
            raise DockerfileError("ENV needs a name and a value (`ENV NAME=value`)", line=line)
        if keyword == "FROM":
            stage_heads.append({"value": value, "flags": flags, "line": line})
            stage_instructions.append([])
        elif not stage_heads and keyword != "ARG":
            raise DockerfileError(f"{keyword} comes before the first FROM (only ARG may)", line=line,
                                  hint="a Dockerfile starts with `FROM <image>`")
        instruction = Instruction(keyword, value, line, json_form, flags, entry["endline"] + 1, raw,
                                  len(stage_heads) - 1, flag_items)
        instructions.append(instruction)
        if stage_heads:
            stage_instructions[-1].append(instruction)
        else:
            global_args.update(_parse_arg(value))
    if not stage_heads:
        raise DockerfileError("there is no FROM instruction", hint="a Dockerfile starts with `FROM <image>`")

    defaults = {k: v for k, v in global_args.items() if v is not None}
    for index, (head, own) in enumerate(zip(stage_heads, stage_instructions)):
        words = _split_words(head["value"])
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
            raise DockerfileError(f"FROM must be `FROM <image> [AS <name>]`, found `FROM {head['value']}`",
                                  line=head["line"])
        base = substitute(words[0], defaults)
        if not base:
            raise DockerfileError(f"FROM `{words[0]}` names no image (is the ARG declared before FROM?)",
                                  line=head["line"])
        name = words[2].lower() if len(words) == 3 else None
        parent = next((s for s in stages if s.name and s.name == base.lower()), None)
        if parent is not None:
            base_name, tag, digest = parent.name, None, None
        else:
            base_name, tag, digest = split_image_ref(base)
        platform = substitute(head["flags"]["platform"], defaults, keep_unknown=True) if "platform" in head["flags"] else None
        stages.append(Stage(name, base, base_name, tag, digest, tuple(own), index, platform, head["line"], parent))
    return DockerfileFacts(tuple(stages), tuple(instructions), global_args, path, text)


def split_image_ref(ref: str) -> tuple[str, str | None, str | None]:
    """"reg:5000/org/img:tag@sha256:ab" → ("reg:5000/org/img", "tag", "sha256:ab")."""
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:] or None, digest
    return ref, None, digest


_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[-+])(?P<word>[^}]*))?\}"
                       r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def substitute(text: str, variables: dict[str, str], keep_unknown: bool = False) -> str:
    """Docker-style `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` (unknown → empty, or
    left as written with `keep_unknown`, e.g. the automatic `$BUILDPLATFORM`)."""
    def replace(match: re.Match) -> str:
        name = match.group("braced") or match.group("plain")
        if keep_unknown and name not in variables and not match.group("op"):
            return match.group(0)
        value = variables.get(name, "")
        op = match.group("op")
        if op == "-":
            return value or match.group("word")
        if op == "+":
            return match.group("word") if value else ""
        return value

    return _VARIABLE.sub(replace, text)


def parse_key_values(value: str, legacy: bool) -> dict[str, str]:
    """`A=b C="d e"` → {"A": "b", "C": "d e"}; with `legacy`, `A some value` → {"A": "some value"}."""
    value = value.strip()
    if not value:
        return {}
    first = re.match(r"[^\s=]+", value)
    if legacy and first and (len(value) == first.end() or value[first.end()].isspace()):
        rest = value[first.end():].strip()
        return {first.group(0): _unquote(rest)} if rest else {}
    result = {}
    for word in _split_words(value):
        key, sep, val = word.partition("=")
        if sep and key:
            result[key] = val
    return result


def _unquote(text: str) -> str:
    words = _split_words(text)
    return " ".join(words) if words else text


def _split_words(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError:  # unbalanced quotes: fall back to whitespace
        return text.split()


def _parse_arg(value: str) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for word in _split_words(value):
        name, sep, default = word.partition("=")
        result[name] = default if sep else None
    return result


def _split_flags(raw: str) -> tuple[dict, tuple, str]:
    """Leading `--name=value` / `--name` options → (dict, ordered pairs, the rest)."""
    flags: dict[str, str] = {}
    items = []
    rest = raw
    while rest.startswith("--"):
        match = re.match(r"--([A-Za-z][\w-]*)(?:=(\"[^\"]*\"|'[^']*'|\S*))?(?:\s+|$)", rest)
        if not match:
            break
        name, val = match.group(1).lower(), match.group(2)
        val = "true" if val is None else val.strip("\"'")
        flags[name] = val
        items.append((name, val))
        rest = rest[match.end():]
    return flags, tuple(items), rest.strip()


def _is_json_list(value: str) -> bool:
    if not value.startswith("["):
        return False
    try:
        parsed = json.loads(value)
    except ValueError:
        return False
    return isinstance(parsed, list) and all(isinstance(item, str) for item in parsed)


_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")


def _fold_heredocs(entries: list[dict], lines: list[str]) -> list[dict]:
    """`RUN <<EOF … EOF`: dockerfile-parse reads the body as instructions; fold it back in."""
    folded: list[dict] = []
    skip_until = -1
    for entry in entries:
        if entry["startline"] <= skip_until:
            continue
        keyword = entry["instruction"].upper()
        markers = _HEREDOC.findall(entry.get("value") or "") if keyword in ("RUN", "COPY", "ADD") else []
        if not markers:
            folded.append(entry)
            continue
        position = entry["endline"] + 1
        bodies = []
        for dash, _quote, marker in markers:
            body = []
            while position < len(lines):
                candidate = lines[position].lstrip("\t") if dash else lines[position]
                position += 1
                if candidate.strip() == marker:
                    break
                body.append(lines[position - 1])
            else:
                raise DockerfileError(f"the heredoc `<<{marker}` is never closed by a `{marker}` line",
                                      line=entry["startline"] + 1)
            bodies.append("\n".join(body))
        entry = dict(entry)
        entry["value"] = entry["value"] + "\n" + "\n".join(bodies)
        entry["endline"] = position - 1
        skip_until = position - 1
        folded.append(entry)
    return folded
