"""The exercise ids follow the course, and the ids they had before still work: `dockyard list`, the folders
and the numbers agree, and a teacher's gradebook kept under an old id (an nbgrader folder, a batch's state,
a `dockyard` command) finds the same exercise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dockyard import batch
from dockyard.course import exercises

ROOT = Path(__file__).resolve().parents[2]

# The ids before the exercises were numbered in course order: the contract with existing gradebooks.
BEFORE = {
    "14-registry": "01-registry", "13-container-lifecycle": "02-container-lifecycle",
    "01-first-image": "03-first-image", "02-layer-cache": "05-layer-cache", "03-dockerignore": "06-dockerignore",
    "05-multi-stage": "07-multi-stage", "16-system-packages": "08-system-packages", "07-volumes": "09-volumes",
    "08-networks": "10-networks", "09-compose-stack": "11-compose-stack", "15-debug-it": "12-debug-it",
    "11-secrets": "13-secrets", "10-ml-api": "14-ml-api", "17-rag-stack": "15-rag-stack",
    "06-non-root-healthcheck": "16-non-root-healthcheck", "12-production-compose": "17-production-compose",
}


def test_the_ids_are_numbered_in_the_order_the_notebooks_set_them():
    in_order = [exercise.id for exercise in exercises.in_course_order(ROOT)]
    assert in_order == exercises.ids(ROOT)
    assert [exercise_id[:2] for exercise_id in in_order] == [f"{n:02d}" for n in range(1, len(in_order) + 1)]
    notebooks = [exercise.notebook for exercise in exercises.in_course_order(ROOT)]
    assert notebooks == sorted(notebooks)  # never back to an earlier notebook
    assert in_order[-1] == "18-ci-pipeline"


def test_every_old_id_names_its_exercise():
    for old, new in BEFORE.items():
        assert exercises.resolve(old, ROOT) == new
        exercise = exercises.load(old, ROOT)
        assert exercise.id == new and exercise.folder.name == new and exercise.grader.name == new
        assert old in exercise.aliases
    every_alias = [alias for exercise in exercises.all_exercises(ROOT) for alias in exercise.aliases]
    assert sorted(every_alias) == sorted(BEFORE)  # each once, and none is another exercise's id today
    assert exercises.resolve("04-entrypoint-cmd", ROOT) == "04-entrypoint-cmd"  # kept its number
    assert exercises.resolve("99-nothing", ROOT) == "99-nothing"  # unknown stays unknown: load() says so


def test_an_nbgrader_folder_and_a_gradebook_under_an_old_id_go_on(tmp_path):
    exercise = exercises.load("01-first-image", ROOT)
    (tmp_path / "submitted" / "ada" / "01-first-image").mkdir(parents=True)  # handed in before the renumbering
    (tmp_path / "submitted" / "bob" / "03-first-image").mkdir(parents=True)
    (tmp_path / "submitted" / "cy").mkdir(parents=True)
    found = {learner.student: learner for learner in batch.discover(tmp_path, exercise.id, exercise.aliases)}
    assert found["ada"].source.name == "01-first-image" and not found["ada"].missing
    assert found["bob"].source.name == "03-first-image" and not found["bob"].missing
    assert found["cy"].missing

    out = tmp_path / "gradebook"
    out.mkdir()
    saved = {"exercise": "01-first-image", "rubric_version": "v1", "results": {"ada": {"hash": "h"}}}
    (out / batch.STATE_FILE).write_text(json.dumps(saved))
    assert batch.Results(out, exercise.id, "v1", exercise.aliases).data["results"] == saved["results"]
    assert batch.Results(out, "05-layer-cache", "v1").data["results"] == {}  # another exercise's state is not taken


def test_the_command_line_takes_an_old_id(tmp_path):
    template = subprocess.run([sys.executable, "-m", "dockyard", "classroom", "01-first-image", str(tmp_path / "repo"),
                               "--course-repository", "dockyard/course", "--course-ref", "v1"],
                              capture_output=True, text=True, timeout=60)
    assert template.returncode == 0, template.stderr
    written = "\n".join(path.read_text() for path in (tmp_path / "repo").rglob("*") if path.is_file())
    assert "03-first-image" in written and "01-first-image" not in written  # graded under today's id

    listed = subprocess.run([sys.executable, "-m", "dockyard", "list"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    positions = [listed.stdout.find(exercise_id) for exercise_id in exercises.ids(ROOT)]
    assert -1 not in positions and positions == sorted(positions)
    unknown = subprocess.run([sys.executable, "-m", "dockyard", "grade", "99-nothing", str(ROOT)],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "03-first-image" in unknown.stderr  # the known ids, today's
