"""``course grade --cluster``: run submissions on the workers of a Dask cluster.

``ClusterWorkers`` has the interface of the local pool (``workers.Workers``): ``run(job, path,
timeout)`` sends one submission to the cluster and waits for it, and the grader's main process
stays the only writer of the gradebook, the reports and the resume state.

What a task carries: the prepared notebook's JSON, the job's limits and sandbox spec, and the
files of its run folder (at most ``MAX_TASK_FILES_BYTES``). A worker needs no shared file
system for class data, only the instructor's Python environment: that is checked on every worker
when the grader connects (``client.run``), and again inside every task, since a worker may join
later. A mismatch refuses to grade (``GradingError``) and names the worker, the package and both
versions.

On the worker (``run_task``) the job runs in an executor process, never in the Dask worker's
own process (the executor changes directory and keeps process globals), in a private temporary
folder. Each worker thread keeps one executor (``python -m course_utils.grading.execute.executor
--serve``, as ``workers.Workers`` does locally) from task to task, so its imports (nbclient, and
TensorFlow for the judge's reference values) are paid once per worker, not per submission; it is
started again after it was killed, and when the instructor's environment fingerprint changes.
The job's paths and its sandbox are rebuilt for that machine (``sandbox_here``). The executed
notebook and the result come back with the task's answer and are written beside the job on the
grader's side.

A worker that dies while it runs a submission costs a retry (Dask runs the task again elsewhere);
the submission's future still has one answer, so it is recorded once. When Dask gives up
(``KilledWorker``), the submission is reported as not graded, with the reason.

Dask is imported only here, and only when ``--cluster`` is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import traceback
import uuid
from functools import lru_cache
from pathlib import Path

from ..course import Course, GradingError
from .job import Job, Result

#: The most a task may carry of its run folder's files (they travel with every submission).
MAX_TASK_FILES_BYTES = 64 << 20
#: How long ``connect`` waits for a scheduler without workers to get its first one.
WAIT_FOR_WORKERS_SECONDS = 120
#: A worker kills an executor this much later than the grader gives up on its task (the grader
#: kills it then; this is the backstop when the grader is gone).
WORKER_GRACE_SECONDS = 30
#: Prefix of a task's private folder on a worker (in its temporary directory).
TASK_PREFIX = "course-grade-task-"
#: Modules whose versions must match between the instructor and the workers (``keras`` and
#: ``tensorflow`` only where they are importable).
CHECKED_MODULES = (
    "nbgrader",
    "nbclient",
    "nbformat",
    "ipykernel",
    "jupyter_client",
    "numpy",
    "keras",
    "tensorflow",
)
HOW_TO_FIX = (
    "Install the same Python environment on every worker as on this machine (the same "
    "course_utils checkout and `pip install -c constraints.txt -e '.[all]'`, with the pins of "
    "environment.yml; or one container image for the grader and the workers), restart the "
    "workers, then run `course grade` again."
)
INSTALL_DASK = (
    "`--cluster` needs Dask, which is not installed in this Python environment. Install the "
    "course's `cluster` extra (`pip install -e '.[cluster]'` in the course's folder, or `make "
    "install`, which installs every extra) here and on every worker."
)


# --------------------------------------------------------------------------------------------
# The environment fingerprint


@lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    """Top-level module -> the distributions that provide it (tensorflow-cpu for tensorflow)."""
    return importlib.metadata.packages_distributions()


def _module_version(module: str) -> str:
    if importlib.util.find_spec(module) is None:
        return "not installed"
    for dist in _distributions().get(module, []):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        return version if dist.replace("-", "_") == module else f"{version} ({dist})"
    return "installed (version unknown)"


def course_utils_digest() -> str:
    """sha256 of the installed course_utils package's .py files (names and contents)."""
    import course_utils

    base = Path(course_utils.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(base.rglob("*.py")):
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def environment_fingerprint() -> dict[str, str]:
    """What must be the same on the instructor's machine and on every worker."""
    import course_utils

    found = {
        "Python": ".".join(map(str, sys.version_info[:3])),
        "course_utils": course_utils.__version__,
        "course_utils's .py files (sha256)": course_utils_digest(),
    }
    found.update({module: _module_version(module) for module in CHECKED_MODULES})
    return found


def _worker_fingerprint() -> dict[str, str]:
    """Run on a worker by ``client.run``: that worker's own fingerprint (a reference to this
    module's function, so a worker always computes it from its own installation)."""
    return environment_fingerprint()


def differences(expected: dict[str, str], found: dict[str, str]) -> list[str]:
    """One line per item that differs: 'numpy: 2.3.0 there, 2.4.6 here'."""
    return [
        f"{name}: {found.get(name, 'not reported')} there, {expected[name]} here"
        for name in expected
        if found.get(name) != expected[name]
    ]


def mismatch_message(worker: str, lines: list[str]) -> str:
    return (
        f"the Dask worker {worker} does not have this machine's Python environment, so nothing "
        "more is graded on the cluster:\n  " + "\n  ".join(lines) + "\n" + HOW_TO_FIX
    )


# --------------------------------------------------------------------------------------------
# The run folder's files, carried by the task


def _regular_files(folder: Path, limit: int, skipped: list[str]) -> dict[str, bytes]:
    """Every regular file below ``folder`` by path relative to it, up to ``limit`` bytes in all
    (as the executor copies a run folder's files: links, FIFOs and devices are never followed
    or opened). What is left out goes on ``skipped``, with why."""
    files: dict[str, bytes] = {}
    total = 0
    for top, dirs, names in os.walk(folder):  # os.walk does not follow links to folders
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]
        for name in names:
            path = Path(top) / name
            rel = path.relative_to(folder).as_posix()
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode):
                    continue
                if total + info.st_size > limit:
                    skipped.append(f"{rel}: over the {limit >> 20} MB a cluster task may carry")
                    continue
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    files[rel] = fh.read(info.st_size + 1)
            except OSError as exc:
                skipped.append(f"{rel}: {exc.strerror or exc}")
                continue
            total += len(files[rel])
    return files


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = (folder / name).resolve()
        if folder.resolve() not in target.parents:
            continue  # never outside the folder (a name with ..)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# The worker's side


