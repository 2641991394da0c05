"""The Check widget in a real browser: JupyterLab headless on 127.0.0.1, Debian's Chromium driven by
Playwright (never `playwright install`).

- A small exercise notebook whose Check grades the reference solution of 03-first-image: we run all
  cells, click Check, and count the ✓ in the rubric table.
- The learner's way, on a copy of the course served as `make lab` serves it: Check the starter files,
  open the exercise's Dockerfile from the file browser, write it in the editor, save, Check again, and
  see the ✓ count go up to every item.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.helpers import exercise_filter, orphans, run_filter

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
EXERCISE = "03-first-image"
NOTEBOOK = "browser-check"  # the run id of this test's notebook: labels `dockyard.run=notebook-browser-check`
# what this test's grading or kernel could leave: of exercise 03-first-image or of this notebook
ORPHAN_FILTERS = (exercise_filter(EXERCISE), run_filter(f"notebook-{NOTEBOOK}"))

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium is not installed (/usr/bin/chromium): run scripts/ensure-test-tools")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rubric_items(exercise_id: str) -> int:
    """How many items the rubric has (test functions in graders/<id>/test*.py)."""
    count = 0
    for path in (ROOT / "graders" / exercise_id).glob("test*.py"):
        count += sum(1 for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, ast.FunctionDef) and node.name.startswith("test"))
    return count


def write_notebook(folder: Path, solutions: bool = True) -> Path:
    """A notebook whose Check grades 03-first-image: the reference solution, or (`solutions=False`) the learner's
    own exercises/03-first-image/ of the course being served."""
    mode = "os.environ['DOCKYARD_SOLUTIONS'] = '1'   # the Check grades the reference solution\n" if solutions else ""
    cells = [
        nbformat.v4.new_markdown_cell(f"# Check {EXERCISE} (browser test)\n\n## WORKDIR"),
        nbformat.v4.new_code_cell(
            "import os\n" + mode +
            "from dockyard import notebook as nb\n"
            f"folder = nb.exercise_folder({EXERCISE!r}, {NOTEBOOK!r})"),
        nbformat.v4.new_code_cell(f"nb.check({EXERCISE!r}, folder)"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})
    path = folder / f"{NOTEBOOK}.ipynb"
    nbformat.write(notebook, path)
    return path


@contextlib.contextmanager
def running_lab(tmp_path: Path, root: Path, env_extra: dict | None = None, options: tuple[str, ...] = ()):
    """JupyterLab on 127.0.0.1:<free port> with a token, serving `root`; stopped (kernels too) at the end."""
    port, token = free_port(), secrets.token_hex(16)
    # no "get notified about Jupyter news?" toast over the screenshot (and no request for the news)
    news = tmp_path / "jupyter-config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"))
    env.pop("DOCKYARD_SOLUTIONS", None)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp_path / "tmp")  # the kernel's scratch copies land here, removed with tmp_path
    env.update(env_extra or {})
    argv = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
            f"--LabApp.workspaces_dir={tmp_path / 'ws'}", *options]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # CI containers run as root
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as response:
                    json.load(response)
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield {"url": base, "token": token, "work": root}
    finally:
        server.send_signal(signal.SIGINT)  # a clean shutdown also shuts the kernels down
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.send_signal(signal.SIGINT)  # JupyterLab asks for confirmation: a second ^C stops it
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()
        from dockyard import notebook as nb

        nb.cleanup(NOTEBOOK, quiet=True)  # the kernel's scratch copy and anything labelled for this notebook


@pytest.fixture()
def jupyterlab(tmp_path):
    """JupyterLab serving tmp_path/work, which holds a small notebook whose Check grades the reference solution."""
    work = tmp_path / "work"
    work.mkdir()
    write_notebook(work)
    with running_lab(tmp_path, work) as lab:
        yield lab


@pytest.fixture()
def course_lab(tmp_path):
    """JupyterLab as `make lab` serves it (the course root, hidden files shown), on a copy of the course holding
    03-first-image as the learner starts it and a notebook whose Check grades the learner's own folder."""
    course = tmp_path / "course"
    for part in ("exercises", "graders", "solutions"):
        shutil.copytree(ROOT / part / EXERCISE, course / part / EXERCISE)
    (course / "notebooks").mkdir(parents=True)
    write_notebook(course / "notebooks", solutions=False)
    options = ("--ContentsManager.allow_hidden=True", f"--LabApp.app_settings_dir={ROOT / 'lab-settings'}")
    with running_lab(tmp_path, course, {"DOCKYARD_COURSE": str(course)}, options) as lab:
        yield lab


@pytest.fixture()
def no_new_orphans():
    before = set(orphans(*ORPHAN_FILTERS))
    yield
    left = sorted(set(orphans(*ORPHAN_FILTERS)) - before)
    assert not left, f"left behind: {left}"


