"""``course grade --cluster``: submissions graded on a Dask ``LocalCluster`` of two worker
processes, each running the sandboxed executor, while this process records the grades.

Same scores as local grading; a worker killed mid-submission costs a retry, never a lost or
doubled record; Ctrl-C and a second run grade every student once; a worker whose Python
environment differs is refused; without Dask, ``--cluster`` says which extra to install.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from course_utils import grading
from course_utils.grading import grade as grader
from course_utils.grading.execute import cluster
from course_utils.grading.record import _ensure_assignment
from tests.test_grade_adversarial import (
    FULL,
    LAB,
    LIMITS,
    MISTAKE_SCORE,
    REPO,
    mistaken,
    solved,
    with_answer,
)


def executors_used(course, students) -> dict[str, set[str]]:
    """Dask worker -> the executor processes that ran these students' submissions there (from
    the first line of each one's executor.log)."""
    found: dict[str, set[str]] = {}
    for student in students:
        first = (grader.state_dir(course, LAB, student) / "executor.log").read_text().split("\n")[0]
        match = re.fullmatch(r"ran on the Dask worker (\S+), executor process (\d+)", first)
        assert match, first
        found.setdefault(match[1], set()).add(match[2])
    return found


@pytest.mark.slow
def test_each_dask_worker_keeps_one_executor_from_submission_to_submission(work, scheduler):
    """The executor's imports (TensorFlow for the judge) are paid once per worker: every
    submission a worker runs, in this run and the next, goes to the same executor process."""
    students = [f"s{i}" for i in range(4)]
    course = submit(work, {s: solved() for s in students})
    used: dict[str, set[str]] = {}
    for regrade in (False, True):
        rows = grader.grade(
            course,
            LAB,
            limits=LIMITS,
            regrade=regrade,
            progress=False,
            feedback=False,
            cluster=scheduler,
        )
        assert {(r.status, r.score) for r in rows} == {("graded", FULL)}, rows
        for worker, pids in executors_used(course, students).items():
            used.setdefault(worker, set()).update(pids)
    assert used and all(len(pids) == 1 for pids in used.values()), used


# The rnn_step_forward answer cell sleeps while its kernel runs: time to kill its Dask worker.
SLEEPY = "import time\ntime.sleep(3)"


@pytest.fixture(scope="module")
def gradebook():
    """A gradebook that knows the lab: made once (nbgrader's generate_assignment takes seconds),
    copied into each class folder, as if that class had been graded before."""
    path = Path(tempfile.mkdtemp(prefix="course-grade-cluster-book-", dir="/var/tmp"))
    course = grading.Course(root=REPO, work=path)
    os.environ["PATH"] = grading.tool_environment()["PATH"]  # nbgrader runs alembic from PATH
    _ensure_assignment(course, LAB)
    yield course.gradebook
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster of two single-thread worker processes, reached by its address as an
    instructor reaches a real cluster's scheduler (--cluster tcp://host:8786)."""
    LocalCluster = pytest.importorskip("distributed").LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit=0
    ) as local:
        yield local.scheduler_address


@pytest.fixture
def work(gradebook):
    path = Path(tempfile.mkdtemp(prefix="course-grade-cluster-", dir="/var/tmp"))
    shutil.copy2(gradebook, path / gradebook.name)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def submit(work: Path, notebooks: dict[str, nbformat.NotebookNode]) -> grading.Course:
    for student, nb in notebooks.items():
        folder = work / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
    return grading.Course(root=REPO, work=work)


def count_records(monkeypatch) -> list[str]:
    """Every call of the grader's gradebook writer, by student (the main process's records)."""
    calls: list[str] = []
    real = grader.record

    def counted(course, lab, student, *args, **kwargs):
        calls.append(student)
        return real(course, lab, student, *args, **kwargs)

    monkeypatch.setattr(grader, "record", counted)
    return calls


