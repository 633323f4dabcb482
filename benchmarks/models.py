"""Training cost of the course's IMDB models, measured interleaved in one process.

For each sequence length, every model trains a few batches in turn (model A, model B, ...,
then A, B, ... again), so that a change in the machine's speed during the run hits every model
alike. For each model and length the script prints the median milliseconds per training batch
with the spread (min-max over the rounds), the ratio to the LSTM at the same length, reviews
per second, and the forward pass's floating-point operations per review, counted from the layer
shapes (2 per multiply-add; a training step costs about three forward passes).

The models are the IMDB models of lectures 03 to 05 (the same layers and parameter counts: the
convnet of lecture 03, the SimpleRNN and the 10,000-word bag of words of lecture 04, the LSTM,
GRU and conv + LSTM of lecture 05); inputs are
random word indices, since the cost does not depend on which words they are. Notebooks call
``runtime.setup()``, so this does too (deterministic ops on).

    python benchmarks/models.py                               # lengths 100 250 500 1000 2000
    python benchmarks/models.py --lengths 250 500 --batches 4 --rounds 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

VOCAB, BATCH = 10_000, 128
MIN_LENGTH = 41  #: the convnet's Conv1D(7) -> MaxPooling1D(5) -> Conv1D(7) needs 41 tokens
#: name -> (build(length), counts forward FLOPs per review at a length, output is a logit)
MODELS: dict[str, tuple[Callable, Callable[[int], int], bool]] = {}


def model(name: str, flops: Callable[[int], int], *, logit: bool = False):
    def register(build: Callable):
        MODELS[name] = (build, flops, logit)
        return build

    return register


def _conv_out(length: int, kernel: int) -> int:
    return max(length - kernel + 1, 0)


def _rnn_flops(steps: int, inputs: int, units: int, gates: int) -> int:
    return steps * gates * 2 * (inputs * units + units * units)


def _sequential(length: int, name: str, *layers):
    import keras

    return keras.Sequential([keras.Input(shape=(length,), dtype="int32"), *layers], name=name)


@model("bag of words", lambda t: 2 * VOCAB * 16 + 2 * 16)
def bag_of_words(length: int):
    import keras

    return _sequential(
        length,
        "bag_of_words",
        keras.layers.CategoryEncoding(num_tokens=VOCAB, output_mode="multi_hot"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    )


def _convnet_flops(t: int) -> int:
    first = _conv_out(t, 7)
    second = _conv_out(first // 5, 7)
    return 2 * first * 7 * 128 * 32 + 2 * second * 7 * 32 * 32 + 2 * 32


@model("convnet", _convnet_flops, logit=True)
def convnet(length: int):
    import keras

    return _sequential(
        length,
        "convnet",
        keras.layers.Embedding(VOCAB, 128),
        keras.layers.Conv1D(32, 7, activation="relu"),
        keras.layers.MaxPooling1D(5),
        keras.layers.Conv1D(32, 7, activation="relu"),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(1),
    )


def _recurrent(length: int, name: str, layer):
    import keras

    return _sequential(
        length,
        name,
        keras.layers.Embedding(VOCAB, 32),
        layer,
        keras.layers.Dense(1, activation="sigmoid"),
    )


@model("SimpleRNN", lambda t: _rnn_flops(t, 32, 32, 1) + 2 * 32)
def simple_rnn(length: int):
    import keras

    return _recurrent(length, "simple_rnn", keras.layers.SimpleRNN(32))


@model("LSTM", lambda t: _rnn_flops(t, 32, 32, 4) + 2 * 32)
def lstm(length: int):
    import keras

    return _recurrent(length, "lstm", keras.layers.LSTM(32))


@model("GRU", lambda t: _rnn_flops(t, 32, 32, 3) + 2 * 32)
def gru(length: int):
    import keras

    return _recurrent(length, "gru", keras.layers.GRU(32))


def _conv_lstm_flops(t: int) -> int:
    first = _conv_out(t, 5)
    second = _conv_out(first // 3, 5)
    convs = 2 * first * 5 * 128 * 32 + 2 * second * 5 * 32 * 32
    return convs + _rnn_flops(second, 32, 32, 4) + 2 * 32


@model("conv + LSTM", _conv_lstm_flops, logit=True)
def conv_lstm(length: int):
    import keras

    return _sequential(
        length,
        "conv_lstm",
        keras.layers.Embedding(VOCAB, 128),
        keras.layers.Conv1D(32, 5, activation="relu"),
        keras.layers.MaxPooling1D(3),
        keras.layers.Conv1D(32, 5, activation="relu"),
        keras.layers.LSTM(32),
        keras.layers.Dense(1),
    )


def compiled(name: str, length: int):
    import keras

    build, _, logit = MODELS[name]
    net = build(length)
    net.compile(
        optimizer="rmsprop",
        loss=keras.losses.BinaryCrossentropy(from_logits=logit),
        metrics=["accuracy"],
    )
    return net


def measure(
    lengths: list[int], *, batches: int, rounds: int, batch_size: int, seed: int = 0
) -> dict[tuple[str, int], list[float]]:
    """Seconds per training batch: (model, length) -> one figure per round."""
    rng = np.random.default_rng(seed)
    times: dict[tuple[str, int], list[float]] = {}
    for length in lengths:
        x = rng.integers(1, VOCAB, size=(batches, batch_size, length)).astype("int32")
        y = rng.integers(0, 2, size=(batches, batch_size, 1)).astype("float32")
        nets = {}
        for name in MODELS:
            nets[name] = compiled(name, length)
            nets[name].train_on_batch(x[0], y[0])  # trace and build before timing
            nets[name].train_on_batch(x[0], y[0])
        for _ in range(rounds):
            for name, net in nets.items():
                start = time.perf_counter()
                for i in range(batches):
                    net.train_on_batch(x[i], y[i])
                times.setdefault((name, length), []).append((time.perf_counter() - start) / batches)
        print(f"length {length}: done", flush=True)
    return times


def table(times: dict[tuple[str, int], list[float]], batch_size: int) -> str:
    lengths = sorted({length for _, length in times})
    rows = [
        f"{'model':<13} {'length':>6} {'MFLOP/review':>12} {'ms/batch':>9} "
        f"{'(min-max)':>15} {'x LSTM':>7} {'reviews/s':>10}"
    ]
    for length in lengths:
        lstm_ms = statistics.median(times["LSTM", length]) * 1000 if "LSTM" in MODELS else None
        for name, (_, flops, _) in MODELS.items():
            runs = [t * 1000 for t in times[name, length]]
            med = statistics.median(runs)
            ratio = f"{med / lstm_ms:7.2f}" if lstm_ms else "      -"
            rows.append(
                f"{name:<13} {length:>6} {flops(length) / 1e6:>12.2f} {med:>9.1f} "
                f"{f'({min(runs):.1f}-{max(runs):.1f})':>15} {ratio} "
                f"{batch_size / med * 1000:>10.0f}"
            )
        rows.append("")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 250, 500, 1000, 2000])
    parser.add_argument("--batches", type=int, default=4, help="timed batches per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--batch-size", type=int, default=BATCH)
    args = parser.parse_args(argv)
    if min(args.lengths) < MIN_LENGTH:
        parser.error(
            f"--lengths must be at least {MIN_LENGTH}: shorter reviews leave the convnet's "
            "second convolution nothing to slide over (7 - 1 + 5 x 7 tokens)"
        )

    from course_utils import runtime

    runtime.setup()
    import tensorflow as tf

    print(
        f"TensorFlow {tf.__version__} on {platform.machine()} {platform.processor() or ''}, "
        f"{len(tf.config.list_physical_devices('CPU'))} CPU device(s), no GPU: "
        f"{not tf.config.list_physical_devices('GPU')}; batch {args.batch_size}, "
        f"{args.batches} batches x {args.rounds} rounds per model and length",
        flush=True,
    )
    times = measure(
        args.lengths, batches=args.batches, rounds=args.rounds, batch_size=args.batch_size
    )
    print()
    print(table(times, args.batch_size))


if __name__ == "__main__":
    main()
