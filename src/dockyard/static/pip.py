"""Does a `RUN pip install` step leave pip's download cache in its layer? Decided as pip decides.

pip writes its cache only when the registry lets responses be cached, so an image built where a
proxy marks them uncacheable holds no cache whatever the Dockerfile says: the image alone cannot
prove the practice. This module reads the step the way pip reads its options:

* `--no-cache-dir`, or any prefix of it that optparse accepts as unambiguous (`--no-cache`);
* `PIP_NO_CACHE_DIR` in force (the image's ENV, an ARG, or inline `PIP_NO_CACHE_DIR=… pip …`) with
  *any valid* truth value: pip disables the cache for `off`, `0` and `false` too
  (`_handle_no_cache_dir` in pip/_internal/cli/cmdoptions.py: "always set it to False if the option
  is provided in some (valid) form"); an invalid value makes pip fail, so the build fails anyway;
* the cache removed in the same RUN (`pip cache purge`, `rm -rf ~/.cache/pip` and the like);
* a BuildKit cache mount on pip's cache folder (`RUN --mount=type=cache,target=/root/.cache/pip`),
  which keeps the cache out of every layer by construction.
A cache removed in a *later* RUN is still shipped in the earlier layer, and does not count.
"""

from __future__ import annotations

import re

from dockyard.static.dockerfile import DockerfileFacts, Instruction, parse_key_values

PIP_INSTALL = re.compile(r"\bpip3?(\.\d+)?\s+install\b|-m\s+pip\s+install\b")
# optparse takes an unambiguous prefix of a long option: --no-cache, --no-cache-d, --no-cache-di.
NO_CACHE_FLAG = re.compile(r"(?<!\S)--no-cache(-(d(ir?)?)?)?(?=\s|$|[;&|)])")
PURGE = re.compile(r"\bpip3?(\.\d+)?\s+cache\s+(purge|remove)\b|-m\s+pip\s+cache\s+(purge|remove)\b")
REMOVE_CACHE = re.compile(r"\brm\s+(-\S+\s+)*(\S*/)?\.cache(/pip)?/?(?=\s|$|[;&|)])")
INLINE_ENV = re.compile(r"(?:^|[\s;&|(])PIP_NO_CACHE_DIR=(\"[^\"]*\"|'[^']*'|\S*)")
# pip's strtobool: what a valid truth value is (pip/_internal/utils/misc.py).
TRUTH_VALUES = frozenset({"y", "yes", "t", "true", "on", "1", "n", "no", "f", "false", "off", "0"})
PIP_CACHE_FOLDERS = ("/root/.cache/pip", "/root/.cache", "~/.cache/pip")


def env_disables_cache(value: str | None) -> bool:
    """PIP_NO_CACHE_DIR=value turns the cache off: any valid truth value does (see the module doc)."""
    return value is not None and value.strip().strip("\"'").lower() in TRUTH_VALUES


def _command(run: Instruction) -> str:
    return " ".join(run.args) if run.json_form else run.value


def _cache_mounted(run: Instruction) -> bool:
    for name, value in run.flag_items:
        if name != "mount":
            continue
        options = dict(part.split("=", 1) if "=" in part else (part, "true") for part in value.split(","))
        target = options.get("target") or options.get("dst") or options.get("destination") or ""
        if options.get("type") == "cache" and (target.rstrip("/").endswith("/.cache/pip") or target.rstrip("/") in
                                                ("/root/.cache", "/root/.cache/pip")):
            return True
    return False


def keeps_cache(run: Instruction, env: dict[str, str]) -> bool:
    """This pip-install RUN leaves pip's cache in its layer, given the environment in force at it."""
    command = _command(run)
    if not PIP_INSTALL.search(command):
        return False
    if NO_CACHE_FLAG.search(command) or PURGE.search(command) or REMOVE_CACHE.search(command):
        return False
    if _cache_mounted(run):
        return False
    inline = INLINE_ENV.search(command)
    if inline and env_disables_cache(inline.group(1)):
        return False
    return not env_disables_cache(env.get("PIP_NO_CACHE_DIR"))


def runs_keeping_cache(dockerfile: DockerfileFacts, base_env: dict[str, str] | None = None) -> list[Instruction]:
    """The `RUN pip install` steps of the shipped stages (the final one and those it is built FROM)
    that leave pip's cache behind. `base_env` is the environment of the first stage's base image."""
    found: list[Instruction] = []
    env = dict(base_env or {})
    for stage in reversed(dockerfile.final_stage.lineage()):
        for instruction in stage.instructions:
            if instruction.keyword == "ENV":
                env.update(parse_key_values(instruction.value, legacy=True))
            elif instruction.keyword == "ARG" and "=" in instruction.value:
                env.update(parse_key_values(instruction.value, legacy=False))
            elif instruction.keyword == "RUN" and keeps_cache(instruction, env):
                found.append(instruction)
    return found
