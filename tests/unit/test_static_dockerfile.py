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


# ---- remote sources and host access: refused before any build (static/remote.py) ----------------
from dockyard.static import remote  # noqa: E402

HEAD = "FROM python:3.11-slim\nWORKDIR /app\n"


@pytest.mark.parametrize("line, what", [
    ("ADD http://127.0.0.1:8080/file /app/leak.txt", "a URL"),
    ("ADD https://example.com/model.bin /app/", "a URL"),
    ("ADD ftp://example.com/data.csv /app/", "a URL"),
    ('ADD ["https://example.com/a.txt", "/app/a.txt"]', "a URL"),
    ("ADD --chown=app:app --checksum=sha256:00 https://example.com/a /app/a", "a URL"),
    ("ADD git@github.com:someone/repo.git /src", "a git repository"),
    ("ADD https://github.com/moby/buildkit.git#v0.10.1 /src", "a git repository"),
    ("ADD git://example.com/repo /src", "a git repository"),
    ("ADD local.txt http://169.254.169.254/latest/meta-data/ /app/", "a URL"),
    ("ADD HTTP://EXAMPLE.COM/A /app/a", "a URL"),
])
def test_remote_add_is_refused_at_its_line(line, what):
    found = remote.check(HEAD + "COPY requirements.txt .\n" + line + "\nCMD [\"python\", \"app.py\"]\n")
    assert [(r.line, r.rule) for r in found] == [(4, "no-remote-add")]
    text = found[0].one_line()
    assert text.startswith("Dockerfile:4: `ADD")
    assert what in text
    assert "download it in a RUN step, or COPY a file from your folder" in text
    assert "(see 04-dockerfile.ipynb#copy-vs-add)" in text


def test_remote_add_through_variables_and_onbuild():
    text = (HEAD + "ARG BASE=http://127.0.0.1:9\nENV FILE=secret.txt\n"
            "ADD ${BASE}/${FILE} /app/\nONBUILD ADD https://example.com/x /x\n")
    assert [(r.line, r.rule) for r in remote.check(text)] == [(5, "no-remote-add"), (6, "no-remote-add")]
    global_arg = "ARG SRC=https://example.com/x\nFROM python:3.11-slim\nADD $SRC /x\n"
    assert [r.line for r in remote.check(global_arg)] == [3]


@pytest.mark.parametrize("line", [
    "ADD assets.tar.gz assets/",
    "ADD . /app",
    "ADD --chown=app:app app.py /app/",
    "COPY https.txt /app/",
    "ADD my.git.notes /app/",
    "RUN pip download --no-deps -d /tmp https://example.com/x || true",
    "RUN --network=none echo offline",
    "RUN --network=default echo ok",
    "RUN --mount=type=cache,target=/root/.cache/pip pip install flask",
    "ADD <<EOF /app/notes.txt\nsee http://example.com/ for more\nEOF",
])
def test_local_sources_and_ordinary_runs_pass(line):
    assert remote.check(HEAD + line + "\n") == []


@pytest.mark.parametrize("line, rule", [
    ("RUN --network=host pip install flask", "no-build-host-network"),
    ("RUN --network=HOST curl http://127.0.0.1/", "no-build-host-network"),
    ("RUN --mount=type=ssh git clone git@github.com:me/private.git", "no-build-ssh"),
    ("RUN --mount=target=/x,type=ssh,id=default true", "no-build-ssh"),
    ("RUN --security=insecure mount -t proc none /mnt", "no-build-insecure"),
    ("ONBUILD RUN --network=host true", "no-build-host-network"),
])
def test_build_steps_never_get_the_host(line, rule):
    found = remote.check(HEAD + line + "\n")
    assert [(r.line, r.rule) for r in found] == [(3, rule)]
    assert found[0].one_line().startswith("Dockerfile:3: `")
    assert "(see 04-dockerfile.ipynb#run)" in found[0].one_line()


def test_refusal_text_is_one_bounded_printable_line():
    line = "ADD http://127.0.0.1:1/" + "a" * 500 + "\x1b[31m /app/x"
    [found] = remote.check(HEAD + line + "\n")
    text = found.one_line()
    assert "\n" not in text and "\x1b" not in text
    assert len(text) < 400


def test_unparseable_dockerfile_is_still_scanned():
    text = "FROM python:3.11-slim\nADD http://127.0.0.1:8/x /x\nhello world\n"
    assert [(r.line, r.rule) for r in remote.check(text)] == [(2, "no-remote-add")]


