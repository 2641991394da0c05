"""pytest plugin for rubrics: options, the `points`/`lesson` markers, the grading fixtures, the collector.

Loaded in every pytest run of the venv (pytest11 entry point `dockyard`), so it does nothing
unless its options are given or its fixtures requested. Fixtures are session-scoped and small;
each composes the ones before it and tears down in a context manager (the pytest-docker /
testinfra pattern). A shared fixture that fails (no Dockerfile, build failed, container did
not start, compose up failed) fails with `pytest.fail(..., pytrace=False)`: pytest caches a
session fixture's exception, so the failure is computed once and every item that needs it
fails with the same short learner-facing message, never a traceback.

The collector (`pytest_runtest_logreport`) turns each test into a report `Item` and writes the
`Report` JSON to `--dockyard-report`. With `--dockyard-items FILE` it also appends, as JSON lines,
the plan (every collected item, once) and then each item the moment it finishes: a grading killed
midway (timeout, crash) still has those, and the runner reports them (rubric/runner.py).
With `--dockyard-detach-teardown` the report is written when the last item ends, and a detached copy of
this process does the teardown (rubric/detach.py): the caller has its report without waiting for the sweep.
An item may award part of its points with `dockyard.partial(fraction, feedback)` (dockyard/rubric/credit.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from pathlib import Path

import pytest

from dockyard import engine
from dockyard.course import exercises
from dockyard.rubric.credit import Partial
from dockyard.errors import (BuildFailed, BuildNotIsolated, ComposeError, DiskFull, DockyardError, EngineLost,
                             EngineUnavailable)
from dockyard.probes import BuiltImage, Probes
from dockyard.report.model import BuildPicture, Item, Report
from dockyard.rubric import detach, prefetch
from dockyard.rubric.progress import emit as progress
from dockyard.sandbox import Sandbox
from dockyard.sandbox.commandline import CommandLine
from dockyard.sandbox.compose import config
from dockyard.static.commandline import parse_file
from dockyard.static.hadolint import lint
from dockyard.static.policy import check_compose
from dockyard.submission import load_submission
from dockyard.text import clean

LOG_TAIL_LINES = 5


# -- options and markers -------------------------------------------------------------------------
def pytest_addoption(parser):
    group = parser.getgroup("dockyard", "Dockyard rubric grading")
    group.addoption("--dockyard-exercise", metavar="ID", help="exercise id the rubric grades")
    group.addoption("--dockyard-submission", metavar="DIR", help="the learner's folder")
    group.addoption("--dockyard-report", metavar="FILE", help="write the Report JSON here")
    group.addoption("--dockyard-items", metavar="FILE",
                    help="append each item as it finishes (JSON lines), so a grading stopped midway keeps them")
    group.addoption("--dockyard-run-id", metavar="ID", help="sandbox run id (labels every resource)")
    group.addoption("--dockyard-engine", metavar="URL", help="Docker engine URL")
    group.addoption("--dockyard-runtime", metavar="NAME", help="container runtime for learner containers")
    group.addoption("--dockyard-detach-teardown", action="store_true",
                    help="write the report when the last item ends; a detached copy of this process tears down")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points this rubric item is worth (default 1)")
    config.addinivalue_line("markers", "lesson(ref): where the course teaches this item, e.g. 04-dockerfile.ipynb#WORKDIR")
    config.addinivalue_line("markers", "visibility(when): when Gradescope shows this item: visible, hidden, "
                                       "after_due_date or after_published (default: the grade command's --visibility)")
    if config.getoption("dockyard_exercise", None):
        config.pluginmanager.register(Collector(config), "dockyard-collector")


# -- fixtures ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Settings:
    exercise_id: str
    submission: Path
    run_id: str | None
    engine_url: str | None
    runtime: str | None


@pytest.fixture(scope="session")
def dockyard_settings(pytestconfig) -> Settings:
    exercise_id = pytestconfig.getoption("dockyard_exercise")
    folder = pytestconfig.getoption("dockyard_submission")
    if not exercise_id or not folder:
        pytest.fail("grading needs --dockyard-exercise ID and --dockyard-submission DIR", pytrace=False)
    return Settings(exercise_id, Path(folder), pytestconfig.getoption("dockyard_run_id"),
                    pytestconfig.getoption("dockyard_engine"), pytestconfig.getoption("dockyard_runtime"))


@pytest.fixture(scope="session")
def dockyard_exercise(dockyard_settings):
    loaded = exercises.load(dockyard_settings.exercise_id)
    if dockyard_settings.runtime:
        limits = dataclasses.replace(loaded.limits, runtime=dockyard_settings.runtime)
        loaded = dataclasses.replace(loaded, limits=limits)
    return loaded


@pytest.fixture(scope="session")
def dockyard_sandbox(dockyard_exercise, dockyard_settings, pytestconfig):
    prefetched = prefetch.current()
    if prefetched is not None:
        run_sandbox = prefetched.sandbox.result()
    else:
        run_sandbox = Sandbox(dockyard_exercise.id, dockyard_exercise.limits, engine_url=dockyard_settings.engine_url,
                              run_id=dockyard_settings.run_id)
    pytestconfig.dockyard_run_sandbox = run_sandbox  # the report's notes come from it (Collector.build_report)
    try:
        yield run_sandbox
    finally:
        if prefetched is not None:
            prefetched.wait()  # nothing may be created in this run once it is swept
        pytestconfig.dockyard_swept = run_sandbox.close()


@pytest.fixture(scope="session")
def dockyard_submission(dockyard_exercise, dockyard_settings):
    prefetched = prefetch.current()
    loaded = prefetched.submission.result() if prefetched is not None else None
    with loaded or load_submission(dockyard_settings.submission, dockyard_exercise) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def dockyard_dockerfile(dockyard_submission):
    __tracebackhide__ = True
    if dockyard_submission.dockerfile_error:
        pytest.fail(dockyard_submission.dockerfile_error, pytrace=False)
    if dockyard_submission.dockerfile is None:
        pytest.fail(dockyard_submission.no_dockerfile_message(), pytrace=False)
    return dockyard_submission.dockerfile


@pytest.fixture(scope="session")
def dockyard_image(dockyard_sandbox, dockyard_submission, pytestconfig):
    """The submission's image, built once; a failed build fails every item that needs it, with the log's tail.
    Its build, step by step, goes into the report (`Report.build`: the picture the Check result draws)."""
    __tracebackhide__ = True

    blocker = dockyard_submission.build_blocker(dockyard_sandbox.limits.builder)
    if blocker:
        pytest.fail(blocker, pytrace=False)
    prefetched = prefetch.current()
    try:
        result = prefetched.image.result() if prefetched is not None else None
        if result is None:
            progress("building image")
            result = dockyard_sandbox.build(dockyard_submission.path)
    except BuildFailed as exc:
        _note_build(pytestconfig, BuildPicture.from_failure(exc))  # the steps up to the one that failed
        pytest.fail(_build_failure(exc), pytrace=False)
    _note_build(pytestconfig, BuildPicture.from_build(result))
    return BuiltImage(result.tag, result.image_id, result)


def _note_build(pytestconfig, picture: BuildPicture | None) -> None:
    collector = pytestconfig.pluginmanager.get_plugin("dockyard-collector")
    if collector is not None and picture is not None:
        collector.note_build(picture)


@pytest.fixture(scope="session")
def dockyard_container(dockyard_sandbox, dockyard_image, dockyard_probe):
    """`dockyard_image` started with the sandbox limits; its EXPOSEd ports (and 8000) published on 127.0.0.1."""
    __tracebackhide__ = True
    import docker.errors

    prefetched = prefetch.current()
    try:
        running = prefetched.container.result() if prefetched is not None else None
        if running is None:
            progress("starting container")
            running = dockyard_sandbox.start(dockyard_image.tag, name="app",
                                             ports=prefetch.app_ports(dockyard_probe, dockyard_image))
    except docker.errors.APIError as exc:
        pytest.fail(f"the container could not start: {clean(exc.explanation or str(exc), 300)}", pytrace=False)
    yield running
    # no removal here: the sandbox's sweep removes all the run's containers at once, side by side


@pytest.fixture(scope="session")
def dockyard_compose_project(dockyard_sandbox, dockyard_submission):
    """The submission's compose project, checked against the policy, then `up --wait`; `down -v` at the end."""
    __tracebackhide__ = True

    if dockyard_submission.compose_error:
        pytest.fail(dockyard_submission.compose_error, pytrace=False)
    if dockyard_submission.compose_file is None:
        pytest.fail("no compose file in your folder (expected compose.yaml or docker-compose.yml)", pytrace=False)
    violations = check_compose(dockyard_submission.compose_file)
    if violations:
        lines = [violation.one_line() for violation in violations[:3]]
        pytest.fail("the compose file breaks the sandbox policy, so nothing was started: " + "; ".join(lines),
                    pytrace=False)
    progress("starting compose project")
    try:
        project = dockyard_sandbox.compose(dockyard_submission.path, [dockyard_submission.compose_file.name])
        project.up()
    except EngineLost:
        raise
    except (ComposeError, DockyardError) as exc:
        pytest.fail(clean(exc.message, 600), pytrace=False)
    yield project
    project.down(volumes=True)


