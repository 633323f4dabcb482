"""Fast checks of what happens before any student code runs: collect, read, rebuild, audit."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_utils import grading
from course_utils.grading import collect, intake
from course_utils.grading import grade as grader

REPO = Path(__file__).resolve().parents[1]
LAB = "lab04_rnn_forward"
SOURCE = REPO / "solutions" / LAB / f"{LAB}.ipynb"
RELEASE = REPO / "labs" / LAB / f"{LAB}.ipynb"


def solved_json() -> dict:
    return json.loads(json.dumps(grading.filled_notebook(RELEASE, SOURCE)))


def ids(nb) -> list[str]:
    return [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]


# -- collect ---------------------------------------------------------------------------------


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_collect_understands_canvas_moodle_and_nbgrader_layouts(tmp_path):
    course = grading.Course(root=REPO, work=tmp_path / "class")
    nb = RELEASE.read_bytes()
    upload = make_zip(
        tmp_path / "canvas.zip",
        {
            "smithjane_12345_67890_lab04_rnn_forward.ipynb": nb,
            "doejohn_late_22_33_lab04_rnn_forward-1.ipynb": nb,
            "Ada Lovelace_4711_assignsubmission_file_/lab04_rnn_forward.ipynb": nb,
            "bob/lab04_rnn_forward/lab04_rnn_forward.ipynb": nb,
            "carol/my work.ipynb": nb,
            "__MACOSX/carol/._my work.ipynb": b"junk",
            "../escape/lab04_rnn_forward.ipynb": nb,
            "carol/.ipynb_checkpoints/my work-checkpoint.ipynb": nb,
        },
    )
    result = collect.collect(course, LAB, upload)
    assert sorted(result.imported) == ["ada_lovelace_4711", "bob", "carol", "doejohn", "smithjane"]
    assert any("leaves the upload folder" in r for r in result.refused)
    for student in result.imported:
        assert (
            tmp_path / "class" / "submitted" / student / LAB / f"{LAB}.ipynb"
        ).read_bytes() == nb
    assert not (tmp_path / "escape").exists() and not (tmp_path / "class" / "escape").exists()


def test_collect_keeps_the_replaced_submission_and_skips_unchanged_ones(tmp_path):
    course = grading.Course(root=REPO, work=tmp_path / "class")
    folder = tmp_path / "upload" / "dana"
    folder.mkdir(parents=True)
    (folder / "lab.ipynb").write_bytes(RELEASE.read_bytes())
    assert collect.collect(course, LAB, tmp_path / "upload").imported == ["dana"]
    assert collect.collect(course, LAB, tmp_path / "upload").unchanged == ["dana"]
    (folder / "lab.ipynb").write_text(json.dumps(solved_json()))
    assert collect.collect(course, LAB, tmp_path / "upload").replaced == ["dana"]
    kept = list((tmp_path / "class" / ".course" / "replaced").rglob("*.ipynb"))
    assert len(kept) == 1 and kept[0].read_bytes() == RELEASE.read_bytes()


def test_collect_refuses_a_second_notebook_for_a_student_and_needs_a_student_group(tmp_path):
    course = grading.Course(root=REPO, work=tmp_path / "class")
    folder = tmp_path / "upload" / "erin"
    folder.mkdir(parents=True)
    (folder / "a.ipynb").write_text("{}")
    (folder / "b.ipynb").write_text("{}")
    result = collect.collect(course, LAB, tmp_path / "upload")
    assert result.imported == ["erin"] and "a second notebook for erin" in result.refused[0]
    with pytest.raises(grading.GradingError, match="student"):
        collect.collect(course, LAB, tmp_path / "upload", pattern=r"(\w+)\.ipynb")
    with pytest.raises(grading.GradingError, match="neither a folder nor a zip"):
        (tmp_path / "x.txt").write_text("x")
        collect.collect(course, LAB, tmp_path / "x.txt")


# -- reading ---------------------------------------------------------------------------------


def test_collect_never_follows_a_link_and_survives_fifos_and_devices(tmp_path):
    """A link to the solution, to a device or to another student's folder brings nothing in; a
    FIFO does not hang the collection; the honest students after them are still collected."""
    import os

    course = grading.Course(root=REPO, work=tmp_path / "class")
    upload = tmp_path / "upload"
    nb = RELEASE.read_bytes()
    for student in ("alice", "bob", "carol", "dave", "zoe"):
        (upload / student).mkdir(parents=True)
    (upload / "alice" / "lab.ipynb").write_bytes(nb)
    (upload / "bob" / "lab.ipynb").symlink_to(SOURCE)  # the instructor's solution
    (upload / "carol" / "lab.ipynb").symlink_to("/dev/zero")
    os.mkfifo(upload / "dave" / "lab.ipynb")
    (upload / "eve").symlink_to(upload / "alice", target_is_directory=True)
    (upload / "zoe" / "lab.ipynb").write_bytes(nb)
    result = collect.collect(course, LAB, upload)
    assert result.imported == ["alice", "zoe"], result.summary()
    refused = "\n".join(result.refused)
    assert "bob/lab.ipynb: a symbolic link" in refused
    assert "carol/lab.ipynb: a symbolic link" in refused
    assert "dave/lab.ipynb: not a regular file" in refused
    assert "eve: a symbolic link to a folder: not followed" in refused
    submitted = course.work / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["alice", "zoe"]
    assert not any(p.is_symlink() for p in submitted.rglob("*"))


def test_collect_refuses_zipped_links_and_damaged_entries_and_keeps_the_rest(tmp_path):
    import stat

    course = grading.Course(root=REPO, work=tmp_path / "class")
    nb = RELEASE.read_bytes()
    marker = b'{"damaged": "' + b"x" * 200 + b'"}'
    path = tmp_path / "upload.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("alice/lab.ipynb", nb)
        link = zipfile.ZipInfo("bob/lab.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/shadow")
        zf.writestr("carol/lab.ipynb", marker)
        zf.writestr("dave/lab.ipynb", nb)
    data = path.read_bytes()
    path.write_bytes(data.replace(marker, marker.replace(b"xxxx", b"yyyy", 1)))  # bad CRC
    result = collect.collect(course, LAB, path)
    assert result.imported == ["alice", "dave"], result.summary()
    refused = "\n".join(result.refused)
    assert "bob/lab.ipynb: a symbolic link" in refused
    assert "carol/lab.ipynb: the zip entry is damaged" in refused and "CRC" in refused
    assert not (course.work / "submitted" / "bob").exists()


def test_a_student_id_is_always_one_plain_folder_name():
    pattern = collect.re.compile(r"^(?P<student>[^/]+)\.ipynb$")
    assert collect.student_of("..ipynb", LAB, pattern) == "_"
    assert collect.student_of(".hidden.ipynb", LAB, pattern) == "_hidden"
    assert collect.student_of("a b/c.ipynb", LAB) == "a_b"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b'{"cells": [', "not valid JSON (line 1"),
        (b"[1, 2]", "not a Jupyter notebook"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_broken_files_are_explained(tmp_path, content, reason):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(content)
    data, why = intake.read_notebook(path)
    assert data is None and reason in why


def test_oversized_files_are_refused_with_advice(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_SUBMISSION_BYTES", 10)
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(solved_json()))
    data, why = intake.read_notebook(path)
    assert data is None and "Clear Outputs" in why


def test_a_misnamed_notebook_is_found_and_noted(tmp_path):
    folder = tmp_path / "submitted" / "fay" / LAB
    folder.mkdir(parents=True)
    (folder / "Untitled.ipynb").write_text("{}")
    (tmp_path / "submitted" / "gus" / LAB).mkdir(parents=True)
    found = {s.student: s for s in intake.find_submissions(tmp_path / "submitted", LAB)}
    assert (
        found["fay"].path.name == "Untitled.ipynb"
        and "named Untitled.ipynb" in found["fay"].notes[0]
    )
    assert found["gus"].path is None and "no notebook" in found["gus"].notes[0]


# -- rebuilding ------------------------------------------------------------------------------


def test_the_rebuilt_notebook_is_the_source_with_only_the_answers_replaced():
    prepared = intake.prepare(SOURCE, solved_json(), LAB)
    assert prepared.fatal is None and prepared.notes == [] and prepared.audit == []
    source = nbformat.read(SOURCE, as_version=4)
    trusted = [c for c in source.cells if intake.role(c) in {"test", "setup"}]
    rebuilt = {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in prepared.notebook.cells
        if c.metadata.get("nbgrader")
    }
    for cell in trusted:  # hidden tests included
        assert rebuilt[cell.metadata["nbgrader"]["grade_id"]].source == cell.source
    ids_ = [c.id for c in prepared.notebook.cells]
    assert len(ids_) == len(set(ids_))


def test_every_repair_is_noted():
    nb = solved_json()
    cells = nb["cells"]
    test = next(
        c
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_rnn_forward_shape"
    )
    test["source"] = "pass"
    test["metadata"]["nbgrader"]["points"] = 99
    nb["cells"] = [
        c
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade_id") != "test_rnn_forward_values"
    ]
    fwd = next(
        c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "rnn_forward"
    )
    nb["cells"].append(json.loads(json.dumps(fwd)))
    prepared = intake.prepare(SOURCE, nb, LAB)
    text = " | ".join(prepared.notes)
    for expected in [
        "test_rnn_forward_shape was edited",
        "points of test_rnn_forward_shape changed",
        "test_rnn_forward_values was missing",
        "rnn_forward appears 2 times",
    ]:
        assert expected in text, text
    assert "reordered" not in text  # a pasted copy at the end is not a reordering


def test_reordered_cells_are_graded_in_the_source_order():
    nb = solved_json()
    nb["cells"] = list(reversed(nb["cells"]))
    prepared = intake.prepare(SOURCE, nb, LAB)
    assert any("reordered" in n for n in prepared.notes)
    source = nbformat.read(SOURCE, as_version=4)
    want = [c.metadata["nbgrader"]["grade_id"] for c in source.cells if c.metadata.get("nbgrader")]
    got = [
        c.metadata["nbgrader"]["grade_id"]
        for c in prepared.notebook.cells
        if c.metadata.get("nbgrader")
    ]
    assert got == want


def test_a_notebook_of_another_lab_is_recognised():
    other = "lab05_lstm_gru"
    data = json.loads((REPO / "labs" / other / f"{other}.ipynb").read_text())
    others = {
        lab: {
            c["metadata"].get("nbgrader", {}).get("grade_id")
            for c in json.loads((REPO / "solutions" / lab / f"{lab}.ipynb").read_text())["cells"]
        }
        for lab in grading.list_labs(REPO)
    }
    prepared = intake.prepare(SOURCE, data, LAB, others)
    assert "lab05_lstm_gru" in prepared.fatal


def test_stub_of_matches_the_released_answer_cells():
    source = nbformat.read(SOURCE, as_version=4)
    release = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(RELEASE, as_version=4).cells
        if c.metadata.get("nbgrader")
    }
    for cell in source.cells:
        if intake.role(cell) == "answer":
            assert intake.stub_of(cell.source) == release[cell.metadata["nbgrader"]["grade_id"]]


@pytest.mark.parametrize(
    ("code", "flag"),
    [
        ("import numpy as np\nnp.allclose = lambda *a, **k: True", "patches a module"),
        ("import builtins\nbuiltins.len = len", "touches builtins"),
        ("class A:\n    def __eq__(self, o):\n        return True", "__eq__"),
        ("get_ipython().set_custom_exc((Exception,), print)", "get_ipython"),
        ("import os\nos.fork()", "forks"),
        ("import gc\ngc.get_objects()", "gc"),
        ("import subprocess", "subprocess"),
        ("def f(:\n", "does not parse"),
    ],
)
def test_the_audit_flags_code_worth_a_look(code, flag):
    assert any(flag in finding for finding in intake.audit(code)), intake.audit(code)


def test_the_audit_leaves_honest_answers_alone():
    for lab in grading.list_labs(REPO):
        source = nbformat.read(REPO / "solutions" / lab / f"{lab}.ipynb", as_version=4)
        code = "\n\n".join(c.source for c in source.cells if intake.role(c) == "answer")
        assert intake.audit(code) == [], (lab, intake.audit(code))


# -- refusing to grade unconfined ------------------------------------------------------------


def test_grading_refuses_when_the_sandbox_cannot_start(tmp_path, monkeypatch):
    course = grading.Course(root=REPO, work=tmp_path / "class")
    folder = tmp_path / "class" / "submitted" / "hal" / LAB
    folder.mkdir(parents=True)
    (folder / f"{LAB}.ipynb").write_text(json.dumps(solved_json()))
    failing = [
        sys.executable,
        "-c",
        "import sys; print('no namespaces', file=sys.stderr); sys.exit(70)",
    ]
    monkeypatch.setattr(grader.Sandbox, "wrap", lambda self, argv: failing)
    with pytest.raises(grading.GradingError, match="nothing was graded"):
        grader.grade(course, LAB, jobs=1, progress=False)
    assert not (tmp_path / "class" / "autograded").exists()


def test_the_grader_reads_nothing_from_the_scratch_folder_through_a_link_or_a_fifo(tmp_path):
    """The kernel's scratch folder is the student's to write: the grader's reads of its own
    reports there must not follow a link (to /dev/zero, to a forged report) or block on a FIFO."""
    import os

    from course_utils.grading.execute import executor

    (tmp_path / "zero.json").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "big.json").write_bytes(b" " * (2 << 20))
    (tmp_path / "report.json").write_text('{"changed": []}')
    for name, why in [("zero", "symbolic link"), ("fifo", "not a regular file"), ("big", "limit")]:
        with pytest.raises(OSError, match=why):
            executor._read_scratch(tmp_path / f"{name}.json")
    assert json.loads(executor._read_scratch(tmp_path / "report.json")) == {"changed": []}


@pytest.mark.skipif(sys.platform != "linux" or __import__("os").geteuid() != 0, reason="as root")
def test_a_class_in_a_private_folder_can_be_graded(tmp_path):
    """As root, kernels run as a spare uid, which may not enter a 0700 folder. The sandbox hides
    every top-level folder but the system's and mounts the kernel's own folder back in place
    below passable ones, so a class in a private folder grades all the same."""
    import shutil
    import tempfile

    private = Path(tempfile.mkdtemp(prefix="course-private-", dir="/var/tmp"))  # mode 0700
    try:
        course = grading.Course(root=REPO, work=private / "class")
        grader.preflight(course, LAB, grader.Limits())
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_a_folder_the_kernels_cannot_enter_is_named():
    """Where a kernel's folder is not hidden (below /usr, say), a folder on its way that others
    may not enter is named, so that the error can say what to change."""
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="course-blocked-", dir="/var/tmp"))  # not pytest's 0700
    try:
        base.chmod(0o755)
        locked = base / "locked"
        (locked / "class" / "run").mkdir(parents=True)
        locked.chmod(0o700)
        run = locked / "class" / "run"
        assert grader._blocked_folder([run], hide=[]) == locked
        assert grader._blocked_folder([run], hide=[str(locked)]) is None  # covered, mounted back
        locked.chmod(0o711)
        assert grader._blocked_folder([run], hide=[]) is None
    finally:
        shutil.rmtree(base, ignore_errors=True)
