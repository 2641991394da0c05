"""The shape of an item's feedback, written once: what was expected, what was found, what to do.

A rubric item's failure message is all the learner reads of it (plugin.feedback_from keeps only the
message), so every item says the same three things in the same order. `expect` fails the item with
that message; `feedback` only writes it (for `partial`, or an `assert` whose condition reads better
inline). Both hide themselves from pytest's traceback: the item's own line is where it failed.
"""

from __future__ import annotations


def feedback(expected: str, found: str, fix: str = "") -> str:
    """`expected X, found Y: fix`: one sentence, the fix last (it is what the learner acts on)."""
    text = f"expected {expected}, found {found}"
    return f"{text}: {fix}" if fix else text


def expect(ok: object, *, expected: str, found: str, fix: str = "") -> None:
    """Fail the item unless `ok`, saying what was expected, what was found and what to do."""
    __tracebackhide__ = True
    if not ok:
        raise AssertionError(feedback(expected, found, fix))
