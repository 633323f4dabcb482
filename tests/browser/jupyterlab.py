"""A JupyterLab server started the way users start it, and the clicks a user makes in it.

Everything here waits on what the page shows (cell prompts, the status bar, dialogs), never on
fixed sleeps alone, and every failure says which page, what was expected and what was seen.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tests.user_env import user_environment

#: Fragments of TensorFlow's native start-up log. Before the fix, nbgrader's Validate failed a
#: correct lab with this text as "the error"; a student must never see any of it.
TF_NOISE = ("absl", "oneDNN", "I0000", "cpu_feature_guard")

#: (test, lab, what was validated, seconds, outcome): printed in the terminal summary.
VALIDATE_TIMES: list[tuple[str, str, str, float, str]] = []


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def noise_in(text: str) -> list[str]:
    return [n for n in TF_NOISE if n in text]


def quiet_news(home: Path) -> None:
    """Answer JupyterLab's "get notified about Jupyter news?" toast with "No", as a user would.

    Otherwise the toast covers the bottom-right of every screenshot until somebody clicks it.
    """
    settings = home / ".jupyter/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}\n')


# --------------------------------------------------------------------------------------------
# The server


def _proc_start(pid: int) -> str | None:
    """The start time of a process (field 22 of /proc/PID/stat), to tell it from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _descendants(root: int) -> list[tuple[int, str]]:
    """Every process below ``root``, with its start time."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            start = _proc_start(child)
            if start:
                found.append((child, start))
                todo.append(child)
    return found


@dataclass
class LabServer:
    """A running JupyterLab: its process group, where it serves from, and how to reach it."""

    proc: subprocess.Popen
    port: int
    token: str
    root_dir: Path
    log_path: Path
    _log: object = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, path: str = "") -> str:
        """The page of ``path`` in JupyterLab; ``reset`` drops the tabs a former test left open."""
        tree = f"/tree/{path}" if path else ""
        return f"{self.url}/lab{tree}?token={self.token}&reset"

    def api(self, method: str, path: str, timeout: float = 30):
        req = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def shutdown_kernels(self) -> None:
        """Stop every kernel: each TensorFlow kernel holds ~0.5 GB and the 2 cores are shared."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}")
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except (urllib.error.URLError, OSError):
            pass  # the server is gone; stop() cleans up what is left

    def stop(self) -> None:
        """Stop the server and everything it started; no jupyter or kernel may outlive a test."""
        # Kernels run in sessions of their own (jupyter_client starts them so), out of reach
        # of killpg: remember them before the server, their parent, goes away.
        leftovers = _descendants(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # make, course->jupyter-lab: one group
        except ProcessLookupError:
            pass
        # SIGTERM makes jupyter shut its kernels down; give it the time to do so.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            _proc_start(pid) == start for pid, start in leftovers
        ):
            time.sleep(0.3)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid, start in leftovers:
            if _proc_start(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait(timeout=30)
        if self._log:
            self._log.close()


def start_lab(
    cmd: list[str],
    *,
    cwd: Path,
    home: Path,
    root_dir: Path,
    port: int,
    token: str,
    log_path: Path,
    timeout: float = 120,
) -> LabServer:
    """Run ``cmd`` (which starts jupyter-lab) as a user's shell would; wait until it answers."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - closed by LabServer.stop
    log.write(f"$ cd {cwd} && {' '.join(cmd)}\n".encode())
    log.flush()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=user_environment(home=home),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # one process group to kill at the end
    )
    server = LabServer(proc, port, token, root_dir, log_path, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            server.stop()
            raise RuntimeError(
                f"`{' '.join(cmd)}` exited ({proc.returncode}) before JupyterLab answered on "
                f"port {port}. Its log ({log_path}) ends with:\n{server.log_tail()}"
            )
        try:
            server.api("GET", "/api/status", timeout=2)
            return server
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"JupyterLab did not answer {server.url}/api/status within {timeout:.0f} s. "
                f"Its log ({log_path}) ends with:\n{server.log_tail()}"
            )
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# The notebook page

# What the page shows right now, for waiting and for failure messages.
_PAGE_STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const bar = document.querySelector('#jp-main-statusbar');
  return {
    cells: panel ? panel.querySelectorAll('.jp-Cell').length : 0,
    markdown: panel ? panel.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown').length : 0,
    status: bar ? bar.innerText.replace(/\\s*\\n\\s*/g, ' | ') : '(no status bar)',
    dialogs: [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText.slice(0, 2000)),
  };
}"""


def page_state(page) -> dict:
    try:
        return page.evaluate(_PAGE_STATE_JS)
    except Exception as exc:  # noqa: BLE001 - only used to describe a failure
        return {"error": str(exc)}


def notebook_panel(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def open_notebook(page, server: LabServer, path: str, timeout: float = 90):
    """Open ``path`` (relative to the server's root) and wait until a student could start.

    That is: every cell is on the page, every Markdown cell is rendered, and the kernel says
    Idle in the status bar. Returns the notebook's panel.
    """
    nb = nbformat.read(server.root_dir / path, as_version=4)
    want_cells = len(nb.cells)
    want_md = sum(c.cell_type == "markdown" for c in nb.cells)
    url = server.lab_url(path)
    page.goto(url)
    deadline = time.monotonic() + timeout
    while True:
        state = page_state(page)
        ready = (
            state.get("cells") == want_cells
            and state.get("markdown") == want_md
            and re.search(r"\(ipykernel\)\s*\|\s*Idle", state.get("status", ""))
        )
        if state.get("dialogs"):
            raise AssertionError(
                f"{url}: a dialog opened while the notebook loaded; expected none. "
                f"It says:\n{state['dialogs']}"
            )
        if ready:
            return notebook_panel(page)
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{url}: expected {want_cells} cells ({want_md} Markdown cells rendered) and an "
                f"idle Python kernel within {timeout:.0f} s; saw {state}.\n"
                f"Server log:\n{server.log_tail(15)}"
            )
        time.sleep(0.3)


def code_cells(page):
    return notebook_panel(page).locator(".jp-CodeCell")


def cell_at(page, index: int):
    """The cell at ``index`` in the notebook (the same index as in the .ipynb file)."""
    return notebook_panel(page).locator(".jp-Notebook .jp-Cell").nth(index)


_PROMPT_DONE = re.compile(r"^\[\d+\]:$")


def outputs_of(cell) -> list[dict]:
    """Each output of a cell: its MIME type (stderr is application/vnd.jupyter.stderr), text."""
    return cell.locator(".jp-OutputArea-output").evaluate_all(
        "els => els.map(e => ({mime: e.getAttribute('data-mime-type') || '', text: e.textContent}))"
    )


def run_cell(page, cell, *, timeout: float = 180, settle: float = 2.0) -> list[dict]:
    """Click into ``cell``, press Shift+Enter as a student does, wait for it; return outputs.

    ``settle``: what native code writes to fd 2 reaches the cell through ipykernel's pipe
    reader, which may deliver it just after the execution count appears.
    """
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor .cm-content").click()
    page.keyboard.press("Shift+Enter")
    prompt = cell.locator(".jp-InputArea-prompt")
    deadline = time.monotonic() + timeout
    while not _PROMPT_DONE.match(prompt.text_content().strip()):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{page.url}: the cell did not finish within {timeout:.0f} s; its prompt says "
                f"{prompt.text_content().strip()!r}; page: {page_state(page)}"
            )
        time.sleep(0.25)
    time.sleep(settle)
    return outputs_of(cell)


