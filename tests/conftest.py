"""The whole suite's one rule: under `make test` a skip is a failure. Engine fixtures live in the engine tiers'
conftests (tests/engine, tests/course, tests/hostile); tests/unit runs with no engine at all."""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under `make test` (DOCKYARD_NO_SKIPS=1) a skipped test is a failure: everything the suite needs
    is installed by the project itself, so a skip there would only hide a missing install step."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("DOCKYARD_NO_SKIPS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under make test, where nothing may be missing: {reason}"
