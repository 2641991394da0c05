"""`dockyard similarity <id> SUBMISSIONS`: which learners' Dockerfiles and compose files look alike.

It flags pairs for a person to read; it never grades, and a high score is no proof of copying (a short
exercise has few ways to be right). Each learner's Dockerfiles and compose files are normalised first:
comments and blank lines dropped, Dockerfile line continuations joined, instructions upper-cased,
whitespace collapsed, and every line the exercise's starter files already hold removed (what everybody
was given is no evidence). Every pair is then scored with rapidfuzz's `fuzz.ratio` (0-100, an edit-distance
ratio over the normalised text, order included); pairs at or above the threshold go into a ranked HTML
table with each side's lines next to each other and the shared ones highlighted. Every learner string in
the page is escaped; the page has no script and loads nothing.
"""

from __future__ import annotations

import html
import itertools
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard import batch
from dockyard import scratch as scratches
from dockyard.course import exercises
from dockyard.errors import ExitStatus, UsageError

DEFAULT_THRESHOLD = 85.0
MIN_LINES = 2  # a learner with fewer own lines than this (the starter untouched) is in no pair
DOCKERFILE_NAMES = re.compile(r"^(Dockerfile|Containerfile)(\..+)?$|.+\.Dockerfile$", re.IGNORECASE)
COMPOSE_NAMES = {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}
MAX_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float
    lines_a: tuple[str, ...]
    lines_b: tuple[str, ...]

    @property
    def shared(self) -> set[str]:
        return set(self.lines_a) & set(self.lines_b)


def normalise_dockerfile(text: str) -> list[str]:
    joined, lines = "", []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not joined and (not line or line.startswith("#")):
            continue
        if joined and line.startswith("#"):
            continue  # a comment inside a continuation
        if line.endswith("\\"):
            joined += line[:-1].strip() + " "
            continue
        line, joined = (joined + line).strip(), ""
        if line:
            lines.append(_instruction_case(line))
    if joined.strip():
        lines.append(_instruction_case(joined.strip()))
    return lines


def _instruction_case(line: str) -> str:
    words = line.split(None, 1)
    rest = " ".join(words[1].split()) if len(words) > 1 else ""
    instruction = words[0].upper()
    if instruction == "FROM":  # `AS` names a stage in any case, as the instruction itself is
        rest = re.sub(r"(?<=\s)as(?=\s)", "AS", rest, flags=re.IGNORECASE)
    return f"{instruction} {rest}".strip()


def normalise_compose(text: str) -> list[str]:
    lines = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.strip():
            lines.append(" ".join(line.split()) if not line.startswith(" ") else
                         " " * (len(line) - len(line.lstrip())) + " ".join(line.split()))
    return lines


def files_of(folder: Path) -> list[Path]:
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_symlink() or not path.is_file() or len(path.relative_to(folder).parts) > 3:
            continue
        if DOCKERFILE_NAMES.match(path.name) or path.name in COMPOSE_NAMES:
            found.append(path)
    return found


def normalised_lines(folder: Path) -> list[str]:
    lines: list[str] = []
    for path in files_of(folder):
        try:
            text = path.read_bytes()[:MAX_FILE_BYTES].decode("utf-8", "replace")
        except OSError:
            continue
        lines += normalise_compose(text) if path.name in COMPOSE_NAMES else normalise_dockerfile(text)
    return lines


def compare(learners: dict[str, list[str]], starter: set[str], threshold: float = DEFAULT_THRESHOLD) -> list[Pair]:
    """Every pair of learners at or above `threshold`, highest first."""
    from rapidfuzz import fuzz

    own = {name: tuple(line for line in lines if line not in starter) for name, lines in learners.items()}
    pairs = []
    for a, b in itertools.combinations(sorted(own), 2):
        if len(own[a]) < MIN_LINES or len(own[b]) < MIN_LINES:
            continue
        score = fuzz.ratio("\n".join(own[a]), "\n".join(own[b]))
        if score >= threshold:
            pairs.append(Pair(a, b, round(score, 1), own[a], own[b]))
    return sorted(pairs, key=lambda pair: (-pair.score, pair.a, pair.b))


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
td.score{text-align:right;font-weight:600} .note{color:#555}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1rem} pre{white-space:pre-wrap;margin:0;font-size:.85em}
pre span{display:block} pre span.shared{background:#fff3c4} h2{font-size:1.1rem;margin-top:2rem}
""".strip()


def to_html(exercise_id: str, pairs: list[Pair], threshold: float, learners: int) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
             f"<title>Similarity: {esc(exercise_id)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Similar submissions: {esc(exercise_id)}</h1>",
             f'<p class="note">{learners} learners, {len(pairs)} pair(s) at or above {threshold:g}/100 after '
             "normalising (comments, blank lines, instruction case, the starter's own lines left out). "
             "This flags pairs for a person to read; it is not evidence on its own and it never grades.</p>"]
    if not pairs:
        parts.append("<p>No pair reaches the threshold.</p>")
    else:
        parts.append("<table><thead><tr><th>#</th><th>learner</th><th>learner</th><th>similarity</th>"
                     "<th>shared lines</th></tr></thead><tbody>")
        for rank, pair in enumerate(pairs, start=1):
            parts.append(f'<tr><td><a href="#pair-{rank}">{rank}</a></td><td>{esc(pair.a)}</td><td>{esc(pair.b)}</td>'
                         f'<td class="score">{pair.score:g}</td><td>{len(pair.shared)}</td></tr>')
        parts.append("</tbody></table>")
        for rank, pair in enumerate(pairs, start=1):
            shared = pair.shared
            parts.append(f'<h2 id="pair-{rank}">{rank}. {esc(pair.a)} and {esc(pair.b)}: {pair.score:g}</h2>'
                         '<div class="side">')
            for name, lines in ((pair.a, pair.lines_a), (pair.b, pair.lines_b)):
                body = "".join(f'<span class="{"shared" if line in shared else "own"}">{esc(line)}</span>'
                               for line in lines)
                parts.append(f"<div><strong>{esc(name)}</strong><pre>{body}</pre></div>")
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def run(exercise_id: str, submissions: Path, out: Path, threshold: float = DEFAULT_THRESHOLD) -> list[Pair]:
    exercise = exercises.load(exercise_id)
    learners = [learner for learner in batch.discover(Path(submissions), exercise.id, exercise.aliases) if not learner.missing]
    scratch = Path(tempfile.mkdtemp(prefix=scratches.prefix("similarity")))
    try:
        texts = {}
        for learner in learners:
            try:
                texts[learner.student] = normalised_lines(batch.unpack(learner, scratch))
            except UsageError:
                continue  # a refused archive: batch reports it; there is nothing to compare
        starter = set(normalised_lines(exercise.folder))
        pairs = compare(texts, starter, threshold)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_html(exercise_id, pairs, threshold, len(texts)), encoding="utf-8")
    return pairs


def command(args, env) -> int:
    if not 0 <= args.threshold <= 100:
        raise UsageError(f"--threshold must be between 0 and 100, not {args.threshold:g}")
    pairs = run(args.exercise, Path(args.submissions), Path(args.out), args.threshold)
    for pair in pairs:
        print(f"{pair.score:5.1f}  {pair.a}  {pair.b}", file=env.stdout)
    print(f"{len(pairs)} pair(s) at or above {args.threshold:g} → {args.out} "
          "(for a person to read: it flags, it never grades)", file=env.stdout)
    return ExitStatus.OK
