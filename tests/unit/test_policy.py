"""The compose security policy on the raw YAML: rule ids and line numbers, no Docker needed."""

import textwrap
from pathlib import Path

import pytest

from dockyard.errors import ComposeError, PolicyViolation
from dockyard.static.policy import check_compose, enforce, explain_config_error

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "static"


def write(folder: Path, text: str, name: str = "compose.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def rules_and_lines(path: Path) -> list[tuple[str, int]]:
    return [(v.rule, v.line) for v in check_compose(path)]


SERVICE = "services:\n  api:\n    image: python:3.11-slim\n"  # the forbidden key goes on line 4


@pytest.mark.parametrize("snippet, rule", [
    ("    privileged: true\n", "no-privileged"),
    ("    network_mode: host\n", "no-host-network"),
    ("    network_mode: \"container:db\"\n", "no-container-network"),
    ("    pid: host\n", "no-host-pid"),
    ("    ipc: host\n", "no-host-ipc"),
    ("    userns_mode: host\n", "no-host-userns"),
    ("    uts: host\n", "no-host-uts"),
    ("    cap_add: [NET_ADMIN]\n", "no-cap-add"),
    ("    devices:\n      - /dev/kvm:/dev/kvm\n", "no-devices"),
    ("    device_cgroup_rules: ['c 1:3 mr']\n", "no-devices"),
    ("    sysctls:\n      net.core.somaxconn: 1024\n", "no-sysctls"),
    ("    cgroup_parent: mygroup\n", "no-cgroup-parent"),
    ("    external_links: [redis_1]\n", "no-external"),
    ("    privileged: ${PRIV:-true}\n", "no-privileged"),  # compose would interpolate: refuse what we cannot see
    ("    network_mode: $MODE\n", "no-host-network"),
])
def test_each_forbidden_service_key_is_refused_on_its_line(tmp_path, snippet, rule):
    path = write(tmp_path, SERVICE + snippet)
    violations = check_compose(path)
    assert [(v.rule, v.line) for v in violations] == [(rule, 4)]
    violation = violations[0]
    assert isinstance(violation, PolicyViolation)
    assert str(violation).startswith("compose.yaml:4: ") and f"[{rule}]" in str(violation)
    assert "\n" not in str(violation) and " — " in str(violation)  # what was found — what to do instead


@pytest.mark.parametrize("option", ["seccomp:unconfined", "seccomp=unconfined", "apparmor:unconfined",
                                    "apparmor=unconfined", "label:disable", "label=disable",
                                    "systempaths=unconfined", "seccomp=/etc/permissive.json"])
def test_security_opt_that_disables_confinement(tmp_path, option):
    path = write(tmp_path, SERVICE + f"    security_opt:\n      - no-new-privileges:true\n      - \"{option}\"\n")
    assert rules_and_lines(path) == [("no-unconfined", 6)]


@pytest.mark.parametrize("volume, rule", [
    ("/var/run/docker.sock:/var/run/docker.sock", "no-docker-socket"),
    ("/run/docker.sock:/sock:ro", "no-docker-socket"),
    ("/var/run:/host-run", "no-docker-socket"),
    ("/:/host", "no-host-bind"),
    ("/etc:/etc", "no-host-bind"),
    ("../..:/x", "no-host-bind"),
    ("../:/parent", "no-host-bind"),
    ("~/.ssh:/root/.ssh", "no-host-bind"),
    ("${HOME}:/home", "no-host-bind"),
    ("C:\\Users:/users", "no-host-bind"),
])
def test_host_bind_mounts_are_refused(tmp_path, volume, rule):
    path = write(tmp_path / "project", SERVICE + f"    volumes:\n      - ./ok:/ok\n      - '{volume}'\n")
    assert rules_and_lines(path) == [(rule, 6)]


def test_long_syntax_bind_mounts(tmp_path):
    path = write(tmp_path / "project", SERVICE + """\
    volumes:
      - type: bind
        source: ./data
        target: /data
      - type: bind
        source: /var/run/docker.sock
        target: /var/run/docker.sock
      - type: bind
        source: /home
        target: /h
      - type: volume
        source: data
        target: /v
    """)
    assert rules_and_lines(path) == [("no-docker-socket", 9), ("no-host-bind", 12)]


def test_symlink_out_of_the_project_is_a_host_bind(tmp_path):
    project = tmp_path / "project"
    path = write(project, SERVICE + "    volumes:\n      - ./escape:/x\n")
    (project / "escape").symlink_to("/etc")
    assert rules_and_lines(path) == [("no-host-bind", 5)]


def test_top_level_volumes_and_networks(tmp_path):
    path = write(tmp_path, """\
    services:
      api:
        image: python:3.11-slim
    volumes:
      data: {}
      hostdir:
        driver: local
        driver_opts:
          type: none
          o: bind
          device: /srv/data
      shared:
        external: true
    networks:
      outside:
        external: true
      legacy:
        external:
          name: some-network
      hostnet:
        driver: host
    """)
    assert rules_and_lines(path) == [("no-volume-bind", 8), ("no-external", 13), ("no-external", 16),
                                     ("no-external", 18), ("no-host-network", 21)]


def test_files_outside_the_project(tmp_path):
    path = write(tmp_path / "project", """\
    services:
      api:
        build:
          context: ../..
        env_file: /etc/environment
    secrets:
      key:
        file: /etc/shadow
      ok:
        file: ./secret.txt
    """)
    assert rules_and_lines(path) == [("no-outside-files", 4), ("no-outside-files", 5), ("no-outside-files", 8)]


def test_anchors_merges_and_included_files_are_followed(tmp_path):
    project = tmp_path / "project"
    write(project, "services:\n  worker:\n    image: alpine:3.20\n    cap_add: [SYS_ADMIN]\n", name="more.yaml")
    path = write(project, """\
    x-danger: &danger
      privileged: true
    include:
      - more.yaml
    services:
      api:
        <<: *danger
        image: python:3.11-slim
    """)
    violations = check_compose(path)
    assert [(v.file, v.rule, v.line) for v in violations] == [("compose.yaml", "no-privileged", 2),
                                                              ("more.yaml", "no-cap-add", 4)]


def test_outline_compose_files_pass():
    # named volumes, a relative bind mount, published ports, `version:`: all allowed
    assert check_compose(FIXTURES / "outline-compose.yaml") == []
    assert check_compose(FIXTURES / "outline-rag-compose.yaml") == []
    enforce(FIXTURES / "outline-compose.yaml")  # does not raise


def test_allowed_constructs(tmp_path):
    path = write(tmp_path, """\
    version: "3.8"
    services:
      api:
        build: {context: ., dockerfile: Dockerfile}
        ports: ["127.0.0.1:8000:8000", "9000"]
        volumes: [".:/app", "./data:/app/data:ro", "cache:/cache", "/tmp/anon"]
        security_opt: [no-new-privileges:true]
        privileged: false
        network_mode: "service:db"
        env_file: .env
      db:
        image: postgres:15
        volumes: [pg:/var/lib/postgresql/data]
    volumes: {cache: {}, pg: {driver: local}}
    networks: {back: {driver: bridge}}
    """)
    assert check_compose(path) == []


def test_enforce_raises_the_first_and_counts_the_rest(tmp_path):
    path = write(tmp_path, SERVICE + "    privileged: true\n    pid: host\n    cap_add: [ALL]\n")
    with pytest.raises(PolicyViolation) as caught:
        enforce(path)
    error = caught.value
    assert (error.rule, error.line, error.file) == ("no-privileged", 4, "compose.yaml")
    assert "no-host-pid at line 5" in str(error) and "no-cap-add at line 6" in str(error)
    assert len(error.violations) == 3 and "\n" not in error.one_line()


def test_yaml_errors_name_the_line(tmp_path):
    path = write(tmp_path, "services:\n  api:\n    image: x\n   bad: [\n")
    with pytest.raises(ComposeError, match=r"compose.yaml:4: YAML error"):
        check_compose(path)


def test_explain_config_error_finds_the_line(tmp_path):
    path = write(tmp_path, "services:\n  api:\n    image: x\n    ports: 5\n    foo: 1\n")
    assert explain_config_error(f"validating {path}: services.api.ports must be a list", path) == \
        "compose.yaml:4: the compose file is not valid: services.api.ports must be a list"
    message = explain_config_error(f"validating {path}: services.api Additional property foo is not allowed", path)
    assert message.startswith("compose.yaml:5: ")
    broken = write(tmp_path, "services:\n  api:\n    image: x\n   bad: y\n", name="broken.yaml")
    # compose's own YAML line is often off ("line 1"); PyYAML's is the one the learner needs
    assert explain_config_error(f"parsing {broken}: yaml: line 1: did not find expected key", broken) \
        .startswith("broken.yaml:4: YAML error: ")




def test_a_project_past_the_service_bound_is_refused_at_the_first_service_past_it(tmp_path):
    from dockyard.static.policy import MAX_SERVICES

    services = "".join(f"  s{number}:\n    image: python:3.11-slim\n" for number in range(1, MAX_SERVICES + 1))
    assert rules_and_lines(write(tmp_path, "services:\n" + services)) == []
    path = write(tmp_path, "services:\n" + services + "  extra:\n    image: python:3.11-slim\n    privileged: true\n")
    assert rules_and_lines(path) == [("too-many-services", 2 * MAX_SERVICES + 2)]  # nothing checked past it
    assert f"at most {MAX_SERVICES} services" in check_compose(path)[0].message
    # counted over the included files together
    write(tmp_path, "services:\n" + services, name="more.yaml")
    assert [rule for rule, _ in rules_and_lines(write(tmp_path, "include: [more.yaml]\nservices:\n  one:\n    image: x\n"))] \
        == ["too-many-services"]
