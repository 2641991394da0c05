"""The picture of the learner's build (report/picture.py) from hand-made build facts: what each renderer shows,
that the learner's step text is escaped everywhere, how sizes are read from an image history. No Docker."""

from __future__ import annotations

import dataclasses
import io
import json
import re

import pytest
from rich.console import Console

from dockyard.report import feedback, gradescope, html, picture, prairielearn, terminal
from dockyard.report.model import BuildPicture, Item, PictureStep, Report
from dockyard.rubric import runner
from dockyard.sandbox import build
from dockyard.sandbox.build import BuildResult, BuildStep

SCRIPT = "<script>alert('x')</script>"
MARKUP = "[bold red]boom[/]"
HOSTILE = f"RUN echo \"{SCRIPT}\" {MARKUP} && echo '\x1b[31mred\x1b[0m'"


def facts() -> BuildResult:
    """What build_image returns for a five-step Dockerfile whose third step changed."""
    steps = (BuildStep(1, "FROM python:3.11-slim", False, 0.02, "aaaaaaaaaaaa", 130_000_000),
             BuildStep(2, "WORKDIR /app", True, 0.01, "bbbbbbbbbbbb", 0),
             BuildStep(3, HOSTILE, False, 6.4, "cccccccccccc", 52_000_000),
             BuildStep(4, "COPY app.py .", False, 0.3, "dddddddddddd", 1_300),
             BuildStep(5, 'CMD ["python", "app.py"]', False, 0.1, "eeeeeeeeeeee", 0))
    return BuildResult("sha256:" + "e" * 64, "dockyard/t:1", steps, (), 7.2, (), 182_001_300)


@pytest.fixture
def report() -> Report:
    items = [Item("builds", "The image builds", 1.0, 1.0, True),
             Item("small", "The image is small", 0.0, 2.0, False, "the image is 182 MB")]
    return dataclasses.replace(Report.from_items("05-layer-cache", items, 9.1), build=BuildPicture.from_build(facts()))


def _rich(report: Report, width: int = 120) -> str:
    console = Console(record=True, width=width, force_terminal=True, file=io.StringIO())
    terminal.render(report, console)
    return console.export_text()


# -- the model ----------------------------------------------------------------------------------------
def test_from_build_keeps_the_facts_and_cleans_the_text():
    made = BuildPicture.from_build(facts())
    assert [step.number for step in made.steps] == [1, 2, 3, 4, 5]
    assert [step.cached for step in made.steps] == [False, True, False, False, False]
    assert made.steps[2].seconds == 6.4 and made.steps[2].size_bytes == 52_000_000
    assert made.size_bytes == 182_001_300 and made.seconds == 7.2
    assert "\x1b" not in made.steps[2].instruction and SCRIPT in made.steps[2].instruction  # escaped when drawn
    assert made.cached_count == 1 and made.first_rebuilt().number == 3 and made.largest().number == 1
    long = BuildResult("x", "t", (BuildStep(1, "RUN " + "x" * 5000 + "\n\tmore", False),), (), 1.0)
    step = BuildPicture.from_build(long).steps[0]
    assert len(step.instruction) <= 300 and "\n" not in step.instruction and step.size_bytes is None


def test_json_carries_the_picture_and_stays_backward_compatible(report):
    data = json.loads(report.to_json())
    assert data["build"]["steps"][2] == {"number": 3, "instruction": report.build.steps[2].instruction,
                                         "cached": False, "seconds": 6.4, "size_bytes": 52_000_000,
                                         "in_final_image": True}
    assert Report.from_dict(data) == report
    old = {key: value for key, value in data.items() if key != "build"}  # a report written before the field
    assert Report.from_dict(old).build is None and Report.from_dict({**old, "build": None}).build is None
    data["build"]["steps"][0]["shade"] = "a future field"  # a newer writer's extra key is ignored
    assert Report.from_dict(data).build == report.build


