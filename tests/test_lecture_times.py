"""tools/lecture_times.py: the full-run times of the committed lectures, and ``--fast`` runs."""

import json
import subprocess
import sys

import nbformat
import pytest

from tests.user_env import REPO, VENV_BIN, user_environment

sys.path.insert(0, str(REPO / "tools"))
import lecture_times  # noqa: E402


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_execute_fast_runs_a_copy_in_the_lecture_folder_with_course_fast(tmp_path):
    lectures, out = tmp_path / "lectures", tmp_path / "out"
    lectures.mkdir()
    out.mkdir()
    (lectures / "beside.txt").write_text("found")
    source = lectures / "01_demo.ipynb"
    nbformat.write(
        notebook(
            "import os; print(os.environ.get('COURSE_FAST'))",
            "print(open('beside.txt').read())",
            "import time; time.sleep(0.3)",
        ),
        source,
    )
    before = source.read_bytes()
    # the kernel gets a user's shell environment, not this test run's (PYTEST_CURRENT_TEST)
    executed = lecture_times.execute_fast(source, out, env=user_environment(activated=True))
    assert source.read_bytes() == before, "the lecture itself must not be rewritten"
    cells = json.loads(executed.read_text())["cells"]
    assert ["".join(c["outputs"][0]["text"]).strip() for c in cells[:2]] == ["1", "found"]
    seconds = lecture_times.cell_seconds(executed)
    assert None not in seconds and seconds[2] >= 0.3


def test_a_lecture_without_timing_is_an_error_that_says_how_to_fix_it(tmp_path):
    path = tmp_path / "plain.ipynb"
    nbformat.write(notebook("1 + 1"), path)
    with pytest.raises(ValueError, match="make lectures"):
        lecture_times.lecture_seconds(path)


def test_the_command_prints_one_line_per_committed_lecture_and_the_total():
    proc = subprocess.run(
        [str(VENV_BIN / "python"), "tools/lecture_times.py"],
        cwd=REPO,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.strip().splitlines()
    names = [p.stem for p in sorted((REPO / "lectures").glob("*.ipynb"))]
    assert [line.split()[0] for line in lines[:-1]] == names
    assert lines[-1].startswith("all lectures") and "limit 30 min" in lines[-1]
    assert proc.returncode == 0, proc.stdout + proc.stderr
