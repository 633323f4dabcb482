"""Run a lab's solution notebook with one answer cell replaced, and report each test cell.

Each lab has a ``test_labNN_mistakes.py`` with a table of realistic wrong answers: every one must
fail a named test cell whose message names the mistake, and the solution must pass them all.
"""

import textwrap
from pathlib import Path

import nbformat
import numpy as np

from course_utils.grading import solution_code
from course_utils.grading.execute.judge import Judge, LocalTransport

REPO = Path(__file__).resolve().parents[1]


def run_cells(
    lab: str,
    replace: dict[str, str] | None = None,
    *,
    stop_after: str | None = None,
    judged: bool = False,
) -> dict[str, str | None]:
    """Run a lab's solution notebook; return {test grade_id: None if passed, else the error}.

    ``stop_after``: stop once that test cell has run (a mistake need not run the cells after the
    test that must catch it). ``judged``: run the test cells as ``course grade`` does, in a
    ``Judge`` of their own that reaches the answers only through calls encoded as in the kernel
    (the set-up cells before the first answer run on both sides)."""
    nb = nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    namespace: dict = {}
    results: dict[str, str | None] = {}
    judge = Judge() if judged else None
    answered = False
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        source = solution_code(cell.source)
        if replace and meta.get("grade_id") in replace:
            source = textwrap.dedent(replace[meta["grade_id"]])
        answered = answered or bool(meta.get("solution"))
        if judge is not None and meta.get("grade"):
            with np.errstate(all="ignore"):
                verdict = judge.test(source, LocalTransport(namespace), meta["grade_id"])
            failed = verdict.status != "ok" or verdict.stderr.strip()
            results[meta["grade_id"]] = (
                f"{verdict.ename}: {verdict.evalue or verdict.stderr}" if failed else None
            )
            if meta["grade_id"] == stop_after:
                break
            continue
        if judge is not None and not answered and not meta.get("solution"):
            judge.setup(source)
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


#: Mistakes whose message differs under ``course grade``'s judge, with what it says instead: the
#: forged objects never reach the judge (only their plain values do), so a check names what is
#: actually wrong.
JUDGED_WORDS = {
    "forged: settings that equal anything": "kernel size 3 where 7 is expected",
    "forged: a keras.Model subclass that shows another model's layers": "could not rebuild",
    # Rebuilt in the same process as the answers here, its layers get new names ("embedding_1")
    "conv1d: Sequential with no Input, never built": "was never called on a tensor",
}


def check_judged(lab: str, name: str, grade_id: str, wrong: str, must_fail: str, results: dict):
    """The same mistake, judged as ``course grade`` judges it (tests outside the answers'
    namespace, calls through the wire): every test cell up to ``must_fail`` gets the same
    verdict as when the tests run beside the answers, with the same message."""
    judged = run_cells(lab, {grade_id: wrong}, stop_after=must_fail, judged=True)
    both = {k: (results[k] is None, judged[k] is None) for k in judged if k in results}
    assert all(a == b for a, b in both.values()), f"'{name}': passed (kernel, judge): {both}"
    words = JUDGED_WORDS.get(name)
    if words is None:
        assert judged[must_fail] == results[must_fail], (
            f"'{name}': {must_fail} says {judged[must_fail]!r} in the judge and "
            f"{results[must_fail]!r} beside the answers"
        )
    else:
        assert words in judged[must_fail], f"'{name}': the judge says {judged[must_fail]!r}"


def check_solution_passes(results: dict[str, str | None], at_least: int) -> None:
    """The solution passes every test cell, and at least ``at_least`` of them ran."""
    failed = {k: v for k, v in results.items() if v is not None}
    assert not failed, f"the solution fails these test cells: {failed}"
    assert len(results) >= at_least, f"only {len(results)} test cells ran, not {at_least}"


def check_mistake(lab: str, name: str, row: tuple, *, whole: bool = False) -> dict:
    """One row of a lab's mistake table, ``(grade_id, wrong code, test that must fail, words
    its message must contain)``: that test fails and says so, beside the answers and in the
    judge alike. ``whole``: run every cell, not only up to that test. Returns the results."""
    grade_id, wrong, must_fail, words = row
    results = run_cells(lab, {grade_id: wrong}, stop_after=None if whole else must_fail)
    assert results[must_fail] is not None, f"'{name}' passes {must_fail}"
    assert words in results[must_fail], f"'{name}': {must_fail} says {results[must_fail]!r}"
    check_judged(lab, name, grade_id, wrong, must_fail, results)
    return results
