"""Rubric for exercise 07-multi-stage: build in python:3.11, ship python:3.11-slim."""

import re

import pytest

from dockyard import expect

pytestmark = pytest.mark.lesson("05-best-practices.ipynb#Multi-stage-builds")

SLIM = "python:3.11-slim"
MAX_EXTRA_MB = 25
COMPILERS = ("gcc", "cc", "g++", "c++", "x86_64-linux-gnu-gcc", "aarch64-linux-gnu-gcc", "clang")
COMPILER_DIRS = ("/usr/bin", "/usr/local/bin", "/bin")
COPY_FROM = re.compile(r"--from=(\S+)")


def _stage_names(dockerfile) -> list[str]:
    return [(stage.name or "").lower() for stage in dockerfile.stages]


def _resolve_base(stage) -> str:
    """A stage's base image, following `FROM <earlier stage>` back to a real image."""
    return stage.lineage()[-1].base or ""


def _copy_from(instruction) -> str | None:
    source = (instruction.flags or {}).get("from")
    if source is None:
        match = COPY_FROM.search(instruction.raw or instruction.value)
        source = match.group(1) if match else None
    return str(source).strip("\"'").lower() if source is not None else None


@pytest.mark.points(2)
def test_named_builder(dockyard_dockerfile):
    """At least two stages, the final one copying from a named builder stage"""
    stages = dockyard_dockerfile.stages
    assert len(stages) >= 2, (
        f"expected a multi-stage Dockerfile (a builder stage and a final stage), found {len(stages)} stage(s). "
        "Start with `FROM python:3.11 AS builder`, then a second `FROM python:3.11-slim`."
    )
    earlier = {name for name in _stage_names(dockyard_dockerfile)[:-1] if name}
    final = dockyard_dockerfile.final_stage
    sources = [source for stage in final.lineage() for ins in stage.all("COPY")
               for source in [_copy_from(ins)] if source is not None]
    assert earlier, (
        "expected the builder stage to have a name (`FROM python:3.11 AS builder`), found unnamed stages. "
        "Name it, and copy from it with `COPY --from=builder`, not `--from=0`."
    )
    assert any(source in earlier for source in sources), (
        f"expected the final stage to `COPY --from=<builder>` the installed packages, found "
        f"{'COPY --from=' + ', '.join(sources) if sources else 'no COPY --from'} (named stages: {', '.join(sorted(earlier))}). "
        "Copy the builder's result by its name, e.g. `COPY --from=builder /root/.local /root/.local`."
    )


@pytest.mark.points(2)
def test_final_stage_slim(dockyard_dockerfile):
    """The final stage is based on python:3.11-slim"""
    base = _resolve_base(dockyard_dockerfile.final_stage)
    name, _, tag = base.partition(":")
    ok = name.split("/")[-1] == "python" and tag.startswith("3.11") and "slim" in tag
    assert ok, (
        f"expected the final stage to start `FROM {SLIM}`, found `FROM {base or '?'}`. Only the last stage "
        "becomes the image: make it the slim one and keep `python:3.11` for the builder."
    )


@pytest.mark.points(1)
def test_no_compiler(dockyard_image, dockyard_probe):
    """No compiler in the final image"""
    found = [f"{folder}/{name}" for folder in COMPILER_DIRS for name in dockyard_probe.listdir(dockyard_image, folder)
             if name in COMPILERS]
    assert not found, (
        f"expected no C compiler in the final image, found {', '.join(found[:4])}. The compilers belong in the "
        f"builder stage only: base the final stage on {SLIM} and copy just the installed packages into it."
    )


def _step_that_added(dockyard_image, dockyard_probe, path: str) -> str | None:
    """The final stage's build step whose layer holds `path` as the image shows it (the newest layer that has
    it), found by the layers each step's image has; None when the build kept no step images (BuildKit)."""
    layers = [found.layer for found in dockyard_probe.layer_files(dockyard_image, path.rsplit("/", 1)[0])
              if found.path == path]
    steps = [step for step in dockyard_image.build.steps if step.in_final_image and step.image_id]
    if not layers or not steps:
        return None
    return next((step.instruction for step in steps if dockyard_probe.layer_count(step.image_id) >= max(layers)),
                None)


def _builders_work(instruction: str) -> bool:
    """A step that brings in what an earlier stage made: a `COPY/ADD --from=…`, or a RUN that installs the
    builder's wheels from what was copied, never from the index (`--no-index`)."""
    keyword = instruction.split(maxsplit=1)[0].upper() if instruction.strip() else ""
    copied = keyword in ("COPY", "ADD") and "--from=" in instruction
    return copied or (keyword == "RUN" and "--no-index" in instruction)


@pytest.mark.points(2)
def test_dependency_imports(dockyard_image, dockyard_probe, dockyard_dockerfile):
    """The dependency (humanize), installed by the builder stage, imports in the final image"""
    # A container of its own, not the app's: an app that crashes at start (for want of humanize) is gone.
    result = dockyard_probe.run(dockyard_image,
                                entrypoint=["python", "-c", "import humanize; print(humanize.__file__)"])
    if result.exit_code != 0:
        error = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
        assert False, (
            f"expected `import humanize` to work in the final image, found: {error[0][:200]}. Copy what the builder "
            "installed (e.g. `COPY --from=builder /root/.local /root/.local`) to the same place in the final stage."
        )
    if len(dockyard_dockerfile.stages) < 2:
        return  # no builder at all: `named-builder` says so, this item does not say it twice
    # the builder must have done the work: the final stage's own `pip install` makes the builder pointless
    step = _step_that_added(dockyard_image, dockyard_probe, result.stdout.strip().splitlines()[-1])
    expect(step is None or _builders_work(step), expected="humanize installed by the builder stage and copied in",
           found=f"`{(step or '')[:120]}` in the final stage",
           fix="install in the builder, then `COPY --from=builder` the result (the final stage has no compiler)")


@pytest.mark.points(2)
def test_app_answers(dockyard_container, dockyard_probe):
    """The app answers on port 8000"""
    response = dockyard_probe.http(dockyard_container, "/", port=8000)
    assert response.ok and "multi-stage build" in response.text, response.explain(
        "200 with `Hello from a multi-stage build!` (the app needs `humanize`: copy it from the builder)"
    )


@pytest.mark.points(1)
def test_image_size(dockyard_image, dockyard_probe):
    """The final image is at most 25 MB larger than python:3.11-slim"""
    size = dockyard_probe.image_size(dockyard_image)
    base = dockyard_probe.base_size(SLIM)
    extra_mb = (size - base) / 1e6
    assert extra_mb <= MAX_EXTRA_MB, (
        f"expected the image to add at most {MAX_EXTRA_MB} MB to {SLIM}, found +{extra_mb:.0f} MB "
        f"({size / 1e6:.0f} MB in all). Ship only the installed packages and the app in a slim final stage."
    )
