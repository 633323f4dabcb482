"""The ``course`` command (also ``python -m course_utils``): data, release, demo."""

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
    from . import demo

    root = Path(args.root).resolve()
    work = Path(args.work).resolve() if args.work else root / "build" / "demo"
    rows = demo.run(root, work, jobs=args.jobs)
    return 0 if rows else 1


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

    dem = sub.add_parser("demo", help="autograde made-up submissions of every lab and show scores")
    dem.add_argument("--root", default=".", help="course checkout (default: .)")
    dem.add_argument("--work", help="where the demo class lives (default: build/demo)")
    dem.add_argument("--jobs", type=int, help="labs graded at once (default: number of CPUs)")
    dem.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``course`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # one readable line for known failures, not a traceback
        from .datasets import DataError, DataNotFoundError
        from .grading import GradingError

        if isinstance(exc, DataError | DataNotFoundError | GradingError):
            print(f"course {args.command}: {exc}", file=sys.stderr)
            return 1
        raise
