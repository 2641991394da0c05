"""The course's base images: pulled when a registry answers, else offline stand-ins built from Debian.

A stand-in is a Debian bookworm root filesystem (`debootstrap --variant=minbase`, done once per build
and copied for each image) plus a recipe's packages, files and shell commands, tarred and imported with
the upstream name as its tag and the upstream image's config (`CMD`, `ENV`, `WORKDIR`, ports, volumes)
set through `docker import --change`. Recipes are data (`baseimages.recipes.RECIPES`); the builder is one
loop over them.

Every stand-in carries `dockyard.standin=true` and `dockyard.recipe=<hash of its recipe>`, so it is
rebuilt only when its recipe changes, and the host's CA certificates, so HTTPS inside builds works
where the host's traffic passes an intercepting proxy. Exported tarballs stay in the cache folder
(`$DOCKYARD_CACHE/images`, default `~/.cache/dockyard/images`), so a reset engine is refilled by
`docker import` in seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from dockyard import engine, scratch
from dockyard.baseimages.recipes import (APT_INSTALL, CLEANUP_COMMANDS, IMAGE_CA_BUNDLE, MINBASE_COMMANDS,
                                         MINBASE_FILES, PATH, RECIPE_LABEL, SUITE, VARIANT, File, Recipe, course_images,
                                         import_changes, recipe_for, recipe_hash, require_recipe, split_reference)
from dockyard.engine.labels import STANDIN_LABEL
from dockyard.errors import BaseImageUnavailable, EngineUnavailable
from dockyard.text import one_line

Progress = Callable[[str, str], None]

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# A pull that makes no progress for this long counts as "no registry" (here Docker Hub does not resolve,
# so the pull fails at once; a black-holed registry would otherwise hang for minutes).
PULL_STALL_SECONDS = 15.0
# Free space a build from nothing needs in the cache folder (root filesystems + tarballs).
MIN_FREE_CACHE_BYTES = 4 * 2**30
HOST_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, Arch
)
CHROOT_ENV = {
    "PATH": PATH,
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
}


@dataclass(frozen=True)
class ImageStatus:
    image: str
    action: str  # "present" | "pulled" | "imported-from-cache" | "built"
    seconds: float
    detail: str = ""


# --- the public API -----------------------------------------------------------------------------


def present(client, image: str) -> bool:
    """The image is there and usable: pulled from a registry, or a stand-in of the current recipe."""
    import docker.errors

    try:
        labels = (client.api.inspect_image(image).get("Config") or {}).get("Labels") or {}
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(f"the Docker engine failed to inspect {image}: {exc}") from None
    return _is_current(image, labels)


def cache_dir() -> Path:
    """Where exported stand-in tarballs are kept: `$DOCKYARD_CACHE/images` or `~/.cache/dockyard/images`."""
    return scratch.cache_root() / "images"


def cached_tarball(recipe: Recipe) -> Path:
    return cache_dir() / f"{_safe(recipe.repository)}-{_safe(recipe.tag)}-{recipe_hash(recipe)[:16]}.tar"


def ensure(client, images: Iterable[str] | None = None, progress: Progress | None = None,
           force: bool = False) -> list[ImageStatus]:
    """Make every image present: leave it, pull it, import it from the cache, or build a stand-in.

    `force` ignores what is present and what is cached (a pull is still tried first). Raises
    BaseImageUnavailable when an image can neither be pulled nor built.
    """
    wanted = list(dict.fromkeys(images if images is not None else course_images()))
    say = _safe_progress(progress)
    started = time.monotonic()
    statuses: dict[str, ImageStatus] = {}
    if not force:
        local = _local_labels(client)
        for image in wanted:
            if image in local and _is_current(image, local[image]):
                statuses[image] = ImageStatus(image, "present", time.monotonic() - started)
        for image in statuses:
            recipe = recipe_for(image)
            if recipe is not None:
                tag_aliases(client, recipe, local)
    todo = [image for image in wanted if image not in statuses]
    if todo:
        with _cache_lock(say):
            statuses.update(_provide(client, todo, say, force))
    return [statuses[image] for image in wanted]


# --- finding what is there ------------------------------------------------------------------------


def _is_current(image: str, labels: dict) -> bool:
    if labels.get(STANDIN_LABEL) != "true":
        return True  # the real (pulled) image
    recipe = recipe_for(image)
    return recipe is None or labels.get(RECIPE_LABEL) == recipe_hash(recipe)


def _local_labels(client) -> dict[str, dict]:
    """tag -> labels of every local image, in one API call (the summaries carry the labels)."""
    import docker.errors

    try:
        summaries = client.api.images()
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(f"the Docker engine failed to list images: {exc}") from None
    return {tag: summary.get("Labels") or {} for summary in summaries for tag in summary.get("RepoTags") or ()}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def _safe_progress(progress: Progress | None) -> Progress:
    lock = threading.Lock()

    def say(image: str, message: str) -> None:
        if progress is not None:
            with lock:
                progress(image, message)

    return say


@contextlib.contextmanager
def _cache_lock(say: Progress) -> Iterator[None]:
    """One `ensure` at a time per cache folder, so two concurrent calls never build twice."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("base images", f"waiting for another dockyard to finish with {folder}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- providing what is missing ---------------------------------------------------------------------


