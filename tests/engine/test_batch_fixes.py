"""Issue 17's batch fixes: archive names, a course base image missing on an engine, nbgrader folders,
batch's own state file. Mostly without Docker (a stand-in grader); the base-image case on the real engine."""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from dockyard import batch
from dockyard.course import exercises
from dockyard.engine.labels import RUN_LABEL, new_run_id
from dockyard.sandbox import build
from dockyard.errors import BaseImageMissing, EngineLost
from dockyard.report.model import Item, Report

from tests.helpers import ROOT  # noqa: E402
EXERCISE = "03-first-image"


def fake_grade(exercise_id, folder, engine_url=None, **kwargs):
    """A stand-in grading: full marks when the folder has a Dockerfile."""
    ok = (Path(folder) / "Dockerfile").is_file()
    return Report.from_items(exercise_id, [Item("builds", "The image builds", 1.0 if ok else 0.0, 1.0, ok,
                                                "" if ok else "no Dockerfile")], 0.1)


def archive(path: Path, kind: str) -> Path:
    source = path.parent.parent / "sources" / path.name
    source.mkdir(parents=True)
    (source / "Dockerfile").write_text("FROM python:3.11-slim\n")
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as handle:
            handle.write(source / "Dockerfile", "Dockerfile")
    else:
        with tarfile.open(path, "w:gz") as handle:
            handle.add(source / "Dockerfile", "Dockerfile")
    return path


