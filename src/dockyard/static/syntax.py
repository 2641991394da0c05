"""Dockerfile syntax the grader's builder cannot build, found before the build, at the learner's line.

Two builders grade (docs/builders.md): Docker's classic builder, and the engine's built-in BuildKit, which
`builder = "auto"` takes for a Dockerfile that needs it (`RUN --mount`, `COPY/ADD --chmod`: `buildkit_reason`).
Engine 20.10's BuildKit carries an older Dockerfile frontend: no heredocs, no `COPY --link`, no `ADD
--checksum` (a newer one would need a `# syntax=` line, pulled from a registry). Without this check such
syntax fails deep in the build with the engine's words ("the --mount option requires BuildKit", "unknown
instruction: ECHO" for a heredoc's body); here it gets one line that says what to write instead.
Pure: reads `DockerfileFacts`, talks to nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.static.dockerfile import DockerfileFacts, Instruction

# `<<EOF`, `<<-EOF`, `<<"EOF"` (not bash's `<<<` here-string, not `a << b` in a quoted string)
HEREDOC = re.compile(r"(?<![<\w])<<(?!<)-?([\"']?)[A-Za-z_][\w-]*\1")
BUILDER = "this grader builds with Docker's classic builder"


@dataclass(frozen=True)
class SyntaxProblem:
    line: int
    message: str  # one learner-facing line, starting with where it is

    def __str__(self) -> str:
        return self.message


def _flag_problem(instruction: Instruction, flag: str) -> str | None:
    keyword = instruction.keyword
    if keyword == "RUN" and flag == "mount":
        return (f"`RUN --mount` needs BuildKit, and {BUILDER}: for pip, `RUN pip install --no-cache-dir -r "
                "requirements.txt` keeps the cache out of the image as well; a secret belongs in the "
                "container's environment at run time (09-env-and-secrets)")
    if keyword in ("COPY", "ADD") and flag == "chmod":
        return (f"`{keyword} --chmod` needs BuildKit, and {BUILDER}: {keyword} the file, then "
                "`RUN chmod <mode> <file>`")
    if keyword in ("COPY", "ADD") and flag == "link":
        return (f"`{keyword} --link` needs a newer Dockerfile frontend than this grader's builder: "
                "leave out `--link` (it changes only how the layer is cached)")
    if keyword == "ADD" and flag in ("checksum", "keep-git-dir"):
        return f"`ADD --{flag}` needs a newer Dockerfile frontend than this grader's builder: leave it out"
    return None


# What the engine's built-in BuildKit builds and the classic builder refuses: `auto` takes BuildKit for these.
BUILDKIT_FLAGS = {"RUN": ("mount", "network"), "COPY": ("chmod",), "ADD": ("chmod",)}


def buildkit_reason(facts: DockerfileFacts) -> str | None:
    """Why this Dockerfile needs BuildKit (`line 5: RUN --mount`), or None when the classic builder builds it."""
    for instruction in facts.instructions:
        for flag, _ in instruction.flag_items:
            if flag in BUILDKIT_FLAGS.get(instruction.keyword, ()):
                return f"line {instruction.line}: `{instruction.keyword} --{flag}`"
    return None


def resolve_builder(builder: str, facts: DockerfileFacts) -> str:
    """`auto` -> "buildkit" for a Dockerfile that needs it, else "classic"; the others as they are."""
    if builder == "auto":
        return "buildkit" if buildkit_reason(facts) else "classic"
    return builder


def builder_problems(facts: DockerfileFacts, builder: str = "auto") -> list[SyntaxProblem]:
    """Every instruction the builder that will build this Dockerfile would refuse or misread, in file order."""
    if resolve_builder(builder, facts) == "classic":
        return classic_builder_problems(facts)
    return classic_builder_problems(facts, buildkit=True)


def classic_builder_problems(facts: DockerfileFacts, buildkit: bool = False) -> list[SyntaxProblem]:
    """Every instruction the classic builder (or, `buildkit`, Engine 20.10's BuildKit) would refuse or misread."""
    problems = []
    for instruction in facts.instructions:
        for flag, _ in instruction.flag_items:
            if buildkit and flag in BUILDKIT_FLAGS.get(instruction.keyword, ()):
                continue
            message = _flag_problem(instruction, flag)
            if message:
                problems.append(SyntaxProblem(instruction.line, f"Dockerfile line {instruction.line}: {message}"))
        if instruction.keyword in ("RUN", "COPY", "ADD") and not instruction.json_form and HEREDOC.search(instruction.raw):
            problems.append(SyntaxProblem(instruction.line, (
                f"Dockerfile line {instruction.line}: heredocs (`{instruction.keyword} <<EOF`) need a newer "
                "Dockerfile frontend than this grader's builder: write the commands on one line, joined "
                "with `&&` (or COPY a script and RUN it)")))
    return problems
