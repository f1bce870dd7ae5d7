"""tfbundle on the third-party SavedModels of shared/testdata (see its PROVENANCE.md).

Models TensorFlow's C API loads are loaded here and their outputs compared with the
sample outputs PROVENANCE.md records (TensorFlow 2.21, C API and Python v1 loader).
Models TensorFlow refuses, or that are not SavedModels at all, must raise a subclass of
``tfbundle.Error`` with a message that says what is wrong; those loads run in a child
process, so that a crash fails one test instead of killing the session.

The tf.Example inputs are serialized by ``_util.encode_example`` (no TensorFlow in this
process).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfbundle
from _util import assert_array_matches, examples
from tfbundle import errors

HERE = Path(__file__).resolve().parent

F32 = np.float32
X3 = np.array([[1.0], [2.0], [5.0]], F32)
HALF_PLUS_TWO_Y = np.array([[2.5], [3.0], [4.5]], F32)
X3_EXAMPLES = ({"x": [1.0]}, {"x": [2.0]}, {"x": [5.0]})

TAXI = {
    "company": ["Taxi Affiliation Services"],
    "payment_type": ["Cash"],
    "fare": [12.45],
    "trip_miles": [2.1],
    "trip_seconds": [600],
    "trip_start_hour": [14],
    "trip_start_day": [3],
    "trip_start_month": [5],
    "trip_start_timestamp": [1400000000],
    "pickup_latitude": [41.88],
    "pickup_longitude": [-87.63],
    "dropoff_latitude": [41.9],
    "dropoff_longitude": [-87.65],
    "pickup_community_area": [8],
    "dropoff_community_area": [32],
    "pickup_census_tract": [17031081700],
    "dropoff_census_tract": [17031320100],
}
PENGUIN = {
    "body_mass_g": [3750.0],
    "culmen_depth_mm": [18.7],
    "culmen_length_mm": [39.1],
    "flipper_length_mm": [181.0],
}


@dataclass(frozen=True)
class Summary:
    """A large output PROVENANCE.md records by its first values and its sum."""

    dtype: Any
    shape: tuple[int, ...]
    first: list[float]
    total: float


@dataclass(frozen=True)
class Sample:
    """A recorded sample: signature(inputs) -> expected, for one model folder."""

    path: str  # relative to testdata; may be a TF Serving base folder
    signature: str
    inputs: dict[str, Any]
    expected: dict[str, Any]  # np.ndarray (compared closely) or Summary
    tags: Any = None
    version: str | None = None  # the version sub-folder the base folder resolves to
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.path}:{self.signature}{'#' + self.note if self.note else ''}"


def _a(values: Any, dtype: Any = F32) -> np.ndarray:
    return np.array(values, dtype=dtype)


def _half_plus_two(path: str, version: str | None = "00000123", **kw: Any) -> Sample:
    return Sample(path, "serving_default", {"x": X3}, {"y": HALF_PLUS_TWO_Y}, version=version, **kw)


SAMPLES = [
    _half_plus_two("tensorflow_serving/saved_model_half_plus_two_cpu"),
    Sample(
        "tensorflow_serving/saved_model_half_plus_two_cpu",
        "classify_x_to_y",
        {"inputs": examples(*X3_EXAMPLES)},
        {"scores": HALF_PLUS_TWO_Y},
        version="00000123",
    ),
    _half_plus_two("tensorflow_serving/saved_model_half_plus_two_2_versions", version="00000124"),
    _half_plus_two(
        "tensorflow_serving/saved_model_half_plus_two_cpu_with_empty_saved_model_config"
    ),
    _half_plus_two("tensorflow_serving/saved_model_half_plus_two_cpu_with_saved_model_config"),
    _half_plus_two("tensorflow_serving/saved_model_half_plus_two_gpu", note="soft placement"),
    _half_plus_two("tensorflow_serving/saved_model_half_plus_two_gpu_trt", note="soft placement"),
    _half_plus_two("tensorflow_serving/saved_model_half_plus_two_mkl"),
    _half_plus_two("tensorflow_serving/saved_model_half_plus_two_mlmd"),
    Sample(
        "tensorflow_serving/saved_model_half_plus_two_tf2_cpu",
        "serving_default",
        {"x": _a([1.0])},
        {"y": _a([2.5])},
        version="00000123",
    ),
    Sample(
        "tensorflow_serving/saved_model_half_plus_two_tf2_cpu",
        "regress_x_to_y2",
        {"inputs": examples(*X3_EXAMPLES)},
        {"outputs": _a([[3.5], [4.0], [5.5]])},
        version="00000123",
    ),
    # The signature records no shape for x; the placeholder is (?, 1).
    Sample(
        "tensorflow_serving/saved_model_half_plus_three",
        "serving_default",
        {"x": X3},
        {"y": _a([[3.5], [4.0], [5.5]])},
        version="00000123",
    ),
    Sample(
        "tensorflow_serving/matrix_half_plus_two",
        "serving_default",
        {"x": np.arange(1, 10, dtype=F32).reshape(1, 3, 3)},
        {"y": np.arange(1, 10, dtype=F32).reshape(1, 3, 3) * 0.5 + 2},
        version="1",
    ),
    _half_plus_two("tensorflow/cc_saved_model_testdata/half_plus_two"),
    Sample(
        "tensorflow/cc_saved_model_testdata/half_plus_two",
        "regress_x_to_y",
        {"inputs": examples(*X3_EXAMPLES)},
        {"outputs": HALF_PLUS_TWO_Y},
        version="00000123",
    ),
    _half_plus_two("tensorflow/cc_saved_model_testdata/half_plus_two_main_op"),
    _half_plus_two("tensorflow/cc_saved_model_testdata/half_plus_two_pbtxt"),
    _half_plus_two("tensorflow/cc_saved_model_testdata/half_plus_two_v2"),
    _half_plus_two("tensorflow/historical/half_plus_two_forward_compatibility"),
    _half_plus_two("tensorflow/go_testdata/half_plus_two_empty_tags", tags=[], note="tags=[]"),
    _half_plus_two(
        "tensorflow/go_testdata/half_plus_two_empty_tags", tags=None, note="only tag-set"
    ),
    Sample(
        "tensorflow/cc_saved_model_testdata/x_plus_y_v2_debuginfo",
        "serving_default",
        {"x": _a(1.0), "y": _a(2.0)},
        {"output_0": _a(3.0)},
    ),
    Sample(
        "tensorflow/cc_saved_model_testdata/AssetModule",
        "serving_default",
        {},
        {"output_0": np.array(b"TEST ASSET FILE CONTENTS\r\n", dtype=object)},
    ),
    Sample(
        "tensorflow/cc_saved_model_testdata/StaticHashTableModule",
        "serving_default",
        {"word": np.array([b"foo", b"baz", b"wombat", b"unknown"], dtype=object)},
        {"output_0": _a([0, 2, 3, -1], np.int64)},
    ),
    Sample(
        "tensorflow/cc_saved_model_testdata/VarsAndArithmeticObjectGraph",
        "serving_default",
        {"a": _a(1.0), "b": _a(2.0)},
        {"output_0": _a(7.666667)},
    ),
    Sample(
        "tensorflow/cc_saved_model_testdata/chunked_saved_model/chunked_model",
        "serving_default",
        {},
        {
            "output_0": Summary(
                np.float64,
                (150, 150),
                [0.7042, 0.52148, 0.70525, 0.56684, 0.92581, 0.52278],
                11281.9,
            )
        },
    ),
    Sample(
        "tensorflow/cc_saved_model_testdata/chunked_saved_model/non_chunked_model",
        "serving_default",
        {},
        {
            "output_0": Summary(
                np.float64,
                (150, 150),
                [0.7042, 0.52148, 0.70525, 0.56684, 0.92581, 0.52278],
                11281.9,
            )
        },
    ),
    Sample(
        "tensorflow/c_experimental_saved_model_testdata/SimpleWhileLoop",
        "serving_default",
        {"value": _a(3.0)},
        {"output_0": _a(6.0)},
    ),
    Sample(
        "tensorflow/lite_python_testdata/control_flow_v1_saved_model",
        "serving_default",
        {"a": _a(1.0), "b": _a(2.0), "c": _a(3.0), "d": _a(4.0)},
        {"merge": _a(1.0)},
    ),
    Sample(
        "tensorflow/tensorrt_model_tests/sample_model",
        "serving_default",
        {"input": np.ones((1, 28, 28, 3), F32)},
        {
            "output": Summary(
                F32, (1, 22, 22, 8), [0.0, 0.29244, 0.0, 0.27036, 0.0, 0.22466], 518.976
            )
        },
    ),
    Sample(
        "tensorflow/tensorrt_testdata/tf_readvariableop_saved_model",
        "serving_default",
        {"input1": _a([[[1.0]]]), "input2": _a([[[2.0]]])},
        {"output_0": _a([[[42.0]]])},
    ),
    Sample(
        "tensorflow/tensorrt_testdata/tf_variablev2_saved_model",
        "serving_default",
        {"input1": _a([[[1.0]]]), "input2": _a([[[2.0]]])},
        {"output": _a([[[42.0]]])},
    ),
    Sample(
        "tfjs/int64_multiply",
        "serving_default",
        {"x": _a([1, 2], np.int64)},
        {"output_0": _a([6, 12], np.int64)},
    ),
    Sample(
        "tfjs/model_multi_output",
        "serving_default",
        {"x": _a(2, np.int32), "y": _a(3, np.int32)},
        {"output_0": _a(4, np.int32), "output_1": _a(3, np.int32)},
    ),
    Sample(
        "tfjs/model_single_input_multi_output",
        "serving_default",
        {"x": _a(2, np.int32)},
        {"output_0": _a(4, np.int32), "output_1": _a(2, np.int32)},
    ),
    Sample(
        "tfjs/module_with_multiple_signatures", "timestwo", {"x": _a(3.0)}, {"output_0": _a(6.0)}
    ),
    Sample("tfjs/times_three_float", "serving_default", {"x": _a(2.0)}, {"output_0": _a(6.0)}),
    Sample(
        "tfjs/times_two_int",
        "serving_default",
        {"x": _a(3, np.int32)},
        {"output_0": _a(6, np.int32)},
    ),
    Sample(
        "tfjs/uint8_multiply",
        "serving_default",
        {"x": _a([5], np.uint8)},
        {"output_0": _a([30], np.int32)},
    ),
    Sample(
        "tensorflow_onnx/regression_saved_model",
        "serving_default",
        {"X": _a([1.0, 2.0, 5.0])},
        {"pred": _a([1.263487, 1.477449, 2.119334])},
    ),
    Sample(
        "tensorflow_onnx/saved_model_with_redundant_inputs",
        "serving_default",
        {"x": np.arange(10, dtype=F32).reshape(1, 10), "y": np.ones((1, 10), F32)},
        {"z": np.arange(1, 11, dtype=F32).reshape(1, 10)},
    ),
    Sample(
        "cppflow/load_model",
        "serving_default",
        {"input_1": _a([[1, 2, 3, 4, 5]])},
        {"dense_1": _a([[0.999858]])},
    ),
    Sample(
        "cppflow/multi_input_output",
        "serving_default",
        {"my_input_1": _a([[1, 2, 3, 4, 5]]), "my_input_2": np.ones((1, 5), F32)},
        {"my_outputs_1": _a([[0.830597]]), "my_outputs_2": _a([[0.710363]])},
    ),
    Sample(
        "tensorflow_rust/regression-model",
        "tensorflow/serving/regress",
        {"x": _a([1.0, 2.0, 5.0]), "y": _a([0.0, 0.0, 0.0])},
        {"out": _a([-0.857862, -1.715724, -4.289311])},
        note="tags train,serve",
    ),
    Sample("tensorflow_rust/regression_savedmodel", "w", {}, {"output": _a([0.204298])}),
    Sample(
        "tensorflow_java/saved_model_using_python",
        "add",
        {"a": _a(1.0), "b": _a(2.0)},
        {"output_0": _a(3.0)},
    ),
    Sample(
        "tensorflow_net/leak_testmodel_saved_model",
        "inference",
        {"input": np.full((1, 2, 96), 0.5, F32)},
        {
            f"output_{i}": Summary(
                F32, (1, 192), [0.09392, 0.0, 0.0, 0.0, 0.09926, 0.03357], 3.22113
            )
            for i in range(3)
        },
    ),
    Sample(
        "tensorflow_net/lstm_from_sequential",
        "serving_default",
        {"input_1": np.tile(_a([1.0, 2.0, 3.0]), (1, 5, 1))},
        {"dense": _a([[0.421094]])},
    ),
    Sample(
        "tensorflow_net/python_func_model",
        "serving_default",
        {"input_1": np.full((1, 784), 0.5, F32)},
        {
            "softmax": Summary(
                F32, (1, 10), [0.01771, 0.02094, 0.00557, 0.00844, 0.00051, 0.33158], 1.0
            )
        },
    ),
    Sample(
        "tensorflow_net/simple_model_from_auto_compile",
        "serving_default",
        {"input_1": np.full((1, 28, 28, 1), 0.5, F32)},
        {"softmax": Summary(F32, (1, 10), [0.0, 0.0, 0.10279, 0.2915, 0.0, 0.60567], 1.0)},
    ),
    Sample(
        "tfx/trainer_current_Format-Serving/export/chicago-taxi",
        "predict",
        {"examples": examples(TAXI)},
        {"classes": np.array([[b"0"]], dtype=object), "probabilities": _a([[0.810684, 0.189316]])},
        version="1646034756",
    ),
    Sample(
        "tfx/trainer_keras_Format-Serving",
        "serving_default",
        {"examples": examples(PENGUIN)},
        {"output_0": _a([[0.0, 0.0, 1.0]])},
    ),
]


def _check(actual: np.ndarray, want: Any, what: str) -> None:
    """An output against a recorded sample (PROVENANCE rounds to about 6 digits)."""
    if isinstance(want, Summary):
        assert isinstance(actual, np.ndarray), what
        assert actual.dtype == np.dtype(want.dtype), f"{what}: dtype {actual.dtype}"
        assert actual.shape == want.shape, f"{what}: shape {actual.shape}"
        np.testing.assert_allclose(
            actual.reshape(-1)[: len(want.first)], want.first, atol=1e-4, err_msg=what
        )
        np.testing.assert_allclose(actual.sum(), want.total, rtol=1e-4, err_msg=what)
        return
    if want.dtype == object or want.dtype.kind in "iub":
        assert_array_matches(actual, want, what)
        return
    assert isinstance(actual, np.ndarray), what
    assert actual.dtype == want.dtype, f"{what}: dtype {actual.dtype} != {want.dtype}"
    assert actual.shape == want.shape, f"{what}: shape {actual.shape} != {want.shape}"
    np.testing.assert_allclose(actual, want, rtol=1e-5, atol=2e-6, err_msg=what)


#: Models restore="mmap" refuses, and why (TensorBundle V2 checkpoints only).
MMAP_REFUSED = {"tensorflow/historical/half_plus_two_2016_v1_checkpoint": "older checkpoint format"}


def _auto_restore(folder: Path, sample: Sample) -> str:
    """What restore="auto" runs for a sample: TensorFlow's for what the mapped restore refuses,
    the graph import for a model with no checkpoint, else the mapped restore."""
    if sample.path in MMAP_REFUSED:
        return "tf"
    return "mmap" if any(folder.rglob("variables/variables.index")) else "graph"


@pytest.mark.parametrize("restore", ["auto", "tf", "mmap"])
@pytest.mark.parametrize("sample", SAMPLES, ids=[s.id for s in SAMPLES])
def test_recorded_sample(testdata: Path, sample: Sample, restore: str) -> None:
    folder = testdata / sample.path
    if restore == "mmap" and sample.path in MMAP_REFUSED:
        with pytest.raises(tfbundle.UnimplementedError, match=MMAP_REFUSED[sample.path]):
            tfbundle.load(folder, tags=sample.tags, restore=restore)
        return
    with tfbundle.load(folder, tags=sample.tags, restore=restore) as m:
        assert m.restore == (_auto_restore(folder, sample) if restore == "auto" else restore), m.restore_fallback
        if sample.version is not None:
            assert Path(m.path).resolve() == (folder / sample.version).resolve()
        sig = m.signatures[sample.signature]
        out = sig(**sample.inputs)
        assert sorted(out) == sorted(sig.outputs)
        for key, want in sample.expected.items():
            _check(out[key], want, f"{sample.id} {key}")
        # The same through Signature.run, in the order asked for.
        keys = sorted(sample.expected)
        for key, arr in zip(keys, sig.run(sample.inputs, outputs=keys)):
            _check(arr, sample.expected[key], f"{sample.id} run() {key}")


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.id for s in SAMPLES])
def test_recorded_sample_from_compiled_calls(testdata: Path, sample: Sample, tmp_path: Path) -> None:
    """A load whose compile cache holds the call (stored by a first load) answers as recorded."""
    folder = testdata / sample.path
    cache = tmp_path / "cache"
    with tfbundle.load(folder, tags=sample.tags, compile_cache=cache) as m:
        m.signatures[sample.signature](**sample.inputs)
    with tfbundle.load(folder, tags=sample.tags, compile_cache=cache) as m:
        compiled = m.compiled_calls
        out = m.signatures[sample.signature](**sample.inputs)
        if compiled:
            assert m.compiled_calls == compiled, "the call ran from its stored graph"
        for key, want in sample.expected.items():
            _check(out[key], want, f"{sample.id} {key} (compiled: {compiled})")


# ----------------------------------------------------------------------------- special cases


def test_versioned_base_folder_picks_highest(testdata: Path) -> None:
    base = testdata / "tensorflow_serving/saved_model_half_plus_two_2_versions"
    with tfbundle.load(base) as m:
        assert Path(m.path).name == "00000124"
    with tfbundle.load(base / "00000123") as m:  # a version folder loads as itself
        assert Path(m.path).name == "00000123"
        _check(m(x=X3)["y"], HALF_PLUS_TWO_Y, "00000123")


def test_empty_tag_set_only_with_empty_tags(testdata: Path) -> None:
    folder = testdata / "tensorflow/go_testdata/half_plus_two_empty_tags"
    for tags in ([], "", ()):
        with tfbundle.load(folder, tags=tags) as m:
            assert m.tags == frozenset()
    with pytest.raises(errors.NotFoundError):
        tfbundle.load(folder, tags="serve")


def test_only_tag_set_is_the_default(testdata: Path) -> None:
    with tfbundle.load(testdata / "tensorflow_rust/regression-model") as m:
        assert m.tags == frozenset({"train", "serve"})
    with tfbundle.load(testdata / "tensorflow_rust/regression-model", tags="serve,train") as m:
        assert m.tags == frozenset({"train", "serve"})
    with pytest.raises(errors.NotFoundError) as exc:
        tfbundle.load(testdata / "tensorflow_rust/regression-model", tags="serve")
    assert "train" in str(exc.value), "the message should list the available tag-sets"


def test_gpu_pinned_model_reports_its_cpu(testdata: Path) -> None:
    with tfbundle.load(testdata / "tensorflow_serving/saved_model_half_plus_two_gpu") as m:
        devices = m.devices()
        assert any(d.type == "CPU" for d in devices), devices
        _check(m(x=X3)["y"], HALF_PLUS_TWO_Y, "gpu-pinned model on CPU")


def test_counter_reference_variable_outputs(testdata: Path) -> None:
    """TF1 float_ref outputs: the state persists across calls on one loaded model."""
    with tfbundle.load(testdata / "tensorflow_serving/saved_model_counter") as m:
        steps = [
            ("incr_counter_by", {"delta": _a(2.0)}, 2.0),
            ("incr_counter", {}, 3.0),
            ("get_counter", {}, 3.0),
            ("reset_counter", {}, 0.0),
            ("get_counter", {}, 0.0),
        ]
        for name, inputs, want in steps:
            out = m.signatures[name](**inputs)["output"]
            _check(out, _a(want), name)


def test_reference_dtype_specs(testdata: Path) -> None:
    """A DT_FLOAT_REF output gives float32 arrays, and its spec says so."""
    with tfbundle.load(testdata / "tensorflow_serving/saved_model_counter") as m:
        spec = m.signatures["get_counter"].outputs["output"]
        assert spec.tf_dtype == "DT_FLOAT_REF"
        assert spec.shape == ()
        assert spec.dtype == np.dtype(np.float32)


def test_asset_module_from_another_cwd(
    testdata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = testdata / "tensorflow/cc_saved_model_testdata/AssetModule"
    shutil.copytree(src, tmp_path / "copy")
    monkeypatch.chdir(tmp_path)
    with tfbundle.load("copy") as m:
        out = m()["output_0"]
        assert out.shape == () and out[()] == b"TEST ASSET FILE CONTENTS\r\n"


def test_simple_v1_model_run_by_tensor_name(testdata: Path) -> None:
    with tfbundle.load(testdata / "tensorflow/cc_saved_model_testdata/SimpleV1Model") as m:
        assert dict(m.signatures) == {}
        _check(m.run("Variable/Read/ReadVariableOp:0"), _a(1.0), "SimpleV1Model variable")
        (value,) = m.run(["Variable/Read/ReadVariableOp:0"])
        _check(value, _a(1.0), "list fetch")


@pytest.mark.parametrize(
    "path",
    [
        "tensorflow/cc_saved_model_testdata/CyclicModule",
        "tensorflow/cc_saved_model_testdata/OptimizerSlotVariableModule",
    ],
)
def test_models_without_signatures_load(testdata: Path, path: str) -> None:
    with tfbundle.load(testdata / path) as m:
        assert dict(m.signatures) == {}
        assert m.tags == frozenset({"serve"})
        with pytest.raises(errors.Error):
            m()


def test_sharded_2016_model_regress_by_tensor_names(testdata: Path) -> None:
    """Its signature records no dtypes, so run by the tensor names it names."""
    with tfbundle.load(testdata / "tensorflow/historical/half_plus_two_sharded") as m:
        sig = m.signatures["tensorflow/serving/regress"]
        assert sig.inputs["inputs"].tensor_name == "tf_example:0"
        assert sig.outputs["outputs"].tensor_name == "Identity:0"
        out = m.run("Identity:0", feeds={"tf_example:0": examples(*X3_EXAMPLES)})
        _check(out, HALF_PLUS_TWO_Y, "sharded regress")


def test_2016_v1_checkpoint_is_restored(testdata: Path) -> None:
    """variables/variables in the V1 format: TF's C API restores nothing by itself, so
    its first run fails with "uninitialized value"; TF's Python loader restores it and
    answers [[2.5], [3], [4.5]]; so does tfbundle."""
    folder = testdata / "tensorflow/historical/half_plus_two_2016_v1_checkpoint"
    action = (
        "out = m.run('Identity:0', feeds={'tf_example:0': examples("
        "{'x': [1.0]}, {'x': [2.0]}, {'x': [5.0]})})\n"
        "assert out.tolist() == [[2.5], [3.0], [4.5]], out"
    )
    result = run_isolated(folder, None, action)
    assert result["stage"] == "ok", result


def test_tfma_eval_model_run_by_tensor_names(testdata: Path) -> None:
    """The {eval} tag-set is the only one; feed only the examples, as PROVENANCE did."""
    with tfbundle.load(testdata / "tfx/trainer_current_Format-TFMA") as m:
        assert m.tags == frozenset({"eval"})
        sig = m.signatures["eval"]
        assert len(sig.inputs) == 39 and len(sig.outputs) == 26
        feeds = {sig.inputs["inputs/examples"].tensor_name: examples(dict(TAXI, tips=[2.0]))}
        probs, classes = m.run(
            [
                sig.outputs["predictions/probabilities"].tensor_name,
                sig.outputs["predictions/classes"].tensor_name,
            ],
            feeds=feeds,
        )
        _check(probs, _a([[0.810684, 0.189316]]), "eval probabilities")
        _check(classes, np.array([[b"0"]], dtype=object), "eval classes")


@pytest.mark.parametrize(
    ("path", "tags", "signature", "n_in", "n_out"),
    [
        ("tensorflow/cc_saved_model_testdata/bert1", {"serve"}, "serving_default", 7, 1),
        ("tensorflow/cc_saved_model_testdata/bert2", {"serve"}, "serving_default", 7, 1),
        ("tfx/transform_graph_transform_fn", {"transform"}, "transform_signature", 18, 17),
        ("tfx/tft_tf2_saved_model", {"serve"}, "serving_default", 54, 17),
    ],
)
def test_large_signatures_load(
    testdata: Path, path: str, tags: set[str], signature: str, n_in: int, n_out: int
) -> None:
    with tfbundle.load(testdata / path) as m:
        assert m.tags == frozenset(tags)
        sig = m.signatures[signature]
        assert len(sig.inputs) == n_in and len(sig.outputs) == n_out
        for spec in list(sig.inputs.values()) + list(sig.outputs.values()):
            assert isinstance(spec.tf_dtype, str) and spec.tf_dtype.startswith("DT_")


# ----------------------------------------------------------------------------- refusals


_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import tfbundle
from tfbundle import errors
from _util import examples
path, tags, action = sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
stage = "load"
try:
    m = tfbundle.load(path, tags=tags)
    stage = "run"
    exec(action, {"m": m, "np": np, "examples": examples})
    result = {"stage": "ok"}
except BaseException as e:
    result = {"stage": stage, "cls": type(e).__name__,
              "is_tfbundle_error": isinstance(e, errors.Error), "message": str(e)}
print("RESULT " + json.dumps(result))
"""


