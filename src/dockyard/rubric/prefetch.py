"""Start a grading's slow, certain Docker work before pytest asks for it.

A rubric's items run one after another, but the Docker work behind its shared fixtures need not
wait for them: the image can build while pytest starts up and collects the rubric, the run's
network can be created while the image builds, and the app container can start while the items
before it run. The grading child (rubric/child.py) starts a `Prefetch` first thing; the plugin's
fixtures then take its results (the very objects, failures included) instead of doing the work
themselves. Without a prefetch (pytest run by hand on a rubric) the fixtures do it all as before.

Only work the rubric will ask for is started: which fixtures it uses is read from its source
(a parameter named `dockyard_image` or `dockyard_container` on any test or fixture in graders/<id>/). A
rubric with an autouse fixture that takes `dockyard_submission` may change the folder before the build (the way to do
that is `prepare.py`, which runs before the prefetch; see submission.prepare), so its image is
never prefetched: it is built when an item asks, after that fixture ran, as without a prefetch.
"""

from __future__ import annotations

import ast
import threading
from concurrent.futures import Future
from pathlib import Path

from dockyard.probes import BuiltImage, Probes
from dockyard.sandbox import Sandbox
from dockyard.submission import load_submission

PREFETCHABLE = {"dockyard_image": "image", "dockyard_container": "container"}  # fixture -> the work it needs

_current: "Prefetch | None" = None


def current() -> "Prefetch | None":
    """The prefetch of this process's grading, if one was started."""
    return _current


def wanted_fixtures(grader: Path) -> frozenset[str]:
    """Which prefetchable fixtures the rubric's tests and fixtures take as parameters."""
    names: set[str] = set()
    for path in sorted(Path(grader).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
            continue  # pytest reports a rubric that does not load; nothing to prefetch for it
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args
                parameters = {a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)}
                if "dockyard_submission" in parameters and _is_autouse_fixture(node):
                    return frozenset()  # it may prepare the folder before the build: build when asked
                names.update(parameters)
    wanted = {PREFETCHABLE[name] for name in names & PREFETCHABLE.keys()}
    return frozenset(wanted | ({"image"} if "container" in wanted else set()))


def _is_autouse_fixture(function) -> bool:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and any(
                keyword.arg == "autouse" and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value)
                for keyword in decorator.keywords):
            return True
    return False


class Prefetch:
    """Background work for one grading: sandbox and submission, then network ∥ image, then the app container.

    Each result is a Future; `image` and `container` resolve to None when this grading should not
    prefetch them (not wanted, or the folder cannot be built: the fixture then explains why).
    """

    def __init__(self, exercise, folder: Path, *, run_id: str, engine_url: str | None,
                 wants: frozenset[str], progress=lambda message: None):
        self.exercise = exercise
        self.folder = Path(folder)
        self.run_id = run_id
        self.engine_url = engine_url
        self.wants = wants
        self.progress = progress
        self.sandbox: Future = Future()
        self.submission: Future = Future()
        self.network: Future = Future()
        self.image: Future = Future()
        self.container: Future = Future()
        self._threads: list[threading.Thread] = []
        # Set once the engine has its slow work (or there is none): until then the grading child
        # holds back its own start-up, which would only compete for the interpreter's lock.
        self.underway = threading.Event()

    def start(self) -> "Prefetch":
        self._spawn(self._run, "dockyard-prefetch")
        return self

    def wait(self) -> None:
        """Until no prefetch work is in flight (before the sandbox closes: nothing may be created after)."""
        for thread in list(self._threads):
            thread.join()

    # -- the work --------------------------------------------------------------------------------
    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        try:
            self._prefetch()
        finally:
            self.underway.set()

    def _prefetch(self) -> None:
        try:
            box = Sandbox(self.exercise.id, self.exercise.limits, engine_url=self.engine_url, run_id=self.run_id)
        except BaseException as exc:
            for future in (self.sandbox, self.network, self.image, self.container):
                future.set_exception(exc)
            self.submission.set_result(None)
            return
        self.sandbox.set_result(box)
        if "container" in self.wants:
            self._spawn(lambda: _settle(self.network, box.network), "dockyard-prefetch-network")
        else:
            self.network.set_result(None)
        try:
            submission = load_submission(self.folder, self.exercise)
        except BaseException as exc:
            self.submission.set_exception(exc)
            self.image.set_result(None)
            self.container.set_result(None)
            return
        self.submission.set_result(submission)
        if "image" not in self.wants or submission.build_blocker(self.exercise.limits.builder) is not None:
            self.image.set_result(None)
            self.container.set_result(None)
            return
        self.progress("building image")
        self.underway.set()
        if not _settle(self.image, lambda: box.build(submission.path)):
            self.container.set_result(None)  # the image fixture reports the failed build
            return
        if "container" not in self.wants:
            self.container.set_result(None)
            return
        if self.network.exception() is not None:  # waits for the network; its failure is the container's
            self.container.set_exception(self.network.exception())
            return
        _settle(self.container, lambda: self._start_app(box, submission))

    def _start_app(self, box, submission):
        result = self.image.result()
        image = BuiltImage(result.tag, result.image_id, result)
        self.progress("starting container")
        return box.start(image.tag, ports=app_ports(Probes(box, submission), image), name="app")


def app_ports(probe, image) -> tuple[int, ...]:
    """The ports an app container publishes: its EXPOSEd ports, and 8000 (the course's port) always."""
    return tuple(sorted(set(probe.image_config(image).exposed_ports) | {8000}))


def _settle(future: Future, work) -> bool:
    """Run `work`, put its result or exception in `future`; True when it succeeded."""
    try:
        future.set_result(work())
        return True
    except BaseException as exc:
        future.set_exception(exc)
        return False


def start(exercise, folder: Path, *, run_id: str, engine_url: str | None, wants: frozenset[str],
          progress=lambda message: None) -> Prefetch:
    """Start this process's prefetch (one grading per grading process)."""
    global _current
    _current = Prefetch(exercise, folder, run_id=run_id, engine_url=engine_url, wants=wants,
                        progress=progress).start()
    return _current


def close_current() -> bool:
    """After the pytest session: wait for the prefetch, close what no fixture closed. True when all was swept."""
    prefetch = _current
    if prefetch is None:
        return True
    prefetch.wait()
    clean = True
    if prefetch.submission.done() and prefetch.submission.exception() is None and prefetch.submission.result():
        prefetch.submission.result().close()
    if prefetch.sandbox.done() and prefetch.sandbox.exception() is None:
        clean = prefetch.sandbox.result().close()
    return clean