def type_into_cell(page, cell, code: str) -> None:
    """Replace a cell's text the way a student pastes an answer: click, select all, paste.

    ``insert_text`` delivers the text as one input event, like a paste: CodeMirror then adds
    no auto-indent and no closing brackets, which key-by-key typing of code would collect.
    """
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor .cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)
    page.keyboard.press("Escape")  # back to command mode, as after typing


def click_menu(page, menu: str, item: str) -> None:
    """Open a menu of the menu bar and click one of its items (labels matched exactly)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(
        ".lm-Menu:visible .lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")
    ).click()


def wait_all_code_cells_ran(page, timeout: float = 300) -> None:
    """Wait until every code cell shows an execution count ("[3]:"), none "[*]:" or "[ ]:"."""
    prompts = code_cells(page).locator(".jp-InputArea-prompt")
    deadline = time.monotonic() + timeout
    while True:
        # textContent, not innerText: cells scrolled out of view are skipped from rendering
        # (content-visibility), and innerText reports their prompts as empty.
        texts = [t.strip() for t in prompts.all_text_contents()]
        if texts and all(_PROMPT_DONE.match(t) for t in texts):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{page.url}: expected every code cell to have run within {timeout:.0f} s; "
                f"their prompts say {texts}"
            )
        time.sleep(0.5)


def save(page, path: Path, timeout: float = 30) -> None:
    """Ctrl+S, then wait until the tab is no longer marked dirty and the file was written."""
    before = path.stat().st_mtime_ns
    page.keyboard.press("Control+s")
    dirty = page.locator(".lm-TabBar-tab.lm-mod-current.jp-mod-dirty")
    deadline = time.monotonic() + timeout
    while dirty.count() or path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{page.url}: Ctrl+S did not save {path} within {timeout:.0f} s "
                f"(tab still dirty: {bool(dirty.count())}); page: {page_state(page)}"
            )
        time.sleep(0.25)


# --------------------------------------------------------------------------------------------
# nbgrader's Validate button


@dataclass
class Verdict:
    """What nbgrader's Validate dialog said."""

    outcome: str  #: success, failed, changed, type-changed, or error (no verdict at all)
    title: str
    text: str
    failed: list[tuple[str, str]]  #: (cell source, error) of each failed cell
    seconds: float  #: from the click to the dialog

    def describe(self) -> str:
        return (
            f"the Validate dialog {self.title!r} ({self.outcome}, after {self.seconds:.1f} s) "
            f"says:\n{self.text[:4000]}"
        )


