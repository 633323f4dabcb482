"""The ``course`` command (also ``python -m course_utils``).

A term: ``course release`` -> ``course collect LAB SOURCE`` -> ``course grade LAB`` ->
``course feedback LAB`` (``grade`` already writes it) -> ``course export``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _data(args: argparse.Namespace) -> int:
    from . import datasets

    keys = args.names or list(datasets.REGISTRY)
    unknown = [k for k in keys if k not in datasets.REGISTRY]
    if unknown:
        print(
            f"unknown data set(s) {unknown}; known: {', '.join(datasets.REGISTRY)}", file=sys.stderr
        )
        return 2
    if args.action == "where":
        print(f"data home: {datasets.get_data_home(args.data_home)}")
        print(f"cache:     {datasets.get_cache_dir()}")
        return 0
    if args.action == "fetch":
        failed = 0
        for key in keys:
            try:
                path = datasets.find_file(key, data_home=args.data_home)
                print(f"{key:16} ok  {path}")
            except (datasets.DataError, datasets.DataNotFoundError) as exc:
                failed += 1
                print(f"{key:16} FAILED\n{exc}", file=sys.stderr)
        return 1 if failed else 0
    status = datasets.verify_all(data_home=args.data_home, keys=keys)
    for key, state in status.items():
        print(f"{key:16} {state}")
    return 0 if all(s.startswith("ok") for s in status.values()) else 1


def _release(args: argparse.Namespace) -> int:
    from . import grading

    course = grading.Course.at(args.root)
    for path in grading.release(course, args.labs or None):
        print(f"released {path.relative_to(course.root)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .grading import demo

    root = Path(args.root).resolve()
    work = Path(args.work).resolve() if args.work else root / "build" / "demo"
    rows = demo.run(root, work, course_command=main, jobs=args.jobs)
    return 0 if rows else 1


def _course(args: argparse.Namespace):
    from . import grading

    return grading.Course.at(args.root, args.work)


def _grade(args: argparse.Namespace) -> int:
    from .grading import grade as grader
    from .grading import nbgrader_course

    limits = grader.Limits(
        cell_timeout=args.timeout or grader.Limits.cell_timeout,
        notebook_timeout=args.notebook_timeout,
        memory_bytes=int(args.memory * 2**30),
        sandbox=not args.no_sandbox,
    )
    options = dict(
        jobs=args.jobs,
        limits=limits,
        regrade=args.regrade,
        feedback=not args.no_feedback,
        progress=not args.quiet,
        students=args.student or None,
        cluster=args.cluster,
    )
    root = Path(args.root).resolve()
    if nbgrader_course.is_nbgrader_course(root, args.lab):
        if args.work:
            print(
                "course grade: --work is for this course's own labs; a plain nbgrader course's "
                "folders and gradebook come from its nbgrader_config.py",
                file=sys.stderr,
            )
            return 2
        rows = nbgrader_course.grade_course(
            root, args.lab, timeout_given=args.timeout is not None, **options
        )
        print(grader.summary(args.lab, rows))
        print(f"\nreport: {root / 'reports' / (args.lab + '.csv')}")
        # as nbgrader autograde: a submission that could not be graded makes the run fail
        return 1 if any(r.status in {"error", "unreadable"} for r in rows) else 0
    course = _course(args)
    rows = grader.grade(course, args.lab, **options)
    print(grader.summary(args.lab, rows))
    print(f"\nreport: {course.work / 'reports' / (args.lab + '.csv')}")
    if not args.no_feedback:
        print(f"feedback: {course.work / 'feedback'}/<student>/{args.lab}/")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from .grading import collect

    course = _course(args)
    result = collect.collect(course, args.lab, Path(args.source), pattern=args.pattern)
    print(result.summary())
    return 0 if (result.imported or result.replaced or result.unchanged) else 1


def _feedback(args: argparse.Namespace) -> int:
    from . import grading
    from .grading import nbgrader_course

    root = Path(args.root).resolve()
    if nbgrader_course.is_nbgrader_course(root, args.lab):
        nbgrader_course.nbgrader(root, "generate_feedback", args.lab, "--force")
        print(f"feedback: written by nbgrader generate_feedback, as {root}'s config says")
        return 0
    course = _course(args)
    path = grading.generate_feedback(course, args.lab)
    print(f"feedback: {path}/<student>/{args.lab}/")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .grading import nbgrader_course

    out = Path(args.to).resolve()
    root = Path(args.root).resolve()
    if not (root / "solutions").is_dir() and (root / "nbgrader_config.py").is_file():
        nbgrader_course.nbgrader(root, "export", f"--to={out}")  # a plain nbgrader course
        print(f"grades of every student and assignment (from the gradebook): {out}")
        return 0
    course = _course(args)
    course.nbgrader("export", f"--to={out}")
    print(f"grades of every student and lab (from the gradebook): {out}")
    return 0


def _lab(args: argparse.Namespace, jupyter_args: list[str]) -> int:
    import os

    from . import workspace

    root = Path(args.root).resolve()
    if args.instructor:
        if args.dir:
            print(
                "course lab: --instructor opens the course folder itself; drop --dir",
                file=sys.stderr,
            )
            return 2
        from .grading import Course

        into = Course.at(root).root
        print(f"JupyterLab opens on the course {into}; Nbgrader > Formgrader shows its class.")
        # Formgrader's pages then take MathJax from this server, not a CDN (see the template)
        templates = Path(__file__).with_name("grading") / "jupyter"
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (str(templates), os.environ.get("JUPYTER_PATH", "")) if p
        )
    else:
        into = Path(args.dir).resolve() if args.dir else root / workspace.DEFAULT_DIR
        for change in workspace.prepare(root, into):
            if change.action != "kept":
                print(change)
        print(f"Your labs are in {into}; JupyterLab opens there.", flush=True)
    # From the course folder: nbgrader's Validate and Formgrader read nbgrader_config.py there.
    os.chdir(root)
    jupyter_lab = Path(sys.executable).with_name("jupyter-lab")
    argv = [str(jupyter_lab), f"--ServerApp.root_dir={into}", *jupyter_args]
    sys.stdout.flush()
    os.execv(argv[0], argv)
    return 1  # not reached


def _class_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=".", help="course checkout (default: .)")
    p.add_argument(
        "--work",
        help="where the class's submitted/, autograded/, feedback/ and gradebook live "
        "(default: the course checkout, nbgrader's layout)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="pre-stage, verify or locate the data sets")
    data.add_argument("action", choices=["fetch", "verify", "where"])
    data.add_argument("names", nargs="*", help="data set keys (default: all)")
    data.add_argument("--data-home", help="directory to use instead of $COURSE_DATA_DIR")
    data.set_defaults(func=_data)

    rel = sub.add_parser("release", help="generate the student labs/ from solutions/")
    rel.add_argument("labs", nargs="*", help="lab ids (default: every lab)")
    rel.add_argument("--root", default=".", help="course checkout (default: .)")
    rel.set_defaults(func=_release)

    col = sub.add_parser(
        "collect",
        help="import submissions: an LMS zip, or a folder in nbgrader's submitted/ layout",
    )
    col.add_argument("lab")
    col.add_argument("source", help="a .zip (Canvas, Moodle, or <student>/... folders) or a folder")
    col.add_argument(
        "--pattern", help="regex with a (?P<student>...) group, matched against each file's path"
    )
    _class_options(col)
    col.set_defaults(func=_collect)

    grd = sub.add_parser(
        "grade", help="autograde every submission of a lab, in parallel, sandboxed"
    )
    grd.add_argument("lab")
    grd.add_argument("--jobs", "-j", type=int, help="submissions at once (default: CPUs)")
    grd.add_argument(
        "--timeout",
        type=float,
        help="seconds per cell (default 60; in a plain nbgrader course, its Execute.timeout)",
    )
    grd.add_argument(
        "--notebook-timeout", type=float, default=600.0, help="seconds per submission (default 600)"
    )
    grd.add_argument("--memory", type=float, default=4.0, help="GiB per kernel (default 4)")
    grd.add_argument("--regrade", action="store_true", help="grade unchanged submissions again")
    grd.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grd.add_argument("--no-feedback", action="store_true", help="do not write feedback")
    grd.add_argument(
        "--no-sandbox", action="store_true", help="run student code unconfined (debugging only)"
    )
    grd.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    grd.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run submissions on a Dask cluster: a scheduler address (tcp://host:8786), or "
        "local:N to start a LocalCluster of N workers (needs the `cluster` extra)",
    )
    _class_options(grd)
    grd.set_defaults(func=_grade)

    fb = sub.add_parser(
        "feedback", help="write HTML feedback for a graded lab (hidden tests hidden)"
    )
    fb.add_argument("lab")
    _class_options(fb)
    fb.set_defaults(func=_feedback)

    exp = sub.add_parser("export", help="write every grade in the gradebook to a CSV file")
    exp.add_argument("--to", default="grades.csv", help="output file (default grades.csv)")
    _class_options(exp)
    exp.set_defaults(func=_export)

    lab = sub.add_parser(
        "lab",
        help="students: copy each released lab into my-labs/ (once) and open JupyterLab there",
        description="Copy each lab of labs/ into your own folder the first time, offer a newer "
        "release beside your copy (never over it), then start JupyterLab in that folder. "
        "Arguments this command does not know are passed to `jupyter lab`.",
    )
    lab.add_argument("--root", default=".", help="course checkout (default: .)")
    lab.add_argument("--dir", help="where your copies live (default: ROOT/my-labs)")
    lab.add_argument(
        "--instructor",
        action="store_true",
        help="open the course folder itself (no copies), for nbgrader's Formgrader",
    )
    lab.set_defaults(func=_lab, passthrough=True)

    dem = sub.add_parser("demo", help="autograde made-up submissions of every lab and show scores")
    dem.add_argument("--root", default=".", help="course checkout (default: .)")
    dem.add_argument("--work", help="where the demo class lives (default: build/demo)")
    dem.add_argument("--jobs", type=int, help="labs graded at once (default: number of CPUs)")
    dem.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``course`` command."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if getattr(args, "passthrough", False):
            return args.func(args, extra)
        return args.func(args)
    except Exception as exc:  # one readable line for known failures, not a traceback
        from .datasets import DataError, DataNotFoundError
        from .grading import GradingError

        if isinstance(exc, DataError | DataNotFoundError | GradingError):
            print(f"course {args.command}: {exc}", file=sys.stderr)
            return 1
        raise
