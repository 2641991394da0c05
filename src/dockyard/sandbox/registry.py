"""A registry for one grading: the `registry:2` stand-in, started by the sandbox on the grading's network.

The learner's commands name it `localhost:5000` (static/commandline.py); the engine reaches it on the free
127.0.0.1 port it is published on, which dockerd treats as an insecure registry (127.0.0.0/8), so pushes and
pulls go over plain HTTP through the engine itself, as they would on the learner's machine. Its storage is a
labelled volume of the run: the container and the volume go with the run's sweep. What the rubric asks it
(catalog, tags, a tag's manifest digest) goes through the published port, the registry's own v2 API.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import DockyardError
from dockyard.polling import wait_until

IMAGE = "registry:2"
PORT = 5000
STORAGE = "/var/lib/registry"
READY_S = 20.0
# what the engine pushes: a Docker v2 manifest (an OCI one, for images built that way); the digest of a tag is
# the digest of the manifest the registry stores, which only an Accept naming those types returns
MANIFEST_TYPES = ", ".join(("application/vnd.docker.distribution.manifest.v2+json",
                            "application/vnd.docker.distribution.manifest.list.v2+json",
                            "application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.oci.image.index.v1+json"))


@dataclass(frozen=True)
class GradingRegistry:
    container: object  # docker.models.containers.Container
    host_port: int

    @property
    def address(self) -> str:
        """The engine's name for it: `127.0.0.1:<port>` (what the learner's `localhost:5000` becomes)."""
        return f"127.0.0.1:{self.host_port}"

    def _get(self, path: str, headers: dict | None = None, method: str = "GET"):
        import requests

        return requests.request(method, f"http://{self.address}{path}", headers=headers or {}, timeout=5)

    def catalog(self) -> list[str]:
        """The repositories it holds (`GET /v2/_catalog`)."""
        return list(self._get("/v2/_catalog?n=100").json().get("repositories") or [])

    def tags(self, repository: str) -> list[str]:
        """The tags of a repository (`GET /v2/<name>/tags/list`); empty when it has none."""
        response = self._get(f"/v2/{repository}/tags/list")
        return list((response.json() or {}).get("tags") or []) if response.status_code == 200 else []

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest of the manifest a tag (or digest) names there, as the registry says it (None: unknown)."""
        response = self._get(f"/v2/{repository}/manifests/{reference}", {"Accept": MANIFEST_TYPES}, "HEAD")
        return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None


def start(sandbox) -> GradingRegistry:
    """Start the registry for this grading (labelled, with the sandbox's limits) and wait until it answers."""
    storage = sandbox.volume("registry")
    running = sandbox.start(IMAGE, ports=(PORT,), name="registry",
                            volumes={storage: {"bind": STORAGE, "mode": "rw"}})
    registry = GradingRegistry(running.container, running.ports[PORT])

    def answers() -> bool:
        try:
            return registry._get("/v2/").status_code == 200
        except Exception:  # not listening yet
            return False

    if not wait_until(answers, READY_S, 0.1, backoff=1.5, max_interval_s=1.0):
        raise DockyardError(f"the grading's registry ({IMAGE}) did not answer on {registry.address} within "
                            f"{READY_S:.0f} s: {sandbox.logs(running.container)[-300:]}")
    return registry