# -- the renderers: every learner string escaped -------------------------------------------------------
def test_html_escapes_the_step_text(report):
    for page in (html.report_html(report), feedback.html(report, "ada")):
        assert "<script" not in page.lower() and "alert('x')" not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
        assert "[bold red]boom[/]" in page  # no markup language here: shown as typed
        assert 'class="dockyard-build"' in page and page.count('class="dockyard-step ') == 5
        assert "http" not in page.split('class="dockyard-build"', 1)[1]  # loads nothing
    widget = html.report_html(report)
    rows = re.findall(r'<tr class="(dockyard-step[^"]*)" data-step="(\d)" data-size="(\d*)"', widget)
    assert rows == [("dockyard-step dockyard-base", "1", "130000000"), ("dockyard-step dockyard-cached", "2", "0"),
                    ("dockyard-step dockyard-ran dockyard-cache-stop", "3", "52000000"),
                    ("dockyard-step dockyard-ran", "4", "1300"), ("dockyard-step dockyard-ran", "5", "0")]
    widths = [float(w) for w in re.findall(r'class="dockyard-bar" style="width:([\d.]+)%"', widget)]
    assert widths == [100.0, 40.0, 0.0]  # scaled by size: the biggest fills the width; 0 B draws no bar
    assert "130.0 MB" in widget and "6.4 s" in widget and "Your image: 182.0 MB" in widget


def test_terminal_shows_markup_as_text(report):
    text = _rich(report)
    assert MARKUP in text and SCRIPT in text  # rich markup in the step is not read as markup
    assert "Your image: 182.0 MB, built in 7.2 s; 1 of 4 steps came from the cache." in text
    lines = {line.split()[0]: line for line in text.splitlines() if re.match(r"^\s*\d\s", line)}
    assert "cached" in lines["2"] and "ran" in lines["3"] and "base" in lines["1"]
    assert "█" * picture.BAR_CHARS + " 130.0 MB" in lines["1"] and "█" * 8 + " 52.0 MB" in lines["3"]
    assert "6.4 s" in lines["3"] and "0 B" in lines["5"]
    assert "The cache stopped at step 3" in text
    narrow = _rich(report, width=60)  # the numbers stay whole; the step's text gives way
    assert "130.0 MB" in narrow and "cached" in narrow and "6.4 s" in narrow


def test_markdown_escapes_the_step_text(report):
    text = feedback.markdown(report, "ada")
    table = [line for line in text.splitlines() if line.startswith("| 3 |")][0]
    assert "&lt;script&gt;" in table and "<script" not in table and "| ran | 6.4 s |" in table
    assert "## Your build" in text and text.count("\n| ") >= 7


def test_gradescope_output_carries_the_picture_as_text(report):
    output = gradescope.to_dict(report)["output"]
    assert output.startswith("05-layer-cache: 1/3 points\n\nYour build:\nYour image: 182.0 MB")
    assert SCRIPT in output and MARKUP in output  # output_format "text": shown as typed, never rendered
    assert "\x1b" not in output and max(len(line) for line in output.splitlines()) <= 88
    assert gradescope.to_dict(report)["output_format"] == "text"


def test_a_failed_build_shows_the_steps_up_to_the_failure():
    from dockyard.errors import BuildFailed

    steps = facts().steps[:3]
    failure = BuildFailed("the build failed at `RUN …`: exit 3", [], step=steps[2].instruction,
                          steps=tuple(dataclasses.replace(step, size_bytes=None) for step in steps), seconds=6.5)
    made = BuildPicture.from_failure(failure)
    assert made.failed_at == 3 and made.size_bytes is None and [s.number for s in made.steps] == [1, 2, 3]
    assert BuildPicture.from_failure(BuildFailed("the engine refused the build: parse error")) is None
    at_from = BuildPicture.from_failure(BuildFailed("no base", [], steps=steps[:1], seconds=0.2))
    assert picture.hints(at_from) == ["Step 1 (`FROM python:3.11-slim`) failed after 0.0 s."]
    failed = dataclasses.replace(Report.from_items("03-first-image", [Item("builds", "It builds", 0.0, 1.0, False,
                                                                           "the build failed")], 7.0), build=made)
    assert Report.from_dict(json.loads(failed.to_json())) == failed
    widget = html.report_html(failed)
    assert 'class="dockyard-step dockyard-ran dockyard-failed' not in widget
    assert re.search(r'<tr class="dockyard-step dockyard-failed[^"]*" data-step="3"', widget)
    assert "The build stopped at step 3 after 6.5 s; 1 of 2 steps came from the cache." in widget
    assert "Step 3 (`RUN echo" in widget and "the next build starts again at step 3" in widget
    assert "<script" not in widget and "?" not in re.sub(r"<[^>]+>", "", widget.split("dockyard-build", 1)[1])
    text = _rich(failed)
    assert "failed" in [line for line in text.splitlines() if line.strip().startswith("3 ")][0]
    assert "The build stopped at step 3" in text and "Your image" not in text


