"""What reaches stderr in a graded cell, under a student's `nbgrader validate`.

nbgrader fails a graded cell that writes anything to stderr. The labs' set-up cell shows Python
warnings with the ordinary output, so a correct answer that makes NumPy warn still passes; a
print to ``sys.stderr`` still fails, exactly as under ``course grade``
(``tests/test_grade_adversarial.py`` checks that side with the same two answers).
"""

from pathlib import Path

import nbformat
import pytest

from course_utils import grading
from tests.test_grade_adversarial import WARNING_XENT
from tests.user_env import nbgrader_validate

REPO = Path(__file__).resolve().parents[1]
LAB = "lab04_rnn_forward"

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def lab04_with(xent_code: str, path: Path) -> Path:
    nb = grading.filled_notebook(
        REPO / "labs" / LAB / f"{LAB}.ipynb", REPO / "solutions" / LAB / f"{LAB}.ipynb"
    )
    cell = next(
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "sequence_cross_entropy"
    )
    cell.source = xent_code
    nbformat.write(nb, path)
    return path


def test_a_correct_answer_that_makes_numpy_warn_passes_validate(tmp_path):
    out = nbgrader_validate(lab04_with(WARNING_XENT, tmp_path / f"{LAB}.ipynb"))
    assert out.rstrip().endswith("Success! Your notebook passes all the tests."), out[-3000:]


def test_an_answer_that_prints_to_stderr_fails_validate(tmp_path):
    loud = WARNING_XENT.replace(
        "    real = targets != -1\n",
        "    import sys\n    print('debug: computing the loss', file=sys.stderr)\n"
        "    real = targets != -1\n",
    )
    out = nbgrader_validate(lab04_with(loud, tmp_path / f"{LAB}.ipynb"))
    assert "VALIDATION FAILED ON 3 CELL(S)" in out and "debug: computing the loss" in out, out[
        -3000:
    ]
