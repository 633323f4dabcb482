"""course_utils.runtime and the package's import cost."""

import random
import subprocess
import sys

import numpy as np
import pytest

from course_utils import runtime


@pytest.mark.parametrize(
    "value, fast",
    [("1", True), ("true", True), ("YES", True), ("0", False), ("", False), ("no", False)],
)
def test_fast_mode_reads_the_environment(monkeypatch, value, fast):
    monkeypatch.setenv("COURSE_FAST", value)
    assert runtime.fast_mode() is fast
    assert runtime.setup(tensorflow=False).pick(full=10, fast=1) == (1 if fast else 10)


def test_setup_seeds_python_and_numpy():
    runtime.setup(seed=7, tensorflow=False)
    first = (random.random(), np.random.rand())
    runtime.setup(seed=7, tensorflow=False)
    assert (random.random(), np.random.rand()) == first


def test_importing_the_package_does_not_import_tensorflow():
    code = (
        "import sys, course_utils, course_utils.datasets, course_utils.plotting, "
        "course_utils.runtime, course_utils.checks, course_utils.cli, course_utils.imdb, "
        "course_utils.workspace; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_setup_makes_keras_reproducible():
    import keras

    runtime.setup(seed=3)
    a = keras.random.normal((4,))
    runtime.setup(seed=3)
    b = keras.random.normal((4,))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    timer = runtime.epoch_timer()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    model.fit(np.zeros((8, 2)), np.zeros(8), epochs=2, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 2 and all(s > 0 for s in timer.seconds)


def test_check_helpers_name_the_likely_mistake():
    from course_utils import checks

    checks.check_close(np.array([1.0, 2.0]), [1.0, 2.0], "f(x)")
    with pytest.raises(AssertionError, match="Likely mistake: bias missing"):
        checks.check_close(
            np.array([1.0, 2.0]), [1.5, 2.5], "f(x)", likely={"bias missing": [1, 2]}
        )
    with pytest.raises(AssertionError, match="shape \\(2,\\), got \\(3,\\)"):
        checks.check_close(np.zeros(3), np.zeros(2), "f(x)")
    with pytest.raises(AssertionError, match="return. statement missing"):
        checks.check_array(None, "f(x)")
    with pytest.raises(AssertionError, match="NaN"):
        checks.check_close(np.array([np.nan]), [1.0], "f(x)")
    with pytest.raises(AssertionError, match="single number"):
        checks.check_scalar(np.ones(2), "loss(x)")
    checks.check_equal(["a", "b"], ["a", "b"], "tokenize(s)")
    with pytest.raises(AssertionError, match="Likely mistake: case kept"):
        checks.check_equal(["A"], ["a"], "tokenize(s)", likely={"case kept": ["A"]})
    with pytest.raises(AssertionError, match="should return a list, got tuple"):
        checks.check_equal(("a",), ["a"], "tokenize(s)")


NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796353935.613627    2525 port.cc:153] oneDNN custom operations are on. You "
    "may see slightly different numerical results.\n"
    "I0000 00:00:1796353935.643440    2525 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.\n"
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n"
)


def test_native_log_noise_is_dropped_and_everything_else_kept():
    error = "E0000 00:00:1796353935.7    2525 op.cc:1] something real broke\n"
    text = NOISE + "plain text from a library\n" + NOISE + error
    assert runtime.drop_native_log_noise(text) == "plain text from a library\n" + error
    assert runtime.drop_native_log_noise("") == ""


def test_native_stderr_is_filtered_only_while_the_context_is_open():
    """What native code writes to fd 2 inside the block loses TensorFlow's noise; after it,
    fd 2 is the original again."""
    import subprocess
    import sys

    code = (
        "import os\nfrom course_utils import runtime\n"
        "with runtime.native_stderr_filtered():\n"
        f"    os.write(2, {NOISE.encode()!r})\n"
        "    os.write(2, b'kept inside\\n')\n"
        "os.write(2, b'after\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "kept inside\nafter\n"


def test_setup_lab_shows_warnings_with_the_output(capsys):
    import warnings

    saved = warnings.showwarning
    try:
        runtime.setup_lab()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            np.log(np.zeros(1))
        out, err = capsys.readouterr()
        assert "divide by zero encountered in log" in out and err == ""
    finally:
        warnings.showwarning = saved


def test_setup_can_leave_op_determinism_off_for_xla():
    probe = (
        "from course_utils import runtime\n"
        "from tensorflow.python.framework.config import is_op_determinism_enabled as on\n"
        "runtime.setup(deterministic=False); print(on())\n"
        "runtime.setup(); print(on())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