@pytest.fixture(scope="session")
def dockyard_compose_model(dockyard_submission, dockyard_sandbox) -> dict:
    """The compose file as the real `docker compose config` normalises it (nothing built or started): what a
    rubric reads to judge the file by what Compose makes of it, not by its spelling."""
    __tracebackhide__ = True
    if dockyard_submission.compose_file is None:
        pytest.fail("no compose file found: write `compose.yaml`", pytrace=False)
    try:
        return config(dockyard_submission.path, [dockyard_submission.compose_file], dockyard_sandbox.engine_url)
    except DockyardError as exc:
        message = exc.message
        if dockyard_submission.exists(".env.example") and not dockyard_submission.exists(".env"):
            message += " (copy `.env.example` to `.env`)"
        pytest.fail(clean(message, 600), pytrace=False)


@pytest.fixture(scope="session")
def dockyard_commands(dockyard_submission):
    """The submission's `commands.sh`, read as docker commands (static/commandline.py). A refused line (shell
    syntax, a flag the sandbox forbids) fails every item that needs it, with its line and reason: nothing runs."""
    __tracebackhide__ = True
    if dockyard_submission.refused:
        pytest.fail(f"your folder was refused: {dockyard_submission.refused}", pytrace=False)
    if not dockyard_submission.exists("commands.sh"):  # (a link out of the folder does not exist, for this)
        pytest.fail("no commands.sh in your folder: write your docker commands there, one a line", pytrace=False)
    script = parse_file(dockyard_submission.path / "commands.sh", root=dockyard_submission.path)
    if not script.ok:
        pytest.fail("commands.sh was not run, because of " + clean(script.summary(), 900), pytrace=False)
    if not script.commands:
        pytest.fail("commands.sh holds no docker command yet (only comments)", pytrace=False)
    return script


