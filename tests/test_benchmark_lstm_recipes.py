"""benchmarks/lstm_recipes.py trains lecture 05's LSTM with each recipe and sums up the seeds."""

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import lstm_recipes  # noqa: E402

pytestmark = [pytest.mark.slow]


def tiny_split():
    """Word-index 'reviews' whose label is whether word 7 occurs: an LSTM can learn it."""
    from course_utils import imdb

    rng = np.random.default_rng(0)

    def part(n):
        x = [list(rng.integers(10, 50, size=rng.integers(5, 30))) for _ in range(n)]
        y = rng.integers(0, 2, size=n)
        for review, label in zip(x, y, strict=True):
            if label:
                review[rng.integers(len(review))] = 7
        return x, y

    (xt, yt), (xv, yv), (xs, ys) = part(256), part(64), part(64)
    return imdb.Split(xt, yt, xv, yv, xs, ys)


@pytest.mark.parametrize("name", sorted(lstm_recipes.RECIPES))
def test_each_recipe_trains_and_reports_every_epoch(name):
    curve = lstm_recipes.train_once(lstm_recipes.RECIPES[name], 0, tiny_split(), epochs=2)
    assert len(curve) == 2 and all(0.0 <= v <= 1.0 for v in curve)


def test_the_summary_counts_runs_that_reach_the_published_figure_at_three_decimals():
    text = lstm_recipes.summary({"tuned": [0.8926, 0.8924, 0.8952]})
    row = text.splitlines()[1].split()
    assert row[:3] == ["tuned", "3", "0.8934"]
    assert "2 of 3" in text  # 0.8926 rounds to 0.893 and counts, 0.8924 does not


def test_the_tuned_recipe_is_the_one_lecture_05_teaches():
    import json

    source = "".join(
        "".join(c["source"])
        for c in json.loads((REPO / "lectures" / "05_lstm_gru.ipynb").read_text())["cells"]
    )
    tuned = lstm_recipes.RECIPES["tuned"]
    assert f"batch_size={tuned.batch_size}" in source and tuned.halve_on_plateau
    assert 'ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)' in source
