"""The check helpers accept honest answers and refuse answers built to fake a comparison.

A student's code runs in the same process as the lab's tests, so it can return objects whose
``__eq__`` always says True, subclasses of int, str, list, dict or np.ndarray that lie to ``==``,
``len`` or NumPy, or objects whose ``__array__`` gives whatever array it likes. Each of those must
fail with an AssertionError that names the type problem.
"""

import re
import warnings

import numpy as np
import pytest

from course_utils.checks import (
    check_array,
    check_close,
    check_equal,
    check_plain,
    check_raises,
    check_scalar,
    check_type,
)

# ---- forgeries ----


class AlwaysEqual:
    """A user class that equals everything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __hash__(self):
        return 0

    def __bool__(self):
        return True

    def __len__(self):
        return 8


def forged(base):
    """A subclass of ``base`` whose comparisons, hash, truth and length are all forged."""
    namespace = {
        "__eq__": lambda self, other: True,
        "__ne__": lambda self, other: False,
        "__lt__": lambda self, other: False,
        "__le__": lambda self, other: True,
        "__gt__": lambda self, other: False,
        "__ge__": lambda self, other: True,
        "__hash__": lambda self: hash(base()),
        "__bool__": lambda self: True,
        "__contains__": lambda self, item: True,
    }
    if base not in (int, float):
        namespace["__len__"] = lambda self: 8
    return type(f"Forged{base.__name__.capitalize()}", (base,), namespace)


ForgedInt, ForgedFloat, ForgedStr = forged(int), forged(float), forged(str)
ForgedList, ForgedTuple, ForgedDict, ForgedSet = (
    forged(list),
    forged(tuple),
    forged(dict),
    forged(set),
)


class UfuncLiar(np.ndarray):
    """An ndarray whose every ufunc (np.isclose, np.equal, np.isfinite...) answers True."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return True


class EqLiar(np.ndarray):
    """An ndarray whose == and != always say 'equal'."""

    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    def __ne__(self, other):
        return np.zeros(self.shape, dtype=bool)


class FunctionLiar(np.ndarray):
    """An ndarray for which np.allclose, np.array_equal and every NumPy function says True."""

    def __array_function__(self, func, types, args, kwargs):
        return True


class ArrayLike:
    """Not an array at all: it only says what np.asarray should make of it."""

    def __array__(self, dtype=None, copy=None):
        return np.array([1.0, 2.0, 3.0])


