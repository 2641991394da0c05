"""The whole suite's one rule: under `make test` a skip is a failure. Engine fixtures live in the engine tiers'
conftests (tests/engine, tests/course, tests/hostile); tests/unit runs with no engine at all. Under pytest-xdist
the controller prunes the build cache the workers added, once they are all done."""

from __future__ import annotations

import os

import pytest

# The resident grader (dockyard/resident) stays off for the suite: tests of the command's own process (killed
# with SIGKILL, say) mean that process, and no server should outlive the suite. Its own tests turn it on.
os.environ["DOCKYARD_RESIDENT"] = "0"


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


# --- pytest-xdist (`make test` grades tests/course/test_exercises.py two at a time) -----------------------
def _xdist_controller(config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_sessionstart(session):
    """The controller notes the build cache there was before, as `no_build_cache_left` does in a serial run."""
    if _xdist_controller(session.config):
        from dockyard.engine import gc

        try:
            session.config.stash[_CACHE_BEFORE] = gc.build_cache()
        except Exception:  # no engine here (tests/unit): nothing to prune either
            pass


def pytest_sessionfinish(session, exitstatus):
    """...and prunes what the workers added, once every worker is done (a worker pruning alone would take
    build cache from under a grading of another)."""
    before = session.config.stash.get(_CACHE_BEFORE, None)
    if before is not None:
        from dockyard.engine import gc

        gc.prune_build_cache(keep=before)
    if not hasattr(session.config, "workerinput"):  # the last one out: no idle shared network outlives the suite
        _remove_idle_shared_networks()


def _remove_idle_shared_networks() -> None:
    """The build network and the pool's networks outlive gradings by design (they are made once, not per Check);
    the suite leaves none behind (what `dockyard clean --all` does for a teacher), once the detached teardowns
    of the last gradings have left them."""
    try:
        from dockyard import engine
        from dockyard.engine import build_network, network_pool, runs

        runs.wait_for_teardowns()
        client = engine.client()
        build_network.remove_if_idle(client)
        network_pool.remove_idle(client, None)
    except Exception:  # no engine here (tests/unit): nothing was made
        pass


_CACHE_BEFORE = pytest.StashKey[set]()
