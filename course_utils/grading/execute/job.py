"""What crosses the process boundary between ``course grade`` and its executor workers.

The grader writes a ``Job`` (JSON, one file per submission); the worker runs it and writes a
``Result`` beside it, then says so on its standard output (``JOB_DONE``). Both are typed here,
in one place, so that neither side reads or writes bare dictionaries.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..limits import Limits

_LIMITS = Limits()

#: The line a worker writes on its standard output when it has finished a job (then its path).
JOB_DONE = "done"


@dataclass
class Job:
    """One submission to run. The limits' defaults are ``Limits``'s."""

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
    #: a folder whose files are copied into ``run_dir`` before the kernel starts (an nbgrader
    #: assignment's data files and images); only regular files, never links
    files_from: str | None = None
    #: a folder that receives the new files the notebook wrote in ``run_dir`` (regular files
    #: only, none that is already there, no notebooks, no hidden files): nbgrader's autograded/
    files_to: str | None = None
    #: environment variables for the kernel (``NBGRADER_EXECUTION`` in an nbgrader course)
    kernel_env: dict[str, str] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> Job:
        return cls(**json.loads(Path(path).read_text()))


@dataclass
class CellResult:
    """What happened to one code cell: ``ok``, ``error``, ``timeout`` or ``not-run``."""

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


@dataclass
class Result:
    """What one job did, cell by cell, and what happened around the cells."""

    cells: list[CellResult] = field(default_factory=list)
    #: what went wrong outside any one cell (the kernel died, a limit ran out), in order
    events: list[str] = field(default_factory=list)
    #: the sandbox launcher's report (its cgroups, and ``isolation_error`` if it could not isolate)
    sandbox: dict | None = None
    seconds: float = 0.0
    #: the kernel came up and the guard was installed, so the student's code could run
    started: bool = False
    #: where the time went: "kernel start", "guard", "setup (kernel)", "setup (judge)",
    #: "answers" (the student's cells), "tests", and the rest ("other")
    phases: dict[str, float] = field(default_factory=dict)
    #: what the student's code replaced of the grader's trusted objects, for review
    tampering: list[str] = field(default_factory=list)

    def write(self, path: Path) -> None:
        """Write atomically: a reader sees the whole result or none."""
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        known = {f.name for f in fields(cls)}
        cell_fields = {f.name for f in fields(CellResult)}
        values = {k: v for k, v in data.items() if k in known}
        values["cells"] = [
            CellResult(**{k: v for k, v in c.items() if k in cell_fields})
            for c in data.get("cells", [])
        ]
        return cls(**values)

    @classmethod
    def read(cls, path: Path) -> Result:
        """Raises OSError or ValueError when there is no readable result (the worker failed)."""
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a result")
        try:
            return cls.from_dict(data)
        except TypeError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def starved(self, share: float) -> bool:
        """Did a cell run out of time while its kernel used less than ``share`` of that time in
        CPU? Then it was waiting: most likely for a CPU that a neighbour kept busy."""
        return any(c.status == "timeout" and c.cpu_seconds < share * c.seconds for c in self.cells)
