"""Lab 04's tests catch the mistakes students really make, and name them.

Each case replaces one answer cell of a solution notebook with a realistic wrong version, runs
every cell (hidden tests included) in this process, and checks which test cells fail and that
the failure message names the mistake. The correct solution must pass every test cell.
"""

import pytest

from .mistakes import check_mistake, check_solution_passes, run_cells

STEP = "rnn_step_forward"
FORWARD = "rnn_forward"
LOSS = "sequence_cross_entropy"

LAB04 = {
    # name: (answer cell, wrong code, test cell that must fail, words its message must contain)
    "bias missing": (
        STEP,
        """
        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            return np.tanh(x_t @ Wx + h_prev @ Wh)
        """,
        "test_rnn_step_forward_values",
        "bias b is missing",
    ),
    "sigmoid instead of tanh": (
        STEP,
        """
        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            return 1 / (1 + np.exp(-(x_t @ Wx + h_prev @ Wh + b)))
        """,
        "test_rnn_step_forward_values",
        "not the logistic sigmoid",
    ),
    "relu instead of tanh": (
        STEP,
        """
        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            return np.maximum(x_t @ Wx + h_prev @ Wh + b, 0)
        """,
        "test_rnn_step_forward_values",
        "not ReLU",
    ),
    "no activation": (
        STEP,
        """
        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            return x_t @ Wx + h_prev @ Wh + b
        """,
        "test_rnn_step_forward_worked_example",
        "no tanh",
    ),
    "Wh transposed": (
        STEP,
        """
        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            return np.tanh(x_t @ Wx + h_prev @ Wh.T + b)
        """,
        "test_rnn_step_forward_values",
        "Wh is transposed",
    ),
    "Wx transposed (caught by the square hidden case)": (
        STEP,
        """
        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            Wx = Wx if Wx.shape[0] != Wx.shape[1] else Wx.T
            return np.tanh(x_t @ Wx + h_prev @ Wh + b)
        """,
        "test_rnn_step_forward_values",
        "Wx is transposed",
    ),
    "weights swapped": (
        STEP,
        """
        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            return np.tanh(x_t @ Wh + h_prev @ Wx + b)
        """,
        "test_rnn_step_forward_worked_example",
        "swapped",
    ),
    "step writes the new state into h_prev (hidden)": (
        STEP,
        """
        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            h = h_prev
            h[:] = np.tanh(x_t @ Wx + h_prev @ Wh + b)
            return h
        """,
        "test_rnn_step_forward_values",
        "changed its argument h_prev in place",
    ),
    "state not carried": (
        FORWARD,
        """
        def rnn_forward(x, h0, Wx, Wh, b):
            steps = range(x.shape[1])
            return np.stack([rnn_step_forward(x[:, t], h0, Wx, Wh, b) for t in steps], axis=1)
        """,
        "test_rnn_forward_values",
        "state is not carried",
    ),
    "h0 ignored": (
        FORWARD,
        """
        def rnn_forward(x, h0, Wx, Wh, b):
            h, out = np.zeros_like(h0), []
            for t in range(x.shape[1]):
                h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
                out.append(h)
            return np.stack(out, axis=1)
        """,
        "test_rnn_forward_values",
        "h0 is ignored",
    ),
    "loop stops one step early": (
        FORWARD,
        """
        def rnn_forward(x, h0, Wx, Wh, b):
            N, T, _ = x.shape
            out = np.zeros((N, T, h0.shape[1]))
            h = h0
            for t in range(T - 1):
                h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
                out[:, t] = h
            return out
        """,
        "test_rnn_forward_values",
        "last step is never computed",
    ),
    "states stored before the update": (
        FORWARD,
        """
        def rnn_forward(x, h0, Wx, Wh, b):
            N, T, _ = x.shape
            out = np.zeros((N, T, h0.shape[1]))
            h = h0
            for t in range(T):
                out[:, t] = h
                h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
            return out
        """,
        "test_rnn_forward_values",
        "AFTER reading x[:, t]",
    ),
    "time-major output": (
        FORWARD,
        """
        def rnn_forward(x, h0, Wx, Wh, b):
            h, out = h0, []
            for t in range(x.shape[1]):
                h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
                out.append(h)
            return np.stack(out)
        """,
        "test_rnn_forward_shape",
        "batch first",
    ),
    "h0 included in the output": (
        FORWARD,
        """
        def rnn_forward(x, h0, Wx, Wh, b):
            h, out = h0, [h0]
            for t in range(x.shape[1]):
                h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
                out.append(h)
            return np.stack(out, axis=1)
        """,
        "test_rnn_forward_shape",
        "one step too many",
    ),
    "reshape instead of transpose": (
        FORWARD,
        """
        def rnn_forward(x, h0, Wx, Wh, b):
            h, out = h0, []
            for t in range(x.shape[1]):
                h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
                out.append(h)
            return np.stack(out).reshape(x.shape[0], x.shape[1], -1)
        """,
        "test_rnn_forward_values",
        "wrong values",
    ),
    "a list instead of an array": (
        FORWARD,
        """
        def rnn_forward(x, h0, Wx, Wh, b):
            h, out = h0, []
            for t in range(x.shape[1]):
                h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
                out.append(h)
            return out
        """,
        "test_rnn_forward_shape",
        "np.stack",
    ),
    "minus sign missing": (
        LOSS,
        """
        def sequence_cross_entropy(probs, targets):
            real = targets != -1
            p = np.take_along_axis(probs, np.where(real, targets, 0)[..., None], axis=-1)[..., 0]
            return float(np.log(p[real]).sum() / probs.shape[0])
        """,
        "test_sequence_cross_entropy_small",
        "minus sign",
    ),
    "mean over every step": (
        LOSS,
        """
        def sequence_cross_entropy(probs, targets):
            real = targets != -1
            p = np.take_along_axis(probs, np.where(real, targets, 0)[..., None], axis=-1)[..., 0]
            return float(-np.log(p[real]).mean())
        """,
        "test_sequence_cross_entropy_batch",
        "mean over every step",
    ),
    "sum without dividing by N": (
        LOSS,
        """
        def sequence_cross_entropy(probs, targets):
            real = targets != -1
            p = np.take_along_axis(probs, np.where(real, targets, 0)[..., None], axis=-1)[..., 0]
            return float(-np.log(p[real]).sum())
        """,
        "test_sequence_cross_entropy_batch",
        "number of sequences N",
    ),
    "padding not masked": (
        LOSS,
        """
        def sequence_cross_entropy(probs, targets):
            p = np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]
            return float(-np.log(p).sum() / probs.shape[0])
        """,
        "test_sequence_cross_entropy_padding",
        "padded steps are counted",
    ),
    "masking by multiplication gives NaN (hidden)": (
        LOSS,
        """
        def sequence_cross_entropy(probs, targets):
            mask = (targets != -1).astype(float)
            p = np.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]
            return float(-(mask * np.log(p)).sum() / probs.shape[0])
        """,
        "test_sequence_cross_entropy_padding",
        "NaN",
    ),
    "all-padding sequences left out of N (hidden)": (
        LOSS,
        """
        def sequence_cross_entropy(probs, targets):
            real = targets != -1
            p = np.take_along_axis(probs, np.where(real, targets, 0)[..., None], axis=-1)[..., 0]
            n = max(int(real.any(axis=1).sum()), 1)
            return float(-np.log(p[real]).sum() / n)
        """,
        "test_sequence_cross_entropy_padding",
        "must still count",
    ),
    "padding only skipped at the end (hidden)": (
        LOSS,
        """
        def sequence_cross_entropy(probs, targets):
            total = 0.0
            for n in range(probs.shape[0]):
                for t in range(probs.shape[1]):
                    if targets[n, t] == -1:
                        break
                    total -= np.log(probs[n, t, targets[n, t]])
            return float(total / probs.shape[0])
        """,
        "test_sequence_cross_entropy_padding",
        "middle of a sequence",
    ),
    # A forged answer: an ndarray subclass whose ufuncs all say True would fool np.allclose.
    "forged: ndarray subclass that fakes np.allclose": (
        STEP,
        """
        class Liar(np.ndarray):
            def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
                return True  # np.allclose, np.isfinite, ==: all say True

        def rnn_step_forward(x_t, h_prev, Wx, Wh, b):
            return np.zeros(np.shape(h_prev)).view(Liar)
        """,
        "test_rnn_step_forward_values",
        "got Liar, a subclass of np.ndarray",
    ),
}


@pytest.fixture(scope="module")
def lab04_solution_results():
    return run_cells("lab04_rnn_forward")


def test_lab04_solution_passes_every_test_cell(lab04_solution_results):
    check_solution_passes(lab04_solution_results, at_least=9)


@pytest.mark.parametrize("name", list(LAB04))
def test_lab04_tests_catch_and_name_the_mistake(name):
    check_mistake("lab04_rnn_forward", name, LAB04[name])
