"""Submissions as they arrive: find them, read them safely, rebuild what gets graded.

A submission is never run as handed in. ``prepare`` rebuilds the notebook to grade from the
instructor's source (``solutions/<lab>/<lab>.ipynb``): every set-up and test cell, hidden tests
and point values come from the source; only the student's answer cells (matched by nbgrader
``grade_id``) and the student's own extra cells come from the submission. That makes edited,
deleted or reordered test cells, changed points and duplicated cell ids harmless, and each repair
is written down as a note for the instructor.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .audit import audit

#: Larger submissions are not parsed (outputs do not count, so this is a broken upload).
MAX_SUBMISSION_BYTES = 100 << 20
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
_SOLUTION_REGION = re.compile(
    r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*\n?", re.M | re.S
)


@dataclass
class Submission:
    student: str
    lab: str
    path: Path | None  #: the notebook to grade, or None if there is none
    notes: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    notebook: nbformat.NotebookNode | None  #: what to run; None when nothing can be graded
    notes: list[str] = field(default_factory=list)  #: repairs and findings, for the instructor
    fatal: str | None = None  #: why the submission scores 0 without running
    audit: list[str] = field(default_factory=list)  #: suspicious code, for review


def grade_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def role(cell) -> str:
    """What a source cell is: 'answer', 'test', 'setup', 'markdown' or 'slot' (no metadata)."""
    md = grade_meta(cell)
    if not md.get("grade_id"):
        return "slot"
    if md.get("solution"):
        return "answer"
    if cell.get("cell_type") != "code":
        return "markdown"
    return "test" if md.get("grade") else "setup"


def stub_of(source: str) -> str:
    """The student version of an answer cell (what nbgrader's ClearSolutions leaves)."""
    if "### BEGIN SOLUTION" not in source:
        return STUB
    return _SOLUTION_REGION.sub(
        lambda m: "\n".join(m.group(1) + line for line in STUB.splitlines()) + "\n", source
    ).rstrip("\n")


# --------------------------------------------------------------------------------------------
# Finding and reading


def find_submissions(submitted: Path, lab: str) -> list[Submission]:
    """Every student folder under ``submitted/`` that has a folder for ``lab``."""
    out = []
    if not submitted.is_dir():
        return out
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir()):
        lab_dir = student_dir / lab
        if not lab_dir.is_dir():
            continue
        sub = Submission(student=student_dir.name, lab=lab, path=None)
        linked = [p for p in (student_dir, lab_dir) if p.is_symlink()]
        if linked:  # never followed: it could lead to a solution or another student's work
            sub.notes.append(
                f"submitted/{linked[0].relative_to(submitted)} is a symbolic link, not a folder "
                "of its own: not graded (collect the submission again with `course collect`)"
            )
            out.append(sub)
            continue
        expected = lab_dir / f"{lab}.ipynb"
        if expected.is_file():
            sub.path = expected
        else:
            others = sorted(
                p for p in lab_dir.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
            )
            if len(others) == 1:
                sub.path = others[0]
                sub.notes.append(
                    f"the notebook was named {others[0].relative_to(lab_dir)}, not {lab}.ipynb; "
                    "graded it anyway"
                )
            elif others:
                sub.path = others[0]
                names = ", ".join(str(p.relative_to(lab_dir)) for p in others)
                sub.notes.append(
                    f"no {lab}.ipynb but several notebooks ({names}); graded "
                    f"{others[0].relative_to(lab_dir)}"
                )
            else:
                sub.notes.append(f"no notebook in submitted/{student_dir.name}/{lab}/")
        out.append(sub)
    return out


class Refused(Exception):
    """An entry that is not collected; the message says why."""


class TooLarge(Refused):
    """A file over the size limit."""


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a link, FIFO or device) of at most
    ``limit`` bytes; else ``Refused``. Checked on the open file, so a swap after a check is no
    way round it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise Refused("a symbolic link, not a notebook: upload the file itself") from None
        raise Refused(f"could not be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused("not a regular file (a FIFO, a device or a folder)")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"over the {limit >> 20} MB limit")
    return data


def read_notebook(path: Path) -> tuple[dict | None, str | None]:
    """Parse a submitted file as loosely as is safe; return (notebook JSON, or None, why not)."""
    try:
        raw = read_regular_file(path, MAX_SUBMISSION_BYTES)
    except TooLarge:
        return None, (
            f"the file is over the {MAX_SUBMISSION_BYTES >> 20} MB limit: clear the outputs "
            "(Edit > Clear Outputs of All Cells), save and resubmit"
        )
    except Refused as exc:
        return None, f"the submission is {exc}"
    if not raw:
        return None, "the file is empty (0 bytes): the upload or the save failed"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"the file is not UTF-8 text (byte {exc.start}): not a notebook"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, (
            f"the file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "it was probably edited in a text editor or cut short"
        )
    if not isinstance(data, dict) or not isinstance(data.get("cells", None), list):
        if isinstance(data, dict) and isinstance(data.get("worksheets"), list):
            try:
                return dict(nbformat.reads(text, as_version=4)), None
            except Exception as exc:  # noqa: BLE001 - any failure means unreadable
                return None, f"an old (v3) notebook that could not be converted: {exc}"
        return None, "the file is JSON but not a Jupyter notebook (it has no list of cells)"
    return data, None


_HIDDEN_REGION = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[^\n]*\n?", re.M | re.S
)


