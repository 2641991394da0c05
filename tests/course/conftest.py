"""This tier talks to the real engine: the session's client, the fixtures' base image and the build-cache
clean-up are autouse here (and only in the engine tiers)."""

from tests.helpers import docker_client, no_build_cache_left, no_leaks, test_base_image  # noqa: F401
