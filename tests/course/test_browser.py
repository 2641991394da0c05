"""The Check widget in a real browser: JupyterLab headless on 127.0.0.1, Debian's Chromium driven by
Playwright (never `playwright install`), a small exercise notebook whose Check grades the reference
solution of 01-first-image; we run all cells, click Check, and count the ✓ in the rubric table.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
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
EXERCISE = "01-first-image"
NOTEBOOK = "browser-check"  # the run id of this test's notebook: labels `dockyard.run=notebook-browser-check`
# what this test's grading or kernel could leave: of exercise 01-first-image or of this notebook
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


def write_notebook(folder: Path) -> Path:
    cells = [
        nbformat.v4.new_markdown_cell(f"# Check {EXERCISE} (browser test)\n\n## WORKDIR"),
        nbformat.v4.new_code_cell(
            "import os\n"
            "os.environ['DOCKYARD_SOLUTIONS'] = '1'   # the Check grades the reference solution\n"
            "from dockyard import notebook as nb\n"
            f"folder = nb.exercise_folder({EXERCISE!r}, {NOTEBOOK!r})"),
        nbformat.v4.new_code_cell(f"nb.check({EXERCISE!r}, folder)"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}})
    path = folder / f"{NOTEBOOK}.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture()
def jupyterlab(tmp_path):
    """JupyterLab on 127.0.0.1:<free port> with a token, serving tmp_path/work; stopped (kernels too) at the end."""
    work = tmp_path / "work"
    work.mkdir()
    write_notebook(work)
    port, token = free_port(), secrets.token_hex(16)
    # no "get notified about Jupyter news?" toast over the screenshot (and no request for the news)
    news = tmp_path / "jupyter-config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"))
    env.pop("DOCKYARD_SOLUTIONS", None)
    (tmp_path / "tmp").mkdir()
    env["TMPDIR"] = str(tmp_path / "tmp")  # the kernel's scratch copies land here, removed with tmp_path
    argv = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
            f"--LabApp.workspaces_dir={tmp_path / 'ws'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # CI containers run as root
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
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
        yield {"url": base, "token": token, "work": work}
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
def no_new_orphans():
    before = set(orphans(*ORPHAN_FILTERS))
    yield
    left = sorted(set(orphans(*ORPHAN_FILTERS)) - before)
    assert not left, f"left behind: {left}"


def test_check_widget_in_chromium(no_new_orphans, jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    expected = rubric_items(EXERCISE)
    assert expected > 0
    profile = tmp_path / "chromium-profile"
    url = f"{jupyterlab['url']}/lab/tree/{NOTEBOOK}.ipynb?token={jupyterlab['token']}"
    with sync_playwright() as playwright:
        # A fresh --user-data-dir: Playwright takes it as launch_persistent_context's argument (it refuses the
        # flag in `args`); the other flags are passed to Debian's Chromium as they are.
        browser = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
            viewport={"width": 1400, "height": 1000},
        )
        page = browser.new_page()
        try:
            page.goto(url, timeout=90_000)
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            # the kernel is ready once the status says Idle
            page.wait_for_function(
                "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
                " return k && k.status === 'idle'; }", timeout=180_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            check = page.locator("button.dockyard-check")
            check.wait_for(state="visible", timeout=120_000)
            check.click()
            page.wait_for_selector("table.dockyard-rubric", timeout=420_000)
            rows = page.locator("table.dockyard-rubric tr.dockyard-item")
            marks = [rows.nth(i).locator("td").first.inner_text().strip() for i in range(rows.count())]
            table = page.locator("table.dockyard-rubric")
            table.scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "check-widget.png"), full_page=True)
            print(f"rubric marks: {marks}; screenshot: {tmp_path / 'check-widget.png'}")
            assert marks.count("✓") == expected, f"expected {expected} ✓ for the reference solution, saw {marks}"
            assert table.get_attribute("data-score") == table.get_attribute("data-max-score")
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"failure screenshot: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()
    assert (tmp_path / "check-widget.png").stat().st_size > 10_000