def run_isolated(path: Path, tags: Any = None, action: str = "") -> dict[str, Any]:
    """Loads (and runs ``action`` on ``m``) in a child process; returns what happened.

    Fails the test, naming the signal, if the child crashed instead of raising.
    """
    env = dict(os.environ)
    package_root = str(Path(tfbundle.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(HERE), str(path), json.dumps(tags), action],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        pytest.fail(
            f"tfbundle.load({str(path)!r}) crashed the process ({how}) instead of raising "
            f"tfbundle.Error:\n{proc.stderr[-3000:]}",
            pytrace=False,
        )
    return json.loads(lines[-1][len("RESULT ") :])


@dataclass(frozen=True)
class Refusal:
    """A folder tfbundle must refuse with a tfbundle.Error subclass."""

    path: str
    error: str  # class name in tfbundle.errors
    phrases: tuple[str, ...]  # at least one must appear in the message (case-insensitive)
    tags: Any = None
    action: str = ""  # run after a load that succeeded; the error may come from either
    stages: tuple[str, ...] = ("load",)


REFUSALS = [
    Refusal(
        "tensorflow/cc_saved_model_testdata/fuzz_generated/bad_node_attr",
        "FailedPreconditionError",
        ("no value has been provided",),
    ),
    Refusal(
        "tensorflow/cc_saved_model_testdata/fuzz_generated/const_with_no_value",
        "FailedPreconditionError",
        ("no value has been provided",),
    ),
    Refusal(
        "tensorflow/cc_saved_model_testdata/fuzz_generated/negative_shape",
        "FailedPreconditionError",
        ("-1 elements",),
    ),
    Refusal(
        "tensorflow/c_experimental_saved_model_testdata/UninitializedVariable",
        "NotFoundError",
        ("not found in checkpoint",),
    ),
    Refusal(
        "tensorflow/mlir_graphdef2mlir/batch_use_same_function",
        "InvalidArgumentError",
        ("missing attrs",),
    ),
    Refusal(
        "tensorflow/tensorrt_testdata/tftrt_2.0_saved_model", "NotFoundError", ("TRTEngineOp",)
    ),
    # Not SavedModels: legacy SessionBundle exports (export.meta + checkpoint).
    Refusal(
        "tensorflow_serving/session_bundle_half_plus_two",
        "NotFoundError",
        ("saved_model.pb", "savedmodel"),
    ),
    Refusal(
        "tensorflow_serving/bad_half_plus_two", "NotFoundError", ("saved_model.pb", "savedmodel")
    ),
    Refusal(
        "tensorflow/historical/session_bundle_half_plus_two_ckpt_v2",
        "NotFoundError",
        ("saved_model.pb", "savedmodel"),
    ),
    Refusal(
        "tensorflow_onnx/regression_checkpoint", "NotFoundError", ("saved_model.pb", "savedmodel")
    ),
    # The repository ships the graph but no checkpoint.
    Refusal(
        "tensorflow_net/example1",
        "",
        ("uninitialized", "variables"),
        stages=("load", "run"),
        action="m(fuel=np.full((1, 96), 0.5, np.float32), sp=np.full((1, 96), 0.5, np.float32))",
    ),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=[r.path for r in REFUSALS])
def test_refused_models_raise_tfbundle_errors(testdata: Path, refusal: Refusal) -> None:
    result = run_isolated(testdata / refusal.path, refusal.tags, refusal.action)
    assert result["stage"] != "ok", f"{refusal.path} loaded and ran; TensorFlow refuses it"
    assert result["is_tfbundle_error"], (
        f"{refusal.path}: raised {result['cls']} (not a tfbundle.Error): {result['message']}"
    )
    assert result["stage"] in refusal.stages, result
    if refusal.error:
        assert result["cls"] == refusal.error or issubclass(
            getattr(errors, result["cls"]), getattr(errors, refusal.error)
        ), f"{refusal.path}: {result['cls']} is not a {refusal.error}: {result['message']}"
    msg = result["message"].lower()
    assert any(p.lower() in msg for p in refusal.phrases), (
        f"{refusal.path}: message should mention one of {refusal.phrases}: {result['message']}"
    )


def test_mapped_restore_refuses_a_key_the_checkpoint_lacks(testdata: Path) -> None:
    # The restore function names a key its checkpoint lacks (a variable never initialised):
    # TensorFlow refuses the model, and so does the mapped restore, though the signature never
    # reads that variable; the default ("auto") then gives TensorFlow's own error.
    folder = testdata / "tensorflow/c_experimental_saved_model_testdata/UninitializedVariable"
    ours = r"Key \S*uninitialized_variable\S* not found in checkpoint .*restore function"
    with pytest.raises(errors.NotFoundError, match=ours):
        tfbundle.load(folder, restore="mmap")
    with pytest.raises(errors.NotFoundError, match="not found in checkpoint"):
        tfbundle.load(folder)


def test_chunked_cpb_only_folder_is_refused(testdata: Path, tmp_path: Path) -> None:
    """A folder with only saved_model.cpb (proto-splitter format) cannot be loaded."""
    src = testdata / "tensorflow/cc_saved_model_testdata/chunked_saved_model/chunked_model"
    (tmp_path / "cpb_only").mkdir()
    shutil.copy(src / "saved_model.cpb", tmp_path / "cpb_only")
    result = run_isolated(tmp_path / "cpb_only")
    assert result["stage"] == "load" and result["is_tfbundle_error"], result
    assert re.search(r"cpb|chunk", result["message"], re.IGNORECASE), (
        f"the message should say the chunked saved_model.cpb is not supported: {result}"
    )


def test_missing_folder_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(errors.NotFoundError) as exc:
        tfbundle.load(tmp_path / "nope")
    assert "nope" in str(exc.value)
    assert isinstance(exc.value, FileNotFoundError)


# ----------------------------------------------------------------------------- coverage


def _provenance_saved_models(root: Path) -> list[str]:
    text = (root / "PROVENANCE.md").read_text()
    section = text.split("## SavedModels", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- \*\*(.+?)/\*\*", section, re.MULTILINE)


def test_every_provenance_saved_model_is_covered(testdata: Path) -> None:
    """Each SavedModel folder PROVENANCE.md lists has a sample, a check or a refusal here."""
    covered = {s.path for s in SAMPLES} | {r.path for r in REFUSALS}
    covered |= {
        "tensorflow/historical/half_plus_two_2016_v1_checkpoint",
        "tensorflow_serving/saved_model_counter",
        "tensorflow/cc_saved_model_testdata/CyclicModule",
        "tensorflow/cc_saved_model_testdata/OptimizerSlotVariableModule",
        "tensorflow/cc_saved_model_testdata/SimpleV1Model",
        "tensorflow/cc_saved_model_testdata/bert1",
        "tensorflow/cc_saved_model_testdata/bert2",
        "tensorflow/historical/half_plus_two_sharded",
        "tfx/trainer_current_Format-TFMA",
        "tfx/transform_graph_transform_fn",
        "tfx/tft_tf2_saved_model",
    }
    listed = _provenance_saved_models(testdata)
    assert len(listed) > 40
    missing = [
        folder
        for folder in listed
        if not any(c == folder or c.startswith(folder + "/") for c in covered)
    ]
    assert not missing, f"PROVENANCE.md folders without a test: {missing}"
