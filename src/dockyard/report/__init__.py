"""Reports: one model (`model.Report`), one renderer per format, none of which writes the model.

terminal (rich table) · junit (CI; `codegrade` flavour for CodeGrade) · gradescope (results.json) ·
prairielearn (external grader results.json) · classroom (GitHub Classroom's base64 `result` output) ·
lms (Canvas / Moodle grade CSV from a roster) · nbgrader (partial credit in a grade cell) ·
feedback (Markdown / HTML for batch grading).
Renderers import their heavy dependencies (rich) lazily.
"""

from dockyard.report.model import Item, Report

__all__ = ["Item", "Report"]
