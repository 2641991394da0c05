"""The compose file checked by the real `docker compose config`, its errors mapped to the learner's line."""

from pathlib import Path

import pytest

from dockyard.errors import ComposeError


def write(folder: Path, text: str, name: str = "compose.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_validate_with_the_real_compose(tmp_path):
    """The engine tiers have the compose plugin (`make setup` installs it): a missing one is a failure.
    Compose 2.40 says "must be a array" where older ones said "list"."""
    from dockyard.sandbox.compose import validate

    path = write(tmp_path, "services:\n  api:\n    image: x\n    ports: 5\n")
    with pytest.raises(ComposeError, match=r"compose.yaml:4: .*ports must be a (list|array)"):
        validate(path)
