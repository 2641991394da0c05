"""Partial credit inside one rubric item: `from dockyard import partial`.

    @pytest.mark.points(2)
    def test_port_and_path(container, probe):
        response = probe.http(container, "/health", port=8000)
        if not response.ok and probe.http(container, "/", port=8000).ok:
            partial(0.5, "the app answers on port 8000, but not on /health")
        assert response.ok, response.explain()

`partial(fraction, feedback)` raises `Partial`; the rubric plugin catches it and awards
`fraction × the item's points` (rounded to 2 places) with that feedback. `fraction` is in [0, 1]:
1 is a pass, 0 a fail with that feedback. Anything else is a bug of the rubric (ValueError).
"""

from __future__ import annotations

import math


class Partial(Exception):
    """Raised by `partial()`: part of an item's points, with the learner-facing reason."""

    def __init__(self, fraction: float, feedback: str):
        super().__init__(feedback)
        self.fraction = fraction
        self.feedback = feedback


def partial(fraction: float, feedback: str = "") -> None:
    """Award `fraction` (0..1) of this rubric item's points, with `feedback` saying what is missing. Never returns."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or math.isnan(fraction) \
            or not 0 <= fraction <= 1:
        raise ValueError(f"partial() takes a fraction between 0 and 1, not {fraction!r}")
    raise Partial(float(fraction), str(feedback or ""))
