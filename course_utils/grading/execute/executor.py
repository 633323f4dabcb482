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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_output

from ..limits import Limits
from .sandbox import Sandbox

_LIMITS = Limits()

GUARD_BROKEN = "the grader's integrity check could not run"
_CURRENT_KM: list = []  # the kernel manager of the running job, for the orphan watchdog
#: Grace period after interrupting a cell that ran too long, before the kernel is killed.
INTERRUPT_GRACE = 10.0


@dataclass
class Job:
    """One submission to run, as the grader hands it over (JSON, one file per job). The limits'
    defaults are ``course_utils.grading.limits.Limits``'s."""

    notebook_in: str
    notebook_out: str
    result_out: str
    run_dir: str
    cell_timeout: float = _LIMITS.cell_timeout
    notebook_timeout: float = _LIMITS.notebook_timeout
    startup_timeout: float = _LIMITS.startup_timeout
    max_output_bytes: int = _LIMITS.max_output_bytes  #: per cell; more is cut off with a note
    max_notebook_output_bytes: int = _LIMITS.max_notebook_output_bytes
    sandbox: dict | None = None  #: ``Sandbox`` fields; ``None`` runs without one (tests only)
    max_call_bytes: int = _LIMITS.max_call_bytes  #: the largest answer of one call
    max_disk_bytes: int = _LIMITS.max_disk_bytes  #: the scratch folder's tmpfs, as root


@dataclass
class CellResult:
    index: int
    grade_id: str | None
    role: str
    status: str
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0
    #: CPU time the kernel's process group used while the cell ran: far below ``seconds`` in a
    #: cell that timed out means it waited (for a CPU, when a neighbour hogged them, or asleep)
    cpu_seconds: float = 0.0
    tampering: list[str] = field(default_factory=list)


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


def run(job: Job) -> dict:
    """Execute the job's notebook; write the executed notebook and the result; return it.

    In a sandbox, as root, the kernel's scratch folder is a tmpfs of ``max_disk_bytes`` for the
    time of the job, so what a submission writes there is capped and is gone afterwards."""
    from .sandbox import scratch_filesystem

    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    size = job.max_disk_bytes if job.sandbox is not None else 0
    with scratch_filesystem(str(run_dir), size):
        try:
            return _run(job)
        finally:
            os.chdir("/")  # out of the folder before it is unmounted


