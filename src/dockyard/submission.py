"""A learner's folder, made safe to grade: checked, copied to scratch, its Dockerfile and compose file parsed.

Nothing here raises for a learner's mistake: a refused context, a Dockerfile that does not
parse (or is binary junk), a compose file with a YAML error are kept as one-line strings on
the `Submission`, and the rubric items that need them fail with those lines.
The grader adds nothing to the copy but what the rubric's own `prepare.py` adds (see `prepare`).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dockyard import bounded, scratch
from dockyard.errors import ContextRefused, RefusalKind
from dockyard.sandbox.context import FOLDER_BYTES_FACTOR, FOLDER_FILES_FACTOR, check_context, scratch_copy
from dockyard.static import remote, syntax, yamlguard
from dockyard.static.dockerfile import DockerfileError, DockerfileProblem, parse_dockerfile
from dockyard.static.policy import find_compose_file
from dockyard.text import clean, one_line

MAX_TEXT_BYTES = 1 * 2**20  # a Dockerfile or compose file bigger than this is not a learner's


@dataclass
class Submission:
    path: Path  # scratch copy, safe to modify
    original: Path
    exercise_id: str
    dockerfile: object | None = None  # dockyard.static.dockerfile.DockerfileFacts
    dockerfile_error: str | None = None  # the learner's line for dockerfile_problem
    dockerfile_problem: DockerfileError | None = None  # why the Dockerfile could not be read (typed: `.kind`)
    compose_file: Path | None = None
    compose: dict | None = None
    compose_error: str | None = None
    refused: str | None = None  # the build context broke a sandbox rule (too big, symlink out): the reason
    refusal: RefusalKind | None = None  # which rule (None when the folder could not even be read)
    _scratch_root: Path | None = field(default=None, repr=False)

    def read(self, name: str) -> str | None:
        target = self._inside(name)
        if target is None or not target.is_file():
            return None
        try:
            return bounded.read_head(target, MAX_TEXT_BYTES).decode("utf-8", "replace")
        except OSError:
            return None

    def exists(self, name: str) -> bool:
        target = self._inside(name)
        return target is not None and (target.exists() or target.is_symlink())

    def _inside(self, name: str) -> Path | None:
        """The path of `name` in the copy, or None when it (or a link on the way) leads out of it."""
        target = self.path / name
        try:
            resolved = target.resolve()
        except (OSError, RuntimeError):
            return None
        root = self.path.resolve()
        return target if resolved == root or root in resolved.parents else None

    def build_blocker(self, builder: str = "auto") -> str | None:
        """Why this folder cannot be built at all (one learner-facing line), or None when it can, by `builder`
        (the exercise's: auto, classic or buildkit)."""
        if self.refused or not (self.path / "Dockerfile").is_file():
            return self.no_dockerfile_message()  # which says the refusal first
        if self.dockerfile_problem is not None and self.dockerfile_problem.kind is DockerfileProblem.NOT_TEXT:
            return self.dockerfile_error
        refused = self.remote_sources()  # the grading host's network: first, whatever else is wrong
        if refused:
            return refused
        problems = syntax.builder_problems(self.dockerfile, builder) if self.dockerfile is not None else []
        if problems:
            more = f" (and {len(problems) - 1} more like it)" if len(problems) > 1 else ""
            return problems[0].message + more
        return None

    def remote_sources(self) -> str | None:
        """The Dockerfile's lines that ask the engine for the grading host's network (`ADD <url>`,
        `RUN --network=host`, …): refused before any build, whatever the exercise says."""
        if self.dockerfile is not None:
            found = remote.refusals(self.dockerfile)
        elif self._inside("Dockerfile") is not None:
            found = remote.check(self.path / "Dockerfile")
        else:
            found = []
        return remote.summary(found) or None

    def no_dockerfile_message(self) -> str:
        """What to do about a missing Dockerfile (or a refused folder, which hides it)."""
        if self.refused:
            return f"the build context was refused: {self.refused}"
        try:
            near = [p.name for p in self.path.iterdir() if p.name.lower().startswith("dockerfile")]
        except OSError:
            near = []
        if near:
            return f"no file named exactly `Dockerfile` in your folder (found {', '.join(sorted(near)[:3])})"
        return "no Dockerfile in your folder: create a file named `Dockerfile`"

    def close(self) -> None:
        if self._scratch_root is not None:
            shutil.rmtree(self._scratch_root, ignore_errors=True)
            self._scratch_root = None

    def __enter__(self) -> "Submission":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def load_submission(folder: Path, exercise) -> Submission:
    """Check the original folder (size, symlinks out), copy it to scratch, parse what can be parsed."""
    folder = Path(folder)
    exercise_id = getattr(exercise, "id", str(exercise))
    limits = getattr(exercise, "limits", None)
    max_bytes = limits.context_max_bytes if limits else 50 * 2**20
    max_files = limits.context_max_files if limits else 10_000
    refused, refusal = _check(folder, max_bytes, max_files)  # cheap (metadata only): a refused folder is not copied
    path = None
    if refusal is not RefusalKind.TOO_BIG:
        try:  # a bounded snapshot: what is graded from here on, whatever becomes of the learner's folder
            path = scratch_copy(folder, max_bytes=max_bytes * FOLDER_BYTES_FACTOR,
                                max_files=max_files * FOLDER_FILES_FACTOR)
        except ContextRefused as exc:
            refused, refusal = exc.reason, exc.kind
        except Exception as exc:  # an unreadable file and the like: a learner-facing line, not a crash
            refused, refusal = f"the folder could not be copied: {one_line(clean(exc))}", RefusalKind.TOO_BIG
        else:
            if refused is None:  # checked again on the snapshot: the folder may have changed since
                refused, refusal = _check(path, max_bytes, max_files)
    if path is None:
        # nothing (or nothing useful) to copy: grade an empty copy (every build item fails with the reason)
        empty = _empty_dir()
        path = Path(scratch_copy(empty))
        shutil.rmtree(empty, ignore_errors=True)
    submission = Submission(path=path, original=folder.resolve(), exercise_id=exercise_id, refused=refused,
                            refusal=refusal, _scratch_root=path.parent)
    if not refused:
        prepare(submission.path, getattr(exercise, "grader", None))
    _parse_dockerfile(submission)
    _parse_compose(submission)
    return submission


def _check(folder: Path, max_bytes: int, max_files: int) -> tuple[str | None, RefusalKind | None]:
    """(reason, kind) when the folder breaks a context rule, else (None, None)."""
    try:
        check_context(folder, max_bytes, max_files=max_files)
    except ContextRefused as exc:
        return exc.reason, exc.kind
    except Exception as exc:  # an unreadable .dockerignore and the like: a learner-facing line, not a crash
        return f"the folder could not be read: {one_line(clean(exc))}", None
    return None, None


def prepare(path: Path, grader: Path | None) -> None:
    """Run the rubric's own preparation of the scratch copy, `graders/<id>/prepare.py: prepare(path)`,
    before anything reads or builds it (06-dockerignore adds a `.git/` folder, which git cannot carry)."""
    script = Path(grader) / "prepare.py" if grader else None
    if script is None or not script.is_file():
        return

    spec = importlib.util.spec_from_file_location(f"dockyard_prepare_{Path(grader).name.replace('-', '_')}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.prepare(Path(path))


def _empty_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix=scratch.prefix("empty")))


