"""Dockyard: learn Docker by doing. The grading engine behind the course."""

__version__ = "0.1.0"
