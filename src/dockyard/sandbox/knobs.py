"""The kernel and engine knobs of every learner container are the sandbox's, not the learner's.

Two doors lead to them: the options of each container the grader starts (`container_options`), and
a compose service (`sandbox_service`, applied by compose.sandboxed_model to the normalised model).
For compose, every service key falls in exactly one class (tests/engine/test_knobs.py lists Compose's keys
from its own schema and fails on a key in none):

- SET: the sandbox writes its own value, whatever the learner wrote (limits, OOM, log, shm, ...);
- DROPPED: removed, the engine's (bounded) default applies;
- logging: the learner's json-file options may lower the sandbox's cap, never lift it or switch driver;
- the policy refuses the rest that matter (static/policy.py, with the learner's line);
- ALLOWED: harmless to the machine (what the app is, how it starts, which files and ports it uses).
"""

from __future__ import annotations

LOG_DRIVER = "json-file"

# compose keys whose value the sandbox sets (the values: `_set_values`); some are also refused by the
# policy (with the learner's line) so a learner knows, and set here anyway: two fences
SET = ("mem_limit", "memswap_limit", "cpus", "pids_limit", "security_opt", "cap_drop", "oom_kill_disable",
       "oom_score_adj", "shm_size", "stop_grace_period", "logging", "labels", "ports", "scale")
DROPPED = ("cap_add", "privileged", "deploy", "mem_reservation", "mem_swappiness", "cpu_count", "cpu_percent",
           "cpu_shares", "cpu_quota", "cpu_period", "cpu_rt_runtime", "cpu_rt_period", "cpuset", "ulimits",
           "storage_opt", "blkio_config", "device_cgroup_rules", "sysctls", "cgroup_parent", "isolation",
           "credential_spec", "container_name", "pull_refresh_after", "use_api_socket", "gpus", "devices",
           "provider", "models")
# the rest: harmless to the machine, or refused by the policy before anything runs (and then
# dropped or set by the rewrite where that is possible)
ALLOWED = ("annotations", "attach", "build", "command", "configs", "depends_on", "develop", "dns", "dns_opt",
           "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose", "extends", "extra_hosts",
           "group_add", "healthcheck", "hostname", "image", "init", "label_file", "links", "mac_address", "networks",
           "platform", "post_start", "pre_stop", "profiles", "pull_policy", "read_only", "restart", "secrets",
           "stdin_open", "stop_signal", "tmpfs", "tty", "user", "volumes", "working_dir")
# refused by the policy (static/policy.py), whatever the rewrite does with them
POLICY_REFUSED = ("privileged", "network_mode", "pid", "ipc", "userns_mode", "uts", "cgroup", "cap_add", "devices",
                  "device_cgroup_rules", "gpus", "sysctls", "cgroup_parent", "runtime", "external_links",
                  "volumes_from", "oom_kill_disable", "oom_score_adj", "storage_opt", "blkio_config",
                  "cpu_rt_runtime", "cpu_rt_period", "use_api_socket", "provider")


def log_options(limits) -> dict[str, str]:
    return {"max-size": str(limits.log_max_size), "max-file": str(int(limits.log_max_files))}


def container_options(limits) -> dict:
    """Options for `containers.run/create` (docker SDK names) that bound the engine and the kernel around it."""
    from docker.types import LogConfig

    return dict(
        log_config=LogConfig(type=LOG_DRIVER, config=log_options(limits)),
        oom_kill_disable=False,
        oom_score_adj=int(limits.oom_score_adj),  # under host memory pressure the learner's goes first
        shm_size=limits.shm_size,
    )


def _bytes(text) -> int | None:
    from docker.utils import parse_bytes

    try:
        value = parse_bytes(str(text).strip())
    except Exception:
        return None
    return value if value > 0 else None


def clamp_logging(learner: dict | None, limits) -> dict:
    """json-file with the sandbox's caps; a learner's own smaller json-file caps are kept."""
    ours = log_options(limits)
    options = dict(ours)
    learner = learner or {}
    if (learner.get("driver") or LOG_DRIVER) == LOG_DRIVER:
        theirs = learner.get("options") or {}
        size, cap = _bytes(theirs.get("max-size")), _bytes(ours["max-size"])
        if size is not None and cap is not None and size < cap:
            options["max-size"] = str(size)
        files = str(theirs.get("max-file", "")).strip()
        if files.isdigit() and 0 < int(files) < int(ours["max-file"]):
            options["max-file"] = files
    return {"driver": LOG_DRIVER, "options": options}


def _seconds(limits) -> str:
    return f"{int(limits.stop_timeout_s)}s"


def sandbox_service(service: dict, limits) -> dict:
    """Set or drop every resource and kernel key of one normalised compose service (in place; returned)."""
    for key in DROPPED:
        service.pop(key, None)
    service["mem_limit"] = limits.memory
    service["memswap_limit"] = limits.memory
    service["cpus"] = limits.cpus
    service["pids_limit"] = limits.pids
    service["oom_kill_disable"] = False
    service["oom_score_adj"] = int(limits.oom_score_adj)
    service["shm_size"] = limits.shm_size
    service["stop_grace_period"] = _seconds(limits)
    service["logging"] = clamp_logging(service.get("logging"), limits)
    service["scale"] = 1  # `scale: 500` would be 500 containers of this grading
    if limits.runtime:
        service["runtime"] = limits.runtime
    else:
        service.pop("runtime", None)
    return service