def fails(call, *args, match, **kwargs):
    """Run a check that must fail; return its message, which must match ``match``."""
    with pytest.raises(AssertionError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert re.search(match, message), message
    return message


# ---- check_equal: honest answers ----


@pytest.mark.parametrize(
    "got, expected",
    [
        (["the", "cat"], ["the", "cat"]),
        ({"the": 2, "cat": 3}, {"the": 2, "cat": 3}),
        ([("a", "b"), ("b", "c")], [("a", "b"), ("b", "c")]),
        ([[2, 3], [], [1]], [[2, 3], [], [1]]),
        ([np.int64(2), np.int32(3)], [2, 3]),  # indices taken from a NumPy array
        (np.int64(8), 8),
        (8, 8),
        (2, 2.0),  # an int may stand for a float
        (np.float64(0.5), 0.5),
        (True, True),
        (np.bool_(False), False),
        ({1, 2}, {1, 2}),
        (frozenset({"a"}), frozenset({"a"})),
        ("queen", "queen"),
        ([], []),
        ({}, {}),
        (None, None),
        ({"a": {"b": [1, (2, "c")]}}, {"a": {"b": [1, (2, "c")]}}),
    ],
)
def test_check_equal_accepts_honest_values(got, expected):
    check_equal(got, expected, "f(x)")


def test_check_equal_still_names_likely_mistakes_and_wrong_values():
    fails(
        check_equal,
        ["A"],
        ["a"],
        "tokenize(s)",
        likely={"case kept": ["A"]},
        match=r"tokenize\(s\) is wrong: .*Likely mistake: case kept\.",
    )
    # A list of lists where tuples are expected is a value mistake that `likely` can name...
    fails(
        check_equal,
        [["a", "b"]],
        [("a", "b")],
        "ngrams(t, 2)",
        likely={"each n-gram must be a tuple, not a list": [["a", "b"]]},
        match="Likely mistake: each n-gram must be a tuple, not a list",
    )
    # ... and without one, the message says which item has the wrong type.
    fails(
        check_equal,
        [["a", "b"]],
        [("a", "b")],
        "ngrams(t, 2)",
        match=r"list of tuple of str; it has an item of type list at index 0",
    )
    fails(check_equal, ("a",), ["a"], "tokenize(s)", match="should return a list, got tuple")
    fails(check_equal, None, [1], "f(x)", match="return. statement missing")


# ---- check_equal: forgeries ----


@pytest.mark.parametrize(
    "got, expected, match",
    [
        (AlwaysEqual(), 3, r"should return an int, got AlwaysEqual"),
        (AlwaysEqual(), "queen", r"should return a str, got AlwaysEqual"),
        (AlwaysEqual(), ["a"], r"should return a list, got AlwaysEqual"),
        (AlwaysEqual(), {"a": 1}, r"should return a dict, got AlwaysEqual"),
        (AlwaysEqual(), ("a",), r"should return a tuple, got AlwaysEqual"),
        (AlwaysEqual(), {1}, r"should return a set, got AlwaysEqual"),
        (ForgedInt(3), 8, r"got ForgedInt \(a subclass of int: return a plain int\)"),
        (ForgedFloat(0.1), 0.96, r"got ForgedFloat \(a subclass of float"),
        (ForgedInt(3), 0.5, r"should return a float, got ForgedInt"),
        (ForgedStr("king"), "queen", r"got ForgedStr \(a subclass of str"),
        (ForgedList(), ["a", "b"], r"got ForgedList \(a subclass of list"),
        (ForgedTuple(), ("a", "b"), r"got ForgedTuple \(a subclass of tuple"),
        (ForgedDict(), {"the": 2}, r"got ForgedDict \(a subclass of dict"),
        (ForgedSet(), {1, 2}, r"got ForgedSet \(a subclass of set"),
        ([AlwaysEqual()], [1], r"a list of int; got an item of type AlwaysEqual at index 0"),
        (["the", ForgedStr("x")], ["the", "cat"], r"got an item of type ForgedStr at index 1"),
        ([[2, 3], [ForgedInt(1)]], [[2, 3], [4]], r"got an item of type ForgedInt at \[1\]\[0\]"),
        ([("a", AlwaysEqual())], [("a", "b")], r"of type AlwaysEqual at \[0\]\[1\]"),
        (
            {"the": AlwaysEqual()},
            {"the": 2},
            r"should return a dict of str -> int; got a value of type AlwaysEqual at key 'the'",
        ),
        ({"the": ForgedInt(2)}, {"the": 2}, r"a value of type ForgedInt at key 'the'"),
        ({ForgedStr("the"): 2}, {"the": 2}, r"a dict of str -> int; got a key of type ForgedStr"),
        ({AlwaysEqual(): 2}, {"the": 2}, r"got a key of type AlwaysEqual"),
        ({"a": {"b": AlwaysEqual()}}, {"a": {"b": 1}}, r"of type AlwaysEqual at \['a'\]\['b'\]"),
        ({1, ForgedInt(2)}, {1, 2}, r"a set of int; got an element of type ForgedInt"),
        ([AlwaysEqual(), 1, 2], [1], r"an item of type AlwaysEqual at index 0"),  # extra items
        ([1, 2, AlwaysEqual()], [1], r"an item of type AlwaysEqual at index 2"),
        ([ForgedList()], [[1]], r"an item of type ForgedList at index 0"),
        ([ForgedDict()], [{}], r"an item of type ForgedDict at index 0"),
    ],
)
def test_check_equal_refuses_forged_values(got, expected, match):
    fails(check_equal, got, expected, "build_vocabulary(texts)", match=match)


def test_check_equal_refuses_a_forgery_even_when_likely_would_match_it():
    fails(
        check_equal,
        [AlwaysEqual()],
        [1],
        "f(x)",
        likely={"anything": [2]},
        match="got an item of type AlwaysEqual at index 0$",
    )


@pytest.mark.parametrize(
    "got, expected, match",
    [
        (True, 1, r"should return an int, got bool"),
        (1, True, r"should return a bool, got int"),
        ([True, False], [1, 0], r"a list of int; got an item of type bool at index 0"),
        ([1, 0], [True, False], r"a list of bool; got an item of type int at index 0"),
        ({"a": True}, {"a": 1}, r"a value of type bool at key 'a'"),
        ({True: "x"}, {1: "x"}, r"got a key of type bool"),
        ({True}, {1}, r"got an element of type bool"),
        (np.bool_(True), 1, r"should return an int, got bool"),
        ([1.0, 2.0], [1, 2], r"a list of int; got an item of type float at index 0"),
        (2.0, 2, r"should return an int, got float"),
    ],
)
def test_check_equal_refuses_bools_and_floats_that_equal_the_expected_ints(got, expected, match):
    fails(check_equal, got, expected, "texts_to_sequences(texts, vocab)", match=match)


def test_check_equal_refuses_a_value_that_contains_itself():
    loop = [1]
    loop.append(loop)
    fails(check_equal, loop, [1, [1]], "f(x)", match="contains itself")


def test_check_equal_runs_no_code_of_the_answer_to_compare():
    calls = []

    class Spy(str):
        def __eq__(self, other):
            calls.append("eq")
            return True

        __hash__ = str.__hash__

    fails(check_equal, [Spy("a")], ["b"], "f(x)", match="type Spy")
    assert not calls


# ---- check_plain and check_type ----


def test_check_plain_accepts_plain_values_and_refuses_the_rest():
    value = {"kernel_size": (7,), "padding": "valid", "units": np.int64(3), "seed": None}
    assert check_plain(value, "config") is value
    assert check_plain(True, "return_sequences") is True
    fails(check_plain, ForgedInt(32), "filters", match="plain Python value.*ForgedInt, a subclass")
    fails(check_plain, ForgedStr("relu"), "activation", match="ForgedStr, a subclass of str")
    fails(check_plain, AlwaysEqual(), "units", match="got AlwaysEqual")
    fails(check_plain, (ForgedInt(7),), "kernel_size", match="an item of type ForgedInt at index 0")
    fails(check_plain, {"a": [1, ForgedInt(2)]}, "c", match=r"type ForgedInt at \['a'\]\[1\]")
    fails(check_plain, [np.zeros(2)], "c", match="an item of type ndarray at index 0")


def test_check_type_wants_the_exact_type():
    assert check_type({"a": 2}, dict, "build_vocabulary(texts)") == {"a": 2}
    assert check_type(3, (int, np.integer), "sample_next(p)") == 3
    assert check_type(np.int64(3), (int, np.integer), "sample_next(p)") == 3
    assert check_type(np.float32(1), np.floating, "x") == 1
    fails(check_type, None, dict, "build_vocabulary(texts)", match="return. statement missing")
    fails(check_type, [("a", 2)], dict, "build_vocabulary(texts)", match="a dict, got list")
    fails(check_type, ForgedDict(), dict, "f()", match="ForgedDict, a subclass of dict")
    fails(check_type, ForgedInt(2), (int, np.integer), "f()", match="a subclass of int")
    fails(check_type, True, (int, np.integer), "f()", match="got bool, a subclass of int")
    fails(check_type, np.float64(2), (int, np.integer), "f()", match="NumPy integer, got float64")
    fails(check_type, ForgedStr("x"), str, "the message", match="ForgedStr, a subclass of str")
    fails(check_type, np.str_("x"), str, "the message", match="str_, a subclass of str")
    fails(check_type, np.zeros(2).view(EqLiar), np.ndarray, "x", match="subclass of NumPy array")
    fails(check_type, AlwaysEqual(), np.ndarray, "x", match="a NumPy array, got AlwaysEqual")


# ---- check_array and check_close ----


def test_check_array_and_check_close_accept_honest_arrays_and_numbers():
    x = np.arange(6.0).reshape(2, 3)
    assert check_array(x, "f(x)", shape=(2, 3)) is x
    check_close(x, x.tolist(), "f(x)")
    check_close(x.astype(np.float32), x, "f(x)")
    check_close(np.arange(3), [0, 1, 2], "f(x)")
    check_close(0.96, 0.96, "cos(u, v)")
    check_close(np.float32(0.5), 0.5, "cos(u, v)")
    check_close(np.array(0.5), 0.5, "cos(u, v)")
    check_close(2, 2.0, "n")


@pytest.mark.parametrize("liar", [UfuncLiar, EqLiar, FunctionLiar])
def test_check_close_and_check_array_refuse_ndarray_subclasses(liar):
    wrong = np.zeros(3).view(liar)
    fails(check_close, wrong, [1.0, 2.0, 3.0], "f(x)", match=f"got {liar.__name__}, a subclass")
    fails(check_array, wrong, "f(x)", match="plain NumPy array")


def test_the_liars_would_fool_numpy_itself():
    """The forgeries above are real: without the exact type check, NumPy would say 'equal'."""
    assert np.allclose(np.zeros(3).view(UfuncLiar), [1.0, 2.0, 3.0])
    assert np.all(np.zeros(3).view(EqLiar) == [1.0, 2.0, 3.0])
    assert np.array_equal(np.zeros(3).view(FunctionLiar), [1.0, 2.0, 3.0])
    assert [AlwaysEqual()] == [1] and {"the": ForgedInt(9)} == {"the": 2}


def test_check_array_refuses_matrix_and_masked_arrays_by_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        matrix = np.matrix([[1.0, 2.0]])
    fails(check_array, matrix, "f(x)", match="got matrix, a subclass of np.ndarray.*np.matrix")
    fails(check_close, matrix, [[1.0, 2.0]], "f(x)", match="got matrix")
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    fails(check_array, masked, "f(x)", match="got MaskedArray, a subclass.*masked")


def test_check_close_refuses_objects_that_only_convert_to_arrays():
    fails(check_close, ArrayLike(), [1.0, 2.0, 3.0], "f(x)", match="NumPy array, got ArrayLike")
    fails(check_close, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "f(x)", match="got list.*np.stack")
    fails(check_close, ForgedFloat(0.96), 0.96, "cos", match="got ForgedFloat, a subclass of float")
    fails(check_close, AlwaysEqual(), 0.96, "cos", match="NumPy array, got AlwaysEqual")


def test_check_close_compares_plain_arrays_even_when_expected_is_a_subclass():
    """An expected value built from a student's output (lab 05 loops the student's step)."""
    fails(check_close, np.zeros(3), np.ones(3).view(UfuncLiar), "f(x)", match="wrong values")
    check_close(np.ones(3), np.ones(3).view(EqLiar), "f(x)")


def test_check_array_refuses_non_numbers_and_wrong_shapes():
    fails(check_array, np.array(["a"]), "f(x)", match="should hold numbers, got dtype <U1")
    fails(check_array, np.zeros(2, dtype=bool), "f(x)", match="dtype bool")
    fails(check_array, np.zeros(3), "f(x)", shape=(2,), match=r"shape \(2,\), got \(3,\)")


# ---- check_scalar ----


@pytest.mark.parametrize(
    "got", [0.96, 1, np.float64(0.96), np.float32(0.5), np.int64(2), np.array(0.5), np.array(3)]
)
def test_check_scalar_accepts_plain_numbers(got):
    assert check_scalar(got, "loss") == float(got)
    assert type(check_scalar(got, "loss")) is float


@pytest.mark.parametrize(
    "got, match",
    [
        (ForgedFloat(0.3), "got ForgedFloat, a subclass of float"),
        (ForgedInt(0), "got ForgedInt, a subclass of int"),
        (AlwaysEqual(), "single number, got AlwaysEqual"),
        (np.array(0.5).view(UfuncLiar), "got UfuncLiar, a subclass of ndarray"),
        (np.ones(2), r"got ndarray with shape \(2,\).*reduce over the batch"),
        ([0.5], "got list of length 1"),
        (True, "got the bool True"),
        (np.bool_(False), "got the bool False"),
        (np.array("a"), "should return a number, got an array of <U1"),
        (None, "return. statement missing"),
    ],
)
def test_check_scalar_refuses_everything_else(got, match):
    fails(check_scalar, got, "sequence_cross_entropy(probs, targets)", match=match)


# ---- check_raises ----


class NamesEverything(str):
    def __contains__(self, item):
        return True


class SaysItNamesIt(ValueError):
    def __str__(self):
        return NamesEverything("no name here")


def test_check_raises_reads_the_message_as_a_plain_str():
    def bad():
        raise SaysItNamesIt()

    fails(check_raises, bad, ValueError, "f('x')", mention=("x",), match="should mention")

    def good():
        raise ValueError("character 'x' is not in chars")

    message = check_raises(good, ValueError, "f('x')", mention=("x",))
    assert type(message) is str


def test_check_raises_names_the_wrong_exception():
    def wrong():
        raise KeyError("planet")

    fails(
        check_raises,
        wrong,
        ValueError,
        "f('planet')",
        match=r"should raise ValueError, but it raised KeyError: 'planet'",
    )
    fails(check_raises, lambda: None, ValueError, "f()", match="returned normally")
    with pytest.raises(NotImplementedError):
        check_raises(lambda: (_ for _ in ()).throw(NotImplementedError()), ValueError, "f()")
