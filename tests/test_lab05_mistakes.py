"""Lab 05's tests catch the mistakes students really make with LSTM and GRU steps, and name them.

Each case replaces one answer cell of the solution notebook with a realistic wrong version, runs
every cell (hidden tests included) in this process, and checks which test cell fails and that
its message names the mistake. The correct solution must pass every test cell.
"""

import pytest

from .mistakes import check_mistake, check_solution_passes, run_cells

LAB = "lab05_lstm_gru"
STEP = "lstm_step_forward"
FORWARD = "lstm_forward"
GRU = "gru_step_forward"


def lstm_step(
    gates: str,
    cell: str = "c = f * c_prev + i * g",
    out: str = "h = o * np.tanh(c)",
    ret: str = "h, c",
) -> str:
    """An LSTM step whose gate lines, cell update, output and return can each be wrong."""
    return f"""
def lstm_step_forward(x_t, h_prev, c_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    a = x_t @ Wx + h_prev @ Wh + b
    {gates}
    {cell}
    {out}
    return {ret}
"""


RIGHT_GATES = (
    "i, f, g, o = (sigmoid(a[:, :H]), sigmoid(a[:, H:2*H]), np.tanh(a[:, 2*H:3*H]), "
    "sigmoid(a[:, 3*H:]))"
)


def gru_step(
    gates: str = "z, r = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])",
    cand: str = "hh = np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])",
    new: str = "z * h_prev + (1 - z) * hh",
    ax: str = "x_t @ Wx + b[0]",
    ah: str = "h_prev @ Wh + b[1]",
) -> str:
    """A GRU step whose gate lines, candidate, update and bias handling can each be wrong."""
    return f"""
def gru_step_forward(x_t, h_prev, Wx, Wh, b):
    H = h_prev.shape[1]
    ax = {ax}
    ah = {ah}
    {gates}
    {cand}
    return {new}
"""


def lstm_loop(body: str, start: str = "h, c = h0, c0", keep: str = "h") -> str:
    return f"""
def lstm_forward(x, h0, c0, Wx, Wh, b):
    {start}
    out = []
    for t in range(x.shape[1]):
        {body}
        out.append({keep})
    return np.stack(out, axis=1)
"""


CARRY = "h, c = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)"

