"""docs/coverage.md names real things: every notebook section it cites is a heading of that notebook, and every
graded item it cites is an item of that exercise's rubric (the table would otherwise drift from the course)."""

from __future__ import annotations

import functools
import json
import re

from dockyard.course import exercises
from dockyard.course.points import rubric_item_ids
from tests.helpers import ROOT

TABLE = (ROOT / "docs" / "coverage.md").read_text()
ROWS = [line.split("|")[1:4] for line in TABLE.splitlines() if line.startswith("| ") and "---" not in line][1:]


@functools.lru_cache(maxsize=None)
def headings(notebook: str) -> tuple[str, ...]:
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    return tuple(line[3:].strip() for cell in cells if cell["cell_type"] == "markdown"
                 for line in "".join(cell["source"]).splitlines() if line.startswith("## "))


def test_every_cited_item_is_an_item_of_its_rubric():
    cited = {}
    for _, _, graded in ROWS:
        for exercise_id, items in re.findall(r"(\d\d-[a-z0-9-]+) ((?:`[a-z0-9-]+`(?:, )?)+)", graded):
            cited.setdefault(exercise_id, set()).update(re.findall(r"`([a-z0-9-]+)`", items))
    assert len(cited) == len(exercises.ids(ROOT)), "every exercise grades something of the outline"
    for exercise_id, items in cited.items():
        known = set(rubric_item_ids(exercises.load(exercise_id, ROOT).grader))
        assert items <= known, f"{exercise_id}: {sorted(items - known)} are not items of its rubric"


def test_every_cited_section_is_a_heading_of_its_notebook():
    for _, taught, _ in ROWS:
        for notebook, sections in re.findall(r"(\d\d-[a-z0-9-]+) › ([^|]*?)(?=; \d\d-|$)", taught.strip()):
            found = headings(notebook)
            for section in sections.split("; "):
                assert any(heading.startswith(section.rstrip("…").strip()) for heading in found), \
                    f"{notebook} has no section starting {section!r}"


def test_each_row_says_where_it_is_done_or_that_it_is_only_shown():
    for outline, taught, graded in ROWS:
        assert taught.strip() and (re.search(r"\d\d-[a-z0-9-]+ `", graded) or graded.strip().startswith("shown")), \
            outline
