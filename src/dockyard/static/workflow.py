"""A learner's GitHub Actions workflow read as data, and what it would do on GitHub: pure, no engine, no shell.

The file is bounded by yamlguard before anything walks it, then read by YAML 1.2's rules (as GitHub's parser
reads it: `on:` is the key "on", not PyYAML 1.1's boolean True). What GitHub decides at run time is decided
here for three events (`SCENARIOS`: a push to main, a push to another branch, a pull request): whether the
workflow is triggered (`on:` with its branch filters), whether each job and step runs (`if:` expressions
evaluated by `evaluate`, `needs:`), and what each step's `${{ … }}`, `$GITHUB_SHA` and `env:` values become.
An expression this module cannot judge raises `Unjudgeable`; the rubric says so rather than guess.

`docker_commands` turns the `docker build` and `docker tag` lines of the steps that run on a push to main (and
`docker/build-push-action` steps, as the build their inputs describe), and the `docker run` lines of an image
they built (the tests; a linter's or scanner's own image is not the pipeline's to run here), into a
`commandline.Script`, with GitHub's values substituted, so the sandbox can carry them out as exercise 02's
commands are carried out: never through a shell. A line the command-line reader refuses is a refusal with
its line in ci.yml and its step.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dockyard import bounded
from dockyard.static import commandline, yamlguard
from dockyard.static.commandline import Command, Refusal, RefusalKind, Script

MAX_BYTES = 256 * 1024  # a CI workflow is a page or two
FAKE_SHA = "3f786850e387550fdab836ed7e6dc881de23001b"  # stands for `github.sha` in every local run
REPOSITORY = "learner/prices"  # `github.repository` (lower case, as an image name must be)
RUN_SUBCOMMANDS = ("build", "tag", "run")  # the docker lines carried out locally; push and login are judged, not run
PUSH_SUBCOMMANDS = ("push",)
BUILD_PUSH_ACTION = "docker/build-push-action"


class WorkflowError(ValueError):
    """The file cannot be read as a workflow: one line for the learner."""


class Unjudgeable(ValueError):
    """An expression this module cannot evaluate (an unknown context or function)."""


@dataclass(frozen=True)
class Scenario:
    """One event GitHub could run the workflow for, with the context values the grader knows for it."""

    label: str
    event: str
    ref: str
    base_ref: str = ""
    head_ref: str = ""

    @property
    def ref_name(self) -> str:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else \
            self.ref.removeprefix("refs/")

    @property
    def branch(self) -> str:
        """The branch `on.<event>.branches` filters: the pushed one, or a pull request's base."""
        return self.base_ref if self.event.startswith("pull_request") else self.ref_name

    def github(self) -> dict:
        return {"sha": FAKE_SHA, "ref": self.ref, "ref_name": self.ref_name, "ref_type": "branch",
                "event_name": self.event, "base_ref": self.base_ref, "head_ref": self.head_ref,
                "repository": REPOSITORY, "repository_owner": REPOSITORY.split("/")[0], "actor": "learner",
                "workspace": "/home/runner/work/prices/prices", "run_number": "7", "run_id": "1234567",
                "event": {"ref": self.ref} if self.event == "push" else {}}

    def variables(self) -> dict:
        """The default environment variables GitHub sets for every step (the ones a build line might use)."""
        github = self.github()
        return {"GITHUB_SHA": FAKE_SHA, "GITHUB_REF": self.ref, "GITHUB_REF_NAME": self.ref_name,
                "GITHUB_EVENT_NAME": self.event, "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_ACTOR": "learner",
                "GITHUB_REPOSITORY_OWNER": github["repository_owner"], "GITHUB_RUN_NUMBER": "7",
                "GITHUB_BASE_REF": self.base_ref, "GITHUB_HEAD_REF": self.head_ref, "CI": "true",
                "GITHUB_WORKSPACE": github["workspace"], "PWD": github["workspace"], "HOME": "/home/runner",
                "RUNNER_TEMP": "/home/runner/work/_temp", "RUNNER_OS": "Linux"}


