"""One function per CLI command: `cmd_<name>(args, env) -> ExitStatus`. Errors propagate to cli.main.

The job queue and the platform bundles are imported in the commands that use them (`--queue`, `worker`,
`package`, `classroom`): tens of ms that a learner's `dockyard check` would otherwise pay on every press.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from dockyard import baseimages, batch, engine, scratch
from dockyard.cli import outputs, similarity
from dockyard.course import cooldown, exercises, late, reset
from dockyard.course.points import rubric_item_ids, rubric_points
from dockyard.engine import doctor, gc
from dockyard.errors import BadDuration, EngineUnavailable, ExitStatus, UnknownChoice, UsageError
from dockyard.report import gradescope, terminal
from dockyard.report.model import Report
from dockyard.rubric import runner
from dockyard.text import clean, one_line


LOCAL_ENGINE_SCHEMES = ("unix://", "npipe://")


def engine_url(args) -> str | None:
    return getattr(args, "engine", None) or None


def local_engine_url(args) -> str | None:
    """--engine for grading: this host's socket only. A remote engine would get this host's probes,
    firewall and disk checks, none of which reach it: grading runs on the engine's own host."""
    url = engine_url(args)
    if url and not url.startswith(LOCAL_ENGINE_SCHEMES):
        raise UsageError(f"--engine {url}: grading must run on the engine's own host; there, run "
                         "`dockyard worker --queue redis://…` and pass --queue redis://… here instead")
    return url


def cmd_doctor(args, env) -> ExitStatus:
    console = env.console()
    findings = doctor.doctor(engine_url(args))
    for finding in findings:
        mark = "[green]✓[/]" if finding.ok else ("[red]✗[/]" if finding.required else "[yellow]![/]")
        console.print(f"{mark} {finding.name}: {finding.detail}")
        if not finding.ok and finding.fix:
            console.print(f"    → {finding.fix}")
    blocking = [finding for finding in findings if finding.required and not finding.ok]
    if any(finding.name == "engine" for finding in blocking):
        return ExitStatus.ENGINE_UNAVAILABLE
    return ExitStatus.ERROR if blocking else ExitStatus.OK


def cmd_images(args, env) -> ExitStatus:
    from rich.table import Table  # lazy: rich is heavy for `dockyard --help`

    console = env.console(stderr=False)
    client = engine.client(engine_url(args))
    with console.status("checking base images…") as status:
        def progress(image: str, message: str) -> None:
            status.update(f"{image}: {message}")

        results = baseimages.ensure(client, progress=progress, force=args.force)
    table = Table("image", "action", "seconds", title="Base images")
    for result in results:
        table.add_row(result.image, result.action, f"{result.seconds:.1f}")
    console.print(table)
    return ExitStatus.OK


RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # a label value a run id can be (hex, notebook-…)


def cmd_clean(args, env) -> ExitStatus:
    if getattr(args, "run", None) is not None:
        return _clean_run(args, env)
    removed = gc.sweep(engine_url(args), everything=args.all)
    cache = gc.prune_build_cache(engine_url(args), buildkit=args.all)  # BuildKit's records: only with --all
    folders = scratch.sweep()
    left = gc.leftovers(engine_url(args))
    summary = ", ".join(f"{count} {kind}(s)" for kind, count in removed.items())
    print(f"removed {summary}, {cache} cached build step(s), and {folders} scratch folder(s) of gone gradings",
          file=env.stdout)
    if args.all:
        from dockyard.resident import client as resident

        stopped = resident.stop_servers()
        if stopped:
            print(f"stopped {stopped} resident grader(s) (the next check starts one again)", file=env.stdout)
    if any(left.values()) and args.all:
        print("still present: " + ", ".join(f"{n} {k}(s)" for k, n in left.items() if n), file=env.stderr)
        return ExitStatus.ERROR
    return ExitStatus.OK


