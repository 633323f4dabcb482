"""A student's side, in a real browser: `make lab`, open a lab, run it, press nbgrader's Validate.

The bug these tests exist for: TensorFlow's native start-up log ("WARNING: All log messages
before absl::InitializeLog()", "I0000 ... oneDNN custom operations are on", cpu_feature_guard)
reached the cells as stderr, and nbgrader's Validate then reported a correct lab as failing,
with that log as "the error". Every process here gets the environment of a student's shell
(tests/user_env.py): under pytest's own environment the kernels would be quieter than theirs.

All tests share one JupyterLab (module-scoped ``student_lab``) serving a fresh ``my-labs``.
"""

from __future__ import annotations

import nbformat
import pytest

from course_utils.grading import filled_notebook, list_labs, solution_code
from tests.browser.conftest import REPO
from tests.browser.jupyterlab import (
    VALIDATE_TIMES,
    cell_at,
    click_menu,
    code_cells,
    noise_in,
    notebook_panel,
    open_notebook,
    run_cell,
    save,
    type_into_cell,
    validate,
    wait_all_code_cells_ran,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LABS = list_labs(REPO)
TYPED_LAB = "lab04_rnn_forward"
SUCCESS = "Success! Your notebook passes all the tests."
STDERR = "application/vnd.jupyter.stderr"
ERROR = "application/vnd.jupyter.error"


@pytest.fixture(autouse=True)
def _stop_kernels(student_lab):
    """Each opened notebook starts a kernel that would otherwise live until the module ends."""
    yield
    student_lab.shutdown_kernels()


def _nb(path):
    return nbformat.read(path, as_version=4)


def _is(cell, key: str) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get(key))


def _student_copy(server, lab):
    return server.root_dir / lab / f"{lab}.ipynb"


def _record(request, lab: str, what: str, verdict) -> None:
    VALIDATE_TIMES.append((request.node.name, lab, what, verdict.seconds, verdict.outcome))
    print(f"{lab}: Validate ({what}) took {verdict.seconds:.1f} s: {verdict.outcome}")


@pytest.mark.parametrize("lab", LABS)
def test_released_copy_opens_and_renders(page, student_lab, lab):
    copy = _student_copy(student_lab, lab)
    assert copy.is_file(), (
        f"`make lab` should have copied labs/{lab} to {copy}; it is missing. "
        f"Server log:\n{student_lab.log_tail()}"
    )
    released = _nb(REPO / "labs" / lab / f"{lab}.ipynb")
    assert [c.source for c in _nb(copy).cells] == [c.source for c in released.cells], (
        f"{copy} should be the released labs/{lab} untouched"
    )
    open_notebook(page, student_lab, f"{lab}/{lab}.ipynb")  # waits for every cell + kernel
    title = released.cells[0].source.splitlines()[0].lstrip("# ").strip()
    heading = notebook_panel(page).locator(".jp-RenderedMarkdown h1").first
    assert title in heading.inner_text(), (
        f"{page.url}: the first Markdown cell should render as the heading {title!r}; "
        f"the first <h1> says {heading.inner_text()!r}"
    )
    setup_text = code_cells(page).first.locator(".cm-content").inner_text()
    assert "runtime.setup_lab" in setup_text, (
        f"{page.url}: the first code cell should be the setup cell; it shows {setup_text!r}"
    )


@pytest.mark.parametrize("lab", LABS)
def test_setup_cell_shows_no_tensorflow_log(page, student_lab, lab):
    open_notebook(page, student_lab, f"{lab}/{lab}.ipynb")
    outputs = run_cell(page, code_cells(page).first)
    noisy = [o for o in outputs if noise_in(o["text"]) or o["mime"] == STDERR]
    assert not noisy, (
        f"{page.url}: running the setup cell should show no TensorFlow start-up log and "
        f"nothing on stderr; its output area shows:\n"
        + "\n".join(f"[{o['mime']}] {o['text']}" for o in outputs)
    )


def test_kernel_passes_native_stderr_to_the_cell(page, student_lab):
    """The control of the test above: without runtime's filter the log does reach the cell.

    If it did not (a kernel started with pytest's environment, say, or a TensorFlow that
    logs nothing on this CPU), a clean setup cell would prove nothing.
    """
    probe = student_lab.root_dir / "probe" / "import_tensorflow.ipynb"
    probe.parent.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import tensorflow as tf")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)"}
    nbformat.write(nb, probe)
    open_notebook(page, student_lab, "probe/import_tensorflow.ipynb")
    outputs = run_cell(page, code_cells(page).first)
    text = "\n".join(o["text"] for o in outputs)
    if not noise_in(text):
        pytest.skip(
            "a bare `import tensorflow` printed no start-up log in this kernel, so the "
            f"setup-cell tests cannot tell the fix from its absence here; output: {outputs}"
        )


