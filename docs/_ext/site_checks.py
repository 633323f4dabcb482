"""Checks of what the course website may show, shared by the build (course_site) and the tests.

Standard library only: the tests import it without Sphinx.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
#: Shorter blocks ("return h", "pass") are too common to mean a leak when they appear.
MIN_BLOCK_CHARS = 20


def normalize(text: str) -> str:
    """Collapse every run of whitespace to one space, so layout never hides a match."""
    return re.sub(r"\s+", " ", text).strip()


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def secret_blocks(solutions: Path) -> list[tuple[str, str]]:
    """(where, normalized text) of every solution and hidden-test block under ``solutions``."""
    blocks = []
    for path in sorted(solutions.glob("*/*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for index, cell in enumerate(nb["cells"]):
            lines, inside, kind = [], None, ""
            for line in cell_source(cell).splitlines():
                stripped = line.strip()
                if stripped in (BEGIN_SOLUTION, BEGIN_HIDDEN):
                    inside, kind, lines = True, stripped, []
                elif stripped in (END_SOLUTION, END_HIDDEN) and inside:
                    text = normalize("\n".join(lines))
                    if len(text) >= MIN_BLOCK_CHARS:
                        what = "solution" if kind == BEGIN_SOLUTION else "hidden tests"
                        blocks.append((f"{path.parent.name} cell {index} ({what})", text))
                    inside = None
                elif inside:
                    lines.append(line)
    return blocks


def leaks(text: str, blocks: list[tuple[str, str]]) -> list[str]:
    """What of ``blocks`` (or of nbgrader's markers) appears in ``text``."""
    flat = normalize(text)
    found = [f"the marker {m!r}" for m in MARKERS if m in flat]
    found += [f"{where}: {block[:80]!r}" for where, block in blocks if block in flat]
    return found


def notebook_problems(nb: dict) -> list[str]:
    """Cells of an executed notebook that a page must not show: error outputs."""
    problems = []
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first = cell_source(cell).strip().splitlines()[:1]
                problems.append(
                    f"cell {index} (execution count {cell.get('execution_count')}, "
                    f"starting {first[0][:60] if first else ''!r}) has an error output: "
                    f"{out.get('ename')}: {str(out.get('evalue'))[:200]}"
                )
    return problems


def notebook_text(nb: dict) -> str:
    """Every cell's source and text output, as one string (what a page can show)."""
    parts = []
    for cell in nb.get("cells", []):
        parts.append(cell_source(cell))
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
    return "\n".join(parts)


def lab_parts(nb: dict) -> list[tuple[str, float]]:
    """(part heading, points) for each level-2 heading of a lab that has graded cells below it."""
    parts: list[list] = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in cell_source(cell).splitlines():
                if line.startswith("## "):
                    parts.append([line[3:].strip(), 0.0])
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("points"):
            if not parts:
                parts.append(["Set-up", 0.0])
            parts[-1][1] += float(meta["points"])
    return [(name, points) for name, points in parts if points]


class _PageParser(HTMLParser):
    """Text, element ids, link targets and image sources of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.srcs.append(attrs["src"])
        if tag == "link" and attrs.get("href") and attrs.get("rel") != "canonical":
            self.srcs.append(attrs["href"])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse_page(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def page_text(path: Path) -> str:
    return html.unescape("".join(parse_page(path).text))
