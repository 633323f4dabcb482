"""The environment a student's or instructor's shell has: every test that starts a kernel,
nbgrader or JupyterLab gives it this one.

Nothing the test run itself set reaches those processes: not ``PYTEST_CURRENT_TEST`` (with it,
ipykernel stops forwarding what native code writes to stderr into the cell, so the tests would
see cleaner cells than users do), not ``TF_CPP_MIN_LOG_LEVEL``, not ``MPLBACKEND``. Only the
variables the README tells users to set are passed on from the caller.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"

#: Variables the README tells users to set; passed on when the caller has them.
README_VARIABLES = ("COURSE_DATA_DIR",)


def user_environment(
    home: str | os.PathLike | None = None, *, activated: bool = False, **extra: str
) -> dict[str, str]:
    """A login shell's environment: PATH, HOME, a UTF-8 locale, plus README variables.

    ``activated=True`` is that shell after ``source .venv/bin/activate``, as the README tells
    instructors who run ``nbgrader`` themselves.
    """
    path = "/usr/local/bin:/usr/bin:/bin"
    env = {"PATH": path, "HOME": str(home or Path.home()), "LANG": "C.UTF-8"}
    if activated:
        env.update(PATH=f"{VENV_BIN}:{path}", VIRTUAL_ENV=str(VENV_BIN.parent))
    env.update({k: os.environ[k] for k in README_VARIABLES if k in os.environ})
    env.update(extra)
    return env


def nbgrader_validate(notebook: str | os.PathLike, *, invert: bool = False) -> str:
    """Run ``nbgrader validate`` as a student's shell would, from the checkout; return its output.

    The verdict is the output's last line: "Success! ..." or a failure report.
    """
    cmd = [str(VENV_BIN / "nbgrader"), "validate", str(notebook)]
    if invert:
        cmd.append("--invert")
    proc = subprocess.run(
        cmd, cwd=REPO, env=user_environment(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"nbgrader validate could not run:\n{proc.stderr[-3000:]}"
    return proc.stdout
