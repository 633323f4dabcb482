"""Assertions for the labs' test cells: each failure says what was expected, what came, and why.

A lab test computes the right answer and, where it can, the answers that common mistakes give
(``likely``); when the student's result matches one of those, the message names the mistake.

A student's code runs in the same process as the tests, so what it returns may be built to lie:
an object whose ``__eq__`` always returns True, a ``str`` or ``int`` subclass that compares equal
to anything, an ``np.ndarray`` subclass whose ``__array_ufunc__`` makes ``np.allclose`` say True.
So every helper here first checks the *exact* type of what it got (recursively, for lists, tuples,
dicts and sets), refuses subclasses, and only then compares, on plain values and plain arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# NumPy's own scalar types, exactly (a subclass of np.float64 defined elsewhere is not one).
_NP_INTS = frozenset(np.dtype(code).type for code in np.typecodes["AllInteger"])
_NP_FLOATS = frozenset(np.dtype(code).type for code in np.typecodes["Float"])
_INTS = frozenset({int}) | _NP_INTS
_FLOATS = frozenset({float}) | _NP_FLOATS
_BOOLS = frozenset({bool, np.bool_})
_NUMBERS = _INTS | _FLOATS
# What a plain value is made of: these types exactly, nested in these containers exactly.
_ATOMS = _NUMBERS | _BOOLS | {str, type(None)}
_SEQUENCES = (list, tuple)
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
# check_type: NumPy's abstract scalar types stand for NumPy's own scalar types of that kind.
_EXACT = {
    np.integer: _NP_INTS,
    np.floating: _NP_FLOATS,
    np.number: _NP_INTS | _NP_FLOATS,
    np.bool_: frozenset({np.bool_}),
}
_NAMES = {
    np.ndarray: "NumPy array",
    np.integer: "NumPy integer",
    np.floating: "NumPy float",
    np.number: "NumPy number",
    np.bool_: "NumPy bool",
    type(None): "None",
}


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _type_name(t: type) -> str:
    return _NAMES.get(t, t.__name__)


def _repr(value: Any, limit: int = 200) -> str:
    """repr() for a message: never runs more than repr itself, never fails, never too long."""
    try:
        text = str.__str__(repr(value))  # plain, even if a student's __repr__ gave a subclass
    except Exception:  # a student's __repr__ may raise
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _str(value: Any) -> str:
    """str(value) as a plain str: a str subclass from a student's __str__ could fake ``in``."""
    try:
        text = str(value)
    except Exception:  # a student's __str__ may raise
        return f"<{type(value).__name__} object>"
    return str.__str__(text)  # a copy of exactly type str, whatever type str() gave


def _subclass_of(value: Any, bases: tuple[type, ...]) -> type | None:
    """The first of ``bases`` that ``value``'s type subclasses without being it, else None."""
    for base in bases:
        if isinstance(value, base) and type(value) is not base:
            return base
    return None


def check_type(got: Any, expected_type: type | tuple[type, ...], what: str) -> Any:
    """Fail unless ``type(got)`` is exactly ``expected_type`` (or one of a tuple of types).

    Subclasses are refused: a subclass can change what ``==``, ``len``, ``in`` or NumPy's
    functions do with it. ``np.integer``, ``np.floating``, ``np.number`` and ``np.bool_`` stand
    for NumPy's own scalar types of that kind (``np.int64``, ``np.float32``, ...). Returns ``got``.
    """
    if type(got) is expected_type:  # the common case, fast (called per item of long lists)
        return got
    types = expected_type if isinstance(expected_type, tuple) else (expected_type,)
    allowed = frozenset().union(*(_EXACT.get(t, {t}) for t in types))
    if type(got) in allowed:
        return got
    wanted = _a(" or ".join(_type_name(t) for t in types))
    if got is None:
        raise AssertionError(
            f"{what} should be {wanted}, got None: is a `return` statement missing?"
        )
    base = _subclass_of(got, tuple(t for t in types if t not in _EXACT))
    if base is not None:
        raise AssertionError(
            f"{what} should be {wanted}, got {type(got).__name__}, a subclass of "
            f"{_type_name(base)}: return a plain {_type_name(base)}"
        )
    raise AssertionError(f"{what} should be {wanted}, got {type(got).__name__}")


