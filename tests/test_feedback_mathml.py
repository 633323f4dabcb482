"""Feedback pages show formulas as MathML: no script, no network, and nothing a student's formula
can turn into a link, a style or an event handler."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.grading import feedback, mathml

RNN_STEP = r"h_t = \tanh(x_t W_x + h_{t-1} W_h + b)"
#: Formulas a student could write in a Markdown cell to reach the instructor's or their own browser.
HOSTILE = [
    r"\href{javascript:window.PWNED_MATH=1}{x}",
    r"\color{red\" onmouseover=\"window.PWNED_MATH=1}{x}",
    r"\style{background:url(https://example.org/track)}{x}",
    r"\text{<script>window.PWNED_MATH=1</script>}",
    r"\text{</math><img src=x onerror=window.PWNED_MATH=1>}",
    r"\mathrm{<svg onload=window.PWNED_MATH=1>}",
    r"\class{x}{y} \cssId{z}{w} \mathcolor{url(javascript:1)}{v}",
    r"x \\ \begin{array}{c} a \\ b \end{array} \; \mathbin{&lt;img src=x onerror=alert(1)&gt;}",
]


def parse(written: str) -> ElementTree.Element:
    return ElementTree.fromstring(re.sub(r"&#x?[0-9A-Fa-f]+;", "?", written))


def test_a_formula_becomes_mathml_with_the_structure_of_the_tex():
    written = mathml.to_mathml(RNN_STEP, display=False)
    tree = parse(written)
    assert tree.tag == "math" and tree.get("display") == "inline"
    subscripts = [el for el in tree.iter("msub")]
    assert len(subscripts) >= 4  # h_t, x_t, W_x, h_{t-1}, W_h
    assert "tanh" in "".join(tree.itertext())
    block = parse(mathml.to_mathml(r"\sum_{t=1}^{T} \frac{a}{b}", display=True))
    assert block.get("display") == "block" and block.find(".//mfrac") is not None


@pytest.mark.parametrize("tex", HOSTILE)
def test_a_hostile_formula_keeps_only_allowed_elements_and_plain_attribute_values(tex):
    written = mathml.to_mathml(tex, display=False)
    if written is None:  # not convertible: the page keeps the escaped TeX (see the next test)
        return
    for element in parse(written).iter():
        assert element.tag in mathml.ELEMENTS, (tex, element.tag)
        for name, value in element.attrib.items():
            assert name in mathml.ATTRIBUTES, (tex, name)
            assert ":" not in value and "(" not in value, (tex, name, value)
    assert "<script" not in written and "<img" not in written and "<svg" not in written
    assert "href" not in written and "style=" not in written and " on" not in written


def render(*cells) -> str:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    body, _ = mathml.FeedbackExporter().from_notebook_node(nb)
    return body


def test_the_exporter_renders_every_kind_of_formula_and_leaves_code_alone():
    body = render(
        new_markdown_cell(
            f"The step is ${RNN_STEP}$, or in full:\n\n$$\n{RNN_STEP}\n$$\n\n"
            "\\begin{equation}\na^2 + b^2 = c^2\n\\end{equation}\n\n"
            "In code it is `cost = $5` and\n\n```\nprice = '$x$'\n```\n"
        ),
        new_code_cell("print('$not math$')"),
    )
    assert body.count("<math") == 3
    assert 'display="block"' in body and 'display="inline"' in body
    assert "$5" in body and "$x$" in body and "$not math$" in body
    assert "\\tanh" not in body


def test_a_formula_the_converter_cannot_read_stays_escaped_tex():
    body = render(new_markdown_cell(r"Broken: $\frac{1}{$ and fine: $x^2$"))
    assert body.count("<math") == 1
    assert r"\frac{1}{" in body


def test_cleaned_student_markdown_still_cannot_inject_through_a_formula():
    nb = new_notebook(
        cells=[new_markdown_cell(r"$a<b$ and $\text{<img src=x onerror=alert(1)>}$ <b>bold</b>")]
    )
    feedback.clean_notebook(nb)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    body, _ = mathml.FeedbackExporter().from_notebook_node(nb)
    tags = re.findall(r"<[^>]*>", body)
    assert not [t for t in tags if t.startswith("<img") or re.search(r"\son\w+\s*=", t)]
    assert "onerror=alert(1)&gt;</mtext>" in body  # shown as text (spaces become no-break)
    assert body.count("<math") == 2
    assert "&lt;b&gt;bold" in body  # raw HTML shows as text


def test_an_oversized_formula_stays_tex_and_a_page_converts_a_bounded_number(monkeypatch):
    """A student cannot make the class's feedback step slow with huge or countless formulas."""
    huge = "x+" * mathml.MAX_TEX_CHARS
    assert mathml.to_mathml(huge, display=False) is None
    monkeypatch.setattr(mathml, "MAX_FORMULAS_PER_PAGE", 3)
    body = render(
        new_markdown_cell(" ".join(f"$x_{i}$" for i in range(5))),
        new_markdown_cell("$y^2$"),
    )
    assert body.count("<math") == 3
    assert "$x_3$" in body and "$x_4$" in body and "$y^2$" in body  # left as TeX
    again = render(new_markdown_cell("$z$"))  # the next page has its own budget
    assert again.count("<math") == 1
