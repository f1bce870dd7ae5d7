"""Warmup: load(..., warmup=True) replays assets.extra/tf_serving_warmup_requests as TF Serving does.

The test model (a TF1 SavedModel with predict, classify, regress and a many-dtype
predict signature, each of whose outputs bumps a `calls` counter) and its warmup file
are made by TensorFlow in a child process (``MAKE_WARMUP``). The PredictionLog records
are built from the public field numbers and, where the ``tensorflow-serving-api``
package is installed, checked against its protos; the TFRecord file is written by
TensorFlow's own ``tf.io.TFRecordWriter``. The counter proves each request ran.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tfbundle
from test_graphs import make_cached
from tfbundle import _core, errors
from tfbundle import _graph_protos as gp
from tfbundle._runtime.warmup import MAX_RECORDS, WarmupReport, read_tfrecords, replay_warmup

MAKE_WARMUP = r"""'''Writes the warmup test model (a TF1 SavedModel with predict/classify/regress
signatures and a call counter) and its tf_serving_warmup_requests file.'''
import json, os, shutil, struct, sys
import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
out = sys.argv[1]
tmp = out + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)

# ---- PredictionLog bytes from the public field numbers (prediction_log.proto etc.)
def varint(v):
    b = bytearray()
    v &= (1 << 64) - 1
    while True:
        x = v & 0x7F; v >>= 7
        if v: b.append(x | 0x80)
        else: b.append(x); return bytes(b)
def ld(n, payload): return varint(n << 3 | 2) + varint(len(payload)) + payload
def vi(n, v): return varint(n << 3) + varint(v)
def s(n, text): return ld(n, text.encode())
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
records.append(regress("regress_x_to_y", example_list_ctx([example({"y": [0.0]}), example({"x": [4.0]})], example({"x": [3.0]}))))
records.append(multi([("classify_x_to_y", "tensorflow/serving/classify"), ("regress_x_to_y2", "tensorflow/serving/regress")],
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
    from tensorflow_serving.apis import prediction_log_pb2, predict_pb2, classification_pb2, regression_pb2, inference_pb2, input_pb2
    logs = []
    for r in records:
        m = prediction_log_pb2.PredictionLog(); m.ParseFromString(r); logs.append(m)
    ex = tf.train.Example()
    built = prediction_log_pb2.PredictionLog()
    built.predict_log.request.model_spec.name = "m"
    built.predict_log.request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [2.0], [5.0]], np.float32)))
    assert built == logs[0], (built, logs[0])
    assert logs[2].classify_log.request.model_spec.signature_name == "classify_x_to_y"
    assert len(logs[2].classify_log.request.input.example_list.examples) == 2
    assert logs[2].classify_log.request.input.example_list.examples[1].features.feature["x"].float_list.value[0] == 2.0
    assert logs[3].regress_log.request.input.example_list_with_context.context.features.feature["x"].float_list.value[0] == 3.0
    assert [t.model_spec.signature_name for t in logs[4].multi_inference_log.request.tasks] == ["classify_x_to_y", "regress_x_to_y2"]
    assert logs[6].WhichOneof("log_type") is None and logs[7].WhichOneof("log_type") == "predict_streamed_log"
    assert logs[1].predict_log.request.output_filter == ["y"]
    check = "checked against tensorflow_serving's protos"
except ImportError:
    pass

# ---- the model
export = os.path.join(tmp, "model", "1")
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
np.savez(os.path.join(tmp, "oracle.npz"), **oracle)
protos = {k: p.SerializeToString() for k, p in mixed_protos.items()}
protos.update({"typed_" + k: v for k, v in typed.items()})
from tensorflow.core.framework import tensor_pb2
arrays = {}
for k, v in protos.items():
    arrays["proto_" + k] = np.frombuffer(v, np.uint8)
    arrays["value_" + k] = tf.make_ndarray(tensor_pb2.TensorProto.FromString(v))
