"""The base images' pure parts: recipes as data, their hashes, the mirror, the tarball cache and its lock."""

from __future__ import annotations

import threading
import time

import pytest

from dockyard import baseimages
from dockyard.baseimages import recipes
from dockyard.errors import BaseImageUnavailable
from dockyard.sandbox import build


def test_course_images_name_every_base_image_the_course_uses():
    assert recipes.course_images() == [
        "debian:bookworm-slim", "python:3.11-slim", "python:3.11", "redis:7", "registry:2"]
    assert all(recipes.recipe_for(image) for image in recipes.course_images())


def test_recipe_hash_is_stable_and_follows_the_recipe_and_its_base():
    slim = recipes.recipe_for("python:3.11-slim")
    full = recipes.recipe_for("python:3.11")
    assert recipes.recipe_hash(slim) == recipes.recipe_hash(slim)
    assert len({recipes.recipe_hash(r) for r in recipes.RECIPES}) == len(recipes.RECIPES)
    changed = recipes.Recipe(**{**slim.__dict__, "packages": slim.packages + ("curl",)})
    assert recipes.recipe_hash(changed) != recipes.recipe_hash(slim)
    assert f"{recipes.RECIPE_LABEL}={recipes.recipe_hash(full)}" in " ".join(recipes.import_changes(full))
    assert f"LABEL {recipes.STANDIN_LABEL}=true" in recipes.import_changes(full)


def test_a_standin_of_an_older_recipe_is_not_current_but_a_pulled_image_is():
    recipe = recipes.recipe_for("redis:7")
    current = {recipes.STANDIN_LABEL: "true", recipes.RECIPE_LABEL: recipes.recipe_hash(recipe)}
    assert baseimages._is_current("redis:7", current)
    assert not baseimages._is_current("redis:7", {**current, recipes.RECIPE_LABEL: "0" * 64})
    assert baseimages._is_current("redis:7", {"maintainer": "upstream"})


def test_the_mirror_comes_from_the_hosts_debian_sources():
    deb822 = ("deb822\nTypes: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
              "Components: main\n\nTypes: deb\nURIs: http://security.example/debian-security\n"
              "Suites: bookworm-security\nComponents: main\n")
    assert baseimages.debian_mirror([deb822]) == ("http://mirror.example/debian",
                                                  "http://security.example/debian-security")
    one_line = "deb [arch=amd64 signed-by=/k.gpg] http://local.example/debian/ bookworm main\n"
    assert baseimages.debian_mirror([one_line])[0] == "http://local.example/debian"
    ubuntu = "deb http://archive.ubuntu.com/ubuntu jammy main\n"
    assert baseimages.debian_mirror([ubuntu]) == (baseimages.DEFAULT_MIRROR, baseimages.DEFAULT_SECURITY_MIRROR)


def test_the_mirror_can_be_overridden(monkeypatch):
    monkeypatch.setenv("DOCKYARD_DEBIAN_MIRROR", "http://override.example/debian")
    assert baseimages.debian_mirror([])[0] == "http://override.example/debian"


def test_the_tarball_cache_honours_DOCKYARD_CACHE(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKYARD_CACHE", str(tmp_path))
    recipe = recipes.recipe_for("python:3.11-slim")
    tarball = baseimages.cached_tarball(recipe)
    assert tarball.parent == tmp_path / "images"
    assert tarball.name == f"python-3.11-slim-{recipes.recipe_hash(recipe)[:16]}.tar"


def test_a_second_ensure_waits_for_the_first(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKYARD_CACHE", str(tmp_path))
    said: list[str] = []
    order: list[str] = []
    with baseimages._cache_lock(lambda image, message: None):
        def second() -> None:
            with baseimages._cache_lock(lambda image, message: said.append(message)):
                order.append("second")

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        order.append("first")
    waiter.join(5)
    assert order == ["first", "second"]
    assert said and "waiting" in said[0]


def test_no_debootstrap_and_no_apt_gives_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKYARD_CACHE", str(tmp_path))
    monkeypatch.setattr(baseimages, "_find_debootstrap", lambda: None)
    monkeypatch.setattr(baseimages.shutil, "which", lambda name: None)
    monkeypatch.setattr(baseimages.os, "geteuid", lambda: 0)
    builder = baseimages._Builder(client=None, say=lambda image, message: None, local={})
    with pytest.raises(BaseImageUnavailable) as caught:
        builder._preflight("python:3.11-slim")
    assert "debootstrap" in caught.value.one_line() and "\n" not in caught.value.one_line()
    assert "apt-get install debootstrap" in caught.value.hint


def test_a_base_image_that_cannot_resolve_offline_names_the_tags_there_are():
    said = build.explain_build_error("manifest for python:3.11.9-slim not found: manifest unknown", "FROM python:3.11.9-slim")
    assert "python:3.11.9-slim is not on this machine" in said and "python:3.11.2-slim" in said and "\n" not in said
    assert "Debian 12's Python, 3.11.2" in said and len(said) <= 300  # why that patch release is not here
    pinned = build.explain_build_error("manifest unknown", "FROM python:3.11.2-slim@sha256:" + "0" * 64)
    assert "digest pin names upstream's exact bytes" in pinned and "python:3.11-slim" in pinned
    assert "@sha256:000000000000…" in pinned and len(pinned) <= 300 and "patch release" not in pinned


def test_an_unpinned_base_image_s_explanation_fits_the_feedback_whole():
    """`FROM python` on a machine with many python tags: the advice keeps its end (it was cut at 300 characters
    mid-word: "(`dockyard images` l…")."""
    said = build.explain_build_error("pull access denied for python, repository does not exist", "FROM python")
    assert len(said) <= 300 and said.endswith("(`dockyard images` lists them)"), said
    tags = recipes.known_tags("python")
    assert len(tags) > build.SHOWN_TAGS and f"and {len(tags) - build.SHOWN_TAGS} more" in said
    assert "python:3.11-slim" in said and "python:3.11," in said  # the short names, each a working FROM
