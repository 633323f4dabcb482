"""Runs in the student's kernel under ``course grade``: answers the grader's calls.

The tests of a lab run in the grader (``judge``, beside this module), not here. While a test cell is
being judged, the kernel runs ``serve(path)``: it connects to the grader's socket and, for each
request, looks a name up in the notebook's namespace or calls one of the student's functions
with the arguments it was sent, and sends back the result, the arguments as the call left them
(a test may check that they were not changed in place), or the exception it raised. Everything
crosses as plain data (``course_utils.grading.execute.wire``).

Nothing here is trusted: the student's code can replace any of it. That is harmless by design,
because whatever this side sends is only ever taken as the student's answer to that call.
"""

from __future__ import annotations

import socket
import struct
import sys
import traceback

from . import wire

# Frames are an 8-byte length and the payload. Not ``multiprocessing.connection``: its
# ``recv_bytes`` has no deadline, so a kernel that sent half a frame would hold the grader's
# reader; on a socket with a timeout (the test's time limit) ``recv`` cannot wait longer.
_LENGTH = struct.Struct(">Q")


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(payload)) + payload)


def recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, max_bytes: int | None = None) -> bytes | None:
    """One frame, or None when the other side closed. Frames over ``max_bytes`` raise."""
    head = recv_exactly(sock, _LENGTH.size)
    if head is None:
        return None
    (size,) = _LENGTH.unpack(head)
    if max_bytes is not None and size > max_bytes:
        raise wire.WireError(f"a reply of {size} bytes, more than the limit of {max_bytes}")
    return recv_exactly(sock, size)


#: Objects sent during one test, by id, each with a number the grader sees: the same model (or
#: layer) sent twice arrives as the same object, so "returns a new model on every call" can be
#: checked. Held until the test ends so that no id is reused meanwhile.
_SENT: dict[int, tuple[int, object]] = {}


def forget() -> None:
    _SENT.clear()


def _token(obj) -> int:
    if id(obj) not in _SENT:
        _SENT[id(obj)] = (len(_SENT) + 1, obj)
    return _SENT[id(obj)][0]


def _keras_model(obj):
    """A Keras model as its configuration, weights and the identity of it and its layers (see
    ``course_utils.grading.execute.judge.decode_model``)."""
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(obj, keras.Model):
        return None
    return {
        wire.TAG: "keras-model",
        "type": type(obj).__name__,
        "token": _token(obj),
        "layers": {layer.name: _token(layer) for layer in obj.layers},
        "config": obj.to_json(),
        "weights": [wire.encode(w) for w in obj.get_weights()],
    }


def _exception(exc: BaseException) -> dict:
    try:
        args = [wire.encode(a) for a in exc.args]
        wire.dumps(args)
    except Exception:  # noqa: BLE001 - anything the student raised
        args = None
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = "(its message could not be shown)"
    try:
        lines = traceback.format_exception(exc)
        trace = "".join(lines[:1] + lines[2:])[-4000:]  # without this module's own frame
    except Exception:  # noqa: BLE001
        trace = ""
    return {"ename": type(exc).__name__, "evalue": text[:2000], "args": args, "trace": trace}


def handle(namespace: dict, payload: bytes) -> bytes:
    """Answer one request from the grader."""

    def ref(spec):
        if spec.get(wire.TAG) == "ref":
            return namespace.get(str(spec.get("name")))
        raise wire.WireError(f"unexpected {spec.get(wire.TAG)!r}")

    request = wire.loads(payload, other=ref)
    if request.get("op") == "lookup":
        found = {}
        for name in request.get("names", []):
            value = namespace.get(name, _MISSING)
            if value is _MISSING:
                found[name] = {"kind": "missing"}
            elif callable(value):
                found[name] = {"kind": "callable"}
            else:
                found[name] = {"kind": "value", "value": value}
        return wire.dumps({"names": found}, other=_keras_model)
    function = namespace.get(request.get("name"))
    args, kwargs = list(request.get("args", [])), dict(request.get("kwargs", {}))
    try:
        if not callable(function):
            raise NameError(f"name {request.get('name')!r} is not defined as a function")
        reply = {"value": function(*args, **kwargs)}
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from an answer is its own failure
        reply = {"raised": _exception(exc)}
    reply["args"], reply["kwargs"] = args, kwargs
    try:
        return wire.dumps(reply, other=_keras_model)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001
        return wire.dumps(
            {
                "raised": {
                    "ename": "UnsendableResult",
                    "evalue": f"the result could not be sent to the grader: {type(exc).__name__}",
                    "args": None,
                    "trace": "",
                }
            }
        )


_MISSING = object()


class _forgetting:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        forget()


def serve(path: str) -> None:
    """Answer the grader's requests on the socket ``path`` until it closes the connection."""
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return  # the grader needed no call (or is gone)
    forget()
    with sock, _forgetting():
        while True:
            try:
                payload = recv_frame(sock)
            except OSError:
                return
            if payload is None:
                return
            reply = handle(namespace, payload)
            try:
                send_frame(sock, reply)
            except OSError:
                return
