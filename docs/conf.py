"""Sphinx configuration of the course website (``make site``).

The pages are the committed notebooks themselves (``lectures`` and ``labs`` here are symbolic
links to the folders at the top of the repository), rendered by MyST-NB with execution off, and
a few Markdown pages that include their prose from README.md. Nothing is executed and nothing is
fetched: MathJax comes from the installed ``jupyter_server_mathjax`` package.
"""

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "Deep learning for sequences and text"
author = "the course authors"
copyright = "the course authors"  # noqa: A001 - Sphinx's name

extensions = ["myst_nb", "course_site"]

# Sphinx re-reads a page when its source changes, not when the code that checks and extends it
# does, nor when solutions/ (what no page may show) does: a digest of both is a config value,
# and a changed config value re-reads every page.
course_site_inputs = hashlib.sha256(
    b"".join(
        p.read_bytes()
        for pattern in ("docs/_ext/*.py", "solutions/*/*.ipynb")
        for p in sorted(Path(__file__).resolve().parents[1].glob(pattern))
    )
).hexdigest()

root_doc = "index"
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "lectures/imdb_results.md",  # included by results.md, not a page of its own
    "README.md",
]
templates_path = []
html_static_path = ["_static"]
html_css_files = ["course.css"]

# -- MyST and notebooks ---------------------------------------------------------------------
nb_execution_mode = "off"  # the committed outputs are the lecture; nothing runs here
nb_merge_streams = True  # one block per cell's printed output, not one per print()
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # README sections get anchors (index.md#for-students)
myst_dmath_double_inline = True

# -- Math without a CDN ---------------------------------------------------------------------
# MathJax 2.7 as shipped by jupyter-server-mathjax; course_site copies it into _static/mathjax.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": True,
    },
    "HTML-CSS": {
        "availableFonts": [],  # never probe for fonts installed on the reader's machine
        "preferredFont": None,
        "webFont": "STIX-Web",  # shipped in the package, served from _static/mathjax
        "imageFont": None,
        # MathJax measures text against a blank font whose source is about:blank, which
        # Chromium reports as a failed request; a local() source that never exists measures
        # the same and requests nothing.
        "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}},
    },
    "fast-preview": {"disabled": True},  # one typesetting pass, not a preview and then another
    "showMathMenu": False,
    "messageStyle": "none",
}
myst_update_mathjax = False

# -- The theme ------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "Sequences and text"
html_last_updated_fmt = None
html_copy_source = True  # the theme's download button offers the .ipynb
html_show_sphinx = False
html_theme_options = {
    "use_download_button": True,
    "use_fullscreen_button": False,
    "show_toc_level": 2,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
    "home_page_in_toc": True,
}
html_context = {"default_mode": "light"}

# Strict: any warning fails the build (make site passes -W); see course_site for the checks.
suppress_warnings = []
