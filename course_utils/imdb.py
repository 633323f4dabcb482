"""The course's one IMDB experiment: the split, the input pipeline, training, results records.

Every lecture and lab that trains on IMDB uses the same reviews: the official 25,000 test reviews,
and one fixed 20,000 / 5,000 train / validation split of the official training set, the same
whether a notebook starts from raw text (``datasets.load_imdb_reviews``, the official order) or
from word indices (``datasets.load_imdb``, which shuffles like Keras: pass its ``seed``). Model
definitions stay in the notebooks that teach them; this module shares the plumbing only.
TensorFlow is imported where it is used.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SPLIT_SEED = 2011  #: fixes the validation reviews for the whole course (Maas et al., 2011)
N_TRAIN_OFFICIAL = 25_000
N_VAL = 5_000
#: (train, validation, test) sizes in fast mode (``COURSE_FAST=1``): a few seconds per epoch
FAST_SIZES = (1_000, 500, 1_000)


def split_indices(
    n: int = N_TRAIN_OFFICIAL, n_val: int = N_VAL, *, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train, validation) indices into the official training set, each in a fixed random
    order: the official files are sorted by label, so any first N of either is a fair sample."""
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be between 1 and {n - 1}, got {n_val}")
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:], order[:n_val]


@dataclass(frozen=True)
class Split:
    """The course's IMDB split: inputs (text or index sequences) and 0/1 labels."""

    x_train: Sequence
    y_train: np.ndarray
    x_val: Sequence
    y_val: np.ndarray
    x_test: Sequence
    y_test: np.ndarray

    def sizes(self) -> str:
        n_train, n_val, n_test = len(self.y_train), len(self.y_val), len(self.y_test)
        return f"train {n_train:,}, validation {n_val:,}, test {n_test:,}"


def _take(x, idx: np.ndarray):
    if isinstance(x, np.ndarray):
        return x[idx]
    return [x[i] for i in idx]


