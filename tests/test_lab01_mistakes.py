"""Lab 01's tests catch the mistakes students really make, and name them.

Each case replaces one answer cell of the solution notebook with a realistic wrong version, runs
every cell (hidden tests included) in this process, and checks which test cell fails and that
its message names the mistake. The correct solution must pass every test cell.
"""

import pytest

from .mistakes import check_mistake, check_solution_passes, run_cells

LAB = "lab01_text_encoding"
TOK = "tokenize"
VOCAB = "build_vocabulary"
SEQ = "texts_to_sequences"
ONEHOT = "one_hot_encode"
BOW = "bag_of_words"
NGRAMS = "ngrams"
PAD = "pad_sequences"

# A correct bag_of_words body after the mode check, reused by the variants below.
_BOW_COUNTS = """
            bags = np.zeros((len(sequences), vocab_size))
            for row, sequence in zip(bags, sequences):
                row += one_hot_encode(sequence, vocab_size).sum(axis=0)
"""

LAB01 = {
    # name: (answer cell, wrong code, test cell that must fail, words its message must contain)
    "tokenize: split on spaces": (
        TOK,
        """
        def tokenize(text):
            return text.lower().split()
        """,
        "test_tokenize_basic",
        "keeps the punctuation",
    ),
    "tokenize: not lowercased": (
        TOK,
        """
        import re
        def tokenize(text):
            return re.findall(r"[^\\W_]+(?:'[^\\W_]+)*", text)
        """,
        "test_tokenize_basic",
        "not lowercased",
    ),
    "tokenize: re.split leaves an empty string": (
        TOK,
        """
        import re
        def tokenize(text):
            return re.split(r"[^\\w']+", text.lower())
        """,
        "test_tokenize_basic",
        "empty string",
    ),
    "tokenize: \\w+ splits don't": (
        TOK,
        """
        import re
        def tokenize(text):
            return re.findall(r"\\w+", text.lower())
        """,
        "test_tokenize_rules",
        "apostrophe inside a word",
    ),
    "tokenize: ASCII letters only": (
        TOK,
        """
        import re
        def tokenize(text):
            return re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower())
        """,
        "test_tokenize_rules",
        "accented letters",
    ),
    "tokenize: leading/trailing apostrophes kept": (
        TOK,
        """
        import re
        def tokenize(text):
            return re.findall(r"[\\w']+", text.lower())
        """,
        "test_tokenize_rules",
        "start or end of a word",
    ),
    "tokenize: underscore kept (hidden)": (
        TOK,
        """
        import re
        def tokenize(text):
            return re.findall(r"\\w+(?:'\\w+)*", text.lower())
        """,
        "test_tokenize_rules",
        "underscore must split",
    ),
    "vocabulary: ties in first-seen order (Counter.most_common)": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in tokenize(text))
            words = [w for w, _ in counts.most_common()]
            if max_tokens is not None:
                words = words[: max_tokens - 2]
            return {w: i for i, w in enumerate(words, start=2)}
        """,
        "test_build_vocabulary_worked_example",
        "first-seen order",
    ),
    "vocabulary: ascending frequency": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in tokenize(text))
            words = sorted(counts, key=lambda w: (counts[w], w))
            if max_tokens is not None:
                words = words[: max_tokens - 2]
            return {w: i for i, w in enumerate(words, start=2)}
        """,
        "test_build_vocabulary_worked_example",
        "increasing order",
    ),
    "vocabulary: reverse=True reverses the tie-break": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in tokenize(text))
            words = sorted(counts, key=lambda w: (counts[w], w), reverse=True)
            if max_tokens is not None:
                words = words[: max_tokens - 2]
            return {w: i for i, w in enumerate(words, start=2)}
        """,
        "test_build_vocabulary_worked_example",
        "reverse alphabetical",
    ),
    "vocabulary: indices from 1": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in tokenize(text))
            words = sorted(counts, key=lambda w: (-counts[w], w))
            if max_tokens is not None:
                words = words[: max_tokens - 2]
            return {w: i for i, w in enumerate(words, start=1)}
        """,
        "test_build_vocabulary_worked_example",
        "indices start at 1",
    ),
    "vocabulary: indices from 0": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in tokenize(text))
            words = sorted(counts, key=lambda w: (-counts[w], w))
            return {w: i for i, w in enumerate(words)}
        """,
        "test_build_vocabulary_worked_example",
        "indices start at 0",
    ),
    "vocabulary: document frequency instead of counts": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in set(tokenize(text)))
            words = sorted(counts, key=lambda w: (-counts[w], w))
            return {w: i for i, w in enumerate(words, start=2)}
        """,
        "test_build_vocabulary_worked_example",
        "every occurrence",
    ),
    "vocabulary: max_tokens words kept (reserved indices not counted)": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in tokenize(text))
            words = sorted(counts, key=lambda w: (-counts[w], w))
            if max_tokens is not None:
                words = words[:max_tokens]
            return {w: i for i, w in enumerate(words, start=2)}
        """,
        "test_build_vocabulary_max_tokens",
        "counts the two reserved indices",
    ),
    "vocabulary: off by one on max_tokens": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in tokenize(text))
            words = sorted(counts, key=lambda w: (-counts[w], w))
            if max_tokens is not None:
                words = words[: max_tokens - 1]
            return {w: i for i, w in enumerate(words, start=2)}
        """,
        "test_build_vocabulary_max_tokens",
        "max_tokens - 1 words",
    ),
    "vocabulary: ties in first-seen order only at the max_tokens cut (hidden)": (
        VOCAB,
        """
        from collections import Counter
        def build_vocabulary(texts, max_tokens=None):
            counts = Counter(t for text in texts for t in tokenize(text))
            if max_tokens is None:
                words = sorted(counts, key=lambda w: (-counts[w], w))
            else:
                words = [w for w, _ in counts.most_common(max_tokens - 2)]
            return {w: i for i, w in enumerate(words, start=2)}
        """,
        "test_build_vocabulary_max_tokens",
        "first-seen order",
    ),
    "sequences: unknown words become 0": (
        SEQ,
        """
        def texts_to_sequences(texts, vocabulary):
            return [[vocabulary.get(t, 0) for t in tokenize(text)] for text in texts]
        """,
        "test_texts_to_sequences",
        "not 0",
    ),
    "sequences: unknown words dropped": (
        SEQ,
        """
        def texts_to_sequences(texts, vocabulary):
            return [[vocabulary[t] for t in tokenize(text) if t in vocabulary] for text in texts]
        """,
        "test_texts_to_sequences",
        "not be dropped",
    ),
    "sequences: split on spaces instead of tokenize": (
        SEQ,
        """
        def texts_to_sequences(texts, vocabulary):
            return [[vocabulary.get(t, 1) for t in text.split()] for text in texts]
        """,
        "test_texts_to_sequences",
        "tokenized with tokenize",
    ),
    "sequences: setdefault adds unknown words to the vocabulary (hidden)": (
        SEQ,
        """
        def texts_to_sequences(texts, vocabulary):
            return [[vocabulary.setdefault(t, 1) for t in tokenize(text)] for text in texts]
        """,
        "test_texts_to_sequences",
        "changed the vocabulary",
    ),
    "one-hot: no index check (IndexError)": (
        ONEHOT,
        """
        def one_hot_encode(sequence, vocab_size):
            return np.eye(vocab_size)[np.asarray(sequence, dtype=int)]
        """,
        "test_one_hot_encode",
        "should raise ValueError, but it raised IndexError",
    ),
    "one-hot: transposed": (
        ONEHOT,
        """
        def one_hot_encode(sequence, vocab_size):
            seq = np.asarray(sequence, dtype=int)
            if ((seq < 0) | (seq >= vocab_size)).any():
                raise ValueError(f"bad index in {seq.tolist()}")
            return np.eye(vocab_size)[seq].T
        """,
        "test_one_hot_encode",
        "transposed",
    ),
    "one-hot: integer array": (
        ONEHOT,
        """
        def one_hot_encode(sequence, vocab_size):
            seq = np.asarray(sequence, dtype=int)
            if ((seq < 0) | (seq >= vocab_size)).any():
                raise ValueError(f"bad index in {seq.tolist()}")
            return np.eye(vocab_size, dtype=int)[seq]
        """,
        "test_one_hot_encode",
        "float array",
    ),
    "one-hot: negative indices wrap around (hidden)": (
        ONEHOT,
        """
        def one_hot_encode(sequence, vocab_size):
            seq = np.asarray(sequence, dtype=int)
            if (seq >= vocab_size).any():
                raise ValueError(f"index {seq.max()} >= vocab_size {vocab_size}")
            return np.eye(vocab_size)[seq].reshape(len(seq), vocab_size)
        """,
        "test_one_hot_encode",
        "returned normally",
    ),
    "bag of words: padding counted": (
        BOW,
        """
        def bag_of_words(sequences, vocab_size, mode="count"):
            if mode not in ("count", "binary", "freq"):
                raise ValueError("mode must be 'count', 'binary' or 'freq'")
        """
        + _BOW_COUNTS
        + """
            if mode == "binary":
                return (bags > 0).astype(float)
            if mode == "freq":
                n = bags.sum(axis=1, keepdims=True)
                return np.divide(bags, n, out=np.zeros_like(bags), where=n > 0)
            return bags
        """,
        "test_bag_of_words_modes",
        "padding (index 0) is counted",
    ),
    "bag of words: freq divides by the padded length": (
        BOW,
        """
        def bag_of_words(sequences, vocab_size, mode="count"):
            if mode not in ("count", "binary", "freq"):
                raise ValueError("mode must be 'count', 'binary' or 'freq'")
        """
        + _BOW_COUNTS
        + """
            bags[:, 0] = 0
            if mode == "binary":
                return (bags > 0).astype(float)
            if mode == "freq":
                return bags / np.array([[max(len(s), 1)] for s in sequences])
            return bags
        """,
        "test_bag_of_words_modes",
        "WITHOUT padding",
    ),
    "bag of words: binary returns counts": (
        BOW,
        """
        def bag_of_words(sequences, vocab_size, mode="count"):
            if mode not in ("count", "binary", "freq"):
                raise ValueError("mode must be 'count', 'binary' or 'freq'")
        """
        + _BOW_COUNTS
        + """
            bags[:, 0] = 0
            if mode == "freq":
                n = bags.sum(axis=1, keepdims=True)
                return np.divide(bags, n, out=np.zeros_like(bags), where=n > 0)
            return bags
        """,
        "test_bag_of_words_modes",
        "'binary' must be 0 or 1",
    ),
    "bag of words: freq divided by vocab_size": (
        BOW,
        """
        def bag_of_words(sequences, vocab_size, mode="count"):
            if mode not in ("count", "binary", "freq"):
                raise ValueError("mode must be 'count', 'binary' or 'freq'")
        """
        + _BOW_COUNTS
        + """
            bags[:, 0] = 0
            if mode == "binary":
                return (bags > 0).astype(float)
            if mode == "freq":
                return bags / vocab_size
            return bags
        """,
        "test_bag_of_words_worked_example",
        "not by vocab_size",
    ),
    "bag of words: unknown mode falls back to counts": (
        BOW,
        """
        def bag_of_words(sequences, vocab_size, mode="count"):
        """
        + _BOW_COUNTS
        + """
            bags[:, 0] = 0
            if mode == "binary":
                return (bags > 0).astype(float)
            if mode == "freq":
                n = bags.sum(axis=1, keepdims=True)
                return np.divide(bags, n, out=np.zeros_like(bags), where=n > 0)
            return bags
        """,
        "test_bag_of_words_modes",
        "returned normally",
    ),
    "bag of words: 0 / 0 for a sequence of padding (hidden)": (
        BOW,
        """
        def bag_of_words(sequences, vocab_size, mode="count"):
            if mode not in ("count", "binary", "freq"):
                raise ValueError("mode must be 'count', 'binary' or 'freq'")
        """
        + _BOW_COUNTS
        + """
            bags[:, 0] = 0
            if mode == "binary":
                return (bags > 0).astype(float)
            if mode == "freq":
                return bags / bags.sum(axis=1, keepdims=True)
            return bags
        """,
        "test_bag_of_words_modes",
        "NaN",
    ),
    "ngrams: last n-gram missing": (
        NGRAMS,
        """
        def ngrams(tokens, n):
            if n < 1:
                raise ValueError("n < 1")
            return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n)]
        """,
        "test_ngrams",
        "last n-gram is missing",
    ),
    "ngrams: lists instead of tuples": (
        NGRAMS,
        """
        def ngrams(tokens, n):
            if n < 1:
                raise ValueError("n < 1")
            return [list(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        """,
        "test_ngrams",
        "not a list",
    ),
    "ngrams: strings joined with spaces": (
        NGRAMS,
        """
        def ngrams(tokens, n):
            if n < 1:
                raise ValueError("n < 1")
            return [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        """,
        "test_ngrams",
        "not a string",
    ),
    "ngrams: no error for n < 1 (hidden)": (
        NGRAMS,
        """
        def ngrams(tokens, n):
            tokens = list(tokens)
            return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        """,
        "test_ngrams",
        "should raise ValueError",
    ),
    "pad: truncating from the wrong end": (
        PAD,
        """
        def pad_sequences(sequences, maxlen, padding="pre", truncating="pre", value=0):
            out = np.full((len(sequences), maxlen), value, dtype=int)
            for row, s in zip(out, sequences):
                s = list(s)[:maxlen] if truncating == "pre" else list(s)[-maxlen:]
                if s:
                    if padding == "pre":
                        row[maxlen - len(s):] = s
                    else:
                        row[:len(s)] = s
            return out
        """,
        "test_pad_sequences_rules",
        "must cut values from the start",
    ),
    "pad: padding on the wrong side": (
        PAD,
        """
        def pad_sequences(sequences, maxlen, padding="pre", truncating="pre", value=0):
            out = np.full((len(sequences), maxlen), value, dtype=int)
            for row, s in zip(out, sequences):
                s = list(s)[-maxlen:] if truncating == "pre" else list(s)[:maxlen]
                if s:
                    if padding == "post":
                        row[maxlen - len(s):] = s
                    else:
                        row[:len(s)] = s
            return out
        """,
        "test_pad_sequences_rules",
        "must put the padding at the start",
    ),
    "pad: float array": (
        PAD,
        """
        def pad_sequences(sequences, maxlen, padding="pre", truncating="pre", value=0):
            out = np.zeros((len(sequences), maxlen)) + value
            for row, s in zip(out, sequences):
                s = list(s)[-maxlen:] if truncating == "pre" else list(s)[:maxlen]
                if s:
                    if padding == "pre":
                        row[maxlen - len(s):] = s
                    else:
                        row[:len(s)] = s
            return out
        """,
        "test_pad_sequences_rules",
        "integer array",
    ),
    "pad: edits the lists in place (hidden)": (
        PAD,
        """
        def pad_sequences(sequences, maxlen, padding="pre", truncating="pre", value=0):
            for s in sequences:
                if len(s) > maxlen:
                    if truncating == "pre":
                        del s[: len(s) - maxlen]
                    else:
                        del s[maxlen:]
                while len(s) < maxlen:
                    if padding == "pre":
                        s.insert(0, value)
                    else:
                        s.append(value)
            return np.array(sequences, dtype=int).reshape(len(sequences), maxlen)
        """,
        "test_pad_sequences_rules",
        "changed the lists",
    ),
    "pad: value ignored (hidden)": (
        PAD,
        """
        def pad_sequences(sequences, maxlen, padding="pre", truncating="pre", value=0):
            out = np.zeros((len(sequences), maxlen), dtype=int)
            for row, s in zip(out, sequences):
                s = list(s)[-maxlen:] if truncating == "pre" else list(s)[:maxlen]
                if s:
                    if padding == "pre":
                        row[maxlen - len(s):] = s
                    else:
                        row[:len(s)] = s
            return out
        """,
        "test_pad_sequences_rules",
        "value is ignored",
    ),
    # A forged answer: values that equal anything would make a dict comparison pass.
    "forged: values that equal anything": (
        VOCAB,
        """
        class Anything:
            def __eq__(self, other):
                return True

        def build_vocabulary(texts, max_tokens=None):
            return {word: Anything() for text in texts for word in tokenize(text)}
        """,
        "test_build_vocabulary_worked_example",
        "got a value of type Anything at key 'the'",
    ),
}


@pytest.fixture(scope="module")
def lab01_solution_results():
    return run_cells(LAB)


def test_lab01_solution_passes_every_test_cell(lab01_solution_results):
    check_solution_passes(lab01_solution_results, at_least=12)


@pytest.mark.parametrize("name", list(LAB01))
def test_lab01_tests_catch_and_name_the_mistake(name):
    check_mistake(LAB, name, LAB01[name])
