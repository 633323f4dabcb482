"""nbgrader settings for this course: solutions/ is the source, labs/ the student release."""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "sequence-models"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"

# Per-cell time limit while validating and autograding; the default of 30 s is too short for
# the first cell that imports Keras on a busy machine, and no graded cell should need more.
c.Execute.timeout = 120

# Students never see hidden tests' source in their feedback: not in the cell, and not quoted by
# the traceback of a hidden test that failed.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_utils.grading.feedback.HideHiddenTestTracebacks",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Feedback pages show formulas as MathML, which browsers draw without a script or a network:
# offline, nbgrader's page (MathJax from a CDN) showed them as TeX source.
c.GenerateFeedback.exporter_class = "course_utils.grading.mathml.FeedbackExporter"

# A deleted test cell is put back and graded instead of leaving an empty score.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