def test_submission_blocks_the_build_and_no_exercise_turns_it_off(tmp_path):
    import dataclasses

    from dockyard.course import exercises
    from dockyard.submission import load_submission

    folder = tmp_path / "learner"
    folder.mkdir()
    (folder / "app.py").write_text("print('hi')\n")
    (folder / "Dockerfile").write_text(HEAD + "COPY app.py .\nADD http://127.0.0.1:9/x /app/x\n")
    exercise = exercises.load("03-first-image")
    permissive = dataclasses.replace(exercise, limits=dataclasses.replace(
        exercise.limits, network_access=True, require_build_isolation=False))
    for chosen in (exercise, permissive):
        with load_submission(folder, chosen) as submission:
            blocker = submission.build_blocker()
            assert blocker and blocker.startswith("Dockerfile:4: `ADD http://127.0.0.1:9/x /app/x`")
            assert "download it in a RUN step" in blocker
    with pytest.raises(DockyardError):  # not a sandbox setting an exercise could set
        exercise.limits.with_overrides({"allow_remote_add": True})


def test_build_image_refuses_before_talking_to_the_engine(tmp_path):
    from dockyard.sandbox.build import build_image

    (tmp_path / "Dockerfile").write_text(HEAD + "ADD https://example.com/x /x\n")

    class NoEngine:
        @property
        def api(self):
            raise AssertionError("the engine was asked to build")

        class images:  # refuse_grader_bases looks the base up
            @staticmethod
            def get(name):
                raise LookupError(name)

    with pytest.raises(remote.RemoteSourceRefused) as refused:
        build_image(NoEngine(), tmp_path, tag="t", labels={})
    assert str(refused.value).startswith("Dockerfile:3: `ADD https://example.com/x /x`")


@pytest.mark.parametrize("text, line", [
    ("FROM 127.0.0.1:5000/base:1\n", 1),
    ("FROM localhost:5000/python:3.11-slim\n", 1),
    ("ARG REG=169.254.169.254\nFROM ${REG}/img\n", 2),
    ("FROM [::1]:5000/img\n", 1),
    ("FROM 10.0.0.5:5000/team/base:1\n", 1),
    ("FROM python:3.11-slim\nCOPY --from=localhost:5000/tools /bin/x /bin/x\n", 2),
    ("FROM python:3.11-slim\nRUN --mount=type=bind,from=127.0.0.1:5000/x,target=/x true\n", 2),
])
def test_images_from_a_registry_on_the_host_are_refused(text, line):
    found = remote.check(text)
    assert [(r.line, r.rule) for r in found] == [(line, "no-host-registry")]
    assert "start from a public base image" in found[0].one_line()


@pytest.mark.parametrize("text", [
    "FROM python:3.11-slim\n",
    "FROM docker.io/library/python:3.11-slim\n",
    "FROM ghcr.io/org/img:1\n",
    "FROM python:3.11-slim AS builder\nFROM python:3.11-slim\nCOPY --from=builder /x /x\n",
    "FROM python:3.11-slim\nCOPY --from=0 /x /x\n",
])
def test_public_images_and_stages_pass(text):
    assert remote.check(text) == []


def test_a_refusal_quoting_markup_is_escaped_in_every_report():
    from dockyard.report import feedback
    from dockyard.report.model import Item, Report

    [found] = remote.check(HEAD + "ADD http://x/<script>alert(1)</script>|`x` /app/\n")
    report = Report.from_items("03-first-image", [Item("builds", "The image builds", 0, 1, False, found.one_line())], 1.0)
    assert "<script>" not in feedback.html(report)
    assert "&lt;script&gt;" in feedback.html(report)
    assert "`ADD http://x/<script>alert(1)</script>|'x' /app/`" in found.one_line()  # one code span, kept whole
    outside_code = feedback.markdown(report).split("`")[::2]
    assert not any("<script>" in piece for piece in outside_code)


def test_a_dockerfile_past_the_step_bound_is_refused_at_the_first_step_past_it():
    steps = "".join(f"RUN echo {number}\n" for number in range(remote.MAX_STEPS - 1))  # FROM + these = the bound
    assert remote.check("FROM python:3.11-slim\n" + steps) == []
    found = remote.check("FROM python:3.11-slim\n" + steps + "RUN echo one too many\nCMD [\"true\"]\n")
    assert [(r.line, r.rule) for r in found] == [(remote.MAX_STEPS + 1, "too-many-steps")]
    assert f"at most {remote.MAX_STEPS}" in found[0].message and "`&&`" in found[0].message
