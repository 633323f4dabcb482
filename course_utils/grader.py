"""``course grade LAB``: autograde a class's submissions in parallel, safely, resumably.

For each submission under ``submitted/<student>/<lab>/``:

1. ``submissions.prepare`` rebuilds the notebook to run from the instructor's source (only the
   answers come from the student) and audits the student's code;
2. ``executor`` runs it in its own process and sandboxed kernel (``sandbox``), with a time limit
   per cell and per notebook, a memory limit, no network and no view of other students' files;
3. the grades go into nbgrader's gradebook (one writer, this process), the executed notebook into
   ``autograded/``, and a row into the lab's grading report.

State lives in ``<work>/.course/grade/<lab>/<student>/``. A submission whose bytes, lab source and
limits have not changed since it was recorded is not graded again, so re-running is safe and an
interrupted run picks up where it stopped (``--regrade`` forces everything).
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import hashlib
import json
import os
import pwd
import queue
import signal
import stat
import statistics
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

from . import feedback, submissions
from .grading import Course, GradingError, list_labs, tool_environment
from .sandbox import Sandbox, unmount_scratch

#: Uids for sandboxed kernels when grading runs as root: one per parallel slot.
SANDBOX_UID_BASE = 61000
#: Top-level folders a kernel sees (read-only): the system's programs, libraries and settings.
SYSTEM_DIRS = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "sys", "dev"}
SYSTEM_DIRS.add("tmp")  # replaced by a private tmpfs anyway
SYSTEM_DIRS.update({"nix", "gnu", "snap"})  # read-only package stores an interpreter may live in
STARVED_CPU_SHARE = 0.8  #: see ``starved``
KERNEL_START_ATTEMPTS = 3  #: a kernel that will not start is retried, then left for the next run
KERNEL_NOT_STARTED = "the grader could not start a kernel for this submission"

#: Process groups of the running workers, so that an interrupted run can stop them at once.
_RUNNING: set[int] = set()
_STOPPING = threading.Event()


@dataclass
class Limits:
    cell_timeout: float = 60.0  #: seconds per cell
    notebook_timeout: float = 600.0  #: seconds per submission
    memory_bytes: int = 4 << 30  #: address space of the kernel
    max_processes: int = 256  #: processes and threads of the kernel
    max_output_bytes: int = 1 << 20  #: outputs kept per cell; more is cut off with a note
    max_notebook_output_bytes: int = 8 << 20  #: outputs kept per submission
    max_call_bytes: int = 64 << 20  #: the largest answer one call may send to the judge
    max_disk_bytes: int = 512 << 20  #: what the kernel's scratch folder may hold (as root)
    sandbox: bool = True  #: False only for debugging: runs student code unconfined
    require_isolation: bool = True  #: refuse to grade when namespaces are unavailable


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


# --------------------------------------------------------------------------------------------
# Paths and fingerprints


def state_dir(course: Course, lab: str, student: str | None = None) -> Path:
    base = course.work / ".course" / "grade" / lab
    return base / student if student else base


def _sha256(path: Path | None) -> str:
    if path is None or not path.is_file():
        return "missing"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _submission_sha256(path: Path | None) -> str:
    """A student's file is opened only if it is a plain file, and read no further than the
    limit: a link to /dev/zero or a FIFO must not hang or exhaust the grader."""
    if path is None:
        return "missing"
    try:
        return hashlib.sha256(
            submissions.read_regular_file(path, submissions.MAX_SUBMISSION_BYTES)
        ).hexdigest()
    except submissions.Refused as exc:
        return f"refused: {exc}"


def fingerprint(course: Course, sub: submissions.Submission, limits: Limits) -> str:
    """What a recorded grade depends on: the submission, the lab's source, the limits."""
    source = course.root / "solutions" / sub.lab / f"{sub.lab}.ipynb"
    parts = [_submission_sha256(sub.path), _sha256(source), json.dumps(dataclasses.asdict(limits))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def sandbox_for(course: Course, run_dir: Path, limits: Limits, uid: int) -> Sandbox:
    """The sandbox of one submission: it sees the course but not its grading state or secrets."""
    import course_utils

    root, work = course.root, course.work
    # The instructor's home, by $HOME and by the account's entry (they differ under sudo or a
    # changed HOME). Hiding it also makes it passable: a 0700 home (root's) would otherwise
    # block the kernel's uid from the interpreter installed below it (pyenv, a venv in ~).
    homes = {Path.home(), Path(pwd.getpwuid(os.geteuid()).pw_dir)}
    hide = [root / "solutions", root / "source", root / ".git", root / "build", *sorted(homes)]
    if work == root or root in work.parents:
        hide += [work / name for name in ("submitted", "autograded", "feedback", ".course")]
        hide += [course.gradebook, work / "exchange", work / "reports", work / "grades.csv"]
    else:
        hide.append(work)
    # Every top-level folder but the system's: other terms' classes, other --work folders and
    # anything else on the disk, wherever it is. What the kernel needs (the interpreter, the
    # packages, course_utils, its own folder) is mounted back in place (``keep``).
    hide += [
        p
        for p in Path("/").iterdir()
        if p.name not in SYSTEM_DIRS and p.is_dir() and not p.is_symlink()
    ]
    if Path("/srv/nbgrader/exchange").exists():
        hide.append(Path("/srv/nbgrader/exchange"))
    keep = {sys.prefix, sys.base_prefix, str(Path(course_utils.__file__).parent)}
    keep.update(p for p in sys.path if p and Path(p).is_dir() and "site-packages" in p)
    return Sandbox(
        run_dir=str(run_dir),
        hide=[str(p) for p in hide],
        keep=sorted(keep),
        memory_bytes=limits.memory_bytes,
        cpu_seconds=int(limits.notebook_timeout) + 60,
        max_processes=limits.max_processes,
        uid=uid,
        require_isolation=limits.require_isolation,
        quiet=True,  # the kernel must not write into the grader's executor.log
        env={
            "MPLBACKEND": "Agg",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "OMP_NUM_THREADS": "1",
        },
    )


def _blocked_folder(paths: list[Path], hide: list[str]) -> Path | None:
    """The first folder on the way to one of ``paths`` that other users may not enter.

    Folders under a hidden path do not count: the sandbox covers those with a passable tmpfs and
    mounts what it needs back in place."""
    hidden = [Path(h) for h in hide]
    for path in paths:
        for folder in [*reversed(path.parents), path if path.is_dir() else None]:
            if folder is None or any(folder == h or h in folder.parents for h in hidden):
                break
            try:
                if not folder.stat().st_mode & stat.S_IXOTH:
                    return folder
            except OSError:
                return folder
    return None


def preflight(course: Course, lab: str, limits: Limits) -> None:
    """Start an empty program in the sandbox once; raise if submissions could not be confined."""
    # Beside the lab's folder, not in it: the lab's folder holds one folder per student id.
    run_dir = state_dir(course, lab).parent / f"{lab}.preflight"
    subprocess.run(["rm", "-rf", str(run_dir)], check=False)
    run_dir.mkdir(parents=True)
    spec = sandbox_for(course, run_dir, limits, SANDBOX_UID_BASE)
    # The kernel's own interpreter, not /bin/true: it must be reachable by the sandbox's uid.
    probe = [sys.executable, "-c", "import ipykernel, course_utils"]
    proc = subprocess.run(spec.wrap(probe), capture_output=True, text=True, timeout=120)
    report = run_dir / "report.json"
    isolation = json.loads(report.read_text()) if report.is_file() else {}
    if proc.returncode != 0 and isolation.get("isolation_error"):
        raise GradingError(
            "student code cannot be confined on this machine, so nothing was graded:\n"
            + isolation["isolation_error"]
            + "\nSee README.md, 'What grading protects against'. `--no-sandbox` grades "
            "unconfined: only for code you trust."
        )
    blocked = (
        _blocked_folder([run_dir, Path(sys.executable)], spec.hide) if os.geteuid() == 0 else None
    )
    if proc.returncode != 0 and blocked is not None:
        mode = stat.S_IMODE(blocked.stat().st_mode)
        raise GradingError(
            f"the sandboxed kernels (uid {SANDBOX_UID_BASE} and up) cannot enter {blocked} "
            f"(mode {mode:o}), so nothing was graded: every kernel works in a folder below it. "
            f"Let other users pass through it with `chmod o+x {blocked}` (o+x lets them enter, "
            "not list or read it), or grade the class in a folder they can reach: "
            f"`course grade {lab} --work /var/tmp/<class>`."
        )
    if proc.returncode != 0:
        raise GradingError(
            f"a kernel could not start in the sandbox, so nothing was graded: `{sys.executable} "
            f"-c 'import ipykernel, course_utils'` failed (exit {proc.returncode}) as uid "
            f"{SANDBOX_UID_BASE}:\n{proc.stderr.strip()[-2000:]}\nThe interpreter and the "
            "course's package must be readable by other users (check the permissions of the "
            "folders above them)."
        )


# --------------------------------------------------------------------------------------------
# One submission (runs in a worker thread; the heavy part is the executor's own process)


def _run_one(
    course: Course, sub: submissions.Submission, limits: Limits, uids: queue.Queue, others: dict
) -> tuple[submissions.Prepared, dict | None, str | None]:
    """Prepare and execute one submission; return (prepared, executor result, failure)."""
    lab = sub.lab
    home = state_dir(course, lab, sub.student)
    home.mkdir(parents=True, exist_ok=True)
    source = course.root / "solutions" / lab / f"{lab}.ipynb"
    if sub.path is None:
        return submissions.Prepared(notebook=None, fatal=sub.notes[-1]), None, None
    data, why = submissions.read_notebook(sub.path)
    if data is None:
        return submissions.Prepared(notebook=None, fatal=why), None, None
    prepared = submissions.prepare(source, data, lab, others)
    if prepared.fatal:
        return prepared, None, None
    run_dir = home / "run"
    unmount_scratch(str(run_dir))  # left mounted by a worker that was killed (Ctrl-C)
    if run_dir.exists():
        subprocess.run(["rm", "-rf", str(run_dir)], check=False)
    run_dir.mkdir()
    nbformat.write(prepared.notebook, home / "prepared.ipynb")
    uid = uids.get()
    try:
        job = {
            "notebook_in": str(home / "prepared.ipynb"),
            "notebook_out": str(home / "executed.ipynb"),
            "result_out": str(home / "result.json"),
            "run_dir": str(run_dir),
            "cell_timeout": limits.cell_timeout,
            "notebook_timeout": limits.notebook_timeout,
            "max_output_bytes": limits.max_output_bytes,
            "max_notebook_output_bytes": limits.max_notebook_output_bytes,
            "max_call_bytes": limits.max_call_bytes,
            "max_disk_bytes": limits.max_disk_bytes,
            "sandbox": dataclasses.asdict(sandbox_for(course, run_dir, limits, uid))
            if limits.sandbox
            else None,
        }
        (home / "job.json").write_text(json.dumps(job, indent=1))
        (home / "result.json").unlink(missing_ok=True)
        if _STOPPING.is_set():
            return prepared, None, "grading was interrupted before this submission ran"
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            worker = _worker()
            done = home / "done"
            done.unlink(missing_ok=True)
            worker.stdin.write(f"{home / 'job.json'}\n".encode())
            worker.stdin.flush()
            _RUNNING.add(worker.pid)
            try:
                deadline = time.monotonic() + limits.notebook_timeout + 180
                while not done.exists() and worker.poll() is None:
                    if time.monotonic() > deadline:
                        _kill_worker(worker)
                        return prepared, None, "the grader's worker hung on this submission; killed"
                    time.sleep(0.05)
            finally:
                _RUNNING.discard(worker.pid)
            try:
                result = json.loads((home / "result.json").read_text())
            except (OSError, ValueError):
                log = home / "executor.log"
                tail = log.read_text(errors="replace")[-1500:] if log.is_file() else ""
                return prepared, None, f"the grader's worker failed (exit {worker.poll()}): {tail}"
            if result.get("started", True) or _STOPPING.is_set():
                return prepared, result, None
            # The kernel never came up, so none of the student's code ran: not the student's
            # doing (a busy or short-of-memory machine). Try again; never score it.
            time.sleep(2 * attempt)
        why = "; ".join(result.get("events", [])[-1:]) or "no reason given"
        return (
            prepared,
            None,
            f"{KERNEL_NOT_STARTED} (tried {KERNEL_START_ATTEMPTS} times; {why}), so none of "
            "this submission's code ran and it was not scored; run `course grade` again",
        )
    finally:
        uids.put(uid)


# One long-lived executor process per worker thread: it runs that thread's submissions one after
# another (each in its own sandboxed kernel), so its imports are paid once, not per submission.
_LOCAL = threading.local()
_WORKERS: list[subprocess.Popen] = []


def _worker() -> subprocess.Popen:
    proc = getattr(_LOCAL, "worker", None)
    if proc is None or proc.poll() is not None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "course_utils.executor", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=tool_environment(),
            start_new_session=True,
        )
        _LOCAL.worker = proc
        _WORKERS.append(proc)
    return proc


