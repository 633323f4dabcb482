"""How long each committed lecture took to execute, from the timing nbclient records per cell.

    python tools/lecture_times.py            # one line per lecture, then the total

A lecture executed by nbclient (``jupyter nbconvert --execute``, ``make lectures``) stores, for
every code cell, when execution started and when the kernel replied. The sum of those spans is the
lecture's execution time: the figure the README's course table gives.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_MINUTES = 30  #: the whole course, in full mode, on a 2-core CPU


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def cell_seconds(path: Path) -> list[float | None]:
    """Seconds per code cell (None where a cell has no timing: not executed by nbclient)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    seconds: list[float | None] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
            continue
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            span = _stamp(timing["shell.execute_reply"]) - _stamp(timing["iopub.execute_input"])
            seconds.append(span.total_seconds())
        else:
            seconds.append(None)
    return seconds


def lecture_seconds(path: Path) -> float:
    """Total execution time of a lecture; an error if any code cell lacks its timing."""
    seconds = cell_seconds(path)
    missing = sum(s is None for s in seconds)
    if missing:
        raise ValueError(
            f"{path.name}: {missing} code cell(s) have no execution timing; execute the whole "
            "notebook with nbclient (make lectures) before committing it"
        )
    return float(sum(seconds))


def main() -> int:
    total = 0.0
    for path in sorted((REPO / "lectures").glob("*.ipynb")):
        seconds = lecture_seconds(path)
        total += seconds
        slowest = max(s for s in cell_seconds(path) if s is not None)
        print(f"{path.stem:<28} {seconds / 60:5.1f} min   (slowest cell {slowest:.0f} s)")
    print(f"{'all lectures':<28} {total / 60:5.1f} min   (limit {LIMIT_MINUTES} min)")
    return 0 if total <= LIMIT_MINUTES * 60 else 1


if __name__ == "__main__":
    sys.exit(main())
