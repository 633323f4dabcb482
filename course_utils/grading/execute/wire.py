"""Plain values across the boundary between a student's kernel and the grader.

Under ``course grade`` the tests run in the grader (``judge``) and only call the
student's functions in the kernel (``answer_server``). What crosses is *data*:
JSON with tagged numbers, strings, lists, tuples, dicts, sets, NumPy arrays and scalars (numeric,
bool and string dtypes, never ``object``), NumPy random generators (their state) and, through
an extension hook, Keras models (their configuration and weights). No pickle, no code: what the
grader decodes can only be one of these plain types, so no object a student builds (an ``int``
subclass, an array whose ``==`` always says yes) ever reaches a test. Anything else arrives as
an ``Unreceivable`` placeholder that names its type, so a test fails on it with a clear message.

``dumps`` runs in the student's kernel and may be fooled by the student's objects; it does not
matter, because whatever it sends is, by construction, only ever the student's answer. ``loads``
runs in the grader and trusts nothing: sizes, depth, dtypes and shapes are checked.
"""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np

#: NumPy dtype kinds that cross: bool, signed, unsigned, float, complex, str, bytes.
ARRAY_KINDS = "biufcUS"
#: Bit generators whose state is plain data (ints, and an array for MT19937).
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
MAX_DEPTH = 64
TAG = "~"


class WireError(ValueError):
    """What arrived is not a value the grader accepts (too big, too deep, malformed)."""


class Unreceivable:
    """Stands for a value of a type that cannot cross (a function, a file, a custom object)."""

    type_name = "object"

    def __repr__(self) -> str:
        return f"<{self.type_name} (a {self.type_name} cannot be sent to the grader)>"


#: A class name that may cross the wire (for a subclass or an exception), as sent
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")
_UNRECEIVABLE: dict[str, type] = {}


def unreceivable(type_name: str) -> Unreceivable:
    """A placeholder whose class carries ``type_name``, so that messages such as "returned a
    Foo" still read right."""
    name = type_name if isinstance(type_name, str) and PLAIN_NAME.fullmatch(type_name) else "object"
    cls = _UNRECEIVABLE.get(name)
    if cls is None:
        cls = _UNRECEIVABLE[name] = type(name, (Unreceivable,), {"type_name": name})
    return cls()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------------------------
# Encoding (in the kernel: best effort, never trusted)


def encode(obj, other=None, depth: int = 0):
    """``obj`` as JSON-able data. ``other(obj)`` may encode types this module does not know
    (it returns None to decline)."""
    if depth > MAX_DEPTH:
        raise WireError("the value is nested too deeply")
    if obj is None or type(obj) is bool or type(obj) is str:
        return obj
    if isinstance(obj, np.generic):
        arr = np.asarray(obj)
        if arr.dtype.kind not in ARRAY_KINDS:
            return {TAG: "other", "type": type(obj).__name__}
        return {TAG: "np", "dtype": arr.dtype.str, "b64": _b64(arr.tobytes())}
    if isinstance(obj, int) and not isinstance(obj, bool):
        return _sub(obj, int, int.__int__(obj))
    if isinstance(obj, float):
        value = float.__float__(obj)
        return _sub(obj, float, value if math.isfinite(value) else {TAG: "float", "v": repr(value)})
    if isinstance(obj, str):
        return _sub(obj, str, str.__str__(obj))
    if isinstance(obj, complex):
        return {TAG: "complex", "re": encode(obj.real), "im": encode(obj.imag)}
    if isinstance(obj, bytes | bytearray):
        return {TAG: "bytes", "b64": _b64(bytes(obj))}
    if isinstance(obj, np.ndarray):
        arr = np.ndarray.view(obj, np.ndarray)  # not ascontiguousarray: it makes 0-d 1-d
        if arr.dtype.kind not in ARRAY_KINDS or arr.dtype.fields or arr.dtype.subdtype:
            return {TAG: "other", "type": "ndarray"}
        return _sub(
            obj,
            np.ndarray,
            {
                TAG: "nd",
                "dtype": arr.dtype.str,
                "shape": list(arr.shape),
                "b64": _b64(arr.tobytes(order="C")),
            },
        )
    if isinstance(obj, list):
        items = [encode(x, other, depth + 1) for x in list.__iter__(obj)]
        return items if type(obj) is list else _sub(obj, list, {TAG: "list", "items": items})
    for kind in (tuple, set, frozenset):
        if isinstance(obj, kind):
            items = [encode(x, other, depth + 1) for x in kind.__iter__(obj)]
            return _sub(obj, kind, {TAG: kind.__name__, "items": items})
    if isinstance(obj, dict):
        items = [
            [encode(k, other, depth + 1), encode(v, other, depth + 1)] for k, v in dict.items(obj)
        ]
        return _sub(obj, dict, {TAG: "dict", "items": items})
    if isinstance(obj, np.random.Generator):
        bits = obj.bit_generator
        return {TAG: "rng", "bits": type(bits).__name__, "state": encode(bits.state, other, 1)}
    if other is not None:
        done = other(obj)
        if done is not None:
            return done
    return {TAG: "other", "type": type(obj).__name__}


def _sub(obj, base: type, encoded):
    """``encoded``, marked with the name of ``obj``'s class when that is a subclass of ``base``:
    the grader rebuilds the plain value in an empty subclass of that name, so the checks refuse
    it as they would in the kernel ("got Liar, a subclass of np.ndarray"), while none of the
    student's methods come along."""
    if type(obj) is base:
        return encoded
    if not isinstance(encoded, dict):
        encoded = {TAG: base.__name__, "v": encoded}
    return {**encoded, "sub": type(obj).__name__}


