"""The instructor's side of nbgrader: release labs, autograde submissions, feedback, scores.

A ``Course`` pairs the repository (``solutions/``, ``labs/``, ``nbgrader_config.py``) with a
working directory for one class's state (``submitted/``, ``autograded/``, ``feedback/`` and the
gradebook), so a demo or a test never touches a real class's files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


class GradingError(RuntimeError):
    """An nbgrader step failed; the message carries its log."""


def tool_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for nbgrader and grading workers: ``base`` (default: this process's)
    with this venv's bin/ first on PATH.

    nbgrader runs `alembic`, and kernels run `python`, from PATH; without this they would pick
    up whatever else is installed. Also quiets the debugger's start-up noise.
    """
    base = os.environ if base is None else base
    path = base.get("PATH", "")
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in path.split(os.pathsep):
        path = os.pathsep.join([bin_dir, path])
    return {**base, "PATH": path, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


@dataclass(frozen=True)
class Course:
    """Where the course's notebooks live (``root``) and where one class's grading state lives."""

    root: Path
    work: Path
    #: The environment nbgrader runs in (default: this process's); see ``tool_environment``.
    env: Mapping[str, str] | None = field(default=None, compare=False)

    @classmethod
    def at(cls, root: str | os.PathLike, work: str | os.PathLike | None = None) -> Course:
        root = Path(root).resolve()
        if not (root / "nbgrader_config.py").is_file() or not (root / "solutions").is_dir():
            raise GradingError(
                f"{root} is not a course checkout: it needs nbgrader_config.py and solutions/. "
                "Run the command from the repository root or pass --root."
            )
        return cls(root=root, work=Path(work).resolve() if work else root)

    @property
    def gradebook(self) -> Path:
        return self.work / "gradebook.db"

    def nbgrader(self, *args: str, release_dir: Path | None = None) -> subprocess.CompletedProcess:
        """Run one nbgrader command for this course; raise GradingError if it fails."""
        settings = {
            "root": self.root,
            "release_directory": release_dir or self.root / "labs",
            "submitted_directory": self.work / "submitted",
            "autograded_directory": self.work / "autograded",
            "feedback_directory": self.work / "feedback",
            "db_url": f"sqlite:///{self.gradebook}",
        }
        cmd = [sys.executable, "-m", "nbgrader", *args]
        cmd += [f"--CourseDirectory.{key}={value}" for key, value in settings.items()]
        self.work.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            cmd, cwd=self.root, capture_output=True, text=True, env=tool_environment(self.env)
        )
        if proc.returncode != 0:
            raise GradingError(
                f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n"
                f"{proc.stderr[-4000:]}"
            )
        return proc


def list_labs(root: str | os.PathLike) -> list[str]:
    """Return the lab ids: folders of ``solutions/`` that hold a notebook of the same name."""
    solutions = Path(root) / "solutions"
    return sorted(d.name for d in solutions.iterdir() if (d / f"{d.name}.ipynb").is_file())


def release(
    course: Course, labs: list[str] | None = None, *, into: Path | None = None
) -> list[Path]:
    """Generate the student version of each lab (into ``labs/`` unless ``into`` is given)."""
    out = []
    for lab in labs or list_labs(course.root):
        course.nbgrader("generate_assignment", lab, "--force", release_dir=into)
        out.append((into or course.root / "labs") / lab / f"{lab}.ipynb")
    return out


def solution_code(source: str) -> str:
    """Return an answer cell's solution code with the BEGIN/END SOLUTION marker lines removed."""
    return SOLUTION_MARKERS.sub("", source)


def filled_notebook(lab_path: Path, solution_path: Path) -> nbformat.NotebookNode:
    """Return the student notebook with every answer cell replaced by the solution's code."""
    student = nbformat.read(lab_path, as_version=4)
    solution = nbformat.read(solution_path, as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: solution_code(c.source)
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in student.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return student


def submit(course: Course, student: str, lab: str, nb: nbformat.NotebookNode) -> Path:
    """Place a notebook where nbgrader expects a collected submission."""
    path = course.work / "submitted" / student / lab / f"{lab}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def autograde(course: Course, lab: str, *, student: str | None = None) -> None:
    """Autograde every submission of ``lab`` (or one student's) into the gradebook."""
    args = ["autograde", lab, "--force"]
    if student:
        args.append(f"--student={student}")
    course.nbgrader(*args)


def generate_feedback(course: Course, lab: str) -> Path:
    """Write HTML feedback (hidden tests' source removed) for every graded submission of ``lab``."""
    course.nbgrader("generate_feedback", lab, "--force")
    return course.work / "feedback"


@dataclass(frozen=True)
class Score:
    student: str
    lab: str
    score: float
    max_score: float


def scores(course: Course) -> list[Score]:
    """Read every graded submission's score from the gradebook."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{course.gradebook}") as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                rows.append(
                    Score(
                        student=submission.student.id,
                        lab=assignment.name,
                        score=float(submission.score),
                        max_score=float(submission.max_score),
                    )
                )
    return sorted(rows, key=lambda r: (r.student, r.lab))


def score_table(rows: list[Score]) -> str:
    """Format scores as a plain-text table: one row per student, one column per lab."""
    labs = sorted({r.lab for r in rows})
    students = sorted({r.student for r in rows})
    cell = {(r.student, r.lab): f"{r.score:g}/{r.max_score:g}" for r in rows}
    totals = {
        s: (
            sum(r.score for r in rows if r.student == s),
            sum(r.max_score for r in rows if r.student == s),
        )
        for s in students
    }
    header = ["student", *labs, "total"]
    body = [
        [s, *(cell.get((s, lab), "-") for lab in labs), f"{totals[s][0]:g}/{totals[s][1]:g}"]
        for s in students
    ]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True))
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
