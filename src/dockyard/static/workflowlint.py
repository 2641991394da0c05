"""The two outside checkers of a GitHub Actions workflow, offline: GitHub's workflow schema and zizmor.

The schema is check-jsonschema's vendored copy of SchemaStore's `github-workflow.json` (`vendor.github-workflows`,
inside the wheel: no network), applied with its Python API to the data `static/workflow.py` already read
(bounded by yamlguard, YAML 1.2), so a hostile file is never parsed a second time by an unbounded loader.

zizmor (pinned) audits the file with `--offline` (no GitHub API) at its default persona ("regular"), with the
settings a rubric hands it (exercise 18 lets GitHub's and Docker's own actions be pinned to a release tag). Only
findings of the severities a rubric counts matter; every finding is returned with its audit, severity, line and
zizmor's own words, for feedback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ZIZMOR_TIMEOUT_S = 60.0
SCHEMA = "vendor.github-workflows"


class CheckerUnavailable(RuntimeError):
    """A checker is missing or broke: the grader's fault, never the learner's."""


@dataclass(frozen=True)
class SchemaProblem:
    where: str  # `jobs → build → steps → 0`, or "the top level"
    message: str

    def one_line(self) -> str:
        return f"at {self.where}: {self.message}"


@dataclass(frozen=True)
class Finding:
    audit: str  # zizmor's id, e.g. "template-injection"
    severity: str  # informational, low, medium, high
    confidence: str
    line: int  # 1-based, 0 when zizmor gives none
    description: str
    annotation: str  # what zizmor says at the spot
    url: str

    def one_line(self, name: str = "ci.yml") -> str:
        at = f"{name}:{self.line}" if self.line else name
        return f"{at}: {self.audit} ({self.severity}): {self.description}" + (
            f", {self.annotation}" if self.annotation else "")


def schema_problems(data, most: int = 3) -> list[SchemaProblem]:
    """Where `data` breaks GitHub's workflow schema (best match first), empty when it is a valid workflow."""
    try:
        import jsonschema
        from check_jsonschema.schema_loader import BuiltinSchemaLoader
    except ImportError as exc:  # pinned in requirements.lock: a broken install
        raise CheckerUnavailable(f"check-jsonschema is not installed: {exc}") from None
    schema = BuiltinSchemaLoader(SCHEMA).get_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = list(validator.iter_errors(data))
    if not errors:
        return []
    best = jsonschema.exceptions.best_match(errors)
    ordered = [best, *sorted((e for e in errors if e is not best), key=lambda e: len(e.absolute_path))]
    problems = []
    for error in ordered[:most]:
        while error.context:  # a `oneOf` says only "not valid under any": its closest branch says what is missing
            error = jsonschema.exceptions.best_match(error.context)
        where = " → ".join(str(part) for part in error.absolute_path) or "the top level"
        problems.append(SchemaProblem(where, _short(error.message)))
    return problems


def _short(message: str, limit: int = 240) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def zizmor_binary() -> Path:
    """zizmor from the grader's own environment (the venv it runs in)."""
    candidate = Path(sys.executable).parent / "zizmor"
    if not candidate.is_file():
        raise CheckerUnavailable(f"zizmor is not installed next to {sys.executable} (pip install zizmor)")
    return candidate


def zizmor(path: Path, config: Path | None = None, timeout_s: float = ZIZMOR_TIMEOUT_S) -> list[Finding]:
    """zizmor's findings for one workflow file, offline, with `config` (a zizmor.yml) if given."""
    argv = [str(zizmor_binary()), "--offline", "--no-progress", "--format", "json"]
    argv += ["--config", str(Path(config).resolve())] if config is not None else ["--no-config"]
    argv.append(str(Path(path).resolve()))
    try:
        result = subprocess.run(argv, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
                                cwd=Path(path).resolve().parent)
    except subprocess.TimeoutExpired:
        raise CheckerUnavailable(f"zizmor took over {timeout_s:.0f} s on one workflow") from None
    try:
        raw = json.loads(result.stdout.decode("utf-8", "replace") or "null")
    except ValueError:
        raw = None
    if not isinstance(raw, list):  # zizmor exits 10+ when it finds something, and prints its JSON still
        said = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CheckerUnavailable(f"zizmor gave no findings list (exit {result.returncode}): "
                                 + (said[-1][:200] if said else "no message"))
    return [_finding(item) for item in raw if isinstance(item, dict) and not item.get("ignored")]


def _finding(item: dict) -> Finding:
    determinations = item.get("determinations") or {}
    locations = item.get("locations") or []
    primary = next((loc for loc in locations if (loc.get("symbolic") or {}).get("kind") == "Primary"),
                   locations[0] if locations else {})
    start = (((primary.get("concrete") or {}).get("location") or {}).get("start_point") or {})
    return Finding(str(item.get("ident", "?")), str(determinations.get("severity", "unknown")).lower(),
                   str(determinations.get("confidence", "unknown")).lower(),
                   int(start["row"]) + 1 if isinstance(start.get("row"), int) else 0,
                   str(item.get("desc", "")), str((primary.get("symbolic") or {}).get("annotation", "")),
                   str(item.get("url", "")))
