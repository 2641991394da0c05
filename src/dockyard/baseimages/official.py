"""What the official images are, where a course answer depends on it: facts recorded from their
Dockerfiles, so the offline stand-ins can be tested against them (tests/engine/test_baseimages.py).

A stand-in is Debian's packages, not upstream's build, so some facts cannot match; those are listed
in `KNOWN_DIFFERENCES` with the reason, and the grader names them where a learner meets them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PYTHON_SOURCE = ("docker-library/python 3.11/slim-bookworm/Dockerfile and 3.11/bookworm/Dockerfile "
                 "(commit 025fb340): ENV PATH /usr/local/bin:$PATH, ENV LANG C.UTF-8, ENV PYTHON_VERSION, "
                 "`make install` to /usr/local, symlinks python/pip/pydoc in /usr/local/bin, CMD [\"python3\"]")
DEBIAN_SOURCE = "debuerreotype's debian:bookworm-slim (rootfs + CMD [\"bash\"], PATH from Docker's default)"


@dataclass(frozen=True)
class OfficialFacts:
    image: str
    source: str
    env: dict[str, str] = field(default_factory=dict)  # exact values; a key mapped to "" must only be set
    cmd: tuple[str, ...] = ()
    executables: tuple[str, ...] = ()                    # paths that exist and run
    # Python images: where installs land (sysconfig's purelib, as pip uses it), and the --user site.
    site_packages: str | None = None
    user_site: str | None = None


DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PYTHON_PATH = "/usr/local/bin:" + DEBIAN_PATH  # upstream prepends /usr/local/bin to Debian's PATH

_PYTHON = dict(
    source=PYTHON_SOURCE,
    env={"PATH": PYTHON_PATH, "LANG": "C.UTF-8", "PYTHON_VERSION": ""},
    cmd=("python3",),
    executables=("/usr/local/bin/python", "/usr/local/bin/python3", "/usr/local/bin/pip",
                 "/usr/local/bin/pip3", "/usr/local/bin/pydoc"),
    site_packages="/usr/local/lib/python3.11/site-packages",
    user_site="/root/.local/lib/python3.11/site-packages",
)

FACTS: tuple[OfficialFacts, ...] = (
    OfficialFacts("debian:bookworm-slim", DEBIAN_SOURCE, env={"PATH": DEBIAN_PATH}, cmd=("bash",),
                  executables=("/bin/bash", "/usr/bin/apt-get")),
    OfficialFacts("python:3.11-slim", **_PYTHON),
    OfficialFacts("python:3.11", **_PYTHON),
)

# Each one short enough to end a build failure's one line (sandbox/build.explain_build_error says them).
KNOWN_DIFFERENCES = {
    "PYTHON_VERSION": "the offline copies carry Debian 12's Python, 3.11.2: no other patch release is here",
    "GPG_KEY/PYTHON_SHA256": "upstream's build verifies its source tarball; the stand-in is built from Debian's packages",
    "digests": "a digest pin names upstream's exact bytes, which no offline copy has",
}

