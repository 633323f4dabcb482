"""What ``course grade`` reports: ``reports/<lab>.csv`` and the summary table it prints."""

from __future__ import annotations

import csv
import dataclasses
import json
import statistics
from pathlib import Path

from .course import Course
from .record import Outcome


def write_report(course: Course, lab: str, rows: list[Outcome]) -> Path:
    """``<work>/reports/<lab>.csv`` (one row per student) and ``.json`` (everything)."""
    out = course.work / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{lab}.json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    with open(out / f"{lab}.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["student", "score", "max_score", "status", "failed_tests", "notes", "review"]
        )
        for r in rows:
            failed = [g for g, t in r.tests.items() if t["score"] < t["points"]]
            writer.writerow(
                [
                    r.student,
                    f"{r.score:g}",
                    f"{r.max_score:g}",
                    r.status,
                    " ".join(failed),
                    " | ".join(r.notes),
                    " | ".join(r.audit),
                ]
            )
    return out / f"{lab}.csv"


def summary(lab: str, rows: list[Outcome]) -> str:
    """The table ``course grade`` prints: scores, the median, failures by test, what to review."""
    lines = [f"{lab}: {len(rows)} submission(s)", ""]
    width = max([len("student"), *(len(r.student) for r in rows)])
    lines.append(f"{'student'.ljust(width)}  score      status     notes")
    for r in rows:
        note = r.notes[0] if r.notes else ""
        extra = f" (+{len(r.notes) - 1} more)" if len(r.notes) > 1 else ""
        flag = "  [review]" if r.audit else ""
        lines.append(
            f"{r.student.ljust(width)}  {f'{r.score:g}/{r.max_score:g}':9}  {r.status:9}  "
            f"{note[:90]}{extra}{flag}"
        )
    if rows:
        lines += [
            "",
            f"median score: {statistics.median(r.score for r in rows):g} / "
            f"{max(r.max_score for r in rows):g}",
        ]
        failures: dict[str, int] = {}
        for r in rows:
            for gid, t in r.tests.items():
                if t["score"] < t["points"]:
                    failures[gid] = failures.get(gid, 0) + 1
        if failures:
            lines += ["", "failures by test:"]
            for gid, n in sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {n:4d}  {gid}")
        review = [r for r in rows if r.audit]
        if review:
            lines += ["", "code to review (possible cheating or unsafe code):"]
            for r in review:
                lines.append(f"  {r.student}: {'; '.join(r.audit)}")
    return "\n".join(lines)