def load_imdb_orders(n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Which official review sits at each position of ``datasets.load_imdb(seed=seed)``."""
    rng = np.random.RandomState(seed)  # the same draws as load_imdb (and Keras): train, then test
    orders = []
    for n in (n_train, n_test):
        order = np.arange(n)
        rng.shuffle(order)
        orders.append(order)
    return orders[0], orders[1]


def split(
    train: tuple, test: tuple, *, fast: bool = False, shuffled_with: int | None = None
) -> Split:
    """Split ``(x_train, y_train), (x_test, y_test)`` as loaded into the course's split.

    ``shuffled_with``: the ``seed`` of ``datasets.load_imdb`` (113 unless you changed it) when
    the data comes from there; leave it out for ``load_imdb_reviews``, which keeps the official
    order. Either way the same reviews come out, in the same fixed random order (the official
    files are sorted by label, so ``x_train[:200]`` is then a fair sample of 200 reviews). In
    fast mode each part is the first ``FAST_SIZES`` reviews of the full one.
    """
    (x_train, y_train), (x_test, y_test) = train, test
    if len(y_train) != N_TRAIN_OFFICIAL:
        raise ValueError(
            f"expected the official {N_TRAIN_OFFICIAL:,} training reviews, got {len(y_train):,}:"
            " split the data as loaded, before taking any subset"
        )
    train_idx, val_idx = split_indices()
    test_idx = np.random.default_rng(SPLIT_SEED + 1).permutation(len(y_test))
    if fast:
        n_train, n_val, n_test = FAST_SIZES
        train_idx, val_idx, test_idx = train_idx[:n_train], val_idx[:n_val], test_idx[:n_test]
    if shuffled_with is not None:
        # official index -> position in the shuffled arrays
        train_order, test_order = load_imdb_orders(len(y_train), len(y_test), shuffled_with)
        train_idx = np.argsort(train_order)[train_idx]
        val_idx = np.argsort(train_order)[val_idx]
        test_idx = np.argsort(test_order)[test_idx]
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    return Split(
        _take(x_train, train_idx),
        y_train[train_idx],
        _take(x_train, val_idx),
        y_train[val_idx],
        _take(x_test, test_idx),
        y_test[test_idx],
    )


def lengths(x: Sequence) -> np.ndarray:
    """The number of tokens of every review in ``x`` (index sequences)."""
    return np.array([len(review) for review in x])


def length_summary(x: Sequence, percentiles: Sequence[int] = (50, 75, 90, 95, 99)) -> str:
    """One line on how long the reviews in ``x`` are: the given percentiles and the longest."""
    n = lengths(x)
    values = np.percentile(n, percentiles)
    shown = ", ".join(f"{q}%: {int(v)}" for q, v in zip(percentiles, values, strict=True))
    return f"{len(n):,} reviews; tokens per review at the percentiles {shown}; longest {n.max()}"


def _bucket_batches(n_tokens: np.ndarray, width: int, maxlen: int, batch_size: int, rng):
    """Batches of review indices with similar lengths, each with the length to pad it to."""
    tops = np.minimum(np.maximum(np.ceil(n_tokens / width), 1) * width, maxlen).astype(int)
    batches = []
    for top in np.unique(tops):
        members = np.flatnonzero(tops == top)
        if rng is not None:
            members = rng.permutation(members)
        starts = range(0, len(members), batch_size)
        batches += [(int(top), members[i : i + batch_size]) for i in starts]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def dataset(
    x,
    y,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    maxlen: int | None = None,
    bucket_width: int | None = 100,
):
    """A batched, prefetched ``tf.data.Dataset`` of (x, y); shuffled each epoch if asked.

    ``x`` is an array (one row per review), a list of strings, or, with ``maxlen``, a list of
    word-index sequences. Those are cut to their last ``maxlen`` tokens and padded with zeros in
    front (``"pre"``, as ``keras.utils.pad_sequences`` does by default). With ``bucket_width``,
    reviews of similar length are batched together and each batch is padded only to the next
    multiple of ``bucket_width`` (at most ``maxlen``): a recurrent layer then runs about as many
    steps as the reviews have words, not ``maxlen`` for every review. ``bucket_width=None`` pads
    every review to ``maxlen``. The batches come in a new random order every epoch when
    ``shuffle`` is on, and always in the same order for the same ``seed``.
    """
    import tensorflow as tf

    y = np.asarray(y)
    if maxlen is not None:
        if isinstance(x, np.ndarray) and x.dtype != object:
            raise ValueError("maxlen is for lists of word-index sequences, not a padded array")
        if len(x) != len(y):
            raise ValueError(f"{len(x):,} reviews but {len(y):,} labels")
        if bucket_width is None:
            return dataset(_pad(x, maxlen), y, batch_size=batch_size, shuffle=shuffle, seed=seed)
        return _bucketed(x, y, maxlen, bucket_width, batch_size, shuffle, seed)
    if not isinstance(x, np.ndarray):
        x = np.asarray(x, dtype=object if len(x) and isinstance(x[0], str) else None)
    if x.dtype == object and len(x) and not isinstance(x[0], str):
        raise ValueError("these look like word-index sequences of different lengths: pass maxlen")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _pad(x: Sequence, maxlen: int) -> np.ndarray:
    """Last ``maxlen`` tokens of each sequence, zeros in front (int32)."""
    out = np.zeros((len(x), maxlen), dtype="int32")
    for row, review in enumerate(x):
        tail = list(review)[-maxlen:]
        if tail:
            out[row, maxlen - len(tail) :] = tail
    return out


def _bucketed(x, y, maxlen, width, batch_size, shuffle, seed):
    import tensorflow as tf

    if width <= 0 or maxlen <= 0:
        raise ValueError(f"maxlen and bucket_width must be positive, got {maxlen} and {width}")
    n_tokens = lengths(x)
    label_dtype = "float32" if y.dtype.kind in "biuf" else y.dtype
    y = y.astype(label_dtype)
    epochs = iter(range(1 << 62))
    n_batches = len(_bucket_batches(n_tokens, width, maxlen, batch_size, None))

    def batches():
        rng = np.random.default_rng([seed, next(epochs)]) if shuffle else None
        for top, members in _bucket_batches(n_tokens, width, maxlen, batch_size, rng):
            yield _pad([x[i] for i in members], top), y[members]

    ds = tf.data.Dataset.from_generator(
        batches,
        output_signature=(
            tf.TensorSpec((None, None), tf.int32),
            tf.TensorSpec((None,), tf.as_dtype(label_dtype)),
        ),
    )
    return ds.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)


@dataclass
class Run:
    """What one ``fit`` did: Keras' history, each epoch's seconds, and the best epoch."""

    history: dict[str, list[float]]
    epoch_seconds: list[float]
    total_seconds: float
    best_epoch: int  #: counted from 1
    best_val_accuracy: float
    stopped_early: bool


def _epoch_printer(timer, total_epochs: int, name: str):
    """A callback that prints one line per epoch with the time ``timer`` (runtime.epoch_timer,
    listed before it) recorded: nothing runs silently."""
    import keras

    class EpochPrinter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            shown = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
            print(
                f"{name} epoch {epoch + 1}/{total_epochs}: {timer.seconds[-1]:.1f} s  {shown}",
                flush=True,
            )

    return EpochPrinter()


def fit(
    model,
    train,
    val,
    *,
    epochs: int,
    patience: int | None = None,
    name: str | None = None,
    callbacks: Sequence = (),
) -> Run:
    """Train ``model`` (compiled with an ``accuracy`` metric); one printed line per epoch.

    With ``patience``, training stops after that many epochs without a better validation
    accuracy, and the model keeps the weights of its best epoch. ``callbacks`` are further Keras
    callbacks (a learning-rate schedule, say), called after the timer and the printed line.
    """
    import keras

    from .runtime import epoch_timer

    timer = epoch_timer()
    callbacks = [timer, _epoch_printer(timer, epochs, name or model.name), *callbacks]
    if patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True
            )
        )
    start = time.perf_counter()
    history = model.fit(
        train, validation_data=val, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0
    )
    total = time.perf_counter() - start
    val_acc = history.history.get("val_accuracy")
    if not val_acc:
        raise ValueError("compile the model with metrics=['accuracy'] so fit can track it")
    best = int(np.argmax(val_acc))
    return Run(
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        epoch_seconds=timer.seconds,
        total_seconds=total,
        best_epoch=best + 1,
        best_val_accuracy=float(val_acc[best]),
        stopped_early=len(val_acc) < epochs,
    )


def machine() -> str:
    """The machine a result was measured on, in a few words (CPU count, processor, GPU or not)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    where = f"{len(gpus)} GPU" if gpus else "no GPU"
    return f"{os.cpu_count()} CPUs, {platform.machine()}, {where}, TensorFlow {tf.__version__}"


@dataclass
class Result:
    """One trained model's line in the course-wide IMDB results table."""

    model: str
    data: str  #: what the model saw, e.g. "last 500 words, 10,000-word vocabulary"
    params: int
    best_val_accuracy: float
    best_epoch: int
    test_accuracy: float
    seconds_per_epoch: float
    total_seconds: float
    machine: str
    source: str = ""  #: where it was trained, e.g. "lecture 03"
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, model, run: Run, test_accuracy: float, *, data: str, source: str = "") -> Result:
        return cls(
            model=model.name,
            data=data,
            params=int(model.count_params()),
            best_val_accuracy=run.best_val_accuracy,
            best_epoch=run.best_epoch,
            test_accuracy=float(test_accuracy),
            seconds_per_epoch=float(np.median(run.epoch_seconds)),
            total_seconds=run.total_seconds,
            machine=machine(),
            source=source,
        )


