"""``course demo``: grade made-up submissions of every lab, end to end, with no data download.

For each lab three students submit: one with the full solution, one who handed in the untouched
student version, and one who made a realistic mistake (from ``MISTAKES``). The demo releases the
labs, autogrades, writes feedback and prints the score table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import course as grading


@dataclass(frozen=True)
class Mistake:
    """A realistic error: in answer cell ``grade_id``, ``old`` becomes ``new``."""

    grade_id: str
    old: str
    new: str
    description: str


MISTAKES: dict[str, Mistake] = {
    "lab04_rnn_forward": Mistake(
        grade_id="rnn_forward",
        old="h = rnn_step_forward(x[:, t, :], h, Wx, Wh, b)",
        new="h = rnn_step_forward(x[:, t, :], h0, Wx, Wh, b)",
        description="rnn_forward does not carry the state: every step starts again from h0",
    ),
    "lab04b_rnn_backward": Mistake(
        grade_id="rnn_step_backward",
        old="dz = dh_t * (1 - h_t**2)",
        new="dz = dh_t",
        description="rnn_step_backward forgets the derivative of tanh: dz = dh_t instead of "
        "dh_t * (1 - h_t**2)",
    ),
    "lab01_text_encoding": Mistake(
        grade_id="build_vocabulary",
        old="ordered = sorted(counts, key=lambda word: (-counts[word], word))",
        new="ordered = [word for word, _ in counts.most_common()]",
        description="build_vocabulary leaves frequency ties in first-seen order "
        "(Counter.most_common)",
    ),
    "lab02_embeddings": Mistake(
        grade_id="build_embedding_matrix",
        old="matrix[i] = embeddings[word]",
        new="matrix[i - 1] = embeddings[word]",
        description="build_embedding_matrix is off by one: the word with index i goes to row i - 1",
    ),
    "lab05_lstm_gru": Mistake(
        grade_id="lstm_forward",
        old="h, c = lstm_step_forward(x[:, t, :], h, c, Wx, Wh, b)",
        new="h, c = lstm_step_forward(x[:, t, :], h, c0, Wx, Wh, b)",
        description="lstm_forward does not carry the cell state: every step starts again from c0",
    ),
    "lab07_text_generation": Mistake(
        grade_id="make_char_windows",
        old="starts = range(0, len(text) - maxlen, step)",
        new="starts = range(0, len(text) - maxlen - 1, step)",
        description="make_char_windows stops one start too early and can miss the last window",
    ),
    "lab06_imdb_models": Mistake(
        grade_id="build_lstm_model",
        old='outputs = layers.Dense(1, activation="sigmoid")(x)',
        new="outputs = layers.Dense(1)(x)",
        description="build_lstm_model has no sigmoid, though its loss is plain binary "
        "cross-entropy",
    ),
    "lab03_conv1d": Mistake(
        grade_id="conv1d_forward",
        old="out[:, t, :] = window @ weights",
        new="out[:, t, :] = window @ kernel[::-1].reshape(K * C_in, C_out)",
        description="conv1d_forward flips the kernel (a textbook convolution, not Keras' "
        "cross-correlation)",
    ),
}

STUDENTS = ("demo_complete", "demo_untouched", "demo_mistake")


def with_mistake(nb, mistake: Mistake):
    """Return ``nb`` with ``mistake`` applied to its answer cell (which must contain ``old``)."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == mistake.grade_id:
            if mistake.old not in cell.source:
                raise ValueError(f"{mistake.grade_id}: {mistake.old!r} is not in the solution")
            cell.source = cell.source.replace(mistake.old, mistake.new)
            return nb
    raise ValueError(f"no answer cell {mistake.grade_id!r}")


def make_submissions(course: grading.Course, lab: str) -> list[str]:
    """Write the demo students' submissions of ``lab``; return the student ids used."""
    import nbformat

    released = course.root / "labs" / lab / f"{lab}.ipynb"
    solution = course.root / "solutions" / lab / f"{lab}.ipynb"
    complete = grading.filled_notebook(released, solution)
    grading.submit(course, "demo_complete", lab, complete)
    grading.submit(course, "demo_untouched", lab, nbformat.read(released, as_version=4))
    students = ["demo_complete", "demo_untouched"]
    if lab in MISTAKES:
        wrong = with_mistake(grading.filled_notebook(released, solution), MISTAKES[lab])
        grading.submit(course, "demo_mistake", lab, wrong)
        students.append("demo_mistake")
    return students


def _prepare_lab(root: Path, work: Path, lab: str) -> grading.Course:
    course = grading.Course.at(root, work / lab)
    grading.release(course, [lab])
    make_submissions(course, lab)
    return course


def run(
    root: Path, work: Path, *, course_command, jobs: int | None = None, echo=print
) -> list[grading.Score]:
    """Release every lab, submit the demo students, and grade each lab with ``course grade``.

    ``course_command(argv)`` runs the ``course`` command (``course_utils.cli.main``, passed in
    so that this module does not import the command line, which imports it). Each lab gets its
    own scratch class under ``work/<lab>`` (its own gradebook). Releases run
    in parallel; each lab is then graded with ``course grade LAB --work work/<lab>``, ``jobs``
    submissions at a time (default: the number of CPUs).
    """
    from concurrent.futures import ThreadPoolExecutor

    labs = grading.list_labs(grading.Course.at(root).root)
    echo(f"Releasing {len(labs)} lab(s) into {root / 'labs'} and grading three example students")
    echo("per lab: demo_complete (the solution), demo_untouched (the student version),")
    echo("demo_mistake (a realistic error) ...")
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        courses = list(pool.map(lambda lab: _prepare_lab(root, work, lab), labs))
    rows: list[grading.Score] = []
    for lab, course in zip(labs, courses, strict=True):
        args = ["grade", lab, "--root", str(root), "--work", str(course.work), "--quiet"]
        args += ["--jobs", str(jobs)] if jobs else []
        echo(f"\n$ course {' '.join(args)}")
        if course_command(args) != 0:
            raise grading.GradingError(f"`course grade {lab}` failed")
        rows.extend(grading.scores(course))
    echo("")
    for lab in labs:
        if lab in MISTAKES:
            echo(f"  {lab}: demo_mistake's error: {MISTAKES[lab].description}")
    echo("")
    echo(grading.score_table(rows))
    echo("")
    echo(f"Feedback (HTML, one page per student): {work}/<lab>/feedback/<student>/<lab>/")
    echo(f"Reports (CSV: scores, failed tests, notes): {work}/<lab>/reports/<lab>.csv")
    echo(f"Gradebooks: {work}/<lab>/gradebook.db")
    return rows
