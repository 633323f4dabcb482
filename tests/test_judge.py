"""The judge that decides ``course grade``'s verdicts outside the student's kernel, and the plain
data its calls exchange with the kernel (course_utils.grading.execute.judge and .wire).

Attacks from inside a real kernel are in test_grade_adversarial.py; here: every solution passes
when judged, what the grader accepts from a kernel, and how a call's effects come back.
"""

from __future__ import annotations

import base64
import collections
import json
import subprocess
import sys

import numpy as np
import pytest

from course_utils.grading.execute import answer_server, wire
from course_utils.grading.execute.judge import (
    Judge,
    LocalTransport,
    StudentError,
    StudentFunction,
    decode_model,
    free_names,
)

from .mistakes import run_cells

LABS = [
    "lab01_text_encoding",
    "lab02_embeddings",
    "lab03_conv1d",
    "lab04_rnn_forward",
    "lab04b_rnn_backward",
    "lab05_lstm_gru",
    "lab06_imdb_models",
    "lab07_text_generation",
]


@pytest.mark.parametrize("lab", LABS)
def test_every_solution_passes_every_test_when_judged(lab):
    results = run_cells(lab, judged=True)
    assert results and all(v is None for v in results.values()), results


def roundtrip(value):
    return wire.loads(wire.dumps(value))


def test_plain_values_cross_unchanged_with_their_types():
    rng = np.random.default_rng(7)
    value = {
        "ints": [0, -3, 2**70],
        "floats": (1.5, float("inf"), -float("inf")),
        "flags": {True, False},
        "text": "héllo",
        "none": None,
        (1, "key"): frozenset({"a"}),
        "array": np.arange(12, dtype=np.float32).reshape(3, 4),
        "strings": np.array(["ab", "c"]),
        "scalar": np.int64(5),
        "complex": 1 - 2j,
        "bytes": b"\x00\x01",
        "rng": rng,
    }
    got = roundtrip(value)
    assert type(got["scalar"]) is np.int64 and got["scalar"] == 5
    assert got["array"].dtype == np.float32 and np.array_equal(got["array"], value["array"])
    assert type(got["floats"]) is tuple and np.isinf(got["floats"][1])
    assert got["ints"][2] == 2**70 and got[(1, "key")] == frozenset({"a"})
    assert got["strings"].tolist() == ["ab", "c"] and got["bytes"] == b"\x00\x01"
    assert got["rng"].random() == rng.random()  # the same state, a separate generator
    assert np.isnan(roundtrip(float("nan")))
    zero_d = roundtrip(np.array(2.5))  # a 0-d array stays 0-d (not shape (1,))
    assert type(zero_d) is np.ndarray and zero_d.shape == () and zero_d == 2.5
    strided = roundtrip(np.arange(12).reshape(3, 4)[:, ::2])  # a view that is not contiguous
    assert strided.tolist() == [[0, 2], [4, 6], [8, 10]]


def test_a_subclass_arrives_as_an_empty_subclass_with_the_plain_value():
    """No method of the student's class comes along: whatever __eq__ or __array_ufunc__ said,
    the grader compares the plain value; the name stays, so the checks still refuse it."""

    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

        def __array_ufunc__(self, *args, **kwargs):
            return True

    class Anything(int):
        def __eq__(self, other):
            return True

    got = roundtrip([np.zeros(3).view(Liar), Anything(3), collections.OrderedDict(a=1)])
    assert [type(x).__name__ for x in got] == ["Liar", "Anything", "OrderedDict"]
    assert not np.allclose(got[0], 1) and got[1] != 4 and got[2] == {"a": 1}
    assert type(got[0]).__eq__ is np.ndarray.__eq__ and isinstance(got[0], np.ndarray)


def test_what_cannot_cross_arrives_as_a_placeholder_that_names_it():
    got = roundtrip([len, open, object()])
    assert all(isinstance(x, wire.Unreceivable) for x in got)
    assert [type(x).__name__ for x in got] == [
        "builtin_function_or_method",
        "builtin_function_or_method",
        "object",
    ]
    assert "cannot be sent to the grader" in repr(got[0])


