"""Notebook start-up: seeding, deterministic ops, a quiet TensorFlow, and the fast-mode switch."""

from __future__ import annotations

import os
import random
import time
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


def setup(seed: int = 42, *, tensorflow: bool = True) -> Settings:
    """Seed Python, NumPy and Keras, make TensorFlow deterministic and quiet; return Settings.

    Call it once in the first code cell of every notebook. With ``tensorflow=False`` only
    Python and NumPy are seeded, and TensorFlow is not imported.
    """
    random.seed(seed)
    np.random.seed(seed)
    if tensorflow:
        # Must be set before TensorFlow is first imported to hide its C++ start-up chatter.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        keras.utils.set_random_seed(seed)
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
