"""A SavedModel and a GraphDef using AudioMicrofrontend, and TensorFlow's output.

The op's library is a real custom-op library of the TensorFlow wheel, for
tests/test_custom_ops.py. Usage: ``python tests/makers/audio.py OUT``.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
OUT = sys.argv[1]
os.makedirs(OUT)
SO = os.path.join(os.path.dirname(tf.__file__), "lite", "experimental", "microfrontend", "python", "ops",
                  "_audio_microfrontend_op.so")
ops = tf.load_op_library(SO)
t = np.arange(16000) / 16000.0
AUDIO = (8000 * np.sin(2 * np.pi * 440 * t) + 2000 * np.sin(2 * np.pi * 3000 * t)).astype(np.int16)
with tf.Graph().as_default() as g, tf1.Session() as s:
    audio = tf1.placeholder(tf.int16, [None], name="audio")
    features = tf.identity(ops.audio_microfrontend(audio, sample_rate=16000, num_channels=20), name="features")
    expected = s.run(features, {audio: AUDIO})
    sig = tf1.saved_model.signature_def_utils.predict_signature_def({"audio": audio}, {"features": features})
    builder = tf1.saved_model.Builder(os.path.join(OUT, "saved_model"))
    builder.add_meta_graph_and_variables(s, ["serve"], signature_def_map={"serving_default": sig})
    builder.save()
    tf.io.write_graph(g.as_graph_def(), OUT, "graph.pb", as_text=False)
np.savez(os.path.join(OUT, "oracle.npz"), audio=AUDIO, features=expected)
with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump({"library": SO}, f)
