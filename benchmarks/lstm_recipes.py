"""How far lecture 05's LSTM(32) gets on IMDB with two training recipes, over several seeds.

The published peak validation accuracy of this model is 0.893 (Chollet, Deep Learning with
Python, 1st ed., section 6.2); lecture 05 trains it once and compares. One run says little: the
validation accuracy of a small LSTM moves by a point from epoch to epoch and from seed to seed.
This script trains the model with each recipe and each seed (recipe A seed 1, recipe B seed 1,
recipe A seed 2, ...) for a fixed number of epochs, on the course's split, with ``imdb.fit`` (a
line per epoch), and prints each run's peak and the epoch of the peak, then per recipe the mean
and spread of the peaks and how many runs reached the published figure.

    COURSE_DATA_DIR=... python benchmarks/lstm_recipes.py                 # seeds 42 1 2 3 4
    python benchmarks/lstm_recipes.py --seeds 42 1 --recipes lecture

The recipes:

* ``lecture``: lecture 05's section 11: batches of 128, RMSprop at a constant 1e-3.
* ``tuned``: lecture 05's last section: batches of 64, and the learning rate halved after every
  epoch whose validation loss is not below the best so far (``ReduceLROnPlateau``).

Both train the same model, Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid).

Only accuracies are reported, so the runs need not have the machine to themselves. A run of
10 epochs takes about 2 to 4 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: The course's model that the book's LSTM(32) figure is compared with (``imdb.REFERENCES``).
REFERENCE_MODEL = "lstm_tuned"


@dataclass(frozen=True)
class Recipe:
    batch_size: int
    halve_on_plateau: bool


RECIPES = {
    "lecture": Recipe(batch_size=128, halve_on_plateau=False),
    "tuned": Recipe(batch_size=64, halve_on_plateau=True),
}


def train_once(recipe: Recipe, seed: int, data, *, epochs: int, maxlen: int = 500) -> list[float]:
    """Train LSTM(32) on ``data`` (an ``imdb.Split`` of word-index sequences) with ``recipe``
    and ``seed``; return the validation accuracy after each epoch."""
    import keras

    from course_utils import imdb

    train = imdb.dataset(
        data.x_train,
        data.y_train,
        maxlen=maxlen,
        shuffle=True,
        seed=seed,
        batch_size=recipe.batch_size,
    )
    val = imdb.dataset(data.x_val, data.y_val, maxlen=maxlen)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(10000, 32),
            keras.layers.LSTM(32),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="lstm",
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    callbacks = []
    if recipe.halve_on_plateau:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
        )
    run = imdb.fit(model, train, val, epochs=epochs, callbacks=callbacks)
    return run.history["val_accuracy"]


def summary(peaks: dict[str, list[float]]) -> str:
    """Per recipe: the peaks, their mean and standard deviation, and how many reached the
    published figure (by the rule of the course's results table, ``Reference.reached_by``)."""
    from course_utils import imdb

    published = imdb.REFERENCES[REFERENCE_MODEL]
    lines = [f"{'recipe':<10} {'runs':>4} {'mean':>7} {'sd':>7} {'min':>7} {'max':>7}  reached"]
    for name, values in peaks.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        reached = sum(published.reached_by(v) for v in values)
        lines.append(
            f"{name:<10} {len(values):>4} {statistics.mean(values):>7.4f} {sd:>7.4f} "
            f"{min(values):>7.4f} {max(values):>7.4f}  {reached} of {len(values)} "
            f"(published {published.value})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2, 3, 4])
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=list(RECIPES))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--log", type=Path, help="also append each run as a JSON line here")
    args = parser.parse_args(argv)

    from course_utils import datasets, imdb, runtime

    runtime.setup(seed=args.seeds[0])
    (x_train, y_train), (x_test, y_test) = datasets.load_imdb(num_words=10000)
    data = imdb.split((x_train, y_train), (x_test, y_test), shuffled_with=113)
    print(f"{data.sizes()}; {imdb.machine()}", flush=True)
    peaks: dict[str, list[float]] = {name: [] for name in args.recipes}
    for seed in args.seeds:
        for name in args.recipes:
            start = time.perf_counter()
            curve = train_once(RECIPES[name], seed, data, epochs=args.epochs)
            peak = max(curve)
            peaks[name].append(peak)
            print(
                f"{name:<8} seed {seed:>3}: peak {peak:.4f} (epoch {curve.index(peak) + 1}) "
                f"[{time.perf_counter() - start:.0f} s]",
                flush=True,
            )
            if args.log:
                with args.log.open("a") as log:
                    log.write(json.dumps({"recipe": name, "seed": seed, "val": curve}) + "\n")
    print()
    print(summary(peaks))


if __name__ == "__main__":
    main()
