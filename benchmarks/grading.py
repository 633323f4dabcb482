"""Grade one generated class twice: serially with plain nbgrader, and with ``course grade``.

    python benchmarks/grading.py [--students 60] [--lab lab04_rnn_forward] [--jobs N]
                                 [--timeout 30] [--work DIR] [--cluster ADDRESS]

The class is a realistic mix: 60 % the solution, 20 % the demo's realistic mistake, 10 % the
untouched student version, 5 % an endless loop in one function, 3 % a kernel crash (os._exit),
2 % a file that is not valid JSON. Both runs use the same per-cell time limit. The script prints
wall time and submissions per minute for each, and how many scores agree (nbgrader gives the
crashed and broken submissions different scores: see the notes it prints).

With ``--cluster ADDRESS`` (a Dask scheduler's address, or ``local:N``) the class is graded once,
with ``course grade --cluster ADDRESS`` only, and the script prints submissions per minute in all
and per worker: two runs (``local:1``, then ``local:2``) show how grading scales with workers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import grading  # noqa: E402
from course_utils.grading import demo  # noqa: E402
from course_utils.grading import grade as grader  # noqa: E402

KINDS = [
    ("solution", 0.60),
    ("mistake", 0.20),
    ("untouched", 0.10),
    ("loop", 0.05),
    ("crash", 0.03),
    ("broken", 0.02),
]


def make_class(course: grading.Course, lab: str, n: int) -> dict[str, str]:
    released = ROOT / "labs" / lab / f"{lab}.ipynb"
    solution = ROOT / "solutions" / lab / f"{lab}.ipynb"
    mistake = demo.MISTAKES[lab]
    kinds: list[str] = []
    for kind, share in KINDS:
        kinds += [kind] * max(1, round(share * n))
    kinds = (kinds * n)[:n]
    students = {}
    for i, kind in enumerate(kinds):
        student = f"s{i:03d}_{kind}"
        nb = grading.filled_notebook(released, solution)
        if kind == "mistake":
            nb = demo.with_mistake(nb, mistake)
        elif kind == "untouched":
            nb = nbformat.read(released, as_version=4)
        elif kind in {"loop", "crash"}:
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("grade_id") == mistake.grade_id:
                    name = cell.source.split("def ", 1)[1].split("(", 1)[0]
                    extra = (
                        "import os\nos._exit(1)"
                        if kind == "crash"
                        else f"def {name}(*args, **kwargs):\n    while True:\n        pass"
                    )
                    cell.source += "\n\n" + extra
        path = course.work / "submitted" / student / lab / f"{lab}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "broken":
            path.write_text('{"cells": [')
        else:
            nbformat.write(nb, path)
        students[student] = kind
    return students


def print_phases(work: Path, lab: str) -> None:
    """Where one submission's time goes in ``course grade``: the mean over the class of each
    phase the executor records (kernel start, guard, set-up in the kernel and in the judge, the
    student's cells, the tests), and the same for the honest solutions alone."""
    import json
    import statistics

    rows = []
    for path in sorted((work / ".course" / "grade" / lab).glob("*/result.json")):
        phases = json.loads(path.read_text()).get("phases") or {}
        rows.append((path.parent.name, phases))
    if not rows:
        return
    names = sorted({k for _, p in rows for k in p})
    print("  seconds per submission, by phase (mean over the class; over the solutions only):")
    for name in [*names, "total"]:

        def value(p, name=name):
            return sum(p.values()) if name == "total" else p.get(name, 0.0)

        every = statistics.mean(value(p) for _, p in rows)
        solved = [value(p) for s, p in rows if s.endswith("_solution")]
        print(f"    {name:16} {every:7.2f}   {statistics.mean(solved) if solved else 0:7.2f}")


def print_ceiling(work: Path, lab: str, jobs: int, nbgrader_seconds: float) -> None:
    """The most ``course grade --jobs N`` could gain on this class, from the work its executors
    did: a cell that runs out of time holds a core for the whole limit in both graders (it is the
    student's own code, spinning), and no schedule of N workers finishes before the sum of all
    the executors' seconds divided by N, nor before its slowest submission has run (one kernel
    runs its cells one after another, on one core)."""
    from course_utils.grading.execute.job import Result

    results = [Result.read(p) for p in (work / ".course" / "grade" / lab).glob("*/result.json")]
    if not results:
        return
    limit = sum(c.seconds for r in results for c in r.cells if c.status == "timeout")
    count = sum(1 for r in results for c in r.cells if c.status == "timeout")
    total = sum(r.seconds for r in results)
    print(
        f"  cells that ran out of time: {count}, {limit:.0f} s of a core in each grader; "
        f"all executors together: {total:.0f} s"
    )
    print(
        f"  so with {jobs} workers course grade needs at least {total / jobs:.0f} s "
        f"(at most {nbgrader_seconds / (total / jobs):.1f} times nbgrader's time)"
    )
    if count:
        print(
            f"  and at least {limit / jobs:.0f} s even if everything but the timed-out cells "
            f"cost nothing (at most {nbgrader_seconds / (limit / jobs):.1f} times)"
        )
    slowest = max(results, key=lambda r: r.seconds).seconds
    print(
        f"  the slowest submission alone took {slowest:.0f} s "
        f"(at most {nbgrader_seconds / slowest:.1f} times, however many workers)"
    )


def cluster_size(address: str) -> tuple[int, int]:
    """(workers, worker threads) of the Dask cluster at ``address`` (``local:N``: N and N)."""
    if address.startswith("local:"):
        count = int(address.removeprefix("local:"))
        return count, count
    from distributed import Client

    with Client(address, timeout="30s") as client:
        threads = client.nthreads()
    return len(threads), sum(threads.values())


def run_on_cluster(args: argparse.Namespace, work: Path) -> int:
    """Grade the class with ``course grade --cluster`` only; print the rate per worker."""
    workers, threads = cluster_size(args.cluster)
    course = grading.Course(root=ROOT, work=work / "cluster")
    grading.release(course, [args.lab], into=work / "cluster" / "release")
    students = make_class(course, args.lab, args.students)
    limits = grader.Limits(cell_timeout=args.timeout, notebook_timeout=600)
    start = time.perf_counter()
    grader.grade(
        course, args.lab, jobs=args.jobs, limits=limits, feedback=False, cluster=args.cluster
    )
    seconds = time.perf_counter() - start
    scores = {s.student: s.score for s in grading.scores(course) if s.lab == args.lab}
    rate = 60 * args.students / seconds
    print()
    print(
        f"{args.students} submissions of {args.lab} on the Dask cluster {args.cluster} "
        f"({workers} workers, {threads} threads), cell limit {args.timeout:g} s"
    )
    print(
        f"  course grade --cluster {args.cluster}: {seconds:8.1f} s   {rate:6.1f} submissions/min"
        f"   {rate / workers:6.1f} submissions/min per worker   ({len(scores)} graded)"
    )
    print_phases(work / "cluster", args.lab)
    for kind in sorted(set(students.values())):
        names = [s for s, k in students.items() if k == kind]
        got = sorted({scores.get(s) for s in names}, key=lambda v: -1 if v is None else v)
        print(f"    {kind:10} course grade {got}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--lab", default="lab04_rnn_forward")
    parser.add_argument(
        "--jobs", type=int, help="submissions at once (default: the CPUs, or the cluster's threads)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per cell, both runs")
    parser.add_argument("--work", default=str(ROOT / "build" / "benchmark-grading"))
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="grade on this Dask cluster only (a scheduler address, or local:N), not nbgrader",
    )
    args = parser.parse_args()
    os.environ["PATH"] = grading.tool_environment()["PATH"]
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    if args.cluster:
        return run_on_cluster(args, work)
    args.jobs = args.jobs or os.cpu_count() or 1
    results = {}
    for name in ("nbgrader", "course"):
        course = grading.Course(root=ROOT, work=work / name)
        grading.release(course, [args.lab], into=work / name / "release")
        students = make_class(course, args.lab, args.students)
        start = time.perf_counter()
        if name == "nbgrader":
            try:
                course.nbgrader(
                    "autograde", args.lab, "--force", f"--Execute.timeout={int(args.timeout)}"
                )
            except grading.GradingError as exc:  # exits 1 on the broken file, grades the rest
                print(f"(nbgrader autograde exited with an error, as expected: {str(exc)[:80]})")
        else:
            limits = grader.Limits(cell_timeout=args.timeout, notebook_timeout=600)
            grader.grade(course, args.lab, jobs=args.jobs, limits=limits, feedback=False)
        seconds = time.perf_counter() - start
        scores = {s.student: s.score for s in grading.scores(course) if s.lab == args.lab}
        results[name] = (seconds, scores, students)
    print()
    print(
        f"{args.students} submissions of {args.lab}, {os.cpu_count()} CPUs, cell limit "
        f"{args.timeout:g} s"
    )
    for name, label in (
        ("nbgrader", "nbgrader autograde (serial)"),
        ("course", f"course grade --jobs {args.jobs}"),
    ):
        seconds, scores, _ = results[name]
        print(
            f"  {label:32} {seconds:8.1f} s   {60 * args.students / seconds:6.1f} submissions/min"
            f"   ({len(scores)} graded)"
        )
    print_phases(work / "course", args.lab)
    print_ceiling(work / "course", args.lab, args.jobs, results["nbgrader"][0])
    a, b = results["nbgrader"][1], results["course"][1]
    students = results["course"][2]
    same = [s for s in students if a.get(s) == b.get(s)]
    print(f"  scores that agree: {len(same)}/{len(students)}")
    for kind in sorted(set(students.values())):
        names = [s for s, k in students.items() if k == kind]
        na = sorted({a.get(s) for s in names}, key=lambda v: -1 if v is None else v)
        nb_ = sorted({b.get(s) for s in names}, key=lambda v: -1 if v is None else v)
        print(f"    {kind:10} nbgrader {na}   course grade {nb_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
