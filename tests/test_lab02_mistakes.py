"""Lab 02's tests catch the mistakes students really make, and name them.

Each case replaces one answer cell of the solution notebook with a realistic wrong version, runs
every cell (hidden tests included) in this process, and checks which test cell fails and that
its message names the mistake. The correct solution must pass every test cell.
"""

import pytest

from .mistakes import check_mistake, check_solution_passes, run_cells

LAB = "lab02_embeddings"
LOOKUP = "embedding_lookup"
COS = "cosine_similarity"
NEAR = "most_similar"
ANALOGY = "analogy"
MATRIX = "build_embedding_matrix"


def _most_similar(order: str, exclude: str = "i != q", cos: bool = True) -> str:
    """A most_similar whose ranking line and query exclusion are given."""
    scale = "np.linalg.norm(V, axis=1) * np.linalg.norm(V[q])" if cos else "1.0"
    return f"""
    def most_similar(word, words, vectors, topn=5):
        words = list(words)
        if word not in words:
            raise KeyError(word)
        q = words.index(word)
        V = np.asarray(vectors, dtype=float)
        sims = V @ V[q] / ({scale})
        order = {order}
        order = [i for i in order if {exclude}]
        return [(words[i], float(sims[i])) for i in order[:topn]]
    """


def _analogy(
    target: str = "V[ib] - V[ia] + V[ic]", excluded: str = "[ia, ib, ic]", cos: bool = True
) -> str:
    """An analogy with the given target and excluded positions."""
    scale = "np.linalg.norm(V, axis=1) * np.linalg.norm(t)" if cos else "1.0"
    return f"""
    def analogy(a, b, c, words, vectors):
        words = list(words)
        for w in (a, b, c):
            if w not in words:
                raise KeyError(w)
        ia, ib, ic = (words.index(w) for w in (a, b, c))
        V = np.asarray(vectors, dtype=float)
        t = {target}
        with np.errstate(all="ignore"):
            sims = np.nan_to_num(V @ t / ({scale}))
        sims[{excluded}] = -np.inf
        return words[int(np.argmax(sims))]
    """