def dumps(obj, other=None) -> bytes:
    return json.dumps(encode(obj, other), separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------
# Decoding (in the grader: checks everything)


def _array(spec: dict, scalar: bool):
    try:
        dtype = np.dtype(str(spec["dtype"]))
        data = base64.b64decode(str(spec["b64"]), validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"a malformed array: {exc}") from None
    if dtype.kind not in ARRAY_KINDS or dtype.fields or dtype.subdtype or dtype.itemsize == 0:
        raise WireError(f"arrays of dtype {dtype} are not accepted")
    shape = () if scalar else spec.get("shape")
    if (
        not isinstance(shape, list | tuple)
        or not all(type(n) is int and 0 <= n < 2**62 for n in shape)
        or len(shape) > 32
    ):
        raise WireError("a malformed array shape")
    count = math.prod(shape)
    if count * dtype.itemsize != len(data):
        raise WireError(
            f"an array of shape {tuple(shape)} and dtype {dtype} with {len(data)} bytes of data"
        )
    try:
        arr = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    except ValueError as exc:  # a shape NumPy cannot make, even empty
        raise WireError(f"an array of shape {tuple(shape)}: {exc}") from None
    return arr[()] if scalar else arr


_SUBCLASSES: dict[tuple[type, str], type] = {}
_BASES = {
    "int": int,
    "float": float,
    "str": str,
    "list": list,
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "dict": dict,
    "nd": np.ndarray,
}


def _subclass(base: type, name) -> type:
    """An empty subclass of ``base`` named like the student's class (methods: none of theirs)."""
    name = name if isinstance(name, str) and PLAIN_NAME.fullmatch(name) else "Subclass"
    key = (base, name)
    if key not in _SUBCLASSES:
        _SUBCLASSES[key] = type(name, (base,), {"__module__": "student"})
    return _SUBCLASSES[key]


def decode(data, other=None, depth: int = 0):
    """The value ``encode`` described; ``other(spec)`` decodes what an ``encode`` hook made."""
    if depth > MAX_DEPTH:
        raise WireError("the value is nested too deeply")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode(x, other, depth + 1) for x in data]
    if type(data) is not dict or type(data.get(TAG)) is not str:
        raise WireError("a malformed value")
    if "sub" in data:
        base = _BASES.get(data[TAG])
        if base is None:
            raise WireError("a malformed subclass")
        plain = {k: v for k, v in data.items() if k != "sub"}
        value = (
            decode(plain["v"], None, depth + 1) if "v" in plain else decode(plain, other, depth + 1)
        )
        if not isinstance(value, base):
            raise WireError("a malformed subclass")
        cls = _subclass(base, data["sub"])
        return value.view(cls) if base is np.ndarray else cls(value)
    tag = data[TAG]
    if tag == "float":
        text = data.get("v")
        if text not in ("nan", "inf", "-inf"):
            raise WireError("a malformed float")
        return float(text)
    if tag == "complex":
        re_, im = decode(data.get("re"), None, depth + 1), decode(data.get("im"), None, depth + 1)
        if type(re_) is not float or type(im) is not float:
            raise WireError("a malformed complex number")
        return complex(re_, im)
    if tag == "bytes":
        try:
            return base64.b64decode(str(data.get("b64")), validate=True)
        except ValueError as exc:
            raise WireError(f"malformed bytes: {exc}") from None
    if tag in ("nd", "np"):
        return _array(data, scalar=tag == "np")
    if tag in ("list", "tuple", "set", "frozenset", "dict"):
        items = data.get("items")
        if type(items) is not list:
            raise WireError(f"a malformed {tag}")
        values = [decode(x, other, depth + 1) for x in items]
        try:
            if tag in ("list", "tuple"):
                return list(values) if tag == "list" else tuple(values)
            if tag == "dict":
                if not all(type(kv) is list and len(kv) == 2 for kv in values):
                    raise WireError("a malformed dict")
                return {k: v for k, v in values}
            return set(values) if tag == "set" else frozenset(values)
        except TypeError as exc:  # an unhashable key or member
            raise WireError(f"a malformed {tag}: {exc}") from None
    if tag == "rng":
        bits = data.get("bits")
        if bits not in BIT_GENERATORS:
            raise WireError(f"random generators with the bit generator {bits!r} are not accepted")
        state = decode(data.get("state"), None, depth + 1)
        generator = np.random.Generator(getattr(np.random, bits)())
        try:
            generator.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            raise WireError(f"a malformed {bits} state: {exc}") from None
        return generator
    if tag == "other":
        return unreceivable(data.get("type"))
    if other is not None:
        return other(data)
    raise WireError(f"values of kind {tag!r} are not accepted here")


def loads(payload: bytes, other=None, max_bytes: int = 64 << 20):
    if len(payload) > max_bytes:
        raise WireError(f"{len(payload)} bytes, more than the limit of {max_bytes}")
    try:
        data = json.loads(payload)
    except RecursionError:
        raise WireError("the value is nested too deeply") from None
    except ValueError as exc:
        raise WireError(f"not valid JSON: {str(exc)[:200]}") from None
    try:
        return decode(data, other)
    except RecursionError:
        raise WireError("the value is nested too deeply") from None
