"""What every grading child needs imported: loaded once by the forkserver, so each child starts warm."""

import docker  # noqa: F401
import pytest  # noqa: F401

import dockyard.probes  # noqa: F401
import dockyard.rubric.plugin  # noqa: F401
import dockyard.rubric.prefetch  # noqa: F401
import dockyard.sandbox  # noqa: F401
import dockyard.sandbox.build  # noqa: F401
import dockyard.sandbox.compose  # noqa: F401
import dockyard.static.dockerfile  # noqa: F401
import dockyard.static.hadolint  # noqa: F401
import dockyard.static.policy  # noqa: F401
import dockyard.submission  # noqa: F401