def _provide(client, todo: list[str], say: Progress, force: bool) -> dict[str, ImageStatus]:
    statuses: dict[str, ImageStatus] = {}
    local = _local_labels(client)  # again: another process may have provided them while we waited
    registry_down: str | None = None
    to_build: list[Recipe] = []
    to_import: list[Recipe] = []
    for image in todo:
        started = time.monotonic()
        if not force and image in local and _is_current(image, local[image]):
            statuses[image] = ImageStatus(image, "present", 0.0)
            continue
        if registry_down is None:
            say(image, "pulling")
            error = _pull(client, image)
            if error is None:
                statuses[image] = ImageStatus(image, "pulled", time.monotonic() - started)
                continue
            if _looks_like_no_registry(error):
                registry_down = error  # no use asking again for the next images
            why = error
        else:
            why = registry_down
        recipe = recipe_for(image)
        if recipe is None:
            raise BaseImageUnavailable(
                image, f"pull failed ({one_line(why)}) and there is no offline recipe for it",
                "make the registry reachable, or add a recipe to dockyard.baseimages.RECIPES")
        if not force and cached_tarball(recipe).is_file():
            to_import.append(recipe)
        else:
            say(image, f"not pulled ({one_line(why)[:90]}): building an offline stand-in from Debian")
            to_build.append(recipe)

    def import_cached(recipe: Recipe) -> ImageStatus:
        started = time.monotonic()
        tarball = cached_tarball(recipe)
        say(recipe.image, f"importing from the cache ({tarball.name})")
        _import(client, recipe, tarball, local.get(recipe.image))
        return ImageStatus(recipe.image, "imported-from-cache", time.monotonic() - started, str(tarball))

    # Two imports at a time: the engine unpacks one while the next streams in.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="import") as pool:
        imports = [(recipe, pool.submit(import_cached, recipe)) for recipe in to_import]
    for recipe, future in imports:
        try:
            statuses[recipe.image] = future.result()
        except BaseImageUnavailable:
            cached_tarball(recipe).unlink(missing_ok=True)  # a broken tarball: build it again
            say(recipe.image, "the cached tarball would not import: building an offline stand-in from Debian")
            to_build.append(recipe)
    if to_build:
        statuses.update(_Builder(client, say, local).build(to_build))
    return statuses


def _pull(client, image: str) -> str | None:
    """Pull, giving up once the pull has made no progress for PULL_STALL_SECONDS; None when pulled."""
    repository, tag = split_reference(image)
    outcome: dict[str, object] = {"last": time.monotonic()}

    def run() -> None:
        try:
            for message in client.api.pull(repository, tag=tag, stream=True, decode=True):
                outcome["last"] = time.monotonic()
                if isinstance(message, dict) and message.get("error"):
                    outcome["error"] = str(message["error"])
                    return
            outcome["done"] = True
        except Exception as exc:  # APIError, connection errors: all mean "not pulled"
            outcome["error"] = getattr(exc, "explanation", None) or str(exc)

    worker = threading.Thread(target=run, name=f"pull {image}", daemon=True)
    worker.start()
    while worker.is_alive() and time.monotonic() - float(outcome["last"]) < PULL_STALL_SECONDS:
        worker.join(0.2)
    if worker.is_alive():
        return f"the pull made no progress for {PULL_STALL_SECONDS:.0f} s"
    if outcome.get("done"):
        return None
    return str(outcome.get("error") or "the pull failed")


