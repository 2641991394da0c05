"""Dockyard: learn Docker by doing. The grading engine behind the course."""

__version__ = "0.1.0"

from dockyard.rubric.credit import Partial, partial  # noqa: E402  (rubrics: `from dockyard import partial`)

__all__ = ["Partial", "partial", "__version__"]
