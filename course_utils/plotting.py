"""Plots used across the lectures. Matplotlib only; every function takes ``ax=`` and returns it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def _history_dict(history: Any) -> Mapping[str, Sequence[float]]:
    # Accept a keras History (its .history dict) or the dict itself, so tests need no training.
    data = getattr(history, "history", history)
    if not isinstance(data, Mapping):
        raise TypeError(
            f"plot_history needs a Keras History or its .history dict, got {type(history).__name__}"
        )
    return data


def plot_history(
    history: Any,
    *,
    metrics: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
):
    """Plot training curves: each metric solid, its ``val_`` twin dashed in the same colour.

    ``metrics`` picks base names (e.g. ``["loss"]``); default: every non-``val_`` key.
    Epochs are numbered from 1.
    """
    data = _history_dict(history)
    if metrics is None:
        metrics = [k for k in data if not k.startswith("val_")]
    missing = [m for m in metrics if m not in data and f"val_{m}" not in data]
    if missing:
        raise KeyError(f"no {missing} in the history; it has {sorted(data)}")
    ax = _axes(ax)
    for i, name in enumerate(metrics):
        colour = f"C{i % 10}"
        for key, style, label in ((name, "-", "train"), (f"val_{name}", "--", "validation")):
            if key in data:
                values = np.asarray(data[key], dtype=float)
                epochs = np.arange(1, len(values) + 1)
                ax.plot(
                    epochs, values, style, color=colour, marker="o", ms=3, label=f"{name} ({label})"
                )
    ax.set_xlabel("epoch")
    ax.set_ylabel(metrics[0] if len(metrics) == 1 else "value")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def plot_sequence_heatmap(
    matrix,
    *,
    ax=None,
    xlabel: str = "feature",
    ylabel: str = "time step",
    title: str | None = None,
    xticklabels: Sequence[str] | None = None,
    yticklabels: Sequence[str] | None = None,
    cmap: str = "viridis",
    colorbar: bool = True,
):
    """Show a (time, features) matrix, e.g. one-hot rows or hidden states, one row per step."""
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2:
        raise ValueError(
            f"plot_sequence_heatmap needs a 2D (time, features) array, got {values.shape}"
        )
    ax = _axes(ax)
    image = ax.imshow(values, aspect="auto", cmap=cmap, interpolation="nearest")
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), labels=xticklabels, rotation=90)
    if yticklabels is not None:
        ax.set_yticks(range(len(yticklabels)), labels=yticklabels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return ax


def pca_2d(vectors) -> np.ndarray:
    """Project row vectors onto their first two principal components."""
    x = np.asarray(vectors, dtype=float)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def plot_embeddings(
    words: Sequence[str],
    vectors,
    *,
    groups: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
):
    """Scatter word vectors in 2D (PCA of the given vectors), each point labelled by its word.

    ``groups`` optionally names a group per word; each group gets its own colour.
    """
    vectors = np.asarray(vectors, dtype=float)
    if len(words) != len(vectors):
        raise ValueError(f"{len(words)} words but {len(vectors)} vectors")
    if len(words) < 2:
        raise ValueError("plot_embeddings needs at least two words")
    points = pca_2d(vectors)
    ax = _axes(ax)
    labels = list(groups) if groups is not None else [None] * len(words)
    for i, group in enumerate(dict.fromkeys(labels)):
        mask = np.array([g == group for g in labels])
        ax.scatter(points[mask, 0], points[mask, 1], color=f"C{i % 10}", label=group)
    for word, (x, y) in zip(words, points, strict=True):
        ax.annotate(word, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=9)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    if title:
        ax.set_title(title)
    if groups is not None:
        ax.legend()
    return ax