MAIN_PUSH = Scenario("a push to main", "push", "refs/heads/main")
BRANCH_PUSH = Scenario("a push to another branch (feature)", "push", "refs/heads/feature")
PULL_REQUEST = Scenario("a pull request (feature into main)", "pull_request", "refs/pull/7/merge",
                        base_ref="main", head_ref="feature")
SCENARIOS = (MAIN_PUSH, BRANCH_PUSH, PULL_REQUEST)


@dataclass(frozen=True)
class Step:
    job: str
    index: int  # 0-based, in its job
    name: str
    uses: str | None
    run: str | None
    inputs: dict  # `with:`
    env: dict
    condition: object  # `if:` as written (None: always, after a success)
    line: int  # 1-based line of the step in ci.yml (0: unknown)

    @property
    def label(self) -> str:
        named = f" (`{self.name}`)" if self.name else (f" (`uses: {self.uses}`)" if self.uses else "")
        return f"job `{self.job}`, step {self.index + 1}{named}"

    def action(self) -> str:
        """`owner/name` of its action (`docker/build-push-action@v6` → `docker/build-push-action`)."""
        return (self.uses or "").split("@", 1)[0].lower()


@dataclass(frozen=True)
class Job:
    id: str
    condition: object
    needs: tuple[str, ...]
    env: dict
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Workflow:
    name: str  # file name, for messages
    data: dict
    triggers: dict  # event -> its filters (a dict, maybe empty)
    env: dict
    jobs: tuple[Job, ...]
    lines: tuple[str, ...] = field(default=(), repr=False)

    def job(self, job_id: str) -> Job | None:
        return next((job for job in self.jobs if job.id == job_id), None)

    def steps(self) -> list[Step]:
        return [step for job in self.jobs for step in job.steps]


