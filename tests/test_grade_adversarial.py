"""``course grade`` against broken and hostile submissions of lab04 (15 points).

One class of submissions is graded once, in parallel, with tight limits; each test then checks
one student's score, the reason recorded for the instructor, and that nobody else was affected.

The attacks are bounded so that they cannot harm the machine even if a limit failed: the memory
attack stops at 5 GiB, the process attack at 400 sleeping processes that exit after 60 s.

lab04's tests: rnn_step_forward 4 points (shape 1, worked example 1, values 2), rnn_forward 6
(shape 1, values 3, Keras 2), sequence_cross_entropy 5 (small 1, batch 2, padding 2).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest

from course_utils import grading
from course_utils.grading import demo
from course_utils.grading import grade as grader
from course_utils.grading.execute import sandbox

REPO = Path(__file__).resolve().parents[1]
LAB = "lab04_rnn_forward"
RELEASE = REPO / "labs" / LAB / f"{LAB}.ipynb"
SOURCE = REPO / "solutions" / LAB / f"{LAB}.ipynb"
FULL, STEP, FORWARD, XENT = 15.0, 4.0, 6.0, 5.0
MISTAKE = demo.MISTAKES[LAB]  # rnn_forward restarts from h0: loses 5 of rnn_forward's 6 points
MISTAKE_SCORE = 10.0
# lab04's honest test cells take well under a second (TensorFlow is imported by the set-up cell,
# which has the start-up limit and is not charged to the notebook), so 10 s per cell leaves a
# wide margin on a loaded machine while runaway cells still cost little.
LIMITS = grader.Limits(
    cell_timeout=10,
    notebook_timeout=90,
    memory_bytes=3 << 30,
    max_processes=128,
    max_notebook_output_bytes=3 << 20,  # tight, so that floods_every_cell reaches it
    max_disk_bytes=256 << 20,
)

pytestmark = [pytest.mark.slow]


def sandboxed_processes(work: Path) -> list[str]:
    """Processes of the sandbox uids (61000 on) that belong to this class.

    Other tests (the browser tests' `course grade`) may grade at the same time, under other spare
    uids; a process is this class's when its working directory or arguments are in ``work``.
    """
    ps = subprocess.run(["ps", "-e", "-o", "pid=,uid=,args="], capture_output=True, text=True)
    mine = []
    for line in ps.stdout.splitlines():
        pid, uid = line.split()[:2]
        if not 61000 <= int(uid) < 61000 + sandbox.UID_RANGE:
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""  # gone meanwhile, or unreadable: judge by the arguments
        if str(work) in line or cwd.startswith(str(work)):
            mine.append(line)
    return mine


def solved() -> nbformat.NotebookNode:
    return grading.filled_notebook(RELEASE, SOURCE)


def answer(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_answer(grade_id: str, code: str, *, base=None, append=True) -> nbformat.NotebookNode:
    nb = base if base is not None else solved()
    cell = answer(nb, grade_id)
    cell.source = (cell.source + "\n\n" + code) if append else code
    return nb


def mistaken() -> nbformat.NotebookNode:
    return demo.with_mistake(solved(), MISTAKE)


# Right, but takes log(0) on padded steps before masking them: NumPy warns "divide by zero".
WARNING_XENT = """\
def sequence_cross_entropy(probs, targets):
    real = targets != -1
    picked = np.take_along_axis(probs, np.where(real, targets, 0)[..., None], axis=-1)[..., 0]
    logs = np.log(np.where(real, picked, 0.0))
    return float(-np.where(real, logs, 0.0).sum() / probs.shape[0])
"""
STUB_FORWARD = "def rnn_forward(x, h0, Wx, Wh, b):\n    raise NotImplementedError()\n"


CALLER_SOURCE = """
import inspect as _inspect
_rnn_forward = rnn_forward

def rnn_forward(*args, **kwargs):
    caller = _inspect.currentframe().f_back
    try:
        source = ''.join(_inspect.findsource(caller)[0])
    except Exception as exc:
        source = ''.join(__import__('linecache').getlines(caller.f_code.co_filename)) or repr(exc)
    {how}(source)
    return _rnn_forward(*args, **kwargs)
"""
INJECT_HTML = """
from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML('<b>bold</b><script>window.PWNED_HTML = 1</script>'
             '<img src="x" onerror="window.PWNED_IMG = 1">'))