def test_prairielearn_output_carries_the_picture_as_text(report):
    data = prairielearn.to_dict(report)
    assert data["output"].startswith("Your build:\nYour image: 182.0 MB") and SCRIPT in data["output"]
    assert "output" not in prairielearn.to_dict(dataclasses.replace(report, build=None))


def test_no_build_no_picture():
    plain = Report.from_items("09-compose", [Item("up", "It starts", 1.0, 1.0, True)], 1.0)
    assert "dockyard-build" not in html.report_html(plain) and "Your build" not in feedback.html(plain)
    assert "Your image" not in _rich(plain) and "Your build" not in feedback.markdown(plain)
    assert "Your build" not in gradescope.to_dict(plain)["output"] and picture.picture_text(None) == ""


def test_hints_say_why_steps_ran_and_where_the_bytes_are():
    steps = [PictureStep(1, "FROM python:3.11-slim", False, 0.0, 100), PictureStep(2, "COPY . .", True, 0.0, 900)]
    every = BuildPicture(tuple(steps), 1.0, 1000)
    assert picture.hints(every) == [
        "Every step came from the cache: nothing it uses changed since the last build.",
        "The biggest part is step 2 (`COPY . .`): 900 B, 90% of the image."]
    first = BuildPicture((steps[0], dataclasses.replace(steps[1], cached=False)), 1.0, 1000)
    assert picture.hints(first)[0].startswith("No step came from the cache")
    staged = BuildPicture((PictureStep(1, "FROM golang:1.22 AS build", False, 0.0, 800_000_000, False),
                           PictureStep(2, "WORKDIR /src", True, 0.0, 0, False),
                           PictureStep(3, "RUN go build", False, 9.0, 20_000_000, False),
                           PictureStep(4, "FROM debian:bookworm-slim", False, 0.0, 75_000_000),
                           PictureStep(5, "COPY --from=build /app /app", False, 0.1, 9_000_000)), 9.5, 84_000_000)
    said = picture.hints(staged)
    assert said[0].startswith("The cache stopped at step 3") and "the steps after it in its stage ran" in said[0]
    assert said[1] == ("The biggest part is the base image, step 4 (`FROM debian:bookworm-slim`): 75.0 MB, "
                       "89% of the image.")
    assert "earlier stage" in said[2]
    assert "earlier stage" in picture.picture_html(staged) and "dockyard-other-stage" in picture.picture_html(staged)
    assert [picture.seconds(n) for n in (0, 6.44, 59.9, 59.97, 125.4)] == ["0.0 s", "6.4 s", "59.9 s", "1m00s", "2m05s"]
    assert [picture.human(n) for n in (None, 0, 999, 1300, 145_200_000, 2_500_000_000)] == \
        ["?", "0 B", "999 B", "1.3 kB", "145.2 MB", "2.50 GB"]


# -- the build facts: sizes from the history, times from the output ----------------------------------------
def _entry(image_id: str, size: int, created_by: str = "") -> dict:
    return {"Id": f"sha256:{image_id}{'0' * 52}" if image_id != "<missing>" else image_id, "Size": size,
            "CreatedBy": created_by}


