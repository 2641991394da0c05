"""A Report as JUnit XML (one testsuite, one testcase per item) for CI systems and CodeGrade.

Failed items become `<failure message="first line">full feedback</failure>`; a report whose
status is `error` (grading could not run) becomes one testcase with an `<error>`, so CI shows
a red build with the reason instead of a silent zero. A grading stopped midway (timeout, crash:
`Report.stopped`) keeps its finished items as they are, and each item it did not reach is an `<error
type="NotReached">` (counted in `errors`, never in `failures`: the learner did not fail it).

Two flavours:
- `standard` (the default): the score travels as `<properties>` of the suite, each item's points and lesson
  in its testcase's `<system-out>` (the JUnit XSD allows no testcase `<properties>`), valid against
  Jenkins' junit-10.xsd, read by Jenkins, GitLab and most CI readers.
- `codegrade`: CodeGrade's parser (CodeGra.de `cg_junit`, `src/utils/junit.ts`) takes *every* child of
  `<testsuite>` for a `<testcase>` and a testcase's first child for its outcome, so there are no
  `<properties>` anywhere, a passing testcase has no children at all, and the item's points go in
  the testcase's `weight` attribute CodeGrade weighs by (the suite keeps CodeGrade's default weight 1).
A partial-credit item (`dockyard.partial`) fails with "partial credit: 2/4 points" in its text; in the
`codegrade` flavour it is two testcases, the earned part passing with `weight` = the points earned and
"the rest" failing with the remaining weight, so CodeGrade's passed-weight / total-weight is the same score.
(GitHub Classroom reads no JUnit at all: see report/classroom.py.)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from dockyard.errors import UnknownChoice
from dockyard.report.model import Report

# XML 1.0 cannot carry most control characters, whatever the escaping: drop them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str | None) -> str:
    return _INVALID_XML.sub("", text or "")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]


FLAVOURS = ("standard", "codegrade")


def to_element(report: Report, flavour: str = "standard") -> ET.Element:
    if flavour not in FLAVOURS:
        raise UnknownChoice("JUnit flavour", flavour, FLAVOURS)
    codegrade = flavour == "codegrade"
    suite = ET.Element("testsuite", {
        "name": f"dockyard.{report.exercise}",
        "tests": str(len(report.items) + (sum(1 for i in report.items if i.partial) if codegrade else 0)
                     if report.items else 1),
        "failures": str(sum(1 for item in report.items if not item.passed and item.reached)),
        "errors": str(sum(1 for item in report.items if not item.reached) if report.items
                      else int(report.status == "error")),
        "skipped": "0",
        "time": f"{report.duration_s:.3f}",
    })
    if not codegrade:
        properties = ET.SubElement(suite, "properties")
        for name, value in (("exercise", report.exercise), ("score", f"{report.score:g}"),
                            ("max_score", f"{report.max_score:g}"), ("status", report.status)):
            ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    if report.status == "error" and not report.items:
        case = ET.SubElement(suite, "testcase", {"classname": f"dockyard.{report.exercise}", "name": "grading",
                                                 "time": f"{report.duration_s:.3f}"})
        error = ET.SubElement(case, "error", {"message": _clean(_first_line(report.error or "grading could not run")),
                                              "type": "GradingError"})
        error.text = _clean(report.error or "grading could not run")
        return suite
    for item in report.items:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"dockyard.{report.exercise}",
            "name": _clean(f"{item.id}: {item.title}" if item.title else item.id),
            "time": "0",
        })
        if codegrade and item.partial:
            # CodeGrade scores passed weight / total weight: the earned part passes, the rest fails beside it
            case.set("weight", f"{item.points:g}")
            case.set("name", _clean(f"{item.id}: {item.title} (partial credit)" if item.title else item.id))
            case = ET.SubElement(suite, "testcase", {
                "classname": f"dockyard.{report.exercise}",
                "name": _clean(f"{item.id}: the rest"), "time": "0",
                "weight": f"{item.max_points - item.points:g}"})
        elif codegrade:
            case.set("weight", f"{item.max_points:g}")
        else:
            # the item's points in its <system-out>, after the outcome: a testcase holds no <properties> in the
            # JUnit XSD (Jenkins' junit-10.xsd), and every CI reader shows system-out
            points_out = _clean(f"points: {item.points:g}/{item.max_points:g}"
                                + (f"\nlesson: {item.lesson}" if item.lesson else ""))
        if not item.reached:  # the grading stopped first (timeout, crash): an error, not the learner's failure
            error = ET.SubElement(case, "error", {"message": _clean(_first_line(item.feedback or "not reached")),
                                                  "type": "NotReached"})
            error.text = _clean(f"{item.feedback or 'not reached'}\n(0/{item.max_points:g} points)")
        elif not item.passed:
            feedback = item.feedback or "this check did not pass"
            failure = ET.SubElement(case, "failure", {
                "message": _clean(_first_line(feedback)),
                "type": "RubricItemFailed",
            })
            text = feedback + (f"\nSee {item.lesson}" if item.lesson else "")
            failure.text = _clean(f"{text}\n({'partial credit: ' if item.partial else ''}"
                                  f"{item.points:g}/{item.max_points:g} points)")
        if not codegrade:
            ET.SubElement(case, "system-out").text = points_out
    return suite


def to_xml(report: Report, flavour: str = "standard") -> str:
    root = ET.Element("testsuites", {"name": "dockyard"})
    suite = to_element(report, flavour)
    for key in ("tests", "failures", "errors", "time"):
        root.set(key, suite.get(key))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(report: Report, path, flavour: str = "standard") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_xml(report, flavour), encoding="utf-8")
    return path
