"""``course collect LAB SOURCE``: bring submissions into ``submitted/<student>/<lab>/<lab>.ipynb``.

SOURCE is a folder or a zip file. Student ids come from the path of each notebook in it:

* an nbgrader ``submitted/`` folder (or zip of one): ``<student>/<lab>/<anything>.ipynb``;
* a folder per student: ``<student>/<anything>.ipynb``;
* Canvas' "Download submissions" zip: ``<name>[_late]_<userid>_<submissionid>_<file>.ipynb``;
* Moodle's "Download all submissions" zip: ``<Full Name>_<id>_assignsubmission_file_/<file>``;
* anything else with ``--pattern``, a regex whose ``(?P<student>...)`` group names the student.

A submission that differs from the one already collected replaces it; the old file is kept under
``<work>/.course/replaced/``. What is not a plain notebook file is refused and listed, and the
other students' notebooks are collected all the same: entries whose path would leave the target
folder, symbolic links (in a folder or a zip; never followed, so a link to the solution, another
student's upload or ``/etc/shadow`` brings nothing in), FIFOs and devices, files over
``submissions.MAX_SUBMISSION_BYTES`` (read no further than that, whatever a zip claims), and zip
entries that cannot be read (a bad CRC, an unknown compression, a password).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .course import Course, GradingError
from .intake import MAX_SUBMISSION_BYTES, Refused, read_regular_file

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
    """The student id a notebook's path inside the upload names, or None.

    An id is made of letters, digits, ``_``, ``.`` and ``-`` and never starts with a dot, so it
    is always one plain folder name (never ``..``, never hidden)."""
    found = _student_of(path, lab, pattern)
    return re.sub(r"^\.+", lambda m: "_" * len(m.group()), found) if found else None


def _student_of(path: str, lab: str, pattern: re.Pattern | None) -> str | None:
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


def _folder_entries(source: Path):
    for root, dirs, files in os.walk(source, followlinks=False):
        here = Path(root)
        for name in sorted(dirs):
            if (here / name).is_symlink():
                rel = (here / name).relative_to(source).as_posix()
                yield rel, _refuse("a symbolic link to a folder: not followed")
        dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
        for name in sorted(files):
            if not name.endswith(".ipynb"):
                continue
            path = here / name
            yield (
                path.relative_to(source).as_posix(),
                lambda path=path: read_regular_file(path, MAX_SUBMISSION_BYTES),
            )


def _zip_entries(archive: zipfile.ZipFile):
    for info in archive.infolist():
        name = info.filename
        if info.is_dir() or not name.endswith(".ipynb") or "__MACOSX" in name:
            continue
        if ".ipynb_checkpoints" in name:
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            yield name, _refuse("a symbolic link, not a notebook: upload the file itself")
        elif info.file_size > MAX_SUBMISSION_BYTES:
            yield name, _refuse(f"{info.file_size >> 20} MB is over the limit")
        else:
            yield name, lambda info=info: _read_zip_entry(archive, info)


def _read_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as fh:
            data = fh.read(MAX_SUBMISSION_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise Refused(f"the zip entry is damaged ({exc}); ask for it again") from None
    except (NotImplementedError, RuntimeError) as exc:  # compression method, password
        raise Refused(f"the zip entry cannot be read ({exc})") from None
    if len(data) > MAX_SUBMISSION_BYTES:
        raise Refused(f"over the {MAX_SUBMISSION_BYTES >> 20} MB limit")
    return data


def _refuse(why: str):
    def read():
        raise Refused(why)

    read.refusal = why  # known before anything is read
    return read


def _entries(source: Path, stack: contextlib.ExitStack):
    """(relative path, reader) of every notebook in a folder or zip; a reader returns the bytes
    or raises ``Refused``, while ``stack`` is open."""
    if source.is_dir():
        yield from _folder_entries(source)
    elif source.is_file() and zipfile.is_zipfile(source):
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise GradingError(f"{source} is a damaged zip file ({exc})") from None
        stack.enter_context(archive)
        yield from _zip_entries(archive)
    else:
        raise GradingError(f"{source} is neither a folder nor a zip file")


def collect(course: Course, lab: str, source: Path, *, pattern: str | None = None) -> Collected:
    """Copy every notebook in ``source`` to the student's submitted folder for ``lab``."""
    if not source.exists():
        raise GradingError(f"{source} does not exist")
    regex = re.compile(pattern) if pattern else None
    if regex is not None and "student" not in regex.groupindex:
        raise GradingError("--pattern needs a named group (?P<student>...)")
    with contextlib.ExitStack() as stack:
        result = Collected(lab=lab)
        chosen: dict[str, tuple[str, object]] = {}
        for name, read in _entries(source, stack):
            if getattr(read, "refusal", None):
                result.refused.append(f"{name}: {read.refusal}")
                continue
            if name.startswith("/") or ".." in PurePosixPath(name).parts:
                result.refused.append(f"{name}: its path leaves the upload folder")
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
            chosen[student] = (name, read)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for student, (name, read) in sorted(chosen.items()):
            try:
                data = read()  # one notebook in memory at a time
            except Refused as exc:
                result.refused.append(f"{name}: {exc}")
                continue
            target = course.work / "submitted" / student / lab / f"{lab}.ipynb"
            if target.is_symlink() or (target.exists() and not target.is_file()):
                result.refused.append(
                    f"{name}: submitted/{student}/{lab}/{lab}.ipynb is not a plain file (a link?); "
                    "remove it and collect again"
                )
                continue
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
            tmp.unlink(missing_ok=True)
            tmp.write_bytes(data)
            tmp.replace(target)
    return result