def spec(**fields) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (spec(**{"~": "nd", "dtype": "|O", "shape": [1], "b64": ""}), "not accepted"),
        (spec(**{"~": "nd", "dtype": "<f8", "shape": [4], "b64": "AAAA"}), "bytes of data"),
        (spec(**{"~": "nd", "dtype": "<f8", "shape": [-1], "b64": ""}), "shape"),
        (spec(**{"~": "rng", "bits": "Evil", "state": None}), "not accepted"),
        (spec(**{"~": "keras-model"}), "not accepted"),
        (spec(**{"~": "float", "v": "1e400"}), "malformed float"),
        (spec(**{"~": "dict", "items": [[[1], 2]]}), "malformed"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b"{not json", "not valid JSON"),
        (b"1" * 200, "more than the limit"),
    ],
)
def test_the_grader_refuses_malformed_or_oversized_values(payload, words):
    with pytest.raises(wire.WireError, match=words):
        wire.loads(payload, max_bytes=150) if words == "more than the limit" else wire.loads(
            payload
        )


def test_an_array_of_a_huge_empty_shape_costs_nothing():
    data = {"~": "nd", "dtype": "<f8", "shape": [0, 2**40], "b64": ""}
    assert wire.loads(json.dumps(data).encode()).shape == (0, 2**40)
    for shape, b64 in (([0, 2**61], ""), ([1, 2**40], base64.b64encode(b"\0" * 8).decode())):
        data.update(shape=shape, b64=b64)
        with pytest.raises(wire.WireError):
            wire.loads(json.dumps(data).encode())


def namespace_with(source: str) -> dict:
    ns: dict = {"np": np}
    exec(source, ns)  # noqa: S102 - the "kernel" side of these tests
    return ns


def test_changes_made_in_place_come_back_to_the_tests_objects():
    ns = namespace_with(
        "def f(a, items, table, rng):\n"
        "    a[0] = 99\n    items.append('x')\n    table['k'] = 1\n    rng.random()\n"
    )
    f = StudentFunction("f", LocalTransport(ns))
    a, items, table = np.zeros(3), [], {}
    rng, twin = np.random.default_rng(1), np.random.default_rng(1)
    assert f(a, items, table, rng) is None
    twin.random()
    assert a[0] == 99 and items == ["x"] and table == {"k": 1}
    assert rng.bit_generator.state == twin.bit_generator.state


def test_changes_inside_containers_come_back_too():
    """Arrays in a list scaled in place, a slot of a list rebound, an array in a dict in a
    tuple changed: the test's own objects see each change, as they would in the kernel."""
    ns = namespace_with(
        "def f(grads, pair):\n"
        "    for g in grads[:2]:\n        g *= 0.5\n"
        "    grads[2] = grads[2] + 1\n"
        "    pair[1]['w'][0] = -1.0\n"
    )
    f = StudentFunction("f", LocalTransport(ns))
    grads = [np.ones((2, 3)), np.full(4, 2.0), np.zeros(2)]
    first = grads[0]
    pair = ("label", {"w": np.zeros(3)})
    f(grads, pair)
    assert grads[0] is first and np.all(first == 0.5) and np.all(grads[1] == 1.0)
    assert np.all(grads[2] == 1.0)
    assert pair[1]["w"].tolist() == [-1.0, 0.0, 0.0]
    untouched = [np.ones(2), np.ones(2)]
    StudentFunction("f", LocalTransport(namespace_with("def f(x, y):\n    pass\n")))(
        untouched, ("a", {"w": np.zeros(1)})
    )
    assert [g.tolist() for g in untouched] == [[1.0, 1.0], [1.0, 1.0]]


