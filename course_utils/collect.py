"""``course collect LAB SOURCE``: bring submissions into ``submitted/<student>/<lab>/<lab>.ipynb``.

SOURCE is a folder or a zip file. Student ids come from the path of each notebook in it:

* an nbgrader ``submitted/`` folder (or zip of one): ``<student>/<lab>/<anything>.ipynb``;
* a folder per student: ``<student>/<anything>.ipynb``;
* Canvas' "Download submissions" zip: ``<name>[_late]_<userid>_<submissionid>_<file>.ipynb``;
* Moodle's "Download all submissions" zip: ``<Full Name>_<id>_assignsubmission_file_/<file>``;
* anything else with ``--pattern``, a regex whose ``(?P<student>...)`` group names the student.

A submission that differs from the one already collected replaces it; the old file is kept under
``<work>/.course/replaced/``. Zip entries that would escape the target folder, or that are larger
than ``submissions.MAX_SUBMISSION_BYTES``, are refused and listed.
"""

from __future__ import annotations

import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .grading import Course, GradingError
from .submissions import MAX_SUBMISSION_BYTES

CANVAS = re.compile(r"^(?P<student>[A-Za-z0-9-]+?)(?:_LATE|_late)?_\d+_\d+_.+\.ipynb$")
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_file_?/")
SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Collected:
    lab: str
    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{self.lab}: {len(self.imported)} new, {len(self.replaced)} replaced, "
            f"{len(self.unchanged)} unchanged, {len(self.refused)} refused"
        ]
        lines += [f"  refused: {r}" for r in self.refused]
        return "\n".join(lines)


def student_of(path: str, lab: str, pattern: re.Pattern | None = None) -> str | None:
    """The student id a notebook's path inside the upload names, or None."""
    parts = PurePosixPath(path).parts
    if pattern is not None:
        m = pattern.search(path)
        return SAFE_ID.sub("_", m.group("student")) if m else None
    m = MOODLE.match(path)
    if m:
        return SAFE_ID.sub(
            "_", f"{m.group('name').strip().lower().replace(' ', '_')}_{m.group('id')}"
        )
    if len(parts) >= 3 and parts[-2] == lab:
        return SAFE_ID.sub("_", parts[-3])
    if len(parts) >= 2:
        return SAFE_ID.sub("_", parts[-2])
    m = CANVAS.match(parts[-1])
    if m:
        return SAFE_ID.sub("_", m.group("student"))
    return None


def _entries(source: Path):
    """(relative path, size, reader) of every notebook in a folder or zip."""
    if source.is_dir():
        for path in sorted(source.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            yield path.relative_to(source).as_posix(), path.stat().st_size, path.read_bytes
    elif zipfile.is_zipfile(source):
        archive = zipfile.ZipFile(source)
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or not name.endswith(".ipynb") or "__MACOSX" in name:
                continue
            if ".ipynb_checkpoints" in name:
                continue
            yield name, info.file_size, (lambda info=info: archive.read(info))
    else:
        raise GradingError(f"{source} is neither a folder nor a zip file")


def collect(course: Course, lab: str, source: Path, *, pattern: str | None = None) -> Collected:
    """Copy every notebook in ``source`` to the student's submitted folder for ``lab``."""
    if not source.exists():
        raise GradingError(f"{source} does not exist")
    regex = re.compile(pattern) if pattern else None
    if regex is not None and "student" not in regex.groupindex:
        raise GradingError("--pattern needs a named group (?P<student>...)")
    result = Collected(lab=lab)
    chosen: dict[str, tuple[str, int, object]] = {}
    for name, size, read in _entries(source):
        if name.startswith("/") or ".." in PurePosixPath(name).parts:
            result.refused.append(f"{name}: its path leaves the upload folder")
            continue
        if size > MAX_SUBMISSION_BYTES:
            result.refused.append(f"{name}: {size >> 20} MB is over the limit")
            continue
        student = student_of(name, lab, regex)
        if not student:
            result.refused.append(f"{name}: no student id in its path (use --pattern)")
            continue
        if student in chosen:
            result.refused.append(
                f"{name}: a second notebook for {student} (kept {chosen[student][0]})"
            )
            continue
        chosen[student] = (name, size, read)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for student, (_name, _, read) in sorted(chosen.items()):
        target = course.work / "submitted" / student / lab / f"{lab}.ipynb"
        data = read()
        if target.is_file():
            if target.read_bytes() == data:
                result.unchanged.append(student)
                continue
            backup = course.work / ".course" / "replaced" / stamp / student / lab
            backup.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, backup / target.name)
            result.replaced.append(student)
        else:
            result.imported.append(student)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".ipynb.part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return result
