"""Every probe against a tiny image these tests build (real engine, nothing mocked); nothing left behind."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from dockyard import sandbox as sandboxes
from dockyard.engine.labels import RUN_LABEL
from dockyard import probes
from dockyard.probes import BuiltImage, Probes, layer_dirs, tree
from dockyard.submission import load_submission

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE = "gradertest-base:perl"


@pytest.fixture(scope="module")
def run(docker_client):
    with sandboxes.Sandbox("probe-test") as sandbox:
        with load_submission(FIXTURES / "probe-app", "probe-test") as submission:
            yield sandbox, submission
    flt = {"label": f"{RUN_LABEL}={sandbox.run_id}"}
    left = [*docker_client.containers.list(all=True, filters=flt), *docker_client.networks.list(filters=flt),
            *docker_client.volumes.list(filters=flt), *docker_client.images.list(all=True, filters=flt)]
    assert not left, left


@pytest.fixture(scope="module")
def image(run):
    sandbox, submission = run
    result = sandbox.build(submission.path)
    return BuiltImage(result.tag, result.image_id, result)


@pytest.fixture(scope="module")
def probe(run):
    sandbox, submission = run
    return Probes(sandbox, submission)


@pytest.fixture(scope="module")
def container(run, image):
    sandbox, _ = run
    return sandbox.start(image.tag, ports=(8000,), name="app")


def test_http_answers_and_explains(probe, container):
    response = probe.http(container, "/", port=8000)
    assert response.ok and response.status == 200 and "Hello from Docker!" in response.text
    assert response.attempts >= 1
    missing = probe.http(container, "/", port=9999)
    assert not missing.ok and "not published" in missing.error
    with pytest.raises(ValueError):
        probe.http("http://10.0.0.1/")


def test_http_never_ready_waits_once(probe, run, image):
    sandbox, _ = run
    idle = sandbox.start(image.tag, ports=(8000,), command=["sleep", "60"], name="idle")
    first = probe.http(idle, "/", timeout_s=1.5)
    assert not first.ok and first.status is None and "nothing answered" in first.error
    second = probe.http(idle, "/", timeout_s=30)
    assert second.attempts == 1  # already known not to answer: no second wait
    assert "expected 'x'" in first.explain("x")


LISTEN_ON_5000 = ("perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => q(0.0.0.0), LocalPort => 5000, "
                  "Listen => 5) or die; sleep 120'")


def test_http_says_at_once_when_the_app_has_settled_on_another_port(probe, run, image):
    """A wrong port is told once the app has listened elsewhere for a few seconds, not after the whole timeout."""
    sandbox, _ = run
    elsewhere = sandbox.start(image.tag, ports=(8000,), command=["sh", "-c", LISTEN_ON_5000], name="elsewhere")
    started = time.monotonic()
    result = probe.http(elsewhere, "/", port=8000, timeout_s=90)
    assert not result.ok and "the app listens on 0.0.0.0:5000, not on port 8000" in result.error, result.error
    assert time.monotonic() - started < 45, "it waited out the timeout"


def test_http_waits_for_an_app_that_listens_elsewhere_first_then_on_the_port(probe, run, image):
    sandbox, _ = run
    late = sandbox.start(image.tag, ports=(8000,), name="late",
                         command=["sh", "-c", f"{LISTEN_ON_5000} & sleep 1.5; exec perl /app/server.pl"])
    result = probe.http(late, "/", port=8000, timeout_s=60)
    assert result.ok and "Hello from Docker!" in result.text, result.error


def test_http_reports_a_crashed_app(probe, run, image):
    sandbox, _ = run
    crashed = sandbox.start(image.tag, ports=(8000,), command=["sh", "-c", "echo boom >&2; exit 4"], name="crash")
    result = probe.http(crashed, "/", timeout_s=10)
    assert not result.ok and "exit code 4" in result.error and "boom" in result.error


def test_exec_run_logs_processes(probe, container, image):
    result = probe.exec(container, "id -u; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout.strip(), result.stderr.strip()) == (3, "1000", "err")
    once = probe.run(image, ["sh", "-c", "echo $GREETING"])
    assert once.exit_code == 0 and once.stdout.strip() == "hello"
    assert "listening on 8000" in probe.logs(container)
    processes = probe.processes(container)
    assert any("server.pl" in p.command and p.uid == 1000 for p in processes), processes


def test_file_and_listdir_without_starting(probe, image):
    info = probe.file(image, "/app/server.pl")
    assert info.exists and not info.is_dir and b"IO::Socket::INET" in info.content and info.size > 100
    data = probe.file(image, "/app/data")
    assert data.exists and data.is_dir and data.uid == 1000 and data.mode == 0o750
    assert not probe.file(image, "/nope").exists
    assert probe.listdir(image, "/app") == ["data", "server.pl"]
    assert probe.listdir(image, "/nope") == []


TREE_DOCKERFILE = f"""FROM {BASE}
WORKDIR /app
COPY tree/ /app/
RUN set -e; cd /app; ln -s sub linkdir; ln -s sub/a.txt linkfile; ln sub/a.txt hard.txt; rm old.txt; \\
    rm -rf gone; mkdir gone; echo new > gone/new.txt; mkfifo pipe; chmod 600 sub/a.txt; chown 1000:1000 sub; \\
    rm -rf replaced; echo now-a-file > replaced
