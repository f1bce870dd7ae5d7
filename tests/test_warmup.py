"""Warmup: load(..., warmup=True) replays assets.extra/tf_serving_warmup_requests as TF Serving does.

The test model (a TF1 SavedModel with predict, classify, regress and a many-dtype
predict signature, each of whose outputs bumps a `calls` counter) and its warmup file
are made by TensorFlow in a child process (tests/makers/warmup.py). The PredictionLog records
are built from the public field numbers and, where the ``tensorflow-serving-api``
package is installed, checked against its protos; the TFRecord file is written by
TensorFlow's own ``tf.io.TFRecordWriter``. The counter proves each request ran.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from tfbundle import _core, errors
from tfbundle._proto import parsing as gp
from tfbundle._runtime.warmup import MAX_RECORDS, WarmupReport, read_tfrecords, replay_warmup


@pytest.fixture(scope="module")
def made(tf_models: Callable[[str], Path]) -> Path:
    return tf_models("warmup")


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


def example(x: float) -> object:
    """A tf.Example with the float feature x."""
    msg = gp.message_class("Example")()
    msg.features.feature["x"].float_list.value.append(x)
    return msg


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
    skipped = log()  # a record with no log type, which TF Serving skips: cheap to count
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
        copy(tfrecord(log(session_run_log=None))),
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
        classify_log__request__input__example_list__examples=[example(1.0)],
    )
    refuses(
        copy(tfrecord(record)),
        errors.InvalidArgumentError,
        "signature 'serving_default' has method_name 'tensorflow/serving/predict', "
        "expected 'tensorflow/serving/classify'",
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
        multi_inference_log__request__input__example_list__examples=[example(1.0)],
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
        multi_inference_log__request__input__example_list__examples=[example(1.0)],
    )
    refuses(
        copy(tfrecord(predict)),
        errors.UnimplementedError,
        "task method 'tensorflow/serving/predict' is not classify or regress",
    )
    none = log(multi_inference_log__request__input__example_list__examples=[example(1.0)])
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
