"""Every limit ``course grade`` puts on a submission, in one place: the command's options, the
executor's job and the sandbox take their values from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    cell_timeout: float = 60.0  #: seconds per cell
    notebook_timeout: float = 600.0  #: seconds per submission
    startup_timeout: float = 120.0  #: starting the kernel, and the lab's set-up cells
    #: address space of each process, and memory of all of them together (a cgroup, as root)
    memory_bytes: int = 4 << 30
    max_processes: int = 256  #: processes and threads of the kernel (its uid, and its cgroup)
    max_output_bytes: int = 1 << 20  #: outputs kept per cell; more is cut off with a note
    #: outputs kept per submission: 150 cells of 1 MB each once made a 137 MB graded notebook
    max_notebook_output_bytes: int = 8 << 20
    max_call_bytes: int = 64 << 20  #: the largest answer one call may send to the judge
    max_disk_bytes: int = 512 << 20  #: what the kernel's scratch folder may hold (as root)
    sandbox: bool = True  #: False only for debugging: runs student code unconfined
    require_isolation: bool = True  #: refuse to grade when namespaces are unavailable