#: run id -> process groups of the executors this worker process runs for that grader
_RUNNING: dict[str, dict[str, int]] = {}
_RUNNING_LOCK = threading.Lock()
#: This Dask worker process's executors (one per worker thread), kept from task to task, with
#: the environment fingerprint they were started for. Worker-process state by nature: tasks are
#: plain functions, and a WorkerPlugin would be replaced (its executors stopped) by the next
#: grader that registers it while another grader's tasks still run.
_EXECUTORS: dict[str, object] = {}
_EXECUTORS_LOCK = threading.Lock()


def sandbox_here(spec: dict, run_dir: str) -> dict:
    """The instructor's sandbox spec, rebuilt for this machine: its own run folder; hidden, every
    top-level folder that is not the system's plus what the instructor's spec hid that exists
    here; kept (mounted back), this interpreter, its packages and course_utils. The uid stays:
    the launcher claims spare uids machine-wide (``sandbox.claim_uid``), so two tasks on one
    machine never share one."""
    import course_utils

    from ..grade import SYSTEM_DIRS

    hide = [
        str(p)
        for p in sorted(Path("/").iterdir())
        if p.name not in SYSTEM_DIRS and p.is_dir() and not p.is_symlink()
    ]
    hide += [p for p in spec.get("hide", []) if p != "/" and os.path.exists(p)]
    keep = {sys.prefix, sys.base_prefix, str(Path(course_utils.__file__).parent)}
    keep.update(p for p in sys.path if p and Path(p).is_dir() and "site-packages" in p)
    return {**spec, "run_dir": run_dir, "hide": list(dict.fromkeys(hide)), "keep": sorted(keep)}


def _this_worker() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        import socket

        return socket.gethostname()


def _sweep_stale_task_folders() -> None:
    """Remove the task folders of worker processes that died (killed while a task ran): their
    scratch file system may still be mounted."""
    from .sandbox import unmount_scratch

    for folder in Path(tempfile.gettempdir()).glob(f"{TASK_PREFIX}*"):
        try:
            owner = int((folder / "owner").read_text())
            os.kill(owner, 0)
            continue  # its worker is alive: its task is running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # another user's worker, alive
        except (OSError, ValueError):
            if time.time() - folder.stat().st_mtime < 3600:
                continue  # being made right now, or not ours to judge yet
        unmount_scratch(str(folder / "run"))
        shutil.rmtree(folder, ignore_errors=True)