LAB05 = {
    # name: (answer cell, wrong code, test cell that must fail, words its message must contain)
    "gates i and f swapped": (
        STEP,
        lstm_step(
            "f, i, g, o = (sigmoid(a[:, :H]), sigmoid(a[:, H:2*H]), "
            "np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:]))"
        ),
        "test_lstm_step_forward_gates",
        "the blocks i and f swapped",
    ),
    "gates f and o swapped": (
        STEP,
        lstm_step(
            "i, o, g, f = (sigmoid(a[:, :H]), sigmoid(a[:, H:2*H]), "
            "np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:]))"
        ),
        "test_lstm_step_forward_gates",
        "order i, o, c, f",
    ),
    "TensorFlow 1 order i, c, f, o": (
        STEP,
        lstm_step(
            "i, g, f, o = (sigmoid(a[:, :H]), np.tanh(a[:, H:2*H]), "
            "sigmoid(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:]))"
        ),
        "test_lstm_step_forward_gates",
        "order i, c, f, o",
    ),
    "forget gate on the candidate": (
        STEP,
        lstm_step(RIGHT_GATES, cell="c = f * g + i * c_prev"),
        "test_lstm_step_forward_gates",
        "forget gate multiplies the candidate",
    ),
    "tanh for the gates": (
        STEP,
        lstm_step(
            "i, f, g, o = (np.tanh(a[:, :H]), np.tanh(a[:, H:2*H]), "
            "np.tanh(a[:, 2*H:3*H]), np.tanh(a[:, 3*H:]))"
        ),
        "test_lstm_step_forward_gates",
        "tanh is used for the gates i, f, o",
    ),
    "sigmoid for the candidate": (
        STEP,
        lstm_step(
            "i, f, g, o = (sigmoid(a[:, :H]), sigmoid(a[:, H:2*H]), "
            "sigmoid(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:]))"
        ),
        "test_lstm_step_forward_gates",
        "candidate g uses the sigmoid",
    ),
    "h = o * c": (
        STEP,
        lstm_step(RIGHT_GATES, out="h = o * c"),
        "test_lstm_step_forward_gates",
        "h = o * c",
    ),
    "returns (c, h)": (
        STEP,
        lstm_step(RIGHT_GATES, ret="c, h"),
        "test_lstm_step_forward_gates",
        "returned as (c, h)",
    ),
    "np.split without axis=1": (
        STEP,
        """
        def lstm_step_forward(x_t, h_prev, c_prev, Wx, Wh, b):
            i, f, g, o = np.split(x_t @ Wx + h_prev @ Wh + b, 4)
            c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
            return sigmoid(o) * np.tanh(c), c
        """,
        "test_lstm_step_forward_shape",
        "axis=1",
    ),
    "gates cut with reshape(4, D, H)": (
        STEP,
        """
        def lstm_step_forward(x_t, h_prev, c_prev, Wx, Wh, b):
            D, H = x_t.shape[1], h_prev.shape[1]
            kx, kh, kb = Wx.reshape(4, D, H), Wh.reshape(4, H, H), b.reshape(4, H)
            i, f, g, o = (x_t @ kx[k] + h_prev @ kh[k] + kb[k] for k in range(4))
            c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
            return sigmoid(o) * np.tanh(c), c
        """,
        "test_lstm_step_forward_values",
        "reshape(4, D, H)",
    ),
    "bias missing": (
        STEP,
        lstm_step(RIGHT_GATES).replace("@ Wh + b", "@ Wh"),
        "test_lstm_step_forward_values",
        "bias b is missing",
    ),
    "cell update written into c_prev (hidden)": (
        STEP,
        lstm_step(RIGHT_GATES, cell="c = c_prev; c *= f; c += i * g"),
        "test_lstm_step_forward_values",
        "changed its argument c_prev in place",
    ),
    "cell state not carried": (
        FORWARD,
        lstm_loop("h, c = lstm_step_forward(x[:, t], h, c0, Wx, Wh, b)"),
        "test_lstm_forward_values",
        "cell state is not carried",
    ),
    "state starts from zeros, not (h0, c0)": (
        FORWARD,
        lstm_loop(CARRY, start="h, c = np.zeros_like(h0), np.zeros_like(c0)"),
        "test_lstm_forward_values",
        "h0 and c0 are ignored",
    ),
    "states stored before the update": (
        FORWARD,
        """
        def lstm_forward(x, h0, c0, Wx, Wh, b):
            h, c, out = h0, c0, []
            for t in range(x.shape[1]):
                out.append(h)
                h, c = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
            return np.stack(out, axis=1)
        """,
        "test_lstm_forward_values",
        "AFTER reading x[:, t]",
    ),
    "returns the cell states": (
        FORWARD,
        lstm_loop(CARRY, keep="c"),
        "test_lstm_forward_values",
        "cell states c",
    ),
    "time-major output": (
        FORWARD,
        lstm_loop(CARRY).replace("np.stack(out, axis=1)", "np.stack(out)"),
        "test_lstm_forward_shape",
        "batch first",
    ),
    "returns (hs, c)": (
        FORWARD,
        lstm_loop(CARRY).replace("np.stack(out, axis=1)", "np.stack(out, axis=1), c"),
        "test_lstm_forward_shape",
        "return only the array",
    ),
    "GRU update the wrong way round": (
        GRU,
        gru_step(new="(1 - z) * h_prev + z * hh"),
        "test_gru_step_forward_gates",
        "wrong way round",
    ),
    "GRU reset before the recurrent product": (
        GRU,
        gru_step(cand="hh = np.tanh(ax[:, 2*H:] + (r * h_prev) @ Wh[:, 2*H:] + b[1, 2*H:])"),
        "test_gru_step_forward_gates",
        "reset_after=False",
    ),
    "GRU with only the input bias row": (
        GRU,
        gru_step(ah="h_prev @ Wh"),
        "test_gru_step_forward_gates",
        "only the input bias b[0]",
    ),
    "GRU gates z and r swapped": (
        GRU,
        gru_step(
            gates="r, z = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2*H] + ah[:, H:2*H])"
        ),
        "test_gru_step_forward_gates",
        "order r, z, h",
    ),
    "GRU gates with tanh": (
        GRU,
        gru_step(
            gates="z, r = np.tanh(ax[:, :H] + ah[:, :H]), np.tanh(ax[:, H:2*H] + ah[:, H:2*H])"
        ),
        "test_gru_step_forward_gates",
        "tanh is used for the gates z and r",
    ),
    "GRU gates with Keras 2's hard sigmoid": (
        GRU,
        gru_step(
            gates="z, r = (np.clip(0.2 * (ax[:, :H] + ah[:, :H]) + 0.5, 0, 1), "
            "np.clip(0.2 * (ax[:, H:2*H] + ah[:, H:2*H]) + 0.5, 0, 1))"
        ),
        "test_gru_step_forward_gates",
        "hard sigmoid",
    ),
    "GRU recurrent bias outside the reset": (
        GRU,
        gru_step(cand="hh = np.tanh(ax[:, 2*H:] + r * (h_prev @ Wh[:, 2*H:]) + b[1, 2*H:])"),
        "test_gru_step_forward_values",
        "must be inside the reset",
    ),
    "GRU update without h_prev": (
        GRU,
        gru_step(new="(1 - z) * hh"),
        "test_gru_step_forward_gates",
        "h_prev is missing from the update",
    ),
    "GRU writes the new state into h_prev (hidden)": (
        GRU,
        """
        def gru_step_forward(x_t, h_prev, Wx, Wh, b):
            H = h_prev.shape[1]
            ax, ah = x_t @ Wx + b[0], h_prev @ Wh + b[1]
            z = sigmoid(ax[:, :H] + ah[:, :H])
            r = sigmoid(ax[:, H:2*H] + ah[:, H:2*H])
            h = h_prev
            h *= z
            h += (1 - z) * np.tanh(ax[:, 2*H:] + r * ah[:, 2*H:])
            return h
        """,
        "test_gru_step_forward_values",
        "changed its argument h_prev in place",
    ),
    # A forged answer: an ndarray subclass whose ufuncs all say True would fool np.allclose.
    "forged: ndarray subclass that fakes np.allclose": (
        GRU,
        """
        class Liar(np.ndarray):
            def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
                return True  # np.allclose, np.isfinite, ==: all say True

        def gru_step_forward(x_t, h_prev, Wx, Wh, b):
            return np.zeros(np.shape(h_prev)).view(Liar)
        """,
        "test_gru_step_forward_gates",
        "got Liar, a subclass of np.ndarray",
    ),
}


@pytest.fixture(scope="module")
def lab05_solution_results():
    return run_cells(LAB)


def test_lab05_solution_passes_every_test_cell(lab05_solution_results):
    check_solution_passes(lab05_solution_results, at_least=11)


@pytest.mark.parametrize("name", list(LAB05))
def test_lab05_tests_catch_and_name_the_mistake(name):
    check_mistake(LAB, name, LAB05[name])
