"""The offline stand-ins' recipes, as data: what each of the course's base images holds and how it is made
from Debian's minbase, and the hash that says when a stand-in is out of date. Pure: no engine here.

`RECIPES` is the list the builder loops over (dockyard.baseimages); `recipe_hash` covers everything that
shapes an image, the shared minbase steps included, so a change to any of it rebuilds the stand-ins once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from dockyard.engine.labels import STANDIN_LABEL

RECIPE_LABEL = "dockyard.recipe"
SUITE = "bookworm"
VARIANT = "minbase"
# Bump when the builder itself changes what ends up in an image (cleanup, certificates, apt set-up):
# every recipe hash changes with it, so every stand-in is rebuilt once.
BUILDER_VERSION = 1
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APT_INSTALL = "apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0"


@dataclass(frozen=True)
class File:
    """A file the recipe writes into the root filesystem (after its packages are installed)."""

    path: str
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class Recipe:
    """How to make an offline stand-in for one upstream image.

    `base` names another recipe whose root filesystem (with its packages, before cleanup) this one
    starts from; otherwise it starts from the shared minbase. `changes` are `docker import --change`
    lines in Dockerfile syntax; the stand-in and recipe labels are added to them by the builder.
    """

    image: str
    packages: tuple[str, ...] = ()
    files: tuple[File, ...] = ()
    commands: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    base: str | None = None
    # Other upstream tags that name the same image (the exact Python inside, the Debian release), so
    # a learner's `FROM python:3.11.2-slim` or `python:3.11-slim-bookworm` resolves offline too.
    aliases: tuple[str, ...] = ()

    @property
    def repository(self) -> str:
        return split_reference(self.image)[0]

    @property
    def tag(self) -> str:
        return split_reference(self.image)[1]


# --- the recipes (data) -------------------------------------------------------------------------

# Where the host's traffic passes an intercepting proxy, Python tools that bring their own CA bundle
# (a pip upgraded with pip, requests, a venv's pip) must be told to use the system one, which holds
# the host's certificates.
CA_ENV = (
    f"ENV SSL_CERT_FILE={IMAGE_CA_BUNDLE}",
    f"ENV REQUESTS_CA_BUNDLE={IMAGE_CA_BUNDLE}",
    f"ENV PIP_CERT={IMAGE_CA_BUNDLE}",
)
# Upstream's python is installed under /usr/local (sys.prefix), so `pip install` writes to
# /usr/local/lib/python3.11/site-packages and `pip install --prefix=/install` to
# /install/lib/python3.11/site-packages, which `COPY --from=builder /install /usr/local` makes
# importable. Debian's python3 uses its `posix_local` scheme instead (/install/local/lib/.../dist-packages,
# off sys.path once copied). A pyvenv.cfg in /usr/local makes /usr/local/bin/python a prefix of its own
# over Debian's interpreter, with the same install schemes as upstream, `--user` included.
LOCAL_PREFIX_CFG = "home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.11.2\n"
PIP_SCRIPT = "#!/usr/local/bin/python3.11\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n"
PYDOC_SCRIPT = "#!/usr/local/bin/python3.11\nimport pydoc\npydoc.cli()\n"
PYTHON_CHANGES = (
    f"ENV PATH=/usr/local/bin:{PATH}",  # upstream prepends /usr/local/bin to Debian's PATH
    "ENV LANG=C.UTF-8",
    "ENV PYTHON_VERSION=3.11.2",  # bookworm's python3.11, for its whole life as stable
    *CA_ENV,
    'CMD ["python3"]',
)
REDIS_ENTRYPOINT = r"""#!/bin/sh
# As upstream redis:7's docker-entrypoint.sh: options alone mean "redis-server <options>", and
# redis-server runs with protected mode off (upstream builds it so) unless told otherwise, so other
# containers on the network can reach it. Runs as root in /data (upstream drops to user redis).
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = "redis-server" ]; then
	protected=
	for arg in "$@"; do
		case "$arg" in
			--protected-mode) protected=given ;;
			*.conf) if [ -f "$arg" ] && grep -qiE '^[[:space:]]*protected-mode' "$arg"; then protected=given; fi ;;
		esac
	done
	[ -n "$protected" ] || set -- "$@" --protected-mode no
