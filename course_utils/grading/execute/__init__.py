"""Running one submission: a sandboxed kernel for the student's cells, the tests in the grader."""
