"""``course grade ASSIGNMENT`` for any nbgrader course: nbgrader's own autograde steps, with the
notebooks executed in parallel in this package's sandboxed kernels.

For a course that is not laid out like this repository (``source/``, assignments of several
notebooks, data files, ``timestamp.txt``, markdown answers, autotests), grading goes through
nbgrader's ``Autograde`` converter itself, so scores, comments, late penalties and
``autograded/`` are nbgrader's:

1. in this process, one student at a time: nbgrader's ``init_assignment`` (files, timestamps,
   the gradebook's student and submission, zeros for missing notebooks) and its sanitizing
   preprocessors (outputs cleared, test and locked cells restored from the gradebook);
2. in parallel, on the worker pool (or a Dask cluster): every sanitized notebook runs in a
   sandboxed kernel whose working folder holds the assignment's files, as nbgrader's ``Execute``
   would run it there;
3. in this process again, as each student's notebooks come back: nbgrader's autograding
   preprocessors, with ``Execute`` replaced by the executed notebook (``SaveAutoGrades``,
   ``AssignLatePenalties`` and the rest unchanged). This process is the only writer of the
   gradebook, ``autograded/`` and the reports.

What differs from ``nbgrader autograde``, on purpose (``DIFFERENCES``), is said in the README and
in the notes of each student it concerns.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import shutil
import stat
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat

from . import intake
from .course import Course, GradingError, tool_environment
from .execute.job import Result
from .limits import Limits
from .record import Outcome, state_dir

#: What ``course grade`` does differently from ``nbgrader autograde`` in a plain nbgrader course.
DIFFERENCES = {
    "crash": "the kernel died or the notebook ran out of time; the cells before it keep their "
    "points (nbgrader autograde gives the whole notebook no score)",
    "link": "a symbolic link, FIFO or device in the submission is never followed or copied: the "
    "submission is not graded (nbgrader autograde copies what a link points to)",
    "unreadable": "a notebook that cannot be read (not JSON, empty, too large) scores 0 on its "
    "own; the student's other notebooks are still graded (nbgrader autograde fails them all)",
}
#: a student's marker while their grading is under way (see ``_recover``)
PENDING = "pending"
#: Kernel names this package's executor runs (its own environment's Python 3)
PYTHON_KERNELS = {"python3", "python"}


def is_nbgrader_course(root: Path, assignment: str) -> bool:
    """Is ``assignment`` graded the plain-nbgrader way (not one of this repository's labs)?"""
    own = root / "solutions" / assignment / f"{assignment}.ipynb"
    return (root / "nbgrader_config.py").is_file() and not own.is_file()


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run an nbgrader command in the course folder, with its own configuration."""
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=tool_environment(),
    )
    if proc.returncode != 0:
        raise GradingError(
            f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return proc


def load_config(root: Path):
    """The course's nbgrader configuration: the user's and system's ``nbgrader_config.py``
    (as nbgrader reads them), then the course folder's own, which wins."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(root)]:
        if (Path(folder) / "nbgrader_config.py").is_file():
            try:
                config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
            except Exception as exc:  # noqa: BLE001 - any error in the file
                raise GradingError(
                    f"{folder}/nbgrader_config.py could not be read: {exc}"
                ) from None
    if "root" not in config.get("CourseDirectory", {}):
        config.CourseDirectory.root = str(root)
    return config


def course_limits(config, limits: Limits, timeout_given: bool) -> Limits:
    """nbgrader's ``Execute.timeout`` (30 s unless the course sets it) unless ``--timeout``
    was given; no timeout at all in nbgrader is an hour here."""
    if timeout_given:
        return limits
    timeout = config.get("Execute", {}).get("timeout", 30)
    timeout = 3600.0 if timeout is None or timeout <= 0 else float(timeout)
    return dataclasses.replace(limits, cell_timeout=timeout)


#: A submitted folder holding more than this is not copied (nbgrader would copy it all).
MAX_FOLDER_BYTES, MAX_FOLDER_FILES = 500 << 20, 2000


def _unsafe_entries(folder: Path) -> list[str]:
    """What in a student's submitted folder is not a plain file or folder, or is too large."""
    problems = []
    if folder.is_symlink():
        return [f"{folder.name} is a symbolic link"]
    total = count = 0
    for current, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = Path(current) / name
            info = path.lstat()
            rel = path.relative_to(folder)
            if stat.S_ISLNK(info.st_mode):
                problems.append(f"{rel} is a symbolic link")
            elif not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                problems.append(f"{rel} is not a regular file (a FIFO or a device)")
            elif stat.S_ISREG(info.st_mode) and info.st_size > intake.MAX_SUBMISSION_BYTES:
                problems.append(f"{rel} is over {intake.MAX_SUBMISSION_BYTES >> 20} MB")
            else:
                total, count = total + info.st_size, count + 1
    if total > MAX_FOLDER_BYTES or count > MAX_FOLDER_FILES:
        problems.append(
            f"the folder holds {count} files, {total >> 20} MB in all (at most "
            f"{MAX_FOLDER_FILES} files and {MAX_FOLDER_BYTES >> 20} MB)"
        )
    return problems


class _Notes(logging.Handler):
    """nbgrader's warnings while one student is processed (changed cells, missing files)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().splitlines()[0][:300])


def grade_course(
    root: Path,
    assignment: str,
    *,
    jobs: int | None = None,
    limits: Limits | None = None,
    timeout_given: bool = False,
    regrade: bool = False,
    feedback: bool = True,
    progress: bool = True,
    students: list[str] | None = None,
    cluster: str | None = None,
) -> list[Outcome]:
    """Autograde ``assignment`` of the nbgrader course in ``root``; return one outcome per
    student graded or found unchanged."""
    from nbgrader.coursedir import CourseDirectory

    from .grade import class_lock, open_workers, preflight

    root = Path(root).resolve()
    config = load_config(root)
    coursedir = CourseDirectory(config=config)
    course = Course(root=Path(coursedir.root).resolve(), work=Path(coursedir.root).resolve())
    limits = course_limits(config, limits or Limits(), timeout_given)
    os.environ["PATH"] = tool_environment()["PATH"]  # nbgrader's Gradebook runs alembic
    base = state_dir(course, assignment)
    base.mkdir(parents=True, exist_ok=True)
    lock = class_lock(base, assignment, root)
    workers = None
    try:
        if limits.sandbox:
            preflight(course, assignment, limits)
        workers = open_workers(cluster, course)
        jobs = max(1, jobs or (workers.slots() if cluster else os.cpu_count()) or 1)
        run = _Run(course, coursedir, config, assignment, limits, workers, jobs, progress)
        # The course's own modules (a late-penalty plugin, a hook) import as under nbgrader,
        # which runs with the course folder on sys.path
        sys.path.insert(0, str(course.root))
        with warnings.catch_warnings():
            # nbgrader's gradebook trips SQLAlchemy's autoflush warnings on every submission
            warnings.filterwarnings("ignore", message=".*not in session.*")
            rows = run.grade(regrade=regrade, students=students)
        from .report import write_report

        write_report(course, assignment, rows)
        if feedback and any(r.status == "graded" for r in rows):
            try:
                nbgrader(course.root, "generate_feedback", assignment, "--force")
            except GradingError as exc:
                raise GradingError(f"the grades are recorded, but {exc}") from None
        return rows
    finally:
        if str(course.root) in sys.path:
            sys.path.remove(str(course.root))
        if workers is not None:
            workers.stop()
        lock.close()  # releases the lock


class _Run:
    """One ``course grade`` run over an nbgrader course's assignment."""

    def __init__(self, course, coursedir, config, assignment, limits, workers, jobs, progress):
        self.course, self.coursedir, self.config = course, coursedir, config
        self.assignment, self.limits, self.workers, self.jobs = assignment, limits, workers, jobs
        self.progress = progress
        self.outcomes: dict[str, Outcome] = {}
        self.executed: dict[tuple[str, str], Path] = {}  #: (student, notebook) -> executed
        self.results: dict[tuple[str, str], Result | None] = {}
        self.failures: dict[tuple[str, str], str] = {}  #: notebooks no kernel could run
        self.pending_notes: dict[str, list[str]] = {}  #: from sanitizing, until scored
        self.students: list[str] | None = None
        self.notes = _Notes()

    # ------------------------------------------------------------------------------- phases

    def grade(self, *, regrade: bool, students: list[str] | None) -> list[Outcome]:
        from nbgrader.converters.base import NbGraderException

        self.coursedir.assignment_id = self.assignment
        converter = _converter(self, regrade)
        self._recover(converter)
        self.students = students
        try:
            converter.start()
        except NbGraderException as exc:
            if not self.outcomes:
                raise GradingError(
                    f"nbgrader found nothing to grade for {self.assignment}: {exc}. Submissions "
                    f"go in {self.coursedir.submitted_directory}/<student>/{self.assignment}/ "
                    "and the assignment must have been generated (`nbgrader generate_assignment`)"
                ) from None
        return [self.outcomes[s] for s in sorted(self.outcomes)]

    def _recover(self, converter) -> None:
        """A run that was killed mid-way left students half done: grade them again."""
        for marker in state_dir(self.course, self.assignment).glob(f"*/{PENDING}"):
            student = marker.parent.name
            dest = Path(converter._format_dest(self.assignment, student))
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            marker.unlink()

    def convert_all(self, converter) -> None:
        """``convert_notebooks``: every student's submission, sanitized here, executed on the
        workers, then scored here."""
        import re

        from tqdm import tqdm

        from .grade import sandbox_uids

        waiting: dict[str, list] = {}
        uids = sandbox_uids(self.jobs)
        pattern = converter._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", True)
        todo = []
        for folder in sorted(converter.assignments):
            student = re.match(pattern, folder).group("student_id")
            if self.students and student not in self.students:
                continue
            todo.append((folder, student))
        bar = tqdm(
            total=len(todo),
            desc=f"grading {self.assignment}",
            unit="student",
            disable=not self.progress,
            file=sys.stderr,
        )
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = {}
            try:
                for folder, student in todo:
                    notebooks = self.sanitize(converter, folder, student)
                    if notebooks is None:
                        bar.update(1)
                        continue
                    waiting[student] = [None] * len(notebooks)
                    for i, path in enumerate(notebooks):
                        future = pool.submit(self.execute, student, path, uids)
                        futures[future] = (student, i, path)
                    if not notebooks:
                        self.score(converter, student, [])
                        bar.update(1)
                for future in as_completed(futures):
                    student, i, path = futures[future]
                    try:
                        future.result()
                    except GradingError:
                        raise  # the grader cannot go on (a cluster's worker was refused)
                    except Exception as exc:  # noqa: BLE001 - this notebook, not the run
                        self.failures[(student, path.stem)] = f"the grader failed: {exc!r}"
                    waiting[student][i] = path
                    if all(p is not None for p in waiting[student]):
                        self.score(converter, student, waiting.pop(student))
                        bar.update(1)
                        outcome = self.outcomes[student]
                        bar.set_postfix_str(f"{student}: {outcome.score:g}/{outcome.max_score:g}")
            except (KeyboardInterrupt, GradingError) as exc:
                self.workers.stopping.set()
                pool.shutdown(wait=False, cancel_futures=True)
                self.workers.kill_all()
                for student in waiting:
                    self.forget(converter, student)
                if isinstance(exc, GradingError):  # a cluster's worker was refused
                    raise GradingError(
                        f"{exc}\n{len(self.outcomes)} student(s) were graded and recorded "
                        "before it; the rest were not"
                    ) from None
                raise GradingError(
                    f"interrupted: {len(self.outcomes)} student(s) were graded and recorded; "
                    f"run `course grade {self.assignment}` again to grade the rest"
                ) from None
        bar.close()

    def sanitize(self, converter, folder: str, student: str) -> list[Path] | None:
        """nbgrader's first half for one student; return the sanitized notebooks to run, or
        None when the student is skipped or failed here."""
        from nbgrader.api import Gradebook
        from nbgrader.converters.base import BaseConverter

        assignment = self.assignment
        converter.notebooks = sorted(converter.assignments[folder])
        if not converter.init_destination(assignment, student):
            if student not in (self.coursedir.student_id_exclude or "").split(","):
                self.outcomes[student] = self.from_gradebook(student, "unchanged", [])
            return None
        home = state_dir(self.course, assignment, student)
        home.mkdir(parents=True, exist_ok=True)
        (home / PENDING).write_text("")
        self.notes.lines = []
        problems = _unsafe_entries(Path(folder))
        notes: list[str] = []
        try:
            if problems:
                with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
                    gb.update_or_create_student(student)
                    gb.update_or_create_submission(assignment, student)
                    self._zero(gb, student, None)
                raise _Refused(
                    "not graded: "
                    + "; ".join(problems[:5])
                    + " (remove it and collect the submission again). Note: "
                    + DIFFERENCES["link"]
                )
            converter.run_pre_convert_hook()
            converter.init_assignment(assignment, student)
            runnable = []
            for path in converter.notebooks:
                _, why = intake.read_notebook(Path(path))
                name = Path(path).stem
                if why:
                    notes.append(f"{name}.ipynb scores 0: {why}. Note: {DIFFERENCES['unreadable']}")
                    with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
                        self._zero(gb, student, name)
                    continue
                converter._sanitizing = True
                converter._init_preprocessors()
                BaseConverter.convert_single_notebook(converter, path)
                runnable.append(Path(converter._format_dest(assignment, student)) / f"{name}.ipynb")
        except _Refused as exc:
            self.forget(converter, student)
            self.outcomes[student] = self.from_gradebook(student, "unreadable", [str(exc)])
            (home / PENDING).unlink(missing_ok=True)
            return None
        except Exception as exc:  # noqa: BLE001 - as nbgrader: this student fails, not the run
            self.forget(converter, student)
            self.outcomes[student] = self.from_gradebook(
                student, "error", [*self.notes.lines, f"nbgrader could not prepare it: {exc}"]
            )
            (home / PENDING).unlink(missing_ok=True)
            return None
        self.pending_notes[student] = [*self.notes.lines, *notes]
        return runnable

    def execute(self, student: str, path: Path, uids: queue.Queue) -> Path:
        """Run one sanitized notebook on a worker (in a worker thread)."""
        from .grade import run_notebook

        home = state_dir(self.course, self.assignment, student) / path.stem
        home.mkdir(parents=True, exist_ok=True)
        notebook = nbformat.read(path, as_version=4)
        kernel = (notebook.metadata.get("kernelspec") or {}).get("name") or "python3"
        if kernel not in PYTHON_KERNELS:  # nbgrader would fail to start it, or run another one
            self.failures[(student, path.stem)] = (
                f"the notebook asks for the kernel {kernel!r}: course grade runs Python 3 "
                "notebooks only (set the source notebook's kernel and generate it again)"
            )
            return path
        cells = sum(1 for c in notebook.cells if c.cell_type == "code")
        limits = dataclasses.replace(
            self.limits,
            notebook_timeout=max(self.limits.notebook_timeout, cells * self.limits.cell_timeout),
        )
        result, failure = run_notebook(
            self.course,
            home,
            notebook,
            limits,
            uids,
            self.workers,
            files_from=path.parent,
            kernel_env={"NBGRADER_EXECUTION": "autograde"},  # as nbgrader's Execute sets it
        )
        self.results[(student, path.stem)] = result
        if failure:
            self.failures[(student, path.stem)] = failure
        else:
            self.executed[(student, path.stem)] = home / "executed.ipynb"
        return path

    def score(self, converter, student: str, notebooks: list[Path]) -> None:
        """nbgrader's second half for one student: the executed notebooks through its
        autograding preprocessors (``SaveAutoGrades`` writes the gradebook)."""
        from nbgrader import utils
        from nbgrader.converters.base import BaseConverter

        notes = list(self.pending_notes.pop(student, []))
        failures = [
            f"{p.stem}.ipynb: {self.failures[(student, p.stem)]}"
            for p in notebooks
            if (student, p.stem) in self.failures
        ]
        home = state_dir(self.course, self.assignment, student)
        if failures:
            self.forget(converter, student)
            self.outcomes[student] = self.from_gradebook(student, "error", [*notes, *failures])
            (home / PENDING).unlink(missing_ok=True)
            return
        self.notes.lines = []
        try:
            for path in notebooks:
                converter._sanitizing = False
                converter._init_preprocessors()
                with utils.setenv(NBGRADER_EXECUTION="autograde"):
                    BaseConverter.convert_single_notebook(converter, str(path))
                result = self.results.get((student, path.stem))
                if result is not None:
                    notes += [f"{path.stem}.ipynb: {event}" for event in result.events]
                    if any(c.status in {"not-run"} for c in result.cells):
                        notes.append(f"{path.stem}.ipynb: {DIFFERENCES['crash']}")
            converter._sanitizing = True
            converter.set_permissions(self.assignment, student)
            converter.run_post_convert_hook()
        except Exception as exc:  # noqa: BLE001 - this student fails, not the run
            converter._sanitizing = True
            self.forget(converter, student)
            self.outcomes[student] = self.from_gradebook(
                student, "error", [*notes, *self.notes.lines, f"could not be scored: {exc}"]
            )
            (home / PENDING).unlink(missing_ok=True)
            return
        self.outcomes[student] = self.from_gradebook(student, "graded", notes)
        (home / PENDING).unlink(missing_ok=True)

    # ------------------------------------------------------------------------------ helpers

    def forget(self, converter, student: str) -> None:
        """Remove what was written to ``autograded/`` for ``student``, so the next run grades
        the submission again (nbgrader's own rule for a failed submission)."""
        dest = Path(converter._format_dest(self.assignment, student))
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)

    def _zero(self, gb, student: str, notebook: str | None) -> None:
        """Zero every grade of one notebook (or all of them), as nbgrader does for a missing
        notebook."""
        submission = gb.find_submission(self.assignment, student)
        for nb in submission.notebooks:
            if notebook is None or nb.name == notebook:
                for grade in nb.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
        gb.db.commit()

    def from_gradebook(self, student: str, status: str, notes: list[str]) -> Outcome:
        """The student's outcome as the gradebook has it: scores per grade cell, with the error
        of each failed test from its run."""
        from nbgrader.api import Gradebook, MissingEntry

        outcome = Outcome(student=student, status=status, notes=list(notes))
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                submission = gb.find_submission(self.assignment, student)
            except MissingEntry:
                return outcome
            outcome.score = float(submission.score)
            outcome.max_score = float(submission.max_score)
            penalty = float(submission.late_submission_penalty or 0)
            if penalty:
                outcome.notes.append(f"late: {penalty:g} point(s) taken off")
            for nb in submission.notebooks:
                result = self.results.get((student, nb.name))
                errors = {
                    c.grade_id: f"{c.ename}: {c.evalue}".strip(": ") or c.status
                    for c in (result.cells if result else [])
                    if c.grade_id and c.status != "ok"
                }
                for grade in nb.grades:
                    score = float(grade.score)
                    if grade.auto_score is None and grade.manual_score is None:
                        message = "needs manual grading"
                    elif score < grade.max_score:
                        message = errors.get(grade.name, "")
                    else:
                        message = ""
                    outcome.tests[f"{nb.name}/{grade.name}"] = {
                        "points": float(grade.max_score),
                        "score": score,
                        "message": message,
                    }
        return outcome


