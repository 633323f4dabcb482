r"""Formulas in feedback pages that show without a script or a network: the TeX of Markdown cells
becomes MathML, which browsers draw themselves (Chromium and Edge since 2023, Firefox, Safari).

nbgrader's feedback pages load MathJax from a CDN, so a student who opens their feedback offline
saw ``$h_t = \tanh(x_t W_x + h_{t-1} W_h + b)$`` as source. ``FeedbackExporter`` is nbgrader's
``HTMLExporter`` with one change, set as ``GenerateFeedback.exporter_class`` in the course's
``nbgrader_config.py``: each formula that nbconvert's Markdown parser finds (``$...$``,
``$$...$$``, ``\(...\)``, ``\[...\]``, ``\begin{env}...\end{env}``) is converted with
latex2mathml.

Students write formulas too, so the MathML is rebuilt from an allow-list before it reaches the
page: MathML Core elements only, presentation attributes only, and attribute values of plain
words, numbers and units (no ``:`` or ``(``, so no ``javascript:`` link and no ``url()``). Text is
escaped when the tree is written out. A formula latex2mathml cannot read stays TeX source.

The page loads no MathJax either: ``jupyter/feedback_templates/mathjax.html.j2`` replaces the
macro with a Content-Security-Policy that forbids every script, so nothing on the page asks the
network for anything, and a script that slipped past the cleaning would not run.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from xml.etree.ElementTree import Element, tostring

from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from traitlets import default

#: MathML Core's elements, without those that link, script or annotate (``maction``,
#: ``annotation-xml``, ``semantics``).
ELEMENTS = frozenset(
    "math merror mfrac mi mmultiscripts mn mo mover mpadded mphantom mprescripts mroot mrow ms "
    "mspace msqrt mstyle msub msubsup msup mtable mtd mtext mtr munder munderover none "
    "menclose".split()
)
#: Presentation attributes; nothing that names a URL, a style sheet or a handler.
ATTRIBUTES = frozenset(
    "display displaystyle scriptlevel mathvariant mathsize mathcolor stretchy fence separator "
    "lspace rspace minsize maxsize symmetric largeop movablelimits accent accentunder "
    "linethickness width height depth voffset columnalign rowalign columnspacing rowspacing "
    "columnlines rowlines frame framespacing columnspan rowspan notation form".split()
)
_SAFE_VALUE = re.compile(r"[\w .#%+-]*")
_NUMERIC_REFERENCE = re.compile(r"&amp;(#x?[0-9A-Fa-f]+;)")
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
#: Longer formulas stay TeX: a 400,000-character formula took 4 s and gave 5.6 MB of MathML.
MAX_TEX_CHARS = 2_000
#: Formulas converted per page; the rest stay TeX (a typical one takes 0.25 ms).
MAX_FORMULAS_PER_PAGE = 5_000
#: Searched first for templates: its ``mathjax.html.j2`` replaces nbconvert's (no script, no CDN).
TEMPLATES = Path(__file__).parent / "jupyter" / "feedback_templates"


def _clean(element: Element) -> Element | None:
    """A copy of ``element`` holding only allowed elements and attributes (None if it is not
    allowed itself; a disallowed child is dropped with everything in it)."""
    if element.tag not in ELEMENTS:
        return None
    copy = Element(element.tag)
    for name, value in element.attrib.items():
        if name in ATTRIBUTES and _SAFE_VALUE.fullmatch(value):
            copy.set(name, value)
    copy.text = element.text
    for child in element:
        kept = _clean(child)
        if kept is not None:
            kept.tail = child.tail
            copy.append(kept)
    return copy


def to_mathml(tex: str, *, display: bool) -> str | None:
    """``tex`` as a ``<math>`` element (a string of HTML), or None if it cannot be converted
    (or is longer than ``MAX_TEX_CHARS``)."""
    from latex2mathml.converter import convert_to_element

    if len(tex) > MAX_TEX_CHARS:
        return None

    # The feedback pages' cleaning writes "<" before a letter as "&lt;" (see feedback.py).
    tex = html.unescape(tex)
    try:
        tree = convert_to_element(tex, xmlns=MATHML_NS, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - any formula the converter cannot read stays TeX
        return None
    tree.attrib.pop("xmlns", None)
    clean = _clean(tree)
    if clean is None:
        return None
    clean.set("display", "block" if display else "inline")
    written = tostring(clean, encoding="unicode", method="xml", short_empty_elements=False)
    # latex2mathml writes symbols as numeric references ("&#x2211;"), which tostring escapes.
    return _NUMERIC_REFERENCE.sub(r"&\1", written)


class Budget:
    """How many more formulas one page may convert (a page of a million formulas must not hold
    up the feedback of a class); shared by the renderers of the page's Markdown cells."""

    def __init__(self) -> None:
        self.left = MAX_FORMULAS_PER_PAGE

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, with formulas as MathML instead of TeX for MathJax."""

    def __init__(self, *args, budget: Budget, **kwargs):
        super().__init__(*args, **kwargs)
        self.budget = budget

    def _mathml(self, tex: str, display: bool) -> str | None:
        return to_mathml(tex, display=display) if self.budget.take() else None

    def block_math(self, body: str) -> str:
        return self._mathml(body, True) or super().block_math(body)

    def latex_environment(self, name: str, body: str) -> str:
        tex = f"\\begin{{{name}}}{body}\\end{{{name}}}"
        return self._mathml(tex, True) or super().latex_environment(name, body)

    def inline_math(self, body: str) -> str:
        return self._mathml(body, False) or super().inline_math(body)


class FeedbackExporter(HTMLExporter):
    """``HTMLExporter`` whose Markdown cells show their formulas as MathML (see the module), on a
    page that loads no MathJax."""

    @default("template_paths")
    def _template_paths(self, prune=True, root_dirs=None):
        return [str(TEMPLATES), *super()._template_paths(prune=prune, root_dirs=root_dirs)]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.budget = Budget()

    def from_notebook_node(self, nb, resources=None, **kw):
        self.budget = Budget()  # one page, one budget
        return super().from_notebook_node(nb, resources, **kw)

    @pass_context  # as HTMLExporter's own filter: Jinja hands it the cell being rendered
    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            budget=self.budget,
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)
