"""Lab 07's tests catch the mistakes students really make with windows and sampling, and name them.

Each case replaces one answer cell of the solution notebook with a realistic wrong version, runs
every cell (hidden tests included) in this process, and checks which test cell fails and that
its message names the mistake. The correct solution must pass every test cell.
"""

import pytest

from .mistakes import check_mistake, check_solution_passes, run_cells

LAB = "lab07_text_generation"
WINDOWS = "make_char_windows"
VECTORIZE = "vectorize_windows"
REWEIGHT = "reweight_distribution"
SAMPLE = "sample_next"


def windows_code(starts: str, nxt: str = "text[i + maxlen]") -> str:
    return f"""
def make_char_windows(text, maxlen, step):
    starts = {starts}
    return [text[i:i + maxlen] for i in starts], [{nxt} for i in starts]
"""


def vectorize_code(
    x_index: str = "x[n, t, index[ch]] = True",
    y_char: str = "next_chars[n]",
    dtype: str = "bool",
    index: str = "{ch: k for k, ch in enumerate(chars)}",
    width: str = "len(chars)",
) -> str:
    return f"""
def vectorize_windows(windows, next_chars, chars):
    index = {index}
    for ch in "".join(windows) + "".join(next_chars):
        if ch not in index:
            raise ValueError(f"unknown character {{ch!r}}")
    maxlen = len(windows[0])
    x = np.zeros((len(windows), maxlen, {width}), dtype={dtype})
    y = np.zeros((len(windows), {width}), dtype={dtype})
    for n, window in enumerate(windows):
        for t, ch in enumerate(window):
            {x_index}
        y[n, index[{y_char}]] = True
    return x, y
"""


def reweight_code(body: str, check: str = "if temperature <= 0: raise ValueError('T <= 0')") -> str:
    return f"""
def reweight_distribution(probs, temperature):
    {check}
    p = np.asarray(probs, dtype=np.float64)
    {body}
"""


def sample_code(body: str) -> str:
    return f"""
def sample_next(probs, temperature, rng):
    {body}
"""


