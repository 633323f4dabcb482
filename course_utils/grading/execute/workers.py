"""The pool of executor processes one ``course grade`` run uses.

One long-lived executor process per worker thread runs that thread's submissions one after
another (each in its own sandboxed kernel), so its imports (nbclient, and TensorFlow for the
judge's reference values) are paid once, not per submission. The pool belongs to one run: no
state is kept between runs or shared between two graders in one process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading


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
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
            self.local.worker = proc
            with self.lock:
                self.all.append(proc)
        return proc

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
