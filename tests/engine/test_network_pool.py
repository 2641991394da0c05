"""The pool of ready grading networks (engine/network_pool.py): one grading at a time, checked empty, freed by
death, never leaked; and a grading without a free slot makes a network of its own as before."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from dockyard.engine import gc, network_pool
from dockyard.engine.labels import KINDS, RUN_LABEL
from dockyard.sandbox import Sandbox
from tests.helpers import TEST_BASE


@pytest.fixture
def one_slot(monkeypatch, tmp_path):
    """A pool of one slot with lock files of this test's own, so no other grading on this host takes part."""
    monkeypatch.setenv("DOCKYARD_NETWORK_POOL", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    name, _ = network_pool.names(None, 0)
    yield name
    network_pool.remove_idle(Sandbox("test-pool").client, None)


def test_a_leased_network_is_one_gradings_alone_then_the_next_ones(one_slot, docker_client):
    with Sandbox("test-pool-a") as first:
        assert first.network() == one_slot
        attrs = docker_client.api.inspect_network(one_slot)
        assert attrs["Options"]["com.docker.network.bridge.name"].startswith("dy")  # the grading bridges' rules
        assert RUN_LABEL not in attrs["Labels"] and network_pool.POOL_LABEL in attrs["Labels"]
        with Sandbox("test-pool-b") as second:  # the slot is taken: a network of its own, swept with its run
            assert second.network() != one_slot
            own = second.network()
        assert all(n.name != own for n in docker_client.networks.list(names=[own]))
        first.start(TEST_BASE, ports=(), command=["sleep", "60"])
        run_id = first.run_id
    assert gc.leftovers(run_ids=[run_id]) == dict.fromkeys(KINDS, 0)
    assert not docker_client.api.inspect_network(one_slot)["Containers"]  # handed back empty
    with Sandbox("test-pool-c") as third:
        assert third.network() == one_slot


def test_a_slot_with_a_container_still_attached_is_passed_over(one_slot, docker_client):
    with Sandbox("test-pool-d") as box:
        box.network()
    stray = docker_client.containers.run(TEST_BASE, ["sleep", "60"], detach=True,
                                         network=one_slot, labels={RUN_LABEL: "test-pool-stray"})
    try:
        with Sandbox("test-pool-e") as box:
            assert box.network() != one_slot  # never shares a bridge with a container of another run
    finally:
        stray.remove(force=True)
    with Sandbox("test-pool-f") as box:
        assert box.network() == one_slot


def test_a_killed_holder_frees_its_slot(one_slot, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""\
        import sys, time
        from dockyard.sandbox import Sandbox
        box = Sandbox("test-pool-holder")
        print(box.network(), flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == one_slot
        with Sandbox("test-pool-g") as box:
            assert box.network() != one_slot  # held by a live process
    finally:
        holder.kill()
        holder.wait()
    with Sandbox("test-pool-h") as box:
        assert box.network() == one_slot  # the kernel dropped the dead holder's lock


def test_clean_all_removes_idle_pool_networks_and_the_build_network(one_slot, docker_client):
    with Sandbox("test-pool-i") as box:
        box.network()
        box.build_network()
    removed = gc.sweep(everything=True)
    assert removed["network"] >= 1
    assert not [n for n in docker_client.networks.list(names=[one_slot]) if n.name == one_slot]
    assert not [n for n in docker_client.networks.list(names=["dockyard-build"]) if n.name == "dockyard-build"]
