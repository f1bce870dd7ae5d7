"""The checkpoints of tests/test_checkpoint.py, written by TensorFlow, with what TensorFlow reads.

Usage: ``python tests/makers/checkpoints.py OUT``.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np


def make_checkpoints(out: Path) -> None:
    """Writes the test checkpoints with TensorFlow, and TensorFlow's values for them.

    Writes OUT/expected.pickle:
    ``{label: {"prefix": relative prefix, "values": {key: (tf dtype name,
    value or error text)}}}``, plus ``"session"`` values of the TF1 variables
    (partitioned ones concatenated by TensorFlow itself).
    """
    import tensorflow as tf

    out.mkdir(parents=True)
    rng = np.random.default_rng(7)
    prefixes = {}

    # TF2 object-based checkpoints: a tf.Module tree, an optimizer, strings;
    # saved twice by a CheckpointManager, so the state file names the newest.
    class Dense(tf.Module):
        def __init__(self, n_in, n_out, name):
            super().__init__(name=name)
            self.kernel = tf.Variable(rng.standard_normal((n_in, n_out)).astype(np.float32), name=f"{name}_kernel")
            self.bias = tf.Variable(np.zeros(n_out, np.float32), name="bias")

    class Net(tf.Module):
        def __init__(self):
            super().__init__(name="net")
            self.hidden = Dense(5, 7, "hidden")
            self.head = Dense(7, 3, "head")
            self.vocab = tf.Variable([b"alpha", b"", b"\x00\xffbytes", "unicod\u00e9".encode()], name="vocab")
            self.step = tf.Variable(0, dtype=tf.int64, name="step")

    net = Net()
    opt = tf.keras.optimizers.Adam(0.1)
    opt.build([net.hidden.kernel, net.head.kernel])
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(net=net, optimizer=opt), out / "tf2", max_to_keep=3)
    manager.save()
    net.step.assign(7)
    net.head.bias.assign([1.0, 2.0, 3.0])
    prefixes["tf2_newest"] = manager.save()

    # One variable per dtype TensorFlow can save, including empty and scalar ones.
    dtype_vars = {}
    for name in ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "uint16", "uint32", "uint64", "complex64", "complex128", "bool",
                 "qint8", "quint8", "qint32", "int4", "uint4"):
        dt = tf.as_dtype(name)
        if dt.is_quantized:
            base = {"qint8": np.int8, "quint8": np.uint8, "qint32": np.int32}[name]
            value = tf.constant(rng.integers(0, 100, (3, 4)).astype(base), dtype=dt)
        elif dt.is_bool:
            value = tf.constant(rng.integers(0, 2, (3, 4)).astype(bool))
        elif dt.is_complex:
            value = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
            value = tf.constant(value.astype(dt.as_numpy_dtype))
        elif name in ("int4", "uint4"):
            value = tf.cast(tf.constant(rng.integers(0, 7, (3, 4)).astype(np.int32)), dt)
        elif dt.is_integer:
            value = tf.constant(rng.integers(0, 100, (3, 4)).astype(dt.as_numpy_dtype))
        else:
            value = tf.cast(tf.constant(rng.standard_normal((3, 4)).astype(np.float32)), dt)
        dtype_vars[name] = tf.Variable(value)
    dtype_vars["scalar"] = tf.Variable(3.5)
    dtype_vars["empty"] = tf.Variable(np.zeros((0, 3), np.float32))
    dtype_vars["string_matrix"] = tf.Variable([[b"a", b"bb"], [b"", b"x" * 300]])
    dtype_vars["string_scalar"] = tf.Variable(b"scalar string")
    dtype_vars["big"] = tf.Variable(rng.standard_normal((512, 1024)).astype(np.float32))
    prefixes["dtypes"] = tf.train.Checkpoint(**dtype_vars).write(str(out / "dtypes" / "ckpt"))

    # Many variables with long names: an index of several data blocks.
    names = [f"variable/with/a/rather/long/name/number_{i:05d}" for i in range(3000)]
    tf.raw_ops.SaveV2(prefix=str(out / "many" / "ckpt"), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(float(i)) for i in range(len(names))])
    prefixes["many"] = str(out / "many" / "ckpt")

    # A SavedModel.
    class Exported(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((4, 2)).astype(np.float32))
            self.names = tf.Variable([b"x", b"y"])

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.w)

    tf.saved_model.save(Exported(), str(out / "saved_model"))
    prefixes["saved_model"] = str(out / "saved_model" / "variables" / "variables")

    # TF1: a Saver over reference variables, partitioned ones included.
    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph:
        tf1_vars = {
            "dense/kernel": v1.get_variable("dense/kernel", initializer=rng.standard_normal((6, 4)).astype(np.float32)),
            "dense/bias": v1.get_variable("dense/bias", initializer=np.arange(4, dtype=np.float32)),
            "counts": v1.get_variable("counts", initializer=np.arange(5, dtype=np.int64)),
            "words": v1.get_variable("words", initializer=tf.constant([b"one", b"two", b"three"]), dtype=tf.string),
            "embedding": v1.get_variable("embedding", shape=[10, 3], initializer=v1.random_normal_initializer(seed=1),
                                         partitioner=v1.fixed_size_partitioner(3)),
            # Slices starting past 63: multi-byte OrderedCode numbers in the slice keys.
            "big_embedding": v1.get_variable("big_embedding", shape=[300, 2],
                                             initializer=v1.random_normal_initializer(seed=4),
                                             partitioner=v1.fixed_size_partitioner(3)),
            "wide": v1.get_variable("wide", shape=[4, 9], dtype=tf.float64,
                                    initializer=v1.random_normal_initializer(seed=2),
                                    partitioner=v1.fixed_size_partitioner(2, axis=1)),
        }

        def words(shape, dtype=None, partition_info=None):
            return tf.strings.as_string(tf.random.uniform(shape, 0, 1000, dtype=tf.int32, seed=3))

        tf1_vars["tokens"] = v1.get_variable("tokens", shape=[7, 2], dtype=tf.string, initializer=words,
                                             partitioner=v1.fixed_size_partitioner(2))
        step = v1.train.get_or_create_global_step()
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, str(out / "tf1" / "model.ckpt"), global_step=1)
            sess.run(step.assign(2))
            prefixes["tf1_newest"] = saver.save(sess, str(out / "tf1" / "model.ckpt"), global_step=2)
            tf1_session = {name: sess.run(tf.convert_to_tensor(var)) for name, var in tf1_vars.items()}

    # TF1 sharded Saver over two devices: a bundle with two data shards.
    with tf.Graph().as_default() as graph:
        with tf.device("/cpu:0"):
            v1.get_variable("a", initializer=np.arange(6, dtype=np.float32))
        with tf.device("/cpu:1"):
            v1.get_variable("b", initializer=np.arange(8, dtype=np.int32).reshape(2, 4))
            v1.get_variable("c", initializer=tf.constant([b"s0", b"s1"]), dtype=tf.string)
        saver = v1.train.Saver(sharded=True)
        (out / "sharded").mkdir(parents=True, exist_ok=True)
        with v1.Session(graph=graph, config=v1.ConfigProto(device_count={"CPU": 2})) as sess:
            sess.run(v1.global_variables_initializer())
            prefixes["sharded"] = saver.save(sess, str(out / "sharded" / "model.ckpt"))

    expected = {}
    for label, prefix in prefixes.items():
        reader = tf.train.load_checkpoint(prefix)
        dtypes = reader.get_variable_to_dtype_map()
        values = {}
        for key in reader.get_variable_to_shape_map():
            try:
                value = reader.get_tensor(key)
                # A scalar string comes as bytes; keep it whole (numpy's "S" drops trailing NULs).
                value = np.array(value, dtype=object) if isinstance(value, bytes) else np.asarray(value)
                values[key] = (dtypes[key].name, value)
            except Exception as e:  # noqa: BLE001 - TF's reader cannot put partitioned strings together
                values[key] = (dtypes[key].name, f"{type(e).__name__}: {e}")
        expected[label] = {"prefix": os.path.relpath(prefix, out), "values": values}
    expected["tf1_newest"]["session"] = tf1_session
    with open(out / "expected.pickle", "wb") as f:
        pickle.dump(expected, f)


if __name__ == "__main__":
    make_checkpoints(Path(sys.argv[1]))
