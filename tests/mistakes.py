"""Run a lab's solution notebook with one answer cell replaced, and report each test cell.

Each lab has a ``test_labNN_mistakes.py`` with a table of realistic wrong answers: every one must
fail a named test cell whose message names the mistake, and the solution must pass them all.
"""

import textwrap
from pathlib import Path

import nbformat
import numpy as np

from course_utils.grading import solution_code

REPO = Path(__file__).resolve().parents[1]


def run_cells(
    lab: str, replace: dict[str, str] | None = None, *, stop_after: str | None = None
) -> dict[str, str | None]:
    """Run a lab's solution notebook; return {test grade_id: None if passed, else the error}.

    ``stop_after``: stop once that test cell has run (a mistake need not run the cells after the
    test that must catch it)."""
    nb = nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    namespace: dict = {}
    results: dict[str, str | None] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        source = solution_code(cell.source)
        if replace and meta.get("grade_id") in replace:
            source = textwrap.dedent(replace[meta["grade_id"]])
        if meta.get("grade"):
            try:
                with np.errstate(all="ignore"):  # wrong answers may take log(0) on purpose
                    exec(compile(source, meta["grade_id"], "exec"), namespace)
                results[meta["grade_id"]] = None
            except Exception as exc:  # a failing test cell, whatever it raised
                results[meta["grade_id"]] = f"{type(exc).__name__}: {exc}"
            if meta["grade_id"] == stop_after:
                break
        else:
            exec(compile(source, meta.get("grade_id", "cell"), "exec"), namespace)
    return results
