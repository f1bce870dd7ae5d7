"""The SavedModels that tfbundle inspect, show, run and scan are checked on (test_inspect.py,
test_cli.py) against TensorFlow's own reading of them (the oracles of tests/_inspect_models.py).

Usage: ``python tests/makers/cli_models.py OUT``: one folder per name in MODEL_NAMES.
"""

from __future__ import annotations

import os
import sys

MODEL_NAMES = (
    "tf1_simple",
    "tf1_two_tags",
    "tf1_pbtxt_assets",
    "tf2_module",
    "tf2_no_signatures",
    "keras_export",
    "write_file",
    "file_ops",
)


def _make_tf1_simple(out: str) -> None:
    """TF1 graph saved with simple_save: x float32 (None, 3) -> y = x @ w + b."""
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.get_variable("w", initializer=np.arange(6, dtype=np.float32).reshape(3, 2))
        b = v1.get_variable("b", initializer=np.array([0.5, -1.0], dtype=np.float32))
        y = tf.add(tf.matmul(x, w), b, name="y")
        sess.run(v1.global_variables_initializer())
        v1.saved_model.simple_save(sess, out, inputs={"x": x}, outputs={"y": y})


def _make_tf1_two_tags(out: str) -> None:
    """TF1 Builder with tag-sets {serve} and {serve, gpu}; predict, classify and regress."""
    import tensorflow as tf

    v1 = tf.compat.v1
    sig = v1.saved_model.signature_def_utils
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        a = v1.get_variable("a", initializer=0.5)
        b = v1.get_variable("b", initializer=2.0)
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        parsed = v1.io.parse_example(serialized, {"x": v1.io.FixedLenFeature([1], tf.float32)})
        xe = tf.identity(parsed["x"], name="x_from_example")
        y_example = tf.add(a * xe, b, name="y_from_example")
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        y = tf.add(a * x, b, name="y")
        n = v1.placeholder(tf.int64, [2, None], name="n")
        n2 = tf.multiply(n, tf.constant(3, tf.int64), name="n_times_3")
        flag = v1.placeholder(tf.bool, [], name="flag")
        not_flag = tf.logical_not(flag, name="not_flag")
        sess.run(v1.global_variables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        predict = sig.predict_signature_def({"x": x}, {"y": y})
        ints = sig.build_signature_def(
            {"n": info(n), "flag": info(flag)},
            {"n_times_3": info(n2), "not_flag": info(not_flag)},
            "tensorflow/serving/predict",
        )
        classify = sig.classification_signature_def(serialized, None, y_example)
        regress = sig.regression_signature_def(serialized, y_example)
        builder = v1.saved_model.Builder(out)
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map={
                "serving_default": predict,
                "ints": ints,
                "classify_x_to_y": classify,
                "regress_x_to_y": regress,
            },
        )
        builder.add_meta_graph(["serve", "gpu"], signature_def_map={"serving_default": predict})
        builder.save()


