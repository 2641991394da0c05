"""Every kernel and engine knob of a learner's compose service is the sandbox's: Compose's own list of
service keys (its schema, and `docker compose config` of a file that sets them all) is checked against
what the policy refuses, what the rewrite sets or drops, and an explicit list of harmless keys, so a
new Compose release cannot open a hole silently."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from dockyard import engine
from dockyard.course.limits import DEFAULT_LIMITS
from dockyard.sandbox import compose, knobs
from dockyard.static import policy

# a service setting (nearly) every key Compose knows; `provider` on a service of its own (it has no image)
EVERY_KEY = textwrap.dedent("""\
    services:
      app:
        image: python:3.11-slim
        build:
          context: .
        annotations: {a: b}
        attach: true
        blkio_config:
          weight: 300
        cap_add: [NET_ADMIN]
        cap_drop: [MKNOD]
        cgroup: host
        cgroup_parent: evil
        command: ["python", "app.py"]
        configs: [cfg]
        cpu_count: 2
        cpu_percent: 50
        cpu_period: 100000
        cpu_quota: 50000
        cpu_rt_period: 1000000
        cpu_rt_runtime: 950000
        cpu_shares: 2048
        cpus: 8
        cpuset: "0"
        credential_spec: {config: x}
        depends_on: [db]
        deploy:
          replicas: 50
          resources: {limits: {memory: 8g, cpus: "8", pids: -1}, reservations: {memory: 4g}}
        develop:
          watch: [{path: ., action: rebuild}]
        device_cgroup_rules: ["c 1:3 mr"]
        devices: ["/dev/fuse:/dev/fuse"]
        dns: [1.1.1.1]
        dns_opt: [use-vc]
        dns_search: [example.com]
        domainname: example.com
        entrypoint: ["python"]
        env_file: [.env]
        environment: {A: b}
        expose: ["9000"]
        external_links: [other:other]
        extra_hosts: ["somehost:10.0.0.1"]
        gpus: all
        group_add: [users]
        healthcheck: {test: ["CMD", "true"], interval: 5s}
        hostname: app
        init: true
        ipc: host
        isolation: default
        label_file: [labels.env]
        labels: {x: y}
        links: [db]
        logging:
          driver: json-file
          options: {max-size: 10g, max-file: "100"}
        mac_address: "02:42:ac:11:00:02"
        mem_limit: 8g
        models: [llm]
        mem_reservation: 4g
        mem_swappiness: 100
        memswap_limit: 16g
        networks: [default]
        oom_kill_disable: true
        oom_score_adj: -1000
        pid: host
        pids_limit: -1
        platform: linux/amd64
        ports: ["8000:8000"]
        post_start: [{command: ["true"]}]
        pre_stop: [{command: ["true"]}]
        privileged: true
        pull_policy: always
        pull_refresh_after: 1h
        read_only: true
        restart: always
        runtime: runc
        scale: 50
        secrets: [sec]
        security_opt: ["label=disable"]
        shm_size: 8g
        stdin_open: true
        stop_grace_period: 1h
        stop_signal: SIGTERM
        storage_opt: {size: 100G}
        sysctls: {net.core.somaxconn: 1024}
        tmpfs: [/run]
        tty: true
        ulimits: {nofile: {soft: 1048576, hard: 1048576}, memlock: -1}
        use_api_socket: true
        user: "1000"
        userns_mode: host
        uts: host
        volumes: ["./data:/data"]
        volumes_from: ["container:other"]
        working_dir: /app
      db:
        image: redis:7
        network_mode: host
      plugin:
        profiles: [models]
        provider:
          type: model
          options: {model: ai/smollm2}
      extended:
        extends: {service: db}
        container_name: fixed-name
    models:
      llm: {model: ai/smollm2}
    configs:
      cfg: {file: ./cfg.txt}
    secrets:
      sec: {file: ./sec.txt}
    """)
CLASSES = {"set": set(knobs.SET), "dropped": set(knobs.DROPPED), "allowed": set(knobs.ALLOWED),
           "refused": set(knobs.POLICY_REFUSED)}
KNOWN = set().union(*CLASSES.values())


def schema_service_keys() -> set[str]:
    """The service properties of the compose-spec schema compiled into the installed compose binary."""
    try:
        data = Path(engine.compose_binary()).read_bytes()
    except Exception:
        return set()
    start = data.find(b'"$id": "compose_spec.json"')
    start = data.rfind(b"{", 0, start) if start > 0 else -1
    if start < 0:
        return set()
    try:
        schema, _ = json.JSONDecoder().raw_decode(data[start:start + 2_000_000].decode("utf-8", "replace"))
        return set(schema["definitions"]["service"]["properties"])
    except (ValueError, KeyError):
        return set()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("every-key")
    (folder / "compose.yaml").write_text(EVERY_KEY)
    for name in (".env", "labels.env", "cfg.txt", "sec.txt"):
        (folder / name).write_text("A=b\n")
    (folder / "data").mkdir()
    (folder / "Dockerfile").write_text("FROM python:3.11-slim\n")
    return folder


@pytest.fixture(scope="module")
def model(project) -> dict:
    return compose.config(project, [project / "compose.yaml"])


def test_every_compose_service_key_is_classed(model):
    seen = {key for service in model["services"].values() for key in service}
    seen |= set(yaml_keys(EVERY_KEY))
    schema = schema_service_keys()
    assert not schema or len(schema) > 50, "the schema in the compose binary could not be read whole"
    unclassed = sorted((seen | schema) - KNOWN)
    assert not unclassed, (f"Compose service keys that neither the policy refuses, nor the rewrite sets or drops, "
                           f"nor the harmless list allows: {unclassed} (class them in dockyard/sandbox/knobs.py)")
    missing = sorted(schema - set(yaml_keys(EVERY_KEY)))
    assert not missing, f"keys of Compose's schema the test file does not set: {missing}"


def test_no_key_is_in_two_classes():
    for first in ("set", "dropped", "allowed"):
        for second in ("set", "dropped", "allowed"):
            if first < second:
                assert not CLASSES[first] & CLASSES[second], (first, second, CLASSES[first] & CLASSES[second])
    assert not CLASSES["allowed"] & CLASSES["refused"]


def yaml_keys(text: str) -> list[str]:
    import yaml

    data = yaml.safe_load(text)
    return [key for service in data["services"].values() for key in service]


def test_the_policy_refuses_each_refused_key_at_its_line(project):
    lines = {}
    for number, line in enumerate(EVERY_KEY.splitlines(), 1):
        key = line.strip().split(":")[0]
        if line.startswith("    ") and not line.startswith("      ") and key in knobs.POLICY_REFUSED:
            lines.setdefault(key, number)
        if key in ("network_mode", "provider"):  # on services of their own
            lines[key] = number
        if key == "volumes_from":  # refused at its entry: `container:…`
            lines[key] = number + 1 if "[" not in line else number
    violations = policy.check_compose(project / "compose.yaml")
    reported = {violation.line for violation in violations}
    unreported = sorted(key for key, line in lines.items() if line not in reported)
    assert not unreported, f"the policy does not refuse {unreported}: {[str(v) for v in violations]}"
    assert set(lines) == set(knobs.POLICY_REFUSED)


def test_the_rewrite_sets_or_drops_every_resource_key(model):
    rewritten = compose.sandboxed_model(model, "dytest", {"dockyard.run": "x"}, DEFAULT_LIMITS)
    app = rewritten["services"]["app"]
    for key in knobs.DROPPED:
        assert key not in app, key
    assert app["mem_limit"] == DEFAULT_LIMITS.memory and app["memswap_limit"] == DEFAULT_LIMITS.memory
    assert app["cpus"] == DEFAULT_LIMITS.cpus and app["pids_limit"] == DEFAULT_LIMITS.pids
    assert app["oom_kill_disable"] is False and app["oom_score_adj"] == DEFAULT_LIMITS.oom_score_adj
    assert app["shm_size"] == DEFAULT_LIMITS.shm_size and app["scale"] == 1
    assert app["stop_grace_period"] == f"{DEFAULT_LIMITS.stop_timeout_s}s"
    assert app["logging"] == {"driver": "json-file", "options": {"max-size": "10m", "max-file": "1"}}
    assert app["security_opt"] == ["no-new-privileges:true"]
    assert "runtime" not in app
    for service in rewritten["services"].values():
        assert service["logging"]["driver"] == "json-file"


@pytest.mark.parametrize("learner, expected", [
    (None, {"max-size": "10m", "max-file": "1"}),
    ({"driver": "json-file", "options": {"max-size": "1m"}}, {"max-size": str(2**20), "max-file": "1"}),
    ({"driver": "json-file", "options": {"max-size": "1g", "max-file": "9"}}, {"max-size": "10m", "max-file": "1"}),
    ({"driver": "syslog", "options": {"syslog-address": "udp://10.0.0.1:514", "max-size": "1k"}},
     {"max-size": "10m", "max-file": "1"}),
    ({"driver": "json-file", "options": {"max-size": "garbage", "compress": "true"}},
     {"max-size": "10m", "max-file": "1"}),
])
def test_a_learner_may_lower_the_log_cap_never_lift_it_or_switch_driver(learner, expected):
    assert knobs.clamp_logging(learner, DEFAULT_LIMITS) == {"driver": "json-file", "options": expected}


def test_the_sandboxed_model_is_valid_for_compose(tmp_path, model):
    """What the rewrite writes (every key set) is still a file Compose accepts."""
    rewritten = compose.sandboxed_model(model, "dytest", {"dockyard.run": "x"}, DEFAULT_LIMITS)
    spec = tmp_path / "compose.json"
    spec.write_text(json.dumps(rewritten))
    result = compose.run_compose(["-f", str(spec), "config", "--format", "json"], cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    normalised = json.loads(result.stdout)["services"]["app"]
    assert normalised["logging"]["options"]["max-size"] == "10m"
    assert normalised["oom_score_adj"] == 500 and not normalised.get("oom_kill_disable")
