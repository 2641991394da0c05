"""One root exception; each subclass carries what a person needs to act on it.

`str(error)` is always one line a learner or teacher can read; `hint` (when set)
says what to do about it. The CLI prints both and maps `exit_status` to the code.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Exit codes: the CLI's contract with scripts, CI and teachers. Every error carries its own."""

    OK = 0  # graded, whatever the score; or the command did what it was asked
    ERROR = 1  # something went wrong that is not the user's input nor the engine
    USAGE = 2  # bad arguments, unknown exercise, no such folder
    ENGINE_UNAVAILABLE = 3  # no Docker engine answers (or compose v2 is missing)
    INTERRUPTED = 130  # Ctrl-C


def causes(exc: BaseException):
    """`exc` and every exception it wraps (`raise … from`, the one being handled, and exceptions passed as
    arguments or as `.reason`, as urllib3 and urllib do): decide on their types, never on their words."""
    seen, todo = set(), [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]


def caused_by(exc: BaseException, *types: type) -> bool:
    return any(isinstance(found, types) for found in causes(exc))


class DockyardError(Exception):
    exit_status = ExitStatus.ERROR

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(DockyardError):
    exit_status = ExitStatus.USAGE

    def given_as(self, source: str) -> UsageError:
        """This error, same type and context, its message led by what the person typed (`--roster`): the
        modules that refuse a value do not know which flag it came from, the CLI does."""
        message = f"{source}: {self.message}"
        error = type(self).__new__(type(self), message)  # not copy.copy: it would call __init__ with args only
        error.__dict__.update(self.__dict__, message=message)
        error.args = (message,)
        return error


class UnknownChoice(UsageError):
    """A value that must be one of a fixed set (a visibility, an LMS format, a JUnit flavour)."""

    def __init__(self, what: str, value, choices):
        super().__init__(f"{what} must be one of {', '.join(choices)} (got {value!r})")
        self.what = what
        self.value = value
        self.choices = tuple(choices)


class BadDuration(UsageError):
    def __init__(self, text):
        super().__init__("give a duration above 0 such as 90s, 30m, 2h or 1d")
        self.text = text


class BadRoster(UsageError):
    """An LMS roster CSV that cannot be used; `line` when one row is at fault."""

    def __init__(self, path, message: str, line: int | None = None):
        super().__init__(message)
        self.path = str(path)
        self.line = line


class BadSubmissionMetadata(UsageError):
    """Gradescope's submission_metadata.json that cannot be used: unreadable, not JSON, or `field` is wrong."""

    def __init__(self, message: str, path=None, field: str | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.field = field


class UnknownExercise(UsageError):
    def __init__(self, exercise_id: str, known: list[str]):
        super().__init__(
            f"unknown exercise {exercise_id!r}",
            hint="known: " + ", ".join(known) if known else "no exercises found",
        )
        self.exercise_id = exercise_id


class EngineUnavailable(DockyardError):
    exit_status = ExitStatus.ENGINE_UNAVAILABLE


class ComposeUnavailable(EngineUnavailable):
    pass


class QueueUnreachable(EngineUnavailable):
    """Redis stopped answering while a sender waited for its jobs, for longer than it rides out: not gradable now
    (the jobs stay queued; the same command attaches to them again)."""


class EngineLost(DockyardError):
    """The engine went away in the middle of a run: nobody's fault, worth a retry."""


class BaseImageMissing(EngineLost):
    """A course base image is missing on this engine: the engine's set-up, never the learner's (retry)."""

    def __init__(self, image: str, engine: str | None = None):
        where = f" on {engine}" if engine else " on this engine"
        super().__init__(f"the course base image {image} is missing{where} (not your doing): it will be graded again",
                         hint="run `dockyard images` against that engine, then grade again")
        self.image = image


class DiskFull(DockyardError):
    def __init__(self, free_bytes: int, needed_bytes: int, where: str):
        super().__init__(
            f"only {free_bytes / 2**30:.1f} GiB free on the Docker data root ({where}); "
            f"grading needs at least {needed_bytes / 2**30:.1f} GiB",
            hint="free some space, e.g. `docker system prune`, then try again",
        )
        self.free_bytes = free_bytes


class BaseImageUnavailable(DockyardError):
    def __init__(self, image: str, why: str, what_to_do: str):
        super().__init__(f"base image {image} can be neither pulled nor built: {why}", hint=what_to_do)
        self.image = image


class RefusalKind(enum.Enum):
    """Which sandbox rule a build context broke: the grader acts on the kind, never on the message's words."""

    TOO_BIG = "too-big"  # over the exercise's context_max_bytes: graded as an empty folder
    SYMLINK_OUT = "symlink-out"  # a symlink leading out of the folder: the folder is kept, the link refused
    GRADER_BASE = "grader-base"  # FROM one of the grader's own images


class ContextRefused(DockyardError):
    """The build context breaks a sandbox rule (`kind`); refused before building. `reason` is the learner's line."""

    def __init__(self, path: str, reason: str, kind: RefusalKind):
        super().__init__(f"build context refused: {reason}", hint=None)
        self.path = path
        self.reason = reason
        self.kind = kind


class BuildFailed(DockyardError):
    def __init__(self, reason: str, log_tail: list[str] | None = None, step: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.log_tail = list(log_tail or [])
        self.step = step


class BuildTimedOut(BuildFailed):
    pass


class ComposeError(DockyardError):
    def __init__(self, argv: list[str], returncode: int, stderr: str, message: str | None = None):
        tail = " ".join((stderr or "").strip().splitlines()[-3:])
        super().__init__(message or f"docker compose {argv[-1] if argv else ''} failed (exit {returncode}): {tail}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class PolicyViolation(DockyardError):
    def __init__(self, file: str, line: int | None, rule: str, message: str):
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message} [{rule}]")
        self.file = file
        self.line = line
        self.rule = rule


class BuildNotIsolated(DockyardError):
    """The build network's firewall rules cannot be installed here (not root, a remote engine), and the
    exercise and the run both require isolated builds: nothing is built. Not the learner's doing."""

    def __init__(self, why: str):
        super().__init__(f"builds cannot be isolated from this machine's services: {why}",
                         hint="run the grader as root next to a local engine, or allow unisolated builds with "
                              "`require_build_isolation = false` in the exercise's [sandbox] table or "
                              "DOCKYARD_LIMITS=require_build_isolation=false")
        self.why = why