def _looks_like_no_registry(error: str) -> bool:
    text = error.lower()
    return any(sign in text for sign in (
        "no such host", "no progress", "timeout", "timed out", "connection refused", "network is unreachable",
        "dial tcp", "tls handshake", "i/o timeout", "temporary failure in name resolution"))


def tag_aliases(client, recipe: Recipe, local: dict[str, dict] | None = None) -> None:
    """Give a stand-in its recipe's other upstream tags (never a pulled image: its patch release differs)."""
    import docker.errors

    if not recipe.aliases:
        return
    try:
        attrs = client.api.inspect_image(recipe.image)
        image_id, labels = attrs["Id"], (attrs.get("Config") or {}).get("Labels") or {}
        if labels.get(STANDIN_LABEL) != "true":
            return
        for alias in recipe.aliases:
            if local is not None and alias in local and local[alias].get(RECIPE_LABEL) == labels.get(RECIPE_LABEL):
                continue
            repository, tag = split_reference(alias)
            client.api.tag(image_id, repository, tag, force=True)
    except docker.errors.DockerException as exc:
        raise BaseImageUnavailable(recipe.image, f"tagging its aliases failed: {one_line(exc)}",
                                   "check the engine's log, then run `dockyard images`") from None


def _import(client, recipe: Recipe, tarball: Path, old_labels: dict | None = None) -> None:
    """`docker import` the tarball under the upstream name, with the upstream config and our labels."""
    import docker.errors

    old_id = None
    with contextlib.suppress(docker.errors.DockerException):
        old_id = client.api.inspect_image(recipe.image)["Id"]
    try:
        client.api.import_image(src=str(tarball), repository=recipe.repository, tag=recipe.tag,
                                changes=import_changes(recipe))
        labels = client.api.inspect_image(recipe.image)["Config"].get("Labels") or {}
    except docker.errors.DockerException as exc:
        raise BaseImageUnavailable(recipe.image, f"docker import of {tarball} failed: {one_line(exc)}",
                                   "check the engine's log and free disk space, then run `dockyard images`") from None
    if labels.get(RECIPE_LABEL) != recipe_hash(recipe):
        raise BaseImageUnavailable(recipe.image, "the imported image lacks its recipe label",
                                   "run `dockyard images --force`")
    tag_aliases(client, recipe)
    # The stand-in it replaces is now untagged: drop it unless a container still uses it.
    if old_id and old_id != client.api.inspect_image(recipe.image)["Id"] and (old_labels or {}).get(STANDIN_LABEL):
        with contextlib.suppress(docker.errors.DockerException):
            client.api.remove_image(old_id)


# --- the offline builder ---------------------------------------------------------------------------


def debian_mirror(sources_texts: Iterable[str] | None = None, suite: str = SUITE) -> tuple[str, str]:
    """(main mirror, security mirror) for `suite`, from the host's apt sources or Debian's defaults.

    `DOCKYARD_DEBIAN_MIRROR` overrides the main mirror. Only http(s) URIs that serve `suite` count, so an
    Ubuntu host (or a third-party repository) falls back to deb.debian.org.
    """
    if sources_texts is None:
        sources_texts = _host_sources()
    main = security = None
    for uri, suites in _parse_sources(sources_texts):
        if not uri.startswith(("http://", "https://")):
            continue
        if main is None and suite in suites:
            main = uri
        if security is None and (f"{suite}-security" in suites or f"{suite}/updates" in suites):
            security = uri
    main = os.environ.get("DOCKYARD_DEBIAN_MIRROR") or main or DEFAULT_MIRROR
    return main.rstrip("/"), (security or DEFAULT_SECURITY_MIRROR).rstrip("/")


def _host_sources() -> list[str]:
    paths = [Path("/etc/apt/sources.list")]
    folder = Path("/etc/apt/sources.list.d")
    if folder.is_dir():
        paths += sorted(p for p in folder.iterdir() if p.suffix in (".list", ".sources"))
    texts = []
    for path in paths:
        with contextlib.suppress(OSError):
            texts.append(("deb822\n" if path.suffix == ".sources" else "") + path.read_text())
    return texts