display(Javascript('window.PWNED_JS = 1'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>window.PWNED_SVG = 1</script></svg>'))
display(Markdown('<script>window.PWNED_MD = 1</script>'))
"""


def build_class(work: Path, listener_port: int) -> dict[str, object]:
    """Write every submission; return student -> notebook (or raw bytes for broken files)."""
    subs: dict[str, object] = {}
    subs["honest"] = solved()
    subs["honest_mistake"] = mistaken()

    # What reaches stderr: a warning never fails a test, a print to stderr does (as in nbgrader)
    subs["warns"] = with_answer("sequence_cross_entropy", WARNING_XENT, append=False)
    subs["prints_to_stderr"] = with_answer(
        "sequence_cross_entropy",
        "import sys\n\n_xent = sequence_cross_entropy\n\n"
        "def sequence_cross_entropy(probs, targets):\n"
        "    print('debug: computing the loss', file=sys.stderr)\n"
        "    return _xent(probs, targets)\n",
    )

    # Runaway code
    subs["infinite_loop"] = with_answer(
        "rnn_forward", "def rnn_forward(x, h0, Wx, Wh, b):\n    while True:\n        pass\n"
    )
    subs["stubborn_loop"] = with_answer(
        "rnn_forward",
        "def rnn_forward(x, h0, Wx, Wh, b):\n    while True:\n        try:\n"
        "            while True:\n                pass\n        except KeyboardInterrupt:\n"
        "            continue\n",
    )
    subs["sleeps"] = with_answer(
        "rnn_forward", "import time\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n    time.sleep(10**6)\n"
    )
    subs["memory_hog"] = with_answer(
        "rnn_forward",
        "def rnn_forward(x, h0, Wx, Wh, b):\n    blocks = []\n    for _ in range(20):  # 5 GiB\n"
        "        blocks.append(bytearray(256 << 20))\n    return blocks\n",
    )
    subs["fork_bomb"] = with_answer(
        "rnn_forward",
        "import os, time\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n    for _ in range(400):\n"
        "        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\n",
    )
    # Limits per submission, not per process: four children of 1 GiB each (each under the 3 GiB
    # per process) and 1 GiB written to the scratch folder in files of 64 MB
    subs["memory_in_children"] = with_answer(
        "rnn_forward",
        "import os, time\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n    children = []\n"
        "    for _ in range(4):\n        pid = os.fork()\n        if pid == 0:\n"
        "            block = b'x' * (1 << 30)  # touched: resident, not just reserved\n"
        "            time.sleep(3)  # all four hold theirs at once\n"
        "            os._exit(0 if block else 1)\n        children.append(pid)\n"
        "    done = sum(os.waitpid(p, 0)[1] == 0 for p in children)\n"
        "    print(f'children that held 1 GiB: {done} of 4')\n",
        base=mistaken(),
    )
    subs["fills_the_disk"] = with_answer(
        "rnn_forward",
        "import os\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n    written = 0\n"
        "    try:\n        for i in range(16):\n"
        "            with open(f'filler-{i}', 'wb') as fh:\n"
        "                fh.write(b'x' * (64 << 20))\n            written += 64\n"
        "    except OSError as exc:\n        print(f'stopped: {exc.strerror}')\n"
        "    print(f'wrote {written} MB')\n",
        base=mistaken(),
    )
    subs["os_exit"] = with_answer("rnn_forward", "import os\nos._exit(0)")
    subs["sys_exit"] = with_answer("rnn_forward", "import sys\nsys.exit()")
    subs["segfault_late"] = with_answer(
        "sequence_cross_entropy", "import ctypes\nctypes.string_at(0)"
    )

    # Tampering with the notebook's structure
    nb = mistaken()
    cell = answer(nb, "test_rnn_forward_values")
    cell.source = "pass"
    subs["edited_test"] = nb
    nb = mistaken()
    nb.cells = [
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id")
        not in {"test_rnn_forward_values", "test_rnn_forward_matches_keras"}
    ]
    subs["deleted_tests"] = nb
    nb = solved()
    answer(nb, "test_rnn_step_forward_shape").metadata["nbgrader"]["points"] = 100
    subs["changed_points"] = nb
    nb = mistaken()
    right = copy.deepcopy(answer(solved(), "rnn_forward"))
    wrong = answer(nb, "rnn_forward")
    nb.cells.insert(nb.cells.index(wrong), right)  # a correct copy first, the wrong one last
    subs["duplicated_answer"] = nb
    nb = solved()
    fwd = answer(nb, "rnn_forward")
    dup = copy.deepcopy(fwd)  # same cell id and grade_id, pasted again below: the last one wins
    nb.cells.insert(nb.cells.index(fwd) + 1, dup)
    subs["duplicated_cell_ids"] = nb
    nb = solved()
    nb.cells = list(reversed(nb.cells))
    subs["reordered"] = nb

    # Monkey-patching so that tests pass falsely (each on top of the honest mistake)
    subs["patch_numpy"] = with_answer(
        "rnn_forward",
        "np.allclose = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "np.array_equal = lambda *a, **k: True",
        base=mistaken(),
    )
    subs["patch_helpers"] = with_answer(
        "rnn_forward",
        "import course_utils.checks\n"
        "check_close = lambda *a, **k: None\n"
        "course_utils.checks.check_close = lambda *a, **k: None\n"
        "course_utils.checks.check_array = lambda got, *a, **k: got",
        base=mistaken(),
    )
    subs["patch_builtins"] = with_answer(
        "rnn_forward",
        "import builtins\n"
        "builtins.all = lambda iterable: True\n"
        "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n"
        "get_ipython().showtraceback = lambda *a, **k: None",
        base=mistaken(),
    )
    subs["patch_during_test"] = with_answer(
        "rnn_forward",
        "_wrong = rnn_forward\n\n"
        "def rnn_forward(x, h0, Wx, Wh, b):\n"
        "    np.allclose = lambda *a, **k: True\n"
        "    np.testing.assert_allclose = lambda *a, **k: None\n"
        "    return _wrong(x, h0, Wx, Wh, b)\n",
        base=mistaken(),
    )
    subs["forged_eq"] = with_answer(
        "rnn_forward",
        "class Anything(np.ndarray):\n"
        "    def __eq__(self, other):\n        return True\n"
        "    def __array_ufunc__(self, *a, **k):\n        return True\n\n"
        "_wrong = rnn_forward\n\n"
        "def rnn_forward(x, h0, Wx, Wh, b):\n"
        "    return _wrong(x, h0, Wx, Wh, b).view(Anything)\n",
        base=mistaken(),
    )

    # Attacks on trusted code that run during a test without rebinding anything. The tests run
    # in the grader (course_utils.grading.execute.judge), so none of these reaches them.
    subs["patch_code_in_place"] = with_answer(
        "rnn_forward",
        "import course_utils.checks as _checks\n"
        "_checks.check_close.__code__ = (lambda *a, **k: None).__code__\n"
        "_checks.check_array.__code__ = (lambda got, *a, **k: got).__code__\n"
        "np.allclose.__kwdefaults__ = None\n"
        "get_ipython().compile = None\n",
        base=mistaken(),
    )
    subs["reads_the_tests_frames"] = with_answer(
        "rnn_forward",
        "import sys, gc\n_wrong = rnn_forward\n\n"
        "def rnn_forward(x, h0, Wx, Wh, b):\n"
        "    frame = sys._getframe(1)\n"
        "    while frame is not None:  # the test's expected values, if its frame were here\n"
        "        for name in ('expected', 'reference', 'want'):\n"
        "            if name in frame.f_locals and not callable(frame.f_locals[name]):\n"
        "                return frame.f_locals[name]\n"
        "        frame = frame.f_back\n"
        "    for obj in gc.get_objects():  # or anywhere else in the process\n"
        "        if isinstance(obj, dict) and isinstance(obj.get('expected'), np.ndarray):\n"
        "            return obj['expected']\n"
        "    return _wrong(x, h0, Wx, Wh, b)\n",
        base=mistaken(),
    )
    subs["traces_and_times"] = with_answer(
        "rnn_forward",
        "import sys, signal, threading\n\n"
        "def _tracer(frame, event, arg):  # patches every check while a test runs\n"
        "    g = frame.f_globals\n"
        "    for name in ('check_close', 'check_array'):\n"
        "        if name in g:\n"
        "            g[name] = lambda *a, **k: a[0] if a else None\n"
        "    return None\n\n"
        "sys.settrace(_tracer)\nsys.setprofile(_tracer)\nthreading.settrace(_tracer)\n"
        "signal.signal(signal.SIGALRM, lambda *a: _tracer(sys._getframe(1), 'call', None))\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)\n",
        base=mistaken(),
    )
    # Attacks on the channel that carries the calls: the kernel answers for the student anyway,
    # so what it says is only ever taken as the student's answer to that call
    subs["replies_ok_without_running"] = with_answer(
        "rnn_forward",
        "_kernel = get_ipython().kernel\n_run = _kernel.shell_handlers['execute_request']\n\n"
        "async def _forged(stream, ident, parent):\n"
        "    code = parent['content'].get('code', '')\n"
        "    if 'answer_server' in code or 'integrity' in code:  # the grader's cells: say ok\n"
        "        _kernel.session.send(stream, 'execute_reply', {'status': 'ok',\n"
        "            'execution_count': 1, 'user_expressions': {}, 'payload': []},\n"
        "            parent, ident=ident)\n"
        "        return\n"
        "    return await _run(stream, ident, parent)\n\n"
        "_kernel.shell_handlers['execute_request'] = _forged\n",
        base=mistaken(),
    )
    subs["floods_the_channel"] = with_answer(
        "rnn_forward",
        "import glob, socket, struct, threading, time\n\n"
        "def _flood():\n"
        "    while True:\n"
        "        for path in glob.glob('calls-*.sock'):\n"
        "            try:\n"
        "                s = socket.socket(socket.AF_UNIX)\n"
        "                s.connect(path)\n"
        '                body = b\'{"value": 1, "~": "nd"}\'\n'
        "                s.sendall(struct.pack('>Q', len(body)) + body + b'x' * 1000)\n"
        "            except OSError:\n"
        "                pass\n"
        "        time.sleep(0.001)\n\n"
        "threading.Thread(target=_flood, daemon=True).start()\n",
        base=mistaken(),
    )
    subs["unreadable_answers"] = with_answer(
        "rnn_forward",
        "def rnn_forward(x, h0, Wx, Wh, b):\n"
        "    deep = []\n    for _ in range(100000):\n        deep = [deep]\n"
        "    return deep\n\n",
    )
    with_answer(
        "sequence_cross_entropy",
        "_xent = sequence_cross_entropy\n\n"
        "def sequence_cross_entropy(probs, targets):\n"
        "    if probs.shape[0] == 8:  # one test's batch: an answer over the size limit\n"
        "        return np.zeros(10 << 20)  # 80 MB\n"
        "    return _xent(probs, targets)\n",
        base=subs["unreadable_answers"],
    )

    # Reaching outside the sandbox
    steal = (
        "import json, pathlib\n"
        f"src = json.loads(pathlib.Path({str(SOURCE)!r}).read_text())\n"
        "code = next(''.join(c['source']) for c in src['cells']\n"
        "            if c['metadata'].get('nbgrader', {}).get('grade_id') == 'rnn_forward')\n"
        "exec(code.replace('### BEGIN SOLUTION', '').replace('### END SOLUTION', ''))\n"
    )
    subs["reads_solutions"] = with_answer("rnn_forward", steal, base=solved(), append=False)
    # Another term's class on the same disk, outside this class's folder and the course: here a
    # world-readable copy of the solutions, as a past term's release folder might hold
    other_term = Path(f"{work}.other-term")
    other_term.mkdir(mode=0o755)
    shutil.copy2(SOURCE, other_term / f"{LAB}.ipynb")
    (other_term / f"{LAB}.ipynb").chmod(0o644)
    subs["reads_other_term"] = with_answer(
        "rnn_forward",
        steal.replace(repr(str(SOURCE)), repr(str(other_term / f"{LAB}.ipynb"))),
        base=solved(),
        append=False,
    )
    victim = work / "submitted" / "honest" / LAB / f"{LAB}.ipynb"
    targets = [victim, work / "gradebook.db", work / "autograded" / "x.txt"]
    targets.append(REPO / "course_utils" / "checks.py")
    subs["writes_elsewhere"] = with_answer(
        "rnn_forward",
        "import sqlite3, pathlib\n"
        f"for target in {[str(t) for t in targets]!r}:\n"
        "    try:\n        pathlib.Path(target).write_text('{}')\n"
        "    except OSError:\n        pass\n"
        "try:\n"
        f"    db = sqlite3.connect({str(work / 'gradebook.db')!r})\n"
        "    db.execute('UPDATE grade SET auto_score = 100')\n    db.commit()\n"
        "except sqlite3.Error:\n    pass\n",
    )
    subs["uses_network"] = with_answer(
        "rnn_forward",
        "import socket\ntry:\n"
        f"    socket.create_connection(('127.0.0.1', {listener_port}), timeout=2).sendall(b'x')\n"
        "except OSError:\n    pass\n",
    )

    # Leaking hidden tests into the feedback, and scripts into feedback pages and Formgrader
    subs["prints_history"] = with_answer("sequence_cross_entropy", "print(In)")
    subs["prints_caller_source"] = with_answer("rnn_forward", CALLER_SOURCE.format(how="print"))
    subs["raises_caller_source"] = with_answer(
        "rnn_forward", CALLER_SOURCE.format(how="raise ValueError")
    )
    subs["injects_html"] = with_answer("rnn_step_forward", INJECT_HTML)

    # Broken files
    subs["invalid_json"] = b'{"cells": [ {"cell_type": "code", "source": '
    subs["empty_file"] = b""
    other = REPO / "labs" / "lab05_lstm_gru" / "lab05_lstm_gru.ipynb"
    subs["other_lab"] = grading.filled_notebook(
        other, REPO / "solutions" / "lab05_lstm_gru" / "lab05_lstm_gru.ipynb"
    )
    nb = solved()
    big = "x" * (1 << 20)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=big)] * 3
    subs["huge_saved_outputs"] = nb
    subs["prints_a_flood"] = with_answer(
        "rnn_step_forward", "for _ in range(200):\n    print('spam ' * 20000)"
    )
    # Under 1 MB per call, on every call of rnn_step_forward or rnn_forward (LIMITS allows 3 MB
    # per notebook; the default is 8 MB)
    subs["floods_every_cell"] = with_answer(
        "rnn_step_forward",
        "_quiet_step = rnn_step_forward\n\n"
        "def rnn_step_forward(*args):\n"
        "    print('spam ' * 180000)\n"
        "    return _quiet_step(*args)\n",
    )

    for student, nb in subs.items():
        folder = work / "submitted" / student / LAB
        folder.mkdir(parents=True, exist_ok=True)
        name = "lab04 (1).ipynb" if student == "wrong_name" else f"{LAB}.ipynb"
        # Written as raw JSON, as a browser would: nbformat.write would refuse duplicate ids.
        data = nb if isinstance(nb, bytes) else json.dumps(nb, indent=1).encode()
        (folder / name).write_bytes(data)
    folder = work / "submitted" / "wrong_name" / LAB
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(solved(), folder / "lab04_rnn_forward (1).ipynb")
    subs["wrong_name"] = None
    # In submitted/: a notebook that is a link (to the solution), a FIFO, a student folder that
    # is a link to another student's, and a student called "lock" (once the name of the grader's
    # own lock file)
    submitted = work / "submitted"
    for student in ("lock", "linked", "fifo"):
        (submitted / student / LAB).mkdir(parents=True)
    nbformat.write(solved(), submitted / "lock" / LAB / f"{LAB}.ipynb")
    (submitted / "linked" / LAB / f"{LAB}.ipynb").symlink_to(SOURCE)
    os.mkfifo(submitted / "fifo" / LAB / f"{LAB}.ipynb")
    (submitted / "copycat").symlink_to(submitted / "lock", target_is_directory=True)
    subs.update(lock=None, linked=None, fifo=None, copycat=None)
    return subs


@pytest.fixture(scope="module")
def graded():
    # Not under /tmp: the sandbox has a /tmp of its own, so paths there would prove nothing.
    work = Path(tempfile.mkdtemp(prefix="course-grade-test-", dir="/var/tmp"))
    course = grading.Course(root=REPO, work=work)
    hits: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                hits.append(conn.recv(10))
            except OSError:
                continue

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    students = build_class(work, server.getsockname()[1])
    before = {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in [REPO / "course_utils" / "checks.py", SOURCE, RELEASE]
    }
    honest_file = work / "submitted" / "honest" / LAB / f"{LAB}.ipynb"
    honest_bytes = honest_file.read_bytes()
    rows = grader.grade(course, LAB, jobs=2, limits=LIMITS, progress=False)
    stop.set()
    thread.join()
    server.close()
    leftovers = "\n".join(sandboxed_processes(work))
    yield {
        "course": course,
        "work": work,
        "rows": {r.student: r for r in rows},
        "students": students,
        "hits": hits,
        "before": before,
        "honest": (honest_file, honest_bytes),
        "leftovers": leftovers,
    }
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(f"{work}.other-term", ignore_errors=True)


def row(graded, student):
    return graded["rows"][student]


def notes(graded, student) -> str:
    r = row(graded, student)
    return " | ".join(r.notes + r.audit)


def test_every_submission_got_a_row_and_honest_work_full_marks(graded):
    assert set(graded["rows"]) == set(graded["students"])
    assert row(graded, "honest").score == FULL
    assert row(graded, "honest_mistake").score == MISTAKE_SCORE
    assert not row(graded, "honest").notes and not row(graded, "honest").audit


def test_the_gradebook_holds_the_same_scores(graded):
    got = {s.student: s.score for s in grading.scores(graded["course"])}
    assert got == {s: r.score for s, r in graded["rows"].items()}


def test_a_warning_never_fails_a_test_but_a_print_to_stderr_does(graded):
    warns = row(graded, "warns")
    assert warns.score == FULL, (warns.score, warns.tests)
    out = (graded["work"] / "autograded" / "warns" / LAB / f"{LAB}.ipynb").read_text()
    assert "divide by zero encountered in log" in out  # shown to the student, as output
    loud = row(graded, "prints_to_stderr")
    assert loud.score == STEP + FORWARD, (loud.score, loud.tests)
    message = loud.tests["test_sequence_cross_entropy_small"]["message"]
    assert "stderr" in message and "debug: computing the loss" in message, message


@pytest.mark.parametrize(
    ("student", "score", "reason"),
    [
        ("infinite_loop", STEP + XENT, "time limit"),
        ("sleeps", STEP + XENT, "time limit"),
        ("stubborn_loop", STEP, "ignored the interrupt"),
        ("memory_hog", STEP + XENT, ""),
        # The forked processes (alive for 60 s) use up the kernel's own process budget, so
        # fork fails (EAGAIN) in each rnn_forward test. TensorFlow's threads were started by
        # the set-up cell, so the kernel survives and the later tests still count.
        ("fork_bomb", STEP + XENT, "Resource temporarily unavailable"),
        ("os_exit", STEP, "kernel died"),
        ("segfault_late", STEP + FORWARD, "kernel died"),
    ],
)
def test_runaway_code_is_stopped_and_earlier_work_still_counts(graded, student, score, reason):
    r = row(graded, student)
    assert r.score == score, (r.score, r.tests, r.notes)
    assert r.status == "graded"
    if reason:
        assert reason in notes(graded, student) or any(
            reason in t["message"] for t in r.tests.values()
        ), r.notes


def test_memory_and_process_limits_name_themselves(graded):
    mem = row(graded, "memory_hog").tests["test_rnn_forward_shape"]["message"]
    assert "MemoryError" in mem
    fork = row(graded, "fork_bomb").tests["test_rnn_forward_shape"]["message"]
    assert "Resource temporarily unavailable" in fork or "BlockingIOError" in fork, fork


def printed(graded, student: str) -> str:
    nb = nbformat.read(graded["work"] / "autograded" / student / LAB / f"{LAB}.ipynb", 4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.skipif(not sandbox._cgroup_homes(), reason="no cgroups can be made here")
def test_memory_is_capped_per_submission_not_per_process(graded):
    """Each child stays under the 3 GiB per process, but four of them at 1 GiB would not fit
    the submission's 3 GiB: the cgroup stops at least one."""
    text = printed(graded, "memory_in_children")
    found = re.findall(r"children that held 1 GiB: (\d) of 4", text)
    assert found and all(int(n) < 4 for n in found), text[-2000:]
    state = grader.state_dir(graded["course"], LAB)
    made = [
        folder
        for result in state.glob("*/result.json")
        for folder in (json.loads(result.read_text()).get("sandbox") or {}).get("cgroups", [])
    ]
    assert made and not [folder for folder in made if os.path.exists(folder)]


@pytest.mark.skipif(os.geteuid() != 0, reason="the scratch folder is capped as root only")
def test_the_scratch_folder_holds_at_most_its_cap_and_nothing_stays(graded):
    text = printed(graded, "fills_the_disk")
    found = [int(n) for n in re.findall(r"wrote (\d+) MB", text)]
    assert found and max(found) <= LIMITS.max_disk_bytes >> 20, text[-2000:]
    assert "No space left on device" in text
    run = graded["work"] / ".course" / "grade" / LAB / "fills_the_disk" / "run"
    assert not list(run.glob("filler-*"))


def test_no_sandboxed_process_outlives_the_run(graded):
    assert graded["leftovers"].strip() == ""


def test_sys_exit_in_an_answer_cell_costs_nothing(graded):
    assert row(graded, "sys_exit").score == FULL


@pytest.mark.parametrize(
    ("student", "score", "note"),
    [
        ("edited_test", MISTAKE_SCORE, "test_rnn_forward_values was edited"),
        ("deleted_tests", MISTAKE_SCORE, "test_rnn_forward_values was missing"),
        ("changed_points", FULL, "points of test_rnn_step_forward_shape changed"),
        ("duplicated_answer", MISTAKE_SCORE, "rnn_forward appears 2 times"),
        ("duplicated_cell_ids", FULL, "rnn_forward appears 2 times"),
        ("reordered", FULL, "reordered"),
        ("wrong_name", FULL, "named lab04_rnn_forward (1).ipynb"),
        ("huge_saved_outputs", FULL, ""),
    ],
)
def test_tampered_structure_is_repaired_and_noted(graded, student, score, note):
    r = row(graded, student)
    assert r.score == score, (r.score, r.tests, r.notes)
    assert r.max_score == FULL
    assert note in notes(graded, student)


@pytest.mark.parametrize(
    "student",
    ["patch_numpy", "patch_helpers", "patch_builtins", "patch_during_test", "forged_eq"],
)
def test_monkey_patching_earns_nothing_and_is_flagged(graded, student):
    r = row(graded, student)
    assert r.score <= MISTAKE_SCORE, (r.score, r.tests, r.notes)
    assert r.tests["test_rnn_forward_values"]["score"] == 0
    assert r.audit, "the suspicious code should be flagged for review"


def test_patching_is_reported_to_the_instructor(graded):
    assert "numpy.allclose" in notes(graded, "patch_numpy")
    assert "check_close" in notes(graded, "patch_helpers")
    assert "set_custom_exc" in notes(graded, "patch_builtins")
    assert "builtins.all" in notes(graded, "patch_builtins")
    # The tests run in the grader, so the patches change no verdict: the failure names the mistake
    forward = row(graded, "patch_during_test").tests["test_rnn_forward_values"]["message"]
    assert "Likely mistake: the state is not carried" in forward, forward
    assert "numpy.allclose" in notes(graded, "patch_during_test")


@pytest.mark.parametrize(
    "student",
    [
        "patch_code_in_place",
        "reads_the_tests_frames",
        "traces_and_times",
        "replies_ok_without_running",
        "floods_the_channel",
    ],
)
def test_attacks_on_the_tests_or_on_their_channel_earn_nothing(graded, student):
    """Changing trusted code in place, looking for the expected values in the callers' frames
    or anywhere in the process, tracing and timers, a kernel that says "ok" to the grader's own
    requests without running them, and junk sent to the sockets the calls use: the tests run
    in the grader, so each of these at most fails its own tests."""
    r = row(graded, student)
    assert r.status == "graded"
    assert r.score <= MISTAKE_SCORE, (r.score, r.tests, r.notes)
    assert r.tests["test_rnn_forward_values"]["score"] == 0, r.tests


def test_answers_the_grader_cannot_read_fail_only_their_own_tests(graded):
    """A result nested 100,000 deep, and one over the size limit for a call (80 MB against
    64 MB), cost the tests that got them, with a reason; the other tests still count."""
    r = row(graded, "unreadable_answers")
    assert r.score == STEP + XENT - 2, (r.score, r.tests)
    deep = r.tests["test_rnn_forward_values"]["message"]
    assert "could not be sent to the grader" in deep, deep
    big = r.tests["test_sequence_cross_entropy_batch"]["message"]
    assert "more than the limit" in big, big


def test_solutions_cannot_be_read(graded):
    r = row(graded, "reads_solutions")
    assert r.score == STEP + XENT, (r.score, r.notes)


def test_another_terms_class_folder_cannot_be_read(graded):
    """Not below the course or this class's folder: hidden because every top-level folder but
    the system's is (see grader.SYSTEM_DIRS)."""
    r = row(graded, "reads_other_term")
    assert r.score == STEP + XENT, (r.score, r.notes)


def test_nothing_outside_the_sandbox_was_written(graded):
    for path, digest in graded["before"].items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
    honest_file, honest_bytes = graded["honest"]
    assert honest_file.read_bytes() == honest_bytes
    assert not (graded["work"] / "autograded" / "x.txt").exists()
    assert row(graded, "writes_elsewhere").score == FULL
    assert row(graded, "honest").score == FULL


def test_the_network_is_unreachable(graded):
    assert graded["hits"] == []
    assert row(graded, "uses_network").score == FULL


@pytest.mark.parametrize(
    ("student", "reason"),
    [
        ("invalid_json", "not valid JSON"),
        ("empty_file", "empty"),
        ("other_lab", "lab05_lstm_gru"),
    ],
)
def test_unreadable_submissions_score_zero_with_a_reason(graded, student, reason):
    r = row(graded, student)
    assert (r.score, r.status) == (0.0, "unreadable")
    assert reason in notes(graded, student)


def test_output_floods_are_cut_off(graded):
    r = row(graded, "prints_a_flood")
    assert r.score == FULL
    nb = graded["work"] / "autograded" / "prints_a_flood" / LAB / f"{LAB}.ipynb"
    assert nb.stat().st_size < 8 << 20
    assert "output cut off" in nb.read_text()


def test_a_notebook_full_of_just_under_the_limit_outputs_is_cut_off_too(graded):
    r = row(graded, "floods_every_cell")
    assert r.score == FULL, (r.tests, r.notes)
    nb = graded["work"] / "autograded" / "floods_every_cell" / LAB / f"{LAB}.ipynb"
    assert nb.stat().st_size < 5 << 20
    assert "output cut off after 3145728 bytes in the whole notebook" in nb.read_text()


def test_feedback_shows_failures_but_never_hidden_test_source(graded):
    hidden = hidden_test_lines()
    assert hidden
    feedback = graded["work"] / "feedback" / "honest_mistake" / LAB / f"{LAB}.html"
    import html

    text = html.unescape(feedback.read_text())
    assert not [line for line in hidden if line in text]
    assert "rnn_forward has wrong values" in text or "Likely mistake" in text


def hidden_test_lines() -> set[str]:
    """Lines of lab04's hidden tests that are long and appear nowhere in the student version."""
    hidden = set()
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        for block in re.findall(
            r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S
        ):
            hidden.update(line.strip() for line in block.splitlines() if len(line.strip()) > 30)
    visible = RELEASE.read_text()
    return {line for line in hidden if json.dumps(line)[1:-1] not in visible}


@pytest.mark.parametrize(
    "student", ["prints_history", "prints_caller_source", "raises_caller_source"]
)
def test_printing_history_or_the_callers_source_never_shows_a_hidden_test(graded, student):
    """The hidden tests never enter the student's kernel (they run in the grader), so neither
    ``In`` nor the caller's frame holds them: no output has them, the feedback neither."""
    import html

    hidden = hidden_test_lines()
    assert hidden
    autograded = nbformat.read(graded["work"] / "autograded" / student / LAB / f"{LAB}.ipynb", 4)
    outputs = json.dumps([c.get("outputs", []) for c in autograded.cells])
    assert not [line for line in hidden if json.dumps(line)[1:-1] in outputs]
    if student == "prints_caller_source":  # the caller it did see: the kernel's side of a call
        assert "def handle(namespace" in outputs
    page = graded["work"] / "feedback" / student / LAB / f"{LAB}.html"
    text = html.unescape(page.read_text())
    assert not [line for line in hidden if line in text]


def test_no_student_script_reaches_formgrader_or_the_feedback(graded):
    r = row(graded, "injects_html")
    assert r.score == FULL, (r.score, r.notes)
    autograded = graded["work"] / "autograded" / "injects_html" / LAB / f"{LAB}.ipynb"
    page = graded["work"] / "feedback" / "injects_html" / LAB / f"{LAB}.html"
    outputs = json.dumps([c.get("outputs", []) for c in nbformat.read(autograded, 4).cells])
    for text in (outputs, page.read_text()):
        assert "PWNED" in text  # shown as harmless text at most
        # The answer's source is shown (highlighted, escaped); no tag may carry the payload.
        assert not re.search(r"<script[^>]*>[^<]*PWNED|<img[^>]*onerror|<svg", text)
    assert "application/javascript" not in outputs


def test_regrading_is_idempotent_and_resumable(graded):
    course = graded["course"]
    first = {s: r.score for s, r in graded["rows"].items()}
    again = grader.grade(course, LAB, jobs=2, limits=LIMITS, progress=False, feedback=False)
    assert {r.status for r in again} == {"unchanged"}
    assert {r.student: r.score for r in again} == first
    # An interrupted run: one student's grading never got recorded.
    (grader.state_dir(course, LAB, "honest_mistake") / "recorded.json").unlink()
    # A resubmission: the student fixed the mistake.
    nbformat.write(solved(), graded["work"] / "submitted" / "sys_exit" / LAB / f"{LAB}.ipynb")
    third = {
        r.student: r
        for r in grader.grade(course, LAB, jobs=2, limits=LIMITS, progress=False, feedback=False)
    }
    regraded = {s for s, r in third.items() if r.status != "unchanged"}
    assert regraded == {"honest_mistake", "sys_exit"}
    assert third["honest_mistake"].score == MISTAKE_SCORE
    scores = grading.scores(course)
    assert len(scores) == len(first)  # nothing counted twice
    assert {s.student: s.score for s in scores} == {s: r.score for s, r in third.items()}


def test_summary_and_export_for_the_instructor(graded, capsys):
    from course_utils import cli

    text = grader.summary(LAB, list(graded["rows"].values()))
    assert "median score:" in text and "failures by test:" in text
    assert "code to review" in text and "patch_numpy" in text
    out = graded["work"] / "grades.csv"
    root, work = str(REPO), str(graded["work"])
    assert cli.main(["export", "--root", root, "--work", work, "--to", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("assignment,") and len(lines) == 1 + len(graded["rows"])
    report = (graded["work"] / "reports" / f"{LAB}.csv").read_text()
    assert "invalid_json" in report and "not valid JSON" in report


def test_links_fifos_and_odd_student_names_cost_their_owner_only(graded):
    """Nothing hangs or crashes: the links and the FIFO score 0 with a reason, the honest "lock"
    gets full marks (and the regrading test finds it recorded)."""
    lock = row(graded, "lock")
    assert (lock.status, lock.score) == ("graded", FULL), lock.notes
    for student, why in [
        ("linked", "symbolic link"),
        ("fifo", "not a regular file"),
        ("copycat", "symbolic link"),
    ]:
        r = row(graded, student)
        assert r.score == 0, (student, r)
        assert any(why in n for n in r.notes), (student, r.notes)