@pytest.fixture(scope="session")
def dockyard_command_observer():
    """What a rubric looks at after each command of `command_line` (override it: a session fixture returning
    `observe(step, command_line)`); None looks at nothing beyond each step's own record."""
    return None


@pytest.fixture(scope="session")
def dockyard_command_registry(dockyard_commands):
    """The registry `localhost:5000` names in `commands.sh` (override it: a session fixture returning
    `dockyard.sandbox.registry.start(sandbox)`, as 01-registry does); None: no registry answers there."""
    return None


@pytest.fixture(scope="session")
def dockyard_command_line(dockyard_sandbox, dockyard_submission, dockyard_exercise, dockyard_commands,
                          dockyard_command_observer, dockyard_command_registry):
    """`dockyard_commands` carried out in order through the sandbox (sandbox/commandline.py): `.steps`, one a
    command."""
    __tracebackhide__ = True
    progress("running commands.sh")
    runner = CommandLine(dockyard_sandbox, dockyard_submission.path, dockyard_exercise.base_images,
                         registry=dockyard_command_registry)
    runner.execute(dockyard_commands, observe=dockyard_command_observer)
    return runner


@pytest.fixture(scope="session")
def dockyard_probe(dockyard_sandbox, dockyard_submission):
    return Probes(dockyard_sandbox, dockyard_submission, progress=progress)


@pytest.fixture(scope="session")
def dockyard_hadolint(dockyard_submission):
    dockerfile_path = dockyard_submission.path / "Dockerfile"
    if not dockerfile_path.is_file() or dockyard_submission.dockerfile_error:
        return []

    return lint(dockerfile_path)


def _build_failure(exc) -> str:
    reason = clean(exc.reason, 300)
    lines = [clean(line, 200) for line in exc.log_tail if line.strip()]
    noise = ("--->", "Removing intermediate container", "Step ", "The command '")
    lines = [line for line in lines if line and not line.lstrip().startswith(noise)
             and line.strip() != reason.strip()][-LOG_TAIL_LINES:]
    text = reason if reason.startswith("the build") else f"the image did not build: {reason}"
    if lines:
        text += "\nlast build output:\n" + "\n".join("  " + line for line in lines)
    return text


