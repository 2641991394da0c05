"""commands.sh read as docker commands (static/commandline.py): what is accepted and how it is read, what is
refused (with its line number, reason and kind), and quoting, comments and continuations as sh has them.
No engine, no shell."""

from pathlib import Path

import pytest

from dockyard.static.commandline import RefusalKind, parse_file, parse_script, port_mismatch

ROOT = Path(__file__).resolve().parents[2]


def one(text: str, root: Path | None = None):
    script = parse_script(text, root=root)
    assert script.ok, script.summary()
    assert len(script.commands) == 1, script.commands
    return script.commands[0]


def refusal(text: str, root: Path | None = None):
    script = parse_script(text, root=root)
    assert len(script.refusals) == 1, (script.refusals, script.commands)
    return script.refusals[0]


# -- accepted --------------------------------------------------------------------------------------
def test_the_reference_solution_reads_as_its_commands():
    script = parse_file(ROOT / "solutions/02-container-lifecycle/commands.sh", root=ROOT / "exercises/02-container-lifecycle")
    assert script.ok, script.summary()
    assert [c.subcommand for c in script.commands] == ["build", "run", "ps", "logs", "exec", "stop", "start", "stop", "rm"]
    run = script.commands[1]
    assert run.line == 3 and run.args == ("notes-app",)
    assert run.flag("detach") is True and run.flag("name") == "notes"
    assert [(p.host, p.container) for p in run.ports] == [(8080, 8000)]
    assert run.environment == ["NOTES_OWNER=Ada"]
    assert [(m.kind, m.source, m.target) for m in run.mounts] == [("volume", "notes-data", "/data")]
    assert script.commands[4].args == ("notes", "python", "add_note.py", "buy milk")


@pytest.mark.parametrize("text", [
    "docker run -d --name web -p 8080:8000 -e A=1 -v data:/data app",
    "docker run --detach --name=web --publish=8080:8000 --env A=1 --volume=data:/data app",
    "docker container run -d --name web -p8080:8000 -eA=1 -v data:/data app",
    "docker run -dp 8080:8000 --name web -e A=1 -v data:/data app",
    "docker run --name web -v data:/data -e A=1 -p 127.0.0.1:8080:8000/tcp -d app",
])
def test_every_spelling_of_the_same_run_reads_the_same(text):
    command = one(text)
    assert command.subcommand == "run" and command.args == ("app",)
    assert command.flag("detach") and command.flag("name") == "web"
    assert [(p.host, p.container, p.protocol) for p in command.ports] == [(8080, 8000, "tcp")]
    assert command.environment == ["A=1"]
    assert [(m.kind, m.source, m.target) for m in command.mounts] == [("volume", "data", "/data")]


def test_run_stops_reading_options_at_the_image():
    command = one("docker run --rm -it app python -c 'print(1)' -d --privileged")
    assert command.args == ("app", "python", "-c", "print(1)", "-d", "--privileged")
    assert command.flag("rm") and command.flag("interactive") and command.flag("tty") and not command.flag("detach")


@pytest.mark.parametrize("text, subcommand", [
    ("docker ps -a", "ps"), ("docker container ls --all", "ps"), ("docker container list -q", "ps"),
    ("docker logs --tail 5 -f web", "logs"), ("docker logs -n 5 web", "logs"),
    ("docker exec -it -u root -w /app -e X=1 web ls -l", "exec"),
    ("docker stop -t 3 web other", "stop"), ("docker start web", "start"), ("docker restart --time=2 web", "restart"),
    ("docker rm -fv web", "rm"), ("docker container remove web", "rm"),
    ("docker network create backend", "network create"), ("docker volume create data", "volume create"),
    ("docker build -t app:1.0 -t app .", "build"), ("docker image build --tag app .", "build"),
    ("docker build --target test --build-arg V=1 --build-arg=W=2 -t app .", "build"),
    ("docker tag app app:2.0", "tag"), ("docker inspect web data", "inspect"),
    ("docker run --network backend --restart unless-stopped --rm=false app", "run"),
])
def test_documented_commands_are_accepted(text, subcommand):
    assert one(text).subcommand == subcommand


