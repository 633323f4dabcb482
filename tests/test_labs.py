"""Every lab through nbgrader: validate, validate --invert, labs/ in sync, autograde, feedback.

nbgrader runs as a separate process with the environment a user's shell has
(``tests/user_env.py``), never this test run's: kernels started from pytest inherit
``PYTEST_CURRENT_TEST``, which makes ipykernel drop what native code writes to stderr, and that
hid TensorFlow's start-up log failing every Keras check under a student's Validate button.
"""

import html
import re
from pathlib import Path

import nbformat
import pytest

from course_utils import grading
from course_utils.grading import demo
from tests.user_env import nbgrader_validate, user_environment

REPO = Path(__file__).resolve().parents[1]
LABS = grading.list_labs(REPO)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def notebook(kind: str, lab: str) -> Path:
    return REPO / kind / lab / f"{lab}.ipynb"


def test_there_are_labs_and_each_has_a_student_version():
    assert LABS, "no lab found under solutions/"
    released = sorted(p.name for p in (REPO / "labs").iterdir() if p.is_dir())
    assert released == LABS, "labs/ and solutions/ hold different labs: run `make release`"


@pytest.fixture(scope="module", params=LABS)
def graded(request, tmp_path_factory):
    """Release a lab into a scratch class, autograde the demo students, write feedback."""
    lab = request.param
    work = tmp_path_factory.mktemp(lab)
    course = grading.Course(root=REPO, work=work, env=user_environment(activated=True))
    grading.release(course, [lab], into=work / "release")
    students = demo.make_submissions(course, lab)
    grading.autograde(course, lab)
    grading.generate_feedback(course, lab)
    scores = {s.student: s for s in grading.scores(course) if s.lab == lab}
    return lab, work, students, scores


def test_labs_folder_is_exactly_what_generate_assignment_makes(graded):
    lab, work, _, _ = graded
    fresh = sorted(p.relative_to(work / "release") for p in (work / "release" / lab).rglob("*"))
    committed = sorted(p.relative_to(REPO / "labs") for p in (REPO / "labs" / lab).rglob("*"))
    assert committed == fresh, (
        f"labs/{lab} holds other files than a fresh release: run `make release`"
    )
    for rel in fresh:
        if (work / "release" / rel).is_file():
            assert (work / "release" / rel).read_bytes() == (REPO / "labs" / rel).read_bytes(), (
                f"labs/{rel} differs from what solutions/ generates today: run `make release`"
            )


def test_solution_gets_full_marks_and_untouched_release_zero(graded):
    lab, _, _, scores = graded
    complete, untouched = scores["demo_complete"], scores["demo_untouched"]
    assert complete.max_score > 0
    assert complete.score == complete.max_score, f"{lab}: the solution scored {complete.score}"
    assert untouched.score == 0, f"{lab}: the untouched student version scored {untouched.score}"


def test_a_realistic_mistake_loses_some_points_but_not_all(graded):
    lab, _, students, scores = graded
    if lab not in demo.MISTAKES:
        pytest.skip(f"{lab} has no demo mistake")
    wrong = scores["demo_mistake"]
    assert 0 < wrong.score < wrong.max_score, (
        f"{lab}: mistake scored {wrong.score}/{wrong.max_score}"
    )


def test_feedback_never_shows_hidden_test_source(graded):
    lab, work, _, _ = graded
    solution = nbformat.read(notebook("solutions", lab), as_version=4)
    hidden_lines = {
        line.strip()
        for cell in solution.cells
        for block in HIDDEN.findall(cell.source)
        for line in block.splitlines()
        if len(line.strip()) > 25 and not line.strip().startswith("#")
    }
    released = nbformat.read(notebook("labs", lab), as_version=4)
    visible = "\n".join(cell.source for cell in released.cells)
    hidden_lines = {line for line in hidden_lines if line not in visible}
    assert hidden_lines, f"{lab} has no hidden tests"
    page = (work / "feedback" / "demo_complete" / lab / f"{lab}.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    shown = [line for line in hidden_lines if line in text]
    assert not shown, f"feedback for {lab} shows hidden test lines: {shown[:3]}"


MATH = re.compile(r"(?<![$\\])\$[^$\n]+\$|\$\$.+?\$\$", re.DOTALL)


def test_feedback_shows_the_labs_formulas_as_mathml_without_a_script(graded):
    """Students open feedback from disk, often offline: formulas must not need MathJax."""
    lab, work, _, _ = graded
    released = nbformat.read(notebook("labs", lab), as_version=4)
    formulas = sum(
        len(MATH.findall(re.sub(r"`[^`]*`", "", c.source)))
        for c in released.cells
        if c.cell_type == "markdown"
    )
    page = (work / "feedback" / "demo_complete" / lab / f"{lab}.html").read_text(encoding="utf-8")
    if not formulas:
        pytest.skip(f"{lab} has no formula in its Markdown")
    assert page.count("<math") >= formulas, (
        f"{lab}: {formulas} formulas in the lab, {page.count('<math')} MathML elements in the "
        "feedback page (is GenerateFeedback.exporter_class set in nbgrader_config.py?)"
    )
    head, body = page.split("<body", 1)
    assert "$$" not in html.unescape(re.sub(r"<[^>]+>", "", body)), (
        f"{lab}: a displayed formula is still TeX source on the feedback page"
    )
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert not scripts, f"{lab}: the feedback page still loads or runs scripts: {scripts}"
    assert "Content-Security-Policy" in head and "script-src 'none'" in head, (
        f"{lab}: the feedback page has no policy forbidding scripts in its <head>"
    )


def passed(output: str) -> bool:
    return output.rstrip().splitlines()[-1:] == ["Success! Your notebook passes all the tests."]


@pytest.mark.parametrize("lab", LABS)
def test_solution_passes_every_test_with_nbgrader_validate(lab):
    out = nbgrader_validate(notebook("solutions", lab))
    assert passed(out), f"nbgrader validate on solutions/{lab} said:\n{out[-3000:]}"


@pytest.mark.parametrize("lab", LABS)
def test_a_correctly_answered_student_copy_passes_nbgrader_validate(lab, tmp_path):
    """What a student's Validate button does with a complete lab: no log noise may fail it."""
    filled = grading.filled_notebook(notebook("labs", lab), notebook("solutions", lab))
    path = tmp_path / f"{lab}.ipynb"
    nbformat.write(filled, path)
    out = nbgrader_validate(path)
    assert passed(out), f"nbgrader validate on a correctly answered {lab} said:\n{out[-3000:]}"


@pytest.mark.parametrize("lab", LABS)
def test_student_version_passes_no_test_with_validate_invert(lab):
    out = nbgrader_validate(notebook("labs", lab), invert=True)
    assert out.rstrip().endswith("Success! The notebook does not pass any tests."), out[-3000:]
