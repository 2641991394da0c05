"""Dockyard: learn Docker by doing. The grading engine behind the course."""

__version__ = "0.1.0"

from dockyard.rubric.credit import Partial, partial  # noqa: E402  (rubrics: `from dockyard import partial`)
from dockyard.rubric.expect import expect, feedback  # noqa: E402  (rubrics: `from dockyard import expect`)

__all__ = ["Partial", "expect", "feedback", "partial", "__version__"]
