"""The course website's own Sphinx extension.

- Fails the build on a notebook page with an error output, and on any page that holds solution
  code or hidden tests (compared with ``solutions/``), naming the notebook and the cell.
- Adds to each lecture page a download link, and to each lab page its points per part, a
  download link and how to hand it in (from the nbgrader metadata of the student version).
- Fills the version page (git commit and dates) afresh on every build.
- Copies MathJax from the installed ``jupyter_server_mathjax`` package into ``_static/mathjax``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import site_checks
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
VERSION_DOC = "version"


def _markdown_cell(text: str) -> dict:
    return {"cell_type": "markdown", "id": "course-site-header", "metadata": {}, "source": text}


def lecture_header(name: str) -> str:
    return (
        f"{{download}}`Download this notebook <{name}.ipynb>` to run it yourself in JupyterLab "
        "(it needs the course's environment: see {ref}`Quick start <quick-start-section>`)."
    )


def lab_header(name: str, nb: dict) -> str:
    parts = site_checks.lab_parts(nb)
    total = sum(points for _, points in parts)
    rows = "\n".join(f"| {part} | {points:g} |" for part, points in parts)
    return f"""
:::{{admonition}} Points, download and hand-in
:class: tip

| part | points |
| --- | ---: |
{rows}
| **total** | **{total:g}** |

{{download}}`Download {name}.ipynb <{name}.ipynb>`, or run `make lab` in the course folder,
which copies every lab into `my-labs/` and opens JupyterLab there.

**How to hand it in.** Write your code where it says `# YOUR CODE HERE` (and delete the
`raise NotImplementedError()` below it), run the test cell after each function, then press
**Validate** in the notebook's toolbar: it runs your notebook from the top in a fresh kernel,
as the grader does. Hand in `{name}.ipynb` the way your course asks (JupyterHub, your learning
platform or git). Grading also runs hidden tests, so passing the tests you see is necessary
but not sufficient. More in {{ref}}`For students <for-students-section>`.
:::
"""


def _check_and_extend(app: Sphinx, docname: str, source: list[str]) -> None:
    kind = docname.split("/")[0]
    if kind not in ("lectures", "labs") or not app.env.doc2path(docname).suffix == ".ipynb":
        return
    path = Path(app.env.doc2path(docname))
    shown = f"{kind}/{path.relative_to(Path(app.srcdir) / kind)}"
    nb = json.loads(source[0])
    problems = site_checks.notebook_problems(nb)
    problems += [
        f"shows {leak}"
        for leak in site_checks.leaks(site_checks.notebook_text(nb), app.env.course_secrets)
    ]
    if problems:
        raise ExtensionError(
            f"{shown} cannot be published: " + "; ".join(problems) + ". "
            "A lecture must be committed executed without errors, and a lab page may only be "
            "the student version (make release)."
        )
    name = path.stem
    header = lecture_header(name) if kind == "lectures" else lab_header(name, nb)
    nb["cells"].insert(1, _markdown_cell(header))
    source[0] = json.dumps(nb)


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def version_text() -> str:
    """The version page's facts, as Markdown."""
    commit = _git("rev-parse", "HEAD") or "unknown (not built from a git checkout)"
    date = _git("log", "-1", "--format=%cI") or "unknown"
    dirty = _git("status", "--porcelain", "--", "README.md", "docs", "lectures", "labs")
    built = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"- **commit** `{commit}`",
        f"- **commit date** {date}",
        f"- **site built** {built}",
    ]
    if dirty:
        lines.append("- **note** built with uncommitted changes to the pages' sources")
    rows = []
    for path in sorted(REPO.glob("lectures/*.ipynb")) + sorted(REPO.glob("labs/*/*.ipynb")):
        rel = path.relative_to(REPO).as_posix()
        last = _git("log", "-1", "--format=%h %cs", "--", rel) or "not committed"
        rows.append(f"| `{rel}` | {last} |")
    return "\n".join(
        lines
        + ["", "Each notebook's last change:", "", "| notebook | commit, date |"]
        + ["| --- | --- |"]
        + rows
    )


def _source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname == VERSION_DOC:
        source[0] = source[0].replace("@@VERSION_TABLE@@", version_text())
    else:
        _check_and_extend(app, docname, source)


def _always_reread(app, env, added, changed, removed):
    return [VERSION_DOC]  # the commit changes without any source file changing


def _builder_inited(app: Sphinx) -> None:
    app.env.course_secrets = site_checks.secret_blocks(REPO / "solutions")
    if app.builder.format != "html":
        return
    import jupyter_server_mathjax

    src = Path(jupyter_server_mathjax.__file__).parent / "static"
    dest = Path(app.outdir) / "_static" / "mathjax"
    if not (dest / "MathJax.js").exists():
        shutil.copytree(src, dest, dirs_exist_ok=True)


def setup(app: Sphinx) -> dict:
    app.add_config_value("course_site_inputs", "", "env")
    app.connect("builder-inited", _builder_inited)
    app.connect("source-read", _source_read)
    app.connect("env-get-outdated", _always_reread)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
