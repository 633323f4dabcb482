"""Lab 03's tests catch the mistakes students really make, and name them.

Each case replaces one answer cell of the solution notebook with a realistic wrong version, runs
every cell (hidden tests included) in this process, and checks which test cells fail and that
the failure message names the mistake. The correct solution must pass every test cell.
"""

import pytest

from .mistakes import check_mistake, check_solution_passes, run_cells

LAB = "lab03_conv1d"
CONV = "conv1d_forward"
POOL = "max_pool1d"
GMAX = "global_max_pool1d"
GAVG = "global_average_pool1d"

# A correct "valid" convolution body, reused by the wrong versions that differ elsewhere.
# Indented to sit inside the `def` of the cases below (textwrap.dedent runs on the whole).
WINDOWS = """
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride + 1
            out = np.zeros((N, T_out, C_out))
            for t in range(T_out):
                w = x[:, t * stride:t * stride + K].reshape(N, -1)
                out[:, t] = w @ kernel.reshape(-1, C_out)
"""

LAB03 = {
    # name: (answer cell, wrong code, test cell that must fail, words its message must contain)
    "conv length T - K (off by one)": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride
            out = np.zeros((N, T_out, C_out))
            for t in range(T_out):
                w = x[:, t * stride:t * stride + K].reshape(N, -1)
                out[:, t] = w @ kernel.reshape(-1, C_out)
            return out + bias
        """,
        "test_conv1d_forward_shape",
        "off by one",
    ),
    "conv stride ignored": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            out = np.zeros((N, T - K + 1, C_out))
            for t in range(T - K + 1):
                out[:, t] = x[:, t:t + K].reshape(N, -1) @ kernel.reshape(-1, C_out)
            return out + bias
        """,
        "test_conv1d_forward_shape",
        "stride is ignored",
    ),
    "conv windows start at t, not t * stride": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding != "valid":
                raise ValueError(padding)
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride + 1
            out = np.zeros((N, T_out, C_out))
            for t in range(T_out):
                out[:, t] = x[:, t:t + K].reshape(N, -1) @ kernel.reshape(-1, C_out)
            return out + bias
        """,
        "test_conv1d_forward_values",
        "not t * stride",
    ),
    "kernel flipped (true convolution)": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding != "valid":
                raise ValueError(padding)
            kernel = kernel[::-1]
        """
        + WINDOWS
        + """
            return out + bias
        """,
        "test_conv1d_forward_worked_example",
        "flipped",
    ),
    "bias missing": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding != "valid":
                raise ValueError(padding)
        """
        + WINDOWS
        + """
            return out
        """,
        "test_conv1d_forward_worked_example",
        "bias is missing",
    ),
    "ReLU applied": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding != "valid":
                raise ValueError(padding)
        """
        + WINDOWS
        + """
            return np.maximum(out + bias, 0)
        """,
        "test_conv1d_forward_worked_example",
        "activation is None",
    ),
    "bias added once per kernel step": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride + 1
            out = np.zeros((N, T_out, C_out))
            for t in range(T_out):
                for k in range(K):
                    out[:, t] += x[:, t * stride + k] @ kernel[k] + bias
            return out
        """,
        "test_conv1d_forward_values",
        "once per kernel step",
    ),
    "bias added once per input channel": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride + 1
            out = np.zeros((N, T_out, C_out))
            for t in range(T_out):
                window = x[:, t * stride:t * stride + K]
                for c in range(C_in):
                    out[:, t] += window[:, :, c] @ kernel[:, c] + bias
            return out
        """,
        "test_conv1d_forward_values",
        "per input channel",
    ),
    "bias broadcast along time (square shapes only)": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding != "valid":
                raise ValueError(padding)
        """
        + WINDOWS
        + """
            # bias[:, None] only broadcasts when T_out == C_out: exactly the silent case
            return out + (bias[:, None] if out.shape[1] == out.shape[2] else bias)
        """,
        "test_conv1d_forward_values",
        "per position",
    ),
    "only the first input channel used": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride + 1
            out = np.zeros((N, T_out, C_out))
            for t in range(T_out):
                out[:, t] = x[:, t * stride:t * stride + K, 0] @ kernel[:, 0, :]
            return out + bias
        """,
        "test_conv1d_forward_values",
        "first input channel",
    ),
    "channels summed before weighting": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride + 1
            out = np.zeros((N, T_out, C_out))
            for t in range(T_out):
                window = x[:, t * stride:t * stride + K]
                out[:, t] = np.einsum("nkc,kdo->no", window, kernel)
            return out + bias
        """,
        "test_conv1d_forward_values",
        "summed before weighting",
    ),
    "window flattened channel-major": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride + 1
            out = np.zeros((N, T_out, C_out))
            for t in range(T_out):
                window = x[:, t * stride:t * stride + K].transpose(0, 2, 1).reshape(N, -1)
                out[:, t] = window @ kernel.reshape(-1, C_out)
            return out + bias
        """,
        "test_conv1d_forward_values",
        "flattened in different orders",
    ),
    "kernel read as (K, C_out, C_in) (only runs when square)": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding != "valid":
                raise ValueError(padding)
            kernel = kernel.transpose(0, 2, 1) if kernel.shape[1] == kernel.shape[2] else kernel
        """
        + WINDOWS
        + """
            return out + bias
        """,
        "test_conv1d_forward_values",
        "(K, C_out, C_in)",
    ),
    "output takes x's integer dtype (hidden)": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            K, C_in, C_out = kernel.shape
            N, T, _ = x.shape
            T_out = (T - K) // stride + 1
            out = np.zeros((N, T_out, C_out), dtype=x.dtype)
            for t in range(T_out):
                w = x[:, t * stride:t * stride + K].reshape(N, -1)
                out[:, t] = w @ kernel.reshape(-1, C_out)
            return out + bias
        """,
        "test_conv1d_forward_values",
        "integer dtype",
    ),
    "unknown padding silently treated as valid": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
        """
        + WINDOWS
        + """
            return out + bias
        """,
        "test_conv1d_forward_shape",
        "should raise a ValueError",
    ),
    "same: K // 2 zeros on both sides": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding == "same":
                K = kernel.shape[0]
                x = np.pad(x, ((0, 0), (K // 2, K // 2), (0, 0)))
            elif padding != "valid":
                raise ValueError(padding)
        """
        + WINDOWS
        + """
            return out + bias
        """,
        "test_conv1d_forward_same_padding",
        "one too many for an even K",
    ),
    "same: the odd zero on the left": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding == "same":
                K, T = kernel.shape[0], x.shape[1]
                total = max((-(-T // stride) - 1) * stride + K - T, 0)
                x = np.pad(x, ((0, 0), (total - total // 2, total // 2), (0, 0)))
            elif padding != "valid":
                raise ValueError(padding)
        """
        + WINDOWS
        + """
            return out + bias
        """,
        "test_conv1d_forward_same_padding",
        "odd zero must go on the right",
    ),
    "same: output length T whatever the stride": (
        CONV,
        """
        def conv1d_forward(x, kernel, bias, stride=1, padding="valid"):
            if padding == "same":
                K = kernel.shape[0]
                x = np.pad(x, ((0, 0), ((K - 1) // 2, K // 2), (0, 0)))
                stride = 1  # the padding and the loop of stride 1, whatever stride says
        """
        + WINDOWS
        + """
            return out + bias
        """,
        "test_conv1d_forward_same_padding",
        "ceil(T / stride)",
    ),
    "pool stride defaults to 1 (overlapping windows)": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            stride = stride or 1
            T_out = (x.shape[1] - pool_size) // stride + 1
            return np.stack([x[:, t * stride:t * stride + pool_size].max(axis=1)
                             for t in range(T_out)], axis=1)
        """,
        "test_max_pool1d_shape",
        "defaults to pool_size",
    ),
    "pool stride argument ignored": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            T_out = x.shape[1] // pool_size
            return x[:, :T_out * pool_size].reshape(x.shape[0], T_out, pool_size, -1).max(axis=2)
        """,
        "test_max_pool1d_shape",
        "stride argument is ignored",
    ),
    "pool includes the partial last window": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            stride = stride or pool_size
            starts = range(0, x.shape[1], stride)  # slicing past the end just gives less
            return np.stack([x[:, s:s + pool_size].max(axis=1) for s in starts], axis=1)
        """,
        "test_max_pool1d_shape",
        "tail is included",
    ),
    "pool adds a last window moved back to fit (double-counts the tail)": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            stride = stride or pool_size
            T = x.shape[1]
            starts = list(range(0, T - pool_size + 1, stride))
            if starts[-1] + pool_size < T:
                starts.append(T - pool_size)
            return np.stack([x[:, s:s + pool_size].max(axis=1) for s in starts], axis=1)
        """,
        "test_max_pool1d_shape",
        "tail is included",
    ),
    "pool windows start at t, not t * stride": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            stride = stride or pool_size
            T_out = (x.shape[1] - pool_size) // stride + 1
            return np.stack([x[:, t:t + pool_size].max(axis=1) for t in range(T_out)], axis=1)
        """,
        "test_max_pool1d_values",
        "not t * stride",
    ),
    "pool reshape mixes time and channels": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            N, T, C = x.shape
            stride = stride or pool_size
            if stride == pool_size:
                T_out = T // pool_size
                return x[:, :T_out * pool_size].reshape(N, T_out, C, pool_size).max(axis=-1)
            T_out = (T - pool_size) // stride + 1
            return np.stack([x[:, t * stride:t * stride + pool_size].max(axis=1)
                             for t in range(T_out)], axis=1)
        """,
        "test_max_pool1d_values",
        "mixed up by a reshape",
    ),
    "pool maximum over window and channels": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            stride = stride or pool_size
            T_out = (x.shape[1] - pool_size) // stride + 1
            out = np.zeros((x.shape[0], T_out, x.shape[2]))
            for t in range(T_out):
                out[:, t] = x[:, t * stride:t * stride + pool_size].max(axis=(1, 2))[:, None]
            return out
        """,
        "test_max_pool1d_values",
        "channels are mixed",
    ),
    "pool running maximum starts at 0 (hidden)": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            stride = stride or pool_size
            T_out = (x.shape[1] - pool_size) // stride + 1
            out = np.zeros((x.shape[0], T_out, x.shape[2]))
            for t in range(T_out):
                for j in range(pool_size):
                    out[:, t] = np.maximum(out[:, t], x[:, t * stride + j])
            return out
        """,
        "test_max_pool1d_values",
        "starts at 0",
    ),
    "pool accumulates into a view of x (hidden)": (
        POOL,
        """
        def max_pool1d(x, pool_size, stride=None):
            stride = stride or pool_size
            T_out = (x.shape[1] - pool_size) // stride + 1
            out = x[:, 0:(T_out - 1) * stride + 1:stride]  # a view: writing into it changes x
            for j in range(1, pool_size):
                out[...] = np.maximum(out, x[:, j:j + (T_out - 1) * stride + 1:stride])
            return out
        """,
        "test_max_pool1d_shape",
        "changed x in place",
    ),
    "global max over the channels (hidden square case)": (
        GMAX,
        """
        def global_max_pool1d(x):
            return x.max(axis=2) if x.shape[1] == x.shape[2] else x.max(axis=1)
        """,
        "test_global_max_pool1d",
        "over the channels (axis 2)",
    ),
    "global max with keepdims": (
        GMAX,
        """
        def global_max_pool1d(x):
            return x.max(axis=1, keepdims=True)
        """,
        "test_global_max_pool1d",
        "keepdims",
    ),
    "global max returns argmax": (
        GMAX,
        """
        def global_max_pool1d(x):
            return x.argmax(axis=1)
        """,
        "test_global_max_pool1d",
        "argmax",
    ),
    "global max sorts x in place (hidden)": (
        GMAX,
        """
        def global_max_pool1d(x):
            x.sort(axis=1)
            return x[:, -1].copy()
        """,
        "test_global_max_pool1d",
        "changed x in place",
    ),
    "global average over the channels": (
        GAVG,
        """
        def global_average_pool1d(x):
            return x.mean(axis=2)
        """,
        "test_global_average_pool1d",
        "over the channels (axis 2)",
    ),
    "global average divides by C": (
        GAVG,
        """
        def global_average_pool1d(x):
            return x.sum(axis=1) / x.shape[2]
        """,
        "test_global_average_pool1d",
        "number of channels C",
    ),
    "global average divides by N": (
        GAVG,
        """
        def global_average_pool1d(x):
            return x.sum(axis=1) / len(x)
        """,
        "test_global_average_pool1d",
        "batch size N",
    ),
    "global average over the batch axis": (
        GAVG,
        """
        def global_average_pool1d(x):
            return x.mean(axis=0)
        """,
        "test_global_average_pool1d",
        "over the batch (axis 0)",
    ),
    "global average with integer division": (
        GAVG,
        """
        def global_average_pool1d(x):
            return x.sum(axis=1) // x.shape[1]
        """,
        "test_global_average_pool1d",
        "integer division",
    ),
    "global average divides x in place (hidden)": (
        GAVG,
        """
        def global_average_pool1d(x):
            x = x.astype(float, copy=False)
            x /= x.shape[1]
            return x.sum(axis=1)
        """,
        "test_global_average_pool1d",
        "changed x in place",
    ),
    # A forged answer: an ndarray subclass whose ufuncs all say True would fool np.allclose.
    "forged: ndarray subclass that fakes np.allclose": (
        GAVG,
        """
        class Liar(np.ndarray):
            def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
                return True  # np.allclose, np.isfinite, ==: all say True

        def global_average_pool1d(x):
            return np.zeros((x.shape[0], x.shape[2])).view(Liar)
        """,
        "test_global_average_pool1d",
        "got Liar, a subclass of np.ndarray",
    ),
}


@pytest.fixture(scope="module")
def lab03_solution_results():
    return run_cells(LAB)


def test_lab03_solution_passes_every_test_cell(lab03_solution_results):
    check_solution_passes(lab03_solution_results, at_least=10)


@pytest.mark.parametrize("name", list(LAB03))
def test_lab03_tests_catch_and_name_the_mistake(name):
    check_mistake(LAB, name, LAB03[name])