fi
exec "$@"
"""
REGISTRY_CONFIG = """version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""
REGISTRY_ENTRYPOINT = """#!/bin/sh
# As upstream registry:2's entrypoint: a config file alone means `registry serve <config>`.
set -e
case "$1" in
	*.yaml|*.yml) set -- registry serve "$@" ;;
	serve|garbage-collect|help|-*) set -- registry "$@" ;;
esac
exec "$@"
"""

RECIPES: tuple[Recipe, ...] = (
    Recipe(
        image="debian:bookworm-slim",
        changes=(f"ENV PATH={PATH}", *CA_ENV, 'CMD ["bash"]'),
        aliases=("debian:12-slim",),
    ),
    Recipe(
        image="python:3.11-slim",
        packages=("python3", "python3-pip", "python3-venv", "netbase", "tzdata"),
        files=(
            # pip may install into the system environment, as in the upstream image.
            File("/etc/pip.conf", "[global]\nbreak-system-packages = true\n"),
            File("/usr/local/pyvenv.cfg", LOCAL_PREFIX_CFG),
            *(File(f"/usr/local/bin/{name}", PIP_SCRIPT, 0o755) for name in ("pip", "pip3", "pip3.11")),
            *(File(f"/usr/local/bin/{name}", PYDOC_SCRIPT, 0o755) for name in ("pydoc", "pydoc3", "pydoc3.11")),
        ),
        commands=(
            "rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED",
            "for name in python python3 python3.11; do ln -sf /usr/bin/python3.11 /usr/local/bin/$name; done",
            "ln -sf /usr/bin/python3.11-config /usr/local/bin/python3-config 2>/dev/null || true",
            # Installs land in upstream's folder; Debian's own `posix_local` installs (/usr/bin/pip3) too.
            "mkdir -p /usr/local/lib/python3.11/site-packages",
            "ln -sfn site-packages /usr/local/lib/python3.11/dist-packages",
        ),
        changes=PYTHON_CHANGES,
        aliases=("python:3.11.2-slim", "python:3.11-slim-bookworm", "python:3.11.2-slim-bookworm"),
    ),
    Recipe(
        image="python:3.11",
        base="python:3.11-slim",
        # build-essential for builder stages; the few tools buildpack-deps (upstream's base) has too.
        packages=("build-essential", "python3-dev", "git", "curl", "wget", "procps", "pkg-config"),
        changes=PYTHON_CHANGES,
        aliases=("python:3.11.2", "python:3.11-bookworm", "python:3.11.2-bookworm"),
    ),
    Recipe(
        image="redis:7",
        packages=("redis-server", "redis-tools"),
        files=(File("/usr/local/bin/docker-entrypoint.sh", REDIS_ENTRYPOINT, 0o755),),
        commands=("mkdir -p /data",),
        changes=(
            f"ENV PATH={PATH}",
            *CA_ENV,
            "WORKDIR /data",
            "VOLUME /data",
            "EXPOSE 6379",
            'ENTRYPOINT ["docker-entrypoint.sh"]',
            'CMD ["redis-server"]',
        ),
    ),
    Recipe(
        # An offline stand-in for the local-registry lesson (`docker push localhost:5000/...`).
        image="registry:2",
        packages=("docker-registry",),
        files=(
            File("/etc/docker/registry/config.yml", REGISTRY_CONFIG),
            File("/entrypoint.sh", REGISTRY_ENTRYPOINT, 0o755),
        ),
        commands=("ln -sf docker-registry /usr/bin/registry", "mkdir -p /var/lib/registry"),
        changes=(
            f"ENV PATH={PATH}",
            *CA_ENV,
            "VOLUME /var/lib/registry",
            "EXPOSE 5000",
            'ENTRYPOINT ["/entrypoint.sh"]',
            'CMD ["/etc/docker/registry/config.yml"]',
        ),
    ),
)

