"""Runs a lab's test cells in the grader, outside the student's kernel, and decides the verdicts.

Under ``course grade`` a test cell never runs in the student's process. The judge runs it here,
in a namespace of its own that holds what the lab's set-up cells defined (``numpy``, the check
helpers, Keras for the oracle values) and, for each name the test reads but does not define, what
the student's notebook has under that name: a function becomes a ``StudentFunction``, which sends
each call to the kernel (``answer_server``) and returns what came back; any other
value is fetched as it is at that moment. Arguments and results cross as plain data
(``wire``): an array is an array of numbers, never an object that could fake an
equality. So whatever the student's code does in its kernel (patching anything, tracing the
test, threads, forged messages or files), it can only change the values its functions return,
and those are what the tests judge. Expected values, hidden tests and the checks never enter
the kernel.

The same test cells still run unchanged in the kernel for a student's Validate button and for
plain ``nbgrader``.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import io
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from . import wire
from .answer_server import recv_frame, send_frame

#: Exceptions a student's function may raise that keep their class in the grader, so that a test
#: which expects, say, a ValueError sees one. Anything else arrives as a ``StudentError``.
PASSED_THROUGH = {
    cls.__name__: cls
    for cls in (
        ArithmeticError,
        AssertionError,
        AttributeError,
        FloatingPointError,
        IndexError,
        KeyError,
        LookupError,
        MemoryError,
        NameError,
        NotImplementedError,
        OverflowError,
        RecursionError,
        RuntimeError,
        TypeError,
        UnboundLocalError,
        UnicodeError,
        ValueError,
        ZeroDivisionError,
        np.linalg.LinAlgError,
    )
}


class StudentError(Exception):
    """An exception the student's function raised, of a class the grader does not rebuild."""


class CallFailed(RuntimeError):
    """The kernel gave no answer: it stopped, was interrupted, or sent something unreadable."""


# --------------------------------------------------------------------------------------------
# Transports: how a call reaches the student's namespace


