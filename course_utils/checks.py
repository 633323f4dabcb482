"""Assertions for the labs' test cells: each failure says what was expected, what came, and why.

A lab test computes the right answer and, where it can, the answers that common mistakes give
(``likely``); when the student's result matches one of those, the message names the mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def check_array(got: Any, what: str, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Fail unless ``got`` is a numeric NumPy array (of ``shape``, when given); return it."""
    if got is None:
        raise AssertionError(f"{what} returned None: is a `return` statement missing?")
    if not isinstance(got, np.ndarray):
        raise AssertionError(
            f"{what} should return a NumPy array, got {type(got).__name__}"
            + (" (stack a list of arrays with np.stack)" if isinstance(got, list | tuple) else "")
        )
    if not np.issubdtype(got.dtype, np.number):
        raise AssertionError(f"{what} should hold numbers, got dtype {got.dtype}")
    if shape is not None and got.shape != tuple(shape):
        raise AssertionError(f"{what} should have shape {tuple(shape)}, got {got.shape}")
    return got


def _matches(got: np.ndarray, candidate: Any, rtol: float, atol: float) -> bool:
    candidate = np.asarray(candidate)
    return candidate.shape == got.shape and bool(np.allclose(got, candidate, rtol=rtol, atol=atol))


def check_close(
    got: Any,
    expected: Any,
    what: str,
    *,
    likely: Mapping[str, Any] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Fail unless ``got`` is close to ``expected``; name a likely mistake if one fits."""
    expected = np.asarray(expected)
    got_arr = check_array(np.asarray(got) if np.isscalar(got) else got, what, shape=expected.shape)
    if not np.all(np.isfinite(got_arr)):
        raise AssertionError(
            f"{what} contains NaN or inf where finite values were expected "
            "(a log of 0, or 0 * inf from masking by multiplication?)"
        )
    if np.allclose(got_arr, expected, rtol=rtol, atol=atol):
        return
    diff = np.abs(got_arr - expected)
    where = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    lines = [
        f"{what} has wrong values: the largest difference is {diff.max():.4g} at index "
        f"{tuple(int(i) for i in where)} (expected {float(expected[where]):.6g}, "
        f"got {float(got_arr[where]):.6g})."
    ]
    for mistake, candidate in (likely or {}).items():
        if _matches(got_arr, candidate, rtol, atol):
            lines.append(f"Likely mistake: {mistake}.")
            break
    raise AssertionError(" ".join(lines))


def check_scalar(got: Any, what: str) -> float:
    """Fail unless ``got`` is a single real number; return it as a float."""
    if got is None:
        raise AssertionError(f"{what} returned None: is a `return` statement missing?")
    arr = np.asarray(got)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.number):
        raise AssertionError(
            f"{what} should return a single number, got {type(got).__name__} with shape "
            f"{arr.shape} (did you forget to reduce over the batch?)"
        )
    return float(arr)


def check_equal(
    got: Any, expected: Any, what: str, *, likely: Mapping[str, Any] | None = None
) -> None:
    """Fail unless ``got == expected`` exactly (lists, dicts, strings, ints); name a likely mistake.

    ``likely`` maps a description of a mistake to the value that mistake produces.
    """
    if got is None and expected is not None:
        raise AssertionError(f"{what} returned None: is a `return` statement missing?")
    if type(got) is not type(expected) and not (
        isinstance(got, int | float) and isinstance(expected, int | float)
    ):
        raise AssertionError(
            f"{what} should return a {type(expected).__name__}, "
            f"got {type(got).__name__}: {got!r:.200}"
        )
    if got == expected:
        return
    lines = [f"{what} is wrong: expected {expected!r:.300}, got {got!r:.300}."]
    for mistake, candidate in (likely or {}).items():
        if got == candidate:
            lines.append(f"Likely mistake: {mistake}.")
            break
    raise AssertionError(" ".join(lines))


def check_raises(call, error: type[Exception], what: str, *, mention: tuple[str, ...] = ()) -> str:
    """Fail unless ``call()`` raises ``error`` with a message naming every string in ``mention``.

    A ``NotImplementedError`` (an unanswered exercise) propagates unchanged. Returns the message.
    """
    try:
        call()
    except error as exc:
        missing = [m for m in mention if m not in str(exc)]
        if missing:
            raise AssertionError(
                f"{what} raised {error.__name__}({str(exc)!r}); the message should "
                f"mention {missing}"
            ) from None
        return str(exc)
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"{what} should raise {error.__name__}, but it raised {type(exc).__name__}: {exc}"
        ) from None
    raise AssertionError(f"{what} should raise {error.__name__}, but it returned normally")
