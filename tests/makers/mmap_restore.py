"""The models of tests/test_mmap_restore.py: ``python tests/makers/mmap_restore.py OUT``.

TF1 SavedModels (graphs built in graph mode, saved by the v1 Builder), and a TF2
SavedModel, which restores inside a function (the mapped restore refuses it).
"""
import os
import sys

import numpy as np
import tensorflow as tf

out = sys.argv[1]
v1 = tf.compat.v1

# A TF2 SavedModel: restores inside a function, which load_mapped refuses.
class M(tf.Module):
    def __init__(self):
        self.v = tf.Variable([1.0, 2.0])
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def f(self, x):
        return {"y": x * self.v[0]}
m = M()
tf.saved_model.save(m, os.path.join(out, "tf2_module"), signatures={"serving_default": m.f})

def save(sess, folder, inputs, outputs, extra=None):
    b = v1.saved_model.Builder(os.path.join(out, folder))
    sigs = {"serving_default": v1.saved_model.predict_signature_def(inputs, outputs)}
    b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=sigs, **(extra or {}))
    b.save()

# Resource variables with tensors of odd sizes (so some are stored misaligned), an
# embedding read by ResourceGather, a partitioned variable (RestoreV2 with slices), a
# string variable, and an op that updates a variable in place.
with tf.Graph().as_default(), v1.Session() as sess:
    x = v1.placeholder(tf.float32, (None, 3), name="x")
    ids = v1.placeholder(tf.int64, (None,), name="ids")
    a_bias = v1.get_variable("a_bias", initializer=np.array([0.5, -1.0, 2.0], np.float32), use_resource=True)
    kernel = v1.get_variable("b_kernel", initializer=np.arange(48, dtype=np.float32).reshape(3, 16) / 10,
                             use_resource=True)
    emb = v1.get_variable("c_embedding", initializer=np.arange(70, dtype=np.float32).reshape(10, 7), use_resource=True)
    part = v1.get_variable("d_part", shape=(8, 4), initializer=v1.random_normal_initializer(seed=3),
                           partitioner=v1.fixed_size_partitioner(2), use_resource=True)
    words = v1.get_variable("e_words", initializer=np.array([b"alpha", b"beta", b"gamma"]), use_resource=True)
    counts = v1.get_variable("f_counts", initializer=np.array([1, 2, 3, 4, 5], np.int64), use_resource=True)
    h = tf.matmul(x + a_bias, kernel)
    y = tf.reduce_sum(h, axis=1) + tf.reduce_sum(tf.nn.embedding_lookup(emb, ids), axis=1)
    p = tf.reduce_sum(tf.matmul(tf.ones((1, 8)), tf.convert_to_tensor(part)))
    w = tf.gather(words.read_value(), tf.math.floormod(ids, 3))
    c = tf.reduce_sum(counts.read_value()) + ids
    tf.identity(counts.assign_add(tf.ones((5,), tf.int64)), name="increment")
    sess.run(v1.global_variables_initializer())
    save(sess, "tf1_resource", {"x": x, "ids": ids},
         {"y": tf.identity(y, "y"), "p": tf.identity(p, "p") * tf.ones_like(y), "w": w, "c": c})

# The same variable name with different dtypes, to swap checkpoints between.
for folder, dtype in (("dtype_float", np.float32), ("dtype_int", np.int32)):
    with tf.Graph().as_default(), v1.Session() as sess:
        x = v1.placeholder(dtype, (None,), name="x")
        v = v1.get_variable("v", initializer=np.array([1, 2], dtype), use_resource=True)
        sess.run(v1.global_variables_initializer())
        save(sess, folder, {"x": x}, {"y": x * v[0]})

# A checkpoint in the format before TensorBundle (V1: one file, variables/variables).
with tf.Graph().as_default(), v1.Session() as sess:
    x = v1.placeholder(tf.float32, (None,), name="x")
    w = v1.get_variable("w", initializer=np.float32(3.0), use_resource=False)
    sess.run(v1.global_variables_initializer())
    save(sess, "v1_format", {"x": x}, {"y": x * w}, {"saver": v1.train.Saver(write_version=v1.train.SaverDef.V1)})