class _Refused(Exception):
    """A submission that is not graded; the message says why."""


def _converter(run: _Run, force: bool):
    """nbgrader's ``Autograde`` converter, with its notebook loop (``convert_notebooks``) and
    its ``Execute`` step replaced by this run's."""
    from nbconvert.preprocessors import Preprocessor
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute

    class Executed(Preprocessor):
        """Instead of executing: the outputs of the notebook this run's worker executed."""

        enabled = True  # nbconvert's preprocessors are off unless enabled

        def preprocess(self, nb, resources):
            key = (resources["nbgrader"]["student"], resources["nbgrader"]["notebook"])
            executed = nbformat.read(run.executed[key], as_version=4)
            code = [c for c in nb.cells if c.cell_type == "code"]
            ran = [c for c in executed.cells if c.cell_type == "code"]
            if len(code) != len(ran):
                raise RuntimeError("the executed notebook does not match the sanitized one")
            for cell, done in zip(code, ran, strict=True):
                cell.outputs = done.outputs
                cell.execution_count = done.get("execution_count")
            return nb, resources

    class ParallelAutograde(Autograde):
        def convert_notebooks(self) -> None:
            run.convert_all(self)

    converter = ParallelAutograde(coursedir=run.coursedir, config=run.config)
    converter.force = force
    converter.autograde_preprocessors = [
        Executed if pp is Execute else pp for pp in converter.autograde_preprocessors
    ]
    logger = logging.getLogger(f"course_utils.nbgrader.{id(run)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    log_file = state_dir(run.course, run.assignment) / "nbgrader.log"
    handler = logging.FileHandler(log_file, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers = [handler, run.notes]
    converter.log = logger
    return converter