# What every stand-in starts from: the shared minbase is set up like upstream's debian slim images
# (deb822 sources with updates and security, no docs or man pages, apt cleaning up after itself).
DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
"""
APT_CLEAN = """DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""
MINBASE_FILES = (
    File("/etc/dpkg/dpkg.cfg.d/docker", DPKG_EXCLUDES),
    File("/etc/dpkg/dpkg.cfg.d/docker-apt-speedup", "force-unsafe-io\n"),
    File("/etc/apt/apt.conf.d/docker-clean", APT_CLEAN),
    File("/etc/apt/apt.conf.d/docker-no-languages", 'Acquire::Languages "none";\n'),
    File("/etc/apt/apt.conf.d/docker-autoremove-suggests", 'Apt::AutoRemove::SuggestsImportant "false";\n'),
    File("/usr/sbin/policy-rc.d", "#!/bin/sh\n# no services start while an image is built\nexit 101\n", 0o755),
)
MINBASE_COMMANDS = (
    "rm -f /etc/apt/sources.list",
    "find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete",
    "find /usr/share/doc -mindepth 1 -type d -empty -delete",
    "rm -rf /usr/share/man/* /usr/share/groff/* /usr/share/info/* /usr/share/lintian/* /usr/share/locale/*",
    "apt-get update -q -o Dpkg::Use-Pty=0",
    "apt-get upgrade -y -q --no-install-recommends -o Dpkg::Use-Pty=0",  # security and point-release fixes
)
CLEANUP_COMMANDS = (
    "apt-get clean",
    "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old",
    "find /var/log -type f -delete",
    "rm -rf /tmp/* /var/tmp/* /root/.cache /usr/sbin/policy-rc.d",
    ": > /etc/resolv.conf",
    "echo localhost > /etc/hostname",
    ": > /etc/machine-id 2>/dev/null || true",
    "if command -v update-ca-certificates >/dev/null; then update-ca-certificates >/dev/null 2>&1 || true; fi",
)


def course_images() -> list[str]:
    """Every base image the course's exercises and notebooks use."""
    return [recipe.image for recipe in RECIPES]


def split_reference(image: str) -> tuple[str, str]:
    """("python", "3.11-slim") from "python:3.11-slim"; the tag defaults to latest (a port is no tag)."""
    repository, colon, tag = image.rpartition(":")
    if not colon or "/" in tag:
        return image, "latest"
    return repository, tag


def recipe_for(image: str) -> Recipe | None:
    return next((recipe for recipe in RECIPES if recipe.image == image), None)


def recipe_hash(recipe: Recipe) -> str:
    """sha256 over everything that shapes the stand-in (its base's hash included)."""
    data = asdict(recipe)
    data["base"] = recipe_hash(require_recipe(recipe.base)) if recipe.base else None
    data["builder"] = {"version": BUILDER_VERSION, "suite": SUITE, "variant": VARIANT,
                       "minbase_files": [asdict(f) for f in MINBASE_FILES],
                       "minbase_commands": MINBASE_COMMANDS, "cleanup": CLEANUP_COMMANDS}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def import_changes(recipe: Recipe) -> list[str]:
    """The `docker import --change` lines: the recipe's own plus the stand-in labels."""
    return [*recipe.changes, f"LABEL {STANDIN_LABEL}=true", f"LABEL {RECIPE_LABEL}={recipe_hash(recipe)}"]


def require_recipe(image: str) -> Recipe:
    recipe = recipe_for(image)
    if recipe is None:
        raise KeyError(f"no recipe for {image}")
    return recipe


def known_tags(repository: str) -> list[str]:
    """Every tag of `repository` the course provides offline (recipes and their aliases)."""
    return [image for recipe in RECIPES for image in (recipe.image, *recipe.aliases)
            if split_reference(image)[0] == repository]
