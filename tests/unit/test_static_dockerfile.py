"""Dockerfile facts (dockyard.static.dockerfile): pure, no Docker."""

from pathlib import Path

import pytest

from dockyard.errors import DockyardError
from dockyard.static.dockerfile import (DockerfileError, DockerfileFacts, is_pinned, is_python_base,
                                        parse_dockerfile, split_image_ref)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "static"


def test_outline_basic_dockerfile():
    facts = parse_dockerfile(FIXTURES / "outline-basic.Dockerfile")
    assert isinstance(facts, DockerfileFacts)
    assert [s.base for s in facts.stages] == ["python:3.11-slim"]
    stage = facts.final_stage
    assert (stage.base_name, stage.base_tag, stage.base_digest, stage.name) == ("python", "3.11-slim", None, None)
    assert facts.base_images == ["python:3.11-slim"]
    assert [i.keyword for i in facts.instructions] == ["FROM", "WORKDIR", "COPY", "RUN", "COPY", "EXPOSE", "CMD"]
    assert [i.line for i in facts.instructions] == [2, 5, 8, 11, 14, 17, 20]  # 1-based, comments skipped
    assert facts.workdir == "/app"
    assert facts.exposed_ports == [8000]
    assert facts.cmd.args == ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"]
    assert facts.is_exec_form(facts.cmd) and facts.cmd.json_form
    assert facts.entrypoint is None and facts.user is None and facts.env == {}
    assert facts.has("run") and not facts.has("USER")
    assert facts.last("COPY").value == ". ."
    assert facts.index_of("COPY", r"requirements") < facts.index_of("COPY", r"^\. \.$")
    assert facts.index_of("ADD") is None
    assert is_python_base(stage) and is_pinned(stage)


def test_outline_layer_order_and_ai_examples():
    facts = parse_dockerfile(FIXTURES / "outline-layer-order.Dockerfile")
    assert facts.index_of("RUN", "pip install") < facts.index_of("COPY", r"^\. ")
    ai = parse_dockerfile(FIXTURES / "outline-ai.Dockerfile")
    run = ai.all("RUN")[0]
    assert (run.line, run.end_line) == (6, 9)  # continuation lines joined
    assert "build-essential" in run.value and "rm -rf /var/lib/apt/lists/*" in run.value
    assert not ai.is_exec_form(run)
    assert ai.user == "appuser"
    health = ai.healthcheck
    assert health.flags == {"interval": "30s", "timeout": "10s", "start-period": "5s", "retries": "3"}
    assert health.value.startswith("CMD curl -f")


def test_outline_multistage():
    facts = parse_dockerfile(FIXTURES / "outline-multistage.Dockerfile")
    assert [(s.name, s.base) for s in facts.stages] == [("builder", "python:3.11"), (None, "python:3.11-slim")]
    assert facts.base_images == ["python:3.11", "python:3.11-slim"]
    assert facts.final_stage.base_tag == "3.11-slim"
    copy_from = [i for i in facts.final_stage.all("COPY") if i.flags.get("from")]
    assert copy_from[0].flags == {"from": "builder"} and copy_from[0].value == "/root/.local /root/.local"
    assert facts.env == {"PATH": "/root/.local/bin:$PATH"}
    assert facts.cmd.args == ["python", "app.py"]
    assert facts.stage("builder").has("RUN") and not facts.final_stage.has("RUN")
    assert facts.all("WORKDIR")[0].stage == 0 and facts.all("WORKDIR")[1].stage == 1


def test_arg_in_from_platform_alias_and_stage_inheritance():
    facts = parse_dockerfile(
        "ARG PY=3.12\nARG VARIANT\n"
        "FROM --platform=$BUILDPLATFORM python:${PY}-${VARIANT:-slim} AS Build\n"
        "ENV APP_HOME /srv/app\n"
        "WORKDIR /srv\nUSER 1000:1000\n"
        "FROM build AS final\nWORKDIR app\nEXPOSE 8000/tcp 9000-9001/udp\n"
        "ENTRYPOINT python -m app\n")
    build, final = facts.stages
    assert build.base == "python:3.12-slim" and build.name == "build" and build.platform == "$BUILDPLATFORM"
    assert final.from_stage and final.parent is build and final.base_name == "build"
    assert facts.base_images == ["python:3.12-slim"]
    assert facts.global_args == {"PY": "3.12", "VARIANT": None}
    assert facts.env == {"APP_HOME": "/srv/app"}  # inherited from the stage it is built FROM
    assert facts.user == "1000:1000"
    assert facts.workdir == "/srv/app"  # relative WORKDIR resolved as Docker does
    assert facts.exposed_ports == [8000, 9000, 9001]
    assert not facts.is_exec_form(facts.entrypoint)
    assert is_python_base(final) and is_pinned(final)


