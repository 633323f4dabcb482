"""Scoring a graded submission and writing it down: points per test, nbgrader's gradebook (one
writer: ``course grade``'s main thread), the autograded notebook with the grading notes."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

from . import feedback, intake
from .course import Course
from .execute.job import Result


def state_dir(course: Course, lab: str, student: str | None = None) -> Path:
    base = course.work / ".course" / "grade" / lab
    return base / student if student else base


@dataclass
class Outcome:
    student: str
    status: str  #: graded | unreadable | error | unchanged
    score: float = 0.0
    max_score: float = 0.0
    tests: dict[str, dict] = field(default_factory=dict)  #: grade_id -> {points, score, message}
    notes: list[str] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _test_cells(source: nbformat.NotebookNode) -> list[tuple[str, float]]:
    return [
        (intake.grade_meta(c)["grade_id"], float(intake.grade_meta(c).get("points", 0)))
        for c in source.cells
        if intake.role(c) == "test"
    ]


def score(source: nbformat.NotebookNode, result: Result | None, reason: str) -> dict[str, dict]:
    """Points per test cell: full marks when it ran and raised nothing, else 0 and why."""
    by_id = {c.grade_id: c for c in (result.cells if result else []) if c.grade_id}
    tests = {}
    for gid, points in _test_cells(source):
        cell = by_id.get(gid)
        if cell is None:
            tests[gid] = {"points": points, "score": 0.0, "message": f"not run: {reason}"}
        elif cell.status == "ok":
            tests[gid] = {"points": points, "score": points, "message": ""}
        else:
            message = f"{cell.ename}: {cell.evalue}".strip(": ")
            tests[gid] = {"points": points, "score": 0.0, "message": message or cell.status}
    return tests


def _notes_cell(lines: list[str]) -> nbformat.NotebookNode:
    text = "**Grading notes** (written by `course grade`)\n\n" + "\n".join(f"- {x}" for x in lines)
    cell = new_markdown_cell(text)
    cell.metadata["course"] = {"role": "notes"}
    return cell


def _release_notebook(course: Course, lab: str) -> nbformat.NotebookNode:
    """The unanswered notebook, for submissions that could not be read or run."""
    source = course.root / "solutions" / lab / f"{lab}.ipynb"
    return intake.prepare(source, {"cells": []}, lab).notebook


def record(course: Course, lab: str, student: str, outcome: Outcome, notebook, gb) -> None:
    """Write one student's grades to the gradebook and the autograded notebook to disk."""
    from nbgrader.utils import parse_utc

    submitted = course.work / "submitted" / student / lab
    stamp = submitted / "timestamp.txt"
    timestamp = None
    if stamp.is_file():
        try:
            timestamp = parse_utc(stamp.read_text().strip())
        except Exception:  # noqa: BLE001 - a bad timestamp file is a note, not a crash
            outcome.notes.append("timestamp.txt could not be read; no submission time recorded")
    gb.update_or_create_student(student)
    with warnings.catch_warnings():  # SQLAlchemy warns about nbgrader's own session handling
        warnings.simplefilter("ignore")
        if timestamp is not None:
            gb.update_or_create_submission(lab, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(lab, student)
    source = nbformat.read(course.root / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    answers = {
        intake.grade_meta(c)["grade_id"]: c.source
        for c in notebook.cells
        if c.metadata.get("course", {}).get("role") == "answer"
    }
    for cell in source.cells:
        md = intake.grade_meta(cell)
        gid = md.get("grade_id")
        if md.get("grade"):
            grade = gb.find_grade(gid, lab, lab, student)
            if md.get("solution"):  # a manually graded answer: nbgrader's rule
                unanswered = answers.get(gid, "").strip() == intake.stub_of(cell.source)
                grade.auto_score = 0.0 if unanswered else None
            else:
                grade.auto_score = outcome.tests.get(gid, {}).get("score", 0.0)
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        if md.get("solution"):
            comment = gb.find_comment(gid, lab, lab, student)
            unanswered = answers.get(gid, "").strip() == intake.stub_of(cell.source).strip()
            comment.auto_comment = "No response." if unanswered else None
    gb.db.commit()
    out_dir = course.work / "autograded" / student / lab
    out_dir.mkdir(parents=True, exist_ok=True)
    # The notes (repairs, limits hit) reach the student's feedback too; the review flags are
    # the instructor's (report and summary), since they are hints, not findings.
    if outcome.notes:
        notebook.cells.insert(0, _notes_cell(outcome.notes))
    # What the student's code displayed reaches Formgrader and the feedback: no scripts there.
    feedback.clean_notebook(notebook, for_student=False)
    tmp = out_dir / f".{lab}.ipynb.tmp"
    nbformat.write(notebook, tmp)
    tmp.replace(out_dir / f"{lab}.ipynb")
    if stamp.is_file():
        (out_dir / "timestamp.txt").write_text(stamp.read_text())


def _ensure_assignment(course: Course, lab: str) -> None:
    """Make sure the gradebook knows the lab (its cells and points), as `nbgrader` needs."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course.gradebook}") as gb:
        try:
            gb.find_assignment(lab)
            return
        except MissingEntry:
            pass
    release_dir = state_dir(course, lab) / "release"
    course.nbgrader("generate_assignment", lab, "--force", release_dir=release_dir)
