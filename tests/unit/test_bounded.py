"""Cheap attacks stay cheap: output read with a cap, YAML bounded before anything walks it, contexts
bounded in files as well as bytes. No engine needed."""

from __future__ import annotations

import sys
import time

import pytest

from dockyard import bounded
from dockyard.sandbox.context import check_context
from dockyard.errors import ComposeError, ContextRefused
from dockyard.static import policy, yamlguard


def test_the_ring_keeps_the_tail_and_counts_the_rest():
    ring = bounded.Ring(10)
    for chunk in (b"0123", b"456789ab", b"", b"cdefghijklmnop"):
        ring.write(chunk)
    assert ring.getvalue() == b"ghijklmnop" and ring.total == 26 and ring.dropped == 16
    ring.write(b"x" * 100)
    assert ring.getvalue() == b"x" * 10


def test_a_subprocess_flood_is_cut_and_only_its_tail_kept():
    flood = "import sys\nwhile True: sys.stdout.write('y' * 8191 + '\\n')"
    started = time.monotonic()
    result = bounded.run([sys.executable, "-c", flood], timeout_s=30, keep_bytes=2**16, kill_after_bytes=2**24)
    assert result.overflow and result.printed > 2**24 and len(result.stdout) <= 2**16
    assert time.monotonic() - started < 20


def test_a_subprocess_that_prints_little_is_read_whole():
    result = bounded.run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"],
                         timeout_s=30)
    assert (result.returncode, result.stdout, result.stderr, result.overflow) == (0, "out\n", "err\n", False)


def test_a_file_is_read_from_its_head_only(tmp_path):
    sparse = tmp_path / "sparse.bin"
    with open(sparse, "wb") as handle:
        handle.truncate(4 * 2**30)
    assert len(bounded.read_head(sparse, 1000)) == 1000
    assert len(bounded.read_tail(sparse, 1000)) == 1000


def laughs(levels: int, width: int = 10) -> str:
    lines = ['x-l0: &l0 "lol"']
    lines += [f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nservices:\n  app:\n    image: python:3.11-slim\n    environment: {{A: *l{levels}}}\n"


def test_a_billion_laughs_is_refused_in_a_moment_and_says_aliases():
    started = time.monotonic()
    with pytest.raises(yamlguard.YamlTooCostly) as refused:
        yamlguard.check_text(laughs(9), "compose.yaml")
    assert time.monotonic() - started < 2
    assert refused.value.bound == "aliases" and "compose.yaml:7" in str(refused.value)
    assert "aliases expand" in str(refused.value)


def test_deep_nesting_is_refused_and_says_nesting():
    deep = "services:\n  app:\n    image: x\n    labels: {a: " + "[" * 100 + "]" * 100 + "}\n"
    with pytest.raises(yamlguard.YamlTooCostly) as refused:
        yamlguard.check_text(deep, "compose.yaml")
    assert refused.value.bound == "nesting" and "nests deeper" in str(refused.value)
    very_deep = "a: " + "[" * 5000 + "]" * 5000
    with pytest.raises(yamlguard.YamlTooCostly):
        yamlguard.check_text(very_deep, "compose.yaml")


def test_a_recursive_alias_is_refused():
    with pytest.raises(yamlguard.YamlTooCostly):
        yamlguard.check_text("a: &a [x, *a]\n", "compose.yaml")


def test_honest_yaml_with_anchors_passes():
    text = "x-common: &common {restart: always, environment: {A: b}}\nservices:\n  a: {<<: *common, image: x}\n" \
           "  b: {<<: *common, image: y}\n"
    assert yamlguard.check_text(text, "compose.yaml") is not None
    assert yamlguard.check_text(laughs(3), "compose.yaml") is not None  # 1,111 nodes


def test_the_policy_refuses_a_billion_laughs_with_its_line(tmp_path):
    (tmp_path / "compose.yaml").write_text(laughs(9))
    with pytest.raises(ComposeError) as refused:
        policy.check_compose(tmp_path / "compose.yaml")
    assert "compose.yaml:7" in refused.value.message and "aliases" in refused.value.message


def test_a_context_of_too_many_files_is_refused_in_seconds(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    junk = tmp_path / "junk"
    junk.mkdir()
    for number in range(6_000):  # the bounds scaled down: touching files is slow here
        (junk / f"f{number}").touch()
    started = time.monotonic()
    with pytest.raises(ContextRefused) as refused:
        check_context(tmp_path, 50 * 2**20, max_files=1_000)
    assert time.monotonic() - started < 5
    assert "over 5,000 files" in refused.value.reason
    (junk / "more").mkdir()
    with pytest.raises(ContextRefused) as refused:  # under the folder ceiling, over the context bound
        check_context(tmp_path, 50 * 2**20, max_files=2_000)
    assert "over 2,000 files" in refused.value.reason
    (tmp_path / ".dockerignore").write_text("junk\n")
    assert check_context(tmp_path, 50 * 2**20, max_files=2_000) >= 0  # ignored files do not count
