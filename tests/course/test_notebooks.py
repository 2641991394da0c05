"""The course notebooks: stripped in git, each with a quiz and a picture, each exercise's Check in its notebook,
and every notebook executing top to bottom in a fresh kernel (reference solutions in place) without an error
and without leaving a labelled resource behind. Execution happens in a scratch copy of notebooks/."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

import nbformat
import pytest

from dockyard.course import exercises
from dockyard.engine.labels import OWNER_LABEL, RUN_LABEL

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def ids(paths):
    return [path.stem for path in paths]


def labelled_by(client, owner: str) -> list[str]:
    """Everything carrying `dockyard.owner=<owner>` (images included: images built FROM a course stand-in inherit
    its `dockyard.standin` label, so that label does not exempt them)."""
    flt = {"label": f"{OWNER_LABEL}={owner}"}
    found = [f"container:{c.name}" for c in client.containers.list(all=True, filters=flt)]
    found += [f"network:{n.name}" for n in client.networks.list(filters=flt)]
    found += [f"volume:{v.name}" for v in client.volumes.list(filters=flt)]
    found += [f"image:{i.short_id}:{i.tags}" for i in client.images.list(filters=flt)]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_executes_and_leaves_nothing(path, tmp_path, docker_client, monkeypatch):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    workdir = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, workdir)
    monkeypatch.setenv("DOCKYARD_SOLUTIONS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # Checks grade at once only on request (DOCKYARD_TEST_AUTOCHECK=1): test_exercises grades every solution already.
    monkeypatch.setenv("DOCKYARD_AUTOCHECK", os.environ.get("DOCKYARD_TEST_AUTOCHECK", "0"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "config"))  # the quiz's learner id: not in the real home
    seeded = seed_answer_book(workdir, path)
    notebook = nbformat.read(workdir / path.name, as_version=4)
    kernel_pids: list[int] = []
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}},
                            on_notebook_start=lambda **_: kernel_pids.append(client.km.provisioner.pid))
    started = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{path.name}: a cell failed:\n{str(error)[-3000:]}")
    finally:
        nbformat.write(notebook, workdir / path.name)  # executed copy, for a look after a failure
    elapsed = time.monotonic() - started
    print(f"{path.name}: executed in {elapsed:.1f} s")
    mine = {"label": f"{RUN_LABEL}=notebook-{path.stem}"}
    left = (docker_client.containers.list(all=True, filters=mine) + docker_client.networks.list(filters=mine)
            + docker_client.volumes.list(filters=mine) + docker_client.images.list(filters=mine))
    assert not left, f"{path.name} left labelled resources: {left}"
    # what the kernel made under any run label (the notebook's own and any other) is gone too
    assert kernel_pids and kernel_pids[0], "could not learn the kernel's pid"
    owner = f"{socket.gethostname()}:{kernel_pids[0]}"
    stayed = labelled_by(docker_client, owner)
    assert not stayed, f"{path.name}: resources owned by its kernel ({owner}) stayed: {stayed}"
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors, f"{path.name}: error outputs: {errors}"
    # nbgrader's autograde re-runs a notebook with its answer book beside it: the quiz cell prints what was recorded
    printed = [output.get("data", {}).get("text/plain", "") for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])]
    assert any("Recorded answers" in text and seeded in text for text in printed), \
        f"{path.name}: the quiz cell did not print the recorded answer to {seeded}"


def seed_answer_book(workdir: Path, path: Path) -> str:
    """A learner's answer to the notebook's first quiz question, in `<notebook>.answers.json` beside it; its id."""
    code = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
    question_id = re.search(r'quiz(?:zes)?\(NB, (?:\[\s*\{"id": )?"([a-z0-9-]+)"', code).group(1)
    book = {"format": 1, "notebook": path.stem, "learners": {"seeded-learner": {"questions": {question_id: {
        "attempts": [{"chosen": "an earlier choice", "right": False, "at": "2026-01-01T00:00:00+00:00"}],
        "result": "wrong once, may retry"}}}}}
    (workdir / f"{path.stem}.answers.json").write_text(json.dumps(book))
    return question_id


@pytest.mark.slow
def test_check_widget_grades_the_reference_solution(tmp_path, docker_client, no_leaks):
    """The widget's own path (grader → Report → HTML table): the solution of 04-entrypoint-cmd gets all ✓."""
    from dockyard.notebook.widgets import check_widget

    exercise = exercises.load("04-entrypoint-cmd", ROOT)
    folder = exercises.materialize(exercise, exercise.solution, tmp_path / exercise.id)
    widget = check_widget(exercise.id, folder, autorun=False)
    assert "dockyard-check" in widget.children[0].children[0]._dom_classes
    widget.start(background=False)
    table = widget.children[1].value
    assert 'class="dockyard-rubric"' in table, table[-2000:]
    rows = re.findall(r'<tr class="dockyard-item ([a-z-]+)"', table)
    assert rows and all(row == "dockyard-pass" for row in rows), table[-2000:]
    # under the rubric, the picture of the learner's build: one row per Dockerfile step, each with its size
    instructions = [line for line in (folder / "Dockerfile").read_text().splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    steps = re.findall(r'<tr class="dockyard-step [^"]*" data-step="\d+" data-size="(\d+)"', table)
    assert 'class="dockyard-build"' in table and len(steps) == len(instructions), table[-3000:]
    # what the grading left is no_leaks' to judge: the grader labels with its own run id, never notebook-…
