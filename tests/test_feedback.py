"""What reaches a feedback page or Formgrader: no hidden test's source, no student script."""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils.grading import feedback

HIDDEN_TEST = (
    "### BEGIN HIDDEN TESTS\n"
    "np.testing.assert_allclose(rnn_forward(x_secret, h0), expected_secret_values)\n"
    "### END HIDDEN TESTS\n"
)
SECRET = "np.testing.assert_allclose(rnn_forward(x_secret, h0), expected_secret_values)"


def notebook(*cells):
    return new_notebook(cells=list(cells))


def code(source="x = 1", *outputs):
    cell = new_code_cell(source)
    cell.outputs = list(outputs)
    return cell


def test_a_hidden_tests_traceback_keeps_only_its_message():
    error = new_output(
        "error",
        ename="AssertionError",
        evalue="rnn_forward has wrong values",
        traceback=[
            "Traceback",
            f"----> 2 {SECRET}",
            "AssertionError: rnn_forward has wrong values",
        ],
    )
    nb = feedback.clean_notebook(notebook(code("visible = 1\n" + HIDDEN_TEST, error)))
    (out,) = nb.cells[0].outputs
    assert out.traceback == ["AssertionError: rnn_forward has wrong values", feedback.NOTE]


def test_any_output_that_quotes_a_hidden_test_is_hidden_wherever_it_is():
    history = new_output("stream", name="stdout", text=f"['', 'import numpy', '{SECRET}']")
    spaced = new_output("execute_result", data={"text/plain": SECRET.replace(", ", ",\n    ")})
    raised = new_output(
        "error", ename="ValueError", evalue=f"called from: {SECRET}", traceback=["ValueError"]
    )
    honest = new_output("stream", name="stdout", text="loss 0.693\n")
    nb = notebook(
        code(HIDDEN_TEST),
        code("print(In)", history),
        code("caller()", spaced, raised),
        code("print(loss)", honest),
    )
    feedback.clean_notebook(nb)
    assert [o.text for o in nb.cells[1].outputs] == [feedback.QUOTED + "\n"]
    assert [o.text for o in nb.cells[2].outputs] == [feedback.QUOTED + "\n"] * 2
    assert nb.cells[3].outputs == [honest]
    assert SECRET not in nbformat.writes(nb).replace(HIDDEN_TEST.splitlines()[1], "")


def test_for_an_instructor_hidden_tests_stay_visible_but_scripts_still_go():
    history = new_output("stream", name="stdout", text=SECRET)
    script = new_output("display_data", data={"application/javascript": "window.PWNED = 1"})
    nb = feedback.clean_notebook(
        notebook(code(HIDDEN_TEST), code("x", history, script)), for_student=False
    )
    assert [o.get("text") for o in nb.cells[1].outputs] == [SECRET, feedback.SCRIPT_DROPPED + "\n"]


def test_student_html_loses_its_scripts_in_outputs_markdown_and_notes():
    html = new_output(
        "display_data",
        data={
            "text/html": '<b>ok</b><script>window.PWNED=1</script><img src=x onerror="PWNED=2">',
            "text/plain": "<IPython.core.display.HTML object>",
        },
    )
    svg = new_output(
        "display_data",
        data={"image/svg+xml": "<svg><script>PWNED=3</script></svg>", "text/plain": "<SVG>"},
    )
    md_out = new_output("display_data", data={"text/markdown": "<script>PWNED=4</script> *hi*"})
    nb = notebook(
        code("x", html, svg, md_out),
        new_markdown_cell("My answer <script>PWNED=5</script> with $a < b$ and **bold**"),
        new_markdown_cell("- the notebook was named <img src=x onerror=PWNED=6>.ipynb"),
    )
    text = nbformat.writes(feedback.clean_notebook(nb))
    # Escaped text (&lt;script&gt;) is harmless; a real tag or handler is not.
    assert not re.search(r"<script|<svg|<img[^>]*onerror", text), text
    assert "<b>ok</b>" in text and "**bold**" in text  # harmless HTML and Markdown stay
    kept = feedback.clean_markdown("Use `<pad>` for padding, not <b>bold</b>")
    assert kept == "Use `<pad>` for padding, not &lt;b>bold&lt;/b>"  # code is left alone


def test_a_line_a_visible_test_also_has_is_no_secret():
    """The visible test calls rnn_forward(x, h0, Wx, Wh, b) too, and its failure messages quote
    that call: hiding them would hide the feedback students need."""
    visible = "check_close(rnn_forward(x, h0, Wx, Wh, b), expected)\n"
    message = new_output(
        "error",
        ename="AssertionError",
        traceback=["..."],
        evalue="rnn_forward(x, h0, Wx, Wh, b) has wrong values",
    )
    nb = notebook(
        code(visible, message), code(HIDDEN_TEST.replace(SECRET, SECRET + "\n" + visible))
    )
    assert "check_close(rnn_forward(x, h0, Wx, Wh, b), expected)" not in feedback.hidden_lines(nb)
    assert feedback.clean_notebook(nb).cells[0].outputs == [message]