def report_rows(course: grading.Course) -> list[dict]:
    with open(course.work / "reports" / f"{LAB}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def task_processes() -> list[str]:
    """Executors and kernels of cluster tasks still running on this machine."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if cluster.TASK_PREFIX in line and "pytest" not in line:
            found.append(f"{proc.info['pid']} {line[:200]}")
    return found


def task_mounts() -> list[str]:
    with open("/proc/mounts") as fh:
        return [line for line in fh if cluster.TASK_PREFIX in line]


def left_behind(seconds: float) -> list[str]:
    """Tasks' executors, kernels or scratch mounts still there after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (found := task_processes() + task_mounts()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


@pytest.mark.slow
def test_a_class_graded_on_the_cluster_gets_the_same_scores_as_graded_locally(
    work, scheduler, monkeypatch
):
    """The same class, graded here and then again (--regrade) on the cluster."""
    course = submit(work, {"a_solved": solved(), "b_mistake": mistaken()})
    records = count_records(monkeypatch)
    by_where = {}
    for where, on in (("local", None), ("cluster", scheduler)):
        home = grader.state_dir(course, LAB, "a_solved")
        for name in ("executed.ipynb", "result.json", "executor.log"):
            (home / name).unlink(missing_ok=True)
        rows = grader.grade(
            course, LAB, limits=LIMITS, regrade=True, progress=False, feedback=False, cluster=on
        )
        by_where[where] = {r.student: (r.status, r.score, r.tests) for r in rows}
        for name in ("executed.ipynb", "result.json", "executor.log"):
            assert (home / name).is_file(), (where, name)
    assert by_where["cluster"]["a_solved"][:2] == ("graded", FULL), by_where
    assert by_where["cluster"]["b_mistake"][:2] == ("graded", MISTAKE_SCORE), by_where
    assert by_where["cluster"] == by_where["local"]  # every test's score and message
    assert sorted(records) == ["a_solved", "a_solved", "b_mistake", "b_mistake"]
    book = [(s.student, s.score) for s in grading.scores(course)]
    assert book == [("a_solved", FULL), ("b_mistake", MISTAKE_SCORE)]


def _kill_the_worker_of(student: str, killed: list[int], deadline: float) -> None:
    """Once ``student``'s kernel runs on a Dask worker, SIGKILL that worker's process."""
    import psutil

    mark = f"{cluster.TASK_PREFIX}{student}-"
    while time.monotonic() < deadline:
        procs = [(p, " ".join(p.info["cmdline"] or [])) for p in psutil.process_iter(["cmdline"])]
        kernels = [p for p, line in procs if mark in line and "ipykernel" in line]
        # the worker thread's executor (long-lived: its command line names no task) is the
        # kernel's nearest ancestor that runs the executor module
        executor = [
            parent
            for kernel in kernels[:1]
            for parent in kernel.parents()
            if "execute.executor" in " ".join(parent.cmdline())
        ]
        if executor:
            time.sleep(1)  # well inside the answer cell's sleep
            worker = executor[0].ppid()
            os.kill(worker, signal.SIGKILL)
            killed.append(worker)
            return
        time.sleep(0.1)


@pytest.mark.slow
def test_a_worker_killed_during_a_submission_costs_a_retry_not_a_record(work, monkeypatch):
    pytest.importorskip("distributed")
    course = submit(
        work, {"a_sleepy": with_answer("rnn_step_forward", SLEEPY), "b_mistake": mistaken()}
    )
    records = count_records(monkeypatch)
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_the_worker_of, args=("a_sleepy", killed, time.monotonic() + 120)
    )
    killer.start()
    try:
        rows = grader.grade(
            course, LAB, limits=LIMITS, progress=False, feedback=False, cluster="local:2"
        )
    finally:
        killer.join()
    assert killed, "the sleepy submission's worker was never seen running it"
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    scores = {r.student: (r.status, r.score) for r in rows}
    assert scores == {"a_sleepy": ("graded", FULL), "b_mistake": ("graded", MISTAKE_SCORE)}, [
        (r.student, r.notes) for r in rows
    ]
    assert sorted(records) == ["a_sleepy", "b_mistake"]  # each recorded exactly once
    book = [(s.student, s.score) for s in grading.scores(course)]
    assert book == [("a_sleepy", FULL), ("b_mistake", MISTAKE_SCORE)]
    assert [r["student"] for r in report_rows(course)] == ["a_sleepy", "b_mistake"]
    # The killed worker's executor notices within a second and stops its kernel; the retry
    # removed the task folder it left (and its scratch mount).
    assert left_behind(5) == []