def _make_tf1_pbtxt_assets(out: str) -> None:
    """TF1 vocabulary lookup from an asset file, saved as text (saved_model.pbtxt)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    vocab = os.path.join(os.path.dirname(out), "vocab_src.txt")
    with open(vocab, "w") as f:
        f.write("apple\nbanana\ncherry\n")
    with graph.as_default(), v1.Session(graph=graph) as sess:
        words = v1.placeholder(tf.string, [None], name="words")
        vocab_path = tf.constant(vocab, name="vocab_path")
        table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                vocab_path,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=-1,
        )
        ids = tf.identity(table.lookup(words), name="ids")
        scale = v1.get_variable("scale", initializer=10.0)
        scaled = tf.multiply(tf.cast(ids, tf.float32), scale, name="scaled")
        sess.run(v1.global_variables_initializer())
        sess.run(v1.tables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        predict = v1.saved_model.signature_def_utils.build_signature_def(
            {"words": info(words)},
            {"ids": info(ids), "scaled": info(scaled)},
            "tensorflow/serving/predict",
        )
        builder = v1.saved_model.Builder(out)
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map={"serving_default": predict},
            assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
            main_op=v1.tables_initializer(),
            strip_default_attrs=True,
        )
        builder.save(as_text=True)
    os.remove(vocab)


def _make_tf2_module(out: str) -> None:
    """tf.Module with several signatures and functions that exercise show --all's printing."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], name="w")
            self.bias = tf.Variable([0.25, -0.5], name="bias")
            self.count = tf.Variable(7, dtype=tf.int64, name="count")

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def predict(self, x):
            return {"y": tf.matmul(x, self.w) + self.bias, "norm": tf.norm(x, axis=1)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([], tf.int32, name="a"),
                tf.TensorSpec([None], tf.int32, name="b"),
            ]
        )
        def multiply(self, a, b):
            return {"product": a * b, "total": tf.reduce_sum(a * b)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def lengths(self, text):
            return {"length": tf.strings.length(text), "upper": tf.strings.upper(text)}

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float64, name="anything")])
        def unknown_rank(self, anything):
            return {"doubled": anything * 2.0, "count": tf.identity(self.count)}

        @tf.function
        def poly(self, x, scale=2.0, training=False):
            if training:
                return x * scale + 1.0
            return x * scale

        @tf.function
        def structured(self, inputs):
            return inputs["a"] + tf.cast(inputs["b"], tf.float32)

        @tf.function
        def listy(self, pair, label="name"):
            return pair[0] + pair[1]

        @tf.function(input_signature=[tf.TensorSpec([2, 2], tf.bool), tf.TensorSpec([], tf.uint8)])
        def unnamed(self, flags, small):
            return tf.cast(tf.reduce_any(flags), tf.uint8) + small

    m = Model()
    m.poly.get_concrete_function(tf.TensorSpec([None], tf.float32))
    m.poly.get_concrete_function(tf.TensorSpec([None], tf.float32), training=True)
    m.poly.get_concrete_function(tf.TensorSpec([3], tf.float64, name="x64"), 3.0)
    m.structured.get_concrete_function(
        {"a": tf.TensorSpec([None], tf.float32, name="a"), "b": tf.TensorSpec([None], tf.int32)}
    )
    m.listy.get_concrete_function(
        [tf.TensorSpec([2], tf.float32), tf.TensorSpec([2], tf.float32)], label="lbl"
    )
    m.bare = m.predict.get_concrete_function()
    signatures = {
        "serving_default": m.predict,
        "multiply": m.multiply,
        "lengths": m.lengths,
        "unknown_rank": m.unknown_rank,
    }
    tf.saved_model.save(m, out, signatures=signatures)


def _make_tf2_no_signatures(out: str) -> None:
    """tf.Module saved without signatures (only __saved_model_init_op in the SignatureDefs)."""
    import tensorflow as tf

    class Plain(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v = tf.Variable(3.0)

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
        def __call__(self, x):
            return x * self.v

    tf.saved_model.save(Plain(), out, signatures={})


def _make_keras_export(out: str) -> None:
    """Keras 3 model exported with Model.export (the ExportArchive SavedModel)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="logits")(hidden)
    model = keras.Model(inputs, outputs, name="tiny")
    model.predict(np.zeros((1, 4), np.float32), verbose=0)
    model.export(out, verbose=False)


def _make_write_file(out: str) -> None:
    """A tf.Module whose serving function writes a file: scan must flag WriteFile."""
    import tensorflow as tf

    class Leaky(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="data")])
        def serve(self, data):
            tf.io.write_file("/tmp/tfbundle_planted_write.txt", data)
            return {"length": tf.strings.length(data)}

    m = Leaky()
    tf.saved_model.save(m, out, signatures={"serving_default": m.serve})


def _make_file_ops(out: str) -> None:
    """ReadFile, PrintV2 to a file and a RestoreV2 outside the saver, in a TF2 signature."""
    import tensorflow as tf

    class Sneaky(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v = tf.Variable(1.0)

        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="path")])
        def serve(self, path):
            contents = tf.io.read_file(path)
            tf.print(contents, output_stream="file:///tmp/tfbundle_planted_print.txt")
            restored = tf.raw_ops.RestoreV2(
                prefix=path, tensor_names=["v"], shape_and_slices=[""], dtypes=[tf.float32]
            )
            return {"length": tf.strings.length(contents), "restored": restored[0] * self.v}

    m = Sneaky()
    tf.saved_model.save(m, out, signatures={"serving_default": m.serve})


_MAKERS = {
    "tf1_simple": _make_tf1_simple,
    "tf1_two_tags": _make_tf1_two_tags,
    "tf1_pbtxt_assets": _make_tf1_pbtxt_assets,
    "tf2_module": _make_tf2_module,
    "tf2_no_signatures": _make_tf2_no_signatures,
    "keras_export": _make_keras_export,
    "write_file": _make_write_file,
    "file_ops": _make_file_ops,
}


def main(out: str) -> None:
    os.makedirs(out)
    for name in MODEL_NAMES:
        _MAKERS[name](os.path.join(out, name))


if __name__ == "__main__":
    main(sys.argv[1])
