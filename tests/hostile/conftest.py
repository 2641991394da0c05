"""Collects the hostile suite's before-and-after figures and prints them at the end of the run."""

from __future__ import annotations

from dockyard.engine.labels import KINDS
from tests.helpers import docker_client, no_build_cache_left, no_leaks, test_base_image  # noqa: F401

FIGURES: dict = {"cases": 0, "contained": 0, "leaked": {}}


def pytest_terminal_summary(terminalreporter):
    if not FIGURES["cases"]:
        return
    leaked = {kind: FIGURES["leaked"].get(kind, 0) for kind in KINDS}
    terminalreporter.write_sep("-", "hostile suite")
    for name, elapsed, peak, verdict, score, max_score in FIGURES.get("rows", []):
        terminalreporter.write_line(f"{name:32} {elapsed:6.1f} s {peak or 0:7.1f} MB  {verdict:8} {score:g}/{max_score:g}")
    terminalreporter.write_line(
        f"{FIGURES['cases']} cases, {FIGURES['contained']} contained; leaked: "
        + ", ".join(f"{count} {kind}s" for kind, count in leaked.items())
    )
