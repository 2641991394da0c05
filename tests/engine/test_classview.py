"""class.html: the class at a glance (report/classview.py), from reports and from batch; in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dockyard import batch
from dockyard.report import classview
from dockyard.report.model import Item, Report

HOSTILE = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">"
CHROMIUM = Path("/usr/bin/chromium")


def make_reports() -> dict[str, Report]:
    reports = {}
    for n in range(12):
        items = [Item("builds", "The image builds", 1.0, 1.0, True),
                 Item("workdir", "WORKDIR is /app", 2.0 if n % 3 else 0.0, 2.0, bool(n % 3),
                      "" if n % 3 else f"expected `WORKDIR /app`, found {HOSTILE}", "04-dockerfile.ipynb#WORKDIR"),
                 Item("exec-form", "CMD in exec form", 0.5 if n % 2 else 1.0, 1.0, not n % 2,
                      "shell form" if n % 2 else "", outcome="partial" if n % 2 else None)]
        reports[f"learner{n:02d}" if n else HOSTILE] = Report.from_items("03-first-image", items, 3.0 + n)
    reports["stuck"] = Report.failed("03-first-image", "grading took longer than 600 s and was stopped", 600.0, 4.0)
    reports["engine"] = Report.failed("03-first-image", "the engine went away", 1.0, 4.0, retry=True)
    return reports


def test_the_page_has_plots_rates_failures_times_and_who_could_not_run():
    page = classview.to_html("03-first-image", make_reports(), "../notebooks/")
    charts = re.findall(r'<svg id="(histogram|item-rates|times)" role="img"', page)
    assert charts == ["histogram", "item-rates", "times"]
    # the histogram's bars hold every graded learner once; the item chart has a bar per item, at its rate
    bars = re.findall(r"<rect [^>]*><title>[^<]*: (\d+)</title>", page.split('id="histogram"')[1].split("</svg>")[0])
    assert sum(map(int, bars)) == 12
    assert "<title>workdir: 67%</title>" in page and "<title>exec-form: 75%</title>" in page
    assert "<script>" not in page and "onerror=\"" not in page and "&lt;script&gt;window.pwned=1" in page
    rows = re.findall(r"<tr><td>(.*?)<br>.*?</td><td[^>]*>(\d+)%", page)
    assert ("WORKDIR is /app", "67") in rows and ("CMD in exec form", "75") in rows
    assert '<a href="../notebooks/04-dockerfile.ipynb#WORKDIR">' in page
    assert "expected `WORKDIR /app`, found &lt;script&gt;" in page and "(4×)" in page
    assert "stuck" in page and "grading took longer than 600 s" in page and "regrade with --only" in page
    assert "--only stuck" in page and "Median score" in page


def test_one_failure_counts_once_whatever_port_or_line_each_learner_saw():
    """The probe's host port, its attempts and the line number differ per learner: it is still one failure."""
    reports = {}
    for n, (port, attempts, line) in enumerate([(32890, 43, 5), (32771, 45, 5), (33012, 44, 14), (8080, 7, 5)]):
        items = [Item("answers", "The app answers on 8000", 0.0, 2.0, False,
                      f"expected 'Hello' from http://127.0.0.1:{port}/, but nothing answered after {attempts} "
                      "attempt(s)" + " (the connection was closed without an answer)" * 4),  # longer than shown
                 Item("exec-form", "CMD in exec form", 0.0, 1.0, False, f"`CMD python app.py` (line {line}) is in "
                      "shell form" if n < 3 else "no CMD at all")]
        reports[f"learner{n}"] = Report.from_items("03-first-image", items, 20.0)
    page = classview.to_html("03-first-image", reports)
    answers = re.search(r"<tr><td>The app answers on 8000.*?</tr>", page).group(0)
    assert answers.count("<li>") == 1 and "(4×, 3 other wording(s))" in answers, answers
    exec_form = re.search(r"<tr><td>CMD in exec form.*?</tr>", page).group(0)
    assert re.findall(r"<li>(.*?) <span", exec_form) == ["`CMD python app.py` (line 5) is in shell form",
                                                         "no CMD at all"]  # the wording most learners saw
    assert "(3×, 1 other wording(s))" in exec_form and "(1×)" in exec_form


def fake_grade(exercise_id, folder, engine_url=None, **kwargs):
    ok = (Path(folder) / "Dockerfile").is_file()
    return Report.from_items(exercise_id, [Item("builds", "The image builds", float(ok), 1.0, ok,
                                                "" if ok else "no Dockerfile in your folder")], 0.2)


def test_batch_writes_class_html_next_to_the_gradebook(tmp_path):
    folder = tmp_path / "class"
    for name in ("ada", "bob"):
        (folder / name).mkdir(parents=True)
    (folder / "ada" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    batch.run_batch("03-first-image", folder, tmp_path / "out", jobs=1, grade_one=fake_grade)
    page = (tmp_path / "out" / batch.CLASS_FILE).read_text()
    assert "no Dockerfile in your folder" in page and page.count('<svg id="') == 3


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)")
def test_class_html_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    path = tmp_path / "class.html"
    path.write_text(classview.to_html("03-first-image", make_reports(), "../notebooks/"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"], viewport={"width": 1200, "height": 900})
        try:
            page = browser.new_page()
            page.goto(path.as_uri())
            page.wait_for_selector("#histogram")
            # each chart drawn with its bars at a visible size (inline SVG: laid out, not loaded)
            boxes = page.evaluate("() => [...document.querySelectorAll('svg[role=img]')].map(svg => {"
                                  " const box = svg.getBoundingClientRect();"
                                  " return [svg.id, box.width, svg.querySelectorAll('rect').length]; })")
            assert [box[0] for box in boxes] == ["histogram", "item-rates", "times"], boxes
            assert all(width > 300 and bars >= 3 for _, width, bars in boxes), boxes
            assert page.evaluate("() => window.pwned === undefined")
            assert page.evaluate("() => document.querySelectorAll('script').length") == 0
            assert HOSTILE in page.locator("#items").inner_text()  # shown as text, never run
            assert page.locator("#not-run tr").count() == 3
            page.screenshot(path=str(tmp_path / "class.png"), full_page=True)
            print(f"screenshot: {tmp_path / 'class.png'}")
        finally:
            browser.close()
    assert (tmp_path / "class.png").stat().st_size > 20_000
