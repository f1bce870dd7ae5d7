"""The models of the compiled-call tests (tests/test_compile_cache.py): ``python tests/makers/compiled_calls.py OUT``.

``stateful``: a tf.Module whose signatures are a pure one (``predict``), one that adds to a
variable (``count``, then read by ``read``), and one that draws random numbers (``noisy``): only
the pure one's optimized graph may be stored and run in a session of its own. TensorFlow's own
answers are written beside it (``expected.npz``): ``predict`` of ``x``, and ``read`` after two
``count`` calls.
"""
import os
import sys

import numpy as np
import tensorflow as tf

out = sys.argv[1]


class Stateful(tf.Module):
    def __init__(self):
        self.w = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3) / 7)
        self.b = tf.Variable(np.array([0.5, -1.0, 2.0], np.float32))
        self.calls = tf.Variable(0.0)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def predict(self, x):
        return {"y": tf.nn.relu(tf.matmul(x, self.w) + self.b)}

    @tf.function(input_signature=[])
    def count(self):
        return {"calls": self.calls.assign_add(1.0)}

    @tf.function(input_signature=[])
    def read(self):
        return {"calls": self.calls.read_value()}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def noisy(self, x):
        return {"y": x + tf.random.uniform(tf.shape(x), seed=1)}


m = Stateful()
folder = os.path.join(out, "stateful")
tf.saved_model.save(m, folder, signatures={"predict": m.predict, "count": m.count, "read": m.read,
                                           "noisy": m.noisy})
x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
loaded = tf.saved_model.load(folder)
y = loaded.signatures["predict"](x=tf.constant(x))["y"].numpy()
loaded.signatures["count"]()
loaded.signatures["count"]()
calls = loaded.signatures["read"]()["calls"].numpy()
np.savez(os.path.join(out, "expected.npz"), x=x, y=y, calls=calls)