@contextlib.contextmanager
def notebook_page(url: str, tmp_path: Path):
    """Debian's Chromium on `url` (a notebook), its kernel idle and every cell run; a failure leaves a screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A fresh --user-data-dir: Playwright takes it as launch_persistent_context's argument (it refuses the
        # flag in `args`); the other flags are passed to Debian's Chromium as they are.
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
            viewport={"width": 1400, "height": 1000},
        )
        page = browser.new_page()
        try:
            page.goto(url, timeout=90_000)
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            wait_for_idle_kernel(page)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.locator("button.dockyard-check").wait_for(state="visible", timeout=120_000)
            yield page
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"failure screenshot: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()


def wait_for_idle_kernel(page) -> None:
    """The notebook's kernel is ready once its status says idle."""
    page.wait_for_function(
        "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
        " return k && k.status === 'idle'; }", timeout=180_000)


def press_check_and_count(page) -> list[str]:
    """Press Check (or "Check again"), wait for the grading to start and end, and read the rubric's marks."""
    page.locator("button.dockyard-check").click()
    page.wait_for_function(
        "() => { const b = document.querySelector('button.dockyard-check'); return b && b.disabled; }", timeout=60_000)
    page.wait_for_function(
        "() => { const t = document.querySelector('table.dockyard-rubric');"
        " const b = document.querySelector('button.dockyard-check'); return t && b && !b.disabled; }",
        timeout=420_000)
    rows = page.locator("table.dockyard-rubric tr.dockyard-item")
    return [rows.nth(i).locator("td").first.inner_text().strip() for i in range(rows.count())]


def test_check_widget_in_chromium(no_new_orphans, jupyterlab, tmp_path):
    expected = rubric_items(EXERCISE)
    assert expected > 0
    url = f"{jupyterlab['url']}/lab/tree/{NOTEBOOK}.ipynb?token={jupyterlab['token']}"
    with notebook_page(url, tmp_path) as page:
        marks = press_check_and_count(page)
        table = page.locator("table.dockyard-rubric")
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "check-widget.png"), full_page=True)
        print(f"rubric marks: {marks}; screenshot: {tmp_path / 'check-widget.png'}")
        assert marks.count("✓") == expected, f"expected {expected} ✓ for the reference solution, saw {marks}"
        assert table.get_attribute("data-score") == table.get_attribute("data-max-score")
    assert (tmp_path / "check-widget.png").stat().st_size > 10_000


def test_the_learner_opens_the_dockerfile_from_the_file_browser_fixes_it_and_checks(
        no_new_orphans, course_lab, tmp_path):
    """The learner's way through JupyterLab: the notebook's Check on the starter files, then the file browser
    to exercises/03-first-image/Dockerfile, the editor to write it, save, Check again: the
    ✓ count goes up to every item."""
    expected = rubric_items(EXERCISE)
    solution = (ROOT / "solutions" / EXERCISE / "Dockerfile").read_text()
    dockerfile = course_lab["work"] / "exercises" / EXERCISE / "Dockerfile"
    url = f"{course_lab['url']}/lab/tree/notebooks/{NOTEBOOK}.ipynb?token={course_lab['token']}"
    with notebook_page(url, tmp_path) as page:
        before = press_check_and_count(page)
        assert before.count("✓") < expected, f"the starter Dockerfile passed everything: {before}"

        # the file browser: from the course root to the exercise's folder
        page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
        page.locator(".jp-BreadCrumbs-home").click()
        listing = page.locator(".jp-DirListing-content")
        listing.locator(".jp-DirListing-item", has_text="exercises").dblclick()
        listing.locator(".jp-DirListing-item", has_text=EXERCISE).dblclick()
        listing.locator(".jp-DirListing-item", has_text="app.py").wait_for(timeout=30_000)  # inside it
        listing.locator(".jp-DirListing-item", has_text="Dockerfile").first.dblclick()

        # the editor: write the Dockerfile (inserted as typed text, so the editor's auto-brackets stay out)
        editor = page.locator(".jp-FileEditor .cm-content")
        editor.wait_for(state="visible", timeout=60_000)
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.insert_text(solution)
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while dockerfile.read_text().strip() != solution.strip():
            assert time.monotonic() < deadline, f"the editor did not save: {dockerfile.read_text()!r}"
            time.sleep(0.2)

        # back to the notebook, Check again
        page.locator(".lm-TabBar-tab", has_text=f"{NOTEBOOK}.ipynb").first.click()
        after = press_check_and_count(page)
        page.screenshot(path=str(tmp_path / "checked-again.png"), full_page=True)
        print(f"✓ before: {before.count('✓')}/{expected}, after: {after.count('✓')}/{expected}")
        assert after.count("✓") == expected, f"expected every item ✓ after the fix, saw {after}"
