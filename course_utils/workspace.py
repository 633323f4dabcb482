"""Students' own copies of the released labs, made once and never overwritten by an update.

``course lab`` (``make lab``) copies each lab of ``labs/`` into ``my-labs/<lab>/`` the first time
and opens JupyterLab there. The checkout's ``labs/`` is never opened, so a student's answers and
JupyterLab's autosaves never dirty it and a ``git pull`` of a course update never conflicts with
them. When a lab is released again later, the new version is put beside the student's copy as
``<lab>.updated.ipynb``; the student's own notebook is only replaced while it is still the
untouched copy of the previous release.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = "my-labs"
RECORD = ".released.json"  #: lab -> SHA-256 of the release each copy was made from


@dataclass(frozen=True)
class Change:
    lab: str
    action: str  #: "copied", "updated", "offered" or "kept"
    path: Path

    def __str__(self) -> str:
        what = {
            "copied": "your copy to work in",
            "updated": "replaced by the new release (you had not changed it)",
            "offered": "a new release of this lab; your own notebook beside it is untouched. "
            "Open both and copy your answers over if you want the update",
            "kept": "yours, unchanged",
        }[self.action]
        return f"{self.path}: {what}"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def updated_name(lab: str) -> str:
    return f"{lab}.updated.ipynb"


def prepare(root: str | os.PathLike, into: str | os.PathLike) -> list[Change]:
    """Give every released lab a student copy under ``into``; return what was done to each."""
    labs_dir = Path(root) / "labs"
    into = Path(into)
    if not labs_dir.is_dir():
        raise FileNotFoundError(f"{labs_dir} does not exist: run this from the course checkout")
    into.mkdir(parents=True, exist_ok=True)
    record_path = into / RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    changes = []
    for lab_dir in sorted(p for p in labs_dir.iterdir() if (p / f"{p.name}.ipynb").is_file()):
        lab = lab_dir.name
        released = lab_dir / f"{lab}.ipynb"
        mine = into / lab / f"{lab}.ipynb"
        new_sha = _sha(released)
        if not mine.exists():
            shutil.copytree(lab_dir, into / lab, dirs_exist_ok=True, ignore=_checkpoints)
            changes.append(Change(lab, "copied", mine))
        elif new_sha == record.get(lab, new_sha):
            changes.append(Change(lab, "kept", mine))
        elif _sha(mine) == record.get(lab):
            shutil.copy2(released, mine)
            changes.append(Change(lab, "updated", mine))
        else:
            offer = into / lab / updated_name(lab)
            shutil.copy2(released, offer)
            changes.append(Change(lab, "offered", offer))
        record[lab] = new_sha
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(record_path)
    return changes


def _checkpoints(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == ".ipynb_checkpoints"]
