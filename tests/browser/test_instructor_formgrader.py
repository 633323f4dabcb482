"""An instructor's side: `course grade` a small class, then read the result in the Formgrader.

Where the Formgrader looks for the class (nbgrader 0.9.6, server_extensions/formgrader): it
loads nbgrader_config.py from the *server's working directory* (and the Jupyter config dirs),
takes the course root from ``CourseDirectory.root``, which defaults to that working directory,
and the gradebook from ``<root>/gradebook.db``. It also needs the course root to be at or below
the server's ``root_dir``: its links to notebooks (the "open live notebook" link of the
manual-grading page, the assignments' source and release folders) are paths relative to
``root_dir``. ``course lab --instructor`` starts the server in the course folder, serving it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from course_utils import grading
from course_utils.grading import demo
from tests.browser.conftest import LOGS, REPO, lab_args
from tests.browser.jupyterlab import click_menu, free_port, quiet_news, start_lab
from tests.user_env import user_environment

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAB = "lab04_rnn_forward"
INJECTOR = "demo_injects_html"
INJECT = """
from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML('<b>bold</b><script>window.PWNED_HTML = 1</script>'
             '<img src="x" onerror="window.PWNED_IMG = 1">'))
display(Javascript('window.PWNED_JS = 1'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.PWNED_SVG = 1"></svg>'))
display(Markdown('<img src="x" onerror="window.PWNED_MD = 1">'))
"""
#: A Markdown cell the same student adds: formulas that would set window.PWNED_MATH if the
#: feedback page's MathML (course_utils.grading.mathml) kept a link, handler or style.
INJECT_MATH = (
    "My notes: $h_t = \\tanh(x_t W_x + h_{t-1} W_h + b)$ and "
    "$\\href{javascript:window.PWNED_MATH=1}{click}$, "
    '$\\color{red" onmouseover="window.PWNED_MATH=1}{x}$, '
    "$\\text{<img src=x onerror=window.PWNED_MATH=1>}$"
)
PWNED = "Object.keys(window).filter(k => k.startsWith('PWNED'))"


def _open_up(folder: Path) -> None:
    """World-readable: `course grade` runs the kernels as uid 61000+, which must read the class."""
    for dirpath, _, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


@pytest.fixture(scope="module")
def graded_class(browser):
    """A small course (config, solutions/, labs/) whose three demo students are graded.

    Under /var/tmp, not pytest's tmp_path: that is private to root (0700), and the sandboxed
    kernels, running as another uid, could not reach the submissions through it.
    """
    root = Path(tempfile.mkdtemp(prefix="course-browser-", dir="/var/tmp"))
    try:
        shutil.copy2(REPO / "nbgrader_config.py", root)
        skip = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        for folder in ("solutions", "labs"):
            shutil.copytree(REPO / folder, root / folder, ignore=skip)
        course = grading.Course(root=root, work=root)
        students = demo.make_submissions(course, LAB)
        # A student whose answer displays HTML, JavaScript, SVG and Markdown that would set
        # window.PWNED_* if a browser ever ran it (see test_no_student_script_runs_...).
        injected = grading.filled_notebook(
            root / "labs" / LAB / f"{LAB}.ipynb", root / "solutions" / LAB / f"{LAB}.ipynb"
        )
        answer = next(
            c
            for c in injected.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == "rnn_step_forward"
        )
        answer.source += "\n" + INJECT
        injected.cells.insert(
            injected.cells.index(answer) + 1, nbformat.v4.new_markdown_cell(INJECT_MATH)
        )
        grading.submit(course, INJECTOR, LAB, injected)
        students.append(INJECTOR)
        _open_up(root)
        # A temporary HOME, not /root: the venv's Python may live below a 0700 home (pyenv in
        # /root), which the sandbox must still let the kernels' uid reach.
        home = root / "instructor-home"
        home.mkdir()
        proc = subprocess.run(
            [str(REPO / ".venv/bin/course"), "grade", LAB, "--root", str(root), "--jobs", "2"]
            + ["--quiet"],
            cwd=root,
            env=user_environment(home=home),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, (
            f"`course grade {LAB}` should succeed; exit {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        scores = {s.student: s for s in grading.scores(course) if s.lab == LAB}
        assert set(scores) == set(students), f"gradebook has {sorted(scores)}, not {students}"
        # Sanity of the grading itself, so the browser compares against believable numbers.
        full = scores["demo_complete"].max_score
        assert scores["demo_complete"].score == full, f"{proc.stdout}"
        assert scores["demo_untouched"].score == 0, f"{proc.stdout}"
        assert 0 < scores["demo_mistake"].score < full, f"{proc.stdout}"
        yield root, scores
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def formgrader_lab(graded_class, tmp_path_factory):
    """JupyterLab as `course lab` starts it, but in the course folder and serving it."""
    root, _ = graded_class
    home = tmp_path_factory.mktemp("instructor-home")
    quiet_news(home)
    port, token = free_port(), secrets.token_hex(16)
    # What the README tells instructors: `course lab --instructor` serves the course folder
    # itself (no student copies) from there, so Formgrader finds the class and its links work.
    cmd = [str(REPO / ".venv/bin/course"), "lab", "--root", str(root), "--instructor"]
    server = start_lab(
        cmd + lab_args(port, token),
        cwd=root,
        home=home,
        root_dir=root,
        port=port,
        token=token,
        log_path=LOGS / "instructor-course-lab.log",
    )
    yield server
    server.stop()


def appears(locator, timeout_ms: int, explain) -> None:
    """Wait until ``locator`` is on the page; if it never is, fail with ``explain()`` (read from
    the page only then)."""
    try:
        locator.wait_for(timeout=timeout_ms)
    except Exception as exc:  # Playwright's TimeoutError
        raise AssertionError(explain()) from exc


def _score(text: str) -> tuple[float, float]:
    got, of = (float(x) for x in text.split("/"))
    return got, of


def test_formgrader_shows_the_scores_course_grade_recorded(
    page, snapshot, graded_class, formgrader_lab
):
    root, scores = graded_class
    requested: list[str] = []  # every URL the page and its frames ask for
    page.on("request", lambda request: requested.append(request.url))
    page.goto(formgrader_lab.lab_url())
    page.locator(".jp-NotebookPanel, .jp-Launcher").first.wait_for(timeout=60_000)
    click_menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")

    # Manage Assignments: the lab is listed, with its three submissions.
    row = frame.locator("tr", has=frame.locator("td", has_text=re.compile(rf"^\s*{LAB}\s*$")))
    appears(
        row,
        60_000,
        lambda: (
            f"Formgrader's Manage Assignments should list {LAB}; it shows:\n"
            f"{frame.locator('body').inner_text()[:3000]}\n"
            f"Server log:\n{formgrader_lab.log_tail(20)}"
        ),
    )
    count = row.locator("a[href*='manage_submissions']")
    assert count.inner_text().strip() == str(len(scores)), (
        f"Manage Assignments: {LAB} should show {len(scores)} submissions; its row says "
        f"{row.inner_text()!r}"
    )

    # Manage Submissions: each student's score is what `course grade` wrote to the gradebook.
    count.click()
    for student, recorded in scores.items():
        srow = frame.locator("tr", has=frame.locator("td", has_text=re.compile(rf"^{student}$")))
        srow.wait_for(timeout=30_000)
        shown = srow.locator("td.score").inner_text().strip()
        assert _score(shown) == (recorded.score, recorded.max_score), (
            f"Formgrader's submissions of {LAB}: {student} should score "
            f"{recorded.score:g} / {recorded.max_score:g} as recorded by `course grade`; "
            f"the page shows {shown!r} (row: {srow.inner_text()!r})"
        )

    snapshot("submissions")

    # The manual-grading page of one submission: the student's page, then the notebook's link.
    student = "demo_mistake"
    frame.locator("tr", has_text=student).locator(f"a[href*='manage_students/{student}/']").click()
    frame.locator("a[href*='/formgrader/submissions/']").first.click()
    notebook = frame.locator(".cell, .jp-Cell").first
    appears(
        notebook,
        60_000,
        lambda: (
            f"{student}'s manual-grading page should show the graded notebook; it shows:\n"
            f"{frame.locator('body').inner_text()[:3000]}"
        ),
    )
    body = frame.locator("body").inner_text()
    mistake = demo.MISTAKES[LAB].new
    assert mistake in body, (
        f"{student}'s manual-grading page should show their code ({mistake!r}); it shows:\n"
        f"{body[:3000]}"
    )
    # Offline: the manual-grading page takes MathJax from this server, and nothing from
    # any other host; the lab's markdown (its $...$) is typeset.
    remote = [
        url
        for url in requested
        if urlparse(url).scheme in ("http", "https")
        and urlparse(url).hostname not in ("localhost", "127.0.0.1")
    ]
    assert not remote, f"Formgrader fetched from other hosts (none offline): {remote[:5]}"
    local_mathjax = [u for u in requested if "/static/jupyter_server_mathjax/MathJax.js" in u]
    assert local_mathjax, (
        "the manual-grading page should load MathJax from the local server; it asked for "
        f"{[u for u in requested if 'mathjax' in u.lower()] or 'no MathJax at all'}"
    )
    typeset = frame.locator(".MathJax, .MathJax_Display, .MathJax_CHTML, .MathJax_SVG").first
    appears(
        typeset,
        30_000,
        lambda: f"{student}'s manual-grading page loaded {local_mathjax[0]} but typeset no math",
    )
    snapshot("manual-grading")

    # "Open live notebook" (the breadcrumb's "Submission #n"): inside JupyterLab the page asks
    # the lab to open its path, relative to the server's root_dir, so it must resolve there.
    autograded = f"autograded/{student}/{LAB}/{LAB}.ipynb"
    frame.locator("li.live-notebook a:visible").click()
    tab = page.locator(f".lm-TabBar-tab[title*='{autograded}']")
    appears(
        tab,
        60_000,
        lambda: (
            f"Clicking 'Submission #n' on {student}'s manual-grading page should open "
            f"{autograded} in JupyterLab; the open tabs are "
            f"{page.locator('.lm-TabBar-tab').evaluate_all('ts => ts.map(t => t.title)')}; "
            f"dialogs: {page.locator('.jp-Dialog').all_inner_texts()}"
        ),
    )
    want = len(nbformat.read(root / autograded, as_version=4).cells)
    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")
    deadline = time.monotonic() + 60
    while cells.count() != want:  # cells are added to the page in batches
        assert time.monotonic() < deadline, (
            f"{page.url}: {autograded} should show its {want} cells; {cells.count()} appeared"
        )
        time.sleep(0.3)


def test_feedback_shows_formulas_offline_without_any_script(page, snapshot, graded_class):
    """Students open their feedback from disk, often offline: the lab's formulas are MathML,
    drawn by the browser itself, and the page asks the network for nothing it needs."""
    root, _ = graded_class
    feedback = root / "feedback" / "demo_complete" / LAB / f"{LAB}.html"
    asked = []
    page.route(
        re.compile(r"^https?://"), lambda route: (asked.append(route.request.url), route.abort())
    )
    page.goto(feedback.as_uri())
    page.wait_for_load_state("load")
    formulas = page.locator("math")
    assert formulas.count() > 5, f"{feedback} should show the lab's formulas as MathML"
    display = page.locator("math[display=block]").first
    display.scroll_into_view_if_needed()
    # Drawn as a formula: a subscript sits lower than its base and is smaller (as plain text,
    # or with MathML ignored, both would share one baseline and size).
    base, script = (display.locator("msub").first.locator(":scope > *").nth(i) for i in (0, 1))
    b, s = base.bounding_box(), script.bounding_box()
    assert b and s and s["y"] + s["height"] / 2 > b["y"] + b["height"] / 2 + 2, (b, s)
    assert s["height"] < b["height"], f"the subscript should be smaller: {b}, {s}"
    text = page.locator("body").inner_text()
    assert "\\tanh" not in text and "$$" not in text, "TeX source is showing in the feedback"
    assert asked == [], f"the feedback page asked the network for {asked}"
    snapshot("formula")
    # Defence in depth: were a script ever to slip past the cleaning, the page's
    # Content-Security-Policy would still stop it.
    forged = feedback.with_name("forged.html")
    forged.write_text(
        feedback.read_text(encoding="utf-8").replace(
            "</body>",
            '<script>window.PWNED_CSP = 1</script><img src="data:," onerror="window.PWNED_ONERR=1">'
            "</body>",
        ),
        encoding="utf-8",
    )
    page.goto(forged.as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)
    assert page.evaluate(PWNED) == [], "the feedback page's policy should forbid every script"


def test_no_student_script_runs_in_the_feedback_or_in_formgrader(
    page, snapshot, graded_class, formgrader_lab
):
    """A student's HTML, JavaScript, SVG and Markdown outputs are shown (as text at most) but
    never run: not in the feedback page the student opens, not in the instructor's Formgrader."""
    root, scores = graded_class
    assert scores[INJECTOR].score == scores[INJECTOR].max_score  # displaying is not a mistake
    feedback = root / "feedback" / INJECTOR / LAB / f"{LAB}.html"
    page.goto(feedback.as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(1000)  # an onerror or onload would have fired by now
    formulas = page.locator("p", has_text="My notes").locator("math")
    assert formulas.count() >= 3, f"the student's formulas should show as MathML: {feedback}"
    for i in range(formulas.count()):  # a kept link or handler would fire now
        formulas.nth(i).hover()
        formulas.nth(i).click()
    page.wait_for_timeout(500)
    assert page.evaluate(PWNED) == [], f"the feedback page ran the student's script: {feedback}"
    snapshot("feedback")

    page.goto(formgrader_lab.lab_url())
    page.locator(".jp-NotebookPanel, .jp-Launcher").first.wait_for(timeout=60_000)
    click_menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")
    frame.locator("a[href*='manage_students']").first.click()  # Manage Students
    frame.locator("tr", has_text=INJECTOR).locator("a").first.click()  # the student's labs
    frame.locator(f"a[href*='manage_students/{INJECTOR}/']").click()  # the lab's notebooks
    frame.locator("a[href*='/formgrader/submissions/']").first.click()
    frame.locator(".cell, .jp-Cell").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    inner = next(f for f in page.frames if "/formgrader/submissions/" in f.url)
    assert "bold" in inner.locator("body").inner_text()  # the harmless part is shown
    assert inner.evaluate(PWNED) == [], "Formgrader ran the student's script"
    assert page.evaluate(PWNED) == []
    snapshot("formgrader")
