"""Loading a learner's folder without an engine: refusals and unreadable Dockerfiles act on their kind,
never on the words of their message."""

from __future__ import annotations

import os
import dataclasses
from types import SimpleNamespace

from dockyard.course.limits import DEFAULT_LIMITS
from dockyard.errors import RefusalKind
from dockyard.static.dockerfile import DockerfileProblem
from dockyard.submission import load_submission

DOCKERFILE = "FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\nCMD [\"python\", \"app.py\"]\n"


def exercise(max_bytes: int = 50 * 2**20) -> SimpleNamespace:
    return SimpleNamespace(id="t-unit", limits=dataclasses.replace(DEFAULT_LIMITS, context_max_bytes=max_bytes),
                           grader=None)


def learner_folder(tmp_path):
    folder = tmp_path / "learner"
    folder.mkdir()
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "app.py").write_text("print('hello')\n")
    return folder


def test_a_symlink_out_named_like_over_keeps_the_folder_and_its_facts(tmp_path):
    """`cover.png` holds "over": the refusal is still a symlink-out, not a too-big folder graded empty."""
    folder = learner_folder(tmp_path)
    os.symlink("/etc/passwd", folder / "cover.png")
    with load_submission(folder, exercise()) as loaded:
        assert loaded.refusal is RefusalKind.SYMLINK_OUT
        assert "cover.png" in loaded.refused
        assert (loaded.path / "Dockerfile").is_file() and (loaded.path / "app.py").is_file()
        assert loaded.dockerfile is not None and loaded.dockerfile_error is None
        assert loaded.build_blocker().startswith("the build context was refused: cover.png")


def test_a_too_big_folder_is_graded_as_an_empty_one(tmp_path):
    folder = learner_folder(tmp_path)
    (folder / "data.bin").write_bytes(b"x" * 4096)
    with load_submission(folder, exercise(max_bytes=1024)) as loaded:
        assert loaded.refusal is RefusalKind.TOO_BIG
        assert not any(loaded.path.iterdir())
        assert loaded.dockerfile is None


def test_a_binary_dockerfile_blocks_the_build_by_its_kind(tmp_path):
    folder = learner_folder(tmp_path)
    (folder / "Dockerfile").write_bytes(b"FROM python\x00\x01\x02")
    with load_submission(folder, exercise()) as loaded:
        assert loaded.dockerfile_problem.kind is DockerfileProblem.NOT_TEXT
        assert loaded.build_blocker() == loaded.dockerfile_error == "the Dockerfile is not a text file (it holds binary data)"


def test_a_dockerfile_that_does_not_parse_keeps_its_error_object(tmp_path):
    folder = learner_folder(tmp_path)
    (folder / "Dockerfile").write_text("RUN echo no from\n")
    with load_submission(folder, exercise()) as loaded:
        assert loaded.dockerfile is None
        assert loaded.dockerfile_problem.kind is DockerfileProblem.INVALID
        assert loaded.dockerfile_error == str(loaded.dockerfile_problem)
        assert loaded.build_blocker() is None  # the engine's own error says more than we can


def test_the_compose_file_is_read_as_compose_reads_it_yaml_1_2(tmp_path):
    """YAML 1.1 (PyYAML) reads `yes` as True and `22:22` as 1342; Compose reads the strings the learner wrote."""
    folder = learner_folder(tmp_path)
    (folder / "compose.yaml").write_text(
        "services:\n  app:\n    build: .\n    environment:\n      DEBUG: yes\n    ports:\n      - 22:22\n")
    with load_submission(folder, exercise()) as loaded:
        assert loaded.compose_error is None
        app = loaded.compose["services"]["app"]
        assert app["environment"] == {"DEBUG": "yes"} and app["ports"] == ["22:22"]


def test_a_duplicate_compose_key_is_a_yaml_error_with_its_line(tmp_path):
    """Compose refuses a key written twice; so does the grader, naming the line, rather than keep the last one."""
    folder = learner_folder(tmp_path)
    (folder / "compose.yaml").write_text("services:\n  app:\n    image: a\n    image: b\n")
    with load_submission(folder, exercise()) as loaded:
        assert loaded.compose is None
        assert loaded.compose_error.startswith("compose.yaml:4: YAML error:") and "image" in loaded.compose_error
