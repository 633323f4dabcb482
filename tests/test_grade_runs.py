"""Grading runs of their own, each with a small class: the notebook's time limit, Ctrl-C and
resuming, a kernel that cannot start, and a neighbour that hogs the CPUs.

Apart from tests/test_grade_adversarial.py (one big class graded once) so that pytest-xdist's
``--dist loadfile`` can run the two files on different workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest

from course_utils import grading
from course_utils.grading import grade as grader
from tests.test_grade_adversarial import (
    FULL,
    LAB,
    LIMITS,
    REPO,
    STEP,
    sandboxed_processes,
    solved,
    with_answer,
)

pytestmark = [pytest.mark.slow]


def test_the_notebook_time_limit_stops_a_slow_submission_and_keeps_earlier_points():
    """Every cell is under the cell limit (8 s), but together they overrun the notebook's 12 s."""
    work = Path(tempfile.mkdtemp(prefix="course-grade-slow-", dir="/var/tmp"))
    try:
        nb = with_answer("rnn_step_forward", "import time\ntime.sleep(7)")
        nb = with_answer("rnn_forward", "time.sleep(7)", base=nb)
        folder = work / "submitted" / "slow" / LAB
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
        limits = grader.Limits(cell_timeout=8, notebook_timeout=12, max_processes=128)
        course = grading.Course(root=REPO, work=work)
        (r,) = grader.grade(course, LAB, jobs=1, limits=limits, progress=False, feedback=False)
        assert r.score == STEP, (r.score, r.tests, r.notes)
        assert any("notebook time limit of 12 s" in n for n in r.notes), r.notes
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_an_interrupted_run_stops_at_once_and_the_next_run_finishes_the_job():
    """Ctrl-C during `course grade`: the running worker and its kernel stop, nothing half-done
    is recorded, and running the command again grades exactly what is left."""
    import signal
    import sys
    import time

    work = Path(tempfile.mkdtemp(prefix="course-grade-interrupt-", dir="/var/tmp"))
    try:
        students = [f"s{i}" for i in range(4)]
        for student in students:
            folder = work / "submitted" / student / LAB
            folder.mkdir(parents=True)
            nbformat.write(solved(), folder / f"{LAB}.ipynb")
        cmd = [sys.executable, "-m", "course_utils", "grade", LAB, "--root", str(REPO)]
        cmd += ["--work", str(work), "--jobs", "1", "-q", "--no-feedback"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        state = grader.state_dir(grading.Course(root=REPO, work=work), LAB)
        deadline = time.monotonic() + 180
        while not list(state.glob("*/recorded.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(state.glob("*/recorded.json")), "the first submission was never recorded"
        time.sleep(1.5)  # the next worker is running now
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and "interrupted" in err, err
        time.sleep(2)
        assert sandboxed_processes(work) == []
        done = {p.parent.name for p in state.glob("*/recorded.json")}
        assert done and done != set(students)
        course = grading.Course(root=REPO, work=work)
        # The same limits as the command's defaults (other limits would regrade everything).
        rows = grader.grade(course, LAB, jobs=2, progress=False, feedback=False)
        assert {r.student for r in rows if r.status == "unchanged"} == done
        assert all(r.score == FULL for r in rows), [(r.student, r.score, r.notes) for r in rows]
        assert sorted(s.student for s in grading.scores(course)) == students
        with open("/proc/mounts") as fh:  # the killed job's scratch tmpfs (as root) is gone too
            assert not [line for line in fh if str(work) in line]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_kernel_that_cannot_start_is_retried_and_never_scored(monkeypatch):
    """No student code runs before the kernel is up, so a kernel that dies while starting (here:
    a process limit too small for its own threads; in CI once, a neighbour's fork bomb under a
    shared uid) is the grader's failure: tried again, then reported, never recorded as a 0."""
    work = Path(tempfile.mkdtemp(prefix="course-grade-nostart-", dir="/var/tmp"))
    try:
        folder = work / "submitted" / "alice" / LAB
        folder.mkdir(parents=True)
        nbformat.write(solved(), folder / f"{LAB}.ipynb")
        course = grading.Course(root=REPO, work=work)
        monkeypatch.setattr(grader, "KERNEL_START_ATTEMPTS", 2)
        starved = grader.Limits(cell_timeout=10, notebook_timeout=60, max_processes=2)
        (r,) = grader.grade(course, LAB, jobs=1, limits=starved, progress=False, feedback=False)
        assert r.status == "error", (r.status, r.notes)
        note = r.notes[-1]
        assert note.startswith(grader.KERNEL_NOT_STARTED) and "course grade` again" in note, note
        assert "tried 2 times" in note and "Kernel died" in note, note
        assert grading.scores(course) == []  # nothing written to the gradebook
        state = grader.state_dir(course, LAB, "alice")
        assert not (state / "recorded.json").exists()  # so the next run grades it again
        (r,) = grader.grade(course, LAB, jobs=1, limits=LIMITS, progress=False, feedback=False)
        assert (r.status, r.score) == ("graded", FULL), (r.status, r.score, r.notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


HOG = """
import os, time
for _ in range(12):
    if os.fork() == 0:
        os.setsid()  # a session each: Linux's autogroups would otherwise share one CPU's worth
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pass
        os._exit(0)
"""
BUSY = """
import time as _time
_step, _warm = rnn_step_forward, []

def rnn_step_forward(*args):
    if not _warm:  # the first call needs 3 s of CPU: well within the 10 s limit on its own
        _end = _time.process_time() + 3.0
        while _time.process_time() < _end:
            pass
        _warm.append(1)
    return _step(*args)
"""


def test_a_neighbour_hogging_the_cpus_cannot_make_an_honest_submission_time_out():
    """A submission that keeps a dozen processes spinning is graded beside an honest one whose
    first test needs 3 s of CPU (the cell limit is 10 s). Starved of CPU, the honest cell runs out
    of wall-clock time while using far less CPU than that; it is graded again on its own and
    keeps its full marks, with a note saying so."""
    work = Path(tempfile.mkdtemp(prefix="course-grade-hog-", dir="/var/tmp"))
    try:
        hog = with_answer("rnn_step_forward", HOG)
        for grade_id in ("rnn_step_forward", "rnn_forward", "sequence_cross_entropy"):
            hog = with_answer(grade_id, "import time\ntime.sleep(8)", base=hog)
        for student, nb in [("a_hog", hog), ("b_honest", with_answer("rnn_step_forward", BUSY))]:
            folder = work / "submitted" / student / LAB
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{LAB}.ipynb")
        course = grading.Course(root=REPO, work=work)
        rows = {
            r.student: r
            for r in grader.grade(
                course, LAB, jobs=2, limits=LIMITS, progress=False, feedback=False
            )
        }
        honest = rows["b_honest"]
        assert (honest.status, honest.score) == ("graded", FULL), (honest.tests, honest.notes)
        assert any("graded again on its own" in n for n in honest.notes), honest.notes
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_only_a_timeout_with_the_cpu_left_idle_counts_as_starved():
    from course_utils.grading.execute.job import Result

    cell = {"index": 3, "grade_id": "t", "role": "test", "status": "timeout", "seconds": 10.0}
    spun = Result.from_dict({"cells": [{**cell, "cpu_seconds": 9.7}]})
    assert not grader.starved(spun)  # it spun on its own for the whole limit
    assert grader.starved(Result.from_dict({"cells": [{**cell, "cpu_seconds": 1.5}]}))
    idle_ok = {**cell, "status": "ok", "cpu_seconds": 0.0}
    assert not grader.starved(Result.from_dict({"cells": [idle_ok]}))
    assert not grader.starved(None)


def _fake_worker(script: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["sh", "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_the_grader_waits_for_its_own_jobs_done_line_and_notices_a_dead_or_hung_worker():
    """A worker says ``done <job path>`` on its pipe when a job is finished: another job's
    line (or junk) does not end the wait, a worker that exits ends it as "exited", and one that
    says nothing is killed after the deadline ("hung")."""
    import time

    from course_utils.grading.execute.job import JOB_DONE
    from course_utils.grading.execute.workers import Workers

    workers = Workers(dict(os.environ))
    mine = f"{JOB_DONE} /class/.course/grade/lab/alice/job.json"
    other = f"{JOB_DONE} /elsewhere/job.json"
    proc = _fake_worker(f"echo junk; echo '{other}'; echo '{mine}'; sleep 30")
    assert workers._wait(proc, mine, time.monotonic() + 20) == "done"
    workers.kill(proc)

    proc = _fake_worker(f"echo '{other}'; exit 3")
    assert workers._wait(proc, mine, time.monotonic() + 20) == "exited"

    proc = _fake_worker("sleep 30")
    start = time.monotonic()
    assert workers._wait(proc, mine, time.monotonic() + 1) == "hung"
    assert time.monotonic() - start < 10 and proc.poll() is not None  # killed, not waited out
