"""The course website (``make site``) as readers see it, in Chromium, served from loopback.

The module builds the site first (incrementally: seconds when .ci/run has just built it), then
checks every page: no console error, no failed request and nothing fetched from another host,
MathJax typeset every formula, every image loaded, no sideways scrolling at 390 and 1400 px.
The checks without a browser (links, anchors, solutions) run even where Chromium is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest

from tests.browser import site
from tests.browser.conftest import SCREENSHOTS, VIEWPORT, keep_last_screenshot
from tests.browser.site import REPO, SITE, check_page, serve, site_checks

LECTURES = sorted(REPO.glob("lectures/*.ipynb"))
LABS = sorted(REPO.glob("labs/*/*.ipynb"))


INPUTS = ("README.md", "docs/**/*", "lectures/*", "labs/*/*", "solutions/*/*")


def site_is_current() -> bool:
    """True when build/site was built after its every input last changed (.ci/run builds it)."""
    stamp = REPO / "build" / "site-doctrees" / "environment.pickle"
    if not (stamp.exists() and (SITE / "index.html").exists()):
        return False
    newest = max(p.stat().st_mtime for pattern in INPUTS for p in REPO.glob(pattern))
    # A new commit changes no file here, but the version page must name it.
    return newest < stamp.stat().st_mtime and head() in (SITE / "version.html").read_text()


def head() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip() or "(no git)"


@pytest.fixture(scope="module")
def built_site():
    """Bring build/site up to date with the tree (make site is incremental)."""
    if site_is_current():
        return SITE
    started = time.monotonic()
    # --assume-old: never pip-install in the middle of a test run (see conftest.student_lab).
    result = subprocess.run(
        ["make", "--assume-old=.venv/.installed-docs", "site"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"make site failed:\n{result.stdout}\n{result.stderr}"
    print(f"make site: {time.monotonic() - started:.1f} s")
    return SITE


@pytest.fixture(scope="module")
def base_url(built_site):
    with serve(built_site) as url:
        yield url


@pytest.fixture(scope="module")
def site_context(browser):
    """One browser context for the module's pages, so MathJax and the theme load from its cache."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def site_page(site_context, request):
    """A fresh tab per test; its last state is kept as build/screenshots/<test>.png."""
    page = site_context.new_page()
    yield page
    keep_last_screenshot(page, request.node)
    page.close()


def test_every_notebook_has_a_page(built_site):
    for nb in LECTURES + LABS:
        rel = nb.relative_to(REPO).with_suffix(".html")
        assert (built_site / rel).exists(), f"no page for {nb.relative_to(REPO)}"
    for name in ("index", "guide", "results", "version", "search"):
        assert (built_site / f"{name}.html").exists(), f"no {name}.html"


def test_next_links_walk_the_course_in_order(built_site):
    """From the home page, "next" leads through every lecture, then every lab, in order."""
    seen, current = [], built_site / "index.html"
    while len(seen) < 50:
        found = re.search(r'<a class="right-next"\s+href="([^"#]+)"', current.read_text())
        if not found:
            break
        current = (current.parent / found[1]).resolve()
        seen.append(current.relative_to(built_site.resolve()).with_suffix("").as_posix())
    notebooks = [nb.relative_to(REPO).with_suffix("").as_posix() for nb in LECTURES + LABS]
    assert seen[: len(notebooks)] == notebooks
    assert seen[len(notebooks) :] == ["results", "guide", "version"]


def test_every_internal_link_and_anchor_resolves(built_site):
    assert site.internal_link_problems(built_site) == []


def test_nothing_is_loaded_from_another_host(built_site):
    assert site.external_links(built_site) == set()


def test_no_page_shows_solutions_or_hidden_tests(built_site):
    blocks = site_checks.secret_blocks(REPO / "solutions")
    assert len(blocks) > 20, "expected the solution blocks of every lab"
    leaks = {
        rel: found
        for rel in site.pages(built_site)
        if (found := site_checks.leaks(site_checks.page_text(built_site / rel), blocks))
    }
    assert leaks == {}


def test_no_page_shows_unrendered_markup(built_site):
    """A role or directive that MyST did not render shows up as literal text such as {ref}."""
    pattern = re.compile(r"\{\{|\{(ref|download|doc|include|toctree|admonition)\}|:::")
    found = {
        rel: pattern.findall(site_checks.page_text(built_site / rel))
        for rel in site.pages(built_site)
    }
    assert {rel: hits for rel, hits in found.items() if hits} == {}