@pytest.mark.slow
def test_an_interrupted_cluster_run_is_finished_by_the_next_run_without_doubles(
    work, scheduler, monkeypatch
):
    """Ctrl-C during `course grade --cluster ADDRESS`: the tasks on the workers (which keep
    running) stop at once, what was recorded stays, and the next run grades exactly the rest."""
    students = [f"s{i}" for i in range(3)]
    # each takes 3 s more than a solved notebook: the run is still going when Ctrl-C comes
    course = submit(work, {s: with_answer("rnn_step_forward", SLEEPY) for s in students})
    cmd = [sys.executable, "-m", "course_utils", "grade", LAB, "--root", str(REPO)]
    cmd += ["--work", str(work), "--cluster", scheduler, "-q", "--no-feedback"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = grader.state_dir(course, LAB)
    deadline = time.monotonic() + 180
    while not list(state.glob("*/recorded.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(state.glob("*/recorded.json")), "the first submission was never recorded"
    time.sleep(1)  # the next submissions are running on the workers now
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 1 and "interrupted" in err, err
    assert left_behind(3) == []  # a sleepy notebook takes longer: they were stopped
    done = {p.parent.name for p in state.glob("*/recorded.json")}
    assert done and done != set(students)

    records = count_records(monkeypatch)
    # The command's default limits: other limits would regrade everything.
    rows = grader.grade(course, LAB, progress=False, feedback=False, cluster=scheduler)
    assert {r.student for r in rows if r.status == "unchanged"} == done
    assert sorted(records) == sorted(set(students) - done)  # the rest, each once
    assert all(r.score == FULL for r in rows), [(r.student, r.score, r.notes) for r in rows]
    assert [s.student for s in grading.scores(course)] == students
    assert [r["student"] for r in report_rows(course)] == students


def endless_job(home: Path):
    """A job whose only cell sleeps for two minutes (unsandboxed, as ``Limits(sandbox=False)``
    runs)."""
    from nbformat.v4 import new_code_cell, new_notebook

    from course_utils.grading.execute.job import Job

    (home / "run").mkdir(parents=True)
    nb = new_notebook(cells=[new_code_cell("import time\ntime.sleep(120)")])
    nbformat.write(nb, home / "prepared.ipynb")
    return Job(
        notebook_in=str(home / "prepared.ipynb"),
        notebook_out=str(home / "executed.ipynb"),
        result_out=str(home / "result.json"),
        run_dir=str(home / "run"),
        cell_timeout=300,
    )


def test_a_submission_without_an_answer_in_time_is_hung_and_its_kernel_stopped(work, scheduler):
    """``run`` gives up after its timeout: "hung", the task cancelled, its executor and kernel
    killed on the worker at once (the worker's own limit is later)."""
    job = endless_job(work / "alice")
    home = work / "alice"
    workers = cluster.ClusterWorkers.connect(scheduler)
    try:
        start = time.monotonic()
        assert workers.run(job, home / "job.json", 5) == "hung"
        assert time.monotonic() - start < 12
        assert left_behind(3) == []
        assert not (home / "result.json").exists()
    finally:
        workers.stop()
        workers.stop()  # grade() may stop its workers twice


def test_a_worker_stops_an_executor_past_the_time_limit_by_itself(work):
    """The backstop when the grader is gone: the task kills its executor's process group."""
    job = endless_job(work / "bob")
    task = cluster.ClusterWorkers(client=None)._task(job, 120)
    task["worker_timeout"] = 4
    start = time.monotonic()
    answer = cluster.run_task(task)  # here, as a worker runs it
    assert answer["status"] == "hung" and answer["result"] is None, answer
    assert time.monotonic() - start < 12
    assert left_behind(3) == []


def test_a_worker_rebuilds_the_sandbox_for_its_machine(tmp_path):
    """Its own run folder; every top-level folder but the system's hidden, and what the
    instructor's spec hid where it exists here; its own interpreter and course_utils kept."""
    import course_utils

    course = grading.Course(root=REPO, work=tmp_path / "class")
    course.work.mkdir()
    spec = grader.sandbox_for(course, tmp_path / "class" / "run", LIMITS, grader.SANDBOX_UID_BASE)
    spec.hide.append("/no/such/folder/on/this/worker")
    mine = cluster.sandbox_here(dataclasses.asdict(spec), "/tmp/course-grade-task-x/run")
    assert mine["run_dir"] == "/tmp/course-grade-task-x/run"
    tops = {p for p in mine["hide"] if p.count("/") == 1}
    assert tops == {
        str(p)
        for p in Path("/").iterdir()
        if p.name not in grader.SYSTEM_DIRS and p.is_dir() and not p.is_symlink()
    }
    assert str(REPO / "solutions") in mine["hide"] and str(course.work) in mine["hide"]
    assert "/no/such/folder/on/this/worker" not in mine["hide"]
    assert {sys.prefix, str(Path(course_utils.__file__).parent)} <= set(mine["keep"])
    assert mine["uid"] == grader.SANDBOX_UID_BASE  # the launcher claims a free uid from there


def test_a_worker_with_another_environment_is_refused_on_connect(scheduler, monkeypatch):
    """The instructor's numpy differs from the workers': the check names the worker, the
    package, both versions and the fix, and nothing is graded."""
    real = cluster.environment_fingerprint()
    monkeypatch.setattr(
        cluster, "environment_fingerprint", lambda: {**real, "numpy": "1.0.0-instructor"}
    )
    with pytest.raises(grading.GradingError) as caught:
        cluster.ClusterWorkers.connect(scheduler)
    message = str(caught.value)
    assert "Dask worker tcp://127.0.0.1:" in message, message
    assert f"numpy: {real['numpy']} there, 1.0.0-instructor here" in message, message
    assert "Install the same Python environment on every worker" in message, message


@pytest.mark.slow
def test_a_worker_whose_environment_changed_after_connecting_grades_nothing(
    work, scheduler, monkeypatch
):
    """Every task checks its worker's environment again (a worker may join later): one that
    differs runs no submission, the run ends with the clear error, and nothing is recorded, so
    the next run grades the class."""
    course = submit(work, {"a_solved": solved(), "b_mistake": mistaken()})
    connect = cluster.ClusterWorkers.connect

    def connected_then_changed(address, course=None):
        workers = connect(address, course)
        workers.fingerprint = {**workers.fingerprint, "ipykernel": "0.0.1-instructor"}
        return workers

    monkeypatch.setattr(cluster.ClusterWorkers, "connect", connected_then_changed)
    monkeypatch.setattr(grader, "KERNEL_START_ATTEMPTS", 1)
    with pytest.raises(grading.GradingError) as caught:
        grader.grade(course, LAB, limits=LIMITS, progress=False, feedback=False, cluster=scheduler)
    message = str(caught.value)
    assert "Dask worker tcp://127.0.0.1:" in message, message
    assert "ipykernel: " in message and " there, 0.0.1-instructor here" in message, message
    assert grading.scores(course) == []
    assert not list(grader.state_dir(course, LAB).glob("*/recorded.json"))


def test_cluster_without_dask_says_which_extra_to_install(monkeypatch, capsys, tmp_path):
    from course_utils import cli

    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    code = cli.main(
        ["grade", LAB, "--root", str(REPO), "--work", str(tmp_path), "--cluster", "local:2"]
        + ["-q", "--no-feedback"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "`--cluster` needs Dask" in err and "pip install -e '.[cluster]'" in err, err