def _parse_dockerfile(submission: Submission) -> None:
    dockerfile = submission.path / "Dockerfile"
    if not dockerfile.is_file() or submission._inside("Dockerfile") is None:
        return
    raw = bounded.read_head(dockerfile, MAX_TEXT_BYTES + 1)
    if len(raw) > MAX_TEXT_BYTES:
        _dockerfile_unreadable(submission, "the Dockerfile is over 1 MiB: that is not a Dockerfile",
                               DockerfileProblem.TOO_BIG)
        return
    if b"\x00" in raw:
        _dockerfile_unreadable(submission, "the Dockerfile is not a text file (it holds binary data)",
                               DockerfileProblem.NOT_TEXT)
        return
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _dockerfile_unreadable(submission, f"the Dockerfile is not valid UTF-8 text (byte {exc.start})",
                               DockerfileProblem.NOT_UTF8)
        return
    try:
        submission.dockerfile = parse_dockerfile(dockerfile)
    except DockerfileError as exc:
        submission.dockerfile_problem = exc
        submission.dockerfile_error = one_line(str(exc)) or "the Dockerfile does not parse"
    except Exception as exc:  # the parser choked: still the learner's file, not our crash
        _dockerfile_unreadable(submission, f"the Dockerfile does not parse: {one_line(str(exc))}",
                               DockerfileProblem.INVALID)


def _dockerfile_unreadable(submission: Submission, message: str, kind: DockerfileProblem) -> None:
    submission.dockerfile_problem = DockerfileError(message, kind=kind)
    submission.dockerfile_error = message


def _parse_compose(submission: Submission) -> None:
    compose_file = find_compose_file(submission.path)
    if compose_file is None or submission._inside(compose_file.name) is None:
        return
    submission.compose_file = compose_file
    try:
        raw = bounded.read_head(compose_file, MAX_TEXT_BYTES)
        text = raw.decode("utf-8", "replace")
        yamlguard.check_text(text, compose_file.name)  # before a loader walks it
        data = yamlguard.load_data(text, compose_file.name)  # YAML 1.2, as Compose reads it
    except yamlguard.YamlTooCostly as exc:
        submission.compose_error = str(exc)
        return
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{compose_file.name}:{mark.line + 1}" if mark is not None else compose_file.name
        problem = getattr(exc, "problem", None) or one_line(str(exc))
        submission.compose_error = f"{where}: YAML error: {problem}"
        return
    if not isinstance(data, dict):
        submission.compose_error = f"{compose_file.name}: expected a mapping with `services:`, found {type(data).__name__}"
        return
    submission.compose = data

