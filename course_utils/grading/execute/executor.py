"""Execute one prepared submission in a sandboxed kernel, cell by cell, and record what happened.

``python -m course_utils.grading.execute.executor JOB.json`` runs one job; ``--serve`` runs
job after job, their paths read from stdin: ``course grade`` keeps one such worker per parallel
slot. Every submission still gets its own kernel process and sandbox, so a crash in one never
touches another student.
The job names the prepared notebook (see ``course_utils.grading.intake.prepare``), where to write
the executed notebook and the result, the time limits and the sandbox. The result lists, for
every code cell, one of:

``ok``        ran and raised nothing
``error``     raised (the error's name and message are kept), or, for a test cell, wrote to
              stderr: nbgrader fails such a cell, and so does ``course grade``
``timeout``   ran longer than the cell time limit and was interrupted
``not-run``   never ran: the kernel died earlier, or the notebook time limit was used up

Test cells never run in the kernel: ``judge`` runs them in this process, where the student's
functions are reached only through calls answered by ``answer_server`` in the kernel, so the
verdicts are decided outside the student's process. Set-up cells run in the kernel (and, those
before the first answer, in the judge too). The in-kernel guard of
``integrity`` still notices patching, as a note for the instructor to review; no verdict depends
on it.
"""

from __future__ import annotations

import ast
import collections
import contextlib
import json
import math
import os
import re
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_output

from .job import JOB_DONE, CellResult, Job, Result
from .sandbox import Sandbox

GUARD_BROKEN = "the grader's integrity check could not run"
_CURRENT_KM: list = []  # the kernel manager of the running job, for the orphan watchdog
#: Grace period after interrupting a cell that ran too long, before the kernel is killed.
INTERRUPT_GRACE = 10.0


def bound_names(source: str) -> list[str]:
    """Names a cell binds at top level (imports, assignments, defs): what trusted cells own."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return sorted(names - {"*"})


_SETUP_LAB = re.compile(r"setup_lab\([^)]*\)")
_KERAS = re.compile(r"\b(keras|tensorflow)\b")


def kernel_uses_keras(nb) -> bool:
    """Does any cell the kernel runs (all but the tests) use Keras, apart from the set-up's
    ``runtime.setup_lab(keras=True)``? If not, the kernel need not import it: the tests that
    compare with Keras run in the grader."""
    return any(
        _KERAS.search(_SETUP_LAB.sub("", c.source))
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("course", {}).get("role") != "test"
    )


def cell_name(index: int, cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"


def _client_class():
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from traitlets import Integer, List

    class SandboxedKernelManager(AsyncKernelManager):
        """Starts the kernel through the sandbox launcher."""

        sandbox_prefix = List([])

        def format_kernel_cmd(self, extra_arguments=None):
            return [*self.sandbox_prefix, *super().format_kernel_cmd(extra_arguments)]

    class LimitedClient(NotebookClient):
        """A notebook client that stops keeping outputs past ``max_output_bytes`` in a cell, or
        past ``max_notebook_output_bytes`` in the whole notebook."""

        max_output_bytes = Integer(1 << 20)
        max_notebook_output_bytes = Integer(8 << 20)

        def output(self, outs, msg, display_id, cell_index):
            sizes = self.__dict__.setdefault("_course_sizes", {})
            # One key per execution (the request's id): the grader's own cells reuse an index
            key = (cell_index, msg.get("parent_header", {}).get("msg_id", id(outs)))
            size = len(json.dumps(msg.get("content", {})))
            sizes[key] = sizes.get(key, 0) + size
            sizes["notebook"] = sizes.get("notebook", 0) + size
            if sizes["notebook"] > self.max_notebook_output_bytes:
                limit = f"{self.max_notebook_output_bytes} bytes in the whole notebook"
            elif sizes[key] > self.max_output_bytes:
                limit = f"{self.max_output_bytes} bytes"
            else:
                return super().output(outs, msg, display_id, cell_index)
            if sizes.get((key, "noted")) is None:
                sizes[(key, "noted")] = True
                note = f"[grader] output cut off after {limit}\n"
                outs.append(new_output("stream", name="stderr", text=note))
            return None

    return SandboxedKernelManager, LimitedClient


STDERR_FAILS = (
    "a test that writes to stderr fails, as in nbgrader (warnings print with the output, so "
    "this was a print to sys.stderr or output of native code)."
)


def stderr_text(cell: nbformat.NotebookNode) -> str:
    """What a cell wrote to stderr, apart from the grader's own notes."""
    return "".join(
        o.text
        for o in cell.outputs
        if o.output_type == "stream" and o.name == "stderr" and not o.text.startswith("[grader]")
    ).strip()