np.savez(os.path.join(tmp, "tensor_protos.npz"), **arrays)
json.dump({"records": len(records), "calls_per_replay": 7, "check": check}, open(os.path.join(tmp, "manifest.json"), "w"))
os.rename(tmp, out)
"""


@pytest.fixture(scope="module")
def made() -> Path:
    return make_cached("warmup", MAKE_WARMUP)


@pytest.fixture(scope="module")
def oracle(made: Path) -> dict[str, np.ndarray]:
    with np.load(made / "oracle.npz", allow_pickle=True) as z:
        return {k: z[k] for k in z.files}


def model_dir(made: Path) -> Path:
    return made / "model" / "1"


def calls(model: tfbundle.Model) -> int:
    return int(model.run("calls_value:0"))


def test_records_match_tensorflow_serving_protos(made: Path) -> None:
    check = json.loads((made / "manifest.json").read_text())["check"]
    if "not installed" in check:
        pytest.skip("tensorflow-serving-api is not installed: " + check)
    assert check == "checked against tensorflow_serving's protos"


def test_load_with_warmup_runs_every_request(made: Path, oracle: dict) -> None:
    with tfbundle.load(model_dir(made), warmup=True) as m:
        report = m.warmup
        assert isinstance(report, WarmupReport)
        assert report.path == str(model_dir(made) / "assets.extra" / "tf_serving_warmup_requests")
        assert report.records == 8 and report.ran == 6 and report.skipped == 2
        assert report.by_kind == {"predict": 3, "classify": 1, "regress": 1, "multi_inference": 1}
        assert "6 warmup requests run from 8 records" in str(report)
        # predict x3, classify, regress: one bump each; multi-inference: two signatures.
        assert calls(m) == 7
        np.testing.assert_array_equal(
            m(x=np.array([[1.0], [2.0], [5.0]], np.float32))["y"], oracle["y"]
        )
        assert calls(m) == 8


def test_replay_again_with_iterations(made: Path) -> None:
    with tfbundle.load(model_dir(made)) as m:
        assert m.warmup is None and calls(m) == 0
        report = replay_warmup(m, iterations=2)
        assert report.ran == 12 and report.records == 8
        assert calls(m) == 14


def test_model_without_warmup_file(made: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(model_dir(made), folder)
    shutil.rmtree(folder / "assets.extra")
    with tfbundle.load(folder, warmup=True) as m:
        assert m.warmup == WarmupReport(path=None)
        assert str(m.warmup) == "no warmup file"
        assert calls(m) == 0


def test_context_examples_merge_as_tf_serving_does(made: Path, oracle: dict) -> None:
    """ExampleListWithContext: the context's bytes go before each example's, so an
    example's own feature wins and a missing one comes from the context."""
    from tfbundle._runtime.warmup import _examples_tensor

    records = list(read_tfrecords(model_dir(made) / "assets.extra" / "tf_serving_warmup_requests"))
    log = gp.parse("PredictionLog", bytes(records[3]), "record 4")
    examples = _examples_tensor(log.regress_log.request.input, "record 4")
    with tfbundle.load(model_dir(made)) as m:
        out = m.signatures["regress_x_to_y"](inputs=examples)["outputs"]
    np.testing.assert_array_equal(out, oracle["ctx_y"])


def test_tensor_protos_convert_as_tensorflow_does(made: Path) -> None:
    """Every dtype of the mixed request, tensor_content and typed-value forms, against
    tf.make_ndarray of the same TensorProto bytes."""
    with np.load(made / "tensor_protos.npz", allow_pickle=True) as z:
        names = [k[len("proto_") :] for k in z.files if k.startswith("proto_")]
        assert len(names) == 10
        for name in names:
            proto = gp.parse("TensorProto", z["proto_" + name].tobytes(), name)
            got, want = gp.tensor_to_numpy(proto, name), z["value_" + name]
            assert got.dtype == want.dtype and got.shape == want.shape, name
            assert got.tolist() == want.tolist(), name


def test_mixed_signature_outputs(made: Path, oracle: dict) -> None:
    with np.load(made / "tensor_protos.npz", allow_pickle=True) as z:
        inputs = {k: z["value_" + k] for k in "abcdefgh"}
    with tfbundle.load(model_dir(made)) as m:
        out = m.signatures["mixed"](**inputs)
    for key, value in out.items():
        np.testing.assert_array_equal(value, oracle["mixed_" + key])


# --------------------------------------------------------------- refusals ---


def masked_crc(data: bytes) -> int:
    crc = _core.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(*records: bytes) -> bytes:
    out = b""
    for r in records:
        header = len(r).to_bytes(8, "little")
        out += (
            header
            + masked_crc(header).to_bytes(4, "little")
            + r
            + masked_crc(r).to_bytes(4, "little")
        )
    return out