@pytest.mark.parametrize("lab", LABS)
def test_validate_untouched_lab_lists_failing_tests(page, student_lab, lab, request):
    path = _student_copy(student_lab, lab)
    nb = _nb(path)
    assert all("NotImplementedError" in c.source for c in nb.cells if _is(c, "solution")), (
        f"{path} should still hold the released stubs; an earlier test changed it"
    )
    open_notebook(page, student_lab, f"{lab}/{lab}.ipynb")
    verdict = validate(page)
    _record(request, lab, "untouched", verdict)
    assert verdict.outcome == "failed" and verdict.failed, (
        f"{page.url}: on the untouched lab, Validate should list failing tests; "
        + verdict.describe()
    )
    # Only test cells may fail: never the setup cell, and never because of TensorFlow's log.
    tests = {c.source.splitlines()[0] for c in nb.cells if _is(c, "grade") and c.source}
    not_tests = [src for src, _ in verdict.failed if src.splitlines()[0] not in tests]
    assert not not_tests, (
        f"{page.url}: only graded test cells should fail on the untouched lab; these other "
        f"cells were listed: {not_tests}\n" + verdict.describe()
    )
    assert not noise_in(verdict.text), (
        f"{page.url}: TensorFlow's start-up log {noise_in(verdict.text)} is in the dialog; "
        + verdict.describe()
    )


@pytest.mark.parametrize("lab", LABS)
def test_validate_correct_answers_passes(page, student_lab, lab, request):
    """A student's folder holding a correctly answered copy (the solutions' code, pasted in)."""
    copy = _student_copy(student_lab, lab)
    filled = copy.with_name(f"{lab}_filled.ipynb")
    nbformat.write(filled_notebook(copy, REPO / "solutions" / lab / f"{lab}.ipynb"), filled)
    open_notebook(page, student_lab, f"{lab}/{filled.name}")
    verdict = validate(page)
    _record(request, lab, "correct answers", verdict)
    assert verdict.outcome == "success" and SUCCESS in verdict.text, (
        f"{page.url}: a correctly answered {lab} should pass; expected {SUCCESS!r}, but "
        + verdict.describe()
    )
    assert not noise_in(verdict.text), verdict.describe()


def test_lab04_answers_typed_in_the_browser_pass(page, snapshot, student_lab, request):
    """Answer lab04 in the student's own copy through the page, run it all, save, Validate.

    Kept last in this file: it changes the student's copy that the tests above expect
    untouched.
    """
    lab = TYPED_LAB
    path = _student_copy(student_lab, lab)
    nb = _nb(path)
    solution = _nb(REPO / "solutions" / lab / f"{lab}.ipynb")
    answers = {
        c.metadata["nbgrader"]["grade_id"]: solution_code(c.source)
        for c in solution.cells
        if _is(c, "solution")
    }
    to_answer = [  # (index of the cell, its grade_id)
        (i, c.metadata["nbgrader"]["grade_id"])
        for i, c in enumerate(nb.cells)
        if _is(c, "solution")
    ]
    assert to_answer and all("NotImplementedError" in nb.cells[i].source for i, _ in to_answer), (
        f"{path} should still hold the released stubs; an earlier test changed it"
    )

    open_notebook(page, student_lab, f"{lab}/{lab}.ipynb")
    for index, grade_id in to_answer:
        type_into_cell(page, cell_at(page, index), answers[grade_id])
    click_menu(page, "Run", "Run All Cells")
    wait_all_code_cells_ran(page)
    snapshot("after-run-all")
    panel = notebook_panel(page)
    for mime, what in ((ERROR, "an error"), (STDERR, "stderr output")):
        shown = panel.locator(f'.jp-OutputArea-output[data-mime-type="{mime}"]').all_text_contents()
        assert not shown, f"{page.url}: after Run All Cells no cell should show {what}; {shown}"
    save(page, path)

    saved = _nb(path)
    for index, grade_id in to_answer:
        assert saved.cells[index].source == answers[grade_id], (
            f"{path}: the saved answer cell {grade_id!r} should be exactly the pasted code "
            f"(no auto-indent, no doubled brackets).\nexpected:\n{answers[grade_id]}\n"
            f"saved:\n{saved.cells[index].source}"
        )
    not_run = [
        i
        for i, c in enumerate(saved.cells)
        if c.cell_type == "code" and not c.get("execution_count")
    ]
    assert not not_run, f"{path}: code cells {not_run} were saved without having run"

    verdict = validate(page)
    _record(request, lab, "typed in the browser", verdict)
    assert verdict.outcome == "success" and SUCCESS in verdict.text, (
        f"{page.url}: lab04 answered in the browser should pass; expected {SUCCESS!r}, but "
        + verdict.describe()
    )
