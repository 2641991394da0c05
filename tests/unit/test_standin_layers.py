"""probes/standins.py: only a real stand-in's layer is skipped by the secret scan, and the verdicts, kept on disk,
spare the engine's questions in the next grading but are never taken from a file that is not ours alone."""

from __future__ import annotations

import json
import os

import pytest

from dockyard.probes import standins

IMAGES = {  # id -> (diff ids, comment, history comments)
    "sha256:standin": (["sha256:base-layer"], "Imported from -", ["Imported from -"]),
    "sha256:built-from-it": (["sha256:base-layer", "sha256:app-layer"], "", ["", "Imported from -"]),
    "sha256:forged-label": (["sha256:secret-layer"], "", [""]),  # FROM scratch + LABEL dockyard.standin=true
}


class Engine:
    """The three calls the verdicts need, counted: the engine's answers are not what is under test here."""

    def __init__(self):
        self.asked = 0
        self.api = self

    def images(self, filters):
        return [{"Id": image_id} for image_id in IMAGES]

    def inspect_image(self, image_id):
        self.asked += 1
        layers, comment, _ = IMAGES[image_id]
        return {"RootFS": {"Layers": layers}, "Comment": comment}

    def history(self, image_id):
        self.asked += 1
        return [{"Comment": comment} for comment in IMAGES[image_id][2]]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKYARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(standins, "_verdicts", {})  # each test a new process
    return tmp_path / "cache" / standins.CACHE_NAME


def test_only_an_imported_one_layer_image_counts(cache):
    assert standins.layers(Engine()) == {"sha256:base-layer"}


def test_the_next_grading_asks_the_engine_nothing_it_was_told(cache, monkeypatch):
    standins.layers(Engine())
    assert json.loads(cache.read_text())["sha256:forged-label"] == []
    monkeypatch.setattr(standins, "_verdicts", {})
    engine = Engine()
    assert standins.layers(engine) == {"sha256:base-layer"} and engine.asked == 0


def test_a_verdict_file_others_may_write_is_not_believed(cache, monkeypatch):
    standins.layers(Engine())
    cache.write_text(json.dumps({image_id: ["sha256:secret-layer"] for image_id in IMAGES}))  # planted
    os.chmod(cache, 0o666)
    monkeypatch.setattr(standins, "_verdicts", {})
    engine = Engine()
    assert standins.layers(engine) == {"sha256:base-layer"} and engine.asked > 0
