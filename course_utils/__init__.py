"""Shared helpers for the sequence-models course: data sets, plotting, runtime set-up, grading.

Importing this package never imports TensorFlow; modules that need it import it where it is used.
"""

__version__ = "0.1.0"