def test_mount_kinds():
    command = one("docker run -v data:/data -v /cache -v ./site:/srv:ro app", root=ROOT)
    assert [(m.kind, m.source, m.target, m.read_only) for m in command.mounts] == [
        ("volume", "data", "/data", False), ("anonymous", None, "/cache", False), ("bind", "./site", "/srv", True)]


# -- quoting, comments, continuations ----------------------------------------------------------------
def test_comments_blank_lines_and_line_numbers():
    script = parse_script("#!/bin/sh\n\n# a comment\ndocker ps   # trailing comment\n\n   \ndocker ps -a\n")
    assert script.ok and [(c.line, c.text) for c in script.commands] == [(4, "docker ps   # trailing comment"),
                                                                          (7, "docker ps -a")]


def test_a_hash_inside_a_word_or_quotes_is_not_a_comment():
    command = one("docker run -e 'MSG=a # b' -e TAG=v#2 app echo \"#not a comment\"  # but this is")
    assert command.environment == ["MSG=a # b", "TAG=v#2"]
    assert command.args == ("app", "echo", "#not a comment")


def test_backslash_continuations_join_lines_and_keep_the_first_line_number():
    script = parse_script("docker ps\ndocker run \\\n  -d \\\n  --name web \\\n  app\ndocker ps\n")
    assert script.ok
    assert [c.line for c in script.commands] == [1, 2, 6]
    assert script.commands[1].flag("name") == "web" and script.commands[1].args == ("app",)


def test_quotes_keep_spaces_and_shell_characters_literal():
    command = one("""docker exec web sh -c 'echo "$HOME" | wc -c > /tmp/x && ls'""")
    assert command.args == ("web", "sh", "-c", 'echo "$HOME" | wc -c > /tmp/x && ls')
    assert one('docker exec web echo "a  b" \'c\'"d"').args == ("web", "echo", "a  b", "cd")


def test_a_comment_line_ending_in_a_backslash_does_not_swallow_the_next_line():
    script = parse_script("# see below \\\ndocker ps\n")
    assert script.ok and [c.line for c in script.commands] == [2]


def test_windows_line_endings_read_the_same():
    script = parse_script("docker ps\r\ndocker run -d \\\r\n  app\r\n")
    assert script.ok and [c.line for c in script.commands] == [1, 2]


# -- refused, with the line and the reason --------------------------------------------------------------
@pytest.mark.parametrize("flag, words", [
    ("--privileged", "whole machine"), ("--cap-add=SYS_ADMIN", "capabilities"), ("--cap-add NET_ADMIN", "capabilities"),
    ("--device /dev/sda", "device"), ("--security-opt seccomp=unconfined", "security"),
    ("--pid host", "process namespace"), ("--pid=host", "process namespace"), ("--ipc host", "IPC"),
    ("--network host", "grading machine's own network"), ("--net=host", "grading machine's own network"),
    ("--network container:other", "another container's network"), ("--uts host", "UTS"),
    ("-v /var/run/docker.sock:/var/run/docker.sock", "Docker socket"),
    ("-v /run/docker.sock:/s:ro", "Docker socket"), ("-v /:/host", "grading machine"),
    ("-v /etc:/etc:ro", "grading machine"), ("-v ~/.ssh:/keys", "grading machine"),
    ("--volumes-from other", "another container's volumes"),
])
def test_what_the_sandbox_forbids_is_refused_at_its_line(flag, words):
    found = refusal(f"docker ps\n\ndocker run -d {flag} app\ndocker ps\n")
    assert found.line == 3 and found.kind is RefusalKind.FORBIDDEN
    assert words.lower() in found.reason.lower(), found.reason


def test_forbidden_flags_of_exec_are_refused_too():
    found = refusal("docker exec --privileged web sh")
    assert found.line == 1 and found.kind is RefusalKind.FORBIDDEN


@pytest.mark.parametrize("text, words", [
    ("docker run -v ../outside:/x app", "leads out of your folder"),
    ("docker run -v ./../../etc:/x app", "leads out of your folder"),
    ("docker run --env-file /etc/passwd app", "path of the grading machine"),
    ("docker run --env-file ../secrets.env app", "leads out of your folder"),
    ("docker build -t app /", "path of the grading machine"),
    ("docker build -t app ..", "leads out of your folder"),
    ("docker build -f ../Dockerfile .", "leads out of your folder"),
])
def test_host_paths_outside_the_submission_are_refused(text, words, tmp_path):
    found = refusal(text, root=tmp_path / "sub")
    assert found.kind is RefusalKind.FORBIDDEN and words in found.reason, found.reason


