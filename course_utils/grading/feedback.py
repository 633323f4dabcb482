"""Feedback for students: their score and failure message per test, never a hidden test's source,
and nothing a student wrote that a browser would run.

Three things can leak or attack through a feedback page (and through Formgrader, which renders
the autograded notebook):

* the traceback of a failed hidden test quotes its lines (nbgrader's ``ClearHiddenTests`` only
  clears the cell's source);
* any output can quote hidden tests on purpose: a cell that prints IPython's input history
  (``In``), an answer that prints or raises its caller's source while a hidden test calls it;
* student-authored HTML: ``<script>``, ``onerror=`` attributes, JavaScript or SVG outputs, raw
  HTML in a markdown cell or in a grading note.

``HideHiddenTestTracebacks`` (listed in ``nbgrader_config.py`` before ``ClearHiddenTests``) deals
with all three for ``nbgrader generate_feedback``; ``course grade`` applies the same
``clean_notebook`` to the autograded notebook it writes, so Formgrader shows the cleaned version.

What this cannot catch: a hidden test's source that the student's code transforms before printing
it (encoded, reversed). Under ``course grade`` hidden tests still run in the student's kernel, so
keep hidden tests about behaviour the student must get right anyway, not secrets.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
NOTE = "(the source of this cell's hidden tests is not shown)"
QUOTED = "(this output quoted the source of a hidden test, so it is not shown)"
SCRIPT_DROPPED = "(an output that would run code in the browser is not shown)"
#: Shorter lines (``else:``, ``assert ok``) are too common to mean that a hidden test was quoted.
MIN_QUOTED_CHARS = 16
#: Output types a browser would run or that can carry script (SVG is inlined as markup).
ACTIVE_MIME = (
    "application/javascript",
    "image/svg+xml",
    "application/vnd.jupyter.widget-view+json",
)
_HIDDEN_BLOCK = re.compile(rf"#+ *{BEGIN_HIDDEN}[^\n]*\n(.*?)#+ *{END_HIDDEN}", re.S)


def hidden_lines(nb) -> set[str]:
    """The lines of ``nb``'s hidden-test blocks that are long enough to be recognised in output
    and appear nowhere else in the notebook (a call also made by a visible test, and so quoted by
    its messages, gives nothing away). Whitespace is collapsed."""
    found, visible = set(), []
    for cell in nb.cells:
        source = cell.source if cell.cell_type == "code" else ""
        found.update(
            " ".join(line.split())
            for block in _HIDDEN_BLOCK.findall(source)
            for line in block.splitlines()
            if len(line.strip()) >= MIN_QUOTED_CHARS
        )
        visible.append(" ".join(_HIDDEN_BLOCK.sub("", cell.source).split()))
    seen = "\n".join(visible)
    return {line for line in found if line not in seen}


def _output_text(output) -> str:
    parts = []
    if "text" in output:
        parts.append(output["text"] if isinstance(output["text"], str) else "".join(output["text"]))
    for value in output.get("data", {}).values():
        parts.append(value if isinstance(value, str) else "".join(map(str, value)))
    parts.append(str(output.get("evalue", "")))
    parts.extend(map(str, output.get("traceback", [])))
    # Compare with whitespace collapsed, and with ANSI colours (in tracebacks) removed.
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(parts)).split())


def _stream(text: str):
    from nbformat.v4 import new_output

    return new_output("stream", name="stdout", text=text + "\n")


def clean_html(html: str) -> str:
    from nbconvert.filters.strings import clean_html as bleach_clean

    return bleach_clean(html)


_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.S)


def clean_markdown(source: str) -> str:
    """Markdown whose raw HTML shows as text: every ``<`` that would open a tag, a comment or a
    directive becomes ``&lt;``, except in code, which Markdown never turns into HTML. Headings,
    lists, emphasis and math are left as they are."""
    parts = _CODE.split(source)
    return "".join(
        part if i % 2 else re.sub(r"<(?=[A-Za-z!/?])", "&lt;", part) for i, part in enumerate(parts)
    )


def clean_notebook(nb, *, for_student: bool = True):
    """Clean ``nb`` in place for a browser; return it.

    Always: no script, event handler, JavaScript or SVG output, no raw HTML beyond harmless tags.
    ``for_student``: also no hidden test's source, in a traceback or quoted by any output (an
    instructor, in Formgrader, may see it all).
    """
    hidden = hidden_lines(nb) if for_student else set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = clean_markdown(cell.source)
            cell.pop("attachments", None)  # a missing or forged attachment breaks the export
            continue
        if cell.cell_type != "code":
            continue
        has_hidden = for_student and BEGIN_HIDDEN in cell.source
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and has_hidden:
                message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                output["traceback"] = [message.rstrip(": "), NOTE]
            if hidden and any(line in _output_text(output) for line in hidden):
                outputs.append(_stream(QUOTED))
                continue
            data = output.get("data")
            if data is not None:
                dropped = [m for m in ACTIVE_MIME if data.pop(m, None) is not None]
                for mime in ("text/html", "text/markdown"):
                    if mime in data:
                        value = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
                        data[mime] = (
                            clean_html(value) if mime == "text/html" else (clean_markdown(value))
                        )
                if dropped and not data:
                    outputs.append(_stream(SCRIPT_DROPPED))
                    continue
            outputs.append(output)
        cell.outputs = outputs
    return nb


class HideHiddenTestTracebacks(Preprocessor):
    """``clean_notebook`` as an nbconvert preprocessor: run it before ``ClearHiddenTests``, which
    removes the hidden blocks this needs to know what to look for."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        return clean_notebook(nb), resources