def _error_output(ename: str, evalue: str) -> nbformat.NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _kill(km) -> None:
    """Kill the kernel's whole process group (the sandbox launcher and everything in it)."""
    pgid = getattr(km.provisioner, "pgid", None)
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


def group_cpu_seconds(pgid: int | None) -> float:
    """User + system CPU time of every process in group ``pgid`` (and its reaped children)."""
    if not pgid:
        return 0.0
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == pgid:  # fields from "state" on: state ppid pgrp ... utime stime
            ticks += sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _read_scratch(path: Path) -> str:
    """A file from the kernel's scratch folder, where the student's code can write: opened only
    if it is a plain file (never through a link, never a FIFO) and read no further than 1 MB."""
    from ..intake import Refused, read_regular_file

    try:
        return read_regular_file(path, 1 << 20).decode("utf-8", errors="replace")
    except Refused as exc:
        raise OSError(f"{path.name}: {exc}") from None


def run(job: Job) -> Result:
    """Execute the job's notebook; write the executed notebook and the result; return it.

    In a sandbox, as root, the kernel's scratch folder is a tmpfs of ``max_disk_bytes`` for the
    time of the job, so what a submission writes there is capped and is gone afterwards."""
    from .sandbox import scratch_filesystem

    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    size = job.max_disk_bytes if job.sandbox is not None else 0
    with scratch_filesystem(str(run_dir), size):
        try:
            if job.files_from:
                copy_files(Path(job.files_from), run_dir, job.max_disk_bytes)
            result = Session(job).run()
            if job.files_to:
                copy_files(run_dir, Path(job.files_to), job.max_disk_bytes, new_only=True)
            return result
        finally:
            os.chdir("/")  # out of the folder before it is unmounted