def _kill_worker(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def _stop_workers() -> None:
    """Let every worker finish and exit (they stop when their input closes)."""
    for proc in _WORKERS:
        try:
            proc.stdin.close()
        except OSError:
            pass
    for proc in _WORKERS:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill_worker(proc)
    _WORKERS.clear()


# --------------------------------------------------------------------------------------------
# Scoring and recording (main thread only: the gradebook has one writer)


def _test_cells(source: nbformat.NotebookNode) -> list[tuple[str, float]]:
    return [
        (submissions.grade_meta(c)["grade_id"], float(submissions.grade_meta(c).get("points", 0)))
        for c in source.cells
        if submissions.role(c) == "test"
    ]


def score(source: nbformat.NotebookNode, result: dict | None, reason: str) -> dict[str, dict]:
    """Points per test cell: full marks when it ran and raised nothing, else 0 and why."""
    by_id = {c["grade_id"]: c for c in (result or {}).get("cells", []) if c.get("grade_id")}
    tests = {}
    for gid, points in _test_cells(source):
        cell = by_id.get(gid)
        if cell is None:
            tests[gid] = {"points": points, "score": 0.0, "message": f"not run: {reason}"}
        elif cell["status"] == "ok":
            tests[gid] = {"points": points, "score": points, "message": ""}
        else:
            message = f"{cell['ename']}: {cell['evalue']}".strip(": ")
            tests[gid] = {"points": points, "score": 0.0, "message": message or cell["status"]}
    return tests


def _notes_cell(lines: list[str]) -> nbformat.NotebookNode:
    text = "**Grading notes** (written by `course grade`)\n\n" + "\n".join(f"- {x}" for x in lines)
    cell = new_markdown_cell(text)
    cell.metadata["course"] = {"role": "notes"}
    return cell


def _release_notebook(course: Course, lab: str) -> nbformat.NotebookNode:
    """The unanswered notebook, for submissions that could not be read or run."""
    source = course.root / "solutions" / lab / f"{lab}.ipynb"
    return submissions.prepare(source, {"cells": []}, lab).notebook


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
        submissions.grade_meta(c)["grade_id"]: c.source
        for c in notebook.cells
        if c.metadata.get("course", {}).get("role") == "answer"
    }
    for cell in source.cells:
        md = submissions.grade_meta(cell)
        gid = md.get("grade_id")
        if md.get("grade"):
            grade = gb.find_grade(gid, lab, lab, student)
            if md.get("solution"):  # a manually graded answer: nbgrader's rule
                unanswered = answers.get(gid, "").strip() == submissions.stub_of(cell.source)
                grade.auto_score = 0.0 if unanswered else None
            else:
                grade.auto_score = outcome.tests.get(gid, {}).get("score", 0.0)
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        if md.get("solution"):
            comment = gb.find_comment(gid, lab, lab, student)
            unanswered = answers.get(gid, "").strip() == submissions.stub_of(cell.source).strip()
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