LAB07 = {
    # name: (answer cell, wrong code, test cell that must fail, words its message must contain)
    "last window missing": (
        WINDOWS,
        windows_code("range(0, len(text) - maxlen - 1, step)"),
        "test_make_char_windows_small",
        "last window is missing",
    ),
    "runs past the end (IndexError)": (
        WINDOWS,
        windows_code("range(0, len(text) - maxlen + 1, step)"),
        "test_make_char_windows_small",
        "reads past the end",
    ),
    "runs past the end with a slice": (
        WINDOWS,
        windows_code(
            "range(0, len(text) - maxlen + 1, step)", nxt="text[i + maxlen:i + maxlen + 1]"
        ),
        "test_make_char_windows_small",
        "one window too many",
    ),
    "next char misaligned (last char of the window)": (
        WINDOWS,
        windows_code("range(0, len(text) - maxlen, step)", nxt="text[i + maxlen - 1]"),
        "test_make_char_windows_small",
        "last character of each window",
    ),
    "step ignored": (
        WINDOWS,
        windows_code("range(0, len(text) - maxlen)"),
        "test_make_char_windows_small",
        "step is ignored",
    ),
    "count by (len(text) - maxlen) // step": (
        WINDOWS,
        windows_code("[k * step for k in range((len(text) - maxlen) // step)]"),
        "test_make_char_windows_corpus_size",
        "last window is missing",
    ),
    "one-hot as float32": (
        VECTORIZE,
        vectorize_code(dtype="np.float32"),
        "test_vectorize_windows_shape",
        "dtype bool",
    ),
    "vocabulary rebuilt from the windows": (
        VECTORIZE,
        """
        def vectorize_windows(windows, next_chars, chars):
            vocab = sorted(set("".join(windows) + "".join(next_chars)))
            index = {ch: k for k, ch in enumerate(vocab)}
            x = np.zeros((len(windows), len(windows[0]), len(vocab)), dtype=bool)
            y = np.zeros((len(windows), len(vocab)), dtype=bool)
            for n, window in enumerate(windows):
                for t, ch in enumerate(window):
                    x[n, t, index[ch]] = True
                y[n, index[next_chars[n]]] = True
            return x, y
        """,
        "test_vectorize_windows_values",
        "use chars",
    ),
    "y is the last character of the window": (
        VECTORIZE,
        vectorize_code(y_char="windows[n][-1]"),
        "test_vectorize_windows_values",
        "last character of each window",
    ),
    "x axes swapped": (
        VECTORIZE,
        vectorize_code(x_index="x[n, index[ch], t] = True").replace(
            "np.zeros((len(windows), maxlen, len(chars))",
            "np.zeros((len(windows), len(chars), maxlen)",
        ),
        "test_vectorize_windows_shape",
        "last two axes are swapped",
    ),
    "KeyError for an unknown character": (
        VECTORIZE,
        vectorize_code().replace('raise ValueError(f"unknown character {ch!r}")', "pass"),
        "test_vectorize_windows_unknown_character",
        "raised KeyError",
    ),
    "probabilities divided by T": (
        REWEIGHT,
        reweight_code("w = p / temperature\n    return w / w.sum()"),
        "test_reweight_distribution_small",
        "divided by T",
    ),
    "not renormalised": (
        REWEIGHT,
        reweight_code("return np.exp(np.log(p) / temperature)"),
        "test_reweight_distribution_small",
        "not renormalised",
    ),
    "float32 kept": (
        REWEIGHT,
        reweight_code("w = np.exp(np.log(p) / temperature)\n    return w / w.sum()").replace(
            "np.asarray(probs, dtype=np.float64)", "np.asarray(probs)"
        ),
        "test_reweight_distribution_small",
        "float64",
    ),
    "epsilon added before the log": (
        REWEIGHT,
        reweight_code(
            "s = np.log(p + 1e-12) / temperature\n    w = np.exp(s - s.max())\n"
            "    return w / w.sum()"
        ),
        "test_reweight_distribution_numerically_safe",
        "epsilon",
    ),
    "log(0) masked by multiplying with 0 (NaN)": (
        REWEIGHT,
        reweight_code(
            "s = np.log(p) * (p > 0) / temperature\n    w = np.exp(s - s.max())\n"
            "    return w / w.sum() * (p > 0)"
        ),
        "test_reweight_distribution_numerically_safe",
        "0 * inf",
    ),
    "no max-subtraction (0/0 at tiny T)": (
        REWEIGHT,
        reweight_code("w = np.exp(np.log(p) / temperature)\n    return w / w.sum()"),
        "test_reweight_distribution_numerically_safe",
        "subtract the largest",
    ),
    "minimum subtracted (overflow at tiny T)": (
        REWEIGHT,
        reweight_code(
            "s = np.log(p[p > 0]) / temperature\n    w = np.zeros_like(p)\n"
            "    w[p > 0] = np.exp(s - s.min())\n    return w / w.sum()"
        ),
        "test_reweight_distribution_numerically_safe",
        "subtract the largest",
    ),
    "temperature not checked": (
        REWEIGHT,
        reweight_code(
            "s = np.full(p.shape, -np.inf)\n"
            "    s[p > 0] = np.log(p[p > 0]) / temperature\n"
            "    w = np.exp(s - s.max())\n    return w / w.sum()",
            check="pass",
        ),
        "test_reweight_distribution_numerically_safe",
        "should raise ValueError",
    ),
    "rng.choice over the probabilities": (
        SAMPLE,
        sample_code("return rng.choice(reweight_distribution(probs, temperature))"),
        "test_sample_next_type",
        "picks one of the probabilities",
    ),
    "temperature ignored": (
        SAMPLE,
        sample_code(
            "p = np.asarray(probs, dtype=float)\n    return int(rng.choice(len(p), p=p / p.sum()))"
        ),
        "test_sample_next_distribution",
        "temperature is ignored",
    ),
    "always the arg-max": (
        SAMPLE,
        sample_code("return int(np.argmax(reweight_distribution(probs, temperature)))"),
        "test_sample_next_distribution",
        "always returns the arg-max",
    ),
    "uniform draws": (
        SAMPLE,
        sample_code("return int(rng.integers(len(probs)))"),
        "test_sample_next_distribution",
        "uniform",
    ),
    "global np.random.choice": (
        SAMPLE,
        sample_code(
            "p = reweight_distribution(probs, temperature)\n"
            "    return int(np.random.choice(len(p), p=p))"
        ),
        "test_sample_next_uses_rng",
        "same seed gave different draws",
    ),
    "global state seeded from rng (hidden)": (
        SAMPLE,
        sample_code(
            "p = reweight_distribution(probs, temperature)\n"
            "    np.random.seed(int(rng.integers(2**31)))\n"
            "    return int(np.random.choice(len(p), p=p))"
        ),
        "test_sample_next_uses_rng",
        "global np.random state",
    ),
    # A forged answer: an int subclass whose comparisons all say True.
    "forged: an int that equals anything": (
        SAMPLE,
        """
        class Anything(int):
            def __eq__(self, other):
                return True

            def __ne__(self, other):
                return False

            def __lt__(self, other):
                return True

            __le__ = __gt__ = __ge__ = __lt__
            __hash__ = int.__hash__

        def sample_next(probs, temperature, rng):
            return Anything(0)
        """,
        "test_sample_next_type",
        "got Anything, a subclass of int",
    ),
}


@pytest.fixture(scope="module")
def lab07_solution_results():
    return run_cells(LAB)


def test_lab07_solution_passes_every_test_cell(lab07_solution_results):
    check_solution_passes(lab07_solution_results, at_least=10)


@pytest.mark.parametrize("name", list(LAB07))
def test_lab07_tests_catch_and_name_the_mistake(name):
    check_mistake(LAB, name, LAB07[name])