# -- reading --------------------------------------------------------------------------------------------
def read(path: Path, name: str = "ci.yml") -> Workflow:
    """The workflow at `path`, bounded and read by YAML 1.2 (WorkflowError with one line when it cannot be)."""
    path = Path(path)
    try:
        raw = bounded.read_head(path, MAX_BYTES + 1)
    except OSError as exc:
        raise WorkflowError(f"{name} could not be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise WorkflowError(f"{name} is over {MAX_BYTES // 1024} KiB: that is not a CI workflow")
    if b"\x00" in raw:
        raise WorkflowError(f"{name} is not a text file")
    return parse(raw.decode("utf-8", "replace"), name)


def parse(text: str, name: str = "ci.yml") -> Workflow:
    try:
        yamlguard.check_text(text, name)
        data = yamlguard.load_data(text, name)
    except yamlguard.YamlTooCostly as exc:
        raise WorkflowError(str(exc).replace("a compose file", "a CI workflow")) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise WorkflowError(f"{where}: YAML error: {problem}") from None
    if not isinstance(data, dict):
        raise WorkflowError(f"{name}: expected a workflow (a mapping with `on:` and `jobs:`), found "
                            + ("an empty file" if data is None else type(data).__name__))
    lines = tuple(text.splitlines())
    jobs = []
    raw_jobs = data.get("jobs")
    for job_id, job in (raw_jobs.items() if isinstance(raw_jobs, dict) else ()):
        if not isinstance(job, dict):
            continue
        steps = []
        for index, step in enumerate(job.get("steps") or [] if isinstance(job.get("steps"), list) else []):
            if not isinstance(step, dict):
                continue
            steps.append(Step(str(job_id), index, _text(step.get("name")), _text(step.get("uses")) or None,
                              step.get("run") if isinstance(step.get("run"), str) else None,
                              _mapping(step.get("with")), _mapping(step.get("env")), step.get("if"),
                              _line_of(lines, step, str(job_id))))
        needs = job.get("needs")
        needs = (needs,) if isinstance(needs, str) else tuple(str(n) for n in needs) if isinstance(needs, list) else ()
        jobs.append(Job(str(job_id), job.get("if"), needs, _mapping(job.get("env")), tuple(steps)))
    return Workflow(name, data, _triggers(data.get("on")), _mapping(data.get("env")), tuple(jobs), lines)


def _text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _mapping(value) -> dict:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _triggers(on) -> dict:
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {str(event): {} for event in on}
    if isinstance(on, dict):
        return {str(event): (filters if isinstance(filters, dict) else {}) for event, filters in on.items()}
    return {}


def _line_of(lines: tuple[str, ...], step: dict, job_id: str) -> int:
    """Where a step is written (its `run:` or `uses:` line), found by its first run line or its `uses:`."""
    first = ((step.get("run") or "").strip().splitlines() or [""])[0] if isinstance(step.get("run"), str) else ""
    needles = [" ".join(first.split()[:count]) for count in range(len(first.split()), 0, -1)]  # folded `>-` lines
    needles = needles or ([f"uses: {step['uses']}"] if isinstance(step.get("uses"), str) else [])
    for needle in needles:
        found = next((number for number, line in enumerate(lines, start=1) if needle in " ".join(line.split())), 0)
        if found:
            return found
    return 0


# -- what runs when --------------------------------------------------------------------------------------
def triggered(workflow: Workflow, scenario: Scenario) -> bool:
    """Whether GitHub starts the workflow for this event (its `branches`/`branches-ignore` filters applied)."""
    if scenario.event not in workflow.triggers:
        return False
    filters = workflow.triggers[scenario.event]
    branch = scenario.branch
    if "branches" in filters:
        return _matches(branch, filters.get("branches"))
    if "branches-ignore" in filters:
        return not _matches(branch, filters.get("branches-ignore"))
    return True  # no branch filter (a `tags:`-only push filter would skip branches: rare, not graded here)


def _matches(branch: str, patterns) -> bool:
    patterns = [patterns] if isinstance(patterns, str) else patterns if isinstance(patterns, list) else []
    matched = False
    for pattern in patterns:
        pattern = str(pattern)
        negated = pattern.startswith("!")
        glob = pattern[1:] if negated else pattern
        if glob == branch or fnmatch.fnmatchcase(branch, glob.replace("**", "*")):
            matched = not negated
    return matched


def job_runs(workflow: Workflow, job: Job, scenario: Scenario, seen: tuple[str, ...] = ()) -> bool:
    """Whether the job runs for the event (its `if:`, and every job it `needs:` ran). Unjudgeable may escape."""
    if not triggered(workflow, scenario):
        return False
    for need in job.needs:
        other = workflow.job(need)
        if other is None or need in seen or not job_runs(workflow, other, scenario, (*seen, job.id)):
            return False
    return _condition(job.condition, scenario, workflow.env)


def step_runs(workflow: Workflow, step: Step, scenario: Scenario) -> bool:
    job = workflow.job(step.job)
    return job is not None and job_runs(workflow, job, scenario) and _condition(
        step.condition, scenario, environment(workflow, step, scenario))


def _condition(condition, scenario: Scenario, env: dict) -> bool:
    if condition is None:
        return True
    if isinstance(condition, bool):
        return condition
    text = str(condition).strip()
    whole = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
    if whole and "${{" not in whole.group(1):
        text = whole.group(1)
    elif "${{" in text:  # text around an expression: GitHub reads a non-empty string, which is true
        return True
    return _truthy(evaluate(text, scenario, env))


def environment(workflow: Workflow, step: Step, scenario: Scenario) -> dict:
    """The variables a step's run line sees: GitHub's defaults, then workflow, job and step `env:` (expressions in
    them evaluated)."""
    values = dict(scenario.variables())
    job = workflow.job(step.job)
    for layer in (workflow.env, job.env if job else {}, step.env):
        for key, value in layer.items():
            values[key] = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            if "${{" in values[key]:
                try:
                    values[key] = substitute_expressions(values[key], scenario, values)
                except Unjudgeable:
                    values[key] = "${{ … }}"  # unknown: a line that uses it is refused with the reason
    return values


# -- expressions ---------------------------------------------------------------------------------------
TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|&&|\|\||[!<>(),\[\]])"
                   r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.(?:[A-Za-z_*][A-Za-z0-9_-]*))*))")