def _clean_run(args, env) -> ExitStatus:
    """`dockyard clean --run RUN_ID`: that run's labelled resources and nothing else (no other run's, no cache)."""
    if not RUN_ID.match(args.run):
        raise UsageError(f"not a run id: {one_line(clean(args.run), 80)!r}",
                         hint="a report's run_id, e.g. `dockyard clean --run 7a683358c044`")
    removed = gc.sweep(engine_url(args), run_id=args.run)
    left = gc.leftovers(engine_url(args), run_ids=[args.run])
    summary = ", ".join(f"{count} {kind}(s)" for kind, count in removed.items())
    if not any(removed.values()) and not any(left.values()):
        print(f"run {args.run}: nothing of it is left on this engine", file=env.stdout)
        return ExitStatus.OK
    print(f"run {args.run}: removed {summary}", file=env.stdout)
    if any(left.values()):
        print("still present: " + ", ".join(f"{n} {k}(s)" for k, n in left.items() if n), file=env.stderr)
        return ExitStatus.ERROR
    return ExitStatus.OK


# -- exercises and grading ------------------------------------------------------------------------
def cmd_list(args, env) -> ExitStatus:
    all_exercises = exercises.in_course_order()
    if not env.colour:
        for exercise in all_exercises:
            print(f"{exercise.id}\t{rubric_points(exercise.grader):g} points\t{exercise.concept}\t{exercise.notebook}",
                  file=env.stdout)
        return ExitStatus.OK
    from rich.table import Table  # lazy: rich is heavy for `dockyard --help`

    table = Table("exercise", "concept", "points", "notebook", title="Exercises, in course order")
    for exercise in all_exercises:
        table.add_row(f"[bold cyan]{exercise.id}[/]", exercise.concept, f"{rubric_points(exercise.grader):g}",
                      exercise.notebook)
    env.console().print(table)
    return ExitStatus.OK


def cmd_reset(args, env) -> ExitStatus:
    """Restore exercises/<id>/ as the course ships it, after a copy of the learner's folder into backups/."""
    exercise = exercises.load(args.exercise)
    starters = reset.starter_files(exercise.folder, args.revision)
    changes = reset.plan(exercise.folder, starters)
    if changes.nothing_to_do:
        print(f"{exercise.id} already holds its starter files: nothing to reset", file=env.stdout)
        return ExitStatus.OK
    print(f"Resetting {exercise.id} puts its starter files back:", file=env.stdout)
    for label, names in (("changed", changes.changed), ("missing", changes.missing),
                         ("yours, moved to the backup", changes.extra)):
        for name in names:
            print(f"  {label}: {one_line(clean(name), 200)}", file=env.stdout)  # a learner's file name: no escapes
    backup = reset.backup_folder(exercises.course_root(), exercise.id)
    shown = backup.relative_to(exercises.course_root())
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("reset asks before it changes anything", hint=f"run `dockyard reset {exercise.id} --yes`")
        answer = input(f"Your current files go to {shown}/ first. Reset {exercise.id}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed", file=env.stdout)
            return ExitStatus.OK
    reset.reset(exercise.folder, starters, backup, changes)
    print(f"{exercise.id} is back to its starter files; your version is in {shown}/", file=env.stdout)
    return ExitStatus.OK


def _grade(args, env, progress, timeout_s: float | None = None, self_check: bool = False):
    folder = args.folder or str(exercises.load(args.exercise).folder)
    if not Path(folder).is_dir():
        exercises.load(args.exercise)  # an unknown exercise is the better message
        raise UsageError(f"no such folder: {folder}")
    if getattr(args, "queue", None):
        from dockyard import queue as queues
        from dockyard.queue import client

        return client.submit_one(queues.check_url(args.queue), args.exercise, Path(folder),
                                 rubric_version=batch.rubric_version(exercises.load(args.exercise)),
                                 content_hash=batch.content_hash(Path(folder)), budget_s=args.wait,
                                 result_ttl=args.result_ttl or queues.DEFAULT_RESULT_TTL_S)
    return runner.grade(args.exercise, folder, engine_url=local_engine_url(args),
                        runtime=getattr(args, "runtime", None), progress=progress, timeout_s=timeout_s,
                        self_check=self_check, detach_teardown=True)  # the report, not the sweep, ends the wait