def _visible(source: str) -> str:
    """A test cell's source as students see it, for comparison (hidden tests and blanks gone)."""
    lines = _HIDDEN_REGION.sub("", source).splitlines()
    return "\n".join(line.rstrip() for line in lines if line.strip())


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


# --------------------------------------------------------------------------------------------
# Rebuilding


def prepare(
    source_path: Path, submission: dict, lab: str, other_labs: dict | None = None
) -> Prepared:
    """Rebuild the notebook to grade from the trusted source and the submission's answers."""
    source = nbformat.read(source_path, as_version=4)
    prepared = Prepared(notebook=None)
    cells = [c for c in submission.get("cells", []) if isinstance(c, dict)]
    src_roles = {grade_meta(c)["grade_id"]: (role(c), c) for c in source.cells if grade_meta(c)}

    # Group the student's cells: each known cell is an anchor; unknown cells follow their anchor.
    answers: dict[str, dict] = {}
    extras: dict[str | None, list[dict]] = {}
    anchor: str | None = None
    seen: dict[str, int] = {}
    order: list[str] = []
    for cell in cells:
        gid = grade_meta(cell).get("grade_id")
        if gid in src_roles:
            seen[gid] = seen.get(gid, 0) + 1
            order.append(gid)
            kind, src_cell = src_roles[gid]
            if kind == "answer":
                answers[gid] = cell  # the last copy wins, as it would when run top to bottom
            elif kind == "test" and _visible(_source(cell)) != _visible(src_cell.source):
                prepared.notes.append(f"test cell {gid} was edited; graded with the original")
            md, src_md = grade_meta(cell), grade_meta(src_cell)
            if md.get("points") != src_md.get("points") and kind == "test":
                prepared.notes.append(
                    f"points of {gid} changed in the metadata ({src_md.get('points')} -> "
                    f"{md.get('points')}); the source's {src_md.get('points')} count"
                )
            anchor = gid
        elif gid and cell.get("cell_type") == "code":
            # nbgrader metadata for a cell this lab does not have: another lab, or hand-edited.
            prepared.notes.append(f"cell with unknown grade_id {gid!r} kept as the student's own")
            extras.setdefault(anchor, []).append(cell)
        else:
            extras.setdefault(anchor, []).append(cell)
    for gid, count in seen.items():
        if count > 1:
            which = "answer" if src_roles[gid][0] == "answer" else "locked"
            prepared.notes.append(
                f"{which} cell {gid} appears {count} times (copy and paste?); "
                + ("graded the last copy" if which == "answer" else "ran it once")
            )
    want = [gid for gid, (kind, _) in src_roles.items() if kind in {"test", "answer", "setup"}]
    missing = [gid for gid in want if gid not in seen]
    for gid in missing:
        kind = src_roles[gid][0]
        prepared.notes.append(
            f"{kind} cell {gid} was missing"
            + ("; graded as unanswered" if kind == "answer" else "; put back from the source")
        )
    known_order = [
        g for g in dict.fromkeys(order) if src_roles[g][0] in {"test", "answer", "setup"}
    ]
    source_order = [g for g in want if g in known_order]
    if known_order != source_order:
        prepared.notes.append("cells were reordered; graded in the source's order")

    if not answers:
        guess = _which_lab(cells, other_labs or {})
        prepared.fatal = (
            f"none of the answer cells of {lab} are in this notebook"
            + (f"; it looks like {guess}'s notebook" if guess and guess != lab else "")
            + " (was the wrong file uploaded, or were the cells' metadata stripped?)"
        )
    # Build: trusted cells from the source; answers and extras from the student.
    out = new_notebook(metadata=source.metadata)
    extra_no = 0

    def add_extras(key: str | None) -> None:
        nonlocal extra_no
        for cell in extras.get(key, []):
            extra_no += 1
            text = _source(cell)
            if cell.get("cell_type") == "code":
                new = new_code_cell(text)
                new.metadata["course"] = {"role": "student"}
            else:
                new = new_markdown_cell(text)
                new.metadata["course"] = {"role": "markdown"}
            new.id = f"student-{extra_no}"
            out.cells.append(new)

    add_extras(None)
    for src_cell in source.cells:
        kind = role(src_cell)
        if kind == "slot":
            continue
        gid = grade_meta(src_cell)["grade_id"]
        new = nbformat.from_dict(json.loads(json.dumps(src_cell)))
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
        if kind == "answer":
            new.source = _source(answers[gid]) if gid in answers else stub_of(src_cell.source)
        new.metadata["course"] = {"role": kind}
        out.cells.append(new)
        add_extras(gid)
    prepared.notebook = out
    prepared.audit = audit(
        "\n\n".join(
            c.source
            for c in out.cells
            if c.metadata["course"]["role"] in {"answer", "student"} and c.cell_type == "code"
        )
    )
    return prepared


def _which_lab(cells: list[dict], other_labs: dict[str, set[str]]) -> str | None:
    ids = {grade_meta(c).get("grade_id") for c in cells} - {None}
    best = max(other_labs.items(), key=lambda kv: len(ids & kv[1]), default=(None, set()))
    return best[0] if best[0] and ids & best[1] else None