RESULTS_NAME = "imdb_results.jsonl"


def results_file(fast: bool, folder: str | os.PathLike = ".") -> Path:
    """Where a notebook records its results: ``imdb_results.jsonl`` beside the lectures in a full
    run, the user's cache in fast mode (so a short run never replaces the full run's numbers)."""
    if fast:
        from .datasets import get_cache_dir

        return get_cache_dir() / "results" / RESULTS_NAME.replace(".jsonl", ".fast.jsonl")
    return Path(folder) / RESULTS_NAME


def record(result: Result, path: str | os.PathLike) -> None:
    """Add ``result`` to the records file at ``path`` (JSON lines), replacing an older line of
    the same model and source. Safe when several notebooks record at the same time."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = read_records(path)
        kept = [r for r in old if (r.model, r.source) != (result.model, result.source)]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(json.dumps(asdict(r)) + "\n" for r in [*kept, result]))
        tmp.replace(path)


def evaluate(model, data) -> float:
    """The accuracy of ``model`` (compiled with an ``accuracy`` metric) on a dataset."""
    scores = model.evaluate(data, verbose=0, return_dict=True)
    if "accuracy" not in scores:
        raise ValueError("compile the model with metrics=['accuracy'] so it can be evaluated")
    return float(scores["accuracy"])


def model_file(name: str, *, fast: bool = False) -> Path:
    """Where a trained model is kept: the user's cache, never the repository (fast runs apart)."""
    from .datasets import get_cache_dir

    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"a model name is a plain file name, got {name!r}")
    folder = get_cache_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}{'.fast' if fast else ''}.keras"


def save_model(model, name: str, *, fast: bool = False) -> Path:
    """Save ``model`` for a later cell or lecture (``load_model``); atomic, so a notebook that
    loads it at the same moment sees the old file or the new one, never half of one."""
    path = model_file(name, fast=fast)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.keras")
    model.save(tmp)
    tmp.replace(path)
    return path


def load_model(name: str, *, fast: bool = False):
    """The model ``save_model`` kept under ``name``, or None if no notebook saved it yet."""
    import keras

    path = model_file(name, fast=fast)
    return keras.saving.load_model(path) if path.exists() else None


