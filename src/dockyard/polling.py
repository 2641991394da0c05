"""One way to wait for something: ask `check` again and again until it answers, or the time is up.

pytest-docker's `wait_until_responsive(check, timeout, pause, clock)` is the model. `check()` returns None
or False for "not yet"; anything else ends the wait and is returned (so an exit code 0 or an empty body is an
answer). An exception from `check` ends the wait too: it is the caller's way to say "this will never come".
On time-out `wait_until` returns None and the caller says what it waited for, with what it saw last.

`check` runs at least once (a timeout of 0 is one attempt) and once more at the deadline, never after it;
the pause grows by `backoff` up to `max_interval_s`. `clock` and `sleep` are injectable so that tests of
the waiting itself take no time.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout_s: float | None, interval_s: float, *, backoff: float = 1.0,
               max_interval_s: float | None = None, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], object] = time.sleep) -> T | None:
    """`check()`'s first answer (neither None nor False), or None once `timeout_s` has passed (None: no limit)."""
    deadline = None if timeout_s is None else clock() + max(timeout_s, 0.0)
    pause = interval_s
    while True:
        answer = check()
        if answer is not None and answer is not False:
            return answer
        left = None if deadline is None else deadline - clock()
        if left is not None and left <= 0:
            return None
        sleep(pause if left is None else min(pause, left))
        pause = pause * backoff if max_interval_s is None else min(pause * backoff, max_interval_s)
