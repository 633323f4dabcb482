"""benchmarks/grading.py: the ceilings it prints follow from the executors' records."""

import sys

from course_utils.grading.execute.job import CellResult, Result
from tests.user_env import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import grading as bench  # noqa: E402  (benchmarks/grading.py, as the other benchmark tests do)


def record(work, lab, student, *cells, seconds):
    folder = work / ".course" / "grade" / lab / student
    folder.mkdir(parents=True)
    result = Result(
        cells=[
            CellResult(i, None, "test", status, seconds=s) for i, (status, s) in enumerate(cells)
        ]
    )
    result.seconds = seconds
    result.write(folder / "result.json")


def test_the_ceilings_are_the_work_per_worker_the_timed_out_cells_and_the_slowest_one(
    tmp_path, capsys
):
    lab = "lab04_rnn_forward"
    for i in range(8):
        record(tmp_path, lab, f"s{i}", ("ok", 0.5), seconds=1.0)
    record(tmp_path, lab, "loop", ("ok", 0.5), ("timeout", 30.0), ("timeout", 30.0), seconds=62.0)
    bench.print_ceiling(tmp_path, lab, jobs=2, nbgrader_seconds=140.0)
    out = capsys.readouterr().out
    assert "cells that ran out of time: 2, 60 s of a core" in out
    assert "all executors together: 70 s" in out
    assert "needs at least 35 s (at most 4.0 times" in out
    assert "at least 30 s even if everything but the timed-out cells cost nothing" in out
    assert "the slowest submission alone took 62 s (at most 2.3 times" in out
