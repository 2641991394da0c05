"""A rubric's feedback helper: one shape for every item's message (expected, found, what to do)."""

from __future__ import annotations

import pytest

from dockyard import expect, feedback
from dockyard.rubric.plugin import feedback_from


def test_a_met_expectation_says_nothing():
    assert expect(8000 in {8000}, expected="`EXPOSE 8000`", found="`EXPOSE 8000`") is None


def test_a_failed_one_is_the_items_whole_feedback_fix_last():
    with pytest.raises(AssertionError) as failed:
        expect(False, expected="`WORKDIR /app`", found="no WORKDIR", fix="add `WORKDIR /app` after FROM")
    assert feedback_from(failed) == "expected `WORKDIR /app`, found no WORKDIR: add `WORKDIR /app` after FROM"
    assert feedback("a", "b") == "expected a, found b"


def test_learner_text_in_it_is_cleaned_like_any_feedback():
    with pytest.raises(AssertionError) as failed:
        expect(False, expected="`USER app`", found="`USER \x1b[31mroot\x1b[0m`")
    assert "\x1b" not in feedback_from(failed)
