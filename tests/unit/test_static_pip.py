"""The pip-cache rule, read as pip reads its options (no engine)."""

import pytest

from dockyard.static import pip
from dockyard.static.dockerfile import parse_dockerfile


def keeping(text: str, base_env: dict | None = None) -> list[int]:
    return [run.line for run in pip.runs_keeping_cache(parse_dockerfile(text), base_env)]


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "off", "0", "false", "no", "TRUE", '"off"'])
def test_any_valid_truth_value_turns_the_cache_off(value):
    assert keeping(f"FROM python:3.11-slim\nENV PIP_NO_CACHE_DIR={value}\nRUN pip install flask\n") == []


@pytest.mark.parametrize("run", [
    "RUN pip install --no-cache-dir flask",
    "RUN pip install --no-cache flask",            # optparse takes an unambiguous prefix
    "RUN python -m pip install --no-cache-dir -r requirements.txt",
    "RUN PIP_NO_CACHE_DIR=1 pip install flask",
    "RUN pip install flask && pip cache purge",
    "RUN pip install flask && rm -rf /root/.cache/pip",
    "RUN pip install flask && rm -rf ~/.cache",
    "RUN --mount=type=cache,target=/root/.cache/pip pip install flask",
    'RUN ["pip", "install", "--no-cache-dir", "flask"]',
])
def test_steps_that_leave_no_cache(run):
    assert keeping(f"FROM python:3.11-slim\n{run}\n") == []


@pytest.mark.parametrize("text,lines", [
    ("FROM python:3.11-slim\nRUN pip install flask\n", [2]),
    ("FROM python:3.11-slim\nRUN pip install flask\nRUN rm -rf /root/.cache/pip\n", [2]),  # shipped in layer 2
    ("FROM python:3.11-slim\nENV PIP_NO_CACHE_DIR=\nRUN pip install flask\n", [2 + 1]),     # not a valid value
    ("FROM python:3.11-slim\nRUN pip install --no-cache-dirt flask\n", [2]),
    ("FROM python:3.11-slim\nRUN --mount=type=cache,target=/tmp/other pip install flask\n", [2]),
])
def test_steps_that_keep_the_cache(text, lines):
    assert keeping(text) == lines


def test_only_the_shipped_stages_count_and_the_base_env_is_in_force():
    text = ("FROM python:3.11 AS builder\nRUN pip install --user flask\n"
            "FROM python:3.11-slim\nCOPY --from=builder /root/.local /root/.local\nRUN pip install six\n")
    assert keeping(text) == [5]
    assert keeping(text, {"PIP_NO_CACHE_DIR": "1"}) == []
    assert keeping("FROM python:3.11-slim AS base\nENV PIP_NO_CACHE_DIR=1\nFROM base\nRUN pip install six\n") == []