def _exit_for(report) -> ExitStatus:
    if report.status == "graded":
        return ExitStatus.OK
    return ExitStatus.ENGINE_UNAVAILABLE if report.retry else ExitStatus.ERROR


def cmd_check(args, env) -> ExitStatus:
    """For learners: a spinner while building, then the colourful table with a hint on each failing item."""
    console = env.console()
    with console.status(f"checking {args.exercise}…", spinner="dots") as status:
        report = _grade(args, env, progress=lambda message: status.update(f"{args.exercise}: {message}…"),
                        self_check=True)  # a learner's own check: see runner._self_check_environment
    terminal.render(report, console, hints=True)
    return _exit_for(report)


def _unfit_submission(folder: Path) -> str | None:
    """Why a platform's submission folder cannot be graded at all (missing, empty, too big), else None. Checked
    before grading (or queueing) so the platform gets its "could not grade" file at once, with the reason."""
    from dockyard.queue import jobs

    if not folder.is_dir():
        return f"no submission was found ({folder} is not a folder)"
    total, files = 0, 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            files += 1
            total += path.lstat().st_size
            if total > jobs.MAX_UNPACKED_BYTES:
                return f"the submission is over {jobs.MAX_UNPACKED_BYTES // 2**20} MiB: submit only the exercise's files"
    if not files:
        return "no files were submitted"
    return None


def _queue_fault(error: Exception) -> bool:
    import redis

    return isinstance(error, (UsageError, redis.exceptions.RedisError))


def cmd_grade(args, env) -> ExitStatus:
    """Machine-readable: with --json (--format json), stdout holds only that output; progress goes to stderr.
    Every platform output flag is checked before grading starts (exit 2 on a bad one). With a platform output,
    a submission that cannot be graded (missing, empty, too big) or a queue that does not answer still
    writes the platform's "could not grade" file, with the reason."""
    exercise = exercises.load(args.exercise)  # unknown exercise: exit 2 before the flags are judged
    plan = outputs.grade_outputs(args, rubric_item_ids(exercise.grader))
    plan.leaderboard = gradescope.check_leaderboard(exercise.leaderboard) if plan.wants("gradescope") else ()
    plan.due, plan.policy = batch.late_settings(exercise, plan.due, plan.policy)
    max_points = rubric_points(exercise.grader)
    if getattr(args, "queue", None):
        from dockyard import queue as queues

        queues.check_url(args.queue)  # a malformed URL is the caller's mistake: exit 2, no file
        if plan.deadline_s:  # the platform's budget covers the wait for a worker too
            args.wait = min(args.wait, plan.deadline_s)

    def progress(message: str) -> None:  # stderr only, and only for a person watching
        print(f"… {message}", file=env.stderr, flush=True)

    if plan.cooldown_s and plan.metadata is not None:
        turned_away = cooldown.blocked(plan.metadata, plan.cooldown_s)
        if turned_away is not None:  # only Gradescope's file: the cooldown lives in its metadata
            plan.write_gradescope(cooldown.gradescope_results(*turned_away, plan.cooldown_s), stdout=env.stdout)
            print(f"dockyard: not graded: within the cooldown ({turned_away[0]:.0f} s left)", file=env.stderr)
            return ExitStatus.OK
    unfit = _unfit_submission(Path(args.folder)) if plan.platform else None
    if unfit:
        plan.write(Report.failed(args.exercise, unfit), max_points=max_points, stdout=env.stdout)
        print(f"dockyard: could not grade: {unfit}", file=env.stderr)
        return ExitStatus.ERROR
    try:
        report = _grade(args, env, progress=progress if env.stderr.isatty() else None, timeout_s=plan.deadline_s)
    except EngineUnavailable as error:  # the platform still gets its file: ungradable, not a zero (then exit 3)
        plan.write(Report.failed(args.exercise, error.one_line(), retry=True), max_points=max_points, stdout=env.stdout,
                   platforms_only=True)
        raise
    except Exception as error:
        if not getattr(args, "queue", None) or not plan.platform or not _queue_fault(error):
            raise
        # the queue does not answer (queues.connect), or Redis went away mid-wait: not gradable now, never a zero
        reason = error.one_line() if isinstance(error, UsageError) else one_line(str(error), 200)
        plan.write(Report.failed(args.exercise, f"the grading queue cannot be reached: {reason}", retry=True),
                   max_points=max_points, stdout=env.stdout, platforms_only=True)
        raise EngineUnavailable(f"the grading queue cannot be reached: {reason}") from None
    report = plan.apply_late(report)
    plan.write(report, max_points=max_points, stdout=env.stdout)
    if not plan.stdout_taken:
        terminal.render(report, env.console(), hints=True)
    if report.status == "error":
        print(f"dockyard: could not grade: {report.error}", file=env.stderr)
    return _exit_for(report)


