"""Notebook start-up: seeding, deterministic ops, a quiet TensorFlow, and the fast-mode switch."""

from __future__ import annotations

import contextlib
import os
import random
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

ENV_FAST = "COURSE_FAST"
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """What ``setup`` decided: the seed and whether this is a fast (CI) run."""

    seed: int
    fast: bool

    def pick(self, full: T, fast: T) -> T:
        """Return ``fast`` in fast mode, ``full`` otherwise (e.g. ``epochs = s.pick(10, 1)``)."""
        return fast if self.fast else full


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` is set to 1/true/yes (CI's short runs); read at call time."""
    return os.environ.get(ENV_FAST, "").strip().lower() in {"1", "true", "yes", "on"}


def setup(seed: int = 42, *, tensorflow: bool = True, deterministic: bool = True) -> Settings:
    """Seed Python, NumPy and Keras, make TensorFlow deterministic and quiet; return Settings.

    Call it once in the first code cell of every notebook. With ``tensorflow=False`` only
    Python and NumPy are seeded, and TensorFlow is not imported. ``deterministic=False`` leaves
    TensorFlow's op determinism off: results then vary a little from run to run, but
    ``compile(..., jit_compile=True)`` works (Keras switches XLA off in deterministic mode).
    """
    random.seed(seed)
    np.random.seed(seed)
    if tensorflow:
        keras = import_keras()
        import tensorflow as tf

        keras.utils.set_random_seed(seed)
        if not deterministic:
            return Settings(seed=seed, fast=fast_mode())
        try:
            tf.config.experimental.enable_op_determinism()
        except (AttributeError, RuntimeError):
            pass  # older TensorFlow, or ops already ran: results are seeded but may vary
    return Settings(seed=seed, fast=fast_mode())


def epoch_timer():
    """Return a Keras callback that records each epoch's wall time in ``.seconds`` (a list).

    Epoch times measured this way exclude the set-up and tear-down of ``fit``.
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


# TensorFlow's native libraries write a start-up log straight to file descriptor 2, whatever
# TF_CPP_MIN_LOG_LEVEL says: absl's "All log messages before absl::InitializeLog() ..." notice,
# then glog-style INFO/WARNING records ("I0000 00:00:... port.cc:153] oneDNN custom operations
# are on ...", and cpu_feature_guard's record, whose second line starts "To enable the following
# instructions"). In a Jupyter kernel that text lands in the running cell as stderr, and
# nbgrader fails any graded cell with stderr output. These lines are the noise; anything else,
# errors included, is passed on.
_NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] "
    r"|To enable the following instructions: )"
)


def drop_native_log_noise(text: str) -> str:
    """Remove absl's preamble, glog INFO/WARNING lines and cpu_feature_guard's second line."""
    return "".join(line for line in text.splitlines(keepends=True) if not _NATIVE_NOISE.match(line))


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Capture what native code writes to fd 2 meanwhile; pass on all but TF's start-up log."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            rest = drop_native_log_noise(capture.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


def import_keras():
    """Import TensorFlow and Keras with TensorFlow's native start-up log left out; return keras.

    Call it before any other code imports TensorFlow (the first cell of a notebook): once
    TensorFlow is loaded, later imports print nothing.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiets the messages of later ops
    with native_stderr_filtered():
        import keras
        import tensorflow as tf

        keras.ops.convert_to_numpy(keras.ops.zeros(1))  # device set-up logs now, not later
    tf.get_logger().setLevel("ERROR")
    return keras


def _show_warning_with_output(message, category, filename, lineno, file=None, line=None):
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))


#: Set to "0" by ``course grade`` in a kernel none of whose cells use Keras: its tests run in
#: the grader (see ``course_utils.grading.execute.judge``), which computes the Keras values there.
KERAS_PRELOAD_ENV = "COURSE_KERAS_PRELOAD"


def setup_lab(*, keras: bool = False) -> None:
    """Prepare a lab's kernel so that only a raised error can fail a test.

    nbgrader fails a graded cell that writes anything to stderr. Warnings (NumPy's "divide by
    zero", deprecations) are therefore shown with the cell's ordinary output, and with
    ``keras=True`` TensorFlow and Keras are imported here, with their start-up log left out, so
    that no test cell pays for the import or prints it.
    """
    warnings.showwarning = _show_warning_with_output
    if keras and os.environ.get(KERAS_PRELOAD_ENV) != "0":
        import_keras()
