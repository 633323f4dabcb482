"""course_utils.plotting with plain data: no training, no TensorFlow."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils import plotting  # noqa: E402

HISTORY = {
    "loss": [0.7, 0.5, 0.4],
    "accuracy": [0.5, 0.7, 0.8],
    "val_loss": [0.6, 0.55, 0.6],
    "val_accuracy": [0.6, 0.7, 0.7],
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_history_draws_each_metric_and_its_val_twin():
    fig, ax = plt.subplots()
    out = plotting.plot_history(HISTORY, ax=ax)
    assert out is ax
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {
        "loss (train)",
        "loss (validation)",
        "accuracy (train)",
        "accuracy (validation)",
    }
    assert list(lines["loss (train)"].get_xdata()) == [1, 2, 3]  # epochs count from 1
    assert lines["loss (train)"].get_color() == lines["loss (validation)"].get_color()
    assert lines["loss (train)"].get_color() != lines["accuracy (train)"].get_color()
    assert lines["loss (validation)"].get_linestyle() == "--"


def test_plot_history_accepts_a_history_object_and_picks_metrics():
    class FakeHistory:
        history = HISTORY

    fig, ax = plt.subplots()
    plotting.plot_history(FakeHistory(), metrics=["accuracy"], ax=ax)
    assert len(ax.get_lines()) == 2
    assert ax.get_ylabel() == "accuracy"
    with pytest.raises(KeyError, match="precision"):
        plotting.plot_history(HISTORY, metrics=["precision"], ax=ax)
    with pytest.raises(TypeError, match="History"):
        plotting.plot_history([0.1, 0.2], ax=ax)


def test_functions_create_a_figure_only_when_no_axes_is_given():
    before = plt.get_fignums()
    fig, ax = plt.subplots()
    plotting.plot_sequence_heatmap(np.eye(4), ax=ax)
    plotting.plot_embeddings(["a", "b", "c"], np.eye(3), ax=ax)
    assert len(plt.get_fignums()) == len(before) + 1
    new_ax = plotting.plot_history(HISTORY)
    assert new_ax.figure is not fig and len(plt.get_fignums()) == len(before) + 2


def test_heatmap_shows_the_matrix_and_rejects_other_shapes():
    fig, ax = plt.subplots()
    matrix = np.arange(12).reshape(3, 4)
    plotting.plot_sequence_heatmap(matrix, ax=ax, xticklabels=list("abcd"))
    np.testing.assert_array_equal(ax.images[0].get_array(), matrix)
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcd")
    with pytest.raises(ValueError, match="2D"):
        plotting.plot_sequence_heatmap(np.zeros((2, 3, 4)), ax=ax)


def test_plot_embeddings_labels_every_word_and_groups_colours():
    words = ["king", "queen", "apple", "pear"]
    vectors = np.array([[1, 1, 0], [1, 0.9, 0], [0, 0, 1], [0, 0.1, 1.0]])
    fig, ax = plt.subplots()
    plotting.plot_embeddings(words, vectors, groups=["royal", "royal", "fruit", "fruit"], ax=ax)
    assert [t.get_text() for t in ax.texts] == words
    assert len(ax.collections) == 2  # one scatter per group
    with pytest.raises(ValueError, match="4 words but 3 vectors"):
        plotting.plot_embeddings(words, vectors[:3], ax=ax)


def test_pca_2d_keeps_the_main_direction():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    points = np.stack([t, 2 * t, 0.01 * rng.normal(size=200)], axis=1)
    projected = plotting.pca_2d(points)
    assert projected.shape == (200, 2)
    assert abs(np.corrcoef(projected[:, 0], t)[0, 1]) > 0.999