def copy_files(source: Path, dest: Path, limit: int, new_only: bool = False) -> list[str]:
    """Copy the regular files below ``source`` into ``dest`` (at most ``limit`` bytes in all);
    return what was left out and why. Links, FIFOs and devices are never followed or opened.

    ``new_only``: what a notebook wrote, back into its assignment's folder: only files that are
    not there yet, and no notebooks, ``timestamp.txt`` or hidden files (the kernel's own)."""
    import shutil
    import stat

    skipped, total = [], 0
    for folder, dirs, files in os.walk(source):  # os.walk does not follow links to folders
        rel = Path(folder).relative_to(source)
        dirs[:] = [
            d
            for d in dirs
            if not os.path.islink(os.path.join(folder, d)) and not (new_only and d[0] == ".")
        ]
        for name in files:
            path = Path(folder) / name
            if new_only and (
                name[0] == "."
                or name.endswith((".ipynb", ".sock"))
                or (rel == Path(".") and name in {"timestamp.txt", "kernel.json", "report.json"})
                or os.path.lexists(dest / rel / name)
            ):
                continue
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                skipped.append(f"{rel / name}: not a regular file")
                continue
            total += info.st_size
            if total > limit:
                skipped.append(f"{rel / name}: over the {limit >> 20} MB the run folder may hold")
                continue
            (dest / rel).mkdir(parents=True, exist_ok=True)
            if (dest / rel).is_symlink():
                continue
            with open(path, "rb", opener=_no_follow) as src, open(dest / rel / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return skipped


def _no_follow(path, flags):
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


class Session:
    """One job: its kernel and notebook client, the judge of its tests, and what happened.

    ``run`` walks the notebook's code cells: set-up and answer cells run in the kernel
    (``kernel_cell``), test cells run in the judge while the kernel answers their calls
    (``test_cell``)."""

    def __init__(self, job: Job) -> None:
        from .judge import Judge

        km_class, client_class = _client_class()
        self.job = job
        self.run_dir = Path(job.run_dir)
        self.nb = nbformat.read(job.notebook_in, as_version=4)
        self.result = Result()
        self.phases: dict[str, float] = collections.defaultdict(float)
        self.started = time.monotonic()
        self.deadline = self.started + job.notebook_timeout
        self.dead: str | None = None  #: why no further cell can run, once that is so
        # The kernel's sockets are files in run_dir, named relative to it: a Unix socket's path
        # may not exceed 107 bytes, which a deep class folder and a long student id easily would.
        os.chdir(self.run_dir)
        self.km = km_class(kernel_name="python3", transport="ipc", ip="kernel")
        self.km.connection_file = str(self.run_dir / "kernel.json")
        _CURRENT_KM[:] = [self.km]
        self.env = self._kernel_environment()
        self.timeout_reply = {
            "ename": "CellTimeoutError",
            "evalue": f"the cell ran longer than its time limit of {job.cell_timeout:g} s "
            "and was interrupted (an endless loop, or far too much work?)",
            "traceback": [],
        }
        self.client = client_class(
            self.nb,
            km=self.km,
            timeout=job.cell_timeout,
            startup_timeout=int(job.startup_timeout),
            interrupt_on_timeout=True,
            error_on_timeout=self.timeout_reply,
            allow_errors=True,
            record_timing=False,
            shutdown_kernel="immediate",
            kernel_name="python3",
            iopub_timeout=10,
            raise_on_iopub_timeout=False,
            max_output_bytes=job.max_output_bytes,
            max_notebook_output_bytes=job.max_notebook_output_bytes,
            resources={"metadata": {"path": str(self.run_dir)}},
        )
        self.replies: list[dict] = []
        self.client.on_cell_executed = lambda **kw: self.replies.append(kw["execute_reply"])
        self.judge = Judge()
        roles = [c.metadata.get("course", {}).get("role", "student") for c in self.nb.cells]
        self.first_answer = next((i for i, r in enumerate(roles) if r == "answer"), len(roles))

    def _kernel_environment(self) -> dict | None:
        from ...runtime import KERAS_PRELOAD_ENV

        # A kernel none of whose cells use Keras need not import it: the tests run here.
        extra = {} if kernel_uses_keras(self.nb) else {KERAS_PRELOAD_ENV: "0"}
        extra.update(self.job.kernel_env)
        if self.job.sandbox is not None:
            sandbox = Sandbox(
                **{**self.job.sandbox, "env": {**self.job.sandbox.get("env", {}), **extra}}
            )
            self.km.sandbox_prefix = sandbox.wrap([])
            return sandbox.environment()
        return {**os.environ, **extra} if extra else None

    # ---------------------------------------------------------------------------------- helpers

    @contextlib.contextmanager
    def timed(self, phase: str):
        tick = time.monotonic()
        try:
            yield
        finally:
            self.phases[phase] += time.monotonic() - tick

    @property
    def pgid(self) -> int | None:
        return getattr(self.km.provisioner, "pgid", None)

    def timed_out(self) -> bool:
        return (
            bool(self.replies)
            and self.replies[-1].get("content", {}).get("ename") == "CellTimeoutError"
        )

    def hidden(self, code: str, timeout: float) -> str:
        """Run grader code in the kernel; return the reply status ('ok', 'error', 'timeout')."""
        self.client.timeout = max(1, int(timeout))
        cell = new_code_cell(code)
        self.nb.cells.append(cell)  # a slot of its own: nbclient writes the cell back by index
        try:
            self.client.execute_cell(cell, len(self.nb.cells) - 1, store_history=False)
        finally:
            self.nb.cells.pop()
        if self.timed_out():
            return "timeout"
        return "error" if any(o.output_type == "error" for o in cell.outputs) else "ok"

    def guard(self, names: list[str] | None) -> list[str] | None:
        """Run the integrity check; return what was patched, or None if the check failed."""
        report = self.run_dir / f".guard-{secrets.token_hex(16)}.json"
        arg = "None" if names is None else repr(names)
        status = self.hidden(
            "__import__('course_utils.grading.execute.integrity', fromlist=['GUARD'])"
            f".GUARD.check({str(report)!r}, {arg})",
            INTERRUPT_GRACE,
        )
        try:
            changed = json.loads(_read_scratch(report))["changed"] if status == "ok" else None
            report.unlink()
        except (OSError, ValueError, KeyError, TypeError):
            changed = None
        return changed

    def record(self, index, cell, status, ename="", evalue="", seconds=0.0, cpu=0.0) -> None:
        self.result.cells.append(
            CellResult(
                index=index,
                grade_id=cell.metadata.get("nbgrader", {}).get("grade_id"),
                role=cell.metadata.get("course", {}).get("role", "student"),
                status=status,
                ename=ename,
                evalue=evalue[:2000],
                seconds=round(seconds, 3),
                cpu_seconds=round(cpu, 3),
            )
        )

    def event(self, what: str) -> str:
        self.result.events.append(what)
        return what

    def died(self, index: int, cell, tick: float) -> None:
        """The kernel died while ``cell`` ran: record it, and that nothing after it can run."""
        self.dead = self.event(
            f"the kernel died while cell {index} ran (os._exit, a crash, or memory)"
        )
        cell.outputs.append(_error_output("DeadKernelError", self.dead))
        self.record(index, cell, "error", "DeadKernelError", self.dead, time.monotonic() - tick)

    def after_timeout(self, index: int, cell, clipped: bool) -> str:
        """Note a cell that ran out of time; stop the kernel if it ignored the interrupt.
        Return the message."""
        evalue = self.timeout_reply["evalue"]
        if clipped:
            evalue = (
                f"the notebook's time limit of {self.job.notebook_timeout:g} s ran out while "
                "this cell ran, and it was interrupted"
            )
        cell.outputs.append(_error_output("CellTimeoutError", evalue))
        if self.hidden("pass", INTERRUPT_GRACE) != "ok":
            stopped = f"cell {index} ignored the interrupt after its time limit"
            self.event(stopped + "; the kernel was stopped")
            _kill(self.km)
            self.dead = self.dead or stopped
        return evalue

    # ------------------------------------------------------------------------------ the cells

    def run(self) -> Result:
        from nbclient.exceptions import DeadKernelError

        from .sandbox import remove_cgroups

        try:
            with self.client.setup_kernel(env=self.env, cwd=str(self.run_dir)):
                self.start()
                for index, cell in enumerate(self.nb.cells):
                    if cell.cell_type != "code":
                        continue
                    if self.dead is None and time.monotonic() >= self.deadline:
                        self.dead = self.event(
                            f"the notebook time limit of {self.job.notebook_timeout:g} s was "
                            "used up before this cell"
                        )
                    if self.dead is not None:
                        cell.outputs = [_error_output("NotRun", f"not run: {self.dead}")]
                        self.record(index, cell, "not-run", "NotRun", self.dead)
                    elif cell.metadata.get("course", {}).get("role") == "test":
                        self.test_cell(index, cell)
                    else:
                        self.kernel_cell(index, cell)
                if self.dead is None:  # for the instructor's review: what the student replaced
                    with self.timed("guard"):
                        changed = self.guard(None)
                    if changed and changed != [GUARD_BROKEN]:
                        self.result.tampering = changed
        except DeadKernelError as exc:
            self.dead = self.dead or self.event(f"the kernel died: {exc}")
        except RuntimeError as exc:  # the kernel never came up, or the guard could not start
            self.event(f"the kernel could not run: {exc}")
            self.read_sandbox_report()
        finally:
            _kill(self.km)  # whatever the kernel left running in its sandbox goes with it
            # Read before any student code ran, so it names only the launcher's own cgroups
            remove_cgroups(list((self.result.sandbox or {}).get("cgroups") or []))
        return self.finish()

    def read_sandbox_report(self) -> None:
        report = self.run_dir / "report.json"
        if report.is_file():
            try:
                self.result.sandbox = json.loads(_read_scratch(report))
            except (OSError, ValueError):
                pass  # the student's code may have replaced it: the events say what happened

    def start(self) -> None:
        """The kernel is up: read the sandbox's report, install the guard, start the clock."""
        self.phases["kernel start"] = time.monotonic() - self.started
        report = self.run_dir / "report.json"
        if report.is_file():
            self.result.sandbox = json.loads(_read_scratch(report))
        with self.timed("guard"):
            installed = self.hidden(
                "import course_utils.grading.execute.integrity as _ci; _ci.install(); del _ci", 60
            )
        if installed != "ok":
            raise RuntimeError("the grader's integrity guard could not start in the kernel")
        self.result.started = True
        # The notebook's time runs from here: starting the kernel is not the student's time.
        self.deadline = time.monotonic() + self.job.notebook_timeout

    def test_cell(self, index: int, cell) -> None:
        """A test cell: judged here (``judged``), with nbgrader's rule on stderr."""
        from nbclient.exceptions import DeadKernelError

        tick = time.monotonic()
        clipped = self.deadline - tick < self.job.cell_timeout
        self.replies.clear()
        try:
            with self.timed("tests"):
                status, ename, evalue, cpu = self.judged(index, cell)
        except DeadKernelError:
            self.died(index, cell, tick)
            return
        seconds = time.monotonic() - tick
        if status == "ok" and (said := stderr_text(cell)):
            # nbgrader's rule, so that Validate and course grade agree on every test
            status, ename = "error", "StderrOutput"
            evalue = f"{STDERR_FAILS} It wrote: {said[:300]}"
            cell.outputs.append(_error_output(ename, evalue))
        if status == "timeout":
            evalue = self.after_timeout(index, cell, clipped)
        self.record(index, cell, status, ename, evalue, seconds, cpu)

    def judged(self, index: int, cell) -> tuple[str, str, str, float]:
        """Judge a test cell here while the kernel answers its calls; fill in the cell's
        outputs; return (status, ename, evalue, cpu seconds of the kernel)."""
        import threading

        from .judge import SocketTransport

        name = f"calls-{secrets.token_hex(6)}.sock"  # relative: run_dir is the cwd of both
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(name)
        os.chmod(name, 0o666)  # the kernel may run as another uid: it must be able to connect
        listener.listen(1)
        limit = min(self.job.cell_timeout, max(1.0, self.deadline - time.monotonic()))
        transport = SocketTransport(
            listener, time.monotonic() + limit + 2 * INTERRUPT_GRACE, self.job.max_call_bytes
        )
        box: dict = {}

        def work() -> None:
            try:
                box["verdict"] = self.judge.test(cell.source, transport, cell_name(index, cell))
            finally:
                transport.close()  # the kernel's serve() returns: the cell below ends

        thread = threading.Thread(target=work, name="judge", daemon=True)
        thread.start()
        serve_cell = new_code_cell(
            "__import__('course_utils.grading.execute.answer_server', fromlist=['serve'])"
            f".serve({name!r})"
        )
        self.client.timeout = max(1, math.ceil(limit))
        cpu_before = group_cpu_seconds(self.pgid)
        self.nb.cells.append(serve_cell)
        try:
            self.client.execute_cell(serve_cell, len(self.nb.cells) - 1, store_history=False)
        finally:
            self.nb.cells.pop()
            cpu = group_cpu_seconds(self.pgid) - cpu_before
            transport.close()
            thread.join(timeout=max(30.0, self.job.cell_timeout))
            with contextlib.suppress(OSError):
                os.unlink(name)
        # What the student's functions printed while the test ran, then what the test printed.
        shown = ("stream", "display_data")
        cell.outputs = [o for o in serve_cell.outputs if o.output_type in shown]
        verdict = box.get("verdict")
        if verdict is None:
            return "error", "GraderError", "the grader could not finish this test", cpu
        for stream in ("stdout", "stderr"):
            if getattr(verdict, stream):
                cell.outputs.append(
                    new_output("stream", name=stream, text=getattr(verdict, stream))
                )
        if self.timed_out():
            return "timeout", "CellTimeoutError", "", cpu
        if verdict.status != "ok":
            cell.outputs.append(_error_output(verdict.ename, verdict.evalue))
            return "error", verdict.ename, verdict.evalue, cpu
        return "ok", "", "", cpu

    def kernel_cell(self, index: int, cell) -> None:
        """A set-up or answer cell: run in the kernel. The set-up cells before the first
        answer also run in the judge, where they define what the tests use."""
        from nbclient.exceptions import DeadKernelError

        job = self.job
        role = cell.metadata.get("course", {}).get("role", "student")
        tick = time.monotonic()
        cpu_before = group_cpu_seconds(self.pgid)
        self.replies.clear()
        if role == "setup":
            # The instructor's set-up (importing TensorFlow takes seconds on a busy machine) is
            # not the student's time: it gets the start-up limit, and the notebook's clock stops
            # while it runs (see below).
            clipped = False
            self.client.timeout = max(1, math.ceil(max(job.cell_timeout, job.startup_timeout)))
        else:
            clipped = self.deadline - tick < job.cell_timeout  # the notebook's limit first
            self.client.timeout = max(1, math.ceil(min(job.cell_timeout, self.deadline - tick)))
        try:
            self.client.execute_cell(cell, index)
        except DeadKernelError:
            self.died(index, cell, tick)
            return
        seconds = time.monotonic() - tick
        self.phases["setup (kernel)" if role == "setup" else "answers"] += seconds
        cpu = group_cpu_seconds(self.pgid) - cpu_before
        if role == "setup":
            self.deadline += seconds
            if index < self.first_answer:  # the tests' own set-up: numpy, checks, Keras
                self.setup_judge(index, cell)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        reply = self.replies[-1].get("content", {}) if self.replies else {}
        if not errors and reply.get("status", "ok") != "ok":
            # The kernel says the cell failed but showed no error (its error display broke, or
            # was silenced): the reply decides, as in nbgrader.
            errors = [
                _error_output(
                    reply.get("ename") or "Error",
                    reply.get("evalue")
                    or f"the cell failed (status {reply.get('status')!r}) without showing an error",
                )
            ]
            cell.outputs.append(errors[0])
        status = "error" if errors else "ok"
        ename = errors[0].ename if errors else ""
        evalue = errors[0].evalue if errors else ""
        if self.timed_out():
            status, ename = "timeout", "CellTimeoutError"
            evalue = self.after_timeout(index, cell, clipped)
        self.record(index, cell, status, ename, evalue, seconds, cpu)

    def setup_judge(self, index: int, cell) -> None:
        """Run a set-up cell in the judge too (the grader's time, not the student's)."""
        tock = time.monotonic()
        # The guard's baseline: what this cell imported and defined (for review)
        with self.timed("guard"):
            self.guard(bound_names(cell.source))
        with self.timed("setup (judge)"):
            prepared = self.judge.setup(cell.source, cell_name(index, cell))
        self.deadline += time.monotonic() - tock
        if prepared.status != "ok":
            raise RuntimeError(
                f"the lab's set-up cell {index} failed in the grader: "
                f"{prepared.ename}: {prepared.evalue}"
            )

    def finish(self) -> Result:
        """Mark the cells that never ran, total the time, write the notebook and the result."""
        result, job = self.result, self.job
        ran = {c.index for c in result.cells}
        reason = result.events[-1] if result.events else "the kernel stopped"
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type == "code" and index not in ran:
                cell.outputs = [_error_output("NotRun", f"not run: {reason}")]
                self.record(index, cell, "not-run", "NotRun", reason)
        result.cells.sort(key=lambda c: c.index)
        result.seconds = round(time.monotonic() - self.started, 3)
        self.phases["other"] = max(0.0, result.seconds - sum(self.phases.values()))
        result.phases = {k: round(v, 3) for k, v in self.phases.items()}
        nbformat.write(self.nb, job.notebook_out)
        result.write(Path(job.result_out))
        return result


def serve() -> None:
    """Run the jobs whose paths arrive on stdin, one per line, until stdin closes.

    Each job's output (and its kernel's) goes to ``executor.log`` beside the job; when a job is
    finished, ``done <path>`` goes to the grader on what was standard output. An error in one
    job is logged, not fatal.
    """
    import traceback

    sys.stdout.flush()
    to_grader = os.fdopen(os.dup(1), "w", buffering=1)  # not inherited by the kernel
    for line in sys.stdin:
        path = Path(line.strip())
        fd = os.open(path.parent / "executor.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        try:
            run(Job.read(path))
        except Exception:  # noqa: BLE001 - the grader reads the log and reports it
            traceback.print_exc()
        finally:
            _CURRENT_KM.clear()
            sys.stdout.flush()
            sys.stderr.flush()
            to_grader.write(f"{JOB_DONE} {path}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(
            "usage: python -m course_utils.grading.execute.executor JOB.json | --serve",
            file=sys.stderr,
        )
        return 2
    from .sandbox import watch_parent

    watch_parent(lambda: _kill(_CURRENT_KM[0]) if _CURRENT_KM else None)
    if argv[0] == "--serve":
        serve()
        return 0
    run(Job.read(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
