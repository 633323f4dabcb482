"""The course website as a reader's browser sees it: a loopback server and one check per page.

``check_page`` is what the site tests assert on; the test of a deliberately broken copy of the
site runs the same function, so a check that can never fail would show there.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "build" / "site"
sys.path.insert(0, str(REPO / "docs" / "_ext"))
import site_checks  # noqa: E402

WIDTHS = (390, 1400)
#: The theme animates its sidebars; a layout measured (or a screenshot taken) mid-animation
#: after a resize shows a page no reader sees, so the tests switch animations off.
NO_ANIMATIONS = (
    "*, *::before, *::after { transition: none !important; animation: none !important; }"
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 on a free port, in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def pages(site: Path = SITE) -> list[str]:
    """Every HTML page of the site, relative to its root (MathJax's own files excluded)."""
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not p.relative_to(site).as_posix().startswith("_")
    )


WAIT_FOR_MATHJAX_JS = """async () => {
  if (window.MathJax && MathJax.Hub) await new Promise(resolve => MathJax.Hub.Queue(resolve));
}"""

# Runs in the page once MathJax is done: what a reader would notice is wrong.
_INSPECT_JS = r"""async () => {
  if (window.MathJax && MathJax.Hub) {
    await new Promise(resolve => MathJax.Hub.Queue(resolve));
  }
  const images = [...document.images];
  await Promise.all(images.map(i => { i.loading = 'eager'; return i.decode().catch(() => {}); }));
  const maths = [...document.querySelectorAll("span.math.notranslate, div.math.notranslate")];
  const article = document.querySelector('article') || document.body;
  const prose = article.cloneNode(true);
  prose.querySelectorAll('pre, code, script, .highlight, .cell_output, .MathJax_Preview')
       .forEach(e => e.remove());
  return {
    math: maths.length,
    typeset: maths.filter(m => m.querySelector('.MathJax, .MathJax_Display, .MathJax_SVG')).length,
    mathErrors: [...document.querySelectorAll('.merror')].map(e => e.textContent.slice(0, 80)),
    rawMath: (prose.textContent.match(/\$[^$\s][^$\n]{0,80}?\$|\\\(|\\\[/g) || []).slice(0, 5),
    brokenImages: images.filter(i => !i.complete || i.naturalWidth === 0)
                        .map(i => i.getAttribute('src')),
  };
}"""

_OVERFLOW_JS = r"""() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  if (root.scrollWidth <= width + 1) return null;
  const culprits = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && e.offsetParent !== null)
    .filter(e => !e.closest('pre, .table-wrapper, table, .MathJax_Display'))
    .slice(-3).map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.'));
  return {scrollWidth: root.scrollWidth, width: width, culprits: culprits};
}"""


def watch(page) -> list[str]:
    """Record on ``page`` what a reader's browser would log as a problem; returns the list.

    Every request that leaves the loopback server is blocked (so it fails and is reported):
    the site must work offline and load nothing from anywhere else.
    """
    problems: list[str] = []

    def route(r):
        if urlsplit(r.request.url).hostname in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            problems.append(f"request to another host: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    page.on(
        "requestfailed",
        lambda r: problems.append(f"failed request: {r.url} ({r.failure})"),
    )
    page.on(
        "response",
        lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"),
    )
    return problems


def check_page(page, url: str) -> list[str]:
    """Load ``url`` and return every problem a reader would see (empty when the page is fine).

    No console error, failed request or request to another host; every image loaded; every
    math element typeset by MathJax with no error and no raw ``$...$`` left in the prose; no
    sideways scrolling of the page at a phone's 390 px or a laptop's 1400 px.
    """
    problems = watch(page)
    page.set_viewport_size({"width": WIDTHS[-1], "height": 900})
    page.goto(url, wait_until="load")
    page.add_style_tag(content=NO_ANIMATIONS)
    info = page.evaluate(_INSPECT_JS)
    if info["typeset"] != info["math"]:
        problems.append(f"{info['math'] - info['typeset']} of {info['math']} formulas not typeset")
    problems += [f"MathJax error: {e}" for e in info["mathErrors"]]
    problems += [f"raw TeX left in the text: {m!r}" for m in info["rawMath"]]
    problems += [f"image did not load: {src}" for src in info["brokenImages"]]
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        overflow = page.evaluate(_OVERFLOW_JS)
        if overflow:
            problems.append(f"the page scrolls sideways at {width} px: {overflow}")
    return [f"{url}: {p}" for p in problems]


def internal_link_problems(site: Path = SITE) -> list[str]:
    """Links and resources between the site's pages that do not resolve (file or #anchor)."""
    parsed, problems = {}, []

    def parse(path: Path):
        if path not in parsed:
            parsed[path] = site_checks.parse_page(path)
        return parsed[path]

    for rel in pages(site):
        path = site / rel
        info = parse(path)
        for link in info.hrefs + info.srcs:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = (path.parent / parts.path).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel}: {link} -> no such file")
            elif parts.fragment and target.suffix == ".html":
                if parts.fragment not in parse(target).ids:
                    problems.append(f"{rel}: {link} -> no element with id {parts.fragment!r}")
    return problems


def external_links(site: Path = SITE) -> set[str]:
    return {
        link
        for rel in pages(site)
        for link in site_checks.parse_page(site / rel).srcs
        if re.match(r"https?://", link)
    }