def run_task(task: dict) -> dict:
    """Run one submission on this worker: check the environment, write the notebook and the
    job into a private folder, run it on this thread's executor with a time limit; return
    ``{"status": "done" | "exited" | "hung", "notebook", "result", "log", "new_files",
    "worker", "executor"}`` (the files' contents, or None; the executor's process id), or
    ``{"refused": message}`` when the environment differs."""
    from .sandbox import unmount_scratch

    worker = _this_worker()
    lines = differences(task["expected"], environment_fingerprint())
    if lines:
        return {"refused": mismatch_message(worker, lines), "worker": worker}
    _sweep_stale_task_folders()
    # Named after the submission (its token), so that `ps` on a worker tells whose job it is
    folder = Path(tempfile.mkdtemp(prefix=f"{TASK_PREFIX}{task['token'][-60:]}-"))
    try:
        folder.chmod(0o711)  # a sandboxed kernel's uid must pass through to its run folder
        (folder / "owner").write_text(str(os.getpid()))
        values = dict(task["job"])
        run_dir = folder / "run"
        run_dir.mkdir()
        _write_files(run_dir, task["run_files"])
        if task.get("files") is not None:
            _write_files(folder / "files", task["files"])
            values["files_from"] = str(folder / "files")
        if values.get("files_to"):  # what the notebook writes goes back with the answer
            (folder / "out").mkdir()
            values["files_to"] = str(folder / "out")
        (folder / "prepared.ipynb").write_text(task["notebook"])
        values.update(
            notebook_in=str(folder / "prepared.ipynb"),
            notebook_out=str(folder / "executed.ipynb"),
            result_out=str(folder / "result.json"),
            run_dir=str(run_dir),
        )
        if values.get("sandbox") is not None:
            values["sandbox"] = sandbox_here(values["sandbox"], str(run_dir))
        status, executor = _execute(
            Job(**values),
            folder,
            task["expected"],
            task["run_id"],
            task["token"],
            task["worker_timeout"],
        )
        unmount_scratch(str(run_dir))
        log = folder / "executor.log"
        skipped: list[str] = []
        out = folder / "out"
        return {
            "status": status,
            "new_files": _regular_files(out, MAX_TASK_FILES_BYTES, skipped) if out.is_dir() else {},
            "notebook": _read(folder / "executed.ipynb"),
            "result": _read(folder / "result.json"),
            "log": log.read_bytes()[-65536:].decode(errors="replace") if log.is_file() else "",
            "worker": worker,
            "executor": executor,
        }
    finally:
        unmount_scratch(str(folder / "run"))  # left mounted by an executor that was killed
        shutil.rmtree(folder, ignore_errors=True)


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _executors(fingerprint: dict[str, str]):
    """This worker process's executor pool, started for ``fingerprint`` (a pool started for
    another one is stopped first: its executors run code of an older environment)."""
    from ..course import tool_environment
    from .workers import Workers

    key = json.dumps(fingerprint, sort_keys=True)
    with _EXECUTORS_LOCK:
        if _EXECUTORS.get("key") != key:
            old = _EXECUTORS.get("pool")
            if old is not None:
                old.stop()
            _EXECUTORS.update(key=key, pool=Workers(tool_environment()))
        return _EXECUTORS["pool"]


def _execute(
    job: Job, folder: Path, fingerprint: dict[str, str], run_id: str, token: str, timeout: float
) -> tuple[str, int]:
    """Run ``job`` (written to ``folder/job.json``) on this thread's long-lived executor; kill it
    after ``timeout`` seconds. Its log goes to ``folder/executor.log``. Return the status and
    the executor's process id."""
    pool = _executors(fingerprint)
    proc = pool.mine()
    with _RUNNING_LOCK:
        _RUNNING.setdefault(run_id, {})[token] = proc.pid
    try:
        return pool.run(job, folder / "job.json", timeout), proc.pid
    finally:
        with _RUNNING_LOCK:
            _RUNNING.get(run_id, {}).pop(token, None)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def kill_tasks(run_id: str, tokens: list[str] | None = None) -> int:
    """Run on a worker by ``client.run``: kill the executors (and with them their kernels) this
    worker runs for the grader ``run_id`` (only ``tokens``, if given); return how many."""
    with _RUNNING_LOCK:
        running = dict(_RUNNING.get(run_id, {}))
    killed = 0
    for token, pid in running.items():
        if tokens is None or token in tokens:
            _killpg(pid)
            killed += 1
    return killed