# --------------------------------------------------------------------------------------------
# The command


def grade(
    course: Course,
    lab: str,
    *,
    jobs: int | None = None,
    limits: Limits | None = None,
    regrade: bool = False,
    feedback: bool = True,
    progress: bool = True,
    students: list[str] | None = None,
) -> list[Outcome]:
    """Autograde every submission of ``lab``; return one outcome per student."""
    from nbgrader.api import Gradebook
    from tqdm import tqdm

    limits = limits or Limits()
    # nbgrader's Gradebook runs `alembic` from PATH when it creates a database: use ours.
    os.environ["PATH"] = tool_environment()["PATH"]
    if lab not in list_labs(course.root):
        raise GradingError(
            f"there is no lab {lab!r}; the labs are: {', '.join(list_labs(course.root))}"
        )
    jobs = max(1, jobs or os.cpu_count() or 1)
    base = state_dir(course, lab)
    base.mkdir(parents=True, exist_ok=True)
    lock = open(base.parent / f"{lab}.lock", "w")  # not in base: a student may be called "lock"
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise GradingError(
            f"another `course grade {lab}` is running on {course.work}; wait for it to finish"
        ) from None
    try:
        _ensure_assignment(course, lab)
        if limits.sandbox:
            preflight(course, lab, limits)
        found = submissions.find_submissions(course.work / "submitted", lab)
        if students:
            found = [s for s in found if s.student in students]
        if not found:
            raise GradingError(
                f"no submissions of {lab} in {course.work / 'submitted'} "
                f"(expected submitted/<student>/{lab}/{lab}.ipynb; see `course collect`)"
            )
        source = nbformat.read(course.root / "solutions" / lab / f"{lab}.ipynb", as_version=4)
        others = {
            other: {
                submissions.grade_meta(c).get("grade_id")
                for c in nbformat.read(
                    course.root / "solutions" / other / f"{other}.ipynb", as_version=4
                ).cells
            }
            for other in list_labs(course.root)
        }
        outcomes: dict[str, Outcome] = {}
        todo = []
        for sub in found:
            home = state_dir(course, lab, sub.student)
            done = home / "recorded.json"
            fp = fingerprint(course, sub, limits)
            if not regrade and done.is_file():
                saved = json.loads(done.read_text())
                if saved.get("fingerprint") == fp:
                    outcome = Outcome(**saved["outcome"])
                    outcome.status = "unchanged"
                    outcomes[sub.student] = outcome
                    continue
            todo.append((sub, fp))
        uids: queue.Queue = queue.Queue()
        for i in range(jobs):
            uids.put(SANDBOX_UID_BASE + i)
        bar = tqdm(
            total=len(todo), desc=f"grading {lab}", unit="nb", disable=not progress, file=sys.stderr
        )
        with (
            Gradebook(f"sqlite:///{course.gradebook}") as gb,
            ThreadPoolExecutor(max_workers=jobs) as pool,
        ):
            futures = {
                pool.submit(_run_one, course, sub, limits, uids, others): (
                    sub,
                    fp,
                    time.monotonic(),
                )
                for sub, fp in todo
            }
            try:
                completed = as_completed(futures)
                retry: list = [] if jobs > 1 else None
                for future in completed:
                    _record_one(course, lab, source, future, futures, outcomes, gb, bar, retry)
                # One at a time: a neighbour's load must not decide a score (see `starved`).
                for sub, fp in retry or []:
                    alone = {
                        pool.submit(_run_one, course, sub, limits, uids, others): (
                            sub,
                            fp,
                            time.monotonic(),
                        )
                    }
                    for future in alone:
                        future.result()  # wait: the pool's other threads are idle now
                        _record_one(
                            course, lab, source, future, alone, outcomes, gb, bar, again=True
                        )
            except KeyboardInterrupt:
                _STOPPING.set()
                pool.shutdown(wait=False, cancel_futures=True)
                for pid in list(_RUNNING):
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except OSError:
                        pass
                for proc in _WORKERS:
                    _kill_worker(proc)
                _WORKERS.clear()
                for run_dir in state_dir(course, lab).glob("*/run"):
                    unmount_scratch(str(run_dir))  # their workers could not
                done = sum(1 for o in outcomes.values() if o.status != "unchanged")
                raise GradingError(
                    f"interrupted: {done} of {len(todo)} submission(s) were graded and recorded; "
                    f"run `course grade {lab}` again to grade the rest"
                ) from None
            finally:
                _STOPPING.clear()

        bar.close()
        _stop_workers()
        rows = [outcomes[s.student] for s in found]
        write_report(course, lab, rows)
        if feedback:
            course.nbgrader("generate_feedback", lab, "--force")
        return rows
    finally:
        _stop_workers()
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def starved(result: dict | None) -> bool:
    """Did a cell run out of time while its kernel used far less CPU than the time it took?

    Then it was waiting, most likely for a CPU that a submission graded beside it kept busy
    (or asleep). A cell that spins on its own keeps its CPU busy for the whole limit."""
    return any(
        c["status"] == "timeout" and c.get("cpu_seconds", 0.0) < STARVED_CPU_SHARE * c["seconds"]
        for c in (result or {}).get("cells", [])
    )


