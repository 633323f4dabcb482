"""Feedback for students: their score and failure message per test, never a hidden test's source.

nbgrader's ``ClearHiddenTests`` removes hidden tests from a cell's source, but when a hidden test
fails, the traceback in the cell's output still quotes its lines. ``HideHiddenTestTracebacks``
(listed in ``nbgrader_config.py`` before ``ClearHiddenTests``) replaces the traceback of every
error in a cell with hidden tests by the error's name and message alone.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
NOTE = "(the source of this cell's hidden tests is not shown)"


class HideHiddenTestTracebacks(Preprocessor):
    """Keep only ``ename: evalue`` of errors raised in cells that contain hidden tests."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and BEGIN_HIDDEN in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    output["traceback"] = [message.rstrip(": "), NOTE]
        return cell, resources
