"""The labelled-resource lifecycle: sweep what a run (or a dead run) left, count what is left, prune build cache.

The sandbox sweeps its own run on close; `dockyard clean`, the notebooks and the suite sweep and count here too.
Order matters: containers before the networks and volumes they hold, images last.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from dockyard import engine
from dockyard.engine import build_network, network_pool, runs
from dockyard.engine.labels import KINDS, OWNER_LABEL, RUN_LABEL, STANDIN_LABEL


def sweep(engine_url: str | None = None, run_id: str | None = None, everything: bool = False) -> dict[str, int]:
    """Remove labelled resources: one run's (`run_id`), dead runs' (default), or all (`everything`).

    Order matters: containers before the networks and volumes they hold, images last. A sweep of dead runs
    (or of all) first waits for the teardowns under way (engine/runs.py): their makers have ended, but
    their detached copies are removing what they made.
    Returns how many of each kind were removed.
    """
    if not run_id:
        runs.wait_for_teardowns()
    client = engine.client(engine_url)
    label = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL

    def chosen(resource_labels: dict | None) -> bool:
        return bool(run_id or everything) or runs.maker_is_dead(resource_labels)

    api = client.api  # raw listings: another run removing its own things must not break this sweep
    flt = {"label": label}

    def remove_container(container) -> bool:
        # retried like the rest: under load the engine can refuse a removal for a moment, and a container
        # left here holds its network and image too
        try:
            retry(lambda: api.remove_container(container["Id"], force=True, v=True), reraise=True)
            return True
        except Exception:
            return False

    def remove_network(network) -> bool:
        # a network stays "in use" for a moment after the containers on it are removed, longer on a busy
        # engine: wait up to ~10 s for it (only a network that will not go costs the wait)
        retry(lambda: api.remove_network(network["Id"]), attempts=9)
        return True

    def remove_volume(volume) -> bool:
        retry(lambda: api.remove_volume(volume["Name"], force=True))
        return True

    def remove_image(image) -> bool:
        return _remove_labelled_chain(client, image["Id"])

    # Containers first (they hold the networks, volumes and images); then the rest, all at once:
    # each removal is an engine round trip of its own, and a grading waits for its sweep.
    containers = [("container", remove_container, c) for c in api.containers(all=True, filters=flt)
                  if chosen(c.get("Labels"))]
    removed = dict.fromkeys(KINDS, 0)
    _remove_all(containers, removed)
    rest = [("network", remove_network, n) for n in api.networks(filters=flt) if chosen(n.get("Labels"))]
    rest += [("volume", remove_volume, v) for v in api.volumes(filters=flt).get("Volumes") or []
             if chosen(v.get("Labels"))]
    # stand-in bases carry no run label, so they are never listed here
    rest += [("image", remove_image, i) for i in api.images(filters=flt) if chosen(i.get("Labels"))]
    _remove_all(rest, removed)
    if everything:  # the shared build network and the pool's belong to no run: only "all" removes them (when idle)
        removed["network"] += build_network.remove_if_idle(client) + network_pool.remove_idle(client, engine_url)
    return removed


def _remove_all(work: list, removed: dict[str, int]) -> None:
    """Run (kind, remove, resource) removals side by side; count those that removed something."""
    if len(work) <= 1:
        results = [remove(resource) for _, remove, resource in work]
    else:
        with ThreadPoolExecutor(max_workers=min(8, len(work))) as pool:
            results = list(pool.map(lambda job: job[1](job[2]), work))
    for (kind, _, _), ok in zip(work, results):
        removed[kind] += bool(ok)


def _remove_labelled_chain(client, image_id: str) -> bool:
    """Remove an image and those of its parents that are the builder's per-run LABEL steps (they carry the run
    label, or, on images built before labels.image_labels, this run's owner label: no later grading can reuse
    them), but keep the learner's own steps and the constant label steps below them: they are the build cache
    the next grading reuses."""
    removed = False
    owner = None
    while image_id:
        try:
            image = client.images.get(image_id)
        except Exception:
            return removed
        parent = image.attrs.get("Parent") or ""
        if owner is None:
            owner = (image.labels or {}).get(OWNER_LABEL, "")
        try:
            client.images.remove(image.id, force=True, noprune=True)
            removed = True
        except Exception:
            return removed
        if not parent:
            return removed
        try:
            parent_labels = client.images.get(parent).labels or {}
        except Exception:
            return removed
        if RUN_LABEL not in parent_labels and not (owner and parent_labels.get(OWNER_LABEL) == owner):
            return removed
        image_id = parent
    return removed


def gone(exc: BaseException) -> bool:
    """The engine says the thing to remove does not exist (docker-py's NotFound, for a 404): done already."""
    import docker.errors

    return isinstance(exc, docker.errors.NotFound)


def retry(action, attempts: int = 5, pause_s: float = 0.2, reraise: bool = False) -> None:
    """Remove something the engine may still hold for a moment (a network a container just left): try again,
    a little later each time. Gone already counts as done. After the last attempt: give up quietly (a sweep
    goes on with the rest, and the next sweep tries again), or raise (`reraise`: a notebook says what failed)."""
    for attempt in range(attempts):
        try:
            action()
            return
        except Exception as exc:
            if gone(exc):
                return
            if reraise and attempt == attempts - 1:
                raise
            time.sleep(pause_s * (attempt + 1))


def leftovers(engine_url: str | None = None, run_ids: list[str] | None = None,
              orphaned_only: bool = False) -> dict[str, int]:
    """How many labelled resources exist now (the figure tests and benchmarks assert to be 0): all, or some
    runs'. `orphaned_only` counts only those whose maker is dead or is this very process: what is left
    once this process's gradings are over, while other people's gradings run on the same engine.
    Teardowns under way (of those runs, or of any) are waited for first: what they remove is no leftover."""
    runs.wait_for_teardowns(run_ids)
    client = engine.client(engine_url)
    labels = [f"{RUN_LABEL}={run_id}" for run_id in run_ids] if run_ids else [RUN_LABEL]

    def counted(rows: list[dict]) -> int:
        if not orphaned_only:
            return len(rows)
        return sum(1 for row in rows if runs.made_by_me(row.get("Labels")) or runs.maker_is_dead(row.get("Labels")))

    totals = dict.fromkeys(KINDS, 0)
    api = client.api  # one listing call per kind: no per-object inspect that races with removals
    for label in labels:
        flt = {"label": label}
        totals["container"] += counted(api.containers(all=True, filters=flt))
        totals["network"] += counted(api.networks(filters=flt))
        totals["volume"] += counted(api.volumes(filters=flt).get("Volumes") or [])
        totals["image"] += counted(api.images(filters=flt))
    return totals


def dangling_images(engine_url: str | None = None) -> set[str]:
    # a raw listing: an image another run removes meanwhile must not break it (images.list inspects each)
    return {image["Id"] for image in engine.client(engine_url).api.images(filters={"dangling": True})}


BUILDKIT_RECORD = "buildkit:"  # a BuildKit cache record's id, as build_cache() lists it beside image ids


def buildkit_cache_ids(engine_url: str | None = None) -> set[str]:
    """The ids of BuildKit's cache records (`docker system df -v`'s Build cache): the steps BuildKit builds keep."""
    try:
        records = engine.client(engine_url).api.df().get("BuildCache") or []
    except Exception:
        return set()
    return {record["ID"] for record in records if record.get("ID")}


def build_cache(engine_url: str | None = None) -> set[str]:
    """Every build cache entry there is now, of both builders: dangling images (the classic builder's steps) and
    BuildKit's cache records (`buildkit:<id>`). What `prune_build_cache(keep=…)` is given to spare."""
    return dangling_images(engine_url) | {BUILDKIT_RECORD + record for record in buildkit_cache_ids(engine_url)}


def prune_buildkit_cache(engine_url: str | None = None, keep: set[str] | frozenset = frozenset()) -> int:
    """Remove BuildKit's cache records but those in `keep` (`buildkit:<id>`), by id (the engine's /build/prune
    takes an `id` filter): never a blanket `docker builder prune`, so what others' builds hold stays. A record
    with a child cannot go before it: leaves first, round by round."""
    import json

    api = engine.client(engine_url).api
    try:
        records = api.df().get("BuildCache") or []
    except Exception:
        return 0
    doomed = {record["ID"]: record.get("Parent") or "" for record in records
              if record.get("ID") and BUILDKIT_RECORD + record["ID"] not in keep}
    removed = 0
    for _round in range(8):  # a record whose child is still there stays: leaves first, then their parents
        parents = set(doomed.values())
        leaves = sorted(record for record in doomed if record not in parents) or sorted(doomed)
        if not leaves:
            break
        deleted: set[str] = set()
        for record in leaves:  # one id a call: the engine's filter matches one id only when given several
            try:
                response = api._post(api._url("/build/prune"), params={
                    "all": "true", "filters": json.dumps({"id": [record]})})
                deleted |= set(api._result(response, True).get("CachesDeleted") or [])
            except Exception:
                continue  # in use by a running build: next time
        if not deleted:
            break
        removed += len(deleted)
        doomed = {record: parent for record, parent in doomed.items() if record not in deleted}
    return removed


def prune_build_cache(engine_url: str | None = None, keep: set[str] | frozenset = frozenset(),
                      buildkit: bool = True) -> int:
    """Remove the build cache gradings leave: dangling images built on the course's stand-in bases.

    A grading keeps the learner's build steps as cache, so re-checking after a one-line edit
    rebuilds from that line only. `batch` prunes what it added at its end and `dockyard clean`
    prunes it all, so a class of 300 does not fill the disk. `keep`: ids to spare.
    """
    client = engine.client(engine_url)
    standins = {image["Id"] for image in client.api.images(filters={"label": f"{STANDIN_LABEL}=true"})
                if RUN_LABEL not in (image.get("Labels") or {})}
    removed = 0
    for image_id in dangling_images(engine_url) - set(keep):
        try:
            ancestry = {layer.get("Id") for layer in client.api.history(image_id)}
        except Exception:
            continue
        if ancestry & standins:
            try:
                client.images.remove(image_id, noprune=False)
                removed += 1
            except Exception:
                pass  # in use by a running build or container: next time
    # BuildKit's records name no image, so no record says it is a grading's: all but `keep` go (`buildkit`)
    return removed + (prune_buildkit_cache(engine_url, keep) if buildkit else 0)
