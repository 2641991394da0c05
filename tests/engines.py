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

    def start(self, timeout_s: float = 60) -> "ExtraEngine":
        data_root = self.root / "data"
        data_root.mkdir(parents=True, exist_ok=True)
        if self.tmpfs_size and not os.path.ismount(data_root):
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.tmpfs_size}", "tmpfs", str(data_root)], check=True)
        exec_root = Path("/run") / f"dockyard-{self.name}"  # short: the exec root holds unix sockets
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
                raise RuntimeError(f"dockerd {self.name} exited: {(self.root / 'dockerd.log').read_text()[-800:]}")
            if self.socket.exists() and subprocess.run(["docker", "-H", self.url, "version"], capture_output=True).returncode == 0:
                return self
            time.sleep(0.5)
        raise RuntimeError(f"dockerd {self.name} did not answer within {timeout_s} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

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
        self.stop()
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
