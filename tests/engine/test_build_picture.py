"""The picture of the learner's build on the real engine: a real grading of 03-first-image's solution lists the
Dockerfile's steps with their sizes (from the image history), and grading it again shows them from the cache."""

from __future__ import annotations

import json
import re
import uuid

from dockyard.engine import gc
from dockyard.engine.labels import KINDS
from dockyard.report import feedback, html, terminal
from dockyard.report.model import Report
from dockyard.rubric import runner
from dockyard.sandbox import Sandbox
from tests.helpers import TEST_BASE, materialize


def _instructions(dockerfile: str) -> list[str]:
    return [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_a_real_grading_draws_the_build_and_a_second_one_shows_the_cache(tmp_path):
    folder = materialize("03-first-image", None, tmp_path / "submission")
    # a change of our own, so that this test's first grading builds COPY and what follows (the engine's cache
    # is shared: another grading of the solution may have left those steps cached)
    with open(folder / "app.py", "a") as handle:
        handle.write(f"\n# build picture test {uuid.uuid4().hex}\n")
    expected = _instructions((folder / "Dockerfile").read_text())
    assert expected[0].startswith("FROM") and len(expected) == 5

    first = runner.grade("03-first-image", folder)
    assert first.status == "graded" and first.score == first.max_score, first
    picture = first.build
    assert picture is not None
    assert [step.instruction for step in picture.steps] == expected  # the learner's steps, none of our LABELs
    assert [step.number for step in picture.steps] == [1, 2, 3, 4, 5]
    sizes = {step.instruction.split()[0]: step.size_bytes for step in picture.steps}
    assert sizes["FROM"] > 20_000_000  # a FROM's size: the whole base image
    assert (folder / "app.py").stat().st_size <= sizes["COPY"] < 100_000
    assert sizes["EXPOSE"] == sizes["CMD"] == 0  # metadata adds no bytes
    assert picture.size_bytes == sum(step.size_bytes for step in picture.steps)
    copy_and_after = picture.steps[2:]
    assert not any(step.cached for step in copy_and_after), picture
    assert all(step.seconds >= 0 for step in picture.steps) and picture.seconds > 0
    assert gc.leftovers(run_ids=[first.run_id]) == dict.fromkeys(KINDS, 0)

    again = runner.grade("01-first-image", folder)  # its id before the renumbering: the same exercise, today's id
    assert again.exercise == "03-first-image"
    assert again.status == "graded" and again.build is not None
    assert [step.instruction for step in again.build.steps] == expected
    assert all(step.cached for step in again.build.steps[1:]), again.build  # nothing changed: all from cache
    assert [step.size_bytes for step in again.build.steps] == [step.size_bytes for step in picture.steps]

    # every renderer draws it, and the JSON carries it
    assert Report.from_dict(json.loads(again.to_json())) == again
    widget = html.report_html(again)
    assert len(re.findall(r'<tr class="dockyard-step dockyard-cached"', widget)) == 4
    assert "Every step came from the cache" in widget and "Every step came from the cache" in feedback.html(again)
    text = terminal.to_text(again, width=100)
    assert "4 of 4 steps came from the cache" in text and "COPY app.py ." in text


def test_a_failed_build_shows_the_steps_up_to_the_failure(tmp_path):
    folder = materialize("03-first-image", None, tmp_path / "submission")
    lines = (folder / "Dockerfile").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("WORKDIR")) + 1
    lines.insert(at, f"RUN echo {uuid.uuid4().hex} && sleep 1 && exit 3")
    (folder / "Dockerfile").write_text("\n".join(lines) + "\n")

    report = runner.grade("03-first-image", folder)
    assert report.status == "graded" and report.score < report.max_score
    picture = report.build
    assert picture is not None and picture.failed_at == 3 and picture.size_bytes is None
    assert [step.instruction.split()[0] for step in picture.steps] == ["FROM", "WORKDIR", "RUN"]
    assert not picture.steps[2].cached and picture.steps[2].seconds >= 1.0
    assert "The build stopped at step 3" in html.report_html(report)
    assert gc.leftovers(run_ids=[report.run_id]) == dict.fromkeys(KINDS, 0)


def test_a_multi_stage_build_marks_what_the_final_image_leaves_out(tmp_path, no_leaks):
    marker = uuid.uuid4().hex
    (tmp_path / "Dockerfile").write_text(
        f"FROM {TEST_BASE} AS build\n"
        f"RUN head -c 3000000 /dev/zero > /big && echo {marker}\n"
        "RUN head -c 1000000 /big > /part\n"
        f"FROM {TEST_BASE}\n"
        "COPY --from=build /part /part\n")
    with Sandbox("test-picture") as box:
        result = box.build(tmp_path)
        base = box.client.images.get(TEST_BASE).attrs["Size"]
    steps = result.steps
    assert [step.number for step in steps] == [1, 2, 3, 4, 5]
    assert [step.in_final_image for step in steps] == [True, False, False, True, True]  # the base is in both
    assert 3_000_000 <= steps[1].size_bytes < 3_100_000 and 1_000_000 <= steps[2].size_bytes < 1_100_000
    assert steps[0].size_bytes == steps[3].size_bytes == base
    assert 1_000_000 <= steps[4].size_bytes < 1_100_000
    assert result.size_bytes == base + steps[4].size_bytes
    assert steps[1].seconds > 0 and not steps[1].cached