FUNCTIONS = ("startswith", "endswith", "contains", "format", "success", "always", "failure", "cancelled", "tojson")


def evaluate(text: str, scenario: Scenario, env: dict | None = None):
    """A GitHub Actions expression's value for the scenario (strings compare case-insensitively, as GitHub's)."""
    tokens = _tokens(text)
    parser = _Parser(tokens, scenario, env or {})
    value = parser.expression()
    if parser.position != len(tokens):
        raise Unjudgeable(f"`{text.strip()}` goes on after the expression ends")
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise Unjudgeable(f"`{text.strip()}` is not an expression the grader can read")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over GitHub's grammar: `||` < `&&` < comparisons < `!` < primaries."""

    def __init__(self, tokens, scenario: Scenario, env: dict):
        self.tokens, self.position, self.scenario, self.env = tokens, 0, scenario, env

    def peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else (None, None)

    def take(self, op: str | None = None):
        kind, value = self.peek()
        if kind is None or (op is not None and value != op):
            raise Unjudgeable(f"expected `{op}` in the expression" if op else "the expression ends too early")
        self.position += 1
        return kind, value

    def expression(self):
        left = self.conjunction()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.conjunction()
            left = left if _truthy(left) else right
        return left

    def conjunction(self):
        left = self.comparison()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.comparison()
            left = right if _truthy(left) else left
        return left

    def comparison(self):
        left = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("==", "!=", "<", ">", "<=", ">="):
            _, op = self.take()
            right = self.unary()
            left = _compare(left, op, right)
        return left

    def unary(self):
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self):
        kind, value = self.take()
        if kind == "op" and value == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return float(value)
        if kind == "name":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if self.peek() == ("op", "("):
                return self.call(value)
            return self.lookup(value)
        raise Unjudgeable(f"`{value}` is not where a value goes")

    def call(self, name: str):
        self.take("(")
        args = []
        while self.peek() != ("op", ")"):
            args.append(self.expression())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        low = name.lower()
        if low not in FUNCTIONS:
            raise Unjudgeable(f"the grader does not know the function `{name}()`")
        if low in ("success", "always"):
            return True  # the steps before ran and passed: the path a pipeline is graded on
        if low in ("failure", "cancelled"):
            return False
        text = [_string(arg) for arg in args]
        if low == "startswith":
            return text[0].lower().startswith(text[1].lower())
        if low == "endswith":
            return text[0].lower().endswith(text[1].lower())
        if low == "contains":
            return text[1].lower() in text[0].lower()
        if low == "format":
            return re.sub(r"\{(\d+)\}", lambda m: text[int(m.group(1)) + 1] if int(m.group(1)) + 1 < len(text)
                          else m.group(0), text[0])
        return str(args[0]) if args else ""

    def lookup(self, dotted: str):
        head, _, rest = dotted.partition(".")
        if head == "github":
            value = self.scenario.github()
        elif head == "env":
            value = self.env
        elif head in ("inputs", "steps", "needs", "matrix", "vars", "secrets", "job", "runner", "strategy"):
            if head == "secrets" and rest:
                return f"***{rest}***"  # a secret's value: unknown, but a string (true when tested)
            raise Unjudgeable(f"`{dotted}` depends on {head} the grader does not have")
        else:
            raise Unjudgeable(f"`{dotted}` is not a context the grader knows")
        for part in rest.split(".") if rest else []:
            if head == "github" and part == "event" and value is self.scenario.github():
                value = value.get("event", {})
                continue
            value = value.get(part) if isinstance(value, dict) else None
        while self.peek() == ("op", "["):  # github.event['ref'], env['IMAGE']
            self.take()
            key = self.expression()
            self.take("]")
            value = value.get(str(key)) if isinstance(value, dict) else None
        return value


