"""Writes the warmup test model and its tf_serving_warmup_requests file.

The model is a TF1 SavedModel with predict/classify/regress signatures and a call
counter, for tests/test_warmup.py: ``python tests/makers/warmup.py OUT``.
"""
import json
import os
import struct
import sys

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

tf1 = tf.compat.v1
out = sys.argv[1]
os.makedirs(out)


# ---- PredictionLog bytes from the public field numbers (prediction_log.proto etc.)
def varint(v):
    b = bytearray()
    v &= (1 << 64) - 1
    while True:
        x = v & 0x7F
        v >>= 7
        if not v:
            b.append(x)
            return bytes(b)
        b.append(x | 0x80)


def ld(n, payload):
    return varint(n << 3 | 2) + varint(len(payload)) + payload


def vi(n, v):
    return varint(n << 3) + varint(v)


def s(n, text):
    return ld(n, text.encode())


def example(features):
    entries = b""
    for key, values in features.items():
        if isinstance(values[0], float):
            feat = ld(2, ld(1, b"".join(struct.pack("<f", v) for v in values)))
        elif isinstance(values[0], int):
            feat = ld(3, ld(1, b"".join(varint(v) for v in values)))
        else:
            feat = ld(1, b"".join(ld(1, v) for v in values))
        entries += ld(1, s(1, key) + ld(2, feat))
    return ld(1, entries)  # Example.features = 1
def model_spec(sig): return ld(1, s(1, "m") + (s(3, sig) if sig else b""))
def example_list(exs): return ld(1, b"".join(ld(1, e) for e in exs))  # Input.example_list = 1
def example_list_ctx(exs, ctx): return ld(2, b"".join(ld(1, e) for e in exs) + ld(2, ctx))
def predict(sig, inputs, output_filter=()):
    req = model_spec(sig)
    for k, proto in inputs.items():
        req += ld(2, s(1, k) + ld(2, proto))
    for o in output_filter:
        req += s(3, o)
    return ld(6, ld(1, req))  # PredictionLog.predict_log = 6, PredictLog.request = 1
def classify(sig, inp): return ld(2, ld(1, model_spec(sig) + ld(2, inp)))
def regress(sig, inp): return ld(3, ld(1, model_spec(sig) + ld(2, inp)))
def multi(tasks, inp):
    req = b"".join(ld(1, model_spec(sig) + s(2, method)) for sig, method in tasks)
    return ld(4, ld(1, req + ld(2, inp)))
def shape(*dims): return ld(2, b"".join(ld(2, vi(1, d)) for d in dims))
def float_tensor_content(arr):
    arr = np.asarray(arr, np.float32)
    return vi(1, 1) + shape(*arr.shape) + ld(4, arr.tobytes())
def float_val(value, *dims): return vi(1, 1) + shape(*dims) + ld(5, struct.pack("<f", value))

records = []
records.append(predict("", {"x": float_tensor_content([[1.0], [2.0], [5.0]])}))
records.append(predict("serving_default", {"x": float_val(1.0, 2, 1)}, ["y"]))
records.append(classify("classify_x_to_y", example_list([example({"x": [1.0]}), example({"x": [2.0]})])))
records.append(regress("regress_x_to_y",
                       example_list_ctx([example({"y": [0.0]}), example({"x": [4.0]})], example({"x": [3.0]}))))
records.append(multi([("classify_x_to_y", "tensorflow/serving/classify"),
                      ("regress_x_to_y2", "tensorflow/serving/regress")],
                     example_list([example({"x": [1.0]})])))
mixed_protos = {
    "a": tf.make_tensor_proto(np.array([[1.5, -2.0], [3.0, 4.25]], np.float64)),
    "b": tf.make_tensor_proto(np.int32(7)),
    "c": tf.make_tensor_proto(np.array([b"ab", b"", b"xyz"], object)),
    "d": tf.make_tensor_proto(np.array([0.5, -1.0, 65504.0], np.float16)),
    "e": tf.make_tensor_proto(np.array([True, False])),
    "f": tf.make_tensor_proto(9, dtype=tf.int64, shape=[3]),
    "g": tf.make_tensor_proto(np.array([1, 255], np.uint8)),
    "h": tf.make_tensor_proto(np.array([1 + 2j], np.complex64)),
}
# Typed-value forms as well (no tensor_content): what hand-written requests hold.
typed = {
    "d": vi(1, 19) + shape(2) + ld(13, varint(0x3C00) + varint(0xC000)),   # half_val 1.0, -2.0
    "a": vi(1, 2) + shape(2, 2) + ld(6, struct.pack("<d", 2.5)),            # double_val, filled
}
records.append(predict("mixed", {k: p.SerializeToString() for k, p in mixed_protos.items()}))
records.append(ld(1, ld(1, s(1, "m"))))                  # log_metadata only: skipped
records.append(ld(7, ld(1, model_spec("serving_default")))) # predict_streamed_log: skipped

