"""`dockyard`: parse → program(args, env) → ExitStatus. All error handling lives in `main`.

Heavy modules (docker, pytest, rich) are imported inside the commands that use them so
that `dockyard --help` answers at once.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import TextIO

from dockyard.course.limits import BUILDERS
from dockyard.errors import DockyardError, ExitStatus, UsageError


@dataclass
class Environment:
    """Streams and terminal facts, swappable in tests (the httpie pattern)."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    colour: bool = field(default_factory=lambda: sys.stdout.isatty() and "NO_COLOR" not in os.environ)

    def console(self, stderr: bool = False):
        from rich.console import Console

        return Console(file=self.stderr if stderr else self.stdout, force_terminal=self.colour if self.colour else None,
                       no_color=not self.colour, highlight=False, soft_wrap=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard",
        description="Learn Docker by doing: check your exercises, grade a class, keep the engine tidy.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--engine", metavar="URL",
                        help="this host's Docker engine socket (default: DOCKER_HOST or the local socket); "
                             "to grade on other hosts, run `dockyard worker` there and pass --queue")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add = lambda name, help: commands.add_parser(name, help=help, description=help, parents=[common])  # noqa: E731

    add("doctor", "is everything the course needs ready?")
    images = add("images", "make sure every base image the course uses is present")
    images.add_argument("--force", action="store_true", help="rebuild the offline stand-ins even if present")
    clean = add("clean","remove what dead gradings and notebooks left behind")
    clean_what = clean.add_mutually_exclusive_group()
    clean_what.add_argument("--all", action="store_true", help="remove everything dockyard ever made (stand-in base images stay)")
    clean_what.add_argument("--run", metavar="RUN_ID", help="remove exactly one grading's containers, networks, volumes "
                            "and images (its run id: a report's run_id), whether its maker lives or not")

    add("list", "the exercises, with concept and points")
    reset = add("reset", "put an exercise's starter files back (your version is kept in backups/)")
    reset.add_argument("exercise", help="exercise id, e.g. 03-first-image")
    reset.add_argument("--yes", "-y", action="store_true", help="do not ask first")
    reset.add_argument("--revision", default="HEAD", help="the git revision whose starter files to restore (default: HEAD)")
    check = add("check", "check your exercise and see what to fix")
    check.add_argument("exercise", help="exercise id, e.g. 03-first-image")
    check.add_argument("folder", nargs="?", help="your folder (default: exercises/<id>)")
    check.add_argument("--runtime", help="container runtime for your containers, e.g. runsc")
    grade = add("grade", "grade a submission (machine-readable outputs)")
    grade.add_argument("exercise")
    grade.add_argument("folder")
    grade.add_argument("--format", metavar="NAME[=DEST]", action="append", default=[],
                       help="an output and where it goes (repeatable; DEST '-' or none: stdout, at most one): "
                            "json, junit, gradescope, prairielearn, classroom (appends result=<base64>), codegrade")
    grade.add_argument("--json", action="store_true", help="print only the JSON report on stdout (--format json)")
    grade.add_argument("--junit", metavar="FILE", help="(--format junit=FILE) also write a JUnit XML report")
    grade.add_argument("--junit-flavour", choices=("standard", "codegrade"), default="standard",
                       help="JUnit layout for --junit: standard (points as properties) or codegrade (points as weight)")
    grade.add_argument("--codegrade", metavar="FILE", help="(--format codegrade=FILE) also write JUnit XML as CodeGrade's parser reads it")
    grade.add_argument("--gradescope", metavar="FILE", help="(--format gradescope=FILE) also write Gradescope's results.json")
    grade.add_argument("--visibility", metavar="[ITEM=]WHEN", action="append", default=[],
                       help="Gradescope visibility, for every test or one rubric item (repeatable): "
                            "visible, hidden, after_due_date, after_published")
    grade.add_argument("--submission-metadata", metavar="FILE",
                       help="Gradescope's submission_metadata.json: lateness goes into the results "
                            "(default: /autograder/submission_metadata.json when it exists)")
    grade.add_argument("--prairielearn", metavar="FILE",
                       help="also write PrairieLearn's results.json (score 0-1; gradable false when grading "
                            "could not run); the grading budget defaults to 540 s")
    grade.add_argument("--classroom", metavar="FILE",
                       help="append GitHub Classroom's result=<base64> step output to FILE (pass \"$GITHUB_OUTPUT\")")
    grade.add_argument("--due", metavar="WHEN", help="due date (ISO 8601) for the late policy; default: the "
                                                     "exercise's [late] due, or Gradescope's due_date")
    grade.add_argument("--late", metavar="POLICY", help='late penalty, e.g. "10%%/day, max 3 days", applied with '
                                                        "Gradescope's created_at as the submission time")
    grade.add_argument("--cooldown", metavar="DURATION",
                       help="with Gradescope's output: grade a learner at most once per DURATION (30m, 2h); a "
                            "submission within it keeps the last graded score (from submission_metadata.json)")
    grade.add_argument("--deadline", metavar="SECONDS", type=float,
                       help="stop grading after this long (default: from the exercise's limits; 540 with --prairielearn)")
    grade.add_argument("--runtime", help="container runtime for learner containers, e.g. runsc")
    grade.add_argument("--queue", metavar="REDIS_URL", help="grade on a `dockyard worker` of this queue, not here")
    grade.add_argument("--wait", type=float, default=900, metavar="SECONDS",
                       help="with --queue: how long to wait for a worker's result (default: 900)")

    batch = add("batch", "grade a whole class in parallel")
    batch.add_argument("exercise")
    batch.add_argument("submissions", help="folder of learners' folders, .zip or .tar.gz files, or nbgrader's submitted/")
    batch.add_argument("--jobs", type=int, default=None, help="gradings at once (default: number of cores)")
    batch.add_argument("--out", default="gradebook", help="output folder (default: ./gradebook)")
    batch.add_argument("--force", action="store_true", help="regrade even unchanged submissions")
    batch.add_argument("--only", metavar="STUDENT", action="append", default=None,
                       help="regrade just this learner (repeatable), even if unchanged; the gradebook is updated "
                            "in place and everyone else's result is kept")
    batch.add_argument("--due", metavar="WHEN",
                       help="due date and time, ISO 8601 (e.g. 2026-12-01T23:59; UTC unless a zone is given); "
                            "default: the exercise's [late] due, or Gradescope's due_date")
    batch.add_argument("--late", metavar="POLICY",
                       help='late penalty, e.g. "10%%/day, max 3 days" (every started day costs 10%%; later than '
                            "3 days: no credit); submission times from nbgrader's timestamp.txt, Gradescope's "
                            "submission_metadata.json, else the files' times")
    batch.add_argument("--roster", metavar="CSV",
                       help="roster mapping each submission to the LMS's student ids: writes <out>/lms.csv")
    batch.add_argument("--export", choices=("canvas", "moodle"), default=None,
                       help="columns of lms.csv, with --roster (default: canvas)")
    batch.add_argument("--queue", metavar="REDIS_URL",
                       help="grade on the `dockyard worker`s of this queue (redis://HOST:PORT/DB, rediss://…)")
    for parser_with_builder in (check, grade, batch):
        parser_with_builder.add_argument(
            "--builder", choices=BUILDERS, default=None,
            help="which builder builds the images (default: the exercise's, else auto: BuildKit only for a "
                 "Dockerfile that needs it, e.g. RUN --mount; see docs/builders.md)")
    for parser_with_queue in (grade, batch):
        parser_with_queue.add_argument("--result-ttl", type=int, default=None, metavar="SECONDS",
                                       help="with --queue: how long the queue keeps each result (default: a week)")

    worker = add("worker", "grade queued submissions with this host's engine (run one on every Docker host)")
    worker.add_argument("--queue", metavar="REDIS_URL", required=True,
                        help="redis://[user:password@]HOST:PORT/DB, rediss://… (TLS) or unix:///path")
    worker.add_argument("--processes", type=int, default=None, help="gradings at once (default: number of cores)")
    worker.add_argument("--result-ttl", type=int, default=7 * 24 * 3600, metavar="SECONDS",
                        help="how long a result is kept when the sender did not say (default: a week)")
    worker.add_argument("--base-images", metavar="IMAGE,IMAGE",
                        help="the base images the preflight requires (default: every course image)")

    package = add("package", "write a hosted platform's autograder bundle, grading through the job queue")
    package.add_argument("platform", choices=("gradescope", "prairielearn"))
    package.add_argument("exercise")
    package.add_argument("dir", help="a new or empty folder for the bundle")
    package.add_argument("--queue", metavar="REDIS_URL", required=True,
                         help="the queue the platform sends submissions to (reachable from the platform)")
    package.add_argument("--budget", metavar="SECONDS", type=float,
                         help="the platform's wait for a result (default 540; PrairieLearn: at most 560)")
    package.add_argument("--image", help="PrairieLearn: the grader image's name (default: dockyard-grader:<ref>)")
    package.add_argument("--visibility", metavar="[ITEM=]WHEN", help="Gradescope: visibility of the tests")
    package.add_argument("--cooldown", metavar="DURATION", help="Gradescope: grade a learner at most once per "
                                                                "DURATION (30m, 2h)")
    package.add_argument("--late", metavar="POLICY", help='Gradescope: late penalty, e.g. "10%%/day, max 3 days"')
    package.add_argument("--due", metavar="WHEN", help="Gradescope: due date (default: the assignment's)")
    classroom = add("classroom", "write a GitHub Classroom template repository for an exercise")
    classroom.add_argument("exercise")
    classroom.add_argument("dir", help="a new or empty folder for the template repository")
    for bundle in (package, classroom):
        bundle.add_argument("--course-repository", metavar="URL_OR_OWNER/NAME",
                            help="where the platform installs Dockyard and the rubrics from (default: git origin)")
        bundle.add_argument("--course-ref", metavar="REF",
                            help="the course's tag or commit every learner is graded by (default: this commit)")

    similarity = add("similarity", "flag pairs of learners whose Dockerfiles and compose files look alike "
                                   "(for a person to read; it never grades)")
    similarity.add_argument("exercise")
    similarity.add_argument("submissions", help="the same folder `batch` takes")
    similarity.add_argument("--out", default="similarity.html", help="the HTML table (default: ./similarity.html)")
    similarity.add_argument("--threshold", type=float, default=85.0,
                            help="lowest similarity (0-100) of a pair to list (default: 85)")
    return parser


