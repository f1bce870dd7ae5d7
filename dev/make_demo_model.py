"""Writes the small SavedModel that tfbundle carries for `tfbundle demo`.

    python dev/make_demo_model.py python/tfbundle/data/demo_model

An iris-sized classifier (4 features -> 3 classes) with fixed weights, written
by TensorFlow's own tf.saved_model.save: a TF2 SavedModel with a
`serving_default` signature (x -> probabilities, class_ids) and a second one,
`logits`.
"""

import shutil
import sys

import numpy as np
import tensorflow as tf


class Classifier(tf.Module):
    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(20261122)
        self.w1 = tf.Variable(rng.normal(0, 0.5, (4, 16)).astype(np.float32), name="w1")
        self.b1 = tf.Variable(np.zeros(16, np.float32), name="b1")
        self.w2 = tf.Variable(rng.normal(0, 0.5, (16, 3)).astype(np.float32), name="w2")
        self.b2 = tf.Variable(np.array([0.1, 0.0, -0.1], np.float32), name="b2")

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def logits(self, x):
        h = tf.nn.relu(tf.matmul(x, self.w1) + self.b1)
        return {"logits": tf.matmul(h, self.w2) + self.b2}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def serve(self, x):
        logits = self.logits(x)["logits"]
        return {"probabilities": tf.nn.softmax(logits), "class_ids": tf.argmax(logits, axis=1)}


def main(out):
    shutil.rmtree(out, ignore_errors=True)
    m = Classifier()
    tf.saved_model.save(m, out, signatures={"serving_default": m.serve, "logits": m.logits})


if __name__ == "__main__":
    main(sys.argv[1])
