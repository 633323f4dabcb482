"""course_utils.imdb: one split for the whole course, the pipeline, fit with timing, records."""

import numpy as np
import pytest

from course_utils import imdb


def official(n_test=300):
    """Stand-ins for the loaded data: 25,000 training 'reviews' that name their own index."""
    x_train = [f"review {i}" for i in range(imdb.N_TRAIN_OFFICIAL)]
    y_train = np.arange(imdb.N_TRAIN_OFFICIAL) % 2
    x_test = [f"test {i}" for i in range(n_test)]
    return (x_train, y_train), (x_test, np.arange(n_test) % 2)


def test_the_split_is_fixed_disjoint_and_complete():
    train, val = imdb.split_indices()
    again_train, again_val = imdb.split_indices()
    assert np.array_equal(train, again_train) and np.array_equal(val, again_val)
    assert len(train) == 20_000 and len(val) == 5_000
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(range(25_000))


def test_text_and_index_sequences_get_the_same_reviews():
    train, test = official()
    as_text = imdb.split(train, test)
    as_ids = imdb.split(([[i] for i in range(25_000)], train[1]), test)
    assert [int(t.split()[1]) for t in as_text.x_val] == [s[0] for s in as_ids.x_val]
    assert np.array_equal(as_text.y_train, as_ids.y_train)
    assert as_text.sizes() == "train 20,000, validation 5,000, test 300"


def test_arrays_are_split_too():
    train, test = official()
    x = np.arange(25_000)[:, None]
    s = imdb.split((x, train[1]), (np.zeros((300, 1)), test[1]))
    assert s.x_train.shape == (20_000, 1) and np.array_equal(s.x_train[:, 0] % 2, s.y_train)


def test_fast_mode_takes_fixed_subsets_of_the_full_split():
    train, test = official(n_test=5_000)
    full, fast = imdb.split(train, test), imdb.split(train, test, fast=True)
    assert (len(fast.y_train), len(fast.y_val), len(fast.y_test)) == imdb.FAST_SIZES
    assert set(fast.x_train) <= set(full.x_train) and set(fast.x_val) <= set(full.x_val)


def test_fast_subsets_are_balanced_although_the_official_files_are_sorted_by_label():
    (x, _), (xt, _) = official(n_test=25_000)
    sorted_labels = (np.arange(25_000) < 12_500).astype(int)  # positives first, as on disk
    fast = imdb.split((x, sorted_labels), (xt, sorted_labels), fast=True)
    for part in (fast.y_train, fast.y_val, fast.y_test):
        assert 0.4 < part.mean() < 0.6
    full = imdb.split((x, sorted_labels), (xt, sorted_labels))
    assert 0.4 < full.y_train[:200].mean() < 0.6  # "the first 200 reviews" is a fair sample


def test_a_subset_is_refused_with_the_reason():
    (x, y), test = official()
    with pytest.raises(ValueError, match="official 25,000"):
        imdb.split((x[:100], y[:100]), test)