def _truthy(value) -> bool:
    return value not in (None, False, 0, 0.0, "")


def _string(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def _compare(left, op: str, right):
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    elif type(left) is not type(right):  # GitHub coerces to numbers; strings, booleans and null rarely meet here
        left, right = _string(left).lower(), _string(right).lower()
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    try:
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
    except TypeError:
        return False


EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def substitute_expressions(text: str, scenario: Scenario, env: dict) -> str:
    return EXPRESSION.sub(lambda match: _string(evaluate(match.group(1), scenario, env)), text)


def expressions_in(text: str) -> list[str]:
    return [match.group(1).strip() for match in EXPRESSION.finditer(text)]


# -- pushes ----------------------------------------------------------------------------------------------
def push_lines(step: Step) -> list[str]:
    """A step's `docker push …` lines (as written)."""
    found = []
    for _, logical in commandline.logical_lines(step.run or ""):
        words = logical.split()
        if len(words) >= 2 and words[0] == "docker" and (
                words[1] in PUSH_SUBCOMMANDS or words[1:3] == ["image", "push"]):
            found.append(logical.strip())
    return found


def pushes(workflow: Workflow, step: Step, scenario: Scenario) -> bool:
    """Whether the step pushes an image when it runs for the scenario (Unjudgeable may escape)."""
    if push_lines(step):
        return True
    if step.action() == BUILD_PUSH_ACTION:
        value = step.inputs.get("push", False)
        if isinstance(value, bool):
            return value
        text = str(value).strip()
        if "${{" in text:
            text = substitute_expressions(text, scenario, environment(workflow, step, scenario))
        return text.lower() == "true"
    return False


def push_steps(workflow: Workflow) -> list[Step]:
    """Every step that can push (a `docker push` line, or build-push-action whose `push:` is not plainly false)."""
    return [step for step in workflow.steps() if push_lines(step) or (
        step.action() == BUILD_PUSH_ACTION and str(step.inputs.get("push", "false")).strip().lower() != "false")]


# -- the commands carried out locally --------------------------------------------------------------------
@dataclass(frozen=True)
class LocalLine:
    """One command carried out locally, and where it came from."""

    step: Step
    line: int  # in ci.yml
    written: str  # as the learner wrote it
    command: Command


@dataclass(frozen=True)
class LocalRun:
    script: Script
    lines: tuple[LocalLine, ...]
    skipped: tuple[tuple[Step, str], ...]  # (step, what it does that is not run here), for feedback
    refusal_steps: dict = field(default_factory=dict)  # refusal line -> its step's label
    images: tuple = ()  # (step, ci.yml line, as written, tags) of every build and tag, even one that is refused

    def summary(self, most: int = 3) -> str:
        shown = [f"{refusal.one_line('ci.yml')} ({self.refusal_steps.get(refusal.line, 'a step')})"
                 for refusal in self.script.refusals[:most]]
        more = len(self.script.refusals) - most
        return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def docker_commands(workflow: Workflow, root: Path | None, scenario: Scenario = MAIN_PUSH) -> LocalRun:
    """The build, tag and run lines of the steps that run for `scenario`, in the order GitHub would run them
    (jobs after the jobs they need), with GitHub's values put in; refusals carry ci.yml's line."""
    commands: list[Command] = []
    local: list[LocalLine] = []
    refusals: list[Refusal] = []
    refusal_steps: dict = {}
    skipped: list[tuple[Step, str]] = []
    built: set[str] = set()  # repositories the lines so far built or tagged: only runs of those are carried out
    images: list[tuple[Step, int, str, tuple[str, ...]]] = []  # every build and tag, carried out or refused
    for job in _job_order(workflow):
        try:
            if not job_runs(workflow, job, scenario):
                continue
        except Unjudgeable:
            continue
        for step in job.steps:
            try:
                if not step_runs(workflow, step, scenario):
                    continue
            except Unjudgeable:
                continue
            env = environment(workflow, step, scenario)
            for number, written, words, problem in _step_commands(workflow, step, scenario, env):
                subcommand = _docker_subcommand(words)
                image = run_image(words) if subcommand == "run" else None
                if subcommand is None or (subcommand == "run" and image is not None and "$" not in image
                                          and _repository(image) not in built):
                    skipped.append((step, written))  # a host command, a push, or a tool's own image (a linter)
                    continue
                if subcommand == "build":
                    tags = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-t", "--tag")]
                    tags += [word.split("=", 1)[1] for word in words if word.startswith("--tag=")]
                    images.append((step, number, written, tuple(tags)))
                    built.update(_repository(tag) for tag in tags if problem is None)
                elif subcommand == "tag" and len(words) >= 2:
                    images.append((step, number, written, (words[-1],)))
                    built.update([_repository(words[-1])] if problem is None else [])
                try:
                    if problem is not None:
                        raise commandline.LineRefused(problem)
                    command = commandline.parse_command(number, written, words, root)
                except commandline.LineRefused as exc:
                    refusals.append(Refusal(number, _for_ci(exc.reason), exc.kind))
                    refusal_steps[number] = step.label
                    continue
                commands.append(command)
                local.append(LocalLine(step, number, written, command))
    if len(commands) > commandline.MAX_COMMANDS:
        refusals.append(Refusal(commands[commandline.MAX_COMMANDS].line, f"more than {commandline.MAX_COMMANDS} docker "
                                "lines to carry out: the grader runs at most that many", RefusalKind.UNSUPPORTED))
    return LocalRun(Script(tuple(commands), tuple(refusals)), tuple(local), tuple(skipped), refusal_steps,
                    tuple(images))


def _repository(ref: str) -> str:
    """`ghcr.io/org/app:sha` → `ghcr.io/org/app` (lower case; a registry's port stays)."""
    name, _, tag = ref.rpartition(":")
    return (name if name and "/" not in tag else ref).lower()


def _job_order(workflow: Workflow) -> list[Job]:
    ordered: list[Job] = []

    def visit(job: Job, path: tuple[str, ...]) -> None:
        if job in ordered or job.id in path:
            return
        for need in job.needs:
            other = workflow.job(need)
            if other is not None:
                visit(other, (*path, job.id))
        ordered.append(job)

    for job in workflow.jobs:
        visit(job, ())
    return ordered


def _docker_subcommand(words: list[str]) -> str | None:
    """`build`, `tag` or `run` for a docker line carried out locally (management spellings too), else None."""
    if len(words) < 2 or words[0] != "docker":
        return None
    if words[1] in RUN_SUBCOMMANDS:
        return words[1]
    if len(words) >= 3 and (words[1], words[2]) in commandline.ALIASES and \
            commandline.ALIASES[(words[1], words[2])] in RUN_SUBCOMMANDS:
        return commandline.ALIASES[(words[1], words[2])]
    return None


def _step_commands(workflow, step: Step, scenario: Scenario, env: dict):
    """(ci.yml line, the line as written, its words with GitHub's values put in, or None and why not) for each
    logical line of a step, or for the build a build-push-action step stands for."""
    if step.action() == BUILD_PUSH_ACTION:
        words = _build_push_action_words(step, scenario, env)
        if isinstance(words, str):
            yield step.line, f"uses: {step.uses}", ["docker", "build"], words
        else:
            yield step.line, " ".join(words), words, None
        return
    if step.run is None:
        return
    for offset, logical in commandline.logical_lines(step.run):
        number = step.line + offset - 1 if step.line else 0
        stripped = logical.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.split()[0] != "docker":  # echo, a login helper, the runner's own commands: not carried out
            yield number, stripped, stripped.split()[:1], None
            continue
        try:
            filled = _fill(stripped, scenario, env)
        except Unjudgeable as exc:
            yield number, stripped, stripped.split(), str(exc)
            continue
        try:
            yield number, stripped, commandline.split_line(filled), None
        except commandline.LineRefused as exc:
            yield number, stripped, filled.split(), exc.reason


def run_image(words: list[str]) -> str | None:
    """The image a `docker run` line runs (its first word after the options), read loosely: the line need not be
    one the grader can carry out (a linter's `-i … < Dockerfile`)."""
    index = 2 if words[1:2] == ["run"] else 3
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--":
            break
        if word.startswith("--"):
            if "=" not in word and word not in BOOLEAN_RUN_FLAGS:
                index += 1  # its value
            continue
        if word.startswith("-") and len(word) > 1:
            if set(word[1:]) <= BOOLEAN_RUN_LETTERS:
                continue
            letter = next(char for char in word[1:] if char not in BOOLEAN_RUN_LETTERS)
            if word.endswith(letter):  # `-p 8080:80`, `-dp 8080:80`: the value is the next word
                index += 1
            continue
        return word
    return words[index] if index < len(words) else None


BOOLEAN_RUN_FLAGS = {"--rm", "--detach", "--interactive", "--tty", "--privileged", "--init", "--read-only",
                     "--no-healthcheck", "--publish-all", "--oom-kill-disable", "--sig-proxy", "--quiet"}
BOOLEAN_RUN_LETTERS = set("ditPq")


VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def _fill(line: str, scenario: Scenario, env: dict) -> str:
    """`${{ … }}` evaluated, then `$NAME`/`${NAME}` from the step's environment (outside single quotes, as sh
    expands them). A variable the step does not define is refused with its name."""
    line = substitute_expressions(line, scenario, env)
    if "${{ … }}" in line:
        raise Unjudgeable("a value in `env:` uses an expression the grader cannot work out; write it out")
    out, quote, index = [], None, 0
    while index < len(line):
        char = line[index]
        if char == "'" and quote != '"':
            quote = None if quote == "'" else "'"
        elif char == '"' and quote != "'":
            quote = None if quote == '"' else '"'
        elif char == "$" and quote != "'":
            match = VARIABLE.match(line, index)
            if match:
                variable = match.group("braced") or match.group("plain")
                if variable not in env:
                    raise Unjudgeable(f"`${variable}` is not set in this step: the grader knows ${{{{ github.sha }}}}, "
                                      "$GITHUB_SHA and the `env:` values of the workflow, the job and the step")
                out.append(env[variable])
                index = match.end()
                continue
        out.append(char)
        index += 1
    return "".join(out)


def _for_ci(reason: str) -> str:
    return (reason.replace("and commands.sh is never run by a shell", "and the grader runs ci.yml's docker lines "
                                                                    "without a shell")
            .replace("commands.sh may hold", "a docker line may hold"))


def _build_push_action_words(step: Step, scenario: Scenario, env: dict) -> list[str] | str:
    """docker/build-push-action's inputs as the `docker build` they stand for (the push is judged apart)."""
    try:
        inputs = {key: substitute_expressions(_string(value), scenario, env) for key, value in step.inputs.items()}
    except Unjudgeable as exc:
        return f"{BUILD_PUSH_ACTION}: {exc}"
    unsupported = sorted(set(inputs) - {"context", "file", "tags", "push", "load", "labels", "cache-from",
                                        "cache-to", "platforms", "provenance", "sbom"})
    if unsupported:
        return (f"{BUILD_PUSH_ACTION}'s input `{unsupported[0]}` is not built here (the grader builds `context`, "
                "`file` and `tags`)")
    words = ["docker", "build"]
    for tag in re.split(r"[\n,]", inputs.get("tags", "")):
        if tag.strip():
            words += ["-t", tag.strip()]
    if inputs.get("file"):
        words += ["-f", inputs["file"]]
    words.append(inputs.get("context") or ".")
    return words