LAB02 = {
    # name: (answer cell, wrong code, test cell that must fail, words its message must contain)
    "lookup: weights transposed (caught by the square hidden case)": (
        LOOKUP,
        """
        def embedding_lookup(indices, weights):
            W = np.asarray(weights)
            W = W.T if W.shape[0] == W.shape[1] else W
            return W[np.asarray(indices)]
        """,
        "test_embedding_lookup_is_one_hot_matmul",
        "weights are transposed",
    ),
    "lookup: batch axes flattened": (
        LOOKUP,
        """
        def embedding_lookup(indices, weights):
            return np.asarray(weights)[np.ravel(indices)]
        """,
        "test_embedding_lookup_shape",
        "flattened",
    ),
    "lookup: off by one (index - 1)": (
        LOOKUP,
        """
        def embedding_lookup(indices, weights):
            return np.asarray(weights)[np.asarray(indices) - 1]
        """,
        "test_embedding_lookup_is_one_hot_matmul",
        "off by one",
    ),
    "lookup: one-hot vectors returned, not multiplied": (
        LOOKUP,
        """
        def embedding_lookup(indices, weights):
            return np.eye(len(weights))[np.asarray(indices)]
        """,
        "test_embedding_lookup_shape",
        "one-hot vectors",
    ),
    "cosine: plain dot product": (
        COS,
        """
        def cosine_similarity(u, v):
            return float(np.dot(u, v))
        """,
        "test_cosine_similarity_worked_example",
        "dot product",
    ),
    "cosine: only one vector normalised": (
        COS,
        """
        def cosine_similarity(u, v):
            n = np.linalg.norm(u)
            return 0.0 if n == 0 else float(np.dot(u, v) / n)
        """,
        "test_cosine_similarity_worked_example",
        "only u is normalised",
    ),
    "cosine: squared norms": (
        COS,
        """
        def cosine_similarity(u, v):
            u, v = np.asarray(u, float), np.asarray(v, float)
            d = (u @ u) * (v @ v)
            return 0.0 if d == 0 else float(u @ v / d)
        """,
        "test_cosine_similarity_worked_example",
        "norms are squared",
    ),
    "cosine: NaN for a zero vector": (
        COS,
        """
        def cosine_similarity(u, v):
            u, v = np.asarray(u, float), np.asarray(v, float)
            return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
        """,
        "test_cosine_similarity_rules",
        "NaN",
    ),
    "cosine: arguments normalised in place (hidden)": (
        COS,
        """
        def cosine_similarity(u, v):
            nu, nv = np.linalg.norm(u), np.linalg.norm(v)
            if nu == 0 or nv == 0:
                return 0.0
            if isinstance(u, np.ndarray):
                u /= nu
                v /= nv
                return float(u @ v)
            return float(np.dot(u, v) / (nu * nv))
        """,
        "test_cosine_similarity_rules",
        "changed its arguments in place",
    ),
    "most_similar: query word included": (
        NEAR,
        _most_similar("np.argsort(-sims, kind='stable')", exclude="True"),
        "test_most_similar_small",
        "query word must be left out",
    ),
    "most_similar: ascending order": (
        NEAR,
        _most_similar("np.argsort(sims, kind='stable')"),
        "test_most_similar_small",
        "MOST similar word comes first",
    ),
    "most_similar: ranked by dot product": (
        NEAR,
        _most_similar("np.argsort(-sims, kind='stable')", cos=False),
        "test_most_similar_small",
        "dot product",
    ),
    "most_similar: topn taken before the query is removed": (
        NEAR,
        """
        def most_similar(word, words, vectors, topn=5):
            words = list(words)
            if word not in words:
                raise KeyError(word)
            q = words.index(word)
            V = np.asarray(vectors, dtype=float)
            n = np.linalg.norm(V, axis=1)
            sims = V @ V[q] / (n * n[q])
            top = np.argsort(-sims, kind="stable")[:topn]
            return [(words[i], float(sims[i])) for i in top if i != q]
        """,
        "test_most_similar_small",
        "topn - 1 words",
    ),
    "most_similar: ties reversed by argsort()[::-1]": (
        NEAR,
        _most_similar("np.argsort(sims, kind='stable')[::-1]"),
        "test_most_similar_rules",
        "ties must keep the order of words",
    ),
    "most_similar: ValueError from words.index for an unknown word": (
        NEAR,
        """
        def most_similar(word, words, vectors, topn=5):
            words = list(words)
            q = words.index(word)
            V = np.asarray(vectors, dtype=float)
            n = np.linalg.norm(V, axis=1)
            sims = V @ V[q] / (n * n[q])
            order = [i for i in np.argsort(-sims, kind="stable") if i != q]
            return [(words[i], float(sims[i])) for i in order[:topn]]
        """,
        "test_most_similar_rules",
        "should raise KeyError, but it raised ValueError",
    ),
    "most_similar: drops the first result instead of the query (hidden)": (
        NEAR,
        """
        def most_similar(word, words, vectors, topn=5):
            words = list(words)
            if word not in words:
                raise KeyError(word)
            q = words.index(word)
            V = np.asarray(vectors, dtype=float)
            n = np.linalg.norm(V, axis=1)
            with np.errstate(all="ignore"):
                sims = np.nan_to_num(V @ V[q] / (n * n[q]))
            order = np.argsort(-sims, kind="stable")[1:topn + 1]
            return [(words[i], float(sims[i])) for i in order]
        """,
        "test_most_similar_rules",
        "removed by its position",
    ),
    "most_similar: vectors normalised in place (hidden)": (
        NEAR,
        """
        def most_similar(word, words, vectors, topn=5):
            words = list(words)
            if word not in words:
                raise KeyError(word)
            q = words.index(word)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors /= np.where(norms > 0, norms, 1)
            sims = vectors @ vectors[q]
            order = [i for i in np.argsort(-sims, kind="stable") if i != q]
            return [(words[i], float(sims[i])) for i in order[:topn]]
        """,
        "test_most_similar_rules",
        "changed vectors in place",
    ),
    "analogy: inputs not excluded": (
        ANALOGY,
        _analogy(excluded="[]"),
        "test_analogy_excludes_inputs",
        "must be excluded (here c",
    ),
    "analogy: target a - b + c": (
        ANALOGY,
        _analogy(target="V[ia] - V[ib] + V[ic]"),
        "test_analogy_toy",
        "b - a + c",
    ),
    "analogy: dot product instead of cosine (hidden)": (
        ANALOGY,
        _analogy(cos=False),
        "test_analogy_toy",
        "dot product",
    ),
    "analogy: only c excluded (hidden)": (
        ANALOGY,
        _analogy(excluded="[ic]"),
        "test_analogy_excludes_inputs",
        "here b is the closest",
    ),
    "analogy: a not excluded (hidden)": (
        ANALOGY,
        _analogy(excluded="[ib, ic]"),
        "test_analogy_excludes_inputs",
        "here a is the closest",
    ),
    "analogy: ValueError for an unknown word (hidden)": (
        ANALOGY,
        """
        def analogy(a, b, c, words, vectors):
            words = list(words)
            ia, ib, ic = (words.index(w) for w in (a, b, c))
            V = np.asarray(vectors, dtype=float)
            t = V[ib] - V[ia] + V[ic]
            with np.errstate(all="ignore"):
                sims = np.nan_to_num(V @ t / (np.linalg.norm(V, axis=1) * np.linalg.norm(t)))
            sims[[ia, ib, ic]] = -np.inf
            return words[int(np.argmax(sims))]
        """,
        "test_analogy_toy",
        "should raise KeyError",
    ),
    "matrix: off by one rows": (
        MATRIX,
        """
        def build_embedding_matrix(word_index, embeddings, max_words, dim):
            m = np.zeros((max_words, dim), dtype=np.float32)
            for word, i in word_index.items():
                if i <= max_words and word in embeddings:
                    m[i - 1] = embeddings[word]
            return m
        """,
        "test_build_embedding_matrix_small",
        "off by one",
    ),
    "matrix: float64": (
        MATRIX,
        """
        def build_embedding_matrix(word_index, embeddings, max_words, dim):
            m = np.zeros((max_words, dim))
            for word, i in word_index.items():
                if i < max_words and word in embeddings:
                    m[i] = embeddings[word]
            return m
        """,
        "test_build_embedding_matrix_small",
        "should be float32",
    ),
    "matrix: no max_words check (IndexError)": (
        MATRIX,
        """
        def build_embedding_matrix(word_index, embeddings, max_words, dim):
            m = np.zeros((max_words, dim), dtype=np.float32)
            for word, i in word_index.items():
                if word in embeddings:
                    m[i] = embeddings[word]
            return m
        """,
        "test_build_embedding_matrix_max_words",
        "must be skipped",
    ),
    "matrix: i > max_words instead of >= (IndexError)": (
        MATRIX,
        """
        def build_embedding_matrix(word_index, embeddings, max_words, dim):
            m = np.zeros((max_words, dim), dtype=np.float32)
            for word, i in word_index.items():
                if i > max_words:
                    continue
                if word in embeddings:
                    m[i] = embeddings[word]
            return m
        """,
        "test_build_embedding_matrix_max_words",
        "raised IndexError",
    ),
    "matrix: rows follow the dict's order (hidden)": (
        MATRIX,
        """
        def build_embedding_matrix(word_index, embeddings, max_words, dim):
            m = np.zeros((max_words, dim), dtype=np.float32)
            for i, word in enumerate(word_index, start=1):
                if i < max_words and word in embeddings:
                    m[i] = embeddings[word]
            return m
        """,
        "test_build_embedding_matrix_max_words",
        "order of the dict",
    ),
    "matrix: first max_words entries of the dict (hidden)": (
        MATRIX,
        """
        def build_embedding_matrix(word_index, embeddings, max_words, dim):
            m = np.zeros((max_words, dim), dtype=np.float32)
            for word, i in list(word_index.items())[:max_words]:
                if i < max_words and word in embeddings:
                    m[i] = embeddings[word]
            return m
        """,
        "test_build_embedding_matrix_max_words",
        "first max_words entries",
    ),
    "matrix: random vectors for missing words": (
        MATRIX,
        """
        def build_embedding_matrix(word_index, embeddings, max_words, dim):
            rng = np.random.default_rng(0)
            m = rng.normal(scale=0.1, size=(max_words, dim)).astype(np.float32)
            for word, i in word_index.items():
                if i < max_words and word in embeddings:
                    m[i] = embeddings[word]
            return m
        """,
        "test_build_embedding_matrix_small",
        "must stay all zeros",
    ),
    # A forged answer: an ndarray subclass whose ufuncs all say True would fool np.allclose.
    "forged: ndarray subclass that fakes np.allclose": (
        LOOKUP,
        """
        class Liar(np.ndarray):
            def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
                return True  # np.allclose, np.isfinite, ==: all say True

        def embedding_lookup(indices, weights):
            return np.zeros(np.shape(indices) + (np.shape(weights)[1],)).view(Liar)
        """,
        "test_embedding_lookup_is_one_hot_matmul",
        "got Liar, a subclass of np.ndarray",
    ),
}


@pytest.fixture(scope="module")
def lab02_solution_results():
    return run_cells(LAB)


def test_lab02_solution_passes_every_test_cell(lab02_solution_results):
    check_solution_passes(lab02_solution_results, at_least=12)


@pytest.mark.parametrize("name", list(LAB02))
def test_lab02_tests_catch_and_name_the_mistake(name):
    check_mistake(LAB, name, LAB02[name])
