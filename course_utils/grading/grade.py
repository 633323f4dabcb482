"""``course grade LAB``: autograde a class's submissions in parallel, safely, resumably.

For each submission under ``submitted/<student>/<lab>/``:

1. ``intake.prepare`` rebuilds the notebook to run from the instructor's source (only the
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

import dataclasses
import fcntl
import hashlib
import json
import os
import pwd
import queue
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat

from . import intake
from .course import Course, GradingError, list_labs, tool_environment
from .execute.job import Job, Result
from .execute.sandbox import Sandbox, unmount_scratch
from .execute.workers import Workers
from .limits import Limits
from .record import (
    Outcome,
    _ensure_assignment,
    _release_notebook,
    record,
    score,
    state_dir,
)
from .report import summary, write_report  # noqa: F401 - the command's API (cli, tests)

#: Uids for sandboxed kernels when grading runs as root: one per parallel slot.
SANDBOX_UID_BASE = 61000
#: Top-level folders a kernel sees (read-only): the system's programs, libraries and settings.
SYSTEM_DIRS = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "sys", "dev"}
SYSTEM_DIRS.add("tmp")  # replaced by a private tmpfs anyway
SYSTEM_DIRS.update({"nix", "gnu", "snap"})  # read-only package stores an interpreter may live in
STARVED_CPU_SHARE = 0.8  #: see ``starved``
KERNEL_START_ATTEMPTS = 3  #: a kernel that will not start is retried, then left for the next run
KERNEL_NOT_STARTED = "the grader could not start a kernel for this submission"


# --------------------------------------------------------------------------------------------
# Paths and fingerprints


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
            intake.read_regular_file(path, intake.MAX_SUBMISSION_BYTES)
        ).hexdigest()
    except intake.Refused as exc:
        return f"refused: {exc}"


def fingerprint(course: Course, sub: intake.Submission, limits: Limits) -> str:
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


def class_lock(base: Path, lab: str, where: Path):
    """Hold ``<lab>.lock`` beside the lab's state folder (not in it: a student may be called
    "lock"), so that two ``course grade`` runs never grade one class at once; close to release."""
    lock = open(base.parent / f"{lab}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise GradingError(
            f"another `course grade {lab}` is running on {where}; wait for it to finish"
        ) from None
    return lock


def sandbox_uids(jobs: int) -> queue.Queue:
    """The first spare uid of each parallel slot (a kernel claims one from there on)."""
    uids: queue.Queue = queue.Queue()
    for i in range(jobs):
        uids.put(SANDBOX_UID_BASE + i)
    return uids


def open_workers(cluster: str | None, course: Course):
    """The executor pool: this machine's worker processes, or a Dask cluster's workers."""
    if not cluster:
        return Workers(tool_environment())
    from .execute.cluster import ClusterWorkers

    return ClusterWorkers.connect(cluster, course)


# --------------------------------------------------------------------------------------------
# One submission (runs in a worker thread; the heavy part is the executor's own process)


def _run_one(
    course: Course,
    sub: intake.Submission,
    limits: Limits,
    uids: queue.Queue,
    others: dict,
    workers: Workers,
) -> tuple[intake.Prepared, Result | None, str | None]:
    """Prepare and execute one submission; return (prepared, executor result, failure)."""
    lab = sub.lab
    home = state_dir(course, lab, sub.student)
    home.mkdir(parents=True, exist_ok=True)
    source = course.root / "solutions" / lab / f"{lab}.ipynb"
    if sub.path is None:
        return intake.Prepared(notebook=None, fatal=sub.notes[-1]), None, None
    data, why = intake.read_notebook(sub.path)
    if data is None:
        return intake.Prepared(notebook=None, fatal=why), None, None
    prepared = intake.prepare(source, data, lab, others)
    if prepared.fatal:
        return prepared, None, None
    result, failure = run_notebook(course, home, prepared.notebook, limits, uids, workers)
    return prepared, result, failure


def run_notebook(
    course: Course,
    home: Path,
    notebook: nbformat.NotebookNode,
    limits: Limits,
    uids: queue.Queue,
    workers,
    files_from: Path | None = None,
    kernel_env: dict[str, str] | None = None,
) -> tuple[Result | None, str | None]:
    """Run one notebook in a sandboxed kernel on one of ``workers``, its state in ``home``
    (``executed.ipynb``, ``result.json``); return (the executor's result, or why there is none).

    A kernel that never came up is tried again: none of the student's code ran, so it is not
    the student's doing (a busy or short-of-memory machine), and it is never scored."""
    run_dir = home / "run"
    unmount_scratch(str(run_dir))  # left mounted by a worker that was killed (Ctrl-C)
    if run_dir.exists():
        subprocess.run(["rm", "-rf", str(run_dir)], check=False)
    run_dir.mkdir(parents=True)
    nbformat.write(notebook, home / "prepared.ipynb")
    uid = uids.get()
    try:
        job = Job(
            notebook_in=str(home / "prepared.ipynb"),
            notebook_out=str(home / "executed.ipynb"),
            result_out=str(home / "result.json"),
            run_dir=str(run_dir),
            cell_timeout=limits.cell_timeout,
            notebook_timeout=limits.notebook_timeout,
            startup_timeout=limits.startup_timeout,
            max_output_bytes=limits.max_output_bytes,
            max_notebook_output_bytes=limits.max_notebook_output_bytes,
            max_call_bytes=limits.max_call_bytes,
            max_disk_bytes=limits.max_disk_bytes,
            sandbox=dataclasses.asdict(sandbox_for(course, run_dir, limits, uid))
            if limits.sandbox
            else None,
            files_from=str(files_from) if files_from else None,
            files_to=str(files_from) if files_from else None,
            kernel_env=dict(kernel_env or {}),
        )
        (home / "result.json").unlink(missing_ok=True)
        if workers.stopping.is_set():
            return None, "grading was interrupted before this submission ran"
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            ended = workers.run(job, home / "job.json", limits.notebook_timeout + 180)
            if ended == "hung":
                return None, "the grader's worker hung on this submission; killed"
            try:
                result = Result.read(home / "result.json")
            except (OSError, ValueError):
                log = home / "executor.log"
                tail = log.read_text(errors="replace")[-1500:] if log.is_file() else ""
                return None, f"the grader's worker failed ({ended}): {tail}"
            if result.started or workers.stopping.is_set():
                return result, None
            time.sleep(2 * attempt)
        why = "; ".join(result.events[-1:]) or "no reason given"
        return (
            None,
            f"{KERNEL_NOT_STARTED} (tried {KERNEL_START_ATTEMPTS} times; {why}), so none of "
            "this submission's code ran and it was not scored; run `course grade` again",
        )
    finally:
        uids.put(uid)


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
    cluster: str | None = None,
) -> list[Outcome]:
    """Autograde every submission of ``lab``; return one outcome per student.

    ``cluster``: run the submissions on a Dask cluster (a scheduler's address, or ``local:N``
    for a ``LocalCluster`` of N workers) instead of this machine's worker processes."""
    from nbgrader.api import Gradebook
    from tqdm import tqdm

    limits = limits or Limits()
    # nbgrader's Gradebook runs `alembic` from PATH when it creates a database: use ours.
    os.environ["PATH"] = tool_environment()["PATH"]
    if lab not in list_labs(course.root):
        raise GradingError(
            f"there is no lab {lab!r}; the labs are: {', '.join(list_labs(course.root))}"
        )
    workers = open_workers(cluster, course)
    # On a cluster, as many submissions at once as its workers can run (their threads)
    jobs = max(1, jobs or (workers.slots() if cluster else os.cpu_count()) or 1)
    base = state_dir(course, lab)
    base.mkdir(parents=True, exist_ok=True)
    lock = class_lock(base, lab, course.work)
    try:
        _ensure_assignment(course, lab)
        if limits.sandbox:
            preflight(course, lab, limits)
        found = intake.find_submissions(course.work / "submitted", lab)
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
                intake.grade_meta(c).get("grade_id")
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
        uids = sandbox_uids(jobs)
        bar = tqdm(
            total=len(todo), desc=f"grading {lab}", unit="nb", disable=not progress, file=sys.stderr
        )
        with (
            Gradebook(f"sqlite:///{course.gradebook}") as gb,
            ThreadPoolExecutor(max_workers=jobs) as pool,
        ):
            futures = {
                pool.submit(_run_one, course, sub, limits, uids, others, workers): (
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
                        pool.submit(_run_one, course, sub, limits, uids, others, workers): (
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
            except (KeyboardInterrupt, GradingError) as exc:
                # Ctrl-C, or the grader cannot go on (a cluster's worker was refused)
                workers.stopping.set()
                pool.shutdown(wait=False, cancel_futures=True)
                workers.kill_all()
                for run_dir in state_dir(course, lab).glob("*/run"):
                    unmount_scratch(str(run_dir))  # their workers could not
                done = sum(1 for o in outcomes.values() if o.status != "unchanged")
                if isinstance(exc, GradingError):
                    raise GradingError(
                        f"{exc}\n{done} of {len(todo)} submission(s) were graded and recorded "
                        "before it; the rest were not (the gradebook has not changed for them)"
                    ) from None
                raise GradingError(
                    f"interrupted: {done} of {len(todo)} submission(s) were graded and recorded; "
                    f"run `course grade {lab}` again to grade the rest"
                ) from None

        bar.close()
        workers.stop()
        rows = [outcomes[s.student] for s in found]
        write_report(course, lab, rows)
        if feedback:
            course.nbgrader("generate_feedback", lab, "--force")
        return rows
    finally:
        workers.stop()
        lock.close()  # releases the lock


def starved(result: Result | None) -> bool:
    """Did a cell run out of time while its kernel used far less CPU than the time it took?

    Then it was waiting, most likely for a CPU that a submission graded beside it kept busy
    (or asleep). A cell that spins on its own keeps its CPU busy for the whole limit."""
    return result is not None and result.starved(STARVED_CPU_SHARE)


def _record_one(
    course, lab, source, future, futures, outcomes, gb, bar, retry=None, again=False
) -> None:
    """Score one finished submission, record it, and remember that it is done.

    ``retry``: a list to put the submission on instead, if it was starved of CPU (``starved``),
    to be graded again on its own; ``again``: this is that second run."""
    sub, fp, started = futures[future]
    try:
        prepared, result, failure = future.result()
    except GradingError:
        raise  # the grader itself cannot go on: not this submission's doing
    except Exception as exc:  # noqa: BLE001 - one bad submission never stops the rest
        prepared, result, failure = intake.Prepared(notebook=None), None, repr(exc)
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
        notes += result.events
        sandbox = result.sandbox or {}
        if sandbox.get("isolation_error"):
            notes.append(f"sandbox: {sandbox['isolation_error']}")
        tampered = sorted(result.tampering)
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