def _record_one(
    course, lab, source, future, futures, outcomes, gb, bar, retry=None, again=False
) -> None:
    """Score one finished submission, record it, and remember that it is done.

    ``retry``: a list to put the submission on instead, if it was starved of CPU (``starved``),
    to be graded again on its own; ``again``: this is that second run."""
    sub, fp, started = futures[future]
    try:
        prepared, result, failure = future.result()
    except Exception as exc:  # noqa: BLE001 - one bad submission never stops the rest
        prepared, result, failure = submissions.Prepared(notebook=None), None, repr(exc)
    if retry is not None and starved(result):
        retry.append((sub, fp))
        return
    outcome = _outcome(course, lab, sub, source, prepared, result, failure)
    if again:
        outcome.notes.append(
            "a cell ran out of time while another submission was graded beside it, so this "
            "submission was graded again on its own"
        )
    outcome.seconds = round(time.monotonic() - started, 1)
    home = state_dir(course, lab, sub.student)
    if result is not None:
        notebook = nbformat.read(home / "executed.ipynb", as_version=4)
    else:
        notebook = _release_notebook(course, lab)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = [
                    nbformat.v4.new_output(
                        "error",
                        ename="NotRun",
                        evalue=outcome.notes[-1] if outcome.notes else "not run",
                        traceback=[],
                    )
                ]
    if (failure or "").startswith(KERNEL_NOT_STARTED):
        # Not scored: the gradebook keeps what it had, and the next run grades it again.
        outcomes[sub.student] = outcome
        bar.update(1)
        return
    record(course, lab, sub.student, outcome, notebook, gb)
    (home / "recorded.json").write_text(
        json.dumps({"fingerprint": fp, "outcome": dataclasses.asdict(outcome)}, indent=1)
    )
    outcomes[sub.student] = outcome
    bar.update(1)
    bar.set_postfix_str(f"{sub.student}: {outcome.score:g}/{outcome.max_score:g}")