# nbgrader's lab extension builds #validation-message with a class per outcome; each failed
# cell is a "The following cell failed:" line, then its source and its error in <pre>s.
_VERDICT_JS = """dlg => {
  const msg = dlg.querySelector('#validation-message');
  const pres = msg ? [...msg.querySelectorAll('.jp-RenderedText > pre')].map(p => p.innerText) : [];
  const title = dlg.querySelector('.jp-Dialog-header');
  return {
    cls: msg ? msg.className : '',
    title: title ? title.innerText : '',
    text: dlg.querySelector('.jp-Dialog-content').innerText,
    pres: pres,
  };
}"""


def validate(page, *, timeout: float = 180) -> Verdict:
    """Press the notebook toolbar's Validate button; return what the dialog says.

    The dialog stays open, so the test's final screenshot shows it.
    """
    button = notebook_panel(page).locator(".validate-button")
    started = time.monotonic()
    button.click()
    dialog = page.locator(".jp-Dialog").first
    try:
        dialog.wait_for(state="visible", timeout=timeout * 1000)
    except Exception as exc:
        raise AssertionError(
            f"{page.url}: no dialog within {timeout:.0f} s of pressing Validate; the button "
            f"says {button.inner_text()!r}; page: {page_state(page)}"
        ) from exc
    seconds = time.monotonic() - started
    info = dialog.evaluate(_VERDICT_JS)
    outcome = "error"
    for cls in ("success", "failed", "type-changed", "changed"):
        if f"validation-{cls}" in info["cls"].split():
            outcome = cls
            break
    pres = info["pres"]
    failed = list(zip(pres[0::2], pres[1::2], strict=False)) if outcome == "failed" else []
    return Verdict(outcome, info["title"], info["text"], failed, seconds)
