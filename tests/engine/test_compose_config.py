"""The compose file checked by the real `docker compose config`, its errors mapped to the learner's line."""

import json
import shutil
import uuid
from pathlib import Path

import pytest

from dockyard.errors import ComposeError
from dockyard.sandbox.compose import validate
from tests.helpers import TEST_BASE


def write(folder: Path, text: str, name: str = "compose.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_validate_with_the_real_compose(tmp_path):
    """Compose's own words differ between builds of one version ("must be a list" / "a array"):
    what Dockyard promises is the learner's file and line, the field, and one line. The engine tiers
    have the compose plugin (`make setup` installs it): a missing one is a failure, not a skip."""
    path = write(tmp_path, "services:\n  api:\n    image: x\n    ports: 5\n")
    with pytest.raises(ComposeError) as caught:
        validate(path)
    message = caught.value.one_line()
    assert message.startswith("compose.yaml:4: the compose file is not valid: ")
    assert "services.api.ports" in message
    assert "\n" not in message and "Traceback" not in message


def test_a_build_that_prints_the_engines_words_is_the_learners_failure(tmp_path, docker_client, test_base_image):
    """Compose's stderr carries the learner's build output: a RUN step that prints "Cannot connect to the Docker
    daemon … connection refused" and fails is a failed build (ComposeError), not a lost engine (EngineLost,
    which batch grades again as nobody's fault). The engine answers, so it was not the engine."""
    from dockyard.errors import EngineLost
    from dockyard.sandbox.compose import run_compose

    (tmp_path / "Dockerfile").write_text(
        f"FROM {TEST_BASE}\n"
        "RUN echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock: connection refused' >&2;"
        " exit 1\n")
    write(tmp_path, "services:\n  web:\n    build: .\n")
    project = f"dockyard-wordstest-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ComposeError) as caught:
        run_compose(["-f", str(tmp_path / "compose.yaml"), "-p", project, "build"], cwd=tmp_path, timeout_s=300,
                    extra_env={"DOCKER_BUILDKIT": "1"})
    assert not isinstance(caught.value, EngineLost), caught.value.one_line()
    assert "Cannot connect to the Docker daemon" in caught.value.stderr  # the learner's words were there
    assert not docker_client.images.list(name=f"{project}-web")


def test_the_notebooks_compose_labels_everything_it_makes_and_leaves_the_learners_files_alone(tmp_path):
    """`nb.compose` adds the notebook's labels through one override file (from the real `docker compose config`):
    every service, every build, every network and volume the project owns; nothing external; no file of the
    learner's touched."""
    from dockyard import notebook as nb

    text = ("services:\n  web:\n    build: .\n    networks: [back, outside]\n"
            "  db:\n    image: redis:7\n    networks: [back]\n    volumes: [data:/data, shared:/s]\n"
            "networks:\n  back: {}\n  outside: {external: true}\n"
            "volumes:\n  data: {}\n  shared: {external: true}\n")
    (tmp_path / "board").mkdir()
    project = write(tmp_path / "board", text)
    (tmp_path / "board" / "Dockerfile").write_text(f"FROM {TEST_BASE}\n")
    try:
        merged = json.loads(nb.compose("08-compose", "config --format json", project.parent, show=False).stdout)
    finally:  # the override file's scratch folder (nb.cleanup would also sweep the engine for this notebook)
        for path in nb._scratch_dirs.pop("08-compose", []):
            shutil.rmtree(path, ignore_errors=True)
        nb._benches.pop("08-compose", None)
    labels = nb.labels("08-compose")
    for name in ("web", "db"):
        assert labels.items() <= merged["services"][name]["labels"].items(), name
    assert labels.items() <= merged["services"]["web"]["build"]["labels"].items()
    assert labels.items() <= merged["networks"]["back"]["labels"].items()
    assert labels.items() <= merged["volumes"]["data"]["labels"].items()
    assert "labels" not in merged["networks"]["outside"] and "labels" not in merged["volumes"]["shared"]
    assert merged["name"] == "nb08-board" and project.read_text() == text