def _outcome(course, lab, sub, source, prepared, result, failure) -> Outcome:
    notes = list(sub.notes) + list(prepared.notes)
    status = "graded"
    reason = "the submission could not be run"
    if prepared.fatal:
        notes.append(prepared.fatal)
        status, reason = "unreadable", prepared.fatal
    elif failure:
        notes.append(failure)
        status, reason = "error", failure
    if result is not None:
        notes += result.get("events", [])
        sandbox = result.get("sandbox") or {}
        if sandbox.get("isolation_error"):
            notes.append(f"sandbox: {sandbox['isolation_error']}")
        tampered = sorted(
            {t for c in result["cells"] for t in c.get("tampering", [])}
            | set(result.get("tampering", []))
        )
        if tampered:
            notes.append(
                "replaced grader-trusted code (no test depends on it: they run in the grader): "
                + ", ".join(tampered[:10])
            )
    tests = score(source, result, reason)
    return Outcome(
        student=sub.student,
        status=status,
        score=sum(t["score"] for t in tests.values()),
        max_score=sum(t["points"] for t in tests.values()),
        tests=tests,
        notes=notes,
        audit=list(prepared.audit),
    )


# --------------------------------------------------------------------------------------------
# Reporting


def write_report(course: Course, lab: str, rows: list[Outcome]) -> Path:
    """``<work>/reports/<lab>.csv`` (one row per student) and ``.json`` (everything)."""
    out = course.work / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{lab}.json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    with open(out / f"{lab}.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["student", "score", "max_score", "status", "failed_tests", "notes", "review"]
        )
        for r in rows:
            failed = [g for g, t in r.tests.items() if t["score"] < t["points"]]
            writer.writerow(
                [
                    r.student,
                    f"{r.score:g}",
                    f"{r.max_score:g}",
                    r.status,
                    " ".join(failed),
                    " | ".join(r.notes),
                    " | ".join(r.audit),
                ]
            )
    return out / f"{lab}.csv"