# -- feedback --------------------------------------------------------------------------------------
def feedback_from(excinfo) -> str:
    """The learner-facing message of a failure: the assertion message only, or the failure's one line."""
    value = excinfo.value
    if isinstance(value, Partial):
        return clean(value.feedback) if value.feedback.strip() else "part of this check passed"
    if isinstance(value, AssertionError):
        message = str(value)
        lines = message.split("\n")
        # pytest's rewriting appends "\nassert <introspection>" after the rubric's message
        cut = next((i for i, line in enumerate(lines) if line.startswith("assert ")), None)
        if cut is not None:
            lines = lines[:cut]
        message = "\n".join(lines).strip()
        return clean(message) if message else "this check did not pass"
    if excinfo.typename in ("Failed", "Skipped", "XFailed") or hasattr(value, "msg"):
        return clean(getattr(value, "msg", str(value)) or excinfo.typename)

    if isinstance(value, DockyardError):
        return clean(value.one_line())
    first = str(value).strip().splitlines()[0] if str(value).strip() else ""
    return clean(f"the check could not run: {excinfo.typename}: {first}", 400)


def item_id(item) -> str:
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    base = name.removeprefix("test_").replace("_", "-")
    if "[" in item.name:
        param = item.name.split("[", 1)[1].rstrip("]")
        base += "-" + re.sub(r"[^A-Za-z0-9.]+", "-", param).strip("-")
    return base


def item_meta(item) -> dict:
    points = item.get_closest_marker("points")
    lesson = item.get_closest_marker("lesson")
    doc = (getattr(item, "function", None).__doc__ or "") if getattr(item, "function", None) else ""
    title = doc.strip().splitlines()[0].strip() if doc.strip() else item_id(item).replace("-", " ")
    max_points = float(points.args[0]) if points and points.args else 1.0
    visibility = item.get_closest_marker("visibility")
    return {"id": item_id(item), "title": title, "max_points": max_points,
            "lesson": lesson.args[0] if lesson and lesson.args else None,
            "visibility": str(visibility.args[0]) if visibility and visibility.args else None}


