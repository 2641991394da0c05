"""Is a learner's HEALTHCHECK able to see the app fail? The course apps answer 503 on /health while
/tmp/unhealthy exists; the grader creates that file, runs the container's own check once (as the
engine would: same command, same user, same timeout), and removes the file again.

A check that asks the right port but another path (`/`, which still answers while /health fails)
earns half the item with `dockyard.partial`: it is a real check of the app, aimed at the wrong place.

Running the check directly proves in a second what the engine's schedule would show only after
interval × retries, and gives the learner the check's exit code and its meaningful last line.
"""

from __future__ import annotations

import re

from dockyard.rubric.credit import partial
from dockyard.probes import check_output_line

UNHEALTHY_FLAG = "/tmp/unhealthy"


def _said(result) -> str:
    return check_output_line((result.stdout or "") + "\n" + (result.stderr or ""))


def assert_check_detects_failure(probe, container, url: str = "http://localhost:8000/health") -> None:
    __tracebackhide__ = True
    healthy = probe.run_healthcheck(container)
    assert healthy is not None, f"expected a HEALTHCHECK that calls {url}, found none"
    assert healthy.exit_code == 0, (
        f"your HEALTHCHECK fails while the app is fine: it exited {healthy.exit_code} ({_said(healthy)}). "
        f"It should exit 0 when {url} answers 200")
    probe.exec(container, ["touch", UNHEALTHY_FLAG], user="0")
    try:
        broken = probe.run_healthcheck(container)
    finally:
        probe.exec(container, ["rm", "-f", UNHEALTHY_FLAG], user="0")
    if broken.exit_code == 0 and _asks_port_not_path(probe, container, url):
        partial(0.5, f"your HEALTHCHECK asks the app on the right port, which is good, but it exited 0 while "
                     f"/health answered 503 ({_said(broken)}): ask {url} itself, so the check sees the app fail")
    assert broken.exit_code != 0, (
        f"expected your HEALTHCHECK to fail while /health answers 503, but it exited 0 ({_said(broken)}): "
        f"it must ask {url} and fail on an error status (`curl -f`, or python's urllib.request.urlopen, "
        "which raises on 503), not just check that something runs")


def _asks_port_not_path(probe, container, url: str) -> bool:
    """Does the container's check name the app's host:port of `url` but never its path?"""
    try:
        check = ((probe._container_of(container).attrs.get("Config") or {}).get("Healthcheck") or {})
    except Exception:
        return False
    text = " ".join(str(part) for part in (check.get("Test") or [])[1:])
    match = re.match(r"https?://[^:/]+:(\d+)(/.*)?$", url)
    if not match:
        return False
    port, path = match.group(1), match.group(2) or "/"
    asks_port = re.search(rf"(localhost|127\.0\.0\.1|0\.0\.0\.0)\s*:\s*{port}\b", text) is not None
    return asks_port and path not in text
