"""BuildKit's plain progress, as Engine 20.10 prints it, read into the steps the rubrics and the picture use.

The outputs in tests/fixtures/buildkit/ were captured from real builds on this project's engine
(`DOCKER_BUILDKIT=1 /usr/bin/docker build --progress=plain`), each beside the Dockerfile that made it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import BuildFailed, BuildTimedOut
from dockyard.sandbox import buildkit
from dockyard.sandbox.buildkit_progress import PlainProgress
from dockyard.static import syntax
from dockyard.static.dockerfile import parse_dockerfile

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "buildkit"


def fed(name: str, tail_lines: int = 200) -> PlainProgress:
    progress = PlainProgress(tail_lines)
    for line in (FIXTURES / f"{name}.txt").read_text().splitlines():
        progress.feed(line)
    return progress


def outcome(code: int, timed_out: bool = False) -> dict:
    return {"code": code, "overflow": False, "timed_out": timed_out, "seconds": 3.5}


def result_of(name: str, dockerfile: str, code: int, image_id: str = "", **kwargs):
    return buildkit.result(fed(name), outcome(code, **kwargs), tag="t", image_id=image_id,
                           dockerfile=FIXTURES / f"{dockerfile}.Dockerfile", target=None, max_log_bytes=2**24,
                           timeout_s=30)


def test_a_cold_multi_stage_build_gives_every_step_in_dockerfile_order_with_its_time():
    result = result_of("multi-stage-cold", "multi-stage", 0, image_id="sha256:31a2")
    assert [step.instruction for step in result.steps] == [
        "FROM python:3.11-slim AS builder",
        "WORKDIR /src",
        "RUN --mount=type=cache,target=/root/.cache/pip echo 1796237242625856123 && pip download --no-deps "
        "-d /wheels six==1.16.0",
        "FROM python:3.11-slim",  # BuildKit shows one FROM for both stages: each stage's picture starts at its own
        "WORKDIR /app",
        "COPY --from=builder /wheels /wheels",
        "COPY --chmod=755 start.sh /app/start.sh",
        'RUN --mount=type=secret,id=token test -s /run/secrets/token && echo "secret seen"',
    ]
    assert [step.number for step in result.steps] == list(range(1, 9))
    pip = result.step_matching("pip download")
    assert not pip.cached and pip.seconds > 0.5
    assert [step.in_final_image for step in result.steps] == [False] * 3 + [True] * 5
    assert result.image_id == "sha256:31a2" and result.duration_s == 3.5
    assert any("secret seen" in line for line in result.log_tail)


def test_a_warm_rebuild_takes_every_step_from_the_cache():
    result = result_of("multi-stage-warm", "multi-stage", 0, image_id="sha256:31a2")
    steps = [step for step in result.steps if not step.instruction.startswith("FROM")]
    assert len(steps) == 6 and all(step.cached for step in steps)
    assert result.cached_steps() and result.step_matching(r"COPY --chmod").cached


def test_a_failing_run_step_is_named_with_the_builders_reason_and_its_output_in_the_tail():
    with pytest.raises(BuildFailed) as failed:
        result_of("run-fails", "run-fails", 1)
    assert failed.value.step == "RUN echo 1796237242625856123 && echo about to fail && ls /nope"
    assert failed.value.reason == ("the build failed at `RUN echo 1796237242625856123 && echo about to fail && "
                                   "ls /nope`: executor failed running [/bin/sh -c echo 1796237242625856123 && "
                                   "echo about to fail && ls /nope]: exit code: 2")
    assert any("cannot access '/nope'" in line for line in failed.value.log_tail)
    assert [step.instruction.split()[0] for step in failed.value.steps] == ["FROM", "RUN"]


def test_a_copy_of_a_missing_file_fails_at_that_copy():
    with pytest.raises(BuildFailed) as failed:
        result_of("copy-missing-file", "copy-missing-file", 1)
    assert failed.value.step == "COPY missing.txt /app/"
    assert '"/missing.txt" not found' in failed.value.reason
    # the step that came before, cached, is not taken for the one that failed (it was cancelled after)
    assert fed("copy-missing-file").failed_vertex.step[3] == "COPY missing.txt /app/"


def test_a_dockerfile_the_frontend_refuses_says_the_frontends_words():
    with pytest.raises(BuildFailed) as failed:
        result_of("unknown-flag", "unknown-flag", 1)
    assert failed.value.step is None
    assert failed.value.reason.endswith("dockerfile parse error line 2: Unknown flag: chmodd")


def test_a_stopped_build_names_the_step_that_was_running():
    progress = fed("canceled")
    assert progress.vertices[5].canceled
    with pytest.raises(BuildTimedOut) as stopped:
        result_of("canceled", "canceled", -15, timed_out=True)
    assert stopped.value.step == "RUN echo 1796237242625856123 && sleep 300"
    assert "longer than 30 s" in stopped.value.reason


def test_the_tail_keeps_the_last_lines_only():
    progress = fed("multi-stage-cold", tail_lines=5)
    assert len(progress.tail) == 5 and progress.tail[-1].endswith("DONE 0.1s")


def test_auto_takes_buildkit_only_for_a_dockerfile_that_needs_it(tmp_path):
    cases = {
        "FROM python:3.11-slim\nRUN pip install flask\n": None,
        "FROM python:3.11-slim\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask\n": "RUN --mount",
        "FROM python:3.11-slim\nRUN --mount=type=secret,id=token cat /run/secrets/token\n": "RUN --mount",
        "FROM python:3.11-slim\nCOPY --chmod=755 a.sh /a.sh\n": "COPY --chmod",
        "FROM python:3.11-slim\nADD --chmod=644 a /a\n": "ADD --chmod",
        "FROM python:3.11-slim\nCOPY --link app.py /app/\n": None,  # no builder here has it: refused either way
        "FROM python:3.11-slim AS b\nCOPY --from=b --chown=1:1 /a /a\n": None,
    }
    for text, needs in cases.items():
        reason = syntax.buildkit_reason(parse_dockerfile(text))
        assert (reason is None) == (needs is None) and (needs is None or needs in reason), (text, reason)
        (tmp_path / "Dockerfile").write_text(text)
        assert buildkit.choose("auto", tmp_path / "Dockerfile") == ("buildkit" if needs else "classic")
        assert buildkit.choose("classic", tmp_path / "Dockerfile") == "classic"
        assert buildkit.choose("buildkit", tmp_path / "Dockerfile") == "buildkit"


def test_what_each_builder_refuses_before_building(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nRUN --mount=type=cache,target=/root/.cache/pip pip install flask\n")
    buildkit.refuse_unsupported(dockerfile, "auto")  # BuildKit builds it
    buildkit.refuse_unsupported(dockerfile, "buildkit")
    with pytest.raises(BuildFailed) as refused:
        buildkit.refuse_unsupported(dockerfile, "classic")
    assert str(refused.value).startswith("Dockerfile line 2: `RUN --mount` needs BuildKit")
    dockerfile.write_text("FROM python:3.11-slim\nWORKDIR /app\nRUN <<EOF\npip install flask\nEOF\n")
    for builder in ("auto", "buildkit", "classic"):  # Engine 20.10's frontend has no heredocs either
        with pytest.raises(BuildFailed) as refused:
            buildkit.refuse_unsupported(dockerfile, builder)
        assert str(refused.value).startswith("Dockerfile line 3: heredocs") and "&&" in str(refused.value)
    dockerfile.write_text("FROM python:3.11-slim\nCOPY --chmod=755 --link a.sh /a.sh\n")
    with pytest.raises(BuildFailed) as refused:
        buildkit.refuse_unsupported(dockerfile, "auto")
    assert "--link" in str(refused.value) and "--chmod" not in str(refused.value)


def test_the_command_carries_labels_secrets_and_no_syntax_line(tmp_path):
    argv = buildkit.command(tmp_path, tag="dockyard/x:1", labels={"dockyard.run": "abc"}, dockerfile="Dockerfile",
                            iidfile=tmp_path / "iid", buildargs={"PY": "3.11"}, target="runtime",
                            secrets={"token": tmp_path / "token"})
    assert argv[:2] == ["/usr/bin/docker", "build"] and argv[-1] == str(tmp_path)
    assert "--progress=plain" in argv and ["--label", "dockyard.run=abc"] == argv[argv.index("--label"):][:2]
    assert f"id=token,src={tmp_path / 'token'}" in argv and "--iidfile" in argv and "--pull=false" in argv
    assert buildkit.command(tmp_path, tag="t", labels={}, dockerfile="Dockerfile", iidfile=tmp_path / "i",
                            buildx=True)[:4] == ["/usr/bin/docker", "buildx", "build", "--load"]
    assert buildkit.environment(None)["DOCKER_BUILDKIT"] == "1"


def test_an_unknown_builder_is_a_usage_error():
    from dockyard.course.limits import DEFAULT_LIMITS
    from dockyard.errors import UsageError

    with pytest.raises(UsageError):
        DEFAULT_LIMITS.with_overrides({"builder": "kaniko"})
    assert DEFAULT_LIMITS.builder == "auto"