RUN rm -rf /app/opaque && mkdir /app/opaque && echo fresh > /app/opaque/fresh.txt && rm /app/sub/b.txt
"""
TREE_PATHS = ["/app", "/app/", "//app/sub", "/app/./sub", "/app/sub", "/app/sub/a.txt", "/app/sub/b.txt",
              "/app/old.txt", "/app/gone", "/app/gone/old1.txt", "/app/gone/new.txt", "/app/replaced",
              "/app/replaced/inner.txt", "/app/opaque", "/app/opaque/stale.txt", "/app/opaque/fresh.txt",
              "/app/odd name \u00fc.txt", "/app/.hidden", "/app/hard.txt", "/app/pipe", "/app/linkdir",
              "/app/linkdir/a.txt", "/app/linkfile", "/app/sub/../old.txt", "/app/nope", "/app/nope/deeper",
              "/app/sub/a.txt/x"]


@pytest.fixture(scope="module")
def tree_image(run, tmp_path_factory):
    """An image whose working directory changed over layers: deletions, a folder made again (opaque), a folder
    replaced by a file, links, a fifo, odd names."""
    sandbox, _ = run
    context = tmp_path_factory.mktemp("tree")
    files = {"sub/a.txt": "a", "sub/b.txt": "b", "old.txt": "old", "gone/old1.txt": "1", "replaced/inner.txt": "i",
             "opaque/stale.txt": "stale", "odd name \u00fc.txt": "odd", ".hidden": "h"}
    for name, text in files.items():
        (context / "tree" / name).parent.mkdir(parents=True, exist_ok=True)
        (context / "tree" / name).write_text(text)
    (context / "Dockerfile").write_text(TREE_DOCKERFILE)
    result = sandbox.build(context)
    return BuiltImage(result.tag, result.image_id, result)


THROUGH_LINKS = {"/app/linkdir", "/app/linkdir/a.txt", "/app/linkfile", "/app/sub/../old.txt"}  # the engine's


def _lookups(probe, image, paths=TREE_PATHS):
    return [(path, probe.file(image, path), probe.listdir(image, path)) for path in paths]


def _engine_lookups(probe, image):
    """What the engine says of each path, one `get_archive` a path (the probes' way before the tree)."""
    container = probe._inspection_container(image)
    return [(path, probe._read_file(container, path, probes.MAX_FILE), probe._list_folder(container, path))
            for path in TREE_PATHS]


def test_the_working_directory_read_once_says_what_the_engine_says(probe, tree_image, monkeypatch):
    """file() and listdir() below the working directory come from one reading of it (the layer folders here,
    one archive elsewhere, either cut short): the same answers, path for path, as asking the engine each time."""
    _lookups(probe, tree_image, [path for path in TREE_PATHS if path not in THROUGH_LINKS])
    assert probe._trees[tree_image.tag] is not None and probe._trees[tree_image.tag].complete
    assert tree_image.tag not in probe._inspection, "the conclusive lookups came from the layer folders, no container"
    from_layers = _lookups(probe, tree_image)
    expected = _engine_lookups(probe, tree_image)
    assert from_layers == expected
    by_path = {path: (info, names) for path, info, names in expected}
    assert by_path["/app/opaque"][1] == ["fresh.txt"] and not by_path["/app/old.txt"][0].exists
    assert by_path["/app/replaced"][0].content == b"now-a-file\n" and by_path["/app/sub"][0].uid == 1000
    assert by_path["/app/linkdir/a.txt"][0].content == b"a"  # resolved through the link by the engine

    for cut_short in (False, True):
        for remote in (False, True):
            with monkeypatch.context() as patch:
                if remote:  # a remote engine: one archive of the folder
                    patch.setattr(layer_dirs, "of", lambda attrs: None)
                if cut_short:  # what the tree lacks goes to the engine
                    patch.setattr(tree, "MAX_MEMBERS", 3)
                probe._trees.clear()  # each variant reads the folder anew
                assert _lookups(probe, tree_image) == expected, (remote, cut_short)


def test_image_config_history_sizes(probe, image):
    config = probe.image_config(image)
    assert config.user == "1000" and config.working_dir == "/app" and config.exposed_ports == {8000}
    assert config.env["GREETING"] == "hello" and config.cmd == ["perl", "/app/server.pl"]
    assert config.healthcheck and "/app/data" in config.volumes and config.labels["course"] == "dockyard"
    history = probe.history(image)
    assert any("COPY" in layer.created_by for layer in history) and history[-1].created_by.startswith("CMD")
    assert probe.image_size(image) > probe.base_size(BASE) > 0
    assert probe.layer_count(image) >= 4
    assert probe.base_size("no-such-image:0") == 0


def test_wait_healthy(probe, container, run, image):
    health = probe.wait_healthy(container, timeout_s=20)
    assert health.status == "healthy", health
    sandbox, _ = run
    plain = sandbox.start(image.tag, ports=(), command=["sleep", "30"], name="plain", healthcheck={"test": ["NONE"]})
    assert probe.wait_healthy(plain).status == "none"


def test_secret_scan_finds_deleted_files_and_config(probe, image):
    deleted = probe.secret_scan(image, "s3cr3t-probe-needle")
    assert deleted.found and "/tmp/secret.txt" in deleted.where
    config = probe.secret_scan(image, "not-a-secret")
    assert "config:Env" in config.where
    assert not probe.secret_scan(image, "nowhere-to-be-found-42").found


def test_the_layer_folders_and_docker_save_see_the_same_files(probe, image, docker_client, monkeypatch):
    """On this host (root, overlay2) layers are read from the engine's folders; `docker save` is the way elsewhere.
    Both must find the same things, in the same layers."""
    assert layer_dirs.of(docker_client.images.get(image.id).attrs) is not None, "the fast path is not taken here"
    from_folders = (probe.secret_scan(image, "s3cr3t-probe-needle"), probe.layer_files(image, "/tmp"),
                    probe.layer_files(image, "/app"))
    monkeypatch.setattr(layer_dirs, "of", lambda attrs: None)
    from_save = (probe.secret_scan(image, "s3cr3t-probe-needle"), probe.layer_files(image, "/tmp"),
                 probe.layer_files(image, "/app"))
    assert from_folders == from_save and from_folders[1], from_folders


def test_rebuild_after_change_uses_cache(probe, run):
    sandbox, submission = run
    sandbox.build(submission.path)  # warm
    result = probe.rebuild_after_change("server.pl", append="\n# one more line\n")
    cached = [step.instruction for step in result.cached_steps()]
    assert any(step.startswith("WORKDIR") for step in cached)
    assert not result.step_matching(r"^COPY server\.pl").cached
    assert (submission.path / "server.pl").read_text().count("# one more line") == 0


@pytest.fixture(scope="module")
def project(run, image, tmp_path_factory):
    sandbox, _ = run
    folder = tmp_path_factory.mktemp("compose")
    (folder / "compose.yaml").write_text(json.dumps({
        "services": {
            "web": {"image": image.tag, "ports": ["8000:8000"], "networks": ["front"]},
            "api": {"image": image.tag, "volumes": ["data:/app/data"], "networks": ["front", "back"]},
        },
        "networks": {"front": {}, "back": {}},
        "volumes": {"data": {}},
    }))
    compose_project = sandbox.compose(folder)
    compose_project.up()
    yield compose_project
    compose_project.down(volumes=True)
    shutil.rmtree(folder, ignore_errors=True)


def test_compose_ports_networks_http(probe, project):
    assert probe.published_ports(project) == {"api": [], "web": [8000]}
    members = probe.network_members(project)
    assert members["front"] == ["api", "web"] and members["back"] == ["api"]
    assert probe.http((project, "web"), "/").ok


def test_compose_restart_keeps_volume_unless_asked(probe, project):
    assert probe.exec((project, "api"), "echo kept > /app/data/f").exit_code == 0
    probe.compose_restart(project)
    assert probe.exec((project, "api"), "cat /app/data/f").stdout.strip() == "kept"
    probe.compose_restart(project, volumes=True)
    assert probe.exec((project, "api"), "cat /app/data/f").exit_code != 0


def test_reach_between_services(probe, project, docker_client):
    try:
        docker_client.images.get(probe.probe_image)
    except Exception:
        pytest.skip(f"probe image {probe.probe_image} not built yet")
    result = probe.reach(project, "web", "api", port=8000)
    assert result.ok and "Hello from Docker!" in result.text, result
    nowhere = probe.reach(project, "web", "nosuch", port=8000)
    assert not nowhere.ok and nowhere.error
