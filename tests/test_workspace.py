"""`course lab` / `make lab`: students work in their own copies, which updates never overwrite."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from course_utils import workspace
from course_utils.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def course(tmp_path):
    """A checkout with two released labs."""
    root = tmp_path / "course"
    for lab in ["lab01_a", "lab02_b"]:
        (root / "labs" / lab).mkdir(parents=True)
        (root / "labs" / lab / f"{lab}.ipynb").write_text(f'{{"release": 1, "lab": "{lab}"}}')
    (root / "labs" / "lab01_a" / "data.txt").write_text("a file shipped with the lab")
    return root


def test_first_run_copies_every_lab_with_its_files(course, tmp_path):
    mine = tmp_path / "mine"
    changes = workspace.prepare(course, mine)
    assert [(c.lab, c.action) for c in changes] == [("lab01_a", "copied"), ("lab02_b", "copied")]
    assert (mine / "lab01_a" / "data.txt").read_text() == "a file shipped with the lab"
    assert (mine / "lab02_b" / "lab02_b.ipynb").read_text() == '{"release": 1, "lab": "lab02_b"}'


def test_a_students_work_is_never_overwritten_and_a_new_release_is_offered_beside_it(
    course, tmp_path
):
    mine = tmp_path / "mine"
    workspace.prepare(course, mine)
    work = mine / "lab01_a" / "lab01_a.ipynb"
    work.write_text('{"my answers": true}')
    (course / "labs" / "lab01_a" / "lab01_a.ipynb").write_text('{"release": 2}')
    (course / "labs" / "lab02_b" / "lab02_b.ipynb").write_text('{"release": 2}')

    changes = {c.lab: c for c in workspace.prepare(course, mine)}
    assert work.read_text() == '{"my answers": true}'
    assert changes["lab01_a"].action == "offered"
    offered = mine / "lab01_a" / workspace.updated_name("lab01_a")
    assert offered.read_text() == '{"release": 2}' and changes["lab01_a"].path == offered
    assert "untouched" in str(changes["lab01_a"])
    # lab02_b was never changed by the student: taking the new release loses nothing.
    assert changes["lab02_b"].action == "updated"
    assert (mine / "lab02_b" / "lab02_b.ipynb").read_text() == '{"release": 2}'

    again = {c.lab: c.action for c in workspace.prepare(course, mine)}
    assert again == {"lab01_a": "kept", "lab02_b": "kept"}
    assert work.read_text() == '{"my answers": true}'


def test_a_deleted_copy_is_made_again_and_a_new_lab_is_added(course, tmp_path):
    mine = tmp_path / "mine"
    workspace.prepare(course, mine)
    shutil.rmtree(mine / "lab02_b")
    (course / "labs" / "lab03_c").mkdir()
    (course / "labs" / "lab03_c" / "lab03_c.ipynb").write_text("{}")
    actions = {c.lab: c.action for c in workspace.prepare(course, mine)}
    assert actions == {"lab01_a": "kept", "lab02_b": "copied", "lab03_c": "copied"}


def test_a_broken_record_is_treated_as_no_record_and_loses_nothing(course, tmp_path):
    mine = tmp_path / "mine"
    workspace.prepare(course, mine)
    (mine / "lab01_a" / "lab01_a.ipynb").write_text('{"my answers": true}')
    (mine / workspace.RECORD).write_text("not json")
    workspace.prepare(course, mine)
    assert (mine / "lab01_a" / "lab01_a.ipynb").read_text() == '{"my answers": true}'
    assert json.loads((mine / workspace.RECORD).read_text())


def test_no_labs_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="labs"):
        workspace.prepare(tmp_path, tmp_path / "mine")


def test_course_lab_passes_unknown_arguments_to_jupyter_lab(course, tmp_path):
    """`course lab --dir D --version` copies the labs, then runs `jupyter lab --version`."""
    mine = tmp_path / "mine"
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "course"),
            "lab",
            "--root",
            str(course),
            "--dir",
            str(mine),
            "--version",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "lab01_a.ipynb: your copy to work in" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1][0].isdigit()  # JupyterLab's version
    assert (mine / "lab02_b" / "lab02_b.ipynb").is_file()


def test_other_commands_still_refuse_unknown_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["release", "--no-such-option"])
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_the_checkout_ignores_students_copies_and_make_lab_uses_course_lab():
    assert "my-labs/" in (REPO / ".gitignore").read_text().splitlines()
    makefile = (REPO / "Makefile").read_text()
    assert "$(BIN)/course lab $(LAB_ARGS)" in makefile
    assert workspace.DEFAULT_DIR == "my-labs"


def test_instructor_mode_refuses_a_students_folder_and_a_non_course(course, capsys):
    assert main(["lab", "--root", str(course), "--instructor", "--dir", "x"]) == 2
    assert "drop --dir" in capsys.readouterr().err
    # `course` has labs/ but no nbgrader_config.py or solutions/: not a course to grade.
    assert main(["lab", "--root", str(course), "--instructor"]) == 1
    assert "is not a course checkout" in capsys.readouterr().err