def test_a_symlink_out_of_the_submission_is_refused(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "escape").symlink_to("/etc")
    found = refusal("docker run -v ./escape:/x app", root=folder)
    assert found.kind is RefusalKind.FORBIDDEN and "leads out" in found.reason


@pytest.mark.parametrize("text, words", [
    ("docker ps | grep web", "`|`"), ("docker stop web && docker rm web", "`&&`"), ("docker ps; docker ps", "`;`"),
    ("docker logs web > log.txt", "`>`"), ("docker run -e HOME=$HOME app", "variable"),
    ("docker run -e X=\"$(id)\" app", "$(…)"), ("docker run -e X=`id` app", "`…`"), ("docker ps &", "`&`"),
])
def test_shell_syntax_is_refused_because_no_shell_runs_the_file(text, words):
    found = refusal(text)
    assert found.kind is RefusalKind.SYNTAX and words in found.reason and "never run by a shell" in found.reason


@pytest.mark.parametrize("text, words", [
    ("curl localhost:8080", "only docker commands"), ("sudo docker ps", "only docker commands"),
    ("docker image prune", "not one of the commands"), ("docker compose up", "not one of the commands"),
    ("docker container prune", "not one of the commands"), ("docker run --cpus 2 app", "not a flag"),
    ("docker run --mount type=volume,src=a,dst=/a app", "--mount"), ("docker ps --format '{{.Names}}'", "not a flag"),
    ("docker run -p 8000-8010:8000-8010 app", "ranges"), ("docker run --network none app", "--network none"), ("docker run nginx@sha256:abc app", "64 hexadecimal"), ("docker run Nginx app", "image name"),
])
def test_what_is_outside_the_documented_set_is_refused(text, words):
    found = refusal(text)
    assert words in found.reason, found.reason
    assert found.kind in (RefusalKind.UNSUPPORTED, RefusalKind.SYNTAX)


def test_dockers_own_options_are_refused():
    found = refusal("docker -H tcp://10.0.0.1:2375 ps")
    assert found.kind is RefusalKind.FORBIDDEN and "-H" in found.reason


@pytest.mark.parametrize("text, words", [
    ("docker run", "at least 1 argument"), ("docker logs", "1 argument"), ("docker logs a b", "1 argument"),
    ("docker ps web", "no arguments"), ("docker exec web", "at least 2 arguments"),
    ("docker run --name", "needs a value"), ("docker run --name 'a b' app", "not a valid container name"),
    ("docker run -p 99999:80 app", "1 to 65535"), ("docker run -v data:relative app", "must start with /"),
    ("docker run -e '=x' app", "NAME=value"), ("docker run --restart sometimes app", "policies"),
    ("docker run --rm --restart always app", "cannot go together"), ("docker stop -t soon web", "whole number"),
    ("docker run 'unclosed app", "no closing quotation"), ("docker", "subcommand"),
])
def test_malformed_lines_get_a_reason(text, words):
    assert words in refusal(text).reason


def test_every_refusal_is_listed_and_the_accepted_lines_are_still_read():
    script = parse_script("docker ps\ndocker run --privileged a\ncurl x\ndocker ps -a\ndocker run --pid=host a\n")
    assert [r.line for r in script.refusals] == [2, 3, 5]
    assert [c.line for c in script.commands] == [1, 4]
    assert not script.ok and script.summary().startswith("commands.sh:2: ")


def test_learner_text_in_a_reason_is_one_printable_bounded_line():
    found = refusal("docker \x1b[31mrun\x1b[0m" + "x" * 500)
    assert "\x1b" not in found.reason and "\n" not in found.reason and len(found.reason) < 300


