"""Lab 06's tests catch the mistakes students really make when building Keras models, and name them.

Each case replaces one answer cell of the solution notebook with a realistic wrong builder, runs
every cell (hidden tests included) in this process, and checks which test cells fail and that the
failure message names the mistake. The correct solution must pass every test cell.

The notebook's optional training section is skipped here: it does nothing when the environment
variable COURSE_LAB_NO_TRAINING is set, which these tests set for the duration of each run only
(nbgrader sets NBGRADER_EXECUTION itself when it grades or validates).
"""

import pytest

from .mistakes import check_mistake, check_solution_passes, run_cells

LAB = "lab06_imdb_models"
CONV = "build_conv1d_model"
LSTM = "build_lstm_model"
CONV_LSTM = "build_conv_lstm_model"

LAB06 = {
    # name: (answer cell, wrong code, test cell that must fail, words its message must contain)
    "conv1d: kernel size 5 instead of 7": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_settings",
        "kernel size 5 where 7 is expected",
    ),
    "conv1d: pool size 3 instead of 5": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(3)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_settings",
        "pool size 3 where 5 is expected",
    ),
    "conv1d: Flatten instead of GlobalMaxPooling1D": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.Flatten()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_layers",
        "Flatten instead of GlobalMaxPooling1D",
    ),
    "conv1d: GlobalAveragePooling1D instead of GlobalMaxPooling1D": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalAveragePooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_layers",
        "GlobalAveragePooling1D instead of GlobalMaxPooling1D",
    ),
    "conv1d: no global pooling, Dense on 3D input": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_layers",
        "missing GlobalMaxPooling1D: Dense got 3D input",
    ),
    "conv1d: MaxPooling1D missing between the convolutions": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_layers",
        "missing MaxPooling1D",
    ),
    "conv1d: sigmoid on the logits model": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
        """,
        "test_conv1d_settings",
        "sigmoid on a logits model",
    ),
    "conv1d: 64 filters instead of 32": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(64, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(64, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_settings",
        "64 filters where 32 are expected",
    ),
    "conv1d: no relu in the convolutions": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7)(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7)(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_settings",
        "activation='relu' is missing",
    ),
    "conv1d: padding='same'": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu", padding="same")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu", padding="same")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_settings",
        "padding='same'",
    ),
    "conv1d: Dense(2, softmax) head": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
        """,
        "test_conv1d_settings",
        "Dense(2, activation='softmax') where Dense(1) is expected",
    ),
    "conv1d: Embedding arguments swapped": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(embed_dim, vocab_size)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_settings",
        "arguments are swapped",
    ),
    "conv1d: float input (dtype left out)": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,))
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_layers",
        "word indices are integers",
    ),
    "conv1d: Sequential with no Input, never built": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            return keras.Sequential([
                layers.Embedding(vocab_size, embed_dim),
                layers.Conv1D(32, 7, activation="relu"),
                layers.MaxPooling1D(5),
                layers.Conv1D(32, 7, activation="relu"),
                layers.GlobalMaxPooling1D(),
                layers.Dense(1),
            ])
        """,
        "test_conv1d_layers",
        "start from keras.Input",
    ),
    "conv1d: sizes of the lecture hard-coded (hidden)": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(500,), dtype="int32")
            x = layers.Embedding(10000, 128)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_shapes",
        "expected maxlen=100",
    ),
    "conv1d: vocabulary size hard-coded (hidden)": (
        CONV,
        """
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(10000, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_settings",
        "input_dim=10000 where vocab_size=300 is expected",
    ),
    "conv1d: one model cached and returned again (hidden)": (
        CONV,
        """
        import functools

        @functools.lru_cache
        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_layers",
        "create new layers on every call",
    ),
    "lstm: no sigmoid on the probability model": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            inputs = keras.Input(shape=(None,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.LSTM(units)(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_lstm_settings",
        "no sigmoid on the final Dense(1)",
    ),
    "lstm: return_sequences=True": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            inputs = keras.Input(shape=(None,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.LSTM(units, return_sequences=True)(x)
            return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
        """,
        "test_lstm_settings",
        "return_sequences=True on the last LSTM",
    ),
    "lstm: LSTM(32) hard-coded (hidden)": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            inputs = keras.Input(shape=(None,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.LSTM(32)(x)
            return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
        """,
        "test_lstm_settings",
        "LSTM(32) where LSTM(16) is expected",
    ),
    "lstm: GRU instead of LSTM": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            inputs = keras.Input(shape=(None,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.GRU(units)(x)
            return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
        """,
        "test_lstm_layers",
        "GRU instead of LSTM",
    ),
    "lstm: SimpleRNN instead of LSTM": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            inputs = keras.Input(shape=(None,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.SimpleRNN(units)(x)
            return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
        """,
        "test_lstm_layers",
        "SimpleRNN instead of LSTM",
    ),
    "lstm: input length fixed to 500": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            inputs = keras.Input(shape=(500,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.LSTM(units)(x)
            return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
        """,
        "test_lstm_layers",
        "reads reviews of any length",
    ),
    "lstm: sigmoid as a separate Activation layer": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            inputs = keras.Input(shape=(None,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.LSTM(units)(x)
            x = layers.Dense(1)(x)
            return keras.Model(inputs, layers.Activation("sigmoid")(x))
        """,
        "test_lstm_layers",
        "separate Activation layer",
    ),
    "lstm: Dense(2, softmax) head": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            inputs = keras.Input(shape=(None,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.LSTM(units)(x)
            return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
        """,
        "test_lstm_settings",
        "Dense(2, activation='softmax') where Dense(1) is expected",
    ),
    "conv_lstm: kernel size 7 copied from the convnet": (
        CONV_LSTM,
        """
        def build_conv_lstm_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.MaxPooling1D(3)(x)
            x = layers.Conv1D(32, 7, activation="relu")(x)
            x = layers.LSTM(32)(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv_lstm_settings",
        "kernel size 7 where 5 is expected",
    ),
    "conv_lstm: pool size 5 copied from the convnet": (
        CONV_LSTM,
        """
        def build_conv_lstm_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.LSTM(32)(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv_lstm_settings",
        "pool size 5 where 3 is expected",
    ),
    "conv_lstm: return_sequences=True on the LSTM": (
        CONV_LSTM,
        """
        def build_conv_lstm_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.MaxPooling1D(3)(x)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.LSTM(32, return_sequences=True)(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv_lstm_settings",
        "return_sequences=True on the last LSTM",
    ),
    "conv_lstm: sigmoid on the logits model": (
        CONV_LSTM,
        """
        def build_conv_lstm_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.MaxPooling1D(3)(x)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.LSTM(32)(x)
            return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
        """,
        "test_conv_lstm_settings",
        "sigmoid on a logits model",
    ),
    "conv_lstm: second Conv1D missing": (
        CONV_LSTM,
        """
        def build_conv_lstm_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.MaxPooling1D(3)(x)
            x = layers.LSTM(32)(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv_lstm_layers",
        "second Conv1D is missing",
    ),
    "conv_lstm: no relu on the second convolution": (
        CONV_LSTM,
        """
        def build_conv_lstm_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.MaxPooling1D(3)(x)
            x = layers.Conv1D(32, 5)(x)
            x = layers.LSTM(32)(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv_lstm_settings",
        "Conv1D number 2: no activation",
    ),
    "conv_lstm: LSTM(embed_dim) instead of LSTM(32)": (
        CONV_LSTM,
        """
        def build_conv_lstm_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.MaxPooling1D(3)(x)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.LSTM(embed_dim)(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv_lstm_settings",
        "LSTM(128) where LSTM(32) is expected",
    ),
    "conv_lstm: maxlen hard-coded": (
        CONV_LSTM,
        """
        def build_conv_lstm_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(500,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.MaxPooling1D(3)(x)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.LSTM(32)(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv_lstm_shapes",
        "expected maxlen=40",
    ),
    # Forged answers: an int subclass that equals anything passed as a layer's setting, and a
    # keras.Model subclass that shows the layers of another model.
    "forged: settings that equal anything": (
        CONV,
        """
        class Anything(int):
            def __eq__(self, other):
                return True

            def __ne__(self, other):
                return False

            __hash__ = int.__hash__

        def build_conv1d_model(vocab_size, embed_dim, maxlen):
            inputs = keras.Input(shape=(maxlen,), dtype="int32")
            x = layers.Embedding(vocab_size, embed_dim)(inputs)
            x = layers.Conv1D(Anything(8), Anything(3), activation="relu")(x)
            x = layers.MaxPooling1D(5)(x)
            x = layers.Conv1D(Anything(8), Anything(3), activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
            return keras.Model(inputs, layers.Dense(1)(x))
        """,
        "test_conv1d_settings",
        "an item of type Anything at index 0",
    ),
    "forged: a keras.Model subclass that shows another model's layers": (
        LSTM,
        """
        def build_lstm_model(vocab_size, embed_dim, units):
            i = keras.Input((None,), dtype="int32")
            shown = keras.Model(i, layers.Dense(1, activation="sigmoid")(
                layers.LSTM(units)(layers.Embedding(vocab_size, embed_dim)(i))))

            class Faker(keras.Model):
                @property
                def layers(self):
                    return shown.layers

                @layers.setter
                def layers(self, value):
                    pass

                def count_params(self):
                    return shown.count_params()

            inputs = keras.Input(shape=(None,), dtype="int32")
            x = layers.GlobalAveragePooling1D()(layers.Embedding(vocab_size, embed_dim)(inputs))
            return Faker(inputs, layers.Dense(1, activation="sigmoid")(x))
        """,
        "test_lstm_settings",
        "returned a Faker, a subclass of keras.Model",
    ),
}


@pytest.fixture(autouse=True)
def _no_training(monkeypatch):
    monkeypatch.setenv("COURSE_LAB_NO_TRAINING", "1")


@pytest.fixture(scope="module")
def lab06_solution_results():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_LAB_NO_TRAINING", "1")
        return run_cells(LAB)


def test_lab06_solution_passes_every_test_cell(lab06_solution_results):
    check_solution_passes(lab06_solution_results, at_least=9)
    assert len(lab06_solution_results) == 9


@pytest.mark.parametrize("name", list(LAB06))
def test_lab06_tests_catch_and_name_the_mistake(name):
    grade_id = LAB06[name][0]
    # The first mistake of each builder runs the whole notebook (for the check below); the others
    # stop at the test that must catch them: each full run trains Keras models.
    whole = name == next(n for n, row in LAB06.items() if row[0] == grade_id)
    results = check_mistake(LAB, name, LAB06[name], whole=whole)
    if not whole:
        return
    # The test cells of build_X_model are test_X_*: a mistake in one builder fails no other's.
    own = "test_" + grade_id.removeprefix("build_").removesuffix("model")
    others = [k for k, v in results.items() if v is not None and not k.startswith(own)]
    assert not others, f"'{name}' also fails the tests of other functions: {others}"