def test_step_sizes_from_the_history():
    steps = (BuildStep(1, "FROM base", False, image_id="bbbbbbbbbbbb"),
             BuildStep(2, "RUN apt-get install -y curl", False, image_id="111111111111"),
             BuildStep(3, "CMD [\"x\"]", True, image_id="222222222222"))
    history = [_entry("222222222222", 0), _entry("111111111111", 40_000_000), _entry("bbbbbbbbbbbb", 0),
               _entry("<missing>", 70_000_000), _entry("<missing>", 5_000_000)]  # newest first, as the engine says
    sized = build.step_sizes(steps, history, {})
    assert [step.size_bytes for step in sized] == [75_000_000, 40_000_000, 0]  # a FROM: the whole base
    assert all(step.in_final_image for step in sized)
    unknown = build.step_sizes((BuildStep(1, "FROM base", False), BuildStep(2, "FROM scratch", False)), history, {})
    assert unknown[0].size_bytes is None  # no image id seen: unknown, never a guess
    assert unknown[1].size_bytes == 0 and all(step.in_final_image for step in unknown)


def test_step_sizes_of_a_multi_stage_build():
    steps = (BuildStep(1, "FROM golang AS build", False, image_id="gggggggggggg"),
             BuildStep(2, "RUN go build", False, image_id="333333333333"),
             BuildStep(3, "FROM debian", False, image_id="dddddddddddd"),
             BuildStep(4, "COPY --from=build /app /app", False, image_id="444444444444"))
    assert build._stage_ends(steps) == ["333333333333"]
    builder = [_entry("333333333333", 20_000_000), _entry("gggggggggggg", 0), _entry("<missing>", 800_000_000)]
    final = [_entry("444444444444", 9_000_000), _entry("dddddddddddd", 75_000_000)]
    sized = build.step_sizes(steps, final, {"333333333333": builder})
    assert [(step.size_bytes, step.in_final_image) for step in sized] == [
        (800_000_000, False), (20_000_000, False), (75_000_000, True), (9_000_000, True)]


def test_with_sizes_never_fails_the_build():
    class Refusing:
        def history(self, image):
            raise RuntimeError("engine busy")

    steps = (BuildStep(1, "FROM base", False, image_id="bbbbbbbbbbbb"),)
    assert build.with_sizes(Refusing(), "sha256:x", steps) == (steps, None)


def test_steps_from_the_build_output_with_times_and_without_our_labels():
    steps, layers, containers, started = [], [], [], []
    output = ["Step 1/5 : FROM python:3.11-slim", " ---> 0123456789ab", "Step 2/5 : WORKDIR /app",
              " ---> Using cache", " ---> 123456789abc", "Step 3/5 : RUN pip install flask",
              " ---> Running in fedcba987654",
              "Collecting flask", "Removing intermediate container fedcba987654", " ---> 23456789abcd",
              "Step 4/5 : LABEL dockyard.run=abc123", " ---> Running in 0a0a0a0a0a0a", " ---> 3456789abcde",
              'Step 5/5 : LABEL dockyard.exercise="03-first-image"', " ---> 456789abcdef"]
    clock = iter([10.0, 10.5, 11.0, 15.25, 15.5])
    for line in output:
        build._note_line(line, steps, layers, containers)
        if len(steps) > len(started):
            started.append(next(clock))
    timed = build.timed_steps(steps, started, 16.0)
    assert [(s.number, s.cached, s.seconds, s.image_id) for s in timed] == [
        (1, False, 0.5, "0123456789ab"), (2, True, 0.5, "123456789abc"), (3, False, 4.25, "23456789abcd"),
        (4, False, 0.25, "3456789abcde"), (5, False, 0.5, "456789abcdef")]
    labels = {"dockyard.run": "abc123", "dockyard.exercise": "03-first-image"}
    assert [s.number for s in build.without_label_steps(timed, labels)] == [1, 2, 3]
    learner_label = (*timed[:3], BuildStep(4, "LABEL maintainer=ada", False))  # the learner's own LABEL stays
    assert len(build.without_label_steps(learner_label, labels)) == 4


def test_a_stopped_grading_keeps_the_picture(tmp_path, report):
    items = tmp_path / "items.jsonl"
    picture_line = json.dumps({"build": dataclasses.asdict(report.build)})
    items.write_text(json.dumps({"plan": []}) + "\n" + picture_line + "\n" + '{"item": {"id": "torn')
    assert runner.build_picture(items) == report.build
    assert runner.build_picture(tmp_path / "missing.jsonl") is None
