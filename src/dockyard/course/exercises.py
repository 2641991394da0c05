"""The course's exercises, read from `exercises/<id>/exercise.toml`.

exercise.toml:
    id = "03-first-image"
    title = "Your first image"
    concept = "Dockerfile basics: FROM, WORKDIR, COPY, EXPOSE, CMD"
    notebook = "04-dockerfile.ipynb"
    learner_files = ["Dockerfile"]          # what the learner writes; solutions/<id>/ holds these
    base_images = ["python:3.11-slim"]
    [sandbox]                                # optional overrides of dockyard.course.limits.Limits
    build_timeout_s = 600
    # require_build_isolation = false        # build even where the build network's rules cannot be installed
    #                                        # (the report then says so); `ADD <url>` stays refused regardless
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dockyard.course.limits import DEFAULT_LIMITS, Limits
from dockyard.errors import UnknownExercise, UsageError


def course_root() -> Path:
    """The folder holding exercises/, graders/, solutions/ and notebooks/ (override: DOCKYARD_COURSE)."""
    if os.environ.get("DOCKYARD_COURSE"):
        return Path(os.environ["DOCKYARD_COURSE"]).resolve()
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    concept: str
    notebook: str
    learner_files: tuple[str, ...]
    base_images: tuple[str, ...]
    limits: Limits
    folder: Path
    grader: Path
    solution: Path
    aliases: tuple[str, ...] = ()  # its ids before the course was renumbered (a teacher's gradebook may use them)
    leaderboard: tuple[str, ...] = ()  # Gradescope leaderboard metrics it asks for (report.gradescope.LEADERBOARD_METRICS)

    @property
    def readme(self) -> Path:
        return self.folder / "README.md"


def resolve(exercise_id: str, root: Path | None = None) -> str:
    """The exercise's id for `exercise_id`: itself, or the exercise that lists it under `aliases` (an id
    from before the exercises were numbered in course order). An unknown id comes back as it is."""
    root = root or course_root()
    if (root / "exercises" / exercise_id / "exercise.toml").is_file():
        return exercise_id
    return _aliases(root).get(exercise_id, exercise_id)


def _aliases(root: Path) -> dict[str, str]:
    found = {}
    for meta_file in sorted((root / "exercises").glob("*/exercise.toml")):
        try:
            names = tomllib.loads(meta_file.read_text()).get("aliases", [])
        except (OSError, tomllib.TOMLDecodeError):
            continue  # load() of that exercise says what is wrong with it
        for alias in names if isinstance(names, list) else ():
            found[str(alias)] = meta_file.parent.name
    return found


def load(exercise_id: str, root: Path | None = None) -> Exercise:
    """The exercise named `exercise_id` (or one of its aliases); its `id` is always today's."""
    root = root or course_root()
    exercise_id = resolve(exercise_id, root)
    folder = root / "exercises" / exercise_id
    meta_file = folder / "exercise.toml"
    if not meta_file.is_file():
        raise UnknownExercise(exercise_id, ids(root))
    try:
        meta = tomllib.loads(meta_file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{meta_file}: not valid TOML: {exc}") from None
    return Exercise(
        id=exercise_id,
        title=meta.get("title", exercise_id),
        concept=meta.get("concept", ""),
        notebook=meta.get("notebook", ""),
        learner_files=tuple(meta.get("learner_files", ["Dockerfile"])),
        base_images=tuple(meta.get("base_images", [])),
        limits=DEFAULT_LIMITS.with_overrides(meta.get("sandbox")).with_overrides(limits_from_environment())
        .with_overrides(builder_from_environment()),
        folder=folder,
        grader=root / "graders" / exercise_id,
        solution=root / "solutions" / exercise_id,
        aliases=_names(meta, "aliases", meta_file),
        leaderboard=_names(meta, "leaderboard", meta_file),
    )


def _names(meta: dict, key: str, meta_file: Path) -> tuple[str, ...]:
    value = meta.get(key, [])
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise UsageError(f"{meta_file}: `{key}` must be a list of names, e.g. {key} = [\"image_size\"]")
    return tuple(value)


def builder_from_environment() -> dict:
    """`dockyard grade/check/batch --builder NAME` (or DOCKYARD_BUILDER=NAME): the run's builder, over the exercise's."""
    builder = os.environ.get("DOCKYARD_BUILDER", "").strip().lower()
    return {"builder": builder} if builder else {}


def limits_from_environment() -> dict:
    """Teacher/test overrides of the sandbox limits: DOCKYARD_LIMITS="ready_timeout_s=15,build_timeout_s=120"."""
    text = os.environ.get("DOCKYARD_LIMITS", "").strip()
    if not text:
        return {}
    types = {f.name: f.type for f in dataclasses.fields(Limits)}
    overrides = {}
    for pair in text.split(","):
        key, _, value = pair.partition("=")
        key = key.strip()
        if key not in types:
            raise UsageError(f"DOCKYARD_LIMITS: unknown setting {key!r}", hint="known: " + ", ".join(types))
        kind = types[key]
        try:
            overrides[key] = (float(value) if "float" in str(kind) else int(value) if "int" in str(kind)
                              else value.strip().lower() in ("1", "true", "yes") if "bool" in str(kind) else value.strip())
        except ValueError:
            raise UsageError(f"DOCKYARD_LIMITS: {key} needs a number, got {value!r}") from None
    return overrides


def ids(root: Path | None = None) -> list[str]:
    root = root or course_root()
    return sorted(p.parent.name for p in (root / "exercises").glob("*/exercise.toml"))


def all_exercises(root: Path | None = None) -> list[Exercise]:
    return [load(exercise_id, root) for exercise_id in ids(root)]


def in_course_order(root: Path | None = None) -> list[Exercise]:
    """The exercises in the order a learner meets them: by the notebook that sets them, then by id.
    The ids are numbered in that order, so this is also the order of `ids()`."""
    return sorted(all_exercises(root), key=lambda exercise: (exercise.notebook or "~", exercise.id))


def materialize(exercise: Exercise, overlay: Path | None, destination: Path, *more: Path) -> Path:
    """The exercise folder with `overlay`'s files (then each of `more`) laid over it.

    A solution holds only the files a learner edits; this is how it becomes a full submission.
    A mistake or an alternative is laid over the solution: `materialize(ex, ex.solution, dest, mistake)`.
    """
    shutil.copytree(exercise.folder, destination, symlinks=True, dirs_exist_ok=True)
    for layer in (overlay, *more):
        if layer is not None:
            lay_over(Path(layer), destination)
    return destination


def lay_over(overlay: Path, destination: Path) -> Path:
    """Copy `overlay`'s files onto `destination`. A file named `<name>.delete` removes `<name>`
    (e.g. a mistake that forgets `.dockerignore`); `expect.toml` (a case's expectations) is skipped."""
    for source in sorted(overlay.rglob("*")):
        relative = source.relative_to(overlay)
        if relative == Path("expect.toml"):
            continue
        if source.name.endswith(".delete"):
            target = destination / relative.with_name(source.name[: -len(".delete")])
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            continue
        target = destination / relative
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination
