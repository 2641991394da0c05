"""`dockyard doctor`: everything the course needs, each with a one-line fix when it is missing.

It sits above the engine connection and the base images (it reports on both), so neither imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard import baseimages, engine
from dockyard.baseimages import recipes
from dockyard.engine import firewall
from dockyard.errors import ComposeUnavailable, EngineUnavailable
from dockyard.sandbox import buildkit_cgroups


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def doctor(base_url: str | None = None) -> list[Finding]:
    """Everything the course needs, each with a one-line fix when it is missing."""
    findings: list[Finding] = []
    try:
        docker_client = engine.client(base_url)
    except EngineUnavailable as exc:
        return [Finding("engine", False, exc.message, exc.hint or "")]
    info = docker_client.info()
    version = docker_client.version()
    findings.append(Finding("engine", True, f"{engine.engine_url(base_url)} answers: Docker {version.get('Version')} "
                                             f"(API {version.get('ApiVersion')})"))
    driver = info.get("Driver", "?")
    findings.append(Finding("storage driver", driver in ("overlay2", "overlay", "btrfs", "zfs", "fuse-overlayfs"),
                            driver, "configure dockerd with --storage-driver=overlay2", required=False))
    try:
        findings.append(Finding("compose", True, f"Docker Compose {engine.compose_version()} ({engine.compose_binary()})"))
    except ComposeUnavailable as exc:
        findings.append(Finding("compose", False, exc.message, exc.hint or ""))
    missing = [image for image in recipes.course_images() if not baseimages.present(docker_client, image)]
    findings.append(Finding(
        "base images", not missing,
        "all present: " + ", ".join(recipes.course_images()) if not missing else "missing: " + ", ".join(missing),
        "run `dockyard images`",
    ))
    free = engine.free_bytes_on_data_root(docker_client)
    if free is not None:
        free_bytes, root = free
        findings.append(Finding("free disk", free_bytes >= engine.MIN_FREE_BYTES,
                                f"{free_bytes / 2**30:.1f} GiB free on {root}",
                                "free space: `docker system prune`, `dockyard clean --all`"))
    findings.append(Finding("egress firewall", firewall.active(),
                            "graded containers cannot reach beyond their network" if firewall.active()
                            else "graded containers could reach the network",
                            "run as root on the engine's host so dockyard can add its iptables rules",
                            required=False))
    isolated, why = firewall.build_isolation(base_url)
    findings.append(Finding("build isolation", isolated, why if isolated else f"builds are not isolated: {why}",
                            "run dockyard as root next to a local engine so it can add the build network's "
                            "iptables rules (gradings refuse to build until then, unless require_build_isolation "
                            "is false)", required=False))
    findings.append(_buildkit_finding(base_url))
    runtimes = sorted(info.get("Runtimes", {}))
    findings.append(Finding("gVisor (runsc)", "runsc" in runtimes,
                            "available: `--runtime runsc` runs learner containers under it" if "runsc" in runtimes
                            else "not installed (optional stronger isolation)",
                            "install gVisor and register runsc with dockerd", required=False))
    return findings


def _buildkit_finding(base_url: str | None) -> Finding:
    """BuildKit builds (docs/builders.md): what `auto` picks for `RUN --mount`/`COPY --chmod` Dockerfiles. Its RUN
    steps run on docker0 under the engine's own cgroups: contained only with docker0's rules and the cgroup guard."""
    isolated, why = firewall.buildkit_isolation(base_url)
    bounded = buildkit_cgroups.available()
    missing = [what for what, ok in (("network rules", isolated), ("memory/pids/disk bounds", bounded)) if not ok]
    detail = (f"{why}; each step's memory, pids and disk are bounded while it runs" if not missing
              else f"BuildKit builds lack {' and '.join(missing)}" + ("" if isolated else f": {why}"))
    return Finding("BuildKit builds", not missing, detail,
                   "run dockyard as root next to a local engine (docker0's iptables rules, /sys/fs/cgroup); until "
                   "then use `--builder classic`", required=False)
