"""Lab 04b's tests catch the mistakes students really make in a backward pass, and name them.

Each case replaces one answer cell of the solution notebook with a realistic wrong version, runs
every cell (hidden tests included) in this process, and checks which test cell fails and that
the failure message names the mistake. The correct solution must pass every test cell.
"""

import pytest

from .mistakes import check_mistake, check_solution_passes, run_cells

LAB = "lab04b_rnn_backward"
STEP = "rnn_step_backward"
BACKWARD = "rnn_backward"
CLIP = "clip_by_global_norm"
NUMERICAL = "numerical_gradient"
CHECK = "rnn_gradient_check"


def step(
    dz="dz = dh_t * (1 - h_t**2)",
    ret="dz @ Wx.T, dz @ Wh.T, x_t.T @ dz, h_prev.T @ dz, dz.sum(axis=0)",
) -> str:
    """A backward step whose dz line or returned gradients can each be wrong."""
    return f"""
def rnn_step_backward(dh_t, cache):
    x_t, h_prev, Wx, Wh, h_t = cache
    {dz}
    return {ret}
"""


def backward(
    loop="reversed(range(T))",
    total="dh[:, t] + carried",
    keep="carried",
    add="+=",
    ret="dx, carried, dWx, dWh, db",
) -> str:
    """Backpropagation through time whose loop order, carried state, sums or result can be wrong."""
    return f"""
def rnn_backward(dh, caches):
    N, T, H = dh.shape
    x_0, _, Wx, Wh, _ = caches[0]
    dx = np.zeros((N, T, x_0.shape[1]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    carried = np.zeros((N, H))
    for t in {loop}:
        dx_t, {keep}, dWx_t, dWh_t, db_t = rnn_step_backward({total}, caches[t])
        dx[:, t] = dx_t
        dWx {add} dWx_t
        dWh {add} dWh_t
        db {add} db_t
    return {ret}
"""


def numerical(
    diff="(f_plus - f_minus) / (2 * eps)",
    plus="old + eps",
    minus="old - eps",
    restore="x[index] = old",
    indices="np.ndindex(x.shape)",
    head="",
) -> str:
    """A finite-difference gradient whose formula, step, restoring or indexing can be wrong."""
    return f"""
def numerical_gradient(f, x, eps=1e-5):
    {head}
    grad = np.zeros(x.shape)
    for index in {indices}:
        old = x[index].copy() if np.ndim(x[index]) else x[index]
        x[index] = {plus}
        f_plus = f(x)
        x[index] = {minus}
        f_minus = f(x)
        {restore}
        grad[index] = {diff}
    return grad
"""


def clip(
    norm="float(np.sqrt(sum(np.sum(g**2) for g in grads)))",
    scale="max_norm / max(global_norm, max_norm)",
    ret="[g * scale for g in grads], global_norm",
    body="",
) -> str:
    """Clipping whose norm, factor, result or in-place handling can be wrong."""
    return f"""
def clip_by_global_norm(grads, max_norm):
    global_norm = {norm}
    scale = {scale}
    {body}
    return {ret}
"""


def gradient_check(loss="np.sum(h * dh)", pair="(grad, numerical_gradient(loss_of(name), value))"):
    """A gradient check whose loss or returned pair can be wrong."""
    return f"""
def rnn_gradient_check(x, h0, Wx, Wh, b, dh):
    _, caches = rnn_forward_with_cache(x, h0, Wx, Wh, b)
    analytic = rnn_backward(dh, caches)
    values = {{"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b}}

    def loss_of(name):
        def loss(value):
            args = {{**values, name: value}}
            h, _ = rnn_forward_with_cache(args["x"], args["h0"], args["Wx"], args["Wh"], args["b"])
            return {loss}
        return loss

    result = {{}}
    for (name, value), grad in zip(values.items(), analytic):
        result[name] = {pair}
    return result
"""