def test_the_leak_check_finds_a_solution_on_a_page(built_site, tmp_path):
    """A lab page with one solution block pasted in is caught, named by lab and cell."""
    blocks = site_checks.secret_blocks(REPO / "solutions")
    where, block = blocks[0]
    page = tmp_path / "lab.html"
    text = (built_site / "labs/lab04_rnn_forward/lab04_rnn_forward.html").read_text()
    page.write_text(text.replace("</article>", f"<pre>{block}</pre></article>"))
    assert [f for f in site_checks.leaks(site_checks.page_text(page), blocks) if where in f]


def test_the_build_refuses_a_notebook_with_an_error_output():
    nb = json.loads(LECTURES[0].read_text())
    cell = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    nb["cells"][cell]["outputs"].append(
        {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}
    )
    problems = site_checks.notebook_problems(nb)
    assert len(problems) == 1 and f"cell {cell}" in problems[0]
    assert "ValueError: boom" in problems[0]


def test_lab_pages_show_points_per_part(built_site):
    for nb_path in LABS:
        nb = json.loads(nb_path.read_text())
        total = sum(
            c["metadata"].get("nbgrader", {}).get("points", 0)
            for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade")
        )
        text = site_checks.page_text(built_site / nb_path.relative_to(REPO).with_suffix(".html"))
        assert re.search(rf"total\s*{total:g}\b", text), f"{nb_path.name}: total {total:g}"
        assert f"{nb_path.name}" in text and "Validate" in text


def test_results_page_is_the_course_table(built_site):
    text = site_checks.normalize(site_checks.page_text(built_site / "results.html"))
    table = (REPO / "lectures/imdb_results.md").read_text()
    models = re.findall(r"^\| (\w+) \|", table, re.MULTILINE)
    assert len(models) > 5
    for model in models:
        assert model in text, f"{model} of lectures/imdb_results.md is not on results.html"


def test_version_page_names_the_commit(built_site):
    text = site_checks.page_text(built_site / "version.html")
    assert head() in text


@pytest.mark.browser
@pytest.mark.parametrize("rel", site.pages())
def test_page_reads_well(site_page, base_url, rel):
    assert check_page(site_page, f"{base_url}/{rel}") == []
    if rel in SCREENSHOTS_OF:
        take_screenshots(site_page, SCREENSHOTS_OF[rel])


#: build/screenshots/site-<name>.png at 1400 px wide, and site-<name>-390.png at a phone's width.
SCREENSHOTS_OF = {
    "index.html": "home",
    "lectures/02_word_embeddings.html": "lecture",
    "labs/lab04_rnn_forward/lab04_rnn_forward.html": "lab",
}


def take_screenshots(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(VIEWPORT)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(200)
    page.screenshot(path=str(SCREENSHOTS / f"site-{name}.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / f"site-{name}-390.png"))


@pytest.mark.browser
def test_search_finds_glove(site_page, base_url):
    page = site_page
    page.goto(f"{base_url}/search.html?q=GloVe")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=20_000)
    links = results.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert any("02_word_embeddings" in link for link in links), links


@pytest.mark.browser
def test_the_page_checks_catch_a_broken_page(site_page, built_site, tmp_path):
    """A copy of the site with one lecture broken four ways: each breakage is reported."""
    page = site_page
    broken = tmp_path / "site"
    shutil.copytree(built_site, broken, ignore=shutil.ignore_patterns("_downloads", "_sources"))
    rel = "lectures/02_word_embeddings.html"
    html = (broken / rel).read_text()
    image = re.search(r'<img[^>]+src="\.\./(_images/[^"]+)"', html)[1]
    (broken / image).unlink()  # a figure the page shows
    html = html.replace(
        "</article>",
        "<p>Raw TeX: $x^2$ here.</p>"
        '<img src="https://example.org/tracker.png" alt="">'  # a request that leaves loopback
        "<script>throw new Error('a script that throws')</script></article>",
    )
    (broken / rel).write_text(html)
    with serve(broken) as url:
        problems = "\n".join(check_page(page, f"{url}/{rel}"))
    assert f"image did not load: ../{image}" in problems, problems
    assert "raw TeX left in the text: '$x^2$'" in problems, problems
    assert "request to another host: https://example.org/tracker.png" in problems, problems
    assert "a script that throws" in problems, problems