def learner_and_flipped_validation(shuffle=False):
    """A logistic regression on 64 points and a validation set with the labels flipped: the
    longer it learns, the worse it validates (its validation loss rises every epoch)."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(
        optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model, imdb.dataset(x, y, batch_size=16, shuffle=shuffle), imdb.dataset(x, 1 - y)


def test_fit_prints_every_epoch_times_it_and_restores_the_best_weights(capsys):
    model, train, val = learner_and_flipped_validation(shuffle=True)
    run = imdb.fit(model, train, val, epochs=6, patience=1, name="probe")
    out = capsys.readouterr().out
    ran = len(run.epoch_seconds)
    assert run.stopped_early and ran < 6
    assert out.count("probe epoch ") == ran and "val_accuracy" in out
    assert run.best_val_accuracy == max(run.history["val_accuracy"])
    restored = model.evaluate(val, verbose=0)[1]
    assert restored == pytest.approx(run.best_val_accuracy)


def test_fit_passes_further_callbacks_to_keras(capsys):
    import keras

    model, train, val = learner_and_flipped_validation()
    # The validation loss rises every epoch, so the schedule halves the learning rate after
    # each of the epochs 2 to 4.
    halve = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
    run = imdb.fit(model, train, val, epochs=4, name="probe", callbacks=[halve])
    assert len(run.epoch_seconds) == 4 and capsys.readouterr().out.count("probe epoch ") == 4
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5 / 2**3)


def test_fit_needs_an_accuracy_metric():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    ds = imdb.dataset(np.zeros((4, 2), "float32"), np.zeros(4, "float32"))
    with pytest.raises(ValueError, match="accuracy"):
        imdb.fit(model, ds, ds, epochs=1)


def result(model="lstm", test=0.87, source="lecture 05"):
    return imdb.Result(
        model=model,
        data="last 500 words",
        params=328_353,
        best_val_accuracy=0.88,
        best_epoch=3,
        test_accuracy=test,
        seconds_per_epoch=31.5,
        total_seconds=160.0,
        machine="2 CPUs",
        source=source,
    )


def test_records_round_trip_and_a_rerun_replaces_its_own_line(tmp_path):
    path = tmp_path / "results" / "imdb.jsonl"
    assert imdb.read_records(path) == []
    imdb.record(result(), path)
    imdb.record(result("bag_of_words", 0.89, "lecture 01"), path)
    imdb.record(result(test=0.88), path)  # the lecture ran again
    got = imdb.read_records(path)
    assert [(r.model, r.test_accuracy) for r in got] == [("bag_of_words", 0.89), ("lstm", 0.88)]
    table = imdb.results_table(got).splitlines()
    assert table[0].startswith("model") and table[2].startswith("bag_of_words")
    assert "0.880 (3)" in table[3] and "328,353" in table[3]


def test_a_broken_records_file_names_the_line(tmp_path):
    path = tmp_path / "imdb.jsonl"
    imdb.record(result(), path)
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ValueError, match="line 2"):
        imdb.read_records(path)


def test_load_imdb_order_is_undone_so_both_loaders_give_the_same_reviews():
    """load_imdb shuffles like Keras (RandomState(seed): train, then test)."""
    (x, y), (xt, yt) = official(n_test=400)
    train_order, test_order = imdb.load_imdb_orders(len(y), len(yt), 113)
    shuffled = (
        ([x[i] for i in train_order], y[train_order]),
        ([xt[i] for i in test_order], yt[test_order]),
    )
    plain = imdb.split((x, y), (xt, yt))
    undone = imdb.split(*shuffled, shuffled_with=113)
    assert undone.x_val == plain.x_val and undone.x_test == plain.x_test
    assert np.array_equal(undone.y_train, plain.y_train)
    fast = imdb.split(*shuffled, shuffled_with=113, fast=True)
    assert fast.x_train == imdb.split((x, y), (xt, yt), fast=True).x_train


@pytest.mark.data
def test_on_the_real_data_both_loaders_give_the_same_validation_reviews(real_data):
    from course_utils import datasets

    real_data("imdb_reviews", "imdb_word_index")
    raw = imdb.split(*datasets.load_imdb_reviews())
    ids = imdb.split(*datasets.load_imdb(), shuffled_with=113)
    index = datasets.get_imdb_word_index()
    for k in (0, 1234, 4999):
        words = datasets.decode_review(ids.x_val[k], index).split()[1:]  # after <start>
        assert words == datasets.keras_text_to_words(raw.x_val[k]), k
    assert np.array_equal(raw.y_val, ids.y_val) and np.array_equal(raw.y_test, ids.y_test)


def batches_of(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_bucketing_keeps_the_last_tokens_pads_in_front_and_pads_only_to_the_bucket():
    rng = np.random.default_rng(0)
    reviews = [list(rng.integers(4, 50, size=n)) for n in rng.integers(1, 700, size=300)]
    labels = np.arange(300) % 2
    batches = batches_of(imdb.dataset(reviews, labels, maxlen=500, bucket_width=100, batch_size=32))
    seen = []
    for x, y in batches:
        assert x.shape[1] % 100 == 0 and x.shape[1] <= 500
        for row, label in zip(x, y, strict=True):
            tokens = row[row != 0]
            k = next(i for i, r in enumerate(reviews) if list(r[-500:]) == list(tokens))
            assert labels[k] == label
            longest = min(len(reviews[k]), 500)
            assert x.shape[1] - 100 < longest <= x.shape[1]  # the smallest bucket that holds it
            assert (row[: x.shape[1] - longest] == 0).all()  # zeros in front
            seen.append(k)
    assert sorted(seen) == list(range(300))  # every review once


def test_bucketed_batches_change_order_each_epoch_and_repeat_for_a_seed():
    reviews = [[5] * n for n in range(1, 257)]
    labels = np.arange(256) % 2

    def epochs(seed):
        ds = imdb.dataset(
            reviews, labels, maxlen=256, bucket_width=64, batch_size=16, shuffle=True, seed=seed
        )
        return [[int((x.numpy() != 0).sum()) for x, _ in ds] for _ in range(2)]

    first, again = epochs(1), epochs(1)
    assert first == again and first[0] != first[1]
    plain = imdb.dataset(reviews, labels, maxlen=256, bucket_width=None, batch_size=16)
    assert {x.shape[1] for x, _ in batches_of(plain)} == {256}
    assert plain.cardinality().numpy() == 16


def test_sequences_without_maxlen_and_padded_arrays_with_it_are_refused():
    with pytest.raises(ValueError, match="pass maxlen"):
        imdb.dataset(np.array([[1, 2], [3]], dtype=object), [0, 1])
    with pytest.raises(ValueError, match="not a padded array"):
        imdb.dataset(np.zeros((2, 5), "int32"), [0, 1], maxlen=5)
    with pytest.raises(ValueError, match="3 reviews but 2 labels"):
        imdb.dataset([[1], [2], [3]], [0, 1], maxlen=5)


def test_length_summary_names_the_percentiles():
    line = imdb.length_summary([[1] * n for n in range(1, 101)])
    assert line.startswith("100 reviews") and "50%: 50" in line and "longest 100" in line


def test_fast_runs_record_into_the_cache_and_full_runs_beside_the_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    assert imdb.results_file(True).is_relative_to(tmp_path / "cache")
    assert imdb.results_file(False, tmp_path) == tmp_path / "imdb_results.jsonl"
    assert imdb.model_file("lstm").parent == tmp_path / "cache" / "models"
    assert imdb.model_file("lstm", fast=True) != imdb.model_file("lstm")
    with pytest.raises(ValueError, match="plain file name"):
        imdb.model_file("../lstm")


def test_records_from_concurrent_writers_are_all_kept(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "imdb.jsonl"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: imdb.record(result(f"m{i}"), path), range(40)))
    assert sorted(r.model for r in imdb.read_records(path)) == sorted(f"m{i}" for i in range(40))


def test_references_are_checked_on_the_measure_they_report():
    lstm = result("lstm_tuned", test=0.80)  # best validation 0.88
    assert imdb.reference_check(lstm).endswith("ours 0.880: below")  # against 0.893 validation
    bow = result("bag_of_unigrams", test=0.887)
    assert imdb.reference_check(bow).endswith("ours 0.887: reached")  # against 0.885 test
    assert imdb.reference_check(result("inception_convnet")) == ""
    near_chance = result("embedding_learned_200")  # best validation 0.88 in the stand-in
    near_chance.best_val_accuracy = 0.514  # the book: "about 0.53"
    assert ": matched (the published figure is approximate" in imdb.reference_check(near_chance)
    near_chance.best_val_accuracy = 0.505
    assert imdb.reference_check(near_chance).endswith(": below")


def test_the_markdown_table_has_a_row_per_model_and_the_published_value():
    md = imdb.results_markdown(
        [result("lstm_tuned", 0.87), result("bag_of_unigrams", 0.89, "lecture 01")]
    )
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 3 and rows[1].startswith("| bag_of_unigrams | lecture 01")
    assert "0.893 peak validation" in rows[2] and "Measured on: 2 CPUs." in md


def test_a_saved_model_comes_back_with_its_weights(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert imdb.load_model("probe") is None
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="probe")
    imdb.save_model(model, "probe")
    again = imdb.load_model("probe")
    x = np.ones((1, 3), "float32")
    assert np.allclose(model.predict(x, verbose=0), again.predict(x, verbose=0))
    assert imdb.load_model("probe", fast=True) is None
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["probe.keras"]
