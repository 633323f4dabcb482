"""Fixtures of the browser tests: Chromium through Playwright, and JupyterLab started as users do.

Run them with ``.venv/bin/python -m pytest tests/browser -p no:cacheprovider -x -v``.
Without /usr/bin/chromium they are skipped, unless COURSE_BROWSER_TESTS=1 (CI), which makes a
missing browser a failure. Each test leaves a screenshot of its last state in
build/screenshots/<test>.png, and each JupyterLab its log in build/browser-logs/.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from tests.browser import jupyterlab
from tests.browser.jupyterlab import free_port, quiet_news, start_lab

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "build" / "screenshots"
LOGS = REPO / "build" / "browser-logs"
VIEWPORT = {"width": 1400, "height": 900}


def _unavailable(reason: str) -> None:
    if os.environ.get("COURSE_BROWSER_TESTS") == "1":
        pytest.fail(f"{reason} (COURSE_BROWSER_TESTS=1 requires the browser tests)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        _unavailable("Chromium is not installed: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed: make install")
    with sync_playwright() as p:
        # Debian's Chromium, never a downloaded one. --no-sandbox: Chromium refuses to start
        # its own sandbox as root, which is how these tests run in the container.
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def screenshot_path(item, step: str = "") -> Path:
    """build/screenshots/<test>[-<step>].png; test_x[lab01] becomes test_x-lab01.png."""
    name = item.name.replace("[", "-").replace("]", "") + (f"-{step}" if step else "")
    return SCREENSHOTS / (re.sub(r"[^\w.-]", "_", name) + ".png")


@pytest.fixture
def page(browser, request):
    """A fresh browser context (no cookies, no storage) per test; a screenshot at the end."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.js_errors = []  # uncaught errors of the page, quoted when the test fails
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    yield page
    # A finalizer runs whether the test passed or failed: the last state is always kept.
    keep_last_screenshot(page, request.node)
    context.close()


def keep_last_screenshot(page, item) -> None:
    """Save the page as build/screenshots/<test>.png; a lost screenshot never fails the test."""
    path = screenshot_path(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(path))
    except Exception as exc:  # noqa: BLE001 - a lost screenshot must not hide the result
        print(f"could not save the screenshot {path}: {exc}")


@pytest.fixture
def snapshot(page, request):
    """``snapshot("step")`` keeps an intermediate state too, as <test>-<step>.png."""

    def snap(step: str) -> None:
        path = screenshot_path(request.node, step)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))

    return snap


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, add the page's address, its JavaScript errors and the screenshot's path."""
    report = yield
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and page is not None:
        lines = [f"page: {page.url}", f"screenshot: {screenshot_path(item)}"]
        lines += [f"JavaScript error: {e}" for e in getattr(page, "js_errors", [])[:5]]
        report.sections.append(("browser", "\n".join(lines)))
    return report


def pytest_terminal_summary(terminalreporter):
    if not jupyterlab.VALIDATE_TIMES:
        return
    terminalreporter.section("nbgrader Validate in the browser (click to dialog)")
    for test, lab, what, seconds, outcome in jupyterlab.VALIDATE_TIMES:
        terminalreporter.line(f"{lab:24} {what:28} {seconds:6.1f} s  {outcome:8} {test}")


def lab_args(port: int, token: str) -> list[str]:
    """The jupyter-lab options a test adds: its own port and token, no browser, loopback."""
    args = [
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")  # jupyter refuses root otherwise; students are not root
    return args


@pytest.fixture(scope="module")
def student_lab(browser, tmp_path_factory):
    """``make lab`` as a student runs it, in a fresh HOME, with its labs in a temporary folder.

    (It asks for ``browser`` first so that, without Chromium, no server is started at all.)
    """
    base = tmp_path_factory.mktemp("student")
    home, my_labs = base / "home", base / "my-labs"
    home.mkdir()
    quiet_news(home)
    port, token = free_port(), secrets.token_hex(16)
    args = " ".join([f"--dir {my_labs}", *lab_args(port, token)])
    assert " " not in str(my_labs), "make splits LAB_ARGS on spaces"
    # --assume-old: `make lab` depends on `install`, whose stamp is older than pyproject.toml
    # whenever that file was edited since the last install; make would then pip-install into
    # .venv in the middle of a test run. Installing is not what these tests are about.
    cmd = ["make", "--assume-old=.venv/.installed", "lab", f"LAB_ARGS={args}"]
    server = start_lab(
        cmd,
        cwd=REPO,
        home=home,
        root_dir=my_labs,
        port=port,
        token=token,
        log_path=LOGS / "student-make-lab.log",
    )
    yield server
    server.stop()