def read_records(path: str | os.PathLike) -> list[Result]:
    """The results recorded at ``path`` (none if the file does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    results = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            results.append(Result(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}, line {number}: not a results record ({exc})") from exc
    return results


def results_table(results: Sequence[Result]) -> str:
    """A plain-text table of results, best test accuracy first."""
    header = ["model", "source", "params", "best val (epoch)", "test", "s/epoch", "data"]
    rows = [
        [
            r.model,
            r.source,
            f"{r.params:,}",
            f"{r.best_val_accuracy:.3f} ({r.best_epoch})",
            f"{r.test_accuracy:.3f}",
            f"{r.seconds_per_epoch:.1f}",
            r.data,
        ]
        for r in sorted(results, key=lambda r: -r.test_accuracy)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    head = "  ".join(v.ljust(w) for v, w in zip(header, widths, strict=True))
    return "\n".join([head, "  ".join("-" * w for w in widths), *lines])


@dataclass(frozen=True)
class Reference:
    """A published result to set beside one of the course's models."""

    value: float
    measure: str  #: "test" or "peak validation"
    setting: str
    citation: str = "Chollet (2017), Deep Learning with Python, 1st ed."
    about: bool = False  #: the book gives the figure only roughly ("in the low 50s")

    def reached_by(self, accuracy: float) -> bool:
        """Does ``accuracy`` reach the published figure, compared at the book's three decimals?"""
        return round(accuracy, 3) >= self.value


#: How close ours must be to an approximate published figure to count as matching it.
ABOUT_TOLERANCE = 0.02


#: Published results for models the course trains, keyed by the course model's name.
REFERENCES: dict[str, Reference] = {
    "bag_of_unigrams": Reference(
        0.885, "test", "multi-hot 10,000 words, Dense(16)-Dense(16), 4 epochs; section 3.4"
    ),
    "embedding_last20": Reference(
        0.75, "peak validation", "Embedding(8) + Flatten on the last 20 words; section 6.1"
    ),
    "glove_frozen_200": Reference(
        0.57,
        "peak validation",
        "frozen GloVe 100d, 200 training reviews; section 6.1",
        about=True,
    ),
    "embedding_learned_200": Reference(
        0.53,
        "peak validation",
        "learned embedding, 200 training reviews; section 6.1",
        about=True,
    ),
    "convnet": Reference(
        0.838, "peak validation", "Conv1D(32, 7) x 2, RMSprop 1e-4, last 500 words; section 6.4"
    ),
    # Lecture 05 trains LSTM(32) twice: like its other models ("lstm"), then with the training
    # changes that narrow the gap to the book's figure ("lstm_tuned"), which is compared with it.
    "lstm_tuned": Reference(0.893, "peak validation", "LSTM(32), last 500 words; section 6.2"),
}


def reference_check(result: Result) -> str:
    """'published 0.893 peak validation; ours 0.880: below' for a model with a reference.

    The verdict is "reached" when ours is at least the published figure; for a figure the book
    gives only roughly, "matched" when ours is within ``ABOUT_TOLERANCE`` below it.
    """
    ref = REFERENCES.get(result.model)
    if ref is None:
        return ""
    ours = result.test_accuracy if ref.measure == "test" else result.best_val_accuracy
    if ref.reached_by(ours):
        verdict = "reached"
    elif ref.about and round(ours, 3) >= ref.value - ABOUT_TOLERANCE:
        verdict = f"matched (the published figure is approximate; within {ABOUT_TOLERANCE})"
    else:
        verdict = "below"
    about = "about " if ref.about else ""
    return f"published {about}{ref.value:.3f} {ref.measure}; ours {ours:.3f}: {verdict}"


def results_markdown(results: Sequence[Result]) -> str:
    """The results as a Markdown table (for the website), best test accuracy first."""
    lines = [
        "| model | lecture | parameters | best validation (epoch) | test | s/epoch | data |"
        " published |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in sorted(results, key=lambda r: -r.test_accuracy):
        ref = REFERENCES.get(r.model)
        about = "about " if ref and ref.about else ""
        published = f"{about}{ref.value:.3f} {ref.measure} ({ref.setting})" if ref else ""
        lines.append(
            f"| {r.model} | {r.source} | {r.params:,} | {r.best_val_accuracy:.3f} "
            f"({r.best_epoch}) | {r.test_accuracy:.3f} | {r.seconds_per_epoch:.1f} | {r.data} "
            f"| {published} |"
        )
    machines = sorted({r.machine for r in results})
    lines += ["", "Measured on: " + "; ".join(machines) + "." if machines else ""]
    return "\n".join(lines).rstrip() + "\n"
