"""Writes TF1 checkpoints and frozen graphs for tests/test_graphs.py, with TensorFlow's outputs.

Usage: python tests/makers/graphs.py OUT. The test factory moves OUT into its cache
afterwards, so the absolute paths TensorFlow writes into `checkpoint` files point nowhere:
the folders have been moved, as users' folders often are.
"""
import os
import shutil
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()
OUT = sys.argv[1]
os.makedirs(OUT)
X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]], np.float32)
WORDS = np.array([b"b", b"zz", b"a"], object)
oracle = {}


def d(*parts):
    path = os.path.join(OUT, *parts)
    os.makedirs(path, exist_ok=True)
    return path


def tf_restore(meta, prefix, fetches, feeds, init=()):
    '''TensorFlow's own answer: import_meta_graph + Saver.restore (+ init ops).'''
    with tf.Graph().as_default() as g, tf1.Session(graph=g) as s:
        saver = tf1.train.import_meta_graph(meta)
        saver.restore(s, prefix)
        for op in init:
            s.run(op())
        return s.run(fetches, feeds)


def dense_graph(use_resource, partitioned=False):
    x = tf1.placeholder(tf.float32, [None, 3], name="x")
    init = tf.constant([[1.0, -1.0], [2.0, 0.0], [3.0, 1.0]])
    if partitioned:
        w = tf1.get_variable("w", shape=[3, 2], initializer=tf1.random_uniform_initializer(-1.0, 1.0, seed=3),
                             partitioner=tf1.fixed_size_partitioner(3), use_resource=use_resource)
    else:
        w = tf1.get_variable("w", initializer=init, use_resource=use_resource)
    b = tf1.get_variable("b", initializer=tf.constant([0.5, -0.5]), use_resource=use_resource)
    y = tf.add(tf.matmul(x, w), b, name="y")
    return x, w, b, y


# train/: two checkpoints + a `checkpoint` file with absolute paths; a lookup table
# and a local variable, which a Saver does not restore.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(["a", "b"], [1, 2], tf.string, tf.int64), -1)
    words = tf1.placeholder(tf.string, [None], name="words")
    tf.identity(table.lookup(words), name="ids")
    offset = tf1.get_local_variable("offset", initializer=tf.constant(100.0))
    tf.add(y, offset, name="y_offset")
    saver = tf1.train.Saver()
    with tf1.Session() as s:
        s.run([tf1.global_variables_initializer(), tf1.local_variables_initializer(), tf1.tables_initializer()])
        saver.save(s, os.path.join(d("train"), "model.ckpt"), global_step=1)
        s.run(b.assign([10.0, 20.0]))
        saver.save(s, os.path.join(d("train"), "model.ckpt"), global_step=2)
for step in (1, 2):
    prefix = os.path.join(OUT, "train", f"model.ckpt-{step}")
    meta = prefix + ".meta"
    y_val, ids_val, yo_val = tf_restore(meta, prefix, ["y:0", "ids:0", "y_offset:0"], {"x:0": X, "words:0": WORDS},
                                        init=[tf1.local_variables_initializer, tf1.tables_initializer])
    oracle[f"train{step}_y"], oracle[f"train{step}_ids"], oracle[f"train{step}_y_offset"] = y_val, ids_val, yo_val

# relative/: resource variables, relative paths in `checkpoint`.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=True)
    saver = tf1.train.Saver(save_relative_paths=True)
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        s.run(w.assign(w * 2))
        saver.save(s, os.path.join(d("relative"), "ckpt"), global_step=3)
oracle["relative_y"] = tf_restore(os.path.join(OUT, "relative", "ckpt-3.meta"), os.path.join(OUT, "relative", "ckpt-3"),
                                  "y:0", {"x:0": X})

# nostate/: a prefix without a `checkpoint` file.
shutil.copytree(os.path.join(OUT, "train"), os.path.join(OUT, "nostate"))
os.remove(os.path.join(OUT, "nostate", "checkpoint"))

