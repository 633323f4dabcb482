"""How long each committed lecture took to execute, from the timing nbclient records per cell.

    python tools/lecture_times.py            # one line per lecture, then the total
    python tools/lecture_times.py --fast     # run every lecture in fast mode now, and time it

A lecture executed by nbclient (``jupyter nbconvert --execute``, ``make lectures``) stores, for
every code cell, when execution started and when the kernel replied. The sum of those spans is the
lecture's execution time: the figure the README's course table gives.

``--fast`` executes copies of the lectures, in course order, with ``COURSE_FAST=1`` (what
``make test`` checks) and times them the same way. The copies go to a temporary folder and fast
runs record their results into the user cache, so the committed lectures are left as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
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


def execute_fast(path: Path, out_dir: Path, env: dict[str, str] | None = None) -> Path:
    """Execute a copy of the lecture at ``path`` in fast mode; return where the copy was written.

    The kernel runs in the lecture's folder (relative paths work as in JupyterLab) with ``env``
    (default: this process's environment) plus ``COURSE_FAST=1``.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {**(os.environ if env is None else env), "COURSE_FAST": "1"}
    resources = {"metadata": {"path": str(path.parent)}}
    client = NotebookClient(nb, timeout=-1, kernel_name="python3", resources=resources)
    client.execute(env=env)  # passed on to the kernel's start
    out = out_dir / path.name
    nbformat.write(nb, out)
    return out


def report(paths: list[Path]) -> float:
    total = 0.0
    for path in paths:
        seconds = lecture_seconds(path)
        total += seconds
        slowest = max(s for s in cell_seconds(path) if s is not None)
        where = f"{seconds:.0f} s; slowest cell {slowest:.0f} s"
        print(f"{path.stem:<28} {seconds / 60:5.1f} min   ({where})")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fast", action="store_true", help="execute the lectures in fast mode")
    args = parser.parse_args(argv)
    lectures = sorted((REPO / "lectures").glob("*.ipynb"))
    if args.fast:
        with tempfile.TemporaryDirectory(prefix="lectures-fast-") as tmp:
            executed = []
            for path in lectures:
                print(f"executing {path.name} in fast mode ...", file=sys.stderr, flush=True)
                executed.append(execute_fast(path, Path(tmp)))
            total = report(executed)
        print(f"{'all lectures (fast mode)':<28} {total / 60:5.1f} min   ({total:.0f} s)")
        return 0
    total = report(lectures)
    print(f"{'all lectures':<28} {total / 60:5.1f} min   (limit {LIMIT_MINUTES} min)")
    return 0 if total <= LIMIT_MINUTES * 60 else 1


if __name__ == "__main__":
    sys.exit(main())