def test_student_names_keep_everything_before_the_archive_suffix(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    archive(folder / "ann.taylor.tar.gz", "tar")
    archive(folder / "ann.tgz", "tar")
    archive(folder / "bo.t.smith.zip", "zip")
    archive(folder / "cy.tar.gz.tgz", "tar")
    assert sorted(learner.student for learner in batch.discover(folder, EXERCISE)) == \
        ["ann", "ann.taylor", "bo.t.smith", "cy.tar.gz"]


def test_nbgrader_student_without_the_assignment_is_listed(tmp_path):
    submitted = tmp_path / "course" / "submitted"
    (submitted / "zoe" / EXERCISE).mkdir(parents=True)
    (submitted / "zoe" / EXERCISE / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (submitted / "yan" / "05-layer-cache").mkdir(parents=True)  # handed in another assignment only
    (submitted / "xi").mkdir(parents=True)  # nothing at all
    found = batch.discover(tmp_path / "course", EXERCISE)
    assert [(learner.student, learner.missing) for learner in found] == [("xi", True), ("yan", True), ("zoe", False)]
    out = tmp_path / "out"
    summary = batch.run_batch(EXERCISE, tmp_path / "course", out, jobs=1, grade_one=fake_grade)
    assert summary.graded == 1 and summary.missing == 2
    rows = (out / "gradebook.csv").read_text().splitlines()
    yan = next(row for row in rows if row.startswith("yan,"))
    assert "no submission for this assignment" in yan
    from dockyard.course.points import rubric_points

    maximum = rubric_points(exercises.load(EXERCISE, ROOT).grader)
    assert yan.startswith(f"yan,0.0,{maximum},missing,")  # the rubric's max_score, never 0


def test_state_file_has_its_own_name_and_old_results_json_is_migrated_once(tmp_path):
    folder = tmp_path / "class"
    (folder / "ada").mkdir(parents=True)
    (folder / "ada" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    out = tmp_path / "out"
    out.mkdir()
    exercise = exercises.load(EXERCISE, ROOT)
    version = batch.rubric_version(exercise)
    digest = batch.content_hash(folder / "ada")
    old = {"exercise": EXERCISE, "rubric_version": version, "results": {"ada": {
        "hash": digest, "rubric_version": version, "report": fake_grade(EXERCISE, folder / "ada").to_dict()}}}
    (out / "results.json").write_text(json.dumps(old))
    calls = []
    summary = batch.run_batch(EXERCISE, folder, out, jobs=1,
                              grade_one=lambda *a, **k: calls.append(a) or fake_grade(*a, **k))
    assert summary.reused == 1 and not calls, "the migrated result is reused, not graded again"
    assert (out / batch.STATE_FILE).is_file() and batch.STATE_FILE == "dockyard-state.json"
    assert not (out / "results.json").exists(), "read once: the old name is gone, so nobody uploads it by mistake"
    assert json.loads((out / batch.STATE_FILE).read_text())["results"]["ada"]["hash"] == digest


def test_a_gradescope_results_json_is_never_taken_for_the_state(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"score": 3, "tests": []}))
    state = batch.Results(out, EXERCISE, "v")
    assert state.data["results"] == {} and (out / "results.json").is_file()


def test_a_missing_course_base_image_is_the_engines_fault(tmp_path, monkeypatch, docker_client):
    """Real engine: a FROM of a course image this engine lacks (here a made-up tag the course 'provides')."""
    real = build.recipes.known_tags
    monkeypatch.setattr(build.recipes, "known_tags",
                        lambda repository: [*real(repository), "coursebase-no-such:1.0"])
    (tmp_path / "Dockerfile").write_text("FROM coursebase-no-such:1.0\nCMD [\"true\"]\n")
    with pytest.raises(BaseImageMissing) as caught:
        build.build_image(docker_client, tmp_path, tag=f"dockyard-test-missing-base:{new_run_id()}",
                          labels={RUN_LABEL: "test-missing-base"}, timeout_s=120)
    assert isinstance(caught.value, EngineLost) and "not your doing" in caught.value.one_line()
    (tmp_path / "Dockerfile").write_text("FROM learner-typo-base:9\n")  # not a course image: the learner's
    with pytest.raises(Exception) as caught:
        build.build_image(docker_client, tmp_path, tag=f"dockyard-test-missing-base:{new_run_id()}",
                          labels={RUN_LABEL: "test-missing-base"}, timeout_s=120)
    assert not isinstance(caught.value, EngineLost) and "learner-typo-base:9" in str(caught.value)


def test_only_regrades_those_learners_and_updates_the_gradebook_in_place(tmp_path):
    folder = tmp_path / "class"
    for name in ("ada", "bob", "cy"):
        (folder / name).mkdir(parents=True)
        (folder / name / "Dockerfile").write_text("FROM python:3.11-slim\n")
    out = tmp_path / "out"
    assert batch.run_batch(EXERCISE, folder, out, jobs=1, grade_one=fake_grade).graded == 3
    (folder / "bob" / "Dockerfile").unlink()  # bob's work changes; cy's too, but only bob is asked for
    (folder / "cy" / "Dockerfile").unlink()
    graded = []
    summary = batch.run_batch(EXERCISE, folder, out, jobs=1, only=["bob"],
                              grade_one=lambda ex, f, **k: graded.append(Path(f).name) or fake_grade(ex, f, **k))
    assert graded == ["bob"] and summary.graded == 1
    book = {row.split(",")[0]: row for row in (out / "gradebook.csv").read_text().splitlines()[1:]}
    assert set(book) == {"ada", "bob", "cy"}
    assert book["bob"].startswith("bob,0.0,") and book["cy"].startswith("cy,1.0,") and book["ada"].startswith("ada,1.0,")
    again = batch.run_batch(EXERCISE, folder, out, jobs=1, only=["ada"], grade_one=fake_grade)
    assert again.graded == 1 and again.reused == 0, "--only regrades even an unchanged submission"


def test_only_with_an_unknown_learner_is_a_one_line_usage_error(tmp_path):
    from dockyard.cli import Environment, main
    import io

    folder = tmp_path / "class"
    (folder / "ada").mkdir(parents=True)
    err = io.StringIO()
    code = main(["batch", EXERCISE, str(folder), "--out", str(tmp_path / "out"), "--only", "zed"],
                Environment(stdout=io.StringIO(), stderr=err, colour=False))
    assert code == 2 and err.getvalue().count("\n") == 1 and "no submission from zed" in err.getvalue()


def test_late_policy_from_nbgrader_and_gradescope_times_in_gradebook_and_feedback(tmp_path):
    from dockyard.course import late

    submitted = tmp_path / "course" / "submitted"
    stamps = {"on-time": "2026-12-01 20:00:00.000000 UTC", "one-day": "2026-12-02 10:00:00.000000 UTC",
              "way-late": "2026-12-06 10:00:00 UTC"}
    for student, stamp in stamps.items():
        folder = submitted / student / EXERCISE
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text("FROM python:3.11-slim\n")
        (folder / "timestamp.txt").write_text(stamp + "\n")
    gs = submitted / "gs" / EXERCISE
    gs.mkdir(parents=True)
    (gs / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (gs / "submission_metadata.json").write_text(json.dumps({"created_at": "2026-12-03T23:00:00.0-00:00"}))
    out = tmp_path / "out"
    batch.run_batch(EXERCISE, tmp_path / "course", out, jobs=2, grade_one=fake_grade,
                    due=late.parse_time("2026-12-01T23:59"), policy=late.parse_policy("10%/day, max 3 days"))
    import csv

    with open(out / "gradebook.csv") as handle:
        book = {row["student"]: row for row in csv.DictReader(handle)}
    assert book["on-time"]["score"] == "1.0" and book["on-time"]["late"] == "on time"
    assert book["one-day"]["score"] == "0.9" and book["one-day"]["late"].startswith("10 h 1 min late: -10%")
    assert book["gs"]["score"] == "0.8" and book["gs"]["late"].startswith("1 day 23 h late: -20%")
    assert book["way-late"]["score"] == "0.0" and "no credit" in book["way-late"]["late"]
    assert book["one-day"]["score_before_late"] == "1.0"
    page = (out / "feedback" / "one-day.md").read_text()
    assert "Submitted 10 h 1 min late: -10% (10%/day, max 3 days); the checks earned 1/1" in page
    assert "late:" in (out / "feedback" / "gs.html").read_text()


@pytest.mark.parametrize("flag,value", [("--late", "10 percent a day"), ("--late", "10%/fortnight"),
                                        ("--due", "next tuesday")])
def test_bad_late_options_are_one_line_usage_errors(tmp_path, flag, value):
    from dockyard.cli import Environment, main
    import io

    (tmp_path / "class" / "ada").mkdir(parents=True)
    err = io.StringIO()
    code = main(["batch", EXERCISE, str(tmp_path / "class"), "--out", str(tmp_path / "out"), flag, value],
                Environment(stdout=io.StringIO(), stderr=err, colour=False))
    assert code == 2 and err.getvalue().count("\n") == 1 and err.getvalue().startswith(f"dockyard: {flag}: ")
    assert not (tmp_path / "out").exists(), "nothing is graded on a bad option"
