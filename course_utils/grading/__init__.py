"""The instructor's side: grading a class, in the order things happen.

``course``   the course folder, nbgrader wrappers, releasing labs, the gradebook's scores
``collect``  bringing uploads into ``submitted/`` (never following a link)
``intake``   finding, reading and rebuilding each submission from the trusted source
``audit``    listing suspicious code for review
``grade``    ``course grade``: fingerprints, the worker pool, scoring, recording, reports
``execute/`` running one submission: ``executor`` (the kernel, cell by cell), ``sandbox``
             (what the kernel may reach), ``judge`` (the tests, outside the kernel),
             ``answer_server`` and ``wire`` (the kernel's side of the calls, and what crosses),
             ``integrity`` (the in-kernel guard, for review)
``feedback`` what students get back, cleaned of hidden tests and scripts
``demo``     ``course demo``: example students for every lab

The student-facing modules (``course_utils.checks``, ``datasets``, ``plotting``, ``runtime``)
are not here: released labs import them.
"""

#: What ``from course_utils import grading; grading.Course`` reaches, from ``.course``. Loaded on
#: first use (PEP 562), not on import: the sandbox launcher and the kernel's side of the calls
#: live in this package too, and must not pay for nbformat (about 1 s) every time they start.
_FROM_COURSE = {
    "SOLUTION_MARKERS",
    "Course",
    "GradingError",
    "Score",
    "autograde",
    "filled_notebook",
    "generate_feedback",
    "list_labs",
    "release",
    "score_table",
    "scores",
    "solution_code",
    "submit",
    "tool_environment",
}


def __getattr__(name: str):
    if name in _FROM_COURSE:
        from . import course

        return getattr(course, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