# partitioned/: a variable split in 3 slices, sharded Saver.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False, partitioned=True)
    saver = tf1.train.Saver(sharded=True)
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        saver.save(s, os.path.join(d("partitioned"), "model.ckpt"))
oracle["partitioned_y"] = tf_restore(os.path.join(OUT, "partitioned", "model.ckpt.meta"),
                                     os.path.join(OUT, "partitioned", "model.ckpt"), "y:0", {"x:0": X})

# v1/ and v1sharded/: the V1 checkpoint format (one file; shards named -0000N-of-0000M).
for name, sharded in (("v1", False), ("v1sharded", True)):
    with tf.Graph().as_default():
        x, w, b, y = dense_graph(use_resource=False)
        saver = tf1.train.Saver(write_version=tf1.train.SaverDef.V1, sharded=sharded)
        with tf1.Session() as s:
            s.run(tf1.global_variables_initializer())
            s.run(b.assign([7.0, 8.0]))
            saved = saver.save(s, os.path.join(d(name), "model.ckpt"))
    oracle[name + "_y"] = tf_restore(os.path.join(OUT, name, "model.ckpt.meta"), saved, "y:0", {"x:0": X})

# devices/: the same graph with ops pinned to a parameter server, which a local
# session cannot place (import_meta_graph(clear_devices=True) is the way out).
with tf.Graph().as_default():
    with tf.device("/job:ps/task:0/device:CPU:0"):
        x, w, b, y = dense_graph(use_resource=False)
    saver = tf1.train.Saver()
    tf1.train.export_meta_graph(os.path.join(d("devices"), "ps.meta"), saver_def=saver.as_saver_def())
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False)
    saver = tf1.train.Saver()
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        saver.save(s, os.path.join(OUT, "devices", "weights"), write_meta_graph=False)
        oracle["devices_y"] = s.run(y, {x: X})

# signature/: a .meta that carries a SignatureDef.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False)
    saver = tf1.train.Saver()
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        prefix = saver.save(s, os.path.join(d("signature"), "model"))
        oracle["signature_y"] = s.run(y, {x: X})
    meta = tf1.train.export_meta_graph(saver_def=saver.as_saver_def())
    meta.signature_def["serving_default"].CopyFrom(
        tf1.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y}))
    with open(prefix + ".meta", "wb") as f:
        f.write(meta.SerializeToString())

# nosaver/: variables but no SaverDef in the .meta.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False)
    saver = tf1.train.Saver()
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        saver.save(s, os.path.join(d("nosaver"), "model"), write_meta_graph=False)
    meta = tf1.train.export_meta_graph()
    meta.ClearField("saver_def")
    with open(os.path.join(OUT, "nosaver", "model.meta"), "wb") as f:
        f.write(meta.SerializeToString())

# frozen.pb / frozen.pbtxt: two placeholders (one with a default), two sinks.
with tf.Graph().as_default() as g:
    x, w, b, y = dense_graph(use_resource=False)
    temperature = tf1.placeholder_with_default(tf.constant(1.0), [], name="temperature")
    probs = tf.nn.softmax(y / temperature, name="probs")
    tf.argmax(probs, axis=1, name="top")
    tf.reduce_sum(x, axis=1, name="total")
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        unfrozen = g.as_graph_def()
        frozen = tf1.graph_util.convert_variables_to_constants(s, unfrozen, ["top", "total", "probs"])
        oracle["frozen_top"], oracle["frozen_total"], oracle["frozen_probs"], oracle["frozen_probs_t2"] = (
            *s.run(["top:0", "total:0", "probs:0"], {x: X}), s.run("probs:0", {x: X, temperature: 2.0}))
tf.io.write_graph(frozen, OUT, "frozen.pb", as_text=False)
tf.io.write_graph(frozen, OUT, "frozen.pbtxt", as_text=True)
tf.io.write_graph(unfrozen, OUT, "unfrozen.pb", as_text=False)
with tf.Graph().as_default() as g:  # TensorFlow itself runs the frozen file
    tf1.import_graph_def(frozen, name="")
    with tf1.Session(graph=g) as s:
        assert np.array_equal(s.run("top:0", {"x:0": X}), oracle["frozen_top"])

np.savez(os.path.join(OUT, "oracle.npz"), X=X, WORDS=WORDS, **oracle)
