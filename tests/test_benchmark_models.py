"""benchmarks/models.py measures the IMDB models of lectures 03-05, and its FLOP counts add up."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import models  # noqa: E402

pytestmark = [pytest.mark.slow]

#: The parameter counts of the IMDB models of lectures 03-05 (for 500-token reviews).
LECTURE_05 = {
    "bag of words": 160_033,
    "convnet": 1_315_937,
    "SimpleRNN": 322_113,
    "LSTM": 328_353,
    "GRU": 326_369,
    "conv + LSTM": 1_314_017,
}


def test_the_benchmark_builds_lecture_05s_models():
    assert set(models.MODELS) == set(LECTURE_05)
    for name, params in LECTURE_05.items():
        assert models.compiled(name, 500).count_params() == params, name


def test_flop_counts_follow_the_layer_shapes():
    # One LSTM step with 32 inputs and 32 units: 4 gates x 2 x (32*32 + 32*32) = 16,384.
    assert models.MODELS["LSTM"][1](1) == 16_384 + 64
    assert models.MODELS["GRU"][1](10) == 10 * 3 * 2 * 2048 + 64
    # The convnet's first layer sees T-6 windows of 7 x 128 inputs for 32 filters.
    first = 2 * (500 - 6) * 7 * 128 * 32
    second = 2 * ((500 - 6) // 5 - 6) * 7 * 32 * 32
    assert models.MODELS["convnet"][1](500) == first + second + 64
    # The bag of words does not depend on the length; the recurrent models grow linearly.
    assert models.MODELS["bag of words"][1](100) == models.MODELS["bag of words"][1](2000)
    lstm = models.MODELS["LSTM"][1]
    assert lstm(2000) - 64 == 20 * (lstm(100) - 64)


def test_a_tiny_run_prints_the_table():
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "models.py"),
            "--lengths",
            "41",
            "--batches",
            "1",
            "--rounds",
            "2",
            "--batch-size",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.split()[:1]]
    for name in LECTURE_05:
        assert any(line.startswith(name) and " 41 " in line for line in lines), proc.stdout
    lstm_line = next(line for line in lines if line.startswith("LSTM "))
    assert " 1.00 " in lstm_line, lstm_line  # the LSTM is its own reference


def test_too_short_a_length_is_refused_with_the_reason():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "models.py"), "--lengths", "40"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "at least 41" in proc.stderr, proc.stderr