LAB04B = {
    # name: (answer cell, wrong code, test cell that must fail, words its message must contain)
    # ---- one step ----
    "derivative of tanh forgotten": (
        STEP,
        step(dz="dz = dh_t"),
        "test_rnn_step_backward_worked_example",
        "derivative of tanh is missing",
    ),
    "1 - h instead of 1 - h**2 (hidden)": (
        STEP,
        step(dz="dz = dh_t * (1 - h_t)"),
        "test_rnn_step_backward_values",
        "not 1 - h_t",
    ),
    "db not summed over the batch": (
        STEP,
        step(ret="dz @ Wx.T, dz @ Wh.T, x_t.T @ dz, h_prev.T @ dz, dz"),
        "test_rnn_step_backward_shape",
        "not summed over the batch",
    ),
    "db summed over the units": (
        STEP,
        step(ret="dz @ Wx.T, dz @ Wh.T, x_t.T @ dz, h_prev.T @ dz, dz.sum(axis=1)"),
        "test_rnn_step_backward_shape",
        "summed over the wrong axis",
    ),
    "db averaged over the batch (hidden)": (
        STEP,
        step(ret="dz @ Wx.T, dz @ Wh.T, x_t.T @ dz, h_prev.T @ dz, dz.mean(axis=0)"),
        "test_rnn_step_backward_values",
        "db is averaged over the batch",
    ),
    "weight gradients averaged over the batch (hidden)": (
        STEP,
        step(
            ret="dz @ Wx.T, dz @ Wh.T, x_t.T @ dz / len(dz), h_prev.T @ dz / len(dz), "
            "dz.sum(axis=0)"
        ),
        "test_rnn_step_backward_values",
        "dWx is averaged over the batch",
    ),
    "dWx transposed (dz.T @ x_t)": (
        STEP,
        step(ret="dz @ Wx.T, dz @ Wh.T, dz.T @ x_t, h_prev.T @ dz, dz.sum(axis=0)"),
        "test_rnn_step_backward_shape",
        "dWx is transposed",
    ),
    "dWh transposed (dz.T @ h_prev, square: no shape error) (hidden)": (
        STEP,
        step(ret="dz @ Wx.T, dz @ Wh.T, x_t.T @ dz, dz.T @ h_prev, dz.sum(axis=0)"),
        "test_rnn_step_backward_values",
        "dWh is transposed",
    ),
    "dh_prev without the transpose of Wh (hidden)": (
        STEP,
        step(ret="dz @ Wx.T, dz @ Wh, x_t.T @ dz, h_prev.T @ dz, dz.sum(axis=0)"),
        "test_rnn_step_backward_values",
        "dh_prev uses Wh where its transpose is needed",
    ),
    "dx_t without the transpose of Wx, when it fits (caught by the square hidden case)": (
        STEP,
        step(
            ret="dz @ (Wx if Wx.shape[0] == Wx.shape[1] else Wx.T), dz @ Wh.T, x_t.T @ dz, "
            "h_prev.T @ dz, dz.sum(axis=0)"
        ),
        "test_rnn_step_backward_values",
        "dx_t uses Wx where its transpose is needed",
    ),
    "dWh from the new state h_t (hidden)": (
        STEP,
        step(ret="dz @ Wx.T, dz @ Wh.T, x_t.T @ dz, h_t.T @ dz, dz.sum(axis=0)"),
        "test_rnn_step_backward_values",
        "dWh uses the new state h_t",
    ),
    "dh_t changed in place (hidden)": (
        STEP,
        step(dz="dh_t *= 1 - h_t**2; dz = dh_t"),
        "test_rnn_step_backward_values",
        "changed its argument dh_t in place",
    ),
    # ---- through time ----
    "state gradient not carried back": (
        BACKWARD,
        backward(total="dh[:, t]"),
        "test_rnn_backward_values",
        "state gradient is not carried back",
    ),
    "weight gradients not summed over time": (
        BACKWARD,
        backward(add="="),
        "test_rnn_backward_values",
        "not added up over time",
    ),
    "loop forwards in time": (
        BACKWARD,
        backward(loop="range(T)"),
        "test_rnn_backward_values",
        "loop runs forwards in time",
    ),
    "dh0 left at zeros": (
        BACKWARD,
        backward(ret="dx, np.zeros_like(carried), dWx, dWh, db"),
        "test_rnn_backward_values",
        "dh0 is the dh_prev returned",
    ),
    "dh changed in place through a view": (
        BACKWARD,
        backward(total="dh_t", loop="reversed(range(T))").replace(
            "    for t in reversed(range(T)):\n",
            "    for t in reversed(range(T)):\n        dh_t = dh[:, t]\n        dh_t += carried\n",
        ),
        "test_rnn_backward_values",
        "changed dh in place",
    ),
    "one weight gradient per step, stacked": (
        BACKWARD,
        """
        def rnn_backward(dh, caches):
            N, T, H = dh.shape
            dx, dWx, dWh, db = [], [], [], []
            carried = np.zeros((N, H))
            for t in reversed(range(T)):
                dx_t, carried, a, c, d = rnn_step_backward(dh[:, t] + carried, caches[t])
                dx.insert(0, dx_t)
                dWx.insert(0, a)
                dWh.insert(0, c)
                db.insert(0, d)
            return np.stack(dx, axis=1), carried, np.stack(dWx), np.stack(dWh), np.stack(db)
        """,
        "test_rnn_backward_shape",
        "must be added up",
    ),
    "dx time first": (
        BACKWARD,
        backward(ret="dx.transpose(1, 0, 2), carried, dWx, dWh, db"),
        "test_rnn_backward_shape",
        "time first",
    ),
    # ---- clipping ----
    "each array clipped on its own": (
        CLIP,
        clip(
            ret="[g * max_norm / max(np.sqrt(np.sum(g**2)), max_norm) for g in grads], global_norm"
        ),
        "test_clip_by_global_norm_small",
        "each array is clipped on its own",
    ),
    "always rescaled to max_norm": (
        CLIP,
        clip(scale="max_norm / global_norm"),
        "test_clip_by_global_norm_small",
        "below max_norm must be left as they are",
    ),
    "norm returned after clipping": (
        CLIP,
        clip(ret="[g * scale for g in grads], global_norm * scale"),
        "test_clip_by_global_norm_small",
        "before clipping",
    ),
    "sum of the arrays' norms": (
        CLIP,
        clip(norm="float(sum(np.sqrt(np.sum(g**2)) for g in grads))"),
        "test_clip_by_global_norm_small",
        "not the sum of the arrays' norms",
    ),
    "gradients scaled in place (hidden)": (
        CLIP,
        clip(body="for g in grads:\n        g *= scale", ret="list(grads), global_norm"),
        "test_clip_by_global_norm_values",
        "changed the array grads[",
    ),
    "division by zero for zero gradients (hidden)": (
        CLIP,
        clip(scale="min(1.0, max_norm / global_norm)"),
        "test_clip_by_global_norm_values",
        "divides by zero",
    ),
    # ---- numerical gradient ----
    "one-sided difference": (
        NUMERICAL,
        numerical(diff="(f_plus - f(x)) / eps", minus="old"),
        "test_numerical_gradient_known_function",
        "one-sided difference",
    ),
    "too large a step (eps ignored, 1e-3 hard-coded)": (
        NUMERICAL,
        numerical(head="eps = 1e-3"),
        "test_numerical_gradient_known_function",
        "the step is too large",
    ),
    "divided by eps instead of 2 * eps": (
        NUMERICAL,
        numerical(diff="(f_plus - f_minus) / eps"),
        "test_numerical_gradient_known_function",
        "2 * eps apart",
    ),
    "x not restored": (
        NUMERICAL,
        numerical(restore="pass"),
        "test_numerical_gradient_values",
        "put its original value back",
    ),
    "one index per row only (works for 1-D x)": (
        NUMERICAL,
        numerical(indices="range(len(x))"),
        "test_numerical_gradient_values",
        "a whole row x[i] is nudged at once",
    ),
    "eps argument ignored (1e-5 hard-coded)": (
        NUMERICAL,
        numerical(head="eps = 1e-5"),
        "test_numerical_gradient_values",
        "eps argument is ignored",
    ),
    "one-sided difference, small step (hidden, on sine_mix)": (
        NUMERICAL,
        numerical(
            diff="(f_plus - f(x)) / eps if x.ndim == 1 and x.size == 6 else "
            "(f_plus - f_minus) / (2 * eps)"
        ),
        "test_numerical_gradient_values",
        "a one-sided difference",
    ),
    # ---- the gradient check ----
    "loss without dh": (
        CHECK,
        gradient_check(loss="np.sum(h)"),
        "test_rnn_gradient_check",
        "gradient of np.sum(h)",
    ),
    "the numerical gradient returned as the analytic one": (
        CHECK,
        gradient_check(pair="(numerical_gradient(loss_of(name), value),) * 2"),
        "test_rnn_gradient_check",
        "must be what rnn_backward returns",
    ),
}


@pytest.fixture(scope="module")
def lab04b_solution_results():
    return run_cells(LAB)


def test_lab04b_solution_passes_every_test_cell(lab04b_solution_results):
    check_solution_passes(lab04b_solution_results, at_least=11)


@pytest.mark.parametrize("name", list(LAB04B))
def test_lab04b_tests_catch_and_name_the_mistake(name):
    check_mistake(LAB, name, LAB04B[name])
