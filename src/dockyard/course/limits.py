"""The sandbox's bounds, with per-exercise overrides from `exercise.toml` ([sandbox] table)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dockyard.errors import UsageError

MiB = 2**20
BUILDERS = ("auto", "classic", "buildkit")


@dataclass(frozen=True)
class Limits:
    memory: str = "512m"  # learner containers; swap equals memory, so no extra swap
    cpus: float = 1.0
    pids: int = 256
    build_memory: str = "1g"  # RUN steps during a build (pip needs a little room)
    build_timeout_s: float = 300.0
    ready_timeout_s: float = 60.0  # for an app to answer, or a compose project to be up
    run_timeout_s: float = 60.0  # a one-shot container (`docker run img args`)
    stop_timeout_s: int = 5  # SIGTERM, then SIGKILL after this long
    context_max_bytes: int = 50 * MiB
    log_tail_lines: int = 200  # only the tail of long logs is kept
    build_log_max_bytes: int = 16 * MiB  # a build printing more than this is stopped
    disk_max_bytes: int = 1024 * MiB  # what one container may write (its layer and volumes); killed beyond
    context_max_files: int = 10_000  # files in a build context (an honest one has tens)
    log_max_size: str = "10m"  # each learner container's json-file log on the engine's disk (max-size)
    log_max_files: int = 1  # ... and how many such files (max-file)
    shm_size: str = "64m"  # /dev/shm of learner containers
    oom_score_adj: int = 500  # under host memory pressure the kernel picks a learner's container first
    runtime: str | None = None  # e.g. "runsc" for gVisor where the engine has it
    network_access: bool = False  # graded containers get no route beyond their network
    # Builds run on a network that cannot reach this host (firewall.BUILD_RULES). Where those rules cannot be
    # installed (not root, a remote engine) the grader refuses to build, unless this is False: then it builds
    # anyway and the report says builds were not isolated.
    require_build_isolation: bool = True
    # Which builder builds learner images (docs/builders.md): "auto" takes BuildKit only for a Dockerfile that
    # needs it (`RUN --mount`, `COPY --chmod/--link`), "classic" always the legacy builder, "buildkit" always BuildKit.
    builder: str = "auto"
    # Build secrets an exercise offers (`RUN --mount=type=secret,id=NAME`): NAME -> a file of the exercise's folder.
    build_secrets: dict = dataclasses.field(default_factory=dict)

    def with_overrides(self, overrides: dict | None) -> "Limits":
        if not overrides:
            return self
        known = {field.name: field.type for field in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise UsageError(f"unknown sandbox setting(s): {', '.join(unknown)}", hint="known: " + ", ".join(known))
        if "builder" in overrides and overrides["builder"] not in BUILDERS:
            raise UsageError(f"unknown builder {overrides['builder']!r}", hint="use " + ", ".join(BUILDERS))
        return dataclasses.replace(self, **overrides)


DEFAULT_LIMITS = Limits()

# Capabilities an ordinary web app never needs; dropped from every graded container.
# Kept: CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID, KILL (entrypoints that chown and drop privileges).
CAP_DROP = ("NET_RAW", "MKNOD", "AUDIT_WRITE", "SYS_CHROOT", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "FSETID")