def test_a_binary_or_huge_file_is_refused_without_reading_it_all(tmp_path):
    (tmp_path / "bin.sh").write_bytes(b"docker ps\x00\x01")
    (tmp_path / "big.sh").write_bytes(b"docker ps\n" * 10_000)
    assert "not a text file" in parse_file(tmp_path / "bin.sh").refusals[0].reason
    assert "KiB" in parse_file(tmp_path / "big.sh").refusals[0].reason
    assert "could not be read" in parse_file(tmp_path / "missing.sh").refusals[0].reason


def test_no_input_makes_the_parser_raise():
    """Random lines of docker words and shell characters: always a Script, every refusal one short line."""
    import random

    pieces = ["docker", "run", "exec", "ps", "-d", "-p", "8080:8000", "-v", "a:/b", "/etc:/x", "--name", "web", "'",
              '"', "\\", "#", "$", "`", "|", "&&", ";", "-", "--", "=", ":", "\n", "\t", "\x00", "é", "--privileged",
              "-dit", "-e", "A=b", "--network=host", "container", "ls", "./x:/y", "..", "~"]
    generator = random.Random(18)
    for _ in range(3000):
        text = "".join(generator.choice(pieces) + generator.choice(["", " "]) for _ in range(generator.randint(1, 20)))
        script = parse_script(text)
        for found in script.refusals:
            assert "\n" not in found.reason and len(found.reason) < 400, found


def test_a_build_arg_without_its_value_is_refused():
    found = refusal("docker build --build-arg TOKEN -t app .")
    assert found.kind is RefusalKind.SYNTAX and "write NAME=value" in found.reason, found.reason


# -- the registry exercise: push, pull, images, inspect --format ------------------------------------------
DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_the_registry_solution_reads_as_its_commands():
    script = parse_file(ROOT / "solutions/01-registry/commands.sh", root=ROOT / "exercises/01-registry")
    assert script.ok, script.summary()
    assert [c.subcommand for c in script.commands] == ["build", "tag", "push", "images", "pull", "run", "ps"]


@pytest.mark.parametrize("text, subcommand", [
    ("docker push localhost:5000/shipit:1.0", "push"), ("docker image push -q 127.0.0.1:5000/shipit", "push"),
    (f"docker pull localhost:5000/shipit@{DIGEST}", "pull"), ("docker image pull localhost:5000/team/shipit:1.0", "pull"),
    ("docker images --digests", "images"), ("docker image ls -q localhost:5000/shipit", "images"),
    ("docker image list --no-trunc --all", "images"),
    ("docker inspect --format '{{index .RepoDigests 0}}' localhost:5000/shipit:1.0", "inspect"),
    ("docker image inspect -f '{{json .RepoDigests}} {{.Id}}' shipit", "inspect"),
    (f"docker tag localhost:5000/shipit@{DIGEST} shipit:pulled", "tag"),
    (f"docker run -d -p 8080:8000 localhost:5000/shipit@{DIGEST}", "run"),
    ("docker build -t localhost:5000/shipit:1.0 .", "build"),
])
def test_registry_commands_are_accepted(text, subcommand):
    assert one(text).subcommand == subcommand


def test_references_are_read_as_docker_reads_them():
    from dockyard.static.commandline import parse_reference

    assert parse_reference("shipit").canonical() == "shipit:latest"
    assert parse_reference("127.0.0.1:5000/shipit").canonical() == "localhost:5000/shipit:latest"
    ref = parse_reference(f"localhost:5000/team/shipit@{DIGEST}")
    assert (ref.registry, ref.path, ref.tag, ref.digest) == ("localhost:5000", "team/shipit", None, DIGEST)
    assert ref.at_grading_registry and ref.canonical() == f"localhost:5000/team/shipit@{DIGEST}"
    assert parse_reference("team/shipit:1.0").registry is None  # no `.`, `:` or localhost: a path, not a host