# Cross-check the hand-built bytes against TF Serving's own protos when installed.
check = "tensorflow_serving not installed: records built from the public field numbers only"
try:
    from tensorflow_serving.apis import prediction_log_pb2
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    built = prediction_log_pb2.PredictionLog()
    built.predict_log.request.model_spec.name = "m"
    x_proto = tf.make_tensor_proto(np.array([[1.0], [2.0], [5.0]], np.float32))
    built.predict_log.request.inputs["x"].CopyFrom(x_proto)
    assert built == logs[0], (built, logs[0])
    classify_input = logs[2].classify_log.request.input
    assert logs[2].classify_log.request.model_spec.signature_name == "classify_x_to_y"
    assert len(classify_input.example_list.examples) == 2
    assert classify_input.example_list.examples[1].features.feature["x"].float_list.value[0] == 2.0
    context = logs[3].regress_log.request.input.example_list_with_context.context
    assert context.features.feature["x"].float_list.value[0] == 3.0
    tasks = logs[4].multi_inference_log.request.tasks
    assert [t.model_spec.signature_name for t in tasks] == ["classify_x_to_y", "regress_x_to_y2"]
    assert logs[6].WhichOneof("log_type") is None and logs[7].WhichOneof("log_type") == "predict_streamed_log"
    assert logs[1].predict_log.request.output_filter == ["y"]
    check = "checked against tensorflow_serving's protos"
except ImportError:
    pass

# ---- the model
export = os.path.join(out, "model", "1")
g = tf.Graph()
with g.as_default():
    a = tf1.get_variable("a", initializer=0.5)
    b = tf1.get_variable("b", initializer=2.0)
    calls = tf1.get_variable("calls", initializer=tf.constant(0, tf.int64), trainable=False)
    tf.identity(calls.read_value(), name="calls_value")
    def counted(t, name):
        with tf.control_dependencies([calls.assign_add(1)]):
            return tf.identity(t, name=name)
    x = tf1.placeholder(tf.float32, [None, 1], name="x")
    y = counted(a * x + b, "y")
    serialized = tf1.placeholder(tf.string, [None], name="tf_example")
    parsed = tf1.io.parse_example(serialized, {"x": tf1.io.FixedLenFeature([1], tf.float32, default_value=[0.0])})
    ex_y = counted(a * parsed["x"] + b, "ex_y")
    ex_y2 = counted(a * parsed["x"] + 3.0, "ex_y2")
    classes = tf.identity(tf.constant([["pos"]]) , name="classes_const")
    mixed_in = {
        "a": tf1.placeholder(tf.float64, [2, 2], name="m_a"), "b": tf1.placeholder(tf.int32, [], name="m_b"),
        "c": tf1.placeholder(tf.string, [None], name="m_c"), "d": tf1.placeholder(tf.float16, [None], name="m_d"),
        "e": tf1.placeholder(tf.bool, [None], name="m_e"), "f": tf1.placeholder(tf.int64, [None], name="m_f"),
        "g": tf1.placeholder(tf.uint8, [None], name="m_g"), "h": tf1.placeholder(tf.complex64, [None], name="m_h"),
    }
    mixed_out = {
        "a": counted(mixed_in["a"] * 2, "o_a"), "b": mixed_in["b"] + 1, "c": tf.strings.length(mixed_in["c"]),
        "d": tf.cast(mixed_in["d"], tf.float32), "e": tf.logical_not(mixed_in["e"]), "f": mixed_in["f"] * 3,
        "g": tf.cast(mixed_in["g"], tf.int32), "h": tf.math.real(mixed_in["h"]),
    }
    sdu = tf1.saved_model.signature_def_utils
    u = tf1.saved_model.utils
    sigs = {
        "serving_default": sdu.predict_signature_def({"x": x}, {"y": y}),
        "classify_x_to_y": sdu.classification_signature_def(serialized, None, ex_y),
        "regress_x_to_y": sdu.regression_signature_def(serialized, ex_y),
        "regress_x_to_y2": sdu.regression_signature_def(serialized, ex_y2),
        "mixed": sdu.predict_signature_def(mixed_in, mixed_out),
    }
    with tf1.Session() as sess:
        sess.run(tf1.global_variables_initializer())
        builder = tf1.saved_model.Builder(export)
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=sigs)
        builder.save()
        # TF's own answers for the first predict request and the mixed request.
        oracle = {"y": sess.run(y, {x: np.array([[1.0], [2.0], [5.0]], np.float32)})}
        feeds = {mixed_in[k]: tf.make_ndarray(p) for k, p in mixed_protos.items()}
        for k, v in zip(sorted(mixed_out), sess.run([mixed_out[k] for k in sorted(mixed_out)], feeds)):
            oracle["mixed_" + k] = v
        oracle["ctx_y"] = sess.run(ex_y, {serialized: [example({"x": [3.0]}) + example({"y": [0.0]}),
                                                       example({"x": [3.0]}) + example({"x": [4.0]})]})
os.makedirs(os.path.join(export, "assets.extra"))
with tf.io.TFRecordWriter(os.path.join(export, "assets.extra", "tf_serving_warmup_requests")) as w:
    for r in records:
        w.write(r)
np.savez(os.path.join(out, "oracle.npz"), **oracle)
protos = {k: p.SerializeToString() for k, p in mixed_protos.items()}
protos.update({"typed_" + k: v for k, v in typed.items()})
arrays = {}
for k, v in protos.items():
    arrays["proto_" + k] = np.frombuffer(v, np.uint8)
    arrays["value_" + k] = tf.make_ndarray(tensor_pb2.TensorProto.FromString(v))
np.savez(os.path.join(out, "tensor_protos.npz"), **arrays)
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump({"records": len(records), "calls_per_replay": 7, "check": check}, f)