class Collector:
    """Turns each test into a report Item; writes the Report JSON at the end of the session."""

    def __init__(self, config):
        self.config = config
        self.meta: dict[str, dict] = {}
        self.results: dict[str, tuple[bool, str, float | None]] = {}  # passed, feedback, partial fraction
        self.items_file = config.getoption("dockyard_items", None)
        self.written: set[str] = set()
        self.order: list[str] = []
        self.error: str | None = None
        self.retry = False
        self.started = time.monotonic()
        self.count = 0
        self.build: BuildPicture | None = None
        self.detach = bool(config.getoption("dockyard_detach_teardown", False)) and bool(self.report_path)
        self.handed_off = False  # the report was written when the last item ended; this is the detached copy

    @property
    def report_path(self) -> str | None:
        return self.config.getoption("dockyard_report", None)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        for item in items:
            self.meta[item.nodeid] = item_meta(item)
            self.order.append(item.nodeid)
        self.count = len(items)
        self._append({"plan": [dataclasses.asdict(self.item(nodeid, planned=True)) for nodeid in self.order]})

    def _append(self, record: dict) -> None:
        """One JSON line, one write(2) on an O_APPEND file: a kill leaves whole lines or none."""
        if not self.items_file:
            return
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.items_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def note_build(self, picture: BuildPicture) -> None:
        """The learner's image was built: keep its picture for the report (and in the items file, so a
        grading stopped later still shows it)."""
        self.build = picture
        self._append({"build": dataclasses.asdict(picture)})

    def pytest_collectreport(self, report):
        if report.failed and self.error is None:
            text = str(report.longrepr).strip().splitlines()
            self.error = "the rubric could not be loaded: " + clean(text[-1] if text else "collection failed", 300)

    def pytest_runtest_logstart(self, nodeid, location):
        index = self.order.index(nodeid) + 1 if nodeid in self.order else 0
        progress(f"item {index}/{self.count}")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if call.excinfo is not None:
            # Not the learner's doing: the whole grading is an error, to be retried, never a zero.
            if isinstance(call.excinfo.value, (EngineLost, EngineUnavailable, DiskFull)) and self.error is None:
                self.error = call.excinfo.value.one_line()
                self.retry = True
            elif isinstance(call.excinfo.value, BuildNotIsolated) and self.error is None:
                self.error = call.excinfo.value.one_line()  # an error, never a zero; retrying here cannot help
            report.dockyard_feedback = feedback_from(call.excinfo)
            if isinstance(call.excinfo.value, Partial) and call.when == "call":
                report.dockyard_partial = call.excinfo.value.fraction

    def pytest_runtest_logreport(self, report):
        nodeid = report.nodeid
        previous = self.results.get(nodeid)
        if previous is not None and not previous[0]:
            return  # the first failure (setup or call) is the one the learner sees
        if report.when == "teardown":
            return  # shared fixtures tear down after the last item: not that item's fault
        fraction = getattr(report, "dockyard_partial", None)
        if fraction is not None:
            feedback = getattr(report, "dockyard_feedback", "") or ""
            self.results[nodeid] = (True, "", None) if fraction >= 1 else (False, feedback, fraction)
        elif report.failed or report.skipped:
            feedback = getattr(report, "dockyard_feedback", None)
            if feedback is None and report.skipped and isinstance(report.longrepr, tuple):
                feedback = clean(str(report.longrepr[2]).removeprefix("Skipped: "))
            if feedback is None:
                feedback = "this check did not pass"
            self.results[nodeid] = (False, feedback, None)
        elif report.when == "call" and report.passed:
            self.results[nodeid] = (True, "", None)
        if (report.when == "call" or not report.passed) and nodeid in self.meta and nodeid not in self.written:
            self.written.add(nodeid)  # this item's result is final now: record it before anything else runs
            self._append({"item": dataclasses.asdict(self.item(nodeid))})
            if self.detach and not self.handed_off and self.count and len(self.written) == self.count:
                self._hand_off()

    def _hand_off(self) -> None:
        """Every item has ended, so the report is final: write it, then leave the teardown to a detached copy."""
        self.write_report(detached=True)
        detach.hand_off(self.report_path + ".rss")
        self.handed_off = True  # from here on this is the copy: the report is written already

    def item(self, nodeid: str, planned: bool = False):
        """The report Item of one test: as it finished, or (planned) what it is worth before it runs."""
        meta = self.meta[nodeid]
        if planned:
            return Item(meta["id"], meta["title"], 0.0, meta["max_points"], False, "", meta["lesson"],
                        meta.get("visibility"), "not_reached")
        passed, feedback, fraction = self.results.get(nodeid, (False, "this check did not run", None))
        if fraction is not None and fraction > 0:
            points = round(meta["max_points"] * fraction, 2)
            outcome = "partial"
        else:
            points = meta["max_points"] if passed else 0.0
            outcome = "passed" if passed else "failed"
        return Item(meta["id"], meta["title"], points, meta["max_points"], passed, feedback, meta["lesson"],
                    meta.get("visibility"), outcome)

    def build_report(self):
        items = [self.item(nodeid) for nodeid in self.order]
        exercise_id = self.config.getoption("dockyard_exercise")
        run_id = self.config.getoption("dockyard_run_id")
        report = Report.from_items(exercise_id, items, time.monotonic() - self.started, run_id)
        if self.error is None and not all(item.passed for item in items) and self._engine_went_away():
            self.error, self.retry = "the Docker engine stopped answering during the grading", True
        if self.error:
            report = dataclasses.replace(report, status="error", error=self.error, retry=self.retry)
        run_sandbox = getattr(self.config, "dockyard_run_sandbox", None)
        notes = (run_sandbox.build_isolation_note,) if run_sandbox and run_sandbox.build_isolation_note else ()
        return dataclasses.replace(report, notes=notes, build=self.build)

    def _engine_went_away(self) -> bool:
        """Did the engine go while we graded? A stopping dockerd closes its listener first and then fails what
        is in flight with errors of its own (a build's `Error processing tar file`, a step killed, a container
        gone), which would read as the learner's mistakes. So a grading with a failed item asks once, on a new
        connection: no answer means every failure may be the engine's, and the grading is retried, not scored."""
        return not engine.answers(self.config.getoption("dockyard_engine", None), timeout_s=5)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.report_path and not self.handed_off:
            self.write_report()

    def write_report(self, detached: bool = False) -> None:
        data = self.build_report().to_dict()
        # the runner skips its own sweep of the run when the sandbox fixture swept it completely, or when
        # a detached copy of this process is sweeping it (`detached`)
        data["swept"] = getattr(self.config, "dockyard_swept", False)
        data["detached"] = detached
        temporary = Path(self.report_path).with_suffix(".partial")
        temporary.write_text(json.dumps(data, ensure_ascii=False))
        os.replace(temporary, self.report_path)