def log(**fields: object) -> bytes:
    """A PredictionLog built with tfbundle's own declarations (for malformed requests)."""
    msg = gp.message_class("PredictionLog")()
    for path, value in fields.items():
        target = msg
        parts = path.split("__")
        for part in parts[:-1]:
            target = getattr(target, part)
        leaf = parts[-1]
        if isinstance(value, list):
            getattr(target, leaf).extend(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                getattr(target, leaf)[k].CopyFrom(v)
        elif value is None:
            getattr(target, leaf).SetInParent()
        else:
            setattr(target, leaf, value)
    return msg.SerializeToString()


def float_tensor(values: list[float], shape: list[int], dtype: int = 1) -> object:
    t = gp.message_class("TensorProto")(dtype=dtype)
    t.tensor_shape.dim.add(size=shape[0])
    for d in shape[1:]:
        t.tensor_shape.dim.add(size=d)
    t.float_val.extend(values)
    return t


def example_bytes(x: float) -> bytes:
    import struct

    feature = b"\x12\x06\x0a\x04" + struct.pack("<f", x)  # Feature.float_list{value: x}
    entry = b"\x0a\x01x" + b"\x12" + bytes([len(feature)]) + feature
    features = b"\x0a" + bytes([len(entry)]) + entry
    return b"\x0a" + bytes([len(features)]) + features


@pytest.fixture
def copy(made: Path, tmp_path: Path):
    """A copy of the model whose warmup file the test writes."""

    def write(data: bytes) -> Path:
        folder = tmp_path / "m"
        if not folder.exists():
            shutil.copytree(model_dir(made), folder)
        (folder / "assets.extra" / "tf_serving_warmup_requests").write_bytes(data)
        return folder

    return write


GOOD = log(predict_log__request__inputs={"x": float_tensor([1.0], [1, 1])})


def refuses(folder: Path, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        tfbundle.load(folder, warmup=True)


def test_corrupted_data(copy) -> None:
    data = bytearray(tfrecord(GOOD, GOOD))
    data[14] ^= 0xFF
    refuses(
        copy(bytes(data)),
        errors.DataLossError,
        r"corrupted record at byte 0 \(record 1\): checksum mismatch. Please verify",
    )


def test_corrupted_length(copy) -> None:
    data = bytearray(tfrecord(GOOD, GOOD))
    second = len(tfrecord(GOOD))
    data[second + 9] ^= 0x01
    refuses(
        copy(bytes(data)),
        errors.DataLossError,
        rf"corrupted record length at byte {second} \(record 2\)",
    )


def test_truncated_record_and_header(copy) -> None:
    data = tfrecord(GOOD, GOOD)
    refuses(copy(data[:-3]), errors.DataLossError, r"truncated record at byte \d+ \(record 2 says")
    refuses(
        copy(data[: len(tfrecord(GOOD)) + 5]),
        errors.DataLossError,
        r"truncated record header at byte \d+ \(record 2\)",
    )


def test_compressed_file(copy) -> None:
    refuses(
        copy(gzip.compress(tfrecord(GOOD))),
        errors.DataLossError,
        "is compressed .* must be an uncompressed TFRecord",
    )


def test_more_than_1000_records(copy) -> None:
    skipped = log(log_metadata=b"")  # a record TF Serving skips: cheap to count
    refuses(
        copy(tfrecord(*[skipped] * (MAX_RECORDS + 1))),
        errors.InvalidArgumentError,
        "more than 1000 warmup records",
    )
    with tfbundle.load(copy(tfrecord(*[skipped] * MAX_RECORDS)), warmup=True) as m:
        assert (
            m.warmup.records == MAX_RECORDS
            and m.warmup.skipped == MAX_RECORDS
            and m.warmup.ran == 0
        )


def test_record_that_is_not_a_prediction_log(copy) -> None:
    refuses(
        copy(tfrecord(GOOD, b"\xff\xff\xff")),
        errors.DataLossError,
        r"warmup record 2 of .* is not a valid serialized PredictionLog",
    )


def test_session_run_record(copy) -> None:
    refuses(
        copy(tfrecord(log(session_run_log__request=b""))),
        errors.UnimplementedError,
        r"warmup record 1 of .*: SessionRun warmup records are not supported",
    )


def test_unknown_signature(copy) -> None:
    record = log(
        predict_log__request__model_spec__signature_name="nope",
        predict_log__request__inputs={"x": float_tensor([1.0], [1, 1])},
    )
    refuses(
        copy(tfrecord(GOOD, record)),
        errors.NotFoundError,
        r"warmup record 2 of .*: the model has no signature 'nope'",
    )


def test_classify_against_a_predict_signature(copy) -> None:
    record = log(
        classify_log__request__model_spec__signature_name="serving_default",
        classify_log__request__input__example_list__examples=[example_bytes(1.0)],
    )
    refuses(
        copy(tfrecord(record)),
        errors.InvalidArgumentError,
        "signature 'serving_default' has method_name 'tensorflow/serving/predict', expected 'tensorflow/serving/classify'",
    )


def test_regress_with_no_examples(copy) -> None:
    record = log(
        regress_log__request__model_spec__signature_name="regress_x_to_y",
        regress_log__request__input__example_list=None,
    )
    refuses(
        copy(tfrecord(record)),
        errors.InvalidArgumentError,
        r"holds no tf.Example \(Input is empty\)",
    )


def test_multi_inference_refusals(copy) -> None:
    task = gp.message_class("InferenceTask")
    twice = log(
        multi_inference_log__request__tasks=[
            task(
                model_spec={"signature_name": "regress_x_to_y"},
                method_name="tensorflow/serving/regress",
            ),
            task(
                model_spec={"signature_name": "regress_x_to_y"},
                method_name="tensorflow/serving/regress",
            ),
        ],
        multi_inference_log__request__input__example_list__examples=[example_bytes(1.0)],
    )
    refuses(
        copy(tfrecord(twice)),
        errors.InvalidArgumentError,
        "the signature 'regress_x_to_y' is evaluated twice",
    )
    predict = log(
        multi_inference_log__request__tasks=[
            task(
                model_spec={"signature_name": "serving_default"},
                method_name="tensorflow/serving/predict",
            ),
        ],
        multi_inference_log__request__input__example_list__examples=[example_bytes(1.0)],
    )
    refuses(
        copy(tfrecord(predict)),
        errors.UnimplementedError,
        "task method 'tensorflow/serving/predict' is not classify or regress",
    )
    none = log(multi_inference_log__request__input__example_list__examples=[example_bytes(1.0)])
    refuses(
        copy(tfrecord(none)),
        errors.InvalidArgumentError,
        "the multi-inference request has no tasks",
    )


def test_predict_request_refusals(copy) -> None:
    wrong_dtype = log(predict_log__request__inputs={"x": float_tensor([1.0], [1, 1], dtype=2)})
    refuses(
        copy(tfrecord(wrong_dtype)),
        errors.InvalidArgumentError,
        r"warmup record 1 of .*expects float32, got an array of float64",
    )
    missing = log(predict_log__request__inputs={"z": float_tensor([1.0], [1, 1])})
    refuses(copy(tfrecord(missing)), errors.InvalidArgumentError, r"has no input 'z'")
    unknown_output = log(
        predict_log__request__inputs={"x": float_tensor([1.0], [1, 1])},
        predict_log__request__output_filter=["nope"],
    )
    refuses(
        copy(tfrecord(unknown_output)), errors.InvalidArgumentError, r"output_filter names 'nope'"
    )
    too_many = log(predict_log__request__inputs={"x": float_tensor([1.0, 2.0, 3.0], [1, 1])})
    refuses(
        copy(tfrecord(too_many)),
        errors.InvalidArgumentError,
        r"holds 3 values, more than its shape \(1, 1\)",
    )
    bad_shape = float_tensor([1.0], [1, 1])
    bad_shape.tensor_shape.dim[0].size = -1
    refuses(
        copy(tfrecord(log(predict_log__request__inputs={"x": bad_shape}))),
        errors.InvalidArgumentError,
        "has an unknown dimension",
    )
    resource = gp.message_class("TensorProto")(dtype=20)
    refuses(
        copy(tfrecord(log(predict_log__request__inputs={"x": resource}))),
        errors.UnimplementedError,
        "has dtype DT_RESOURCE, which tfbundle cannot feed",
    )
    content = float_tensor([], [2, 1])
    content.tensor_content = b"\x00" * 4
    refuses(
        copy(tfrecord(log(predict_log__request__inputs={"x": content}))),
        errors.InvalidArgumentError,
        r"tensor_content holds 4 bytes, the shape \(2, 1\) of DT_FLOAT needs 8",
    )


def test_bad_iterations(made: Path) -> None:
    m = tfbundle.load(model_dir(made))
    with m, pytest.raises(errors.InvalidArgumentError, match="iterations must be a positive int"):
        replay_warmup(m, iterations=0)


def test_explicit_path_that_does_not_exist(made: Path, tmp_path: Path) -> None:
    m = tfbundle.load(model_dir(made))
    with m, pytest.raises(errors.NotFoundError, match="does not exist"):
        replay_warmup(m, tmp_path / "requests")