@pytest.mark.parametrize("text, words, kind", [
    ("docker push ghcr.io/me/shipit:1.0", "only to the grading's own registry", RefusalKind.FORBIDDEN),
    ("docker push shipit:1.0", "Docker Hub", RefusalKind.FORBIDDEN),
    ("docker pull python:3.11-slim", "Docker Hub", RefusalKind.FORBIDDEN),
    ("docker pull docker.io/library/registry:2", "`docker.io`", RefusalKind.FORBIDDEN),
    ("docker pull localhost:5001/shipit:1.0", "`localhost:5001`", RefusalKind.FORBIDDEN),
    ("docker login localhost:5000", "credentials", RefusalKind.FORBIDDEN),
    ("docker logout", "credentials", RefusalKind.FORBIDDEN),
    ("docker push --insecure localhost:5000/shipit", "no TLS setting", RefusalKind.FORBIDDEN),
    ("docker push --disable-content-trust localhost:5000/shipit", "trusts images", RefusalKind.FORBIDDEN),
    ("docker pull --platform linux/arm64 localhost:5000/shipit", "not a flag", RefusalKind.UNSUPPORTED),
    ("docker pull localhost:5000/shipit@sha256:abc", "64 hexadecimal", RefusalKind.SYNTAX),
    (f"docker push localhost:5000/shipit@{DIGEST}", "cannot be a new name", RefusalKind.SYNTAX),
    (f"docker tag shipit localhost:5000/shipit@{DIGEST}", "cannot be a new name", RefusalKind.SYNTAX),
    ("docker inspect --format '{{range .RepoDigests}}{{.}}{{end}}' shipit", "no other template", RefusalKind.UNSUPPORTED),
    ("docker images --format '{{.Digest}}'", "not a flag", RefusalKind.UNSUPPORTED),
    ("docker push localhost:5000/a localhost:5000/b", "takes 1 argument", RefusalKind.SYNTAX),
])
def test_registry_lines_outside_the_set_are_refused_with_a_reason(text, words, kind):
    found = refusal(text)
    assert words in found.reason and found.kind == kind and found.line == 1, found
    assert "\n" not in found.one_line()


def test_a_refused_registry_line_names_its_line_and_stops_everything():
    script = parse_script("docker build -t shipit .\n\ndocker push quay.io/me/shipit\ndocker login\n")
    assert not script.ok and [r.line for r in script.refusals] == [3, 4]
    assert script.summary().startswith("commands.sh:3: ")


def test_inspect_format_renders_as_docker_templates_do():
    from dockyard.sandbox.commandline import CommandFailed, render_format

    facts = {"Id": "sha256:1", "RepoDigests": [f"localhost:5000/shipit@{DIGEST}"], "Config": {"WorkingDir": "/app"},
             "RepoTags": []}
    assert render_format("{{index .RepoDigests 0}}", facts) == f"localhost:5000/shipit@{DIGEST}"
    assert render_format("{{json .RepoDigests}}", facts) == f'["localhost:5000/shipit@{DIGEST}"]'
    assert render_format("id={{.Id}} in {{ .Config.WorkingDir }} {{.RepoTags}} {{.Nope}}", facts) == \
        "id=sha256:1 in /app [] <no value>"
    with pytest.raises(CommandFailed, match="index out of range"):
        render_format("{{index .RepoTags 0}}", facts)


@pytest.mark.parametrize("text", ["docker tag shipit registry.example.com:443/shipit",
                                  "docker build -t ghcr.io/my-org/app:3f78 .",
                                  "docker run --rm ghcr.io/my-org/app:3f78 python -m unittest"])
def test_any_registry_may_be_part_of_a_local_name(text):
    """As docker's own: a name only names; a push or a pull talks to a registry (the executor runs nothing it
    did not build, tag or pull from the grading's registry)."""
    assert one(text).subcommand in ("tag", "build", "run")


@pytest.mark.parametrize("flags,listening,found", [
    ("", (), "found no `-p` at all"),
    ("-p 9090:8000", (), "found the app's port 8000 published on the host's port 9090"),
    ("-p 8000", (), "published on the host's port (any)"),
    ("-p 8080:80", (8000,), "found `-p 8080:80` (the container's port 80, where nothing listens); the app listens on 8000"),
])
def test_port_mismatch_says_what_the_flags_publish_instead(flags, listening, found):
    ports = parse_script(f"docker run -d {flags} --name notes notes:1\n").commands[0].ports
    message = port_mismatch(ports, 8080, 8000, listening)
    assert message.startswith("expected `-p 8080:8000` (HOST:CONTAINER: the app listens on 8000), ")
    assert found in message
