"""The pool of executor processes one ``course grade`` run uses.

One long-lived executor process per worker thread runs that thread's submissions one after
another (each in its own sandboxed kernel), so its imports (nbclient, and TensorFlow for the
judge's reference values) are paid once, not per submission. The pool belongs to one run: no
state is kept between runs or shared between two graders in one process.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .job import JOB_DONE, Job


class Workers:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.local = threading.local()
        self.all: list[subprocess.Popen] = []
        self.running: set[int] = set()  #: process groups running a job, to stop them at once
        self.stopping = threading.Event()  #: set when the run was interrupted (Ctrl-C)
        self.lock = threading.Lock()

    def mine(self) -> subprocess.Popen:
        """This thread's executor process, started (again) when needed."""
        proc = getattr(self.local, "worker", None)
        if proc is None or proc.poll() is not None:
            proc = subprocess.Popen(
                [sys.executable, "-m", "course_utils.grading.execute.executor", "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # one line per finished job
                stderr=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
            self.local.worker = proc
            with self.lock:
                self.all.append(proc)
        return proc

    def run(self, job: Job, path: Path, timeout: float) -> str:
        """Hand ``job`` (written to ``path``) to this thread's worker and wait until it is done.

        Return ``"done"``, ``"exited"`` (the worker died, or was killed by ``kill_all``) or
        ``"hung"`` (no answer within ``timeout`` seconds: the worker was killed)."""
        job.write(path)
        proc = self.mine()
        proc.stdin.write(f"{path}\n".encode())
        proc.stdin.flush()
        self.running.add(proc.pid)
        try:
            return self._wait(proc, f"{JOB_DONE} {path}", time.monotonic() + timeout)
        finally:
            self.running.discard(proc.pid)

    def _wait(self, proc: subprocess.Popen, expected: str, deadline: float) -> str:
        fd = proc.stdout.fileno()
        pending = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill(proc)
                return "hung"
            ready, _, _ = select.select([fd], [], [], min(remaining, 5.0))
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                proc.wait()
                return "exited"
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if any(line.decode(errors="replace") == expected for line in lines):
                return "done"

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()

    def kill_all(self) -> None:
        """Stop everything at once (Ctrl-C): running jobs, their kernels, the workers."""
        self.stopping.set()
        for pid in list(self.running):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        with self.lock:
            procs, self.all = self.all, []
        for proc in procs:
            self.kill(proc)

    def stop(self) -> None:
        """Let every worker finish and exit (they stop when their input closes)."""
        with self.lock:
            procs, self.all = self.all, []
        for proc in procs:
            try:
                proc.stdin.close()
            except OSError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(proc)