def test_exceptions_keep_their_class_when_a_test_may_expect_it():
    ns = namespace_with(
        "def bad(x):\n    raise ValueError(f'unknown character {x!r}')\n"
        "def odd(x):\n    class Custom(Exception):\n        pass\n    raise Custom('no')\n"
        "def leave(x):\n    raise SystemExit(3)\n"
    )
    transport = LocalTransport(ns)
    with pytest.raises(ValueError, match="unknown character 'é'") as caught:
        StudentFunction("bad", transport)("é")
    assert "in bad" in caught.value.student_traceback
    with pytest.raises(StudentError) as caught:
        StudentFunction("odd", transport)(1)
    assert type(caught.value).__name__ == "Custom"
    with pytest.raises(StudentError):  # never a real SystemExit in the grader
        StudentFunction("leave", transport)(1)


def test_a_test_sees_the_students_functions_and_values_but_keeps_its_own_names():
    judge = Judge()
    judge.setup("import numpy as np\nfrom course_utils.checks import check_close\n")
    ns = namespace_with(
        "scale = 3\n"
        "def triple(x):\n    return x * scale\n"
        "check_close = lambda *a, **k: None  # the student's own: the test never sees it\n"
    )
    verdict = judge.test(
        "check_close(triple(np.ones(2)), [scale, scale], 'triple')\n"
        "check_close(triple(np.ones(2)), [0, 0], 'triple')\n",
        LocalTransport(ns),
    )
    assert verdict.status == "error" and "triple has wrong values" in verdict.evalue
    assert sorted(verdict.looked_up) == ["scale", "triple"]
    assert "triple" not in judge.namespace  # fetched again for the next test


def test_free_names_are_those_a_cell_reads_but_never_binds():
    source = (
        "import numpy as np\nx = f(1)\n"
        "def g(a):\n    return a + y\n"
        "for i in range(3):\n    z = i\n"
        "try:\n    pass\nexcept Exception as exc:\n    print(exc)\n"
    )
    assert free_names(source) == ["Exception", "f", "print", "range", "y"]


def test_a_model_configuration_that_names_a_module_outside_keras_is_never_built(tmp_path):
    flag = tmp_path / "pwned"
    config = {
        "module": "os",
        "class_name": "system",
        "config": f"touch {flag}",
        "registered_name": None,
    }
    spec_ = {
        "~": "keras-model",
        "type": "Model",
        "token": 1,
        "layers": {},
        "config": json.dumps(config),
        "weights": [],
    }
    got = decode_model(spec_)
    assert isinstance(got, wire.Unreceivable) and "names the module 'os'" in got.reason
    assert not flag.exists()


def test_a_model_sent_twice_is_one_object_and_shared_layers_stay_shared():
    keras = pytest.importorskip("keras")
    ns = namespace_with(
        "import keras\n"
        "dense = keras.layers.Dense(2)\n"
        "def build():\n"
        "    inputs = keras.Input(shape=(3,))\n"
        "    return keras.Model(inputs, dense(inputs))\n"
        "cached = build()\n"
        "def same():\n    return cached\n"
    )
    transport = LocalTransport(ns)
    build, same = StudentFunction("build", transport), StudentFunction("same", transport)
    assert same() is same()
    first, second = build(), build()
    assert first is not second
    assert {id(w) for w in first.weights} & {id(w) for w in second.weights}
    assert isinstance(first, keras.Model)
    answer_server.forget()


def test_a_model_configuration_declaring_huge_layers_is_refused_not_built():
    """The weights sent are small, but the configuration declares an embedding of 40 GB:
    Keras would allocate it while it builds the model. Under the judge's memory cap the build
    fails with an error (the process survives: a subprocess, so a crash would show here)."""
    pytest.importorskip("keras")
    script = """
import json, keras
from course_utils.grading.execute import judge, wire
model = keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(10, 4)])
config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
for layer in config["config"]["layers"]:
    if layer["class_name"] == "Embedding":
        layer["config"].update(input_dim=10**6, output_dim=10**4)
spec = {"~": "keras-model", "type": "Sequential", "token": 1, "layers": {},
        "config": json.dumps(config), "weights": []}
got = judge.decode_model(spec)
print(isinstance(got, keras.Model), getattr(got, "reason", "")[:200])
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("False") and "OOM when allocating" in proc.stdout, proc.stdout
