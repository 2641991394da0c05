"""Read BuildKit's `--progress=plain` output into the build's steps: what the rubrics and the build picture use.

The plain output is a stream of numbered vertices (`#5 [base 2/4] RUN pip install …`), each followed by its
lines (`#5 0.353 Collecting flask`), and one of `#5 CACHED`, `#5 DONE 2.1s`, `#5 ERROR: …` or `#5 CANCELED`.
Vertices of parallel stages interleave, so a step's lines are gathered by its number. A failed build ends with
an error block naming the failing step (`------` / ` > [3/4] RUN ls /nope:` / `------`) and the error itself.
Internal vertices (`[internal] load …`, `exporting to image`) are the builder's, not the learner's steps.

Pure: fed line by line, it never touches the engine (tests feed it outputs captured from real builds).
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field

VERTEX = re.compile(r"^#(\d+) (.*)$")
STEP_NAME = re.compile(r"^\[(?:(\S+) )?(\d+)/(\d+)\] (.*)$", re.DOTALL)
TIMED_LINE = re.compile(r"^\d+\.\d+ (.*)$", re.DOTALL)  # `#5 0.353 hello`: a step's own output
DONE = re.compile(r"^DONE (\d+(?:\.\d+)?)s$")
CLIPPED = "[output clipped, log limit"  # the engine stopped keeping a step's output (it printed too much)


@dataclass
class Vertex:
    number: int
    name: str
    cached: bool = False
    seconds: float | None = None
    error: str | None = None
    canceled: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def step(self) -> tuple[str, int, int, str] | None:
        """(stage, k, n, instruction) for a Dockerfile step; None for the builder's own vertices."""
        match = STEP_NAME.match(self.name)
        if not match:
            return None
        stage, k, n, instruction = match.groups()
        return stage or "", int(k), int(n), instruction


class PlainProgress:
    """Fed the output line by line; answers what the build did so far."""

    def __init__(self, tail_lines: int = 200):
        self.vertices: dict[int, Vertex] = {}
        self.tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self.error_lines: list[str] = []  # what follows the error block: the build's own error
        self.failing_step: str | None = None  # from the error block (` > [3/4] RUN ls /nope:`)
        self.clipped = False  # a step printed more than the engine keeps
        self._block = 0  # `------` lines seen
        self.last_started: int | None = None  # the vertex whose line came last (the one running now)

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if line.strip():
            self.tail.append(line[:500])
        match = VERTEX.match(line)
        if match:
            self._vertex_line(int(match.group(1)), match.group(2))
            return
        if line.strip() == "------":
            self._block += 1
            return
        if self._block == 1 and line.startswith(" > ") and line.rstrip().endswith(":"):
            self.failing_step = STEP_NAME.sub(r"\4", line[3:].rstrip()[:-1])
            return
        if self._block >= 1 and self._block % 2 == 1:
            return  # inside the error block: the failing step's last lines, already seen under its number
        if line.strip():
            self.error_lines.append(line.strip())

    def _vertex_line(self, number: int, rest: str) -> None:
        vertex = self.vertices.get(number)
        if vertex is None:  # the first line of a vertex is its name
            self.vertices[number] = Vertex(number, rest)
            self.last_started = number
            return
        if rest.startswith("sha256:") or rest == vertex.name:  # its digest, or its name again (it resumed)
            return
        if rest == "CACHED":
            vertex.cached = True
        elif rest == "CANCELED":
            vertex.canceled = True
        elif rest.startswith("ERROR:"):
            vertex.error = rest[len("ERROR:"):].strip()
        elif DONE.match(rest):
            vertex.seconds = float(DONE.match(rest).group(1))
        else:
            timed = TIMED_LINE.match(rest)
            text = timed.group(1) if timed else rest
            if CLIPPED in text:
                self.clipped = True
            if len(vertex.lines) < 50:  # a step's first lines, for a failure's context; the tail has the rest
                vertex.lines.append(text[:500])

    # ---- what it says ---------------------------------------------------------------------------
    def step_vertices(self, stage_order: list[str] | None = None) -> list[Vertex]:
        """The Dockerfile's steps, in Dockerfile order: by stage (as `stage_order` lists them, else as seen),
        then by the step's number in its stage."""
        steps = [vertex for vertex in self.vertices.values() if vertex.step]
        seen: list[str] = []
        for vertex in steps:
            if vertex.step[0] not in seen:
                seen.append(vertex.step[0])
        known = [name.lower() for name in stage_order or []]
        if len(known) == 1:
            known.append("")  # one stage: shown as `stage-0`, or with no name at all
        order = [*known, *[name for name in seen if name.lower() not in known]]

        def position(vertex: Vertex) -> tuple[int, int]:
            name = vertex.step[0].lower()
            return (order.index(name) if name in order else order.index(vertex.step[0])), vertex.step[1]

        return sorted(steps, key=position)

    @property
    def failed_vertex(self) -> Vertex | None:
        return next((vertex for vertex in self.vertices.values() if vertex.error and vertex.step), None)

    @property
    def error(self) -> str | None:
        """The build's error, one line: the failing step's own (`executor failed running …: exit code: 2`),
        else what the builder said last (a Dockerfile the frontend refused)."""
        failed = self.failed_vertex
        if failed is not None:
            return failed.error
        if self.error_lines:
            return self.error_lines[-1]
        return next((vertex.error for vertex in self.vertices.values() if vertex.error), None)

    @property
    def running(self) -> str | None:
        """The instruction of the step that started last and has not ended (the one a timeout stopped)."""
        for vertex in sorted(self.vertices.values(), key=lambda v: v.number, reverse=True):
            if vertex.step and vertex.seconds is None and not vertex.cached:
                return vertex.step[3]
        return None