def program(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from dockyard.cli import commands

    handler = getattr(commands, "cmd_" + args.command.replace("-", "_"))
    return handler(args, env)


def _sigterm_as_interrupt(signum, frame):  # so `finally` blocks (sandbox cleanup) run on SIGTERM too
    raise KeyboardInterrupt


def _choose_builder(args) -> None:
    """`--builder` reaches every grading of this process (and the children they fork) through the environment,
    as DOCKYARD_LIMITS does; a queue's workers grade with their own settings, so the two do not mix."""
    builder = getattr(args, "builder", None)
    if builder is None:
        return
    if getattr(args, "queue", None):
        raise UsageError("--builder applies to gradings on this machine, not to a queue's workers",
                         hint="set `builder` in the exercise's [sandbox] table, or DOCKYARD_BUILDER on the workers")
    os.environ["DOCKYARD_BUILDER"] = builder


@functools.cache
def shared_parser() -> argparse.ArgumentParser:
    """One parser per process (argparse parses many command lines with one); the resident grader builds it
    before it forks, so no served command pays for it."""
    return build_parser()


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    env = env or Environment()
    parser = shared_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        _choose_builder(args)
        return int(program(args, env))
    except DockyardError as error:
        print(f"dockyard: {error.one_line()}", file=env.stderr)
        return int(error.exit_status)
    except KeyboardInterrupt:
        print("dockyard: interrupted; everything this run made was removed", file=env.stderr)
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitStatus.OK)
    except Exception as error:  # a bug of ours: one line for the user, the traceback on request
        if os.environ.get("DOCKYARD_DEBUG"):
            raise
        first = str(error).splitlines()[0][:200] if str(error) else ""
        print(f"dockyard: internal error: {type(error).__name__}: {first} (set DOCKYARD_DEBUG=1 for details)",
              file=env.stderr)
        return int(ExitStatus.ERROR)