def check_array(got: Any, what: str, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Fail unless ``got`` is a plain numeric NumPy array (of ``shape``, when given); return it.

    ``type(got)`` must be ``np.ndarray`` itself: subclasses (np.matrix, masked arrays, or a
    class that overrides ``__array_ufunc__`` or ``__eq__``) are refused.
    """
    if got is None:
        raise AssertionError(f"{what} returned None: is a `return` statement missing?")
    if type(got) is not np.ndarray:
        if isinstance(got, np.ndarray):
            hint = ""
            if isinstance(got, np.matrix):
                hint = " (np.matrix is not recommended: use 2D arrays, and @ to multiply them)"
            elif isinstance(got, np.ma.MaskedArray):
                hint = " (a masked array: fill the masked values, e.g. with .filled(0))"
            raise AssertionError(
                f"{what} should return a plain NumPy array, got {type(got).__name__}, a "
                f"subclass of np.ndarray{hint}; convert it with np.asarray"
            )
        base = None if type(got) in _BOOLS else _subclass_of(got, (int, float, str, list, tuple))
        raise AssertionError(
            f"{what} should return a NumPy array, got {type(got).__name__}"
            + (f", a subclass of {base.__name__}" if base else "")
            + (" (stack a list of arrays with np.stack)" if isinstance(got, list | tuple) else "")
        )
    if not np.issubdtype(got.dtype, np.number):
        raise AssertionError(f"{what} should hold numbers, got dtype {got.dtype}")
    if shape is not None and got.shape != tuple(shape):
        raise AssertionError(f"{what} should have shape {tuple(shape)}, got {got.shape}")
    return got


def _plain_array(value: Any) -> np.ndarray:
    """A plain ndarray of ``value`` (expected values and likely mistakes, made by the tests)."""
    return np.asarray(value)  # an ndarray subclass becomes a plain view of its data


def _matches(got: np.ndarray, candidate: Any, rtol: float, atol: float) -> bool:
    candidate = _plain_array(candidate)
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
    """Fail unless ``got`` is close to ``expected``; name a likely mistake if one fits.

    ``got`` must be a plain NumPy array (see check_array) or a number of an exact built-in or
    NumPy scalar type.
    """
    expected = _plain_array(expected)
    if type(got) in _ATOMS and got is not None:
        got = np.asarray(got)  # a plain Python or NumPy scalar
    got_arr = check_array(got, what, shape=expected.shape)
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
    """Fail unless ``got`` is a single real number; return it as a float.

    Accepted: a plain ``int`` or ``float``, a NumPy integer or float scalar, or a 0-d plain
    NumPy array of numbers; never a bool, nor a subclass of any of these.
    """
    if got is None:
        raise AssertionError(f"{what} returned None: is a `return` statement missing?")
    kind = type(got)
    if kind in _NUMBERS:
        return float(got)
    if kind is np.ndarray:
        if got.shape != ():
            raise AssertionError(
                f"{what} should return a single number, got ndarray with shape {got.shape} "
                "(did you forget to reduce over the batch?)"
            )
        if not np.issubdtype(got.dtype, np.number):
            raise AssertionError(f"{what} should return a number, got an array of {got.dtype}")
        return float(got)
    if kind in _BOOLS:
        raise AssertionError(f"{what} should return a single number, got the bool {got}")
    base = _subclass_of(got, (np.ndarray, bool, int, float, np.number))
    if base is not None:
        raise AssertionError(
            f"{what} should return a single number, got {kind.__name__}, a subclass of "
            f"{base.__name__}: return a plain float"
        )
    size = f" of length {len(got)}" if kind in _SEQUENCES else ""
    hint = " (did you forget to reduce over the batch?)" if size else ""
    raise AssertionError(f"{what} should return a single number, got {kind.__name__}{size}{hint}")


# ---- check_equal and check_plain: plain values, compared by exact type, then by value ----


def _describe(value: Any) -> str:
    """'list of tuple of str', 'dict of str -> int': the type of a value, with its contents."""
    kind = type(value)
    if kind in _INTS:
        return "int"
    if kind in _FLOATS:
        return "float"
    if kind in _BOOLS:
        return "bool"
    if kind is dict and value:
        keys = {_describe(k) for k in value}
        values = {_describe(v) for v in value.values()}
        if len(keys) == 1 and len(values) == 1:
            return f"dict of {keys.pop()} -> {values.pop()}"
    elif kind in _CONTAINERS and value:
        items = {_describe(v) for v in value}
        if len(items) == 1:
            return f"{kind.__name__} of {items.pop()}"
    return _type_name(kind)


def _same_kind(got_type: type, expected_type: type) -> bool:
    """Whether a value of got_type may stand where the test expects one of expected_type."""
    if expected_type in _BOOLS:
        return got_type in _BOOLS
    if expected_type in _INTS:
        return got_type in _INTS
    if expected_type in _FLOATS:
        return got_type in _FLOATS or got_type in _INTS
    return got_type is expected_type


_MISSING = object()


class _Problem(Exception):
    """A value of the wrong type, somewhere inside what check_equal or check_plain got."""

    def __init__(self, path: list, role: str, value: Any):
        super().__init__()
        self.path, self.role, self.value = path, role, value

    def where(self) -> str:
        """'at index 3', "at key 'the'", "at [0]['the']", ' in [2]' (for keys and elements)."""
        inside = self.role in ("key", "element")
        steps = self.path[:-1] if inside else self.path  # a key is not where it is found
        if not steps:
            return ""
        if len(steps) == 1 and self.role in ("item", "value"):
            return f" at {'index' if self.role == 'item' else 'key'} {_repr(steps[0], 60)}"
        subscripts = "".join(f"[{_repr(step, 60)}]" for step in steps)
        return f" {'in' if inside else 'at'} {subscripts}"

    def describe(self) -> str:
        if self.role == "cycle":
            return f"{_a(type(self.value).__name__)} that contains itself{self.where()}"
        return f"{_a(self.role)} of type {type(self.value).__name__}{self.where()}"


def _walk(got: Any, expected: Any, path: list, role: str, found: list, active: set) -> None:
    """Raise _Problem where ``got`` holds a value that is not plain; note in ``found`` the first
    place where a plain value has another kind than the corresponding part of ``expected``."""
    kind = type(got)
    if kind not in _ATOMS and kind not in _CONTAINERS:
        if expected is not _MISSING and kind is type(expected):
            return  # a type that the test itself uses: compared by its own __eq__
        raise _Problem(path, role, got)
    if expected is not _MISSING and not _same_kind(kind, type(expected)):
        if not found:
            found.append(_Problem(path, role, got))
        expected = _MISSING
    if kind not in _CONTAINERS:
        return
    if id(got) in active:
        raise _Problem(path, "cycle", got)  # described by where() as an item is
    active.add(id(got))
    if kind in _SEQUENCES:
        known = expected is not _MISSING
        for i, item in enumerate(got):
            counterpart = expected[i] if known and i < len(expected) else _MISSING
            _walk(item, counterpart, [*path, i], "item", found, active)
    else:
        # Keys and elements are checked before they are hashed to look up their counterpart.
        items = got.items() if kind is dict else ((item, _MISSING) for item in got)
        key_role = "key" if kind is dict else "element"
        originals = {k: k for k in expected} if expected is not _MISSING else {}
        for key, value in items:
            _walk(key, _MISSING, [*path, key], key_role, found, active)
            original = originals.get(key, _MISSING)
            if original is not _MISSING and not _same_kind(type(key), type(original)):
                if not found:
                    found.append(_Problem([*path, key], key_role, key))
            if kind is dict:
                counterpart = expected[original] if original is not _MISSING else _MISSING
                _walk(value, counterpart, [*path, key], "value", found, active)
    active.discard(id(got))


def check_plain(got: Any, what: str) -> Any:
    """Fail unless ``got`` is a plain value; return it.

    Plain: None, bool, int, float, str and NumPy's scalar types, and lists, tuples, dicts, sets
    and frozensets of plain values, each of exactly that type (no subclass, no other class), so
    that comparing it with ``==``, ``in`` or ``len`` runs no code of the student's.
    """
    try:
        _walk(got, _MISSING, [], "value", [], set())
    except _Problem as problem:
        if not problem.path and problem.role != "cycle":
            base = _subclass_of(got, tuple(_CONTAINERS) + (str, int, float))
            extra = f", a subclass of {base.__name__}" if base else ""
            raise AssertionError(
                f"{what} should be a plain Python value (a number, str, list, tuple, dict...), "
                f"got {type(got).__name__}{extra}"
            ) from None
        raise AssertionError(
            f"{what} should hold plain Python values; it has {problem.describe()}"
        ) from None
    return got


def check_equal(
    got: Any, expected: Any, what: str, *, likely: Mapping[str, Any] | None = None
) -> None:
    """Fail unless ``got == expected`` exactly (lists, dicts, strings, ints); name a likely mistake.

    ``likely`` maps a description of a mistake to the value that mistake produces.

    Types are compared first, exactly and all the way down: a list must hold ints where the
    expected list holds ints (a NumPy integer is one; a bool, a float or an int subclass is not),
    strs where it holds strs, and so on; ints may stand for floats. Only then are the values
    compared, so no code of the student's runs in the comparison.
    """
    if got is None and expected is not None:
        raise AssertionError(f"{what} returned None: is a `return` statement missing?")
    if not _same_kind(type(got), type(expected)):
        wanted = _describe(expected) if type(expected) in _ATOMS else _type_name(type(expected))
        base = _subclass_of(got, (type(expected),))
        extra = f" (a subclass of {base.__name__}: return a plain {base.__name__})" if base else ""
        raise AssertionError(
            f"{what} should return {_a(wanted)}, got {type(got).__name__}{extra}: {_repr(got)}"
        )
    found: list[_Problem] = []
    try:
        _walk(got, expected, [], "value", found, set())
    except _Problem as problem:
        raise AssertionError(
            f"{what} should return {_a(_describe(expected))}; got {problem.describe()}"
        ) from None
    if got == expected and not found:
        return
    if got == expected:  # the same values, but a bool for an int, a float for an int...
        raise AssertionError(
            f"{what} should return {_a(_describe(expected))}; got {found[0].describe()}"
        )
    lines = [f"{what} is wrong: expected {_repr(expected, 300)}, got {_repr(got, 300)}."]
    for mistake, candidate in (likely or {}).items():
        if got == candidate:
            lines.append(f"Likely mistake: {mistake}.")
            break
    else:
        if found:
            lines.append(f"It should be {_a(_describe(expected))}; it has {found[0].describe()}.")
    raise AssertionError(" ".join(lines))


def check_raises(call, error: type[Exception], what: str, *, mention: tuple[str, ...] = ()) -> str:
    """Fail unless ``call()`` raises ``error`` with a message naming every string in ``mention``.

    A ``NotImplementedError`` (an unanswered exercise) propagates unchanged. Returns the message.
    """
    try:
        call()
    except error as exc:
        message = _str(exc)
        missing = [m for m in mention if m not in message]
        if missing:
            raise AssertionError(
                f"{what} raised {error.__name__}({message!r}); the message should mention {missing}"
            ) from None
        return message
    except NotImplementedError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"{what} should raise {error.__name__}, but it raised {type(exc).__name__}: {_str(exc)}"
        ) from None
    raise AssertionError(f"{what} should raise {error.__name__}, but it returned normally")