def _run(job: Job) -> dict:
    from nbclient.exceptions import DeadKernelError

    from .sandbox import remove_cgroups

    km_class, client_class = _client_class()
    run_dir = Path(job.run_dir)
    nb = nbformat.read(job.notebook_in, as_version=4)
    # "started": the kernel came up and the guard was installed, so the student's code could run.
    result: dict = {"cells": [], "events": [], "sandbox": None, "seconds": 0.0, "started": False}
    #: where the time went, in seconds: "kernel start", "guard", "setup (kernel)", "setup
    #: (judge)", "answers" (the student's cells), "tests", and the rest ("other")
    phases: dict[str, float] = collections.defaultdict(float)

    @contextlib.contextmanager
    def timed(phase: str):
        tick = time.monotonic()
        try:
            yield
        finally:
            phases[phase] += time.monotonic() - tick

    started = time.monotonic()
    deadline = started + job.notebook_timeout

    # The kernel's sockets are files in run_dir, named relative to it: a Unix socket's path may
    # not exceed 107 bytes, which a deep class folder and a long student id easily would.
    os.chdir(run_dir)
    km = km_class(kernel_name="python3", transport="ipc", ip="kernel")
    km.connection_file = str(run_dir / "kernel.json")
    _CURRENT_KM[:] = [km]
    env = None
    from ...runtime import KERAS_PRELOAD_ENV

    # A kernel none of whose cells use Keras need not import it: the tests run here.
    extra_env = {} if kernel_uses_keras(nb) else {KERAS_PRELOAD_ENV: "0"}
    if job.sandbox is not None:
        sandbox = Sandbox(**{**job.sandbox, "env": {**job.sandbox.get("env", {}), **extra_env}})
        km.sandbox_prefix = sandbox.wrap([])
        env = sandbox.environment()
    elif extra_env:
        env = {**os.environ, **extra_env}
    timeout_reply = {
        "ename": "CellTimeoutError",
        "evalue": f"the cell ran longer than its time limit of {job.cell_timeout:g} s "
        "and was interrupted (an endless loop, or far too much work?)",
        "traceback": [],
    }
    client = client_class(
        nb,
        km=km,
        timeout=job.cell_timeout,
        startup_timeout=int(job.startup_timeout),
        interrupt_on_timeout=True,
        error_on_timeout=timeout_reply,
        allow_errors=True,
        record_timing=False,
        shutdown_kernel="immediate",
        kernel_name="python3",
        iopub_timeout=10,
        raise_on_iopub_timeout=False,
        max_output_bytes=job.max_output_bytes,
        max_notebook_output_bytes=job.max_notebook_output_bytes,
        resources={"metadata": {"path": str(run_dir)}},
    )

    replies: list[dict] = []
    client.on_cell_executed = lambda **kw: replies.append(kw["execute_reply"])

    def timed_out() -> bool:
        return bool(replies) and replies[-1].get("content", {}).get("ename") == "CellTimeoutError"

    def hidden(code: str, timeout: float) -> str:
        """Run grader code in the kernel; return the reply status ('ok', 'error', 'timeout')."""
        client.timeout = max(1, int(timeout))
        cell = new_code_cell(code)
        client.nb.cells.append(cell)  # a slot of its own: nbclient writes the cell back by index
        try:
            client.execute_cell(cell, len(client.nb.cells) - 1, store_history=False)
        finally:
            client.nb.cells.pop()
        if timed_out():
            return "timeout"
        return "error" if any(o.output_type == "error" for o in cell.outputs) else "ok"

    def guard(names: list[str] | None) -> list[str] | None:
        """Run the integrity check; return what was patched, or None if the check failed."""
        report = run_dir / f".guard-{secrets.token_hex(16)}.json"
        arg = "None" if names is None else repr(names)
        status = hidden(
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

    def record(index, cell, status, ename="", evalue="", seconds=0.0, tampering=(), cpu=0.0):
        md = cell.metadata.get("course", {})
        result["cells"].append(
            asdict(
                CellResult(
                    index=index,
                    grade_id=cell.metadata.get("nbgrader", {}).get("grade_id"),
                    role=md.get("role", "student"),
                    status=status,
                    ename=ename,
                    evalue=evalue[:2000],
                    seconds=round(seconds, 3),
                    cpu_seconds=round(cpu, 3),
                    tampering=list(tampering),
                )
            )
        )

    from .judge import Judge, SocketTransport

    judge = Judge()
    roles = [c.metadata.get("course", {}).get("role", "student") for c in nb.cells]
    first_answer = next((i for i, r in enumerate(roles) if r == "answer"), len(roles))

    def judged(index: int, cell) -> tuple[str, str, str, float]:
        """Judge a test cell here while the kernel answers its calls; fill in the cell's
        outputs; return (status, ename, evalue, cpu seconds of the kernel)."""
        import threading

        name = f"calls-{secrets.token_hex(6)}.sock"  # relative: run_dir is the cwd of both
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(name)
        os.chmod(name, 0o666)  # the kernel may run as another uid: it must be able to connect
        listener.listen(1)
        limit = min(job.cell_timeout, max(1.0, deadline - time.monotonic()))
        transport = SocketTransport(
            listener, time.monotonic() + limit + 2 * INTERRUPT_GRACE, job.max_call_bytes
        )
        box: dict = {}

        def work() -> None:
            try:
                box["verdict"] = judge.test(cell.source, transport, cell_name(index, cell))
            finally:
                transport.close()  # the kernel's serve() returns: the cell below ends

        thread = threading.Thread(target=work, name="judge", daemon=True)
        thread.start()
        serve = new_code_cell(
            "__import__('course_utils.grading.execute.answer_server', fromlist=['serve'])"
            f".serve({name!r})"
        )
        client.timeout = max(1, math.ceil(limit))
        pgid = getattr(km.provisioner, "pgid", None)
        cpu_before = group_cpu_seconds(pgid)
        client.nb.cells.append(serve)
        try:
            client.execute_cell(serve, len(client.nb.cells) - 1, store_history=False)
        finally:
            client.nb.cells.pop()
            cpu = group_cpu_seconds(pgid) - cpu_before
            transport.close()
            thread.join(timeout=max(30.0, job.cell_timeout))
            with contextlib.suppress(OSError):
                os.unlink(name)
        # What the student's functions printed while the test ran, then what the test printed.
        kept = [o for o in serve.outputs if o.output_type in ("stream", "display_data")]
        verdict = box.get("verdict")
        if verdict is None:
            cell.outputs = kept
            return "error", "GraderError", "the grader could not finish this test", cpu
        cell.outputs = kept
        for stream in ("stdout", "stderr"):
            if getattr(verdict, stream):
                cell.outputs.append(
                    new_output("stream", name=stream, text=getattr(verdict, stream))
                )
        if timed_out():
            return "timeout", "CellTimeoutError", "", cpu
        if verdict.status != "ok":
            cell.outputs.append(_error_output(verdict.ename, verdict.evalue))
            return "error", verdict.ename, verdict.evalue, cpu
        return "ok", "", "", cpu

    def after_timeout(index: int, cell, clipped: bool) -> tuple[str, str | None]:
        """Note a cell that ran out of time; stop the kernel if it ignored the interrupt.
        Return the message, and why the kernel was stopped (None if it was not)."""
        evalue = timeout_reply["evalue"]
        if clipped:
            evalue = (
                f"the notebook's time limit of {job.notebook_timeout:g} s ran out while this "
                "cell ran, and it was interrupted"
            )
        cell.outputs.append(_error_output("CellTimeoutError", evalue))
        if hidden("pass", INTERRUPT_GRACE) == "ok":
            return evalue, None
        stopped = f"cell {index} ignored the interrupt after its time limit"
        result["events"].append(stopped + "; the kernel was stopped")
        _kill(km)
        return evalue, stopped

    dead: str | None = None
    try:
        with client.setup_kernel(env=env, cwd=str(run_dir)):
            phases["kernel start"] = time.monotonic() - started
            report_file = run_dir / "report.json"
            if report_file.is_file():
                result["sandbox"] = json.loads(_read_scratch(report_file))
            with timed("guard"):
                installed = hidden(
                    "import course_utils.grading.execute.integrity as _ci; _ci.install(); del _ci",
                    60,
                )
            if installed != "ok":
                raise RuntimeError("the grader's integrity guard could not start in the kernel")
            result["started"] = True
            # The notebook's time runs from here: starting the kernel is not the student's time.
            deadline = time.monotonic() + job.notebook_timeout
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                role = cell.metadata.get("course", {}).get("role", "student")
                if dead is None and time.monotonic() >= deadline:
                    dead = (
                        f"the notebook time limit of {job.notebook_timeout:g} s was used up "
                        "before this cell"
                    )
                    result["events"].append(dead)
                if dead is not None:
                    cell.outputs = [_error_output("NotRun", f"not run: {dead}")]
                    record(index, cell, "not-run", "NotRun", dead)
                    continue
                if role == "test":
                    tick = time.monotonic()
                    clipped = deadline - tick < job.cell_timeout
                    replies.clear()
                    try:
                        with timed("tests"):
                            status, ename, evalue, cpu = judged(index, cell)
                    except DeadKernelError:
                        dead = (
                            f"the kernel died while cell {index} ran (os._exit, a crash, or memory)"
                        )
                        result["events"].append(dead)
                        cell.outputs.append(_error_output("DeadKernelError", dead))
                        record(
                            index, cell, "error", "DeadKernelError", dead, time.monotonic() - tick
                        )
                        continue
                    seconds = time.monotonic() - tick
                    if status == "ok" and (said := stderr_text(cell)):
                        # nbgrader's rule, so that Validate and course grade agree on every test
                        status, ename = "error", "StderrOutput"
                        evalue = f"{STDERR_FAILS} It wrote: {said[:300]}"
                        cell.outputs.append(_error_output(ename, evalue))
                    if status == "timeout":
                        evalue, stopped = after_timeout(index, cell, clipped)
                        dead = dead or stopped
                    record(index, cell, status, ename, evalue, seconds, (), cpu)
                    continue
                tick = time.monotonic()
                cpu_before = group_cpu_seconds(getattr(km.provisioner, "pgid", None))
                replies.clear()
                if role == "setup":
                    # The instructor's set-up (importing TensorFlow takes seconds on a busy
                    # machine) is not the student's time: it gets the start-up limit, and the
                    # notebook's clock stops while it runs (see below).
                    clipped = False
                    client.timeout = max(1, math.ceil(max(job.cell_timeout, job.startup_timeout)))
                else:
                    clipped = deadline - tick < job.cell_timeout  # the notebook's limit first
                    client.timeout = max(1, math.ceil(min(job.cell_timeout, deadline - tick)))
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    dead = f"the kernel died while cell {index} ran (os._exit, a crash, or memory)"
                    result["events"].append(dead)
                    cell.outputs.append(_error_output("DeadKernelError", dead))
                    record(index, cell, "error", "DeadKernelError", dead, time.monotonic() - tick)
                    continue
                seconds = time.monotonic() - tick
                phases["setup (kernel)" if role == "setup" else "answers"] += seconds
                cpu = group_cpu_seconds(getattr(km.provisioner, "pgid", None)) - cpu_before
                if role == "setup":
                    deadline += seconds
                    if index < first_answer:  # the tests' own set-up: numpy, checks, Keras
                        tock = time.monotonic()
                        # The guard's baseline: what this cell imported and defined (for review)
                        with timed("guard"):
                            guard(bound_names(cell.source))
                        with timed("setup (judge)"):
                            prepared = judge.setup(cell.source, cell_name(index, cell))
                        deadline += time.monotonic() - tock  # the grader's time, not the student's
                        if prepared.status != "ok":
                            raise RuntimeError(
                                f"the lab's set-up cell {index} failed in the grader: "
                                f"{prepared.ename}: {prepared.evalue}"
                            )
                errors = [o for o in cell.outputs if o.output_type == "error"]
                reply = replies[-1].get("content", {}) if replies else {}
                if not errors and reply.get("status", "ok") != "ok":
                    # The kernel says the cell failed but showed no error (its error display
                    # broke, or was silenced): the reply decides, as in nbgrader.
                    errors = [
                        _error_output(
                            reply.get("ename") or "Error",
                            reply.get("evalue")
                            or f"the cell failed (status {reply.get('status')!r}) without "
                            "showing an error",
                        )
                    ]
                    cell.outputs.append(errors[0])
                status = "error" if errors else "ok"
                ename = errors[0].ename if errors else ""
                evalue = errors[0].evalue if errors else ""
                if timed_out():
                    status, ename = "timeout", "CellTimeoutError"
                    evalue, stopped = after_timeout(index, cell, clipped)
                    dead = dead or stopped
                record(index, cell, status, ename, evalue, seconds, (), cpu)
            if dead is None:  # for the instructor's review: what the student's code replaced
                with timed("guard"):
                    changed = guard(None)
                if changed and changed != [GUARD_BROKEN]:
                    result["tampering"] = changed
    except DeadKernelError as exc:
        dead = dead or f"the kernel died: {exc}"
        result["events"].append(dead)
    except RuntimeError as exc:  # the kernel never came up, or the guard could not start
        result["events"].append(f"the kernel could not run: {exc}")
        sandbox_report = run_dir / "report.json"
        if sandbox_report.is_file():
            try:
                result["sandbox"] = json.loads(_read_scratch(sandbox_report))
            except (OSError, ValueError):
                pass  # the student's code may have replaced it: the events say what happened
    finally:
        _kill(km)  # whatever the kernel left running in its sandbox goes with it
        # Read before any student code ran, so it names only the launcher's own cgroups
        remove_cgroups(list((result.get("sandbox") or {}).get("cgroups") or []))
    done = {c["index"] for c in result["cells"]}
    reason = result["events"][-1] if result["events"] else "the kernel stopped"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and index not in done:
            cell.outputs = [_error_output("NotRun", f"not run: {reason}")]
            record(index, cell, "not-run", "NotRun", reason)
    result["cells"].sort(key=lambda c: c["index"])
    result["seconds"] = round(time.monotonic() - started, 3)
    phases["other"] = max(0.0, result["seconds"] - sum(phases.values()))
    result["phases"] = {k: round(v, 3) for k, v in phases.items()}
    nbformat.write(nb, job.notebook_out)
    tmp = Path(job.result_out).with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(job.result_out)
    return result


def serve() -> None:
    """Run the jobs whose paths arrive on stdin, one per line, until stdin closes.

    Each job's output (and its kernel's) goes to ``executor.log`` beside the job; when a job is
    finished, a file ``done`` appears beside it. An error in one job is logged, not fatal.
    """
    import traceback

    for line in sys.stdin:
        path = Path(line.strip())
        fd = os.open(path.parent / "executor.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        try:
            run(Job(**json.loads(path.read_text())))
        except Exception:  # noqa: BLE001 - the grader reads the log and reports it
            traceback.print_exc()
        finally:
            _CURRENT_KM.clear()
            sys.stdout.flush()
            sys.stderr.flush()
            (path.parent / "done").write_text("")


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
    run(Job(**json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