def summary(lab: str, rows: list[Outcome]) -> str:
    """The table ``course grade`` prints: scores, the median, failures by test, what to review."""
    lines = [f"{lab}: {len(rows)} submission(s)", ""]
    width = max([len("student"), *(len(r.student) for r in rows)])
    lines.append(f"{'student'.ljust(width)}  score      status     notes")
    for r in rows:
        note = r.notes[0] if r.notes else ""
        extra = f" (+{len(r.notes) - 1} more)" if len(r.notes) > 1 else ""
        flag = "  [review]" if r.audit else ""
        lines.append(
            f"{r.student.ljust(width)}  {f'{r.score:g}/{r.max_score:g}':9}  {r.status:9}  "
            f"{note[:90]}{extra}{flag}"
        )
    if rows:
        lines += [
            "",
            f"median score: {statistics.median(r.score for r in rows):g} / "
            f"{max(r.max_score for r in rows):g}",
        ]
        failures: dict[str, int] = {}
        for r in rows:
            for gid, t in r.tests.items():
                if t["score"] < t["points"]:
                    failures[gid] = failures.get(gid, 0) + 1
        if failures:
            lines += ["", "failures by test:"]
            for gid, n in sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {n:4d}  {gid}")
        review = [r for r in rows if r.audit]
        if review:
            lines += ["", "code to review (possible cheating or unsafe code):"]
            for r in review:
                lines.append(f"  {r.student}: {'; '.join(r.audit)}")
    return "\n".join(lines)
