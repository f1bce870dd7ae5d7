"""Writes the models of the lifecycle tests (tests/test_lifecycle.py): ``python tests/makers/lifecycle.py OUT``.

- ``OUT/loop``: a call whose length the caller chooses. Signature ``serving_default``: inputs
  ``x`` float32 (256, 256) and ``n`` int32 scalar, output ``y`` = ``x`` multiplied ``n`` times
  by an orthogonal 256x256 matrix (a while loop of matmuls: the values keep their scale however
  long the loop). About a millisecond per step on a laptop core.
- ``OUT/wide``: a 1024-wide dense layer with relu. Signature ``serving_default``: input ``x``
  float32 (None, 1024), output ``y`` (None, 1024). At batch 8 its matmul is sharded over
  TensorFlow's intra-op thread pool (the work a forked child used to hang on).
"""

import os
import sys

import numpy as np
import tensorflow as tf

out = sys.argv[1]
os.makedirs(out)
rng = np.random.default_rng(9)

q, _ = np.linalg.qr(rng.standard_normal((256, 256)))


class Loop(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(q.astype(np.float32), name="w")

    @tf.function(
        input_signature=[
            tf.TensorSpec((256, 256), tf.float32, name="x"),
            tf.TensorSpec((), tf.int32, name="n"),
        ]
    )
    def serve(self, x, n):
        _, y = tf.while_loop(
            lambda i, y: i < n, lambda i, y: (i + 1, tf.matmul(y, self.w)), (tf.constant(0), x)
        )
        return {"y": y}


class Wide(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable((rng.standard_normal((1024, 1024)) / 32).astype(np.float32), name="w")
        self.b = tf.Variable(np.zeros(1024, np.float32), name="b")

    @tf.function(input_signature=[tf.TensorSpec((None, 1024), tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.nn.relu(tf.matmul(x, self.w) + self.b)}


for name, module in (("loop", Loop()), ("wide", Wide())):
    tf.saved_model.save(
        module, os.path.join(out, name), signatures={"serving_default": module.serve}
    )