class SocketTransport:
    """Calls over a Unix socket the kernel connects to (``answer_server.serve``)."""

    def __init__(self, listener: socket.socket, deadline: float, max_bytes: int) -> None:
        self.listener, self.deadline, self.max_bytes = listener, deadline, max_bytes
        self.conn: socket.socket | None = None
        self.failed: str | None = None
        self.calls = 0
        self.models: dict = {}  #: what decode_model rebuilt during this test, by the kernel's token

    def request(self, message: dict, other=None):
        if self.failed:
            raise CallFailed(self.failed)
        try:
            if self.conn is None:
                self.listener.settimeout(max(0.01, self.deadline - time.monotonic()))
                self.conn, _ = self.listener.accept()
            self.conn.settimeout(max(0.01, self.deadline - time.monotonic()))
            send_frame(self.conn, wire.dumps(message, other=_encode_proxy))
            payload = recv_frame(self.conn, self.max_bytes)
        except (OSError, wire.WireError) as exc:
            self.failed = _failure(exc)
            raise CallFailed(self.failed) from None
        if payload is None:
            self.failed = "the kernel stopped answering (it was interrupted, or it died)"
            raise CallFailed(self.failed)
        self.calls += 1
        try:
            return wire.loads(payload, other=other, max_bytes=self.max_bytes)
        except wire.WireError as exc:
            raise CallFailed(f"the kernel's answer could not be read: {exc}") from None

    def close(self) -> None:
        for sock in (self.conn, self.listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


def _failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "the kernel did not answer within the test's time limit"
    if isinstance(exc, wire.WireError):
        return f"the kernel's answer could not be read: {exc}"
    return f"the connection to the kernel failed: {exc}"


class LocalTransport:
    """Calls into a namespace in this process, through the same encoding and the same code the
    kernel runs: what the mistake tables use to compare both ways without starting kernels."""

    def __init__(self, namespace: dict, max_bytes: int = 64 << 20) -> None:
        from .answer_server import forget

        forget()  # one transport per test, as the kernel serves one test at a time
        self.namespace, self.max_bytes, self.calls, self.models = namespace, max_bytes, 0, {}

    def request(self, message: dict, other=None):
        from .answer_server import handle

        self.calls += 1
        payload = handle(self.namespace, wire.dumps(message, other=_encode_proxy))
        return wire.loads(payload, other=other, max_bytes=self.max_bytes)


# --------------------------------------------------------------------------------------------
# What a test sees of the student's notebook


class StudentFunction:
    """Stands in the judge's namespace for a function the student defined in the kernel."""

    def __init__(self, name: str, transport) -> None:
        self.__name__ = self.__qualname__ = name
        self._transport = transport

    def __repr__(self) -> str:
        return f"<function {self.__name__}>"

    def __call__(self, *args, **kwargs):
        reply = self._transport.request(
            {"op": "call", "name": self.__name__, "args": list(args), "kwargs": kwargs},
            other=functools.partial(decode_model, cache=self._transport.models),
        )
        if type(reply) is not dict:
            raise CallFailed("the kernel's answer could not be read")
        _copy_back(list(args), reply.get("args"))
        _copy_back(list(kwargs.values()), list((reply.get("kwargs") or {}).values()))
        if "raised" in reply:
            raise rebuild_exception(reply["raised"])
        value = reply.get("value")
        if isinstance(value, wire.Unreceivable) and getattr(value, "reason", None):
            raise CallFailed(
                f"{self.__name__} returned a {type(value).__name__} that the grader could not "
                f"rebuild: {value.reason}"
            )
        return value


def _encode_proxy(obj):
    if isinstance(obj, StudentFunction):
        return {wire.TAG: "ref", "name": obj.__name__}
    return None


def _copy_back(originals: list, after) -> None:
    """Apply what the student's function did to its arguments in place to the test's own
    objects: an array's values, a list's or dict's contents (and, inside them, their own
    arrays, lists and dicts), a generator's state."""
    if type(after) is not list or len(after) != len(originals):
        return
    for mine, theirs in zip(originals, after, strict=True):
        _copy_into(mine, theirs)


def _copy_into(mine, theirs, depth: int = 0):
    """Make ``mine`` hold what ``theirs`` holds, in place where it can; return what should
    stand where ``mine`` stood: ``mine`` itself, or ``theirs`` where ``mine`` cannot change."""
    if depth > 50:
        return mine
    try:
        if isinstance(mine, np.ndarray) and isinstance(theirs, np.ndarray):
            if mine.shape != theirs.shape:
                return theirs
            if mine.flags.writeable and not np.array_equal(mine, theirs):
                np.copyto(mine, theirs, casting="unsafe")
            return mine
        if isinstance(mine, np.random.Generator) and isinstance(theirs, np.random.Generator):
            if type(mine.bit_generator) is type(theirs.bit_generator):
                mine.bit_generator.state = theirs.bit_generator.state
            return mine
        if type(mine) is list and type(theirs) is list:
            if len(mine) != len(theirs):
                mine[:] = theirs
            for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
                new = _copy_into(a, b, depth + 1)
                if new is not a:
                    mine[i] = new
            return mine
        if type(mine) is dict and type(theirs) is dict:
            if mine.keys() != theirs.keys():
                mine.clear()
                mine.update(theirs)
            for key, b in theirs.items():
                new = _copy_into(mine[key], b, depth + 1)
                if new is not mine[key]:
                    mine[key] = new
            return mine
        if type(mine) is tuple and type(theirs) is tuple and len(mine) == len(theirs):
            for a, b in zip(mine, theirs, strict=True):
                _copy_into(a, b, depth + 1)  # a tuple stays; what it holds may have changed
            return mine
        same = type(mine) is type(theirs) and bool(mine == theirs)
    except (TypeError, ValueError):
        return mine  # the test notices whatever it checks
    return mine if same else theirs


def rebuild_exception(spec) -> BaseException:
    """The exception a student's function raised, as the test should see it."""
    if type(spec) is not dict:
        return StudentError("the function failed")
    ename = spec.get("ename") if isinstance(spec.get("ename"), str) else "Error"
    evalue = str(spec.get("evalue", ""))[:2000]
    cls = PASSED_THROUGH.get(ename)
    if cls is None:
        name = ename if wire.PLAIN_NAME.fullmatch(ename) else "StudentError"
        cls = type(name, (StudentError,), {})
    args = spec.get("args")
    try:
        exc = cls(*args) if type(args) is list and str(cls(*args)) == evalue else cls(evalue)
    except Exception:  # noqa: BLE001 - a class that wants other arguments
        exc = cls(evalue)
    exc.student_traceback = str(spec.get("trace", ""))[:4000]
    return exc


def decode_model(spec: dict, cache: dict | None = None):
    """A Keras model the student's function returned, rebuilt here by Keras from its
    configuration (safe mode: no Lambda layers, no custom classes, nothing outside Keras) and
    weights. A model sent twice during one test is the same object here; a layer it shares with
    a model sent earlier is shared here too."""
    if spec.get(wire.TAG) != "keras-model":
        raise wire.WireError(f"values of kind {spec.get(wire.TAG)!r} are not accepted")
    cache = {} if cache is None else cache
    token, layer_tokens = spec.get("token"), spec.get("layers")
    if ("model", token) in cache:
        return cache[("model", token)]
    config, weights = spec.get("config"), spec.get("weights")
    if type(config) is not str or type(weights) is not list or type(layer_tokens) is not dict:
        raise wire.WireError("a malformed Keras model")
    import keras

    try:
        values = [wire.decode(w) for w in weights]
        if sum(v.nbytes for v in values if isinstance(v, np.ndarray)) > MAX_MODEL_BYTES:
            raise ValueError(f"its weights take more than {MAX_MODEL_BYTES >> 20} MB")
        _warm_up_keras()
        with _memory_capped(2 * MAX_MODEL_BYTES + CAP_MARGIN_BYTES):
            model = keras.saving.deserialize_keras_object(
                _keras_only(json.loads(config)), safe_mode=True
            )
        if not isinstance(model, keras.Model):
            raise TypeError(f"the configuration describes a {type(model).__name__}")
        model.set_weights(values)
        shared = {
            layer.name: cache[("layer", layer_tokens[layer.name])]
            for layer in model.layers
            if ("layer", layer_tokens.get(layer.name)) in cache
        }
        if shared:  # the student reused layers of a model sent before: so does the rebuild
            model = keras.models.clone_model(
                model, clone_function=lambda layer: shared.get(layer.name, layer)
            )
    except wire.WireError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras refuses what it cannot rebuild safely
        return _unbuildable(spec, exc)
    cache[("model", token)] = model
    for layer in model.layers:
        if layer.name in layer_tokens:
            cache.setdefault(("layer", layer_tokens[layer.name]), layer)
    return model


#: The largest model the judge rebuilds (its weights): the labs' models take a few MB.
MAX_MODEL_BYTES = 256 << 20


#: Room under the cap for what the process itself may map meanwhile (thread stacks, malloc arenas
#: of 64 MB each): a failed allocation inside TensorFlow's C++ is a crash, not an error.
CAP_MARGIN_BYTES = 1 << 30


@functools.lru_cache(maxsize=1)
def _warm_up_keras() -> None:
    """Run one tiny layer, uncapped, before the first capped rebuild: TensorFlow starts its
    thread pools (their stacks and malloc arenas) on first use, and must not do it under the
    cap."""
    import keras

    keras.layers.Dense(1)(np.zeros((1, 1), dtype="float32"))


@contextlib.contextmanager
def _memory_capped(extra: int):
    """Let this process grow by at most ``extra`` bytes of address space meanwhile: a model
    configuration may declare layers far larger than the weights sent with it, and Keras
    allocates them while it builds the model (it then fails with an error instead)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        size = int(fh.read().split()[0]) * resource.getpagesize()
    limit = size + extra
    if soft != resource.RLIM_INFINITY and soft <= limit:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _keras_only(config):
    """``config``, refused (ValueError) if any part of it names a module outside Keras: Keras
    imports the module a configuration names, and calls what it finds there."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module = item.get("module")
            if module is not None and not (
                isinstance(module, str) and (module == "keras" or module.startswith("keras."))
            ):
                raise ValueError(f"its configuration names the module {module!r}, not Keras")
            if item.get("registered_name") not in (None, item.get("class_name")):
                raise ValueError("its configuration names a registered custom object")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return config


def _unbuildable(spec: dict, exc: Exception):
    placeholder = wire.unreceivable(str(spec.get("type", "Model")))
    placeholder.reason = f"{type(exc).__name__}: {str(exc)[:300]}"
    return placeholder


# --------------------------------------------------------------------------------------------
# Running test cells


@dataclass
class Verdict:
    status: str  #: ok | error
    ename: str = ""
    evalue: str = ""
    stdout: str = ""
    stderr: str = ""
    calls: int = 0
    looked_up: list[str] = field(default_factory=list)


class _ThreadStreams(io.TextIOBase):
    """sys.stdout / sys.stderr that send what the judging thread writes to its own buffer and
    everything else where it went before."""

    def __init__(self, original) -> None:
        self.original, self.local = original, threading.local()

    def write(self, text: str) -> int:
        target = getattr(self.local, "buffer", None)
        return (target or self.original).write(text)

    def flush(self) -> None:
        target = getattr(self.local, "buffer", None)
        (target or self.original).flush()

    def writable(self) -> bool:
        return True


_STREAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _captured():
    with _STREAMS_LOCK:
        for name in ("stdout", "stderr"):
            if not isinstance(getattr(sys, name), _ThreadStreams):
                setattr(sys, name, _ThreadStreams(getattr(sys, name)))
    out, err = io.StringIO(), io.StringIO()
    sys.stdout.local.buffer, sys.stderr.local.buffer = out, err
    try:
        yield out, err
    finally:
        sys.stdout.local.buffer = sys.stderr.local.buffer = None


def free_names(source: str) -> list[str]:
    """Names a cell reads but never binds anywhere (it expects them from earlier cells)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return sorted(loaded - bound)


class Judge:
    """One submission's test namespace. ``setup(source)`` runs a trusted set-up cell here;
    ``test(source, transport)`` runs a test cell and returns its ``Verdict``."""

    def __init__(self) -> None:
        self.namespace: dict = {"__name__": "__main__", "__builtins__": builtins}

    def setup(self, source: str, name: str = "setup") -> Verdict:
        return self._run(source, name, None)

    def test(self, source: str, transport, name: str = "test") -> Verdict:
        return self._run(source, name, transport)

    def _run(self, source: str, name: str, transport) -> Verdict:
        verdict = Verdict(status="ok")
        borrowed: list[str] = []
        with _captured() as (out, err):
            try:
                wanted = [
                    n
                    for n in free_names(source)
                    if n not in self.namespace and not hasattr(builtins, n)
                ]
                if wanted and transport is not None:
                    borrowed = self._borrow(wanted, transport)
                code = compile(source, f"<{name}>", "exec")
                exec(code, self.namespace)  # noqa: S102 - the lab's own test cell
            except Exception as exc:  # noqa: BLE001 - a failing test, whatever it raised
                verdict.status = "error"
                verdict.ename, verdict.evalue = type(exc).__name__, _message(exc)
            finally:
                for key in borrowed:  # fetched afresh for every test: the student may redefine
                    self.namespace.pop(key, None)
        verdict.stdout, verdict.stderr = out.getvalue(), err.getvalue()
        verdict.calls = getattr(transport, "calls", 0)
        verdict.looked_up = borrowed
        return verdict

    def _borrow(self, names: list[str], transport) -> list[str]:
        reply = transport.request(
            {"op": "lookup", "names": names},
            other=functools.partial(decode_model, cache=transport.models),
        )
        found = reply.get("names") if type(reply) is dict else None
        if type(found) is not dict:
            raise CallFailed("the kernel's answer could not be read")
        borrowed = []
        for name in names:
            entry = found.get(name)
            if type(entry) is not dict:
                continue
            if entry.get("kind") == "callable":
                self.namespace[name] = StudentFunction(name, transport)
            elif entry.get("kind") == "value":
                self.namespace[name] = entry.get("value")
            else:
                continue
            borrowed.append(name)
        return borrowed


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = ""
    trace = getattr(exc, "student_traceback", "")
    if trace:
        text += "\n\nIn your code:\n" + trace
    return text
