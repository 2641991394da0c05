"""The shared text helpers, and the rubric's feedback cut from a failure (what a learner reads)."""

from __future__ import annotations

import pytest

from dockyard.errors import BuildFailed
from dockyard.rubric.plugin import feedback_from
from dockyard.text import clean, last_lines, one_line, tail


def test_one_line_joins_whitespace_and_bounds_the_length():
    assert one_line("  a\n b\t\tc  ") == "a b c"
    assert one_line(ValueError("x\ny")) == "x y"
    assert len(one_line("y" * 1000)) == 300 and len(one_line("y" * 1000, 20)) == 20


def test_tail_keeps_the_last_lines_and_says_how_many_were_cut():
    assert tail(b"1\n2\n3\n", 5) == "1\n2\n3"
    assert tail("1\n2\n3\n4", 2) == "… (2 earlier lines not shown)\n3\n4"


def test_last_lines_is_the_gist_on_one_line():
    assert last_lines("a\n\n b \nc\n", 2) == "b | c"
    assert last_lines(None, 3) == ""
    assert last_lines("x" * 300, 1, width=160) == "x" * 160


def test_clean_removes_escapes_and_bounds_lines_and_length():
    assert clean("\x1b[31mred\x1b[0m\x07 and \x1b]0;title\x07done") == "red and done"
    assert len(clean("x" * 10000)) == 1200
    assert clean("\n".join(str(n) for n in range(30))).splitlines()[-1] == "…"


def test_feedback_is_only_the_assertion_message():
    """pytest appends its `assert …` introspection to a failed assert: the learner sees the rubric's words only."""
    with pytest.raises(AssertionError) as caught:
        raise AssertionError("\x1b[31mexpected WORKDIR /app\x1b[0m, found /\nassert '/' == '/app'\n  - /app")
    assert feedback_from(caught) == "expected WORKDIR /app, found /"
    with pytest.raises(AssertionError) as bare:
        raise AssertionError("assert 1 == 2")
    assert feedback_from(bare) == "this check did not pass"
    with pytest.raises(BuildFailed) as ours:
        raise BuildFailed("the build failed at `RUN false`", ["step 2"])
    assert "\n" not in feedback_from(ours) and "RUN false" in feedback_from(ours)
    with pytest.raises(KeyError) as bug:
        raise KeyError("ports")
    assert feedback_from(bug).startswith("the check could not run: KeyError")


def test_shown_name_spells_what_would_break_a_line_a_terminal_or_an_encoder():
    import os

    from dockyard.text import shown_name

    name = os.fsdecode(b"evil\n\xe2\x9c\x93 ok\x1b[2J\xff\xe2\x80\xae")
    assert shown_name(name) == "evil\\n✓ ok\\x1b[2J\\xff\\u202e"
    assert shown_name(b"-rf") == "-rf" and len(shown_name("x" * 1000)) == 160
    shown_name(name).encode("utf-8")  # strict


def test_clean_replaces_a_lone_surrogate():
    from dockyard.text import clean

    assert clean("bad\udcffname") == "bad\ufffdname"
