"""Extra Docker engines for tests: a second dockerd on its own socket, data root and exec root.

Used to spread a class over two engines, to restart an engine in the middle of a grading
without touching the main one, and to give an engine a tiny (tmpfs) data root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ExtraEngine:
    name: str
    root: Path
    tmpfs_size: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def bridge(self) -> str:
        return f"xb-{self.name}"[:15]

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def exec_root(self) -> Path:
        return Path("/run") / f"dockyard-{self.name}"  # short: the exec root holds unix sockets

    def _kill_stale(self) -> None:
        """A dockerd of this name left by a test run that was killed (with the containerd it started) holds the
        exec root, and every new one then times out waiting for containerd: end them first."""
        marker = f"/run/dockyard-{self.name}/".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if Path(argv[0].decode(errors="replace")).name in ("dockerd", "containerd") and any(
                    arg.startswith(marker) or arg == marker.rstrip(b"/") for arg in argv):
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except ProcessLookupError:
                    continue
                for _ in range(50):  # gone, or a zombie that holds nothing (no state but Z left)
                    try:
                        if (proc / "stat").read_text().split(") ", 1)[1].startswith("Z"):
                            break
                    except (OSError, IndexError):
                        break
                    time.sleep(0.1)

    def start(self, timeout_s: float = 60) -> "ExtraEngine":
        if self.process is None:
            self._kill_stale()
        data_root = self.root / "data"
        data_root.mkdir(parents=True, exist_ok=True)
        if self.tmpfs_size and not os.path.ismount(data_root):
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.tmpfs_size}", "tmpfs", str(data_root)], check=True)
        exec_root = self.exec_root
        # Its own default bridge: `--bridge none` would make dockerd delete the main engine's docker0.
        bridge = self.bridge
        if subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        argv = [
            "dockerd", "--host", self.url, "--data-root", str(data_root), "--exec-root", str(exec_root),
            "--pidfile", str(self.root / "dockerd.pid"), "--bridge", bridge, "--iptables=false", "--ip-masq=false",
            "--storage-driver", "overlay2" if not self.tmpfs_size else "vfs",
            "--containerd-namespace", f"dockyard-{self.name}", "--containerd-plugins-namespace", f"dockyard-{self.name}p",
        ]
        self.process = subprocess.Popen(argv, stdout=open(self.root / "dockerd.log", "ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd {self.name} exited: {self._why()}")
            if self.socket.exists() and subprocess.run(["docker", "-H", self.url, "version"], capture_output=True).returncode == 0:
                return self
            time.sleep(0.5)
        raise RuntimeError(f"dockerd {self.name} did not answer within {timeout_s} s")

    def _why(self) -> str:
        """The log's fatal and panic lines (the last 800 characters are a goroutine dump's tail, saying nothing)."""
        text = (self.root / "dockerd.log").read_text(errors="replace")
        lines = [line for line in text.splitlines()[-400:] if "level=fatal" in line or line.startswith(
            ("panic:", "fatal error:", "failed to start")) or "level=error" in line]
        return "\n".join(lines[-6:])[-1200:] or text[-800:]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                # Its whole process group (it leads one: start_new_session), so the containerd it started
                # cannot outlive it and hold the exec root against the next dockerd.
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(10)
        self.process = None

    def _shared_bridges(self) -> list[str]:
        """The bridges of the networks gradings keep on this engine between gradings (its build network, its pool)."""
        from dockyard.engine import build_network, network_pool

        return [build_network.bridge(self.url),
                *(network_pool.names(self.url, slot)[1] for slot in range(network_pool.MAX_SLOTS))]

    def _remove_shared_networks(self) -> None:
        if not (self.process and self.process.poll() is None):
            return
        import docker

        from dockyard.engine import build_network, network_pool

        try:
            client = docker.DockerClient(base_url=self.url, timeout=10)
            build_network.remove_if_idle(client)
            network_pool.remove_idle(client, self.url)
        except Exception:
            pass  # the interfaces go below all the same

    def restart(self) -> None:
        self.stop()
        for attempt in range(3):  # the old daemon may still be letting go of its exec root
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == 2:
                    raise
                time.sleep(2)

    def destroy(self) -> None:
        self._remove_shared_networks()
        self.stop()
        # an engine stopped with a network still there leaves its bridge in this host's namespace: never ours to keep
        for bridge in self._shared_bridges():
            subprocess.run(["ip", "link", "delete", bridge], capture_output=True)
        data_root = self.root / "data"
        if os.path.ismount(data_root):
            subprocess.run(["umount", "-l", str(data_root)], check=False)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def load_image(from_client, to_url: str, image: str) -> None:
    """Copy an image from the main engine to another one (`docker save | docker load`)."""
    import docker

    target = docker.DockerClient(base_url=to_url)
    try:
        target.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    data = from_client.images.get(image).save(named=True)
    target.images.load(b"".join(data))