# --------------------------------------------------------------------------------------------
# The grader's side


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise GradingError(INSTALL_DASK) from None
    return distributed


class ClusterWorkers:
    """The interface of ``workers.Workers``, on a Dask cluster's workers."""

    def __init__(self, client, cluster=None, fingerprint: dict[str, str] | None = None) -> None:
        self.client = client
        self.cluster = cluster  #: the LocalCluster this object started, if any
        self.fingerprint = fingerprint if fingerprint is not None else environment_fingerprint()
        self.run_id = uuid.uuid4().hex
        self.stopping = threading.Event()  #: set when the run was interrupted (Ctrl-C)
        self.futures: dict = {}  #: outstanding futures -> their token
        self.lock = threading.Lock()
        self.refused: str | None = None  #: why the cluster may not grade (a worker's mismatch)
        self.stopped = False

    # ------------------------------------------------------------------------------ connecting

    @classmethod
    def connect(cls, address: str, course: Course | None = None) -> ClusterWorkers:
        """Connect to the scheduler at ``address``, or start ``local:N``; check every worker's
        environment. Raises ``GradingError`` when Dask is missing, the scheduler cannot be
        reached, no worker joins, or a worker's environment differs from this one."""
        import logging

        distributed = _import_distributed()
        cluster = None
        if address.startswith("local:"):
            count = address.removeprefix("local:")
            if not count.isdigit() or int(count) < 1:
                raise GradingError(
                    f"--cluster {address}: give the number of workers, e.g. --cluster local:4"
                )
            cluster = distributed.LocalCluster(
                n_workers=int(count),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # no fixed port: several graders may run
                memory_limit=0,  # the sandbox limits each kernel; the executors are children
                silence_logs=logging.ERROR,
            )
            target = cluster
        else:
            target = address
        try:
            client = distributed.Client(target, timeout="30s")
        except (OSError, TimeoutError) as exc:
            if cluster is not None:
                cluster.close()
            raise GradingError(
                f"could not reach the Dask scheduler at {address} ({exc}). Start it first "
                "(`dask scheduler`, then `dask worker ADDRESS` on each machine) and give its "
                "address, e.g. --cluster tcp://host:8786"
            ) from None
        workers = cls(client, cluster)
        try:
            workers.check()
        except BaseException:
            workers.stop()
            raise
        return workers

    def check(self) -> None:
        """Wait for a worker; refuse a worker whose environment differs from this one."""
        try:
            self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_SECONDS)
        except TimeoutError:
            raise GradingError(
                f"no Dask worker joined the scheduler within {WAIT_FOR_WORKERS_SECONDS} s: "
                "start workers first (`dask worker ADDRESS`)"
            ) from None
        found = self.client.run(_worker_fingerprint)
        for worker, theirs in sorted(found.items()):
            lines = differences(self.fingerprint, theirs)
            if lines:
                raise GradingError(mismatch_message(worker, lines))

    def slots(self) -> int:
        """The cluster's worker threads: how many submissions it runs at once."""
        return max(1, sum(self.client.nthreads().values()))

    # ------------------------------------------------------------------------------ one job

    def run(self, job: Job, path: Path, timeout: float) -> str:
        """Send ``job`` to the cluster and wait for it; write the executed notebook and the
        result where the job says, and the executor's log beside ``path`` (the job, written
        there too). Return ``"done"``, ``"exited"`` (the task failed, Dask gave up on it, or
        ``kill_all`` cancelled it) or ``"hung"`` (no answer within ``timeout`` seconds, Dask's
        retries included: the task was cancelled and its executor killed)."""
        distributed = _import_distributed()
        path = Path(path)
        job.write(path)
        log = path.parent / "executor.log"
        log.unlink(missing_ok=True)
        if self.refused:
            raise GradingError(self.refused)
        if self.stopping.is_set():
            return "exited"
        task = self._task(job, timeout)
        future = self.client.submit(run_task, task, key=f"grade-{task['token']}", pure=False)
        with self.lock:
            self.futures[future] = task["token"]
        try:
            answer = future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()
            self._kill_remote([task["token"]])
            return "hung"
        except distributed.KilledWorker as exc:
            log.write_text(
                f"Dask gave up on this submission: the workers that ran it died ({exc}); "
                "see the workers' logs (out of memory?)\n"
            )
            return "exited"
        except Exception as exc:  # noqa: BLE001 - cancelled (Ctrl-C, a refusal), lost, failed
            if self.refused:  # cancelled because another task found a worker refused
                raise GradingError(self.refused) from None
            if self.stopping.is_set():
                return "exited"
            failed = "".join(traceback.format_exception(exc))
            log.write_text(f"the cluster's task failed:\n{failed}")
            return "exited"
        finally:
            with self.lock:
                self.futures.pop(future, None)
        if "refused" in answer:
            self.refused = self.refused or answer["refused"]
            self.kill_all(stopping=False)  # nothing more runs on the cluster
            raise GradingError(self.refused)
        left_out = "".join(f"not sent to the worker: {line}\n" for line in task["skipped"])
        where = (
            f"ran on the Dask worker {answer['worker']}, executor process {answer['executor']}\n"
        )
        log.write_text(where + left_out + answer["log"])
        if job.files_to:  # only files the assignment's folder does not have yet, as locally
            folder = Path(job.files_to)
            _write_files(
                folder,
                {
                    name: data
                    for name, data in answer.get("new_files", {}).items()
                    if not os.path.lexists(folder / name)
                    and not any((folder / p).is_symlink() for p in Path(name).parents)
                },
            )
        if answer["notebook"] is not None:
            _write_atomically(Path(job.notebook_out), answer["notebook"])
        if answer["result"] is not None:  # after the notebook, as the executor writes them
            _write_atomically(Path(job.result_out), answer["result"])
        return answer["status"]

    def _task(self, job: Job, timeout: float) -> dict:
        """What one task carries: the notebook, the job's fields, the run folder's files (those
        already in it, and those of ``files_from``, which the executor copies into it)."""
        values = dataclasses.asdict(job)
        limit = min(MAX_TASK_FILES_BYTES, job.max_disk_bytes)
        skipped: list[str] = []
        run_files = _regular_files(Path(job.run_dir), limit, skipped)
        files = None
        if values.get("files_from"):
            left = limit - sum(map(len, run_files.values()))
            files = _regular_files(Path(values["files_from"]), left, skipped)
        return {
            "job": values,
            "notebook": Path(job.notebook_in).read_text(),
            "run_files": run_files,
            "files": files,
            "skipped": skipped,
            "worker_timeout": timeout + WORKER_GRACE_SECONDS,
            "expected": self.fingerprint,
            "run_id": self.run_id,
            "token": f"{Path(job.notebook_in).parent.name}-{uuid.uuid4().hex[:12]}",
        }

    @staticmethod
    def _not_started(job: Job, why: str) -> str:
        """A result saying that no kernel started (so none of the student's code ran and the
        grader does not score it) and why: the grader reports it and records nothing."""
        Result(events=[why], started=False).write(Path(job.result_out))
        return "done"

    # ------------------------------------------------------------------------------ stopping

    def _kill_remote(self, tokens: list[str] | None = None) -> None:
        try:
            self.client.run(kill_tasks, self.run_id, tokens)
        except Exception:  # noqa: BLE001 - best effort: a worker may be gone already
            pass

    def kill_all(self, stopping: bool = True) -> None:
        """Stop everything at once (Ctrl-C): cancel the outstanding tasks, kill their executors
        and kernels on the workers."""
        if stopping:
            self.stopping.set()
        with self.lock:
            futures = list(self.futures)
        if futures:
            try:
                self.client.cancel(futures)
            except Exception:  # noqa: BLE001 - the client may be closing
                pass
        self._kill_remote()

    def stop(self) -> None:
        """Close the client (and the LocalCluster this object started). Raise ``GradingError``
        once if a worker's environment was refused during the run. Safe to call again."""
        if self.stopped:
            return
        self.stopped = True
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