def test_env_forms():
    facts = parse_dockerfile('FROM alpine:3.20\nENV A=b C="d e" F=g\\ h\nENV LEGACY some value\n')
    assert facts.env == {"A": "b", "C": "d e", "F": "g h", "LEGACY": "some value"}


def test_exec_and_shell_forms():
    facts = parse_dockerfile('FROM alpine:3.20\nRUN ["echo", "hi"]\nRUN echo hi\nCMD ["broken"\n'
                             'ENTRYPOINT ["sh", "-c"]\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\n')
    run_exec, run_shell = facts.all("RUN")
    assert facts.is_exec_form(run_exec) and not facts.is_exec_form(run_shell)
    assert not facts.is_exec_form(facts.cmd)  # not valid JSON: Docker runs it as shell form
    assert facts.is_exec_form(facts.entrypoint) and facts.is_exec_form(facts.last("SHELL"))
    assert not facts.is_exec_form(None)


def test_base_image_references():
    assert split_image_ref("python") == ("python", None, None)
    assert split_image_ref("localhost:5000/org/app:1.2") == ("localhost:5000/org/app", "1.2", None)
    assert split_image_ref("python:3.11@sha256:abc") == ("python", "3.11", "sha256:abc")
    untagged, latest, digest, other, scratch = parse_dockerfile(
        "FROM python\nFROM python:latest\nFROM python@sha256:0123\nFROM node:20\nFROM scratch\n").stages
    assert not is_pinned(untagged) and not is_pinned(latest) and is_pinned(digest) and is_pinned(scratch)
    assert is_python_base(untagged) and is_python_base(digest) and not is_python_base(other)
    assert is_python_base(parse_dockerfile("FROM docker.io/library/python:3.11-alpine").final_stage)


def test_heredoc_body_is_part_of_the_run():
    facts = parse_dockerfile("FROM alpine:3.20\nRUN <<EOF\napk add curl\n# not a comment\nEOF\nCMD [\"sh\"]\n")
    assert [i.keyword for i in facts.instructions] == ["FROM", "RUN", "CMD"]
    assert "apk add curl" in facts.last("RUN").value and facts.last("RUN").end_line == 5


@pytest.mark.parametrize("source, reason", [
    (FIXTURES / "empty.Dockerfile", "empty"),
    ("   \n\n", "empty"),
    ("# just a comment\n", "only comments"),
    (FIXTURES / "binary-junk.Dockerfile", "binary"),
    (b"FROM python:3.11\nRUN echo \xff\xfe\n", "not UTF-8"),
    ("RUN echo hi\nCMD [\"x\"]\n", "before the first FROM"),
    ("ARG X=1\n", "no FROM"),
    ("FROM python:3.11\nhello world this is prose\n", "`hello` is not a Dockerfile instruction"),
    ("FROM python:3.11\nRUN\n", "RUN needs arguments"),
    ("FROM python:3.11 AS\n", "FROM must be"),
    ("FROM $UNSET\n", "names no image"),
    ("FROM alpine:3\nRUN <<EOF\necho\n", "never closed"),
])
def test_refuses_what_is_not_a_dockerfile(source, reason):
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile(source)
    assert reason in str(caught.value)
    assert isinstance(caught.value, DockyardError) and "\n" not in caught.value.one_line()


def test_unknown_instruction_names_its_line():
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile("FROM python:3.11\nWORKDIR /app\nCOPPY . .\n")
    assert caught.value.line == 3 and "line 3" in str(caught.value)


def test_path_or_text(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    assert parse_dockerfile(tmp_path / "Dockerfile").path == str(tmp_path / "Dockerfile")
    assert parse_dockerfile(str(tmp_path / "Dockerfile")).base_images == ["python:3.11-slim"]
    assert parse_dockerfile(tmp_path).base_images == ["python:3.11-slim"]  # a folder: its Dockerfile
    assert parse_dockerfile("FROM python:3.11-slim").path is None
    with pytest.raises(DockerfileError, match="no such file"):
        parse_dockerfile(tmp_path / "missing" / "Dockerfile")
