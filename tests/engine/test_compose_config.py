"""The compose file checked by the real `docker compose config`, its errors mapped to the learner's line."""

from pathlib import Path

import pytest

from dockyard.errors import ComposeError
from dockyard.sandbox.compose import validate


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
