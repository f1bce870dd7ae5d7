"""Writes three versions of a TF1 SavedModel, y = x + k for k = 1, 2, 3.

k is a variable, restored from the checkpoint; version 2 has a warmup file with one
predict request. For tests/test_repository.py: ``python tests/makers/versions.py OUT``.
"""
import os
import struct
import sys

import tensorflow as tf

tf1 = tf.compat.v1
OUT = sys.argv[1]
os.makedirs(OUT)
for k in (1, 2, 3):
    export = os.path.join(OUT, f"v{k}")
    with tf.Graph().as_default(), tf1.Session() as s:
        x = tf1.placeholder(tf.float32, [None], name="x")
        offset = tf1.get_variable("offset", initializer=float(k))
        y = tf.add(x, offset, name="y")
        s.run(tf1.global_variables_initializer())
        sig = tf1.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y})
        builder = tf1.saved_model.Builder(export)
        builder.add_meta_graph_and_variables(s, ["serve"], signature_def_map={"serving_default": sig})
        builder.save()
        assert s.run(y, {x: [0.0]}).tolist() == [float(k)]


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def ld(n, payload):
    return varint(n << 3 | 2) + varint(len(payload)) + payload


tensor = varint(1 << 3) + varint(1) + ld(2, ld(2, varint(1 << 3) + varint(1))) + ld(5, struct.pack("<f", 1.0))
record = ld(6, ld(1, ld(2, ld(1, b"x") + ld(2, tensor))))  # predict_log.request.inputs["x"]
os.makedirs(os.path.join(OUT, "v2", "assets.extra"))
with tf.io.TFRecordWriter(os.path.join(OUT, "v2", "assets.extra", "tf_serving_warmup_requests")) as w:
    w.write(record)