def cmd_batch(args, env) -> ExitStatus:
    local_engine_url(args)
    if args.queue:
        from dockyard import queue as queues

        queues.check_url(args.queue)
    return _grade_class(args, env)


def _grade_class(args, env) -> ExitStatus:
    """`dockyard batch`'s terminal (the class itself is batch.run_batch's): a rich progress bar (done / failed /
    ETA) on stderr, a summary on stdout."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    exercise = exercises.load(args.exercise)  # unknown exercise: exit 2 before anything starts
    roster = outputs.lms_roster(args)  # a bad roster: exit 2 before anything is graded
    due = late.parse_time(args.due) if getattr(args, "due", None) else None  # bad input: exit 2, one line
    policy = late.parse_policy(args.late) if getattr(args, "late", None) else None
    due, policy = batch.late_settings(exercise, due, policy)
    learners = batch.select(batch.discover(Path(args.submissions), exercise.id, exercise.aliases), getattr(args, "only", None))
    counts = {"failed": 0}
    with Progress(TextColumn("[bold]grading[/]"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("[red]{task.fields[failed]} failed[/]"), TimeRemainingColumn(),
                  TextColumn("{task.fields[last]}"), console=env.console(stderr=True), transient=False) as bar:
        task = bar.add_task("grading", total=len(learners), failed=0, last="")

        def progress(event: str, student: str, report: Report | None) -> None:
            if event == "done" and report is not None:
                if report.status != "graded" and report.error != batch.NO_SUBMISSION:
                    counts["failed"] += 1
                bar.update(task, advance=1, failed=counts["failed"],
                           last=f"{student}: {report.score:g}/{report.max_score:g}" if report.status == "graded"
                           else f"{student}: {batch.gradebook_status(report)}")

        summary = batch.run_batch(args.exercise, Path(args.submissions), Path(args.out), jobs=args.jobs,
                                  force=args.force, engine_url=args.engine, progress=progress,
                                  only=getattr(args, "only", None), due=due, policy=policy,
                                  queue_url=getattr(args, "queue", None),
                                  result_ttl=getattr(args, "result_ttl", None))
    missing = f", {summary.missing} with no submission" if summary.missing else ""
    print(f"{summary.graded} graded, {summary.reused} unchanged (kept), {summary.failed} failed, "
          f"{summary.retry} to retry{missing} → {Path(args.out) / 'gradebook.csv'}", file=env.stdout)
    print(f"the class at a glance → {Path(args.out) / batch.CLASS_FILE}", file=env.stdout)
    if roster is not None:
        fmt = getattr(args, "export", None) or "canvas"
        export = batch.write_lms(Path(args.out), args.exercise, roster, fmt, due=due, policy=policy)
        print(f"{len(export.rows)} student(s) on the roster → {Path(args.out) / batch.LMS_FILE} ({fmt})",
              file=env.stdout)
        if export.missing:
            print(f"dockyard: on the roster without a submission (empty grade): {', '.join(export.missing)}",
                  file=env.stderr)
        if export.unknown:
            print(f"dockyard: submitted but not on the roster (not in {batch.LMS_FILE}): "
                  f"{', '.join(export.unknown)}", file=env.stderr)
    return ExitStatus.OK


def cmd_worker(args, env) -> ExitStatus:
    from dockyard.queue import worker

    local_engine_url(args)
    return worker.command(args, env)


def cmd_similarity(args, env) -> ExitStatus:
    return similarity.command(args, env)


def cmd_package(args, env) -> ExitStatus:
    """The bundle's every setting is checked before DIR is touched (exit 2, one line)."""
    from dockyard import bundles, queue as queues
    from dockyard.bundles import gradescope as gradescope_bundle, prairielearn as prairielearn_bundle

    exercise = exercises.load(args.exercise)
    queues.check_url(args.queue)
    if args.budget is not None and not args.budget > 0:
        raise UsageError(f"--budget {args.budget:g}: give a number of seconds above 0")
    gradescope_only = [flag for flag in ("visibility", "cooldown", "late", "due") if getattr(args, flag)]
    if args.platform == "prairielearn" and gradescope_only:
        raise UsageError(f"--{gradescope_only[0]} applies to Gradescope bundles only",
                         hint="PrairieLearn keeps no state between jobs; limit attempts in the question's settings")
    if args.platform == "gradescope" and args.image:
        raise UsageError("--image applies to PrairieLearn bundles only")
    if args.visibility:
        try:
            gradescope.check_visibility(args.visibility.rpartition("=")[2])
        except UnknownChoice as error:
            raise error.given_as(f"--visibility {args.visibility}") from None
    if args.cooldown:
        try:
            cooldown.parse(args.cooldown)
        except BadDuration as error:
            raise error.given_as(f"--cooldown {args.cooldown}") from None
    if args.late:
        late.parse_policy(args.late)  # each raises its own one-line UsageError
    if args.due:
        late.parse_time(args.due)
    repository, ref = bundles.course_source(args.course_repository, args.course_ref)
    if args.platform == "gradescope":
        gradescope_bundle.check_budget(args.budget)
        folder = bundles.output_folder(args.dir)
        written = gradescope_bundle.package(exercise, folder, queue_url=args.queue, repository=repository, ref=ref,
                                            budget_s=args.budget, visibility=args.visibility, cooldown=args.cooldown,
                                            late=args.late, due=args.due)
        print(f"wrote {written}: upload it as the assignment's autograder (Gradescope: Configure Autograder, "
              f"Zip file upload); run `dockyard worker --queue ...` on a Docker host at course ref {ref}",
              file=env.stdout)
    else:
        prairielearn_bundle.check_budget(args.budget)
        folder = bundles.output_folder(args.dir)
        prairielearn_bundle.package(exercise, folder, queue_url=args.queue, repository=repository, ref=ref,
                                    budget_s=args.budget, image=args.image)
        print(f"wrote {folder}: see its README.md (grader image, course files, a worker on a Docker host)",
              file=env.stdout)
    return ExitStatus.OK


def cmd_classroom(args, env) -> ExitStatus:
    from dockyard import bundles
    from dockyard.bundles import classroom

    exercise = exercises.load(args.exercise)
    repository, ref = bundles.course_source(args.course_repository, args.course_ref)
    classroom.workflow_text(exercise.id, classroom.repository_name(repository), ref)  # every value checked first
    folder = classroom.package(exercise, bundles.output_folder(args.dir), repository=repository, ref=ref)
    print(f"wrote {folder}: push it as a template repository and create the assignment from it in GitHub "
          f"Classroom (leave Classroom's own tests empty)", file=env.stdout)
    return ExitStatus.OK