def _parse_sources(texts: Iterable[str]) -> Iterator[tuple[str, set[str]]]:
    """(uri, suites) from one-line `.list` texts and deb822 `.sources` texts (marked by a first `deb822` line)."""
    for text in texts:
        if text.startswith("deb822\n"):
            for stanza in re.split(r"\n\s*\n", text[len("deb822\n"):]):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    yield uri, set(fields.get("suites", "").split())
        else:
            for line in text.splitlines():
                line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
                if len(line) >= 3 and line[0] == "deb":
                    yield line[1], {line[2]}


def _sources_file(main: str, security: str) -> str:
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    return (f"Types: deb\nURIs: {main}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\nSigned-By: {keyring}\n\n"
            f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\nSigned-By: {keyring}\n")


def host_ca_bundle() -> Path | None:
    return next((Path(p) for p in HOST_CA_BUNDLES if Path(p).is_file()), None)


def _find_debootstrap() -> str | None:
    return shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.access(p, os.X_OK)), None)


class _Builder:
    """Builds stand-ins: one minbase, a copy of it per image, two images in flight (stage, then pack)."""

    def __init__(self, client, say: Progress, local: dict[str, dict]):
        self.client = client
        self.say = say
        self.local = local

    def build(self, recipes: list[Recipe]) -> dict[str, ImageStatus]:
        names = ", ".join(r.image for r in recipes)
        self._preflight(names)
        folder = cache_dir()
        self._sweep_old_work(folder / "work")
        (folder / "work").mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=folder / "work"))
        statuses: dict[str, ImageStatus] = {}
        try:
            started = time.monotonic()
            minbase = self._minbase(work, names)
            order = self._stage_order(recipes)
            wanted = {r.image for r in recipes}
            staged: dict[str, Path] = {}
            begun: dict[str, float] = {}
            packing: dict[str, Future] = {}
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack") as packer:
                for index, recipe in enumerate(order):
                    begun[recipe.image] = time.monotonic()
                    root = work / _safe(recipe.image)
                    source = staged[recipe.base] if recipe.base else minbase
                    self.say(recipe.image, f"copying the root filesystem of {recipe.base or 'minbase'}")
                    self._copy_tree(source, root, recipe.image)
                    self._stage(recipe, root)
                    staged[recipe.image] = root
                    later = order[index + 1:]
                    for image, tree in list(staged.items()):
                        if any(r.base == image for r in later) or image in packing:
                            continue
                        if image in wanted:
                            packing[image] = packer.submit(self._pack, require_recipe(image), tree)
                        else:
                            packing[image] = packer.submit(self._remove_tree, tree)
                first = next(r.image for r in order if r.image in wanted)  # it carries the shared debootstrap
                for image, future in packing.items():
                    finished = future.result()  # raises what packing raised
                    if image in wanted:
                        seconds = finished - (started if image == first else begun[image])
                        statuses[image] = ImageStatus(image, "built", seconds, str(cached_tarball(require_recipe(image))))
        finally:
            self._remove_tree(work)
        return statuses

    # steps ---------------------------------------------------------------------------------------

    def _preflight(self, names: str) -> None:
        if os.geteuid() != 0:
            raise BaseImageUnavailable(
                names, "building an offline stand-in needs root (debootstrap, chroot, mount)",
                "run `sudo .venv/bin/dockyard images` once, or make the registry (Docker Hub) reachable")
        if _find_debootstrap() is None and shutil.which("apt-get"):
            self.say("base images", "installing debootstrap (apt-get install debootstrap)")
            for argv in (["apt-get", "install", "-y", "-q", "debootstrap"], ["apt-get", "update", "-q"],
                         ["apt-get", "install", "-y", "-q", "debootstrap"]):
                subprocess.run(argv, capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                               timeout=600)
                if _find_debootstrap():
                    break
        if _find_debootstrap() is None:
            raise BaseImageUnavailable(
                names, "debootstrap is not installed",
                "install debootstrap (apt-get install debootstrap) or make the registry (Docker Hub) reachable")
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
        if free < MIN_FREE_CACHE_BYTES:
            raise BaseImageUnavailable(
                names, f"only {free / 2**30:.1f} GiB free in {folder}; building needs {MIN_FREE_CACHE_BYTES / 2**30:.0f} GiB",
                "free some space (or set DOCKYARD_CACHE to a roomier folder), then run `dockyard images`")

        try:
            engine_free = engine.free_bytes_on_data_root(self.client)
        except Exception:  # the data root is not visible from here (a remote engine): nothing to check
            engine_free = None
        if engine_free and engine_free[0] < engine.MIN_FREE_BYTES:
            raise BaseImageUnavailable(
                names, f"only {engine_free[0] / 2**30:.1f} GiB free on the Docker data root ({engine_free[1]})",
                "free some space, e.g. `docker system prune`, then run `dockyard images`")

    def _stage_order(self, recipes: list[Recipe]) -> list[Recipe]:
        """The recipes to stage, bases (even ones already present) before what derives from them."""
        order: list[Recipe] = []

        def add(recipe: Recipe) -> None:
            if recipe in order:
                return
            if recipe.base:
                add(require_recipe(recipe.base))
            order.append(recipe)

        for recipe in recipes:
            add(recipe)
        return order

    def _minbase(self, work: Path, names: str) -> Path:
        main, security = debian_mirror()
        root = work / "minbase"
        self.say("minbase", f"debootstrap --variant={VARIANT} {SUITE} from {main}")
        argv = [_find_debootstrap() or "debootstrap", f"--variant={VARIANT}", "--components=main",
                SUITE, str(root), main]
        rc, last = self._run(argv, "minbase", timeout=900)
        if rc != 0:
            raise BaseImageUnavailable(
                names, f"debootstrap {SUITE} from {main} failed (exit {rc}): {last}",
                f"check that {main} is reachable (or set DOCKYARD_DEBIAN_MIRROR to a Debian mirror), "
                "or make the registry (Docker Hub) reachable")
        self._write_files(root, (*MINBASE_FILES, File("/etc/apt/sources.list.d/debian.sources",
                                                      _sources_file(main, security))))
        self._install_certificates(root)
        (root / "etc/resolv.conf").write_bytes(Path("/etc/resolv.conf").read_bytes()
                                               if Path("/etc/resolv.conf").is_file() else b"")
        self.say("minbase", "apt-get update (bookworm, updates, security)")
        self._chroot(root, MINBASE_COMMANDS, "minbase", names)
        return root

    def _stage(self, recipe: Recipe, root: Path) -> None:
        if recipe.packages:
            self.say(recipe.image, "apt-get install " + " ".join(recipe.packages))
            self._chroot(root, (f"{APT_INSTALL} {' '.join(recipe.packages)}",), recipe.image, recipe.image)
        self._write_files(root, recipe.files)
        if recipe.commands:
            self.say(recipe.image, "running the recipe's commands")
            self._chroot(root, recipe.commands, recipe.image, recipe.image)

    def _pack(self, recipe: Recipe, root: Path) -> float:
        """Clean up, add the host's certificates, tar into the cache, import; then drop the tree."""
        self.say(recipe.image, "cleaning apt lists and caches")
        self._install_certificates(root)
        self._chroot(root, CLEANUP_COMMANDS, recipe.image, recipe.image, mount_proc=False)
        self._install_certificates(root, bundle_only=True)  # update-ca-certificates may have rewritten it
        tarball = cached_tarball(recipe)
        partial = tarball.with_name(tarball.name + ".partial")
        self.say(recipe.image, f"tar → {tarball}")
        rc, last = self._run(["tar", "--numeric-owner", "--one-file-system", "-C", str(root), "-cf", str(partial),
                        "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "--exclude=./run/*", "."],
                       recipe.image, timeout=900)
        if rc != 0:
            partial.unlink(missing_ok=True)
            raise BaseImageUnavailable(recipe.image, f"tar of its root filesystem failed: {last}",
                                       f"check free space in {tarball.parent}, then run `dockyard images`")
        older = re.compile(re.escape(f"{_safe(recipe.repository)}-{_safe(recipe.tag)}-") + r"[0-9a-f]{16}\.tar")
        for stale in tarball.parent.glob("*.tar"):
            if older.fullmatch(stale.name):
                stale.unlink(missing_ok=True)  # an older recipe's tarball
        partial.rename(tarball)
        self._remove_tree(root)
        self.say(recipe.image, "docker import")
        _import(self.client, recipe, tarball, self.local.get(recipe.image))
        return time.monotonic()

    # helpers -------------------------------------------------------------------------------------

    def _install_certificates(self, root: Path, bundle_only: bool = False) -> None:
        """The host's CA bundle as the image's, and its local CAs where update-ca-certificates finds them."""
        bundle = host_ca_bundle()
        if bundle is None:
            return
        target = root / IMAGE_CA_BUNDLE.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        shutil.copyfile(bundle, target)
        os.chmod(target, 0o644)
        local = Path("/usr/local/share/ca-certificates")
        if bundle_only or not local.is_dir():
            return
        for cert in local.rglob("*.crt"):
            destination = root / "usr/local/share/ca-certificates" / cert.relative_to(local)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cert, destination)

    def _write_files(self, root: Path, files: Iterable[File]) -> None:
        for spec in files:
            path = root / spec.path.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()
            path.write_text(spec.content)
            os.chmod(path, spec.mode)

    def _chroot(self, root: Path, commands: Iterable[str], who: str, image: str, mount_proc: bool = True) -> None:
        script = "set -e\n" + "\n".join(commands) + "\n"
        argv = ["chroot", str(root), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in CHROOT_ENV.items()),
                "/bin/sh", "-ec", script]
        with self._proc_mounted(root) if mount_proc else contextlib.nullcontext():
            rc, last = self._run(argv, who, timeout=900)
        if rc != 0:
            raise BaseImageUnavailable(
                image, f"a step of its recipe failed in the chroot (exit {rc}): {last}",
                "check that the Debian mirror is reachable (DOCKYARD_DEBIAN_MIRROR), then run `dockyard images`")

    @contextlib.contextmanager
    def _proc_mounted(self, root: Path) -> Iterator[None]:
        proc = root / "proc"
        proc.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=False, capture_output=True)
        try:
            yield
        finally:
            _unmount_under(root)

    def _run(self, argv: list[str], who: str, timeout: float) -> tuple[int, str]:
        """Run, streaming each output line to the progress callback; (exit code, the telling last line)."""
        tail: list[str] = []
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   errors="replace", env={**os.environ, **{"LANG": "C.UTF-8"}})
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip()
                if line:
                    tail.append(line)
                    del tail[:-20]
                    self.say(who, line[:120])
            rc = process.wait()
        finally:
            timer.cancel()
        useful = [line for line in tail if line.startswith(("E:", "W:"))] or tail
        return rc, (one_line(useful[-1]) if useful else "no output")

    def _copy_tree(self, source: Path, target: Path, image: str) -> None:
        rc, last = self._run(["cp", "-a", "--reflink=auto", str(source), str(target)], image, timeout=600)
        if rc != 0:
            raise BaseImageUnavailable(image, f"copying its root filesystem failed: {last}",
                                       f"check free space in {cache_dir()}, then run `dockyard images`")

    def _remove_tree(self, tree: Path) -> float:
        if _unmount_under(tree):  # never rmtree through a mounted /proc
            shutil.rmtree(tree, ignore_errors=True)
        return time.monotonic()

    def _sweep_old_work(self, folder: Path) -> None:
        """Trees an interrupted build left (we hold the lock, so nobody else is building)."""
        if folder.is_dir():
            for tree in folder.iterdir():
                self._remove_tree(tree)


def _unmount_under(tree: Path) -> bool:
    """Unmount whatever is mounted at or below `tree`; True when nothing is left mounted there."""
    prefix = str(tree.resolve())
    for _ in range(3):
        mounts = []
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mounts").read_text().splitlines():
                point = line.split()[1].replace("\\040", " ")
                if point == prefix or point.startswith(prefix + "/"):
                    mounts.append(point)
        if not mounts:
            return True
        for point in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", point], capture_output=True)
            if os.path.ismount(point):
                subprocess.run(["umount", "-l", point], capture_output=True)
    return False
