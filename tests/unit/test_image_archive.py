"""The layer walk under the secret scan, on `docker save` archives these tests make in both formats
(engine 20.10's `<id>/layer.tar`; Docker 25+'s OCI layout, with gzip layers as the containerd store
keeps them). No engine needed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

from dockyard.probes import image_archive

SECRET = b"sk-live-0123456789"


def tar_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# Layer 1 adds the key, layer 2 deletes it (a whiteout), layer 3 is empty (a WORKDIR that existed).
LAYERS = [tar_bytes({"app/key.txt": SECRET, "app/app.py": b"print('hi')\n"}),
          tar_bytes({"app/.wh.key.txt": b""}),
          tar_bytes({})]
CONFIG = json.dumps({"config": {"Env": ["PATH=/usr/bin"]}, "history": []}).encode()


def archive_of(members: dict[str, bytes]) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(tar_bytes(members)))


def legacy_archive() -> io.BufferedReader:
    """As engine 20.10 saves: one folder per layer, the manifest last."""
    members, names = {}, []
    for number, layer in enumerate(LAYERS):
        name = f"{number:064x}/layer.tar"
        members[name] = layer
        names.append(name)
    members["c0ffee.json"] = CONFIG
    members["manifest.json"] = json.dumps([{"Config": "c0ffee.json", "RepoTags": ["x:1"], "Layers": names}]).encode()
    return archive_of(members)


def oci_archive(compress=gzip.compress, with_manifest_json: bool = True) -> io.BufferedReader:
    """As Docker 25+ saves (the OCI image layout), layers compressed as the containerd store keeps them."""
    members, descriptors = {}, []

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        members["blobs/" + digest.replace(":", "/")] = data
        return digest

    for layer in LAYERS:
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(compress(layer))})
    config = blob(CONFIG)
    manifest = blob(json.dumps({"schemaVersion": 2, "config": {"digest": config}, "layers": descriptors}).encode())
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [{"digest": manifest}]}).encode()
    if with_manifest_json:
        layer_names = ["blobs/" + d["digest"].replace(":", "/") for d in descriptors]
        members["manifest.json"] = json.dumps([{"Config": "blobs/" + config.replace(":", "/"), "Layers": layer_names}]).encode()
    members["oci-layout"] = b'{"imageLayoutVersion": "1.0.0"}'
    return archive_of(members)


def find(archive) -> tuple[image_archive.LayerScan, list[tuple[int, str]]]:
    hits: list[tuple[str, str]] = []

    def visit(layer, entry, reader):
        if SECRET in reader.read():
            hits.append((layer, entry.name))
        return True

    scan = image_archive.walk_layers(archive, visit)
    return scan, [(scan.layer_number(layer), name) for layer, name in hits]


def test_legacy_archive_a_deleted_key_is_still_found_in_its_layer():
    scan, hits = find(legacy_archive())
    assert hits == [(1, "app/key.txt")]
    assert len(scan.layers) == 3 and not scan.unreadable


def test_oci_layout_with_gzip_layers():
    scan, hits = find(oci_archive())
    assert hits == [(1, "app/key.txt")]
    assert len(scan.layers) == 3 and not scan.unreadable


def test_oci_layout_without_manifest_json_follows_index_json():
    scan, hits = find(oci_archive(with_manifest_json=False))
    assert hits == [(1, "app/key.txt")] and len(scan.layers) == 3 and not scan.unreadable


def test_uncompressed_oci_blobs_as_the_classic_store_saves_them():
    scan, hits = find(oci_archive(compress=lambda data: data))
    assert hits == [(1, "app/key.txt")] and not scan.unreadable


def test_a_layer_it_cannot_open_is_reported_not_skipped():
    zstd_like = lambda data: image_archive.ZSTD_MAGIC + data  # noqa: E731 - looks like zstd, is not
    scan, hits = find(oci_archive(compress=zstd_like))
    assert hits == []
    assert len(scan.unreadable) == 3 and all("zstd" in why or "readable" in why for why in scan.unreadable.values())


def test_a_layer_the_manifest_names_but_the_archive_lacks_is_reported():
    members = {"manifest.json": json.dumps([{"Config": "c.json", "Layers": ["gone/layer.tar"]}]).encode()}
    scan, _ = find(archive_of(members))
    assert scan.unreadable == {"gone/layer.tar": "listed in the manifest but not found in the archive"}


def test_the_visitor_can_stop_the_walk():
    seen = []

    def visit(layer, entry, reader):
        seen.append(entry.name)
        return False

    scan = image_archive.walk_layers(legacy_archive(), visit)
    assert scan.stopped_early and seen == ["app/key.txt"]


def test_kind_of_recognises_layers_by_their_first_bytes():
    assert image_archive.kind_of(LAYERS[0][:512]) == "tar"
    assert image_archive.kind_of(gzip.compress(LAYERS[0])[:512]) == "gzip"
    assert image_archive.kind_of(CONFIG) is None
