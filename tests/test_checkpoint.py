"""tfbundle.open_checkpoint against TensorFlow's own checkpoint reader.

The checkpoints are written by TensorFlow's Python API in a subprocess
(tests/makers/checkpoints.py, made once and cached by the ``tf_models`` fixture),
which also records what ``tf.train.load_checkpoint`` reads from each; the pytest
process never imports TensorFlow. The third-party checkpoints of the ``testdata``
fixture are compared with the values its PROVENANCE.md records.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tfbundle import _core, errors
from tfbundle._readers.checkpoint import (
    CheckpointKeyError,
    VariableSpec,
    open_checkpoint,
    resolve_checkpoint_prefix,
)
from tfbundle.cli.vars import main as vars_main

# --------------------------------------------------------------- fixtures ---


class Checkpoints:
    """The TensorFlow-made checkpoints and what TensorFlow read from them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        with open(root / "expected.pickle", "rb") as f:
            self.expected: dict[str, dict[str, Any]] = pickle.load(f)

    def prefix(self, label: str) -> str:
        return str(self.root / self.expected[label]["prefix"])

    def values(self, label: str) -> dict[str, tuple[str, Any]]:
        return self.expected[label]["values"]


@pytest.fixture(scope="session")
def tf_checkpoints(tf_models: Callable[[str], Path]) -> Checkpoints:
    """Checkpoints written by TensorFlow (tests/makers/checkpoints.py)."""
    return Checkpoints(tf_models("checkpoints"))


# --------------------------------------------------------------- helpers ---


def _expected_array(tf_dtype: str, value: Any) -> np.ndarray:
    value = np.asarray(value)
    if value.dtype.names:  # TF's quantized dtypes come as one-field records
        value = value.view(value.dtype[0])
    return value


def assert_same(actual: np.ndarray, tf_dtype: str, expected: Any, what: str) -> None:
    """Bit-exact comparison with what TensorFlow read."""
    expected = _expected_array(tf_dtype, expected)
    assert actual.shape == expected.shape, what
    if tf_dtype == "string":
        assert actual.dtype == object, what
        got = [bytes(x) for x in actual.ravel()]
        want = [bytes(x) for x in expected.ravel()]
        assert got == want, what
        return
    assert actual.dtype.itemsize == expected.dtype.itemsize, what
    assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes(), what


def _mapped_files() -> dict[tuple[int, int], str]:
    """Memory mappings of this process that have a file: (start, end) -> path."""
    out = {}
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6:
                start, end = (int(x, 16) for x in parts[0].split("-"))
                out[(start, end)] = parts[5].strip()
    return out


def _mapping_of(array: np.ndarray) -> str | None:
    address = array.__array_interface__["data"][0]
    for (start, end), path in _mapped_files().items():
        if start <= address < end:
            return path
    return None


# TensorFlow's Python dtype names whose DataType enum name differs.
_TF_NAMES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF", "half": "DT_HALF"}

LABELS = ("tf2_newest", "dtypes", "many", "saved_model", "tf1_newest", "sharded")

# ------------------------------------------------------------------ tests ---


@pytest.mark.parametrize("label", LABELS)
def test_every_tensor_matches_tensorflow(tf_checkpoints: Checkpoints, label: str) -> None:
    expected = tf_checkpoints.values(label)
    with open_checkpoint(tf_checkpoints.prefix(label)) as ckpt:
        assert sorted(ckpt.keys()) == sorted(expected)
        assert len(ckpt) == len(expected)
        for key, (tf_dtype, value) in expected.items():
            if isinstance(value, str):
                continue  # TensorFlow could not read it; checked against the session below
            assert_same(ckpt[key], tf_dtype, value, f"{label}: {key}")
            spec = ckpt.spec(key)
            assert spec.shape == _expected_array(tf_dtype, value).shape
            assert spec.tf_dtype == _TF_NAMES.get(tf_dtype, "DT_" + tf_dtype.upper())


def test_dtypes_are_the_numpy_ones(tf_checkpoints: Checkpoints) -> None:
    import ml_dtypes

    with open_checkpoint(tf_checkpoints.prefix("dtypes")) as ckpt:
        def dtype(name: str) -> np.dtype:
            return ckpt[f"{name}/.ATTRIBUTES/VARIABLE_VALUE"].dtype

        assert dtype("float32") == np.float32
        assert dtype("float16") == np.float16
        assert dtype("bfloat16") == ml_dtypes.bfloat16
        assert dtype("int4") == ml_dtypes.int4
        assert dtype("complex128") == np.complex128
        assert dtype("bool") == np.bool_
        assert dtype("qint8") == np.int8
        assert dtype("quint8") == np.uint8
        assert dtype("string_matrix") == np.dtype(object)
        assert ckpt["string_scalar/.ATTRIBUTES/VARIABLE_VALUE"][()] == b"scalar string"
        assert ckpt["empty/.ATTRIBUTES/VARIABLE_VALUE"].shape == (0, 3)
        assert ckpt["scalar/.ATTRIBUTES/VARIABLE_VALUE"][()] == 3.5


def test_views_are_zero_copy_and_read_only(tf_checkpoints: Checkpoints) -> None:
    prefix = tf_checkpoints.prefix("dtypes")
    key = "big/.ATTRIBUTES/VARIABLE_VALUE"
    with open_checkpoint(prefix) as ckpt:
        a = ckpt[key]
        b = ckpt.get_tensor(key)
        assert not a.flags.writeable and not a.flags.owndata
        assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        spec = ckpt.spec(key)
        # The array's memory is the data shard's mapping, at the entry's offset.
        assert _mapping_of(a) == os.path.realpath(f"{prefix}.data-00000-of-00001")
        assert spec.nbytes == a.nbytes == 512 * 1024 * 4
        with pytest.raises(ValueError, match="read-only"):
            a[0, 0] = 1.0
        with pytest.raises(ValueError, match="WRITEABLE"):
            a.setflags(write=True)
        strings = ckpt["string_matrix/.ATTRIBUTES/VARIABLE_VALUE"]
        assert strings.flags.writeable  # decoded strings are a copy


def test_views_outlive_the_reader(tf_checkpoints: Checkpoints) -> None:
    gc.collect()
    before = _core.live_mappings()
    ckpt = open_checkpoint(tf_checkpoints.prefix("dtypes"))
    view = ckpt["big/.ATTRIBUTES/VARIABLE_VALUE"]
    expected = tf_checkpoints.values("dtypes")["big/.ATTRIBUTES/VARIABLE_VALUE"][1]
    ckpt.close()
    assert ckpt.closed
    assert _core.live_mappings() == before + 1  # the view keeps its shard mapped
    with pytest.raises(errors.ClosedError, match="closed"):
        ckpt.keys()
    with pytest.raises(errors.ClosedError):
        ckpt["big/.ATTRIBUTES/VARIABLE_VALUE"]
    with pytest.raises(errors.ClosedError):
        ckpt.spec("big/.ATTRIBUTES/VARIABLE_VALUE")
    del ckpt
    gc.collect()
    np.testing.assert_array_equal(view, expected)
    del view
    gc.collect()
    assert _core.live_mappings() == before


def test_opening_reads_only_the_index(tf_checkpoints: Checkpoints) -> None:
    before = _core.live_mappings()
    with open_checkpoint(tf_checkpoints.prefix("dtypes")) as ckpt:
        ckpt.keys()
        ckpt.spec("big/.ATTRIBUTES/VARIABLE_VALUE")
        assert _core.live_mappings() == before  # no shard mapped yet
        assert _mapping_of(ckpt["big/.ATTRIBUTES/VARIABLE_VALUE"]) is not None


def test_paths_it_accepts(tf_checkpoints: Checkpoints, tmp_path: Path) -> None:
    root = tf_checkpoints.root
    sm = root / "saved_model"
    variables = str(sm / "variables" / "variables")
    assert resolve_checkpoint_prefix(sm) == variables
    assert resolve_checkpoint_prefix(str(sm / "saved_model.pb")) == variables
    assert resolve_checkpoint_prefix(sm / "variables") == variables
    assert resolve_checkpoint_prefix(variables) == variables
    assert resolve_checkpoint_prefix(variables + ".index") == variables
    assert resolve_checkpoint_prefix(variables + ".data-00000-of-00001") == variables
    # Folders with a `checkpoint` state file: the newest checkpoint.
    assert resolve_checkpoint_prefix(root / "tf2") == str(root / "tf2" / "ckpt-2")
    assert resolve_checkpoint_prefix(root / "tf1") == str(root / "tf1" / "model.ckpt-2")
    with open_checkpoint(root / "tf1") as ckpt:
        assert ckpt["global_step"][()] == 2
    with open_checkpoint(root / "tf2") as ckpt:
        assert ckpt["net/step"][()] == 7
    # A folder with a single index and no state file.
    assert resolve_checkpoint_prefix(root / "many") == str(root / "many" / "ckpt")
    # TF Serving layout: the highest version.
    serving = tmp_path / "serving"
    shutil.copytree(sm, serving / "3")
    shutil.copytree(sm, serving / "12")
    (serving / "7").mkdir()
    assert resolve_checkpoint_prefix(serving) == str(serving / "12" / "variables" / "variables")
    # A state file written elsewhere (absolute paths that no longer exist).
    moved = tmp_path / "moved"
    shutil.copytree(root / "tf1", moved)
    (moved / "checkpoint").write_text(
        'model_checkpoint_path: "/nowhere/model.ckpt-1"\nall_model_checkpoint_paths: "/nowhere/model.ckpt-1"\n'
    )
    assert resolve_checkpoint_prefix(moved) == str(moved / "model.ckpt-1")


def test_keys_spec_and_mapping_protocol(tf_checkpoints: Checkpoints) -> None:
    with open_checkpoint(tf_checkpoints.prefix("tf1_newest")) as ckpt:
        keys = ckpt.keys()
        assert keys == sorted(keys)
        assert set(keys) == {"dense/kernel", "dense/bias", "counts", "words", "embedding", "big_embedding", "wide",
                             "tokens", "global_step"}
        assert list(ckpt) == keys
        assert "dense/kernel" in ckpt and "nope" not in ckpt and 3 not in ckpt
        assert [k for k, _ in ckpt.items()] == keys
        assert len(list(ckpt.values())) == len(keys)
        assert ckpt.get("nope") is None and ckpt.get("nope", 5) == 5
        spec = ckpt.spec("dense/kernel")
        assert isinstance(spec, VariableSpec)
        assert (spec.dtype, spec.tf_dtype, spec.shape, spec.nbytes, spec.shard) == (
            np.dtype(np.float32), "DT_FLOAT", (6, 4), 96, 0)
        assert spec.offset is not None and spec.size == 24 and not spec.partitioned
        words = ckpt.spec("words")
        assert words.dtype == object and words.tf_dtype == "DT_STRING"
        assert ckpt.num_shards == 1 and not ckpt.big_endian
        assert ckpt.path == tf_checkpoints.prefix("tf1_newest")
        assert ckpt.index_path.endswith(".index")
        assert "CheckpointReader" in repr(ckpt)
    assert "closed" in repr(ckpt)


def test_partitioned_variables_are_reassembled(tf_checkpoints: Checkpoints) -> None:
    session = tf_checkpoints.expected["tf1_newest"]["session"]
    with open_checkpoint(tf_checkpoints.prefix("tf1_newest")) as ckpt:
        for name, parts in (("embedding", 3), ("big_embedding", 3), ("wide", 2), ("tokens", 2)):
            spec = ckpt.spec(name)
            assert spec.partitioned and spec.shard is None and len(spec.slices) == parts
            full = ckpt[name]
            assert full.flags.writeable  # a new array
            if full.dtype == object:
                assert [bytes(x) for x in full.ravel()] == [bytes(x) for x in np.asarray(session[name]).ravel()]
            else:
                np.testing.assert_array_equal(full, session[name])
                np.testing.assert_array_equal(ckpt.reassemble(name), full)
            pieces = ckpt.slices(name)
            assert len(pieces) == parts
            rebuilt = np.empty_like(full)
            for index, piece in pieces:
                rebuilt[index] = piece
                if piece.dtype != object:
                    assert not piece.flags.writeable  # each stored slice is a view
            assert [bytes(x) if full.dtype == object else x for x in rebuilt.ravel()] == [
                bytes(x) if full.dtype == object else x for x in full.ravel()
            ]
            assert spec.nbytes == sum(
                ckpt._reader().entry(k).size for _, k in ckpt._reader().slice_parts(name)
            )
        # Slice keys are not listed as tensors.
        assert all(not k.startswith("\0") for k in ckpt.keys())
        with pytest.raises(errors.InvalidArgumentError, match="not partitioned"):
            ckpt.slices("dense/kernel")
        copy = ckpt.reassemble("dense/kernel")
        assert copy.flags.writeable and copy.flags.owndata
        np.testing.assert_array_equal(copy, ckpt["dense/kernel"])


def test_sharded_checkpoint(tf_checkpoints: Checkpoints) -> None:
    with open_checkpoint(tf_checkpoints.prefix("sharded")) as ckpt:
        assert ckpt.num_shards == 2
        assert {ckpt.spec(k).shard for k in ckpt.keys()} == {0, 1}
        assert ckpt.verify() == []
        np.testing.assert_array_equal(ckpt["b"], np.arange(8).reshape(2, 4))
        assert list(ckpt["c"]) == [b"s0", b"s1"]


def test_tf2_friendly_names(tf_checkpoints: Checkpoints) -> None:
    with open_checkpoint(tf_checkpoints.prefix("tf2_newest")) as ckpt:
        aliases = ckpt.aliases
        # The object path without the .ATTRIBUTES suffix...
        assert aliases["net/head/bias"] == "net/head/bias/.ATTRIBUTES/VARIABLE_VALUE"
        assert aliases["save_counter"] == "save_counter/.ATTRIBUTES/VARIABLE_VALUE"
        # ...and the variable's own name from the object graph where it is unique.
        assert aliases["hidden_kernel"] == "net/hidden/kernel/.ATTRIBUTES/VARIABLE_VALUE"
        assert "bias" not in aliases  # two variables are named "bias"
        assert ckpt.friendly_name("net/hidden/kernel/.ATTRIBUTES/VARIABLE_VALUE") == "hidden_kernel"
        assert ckpt.friendly_name("net/head/bias/.ATTRIBUTES/VARIABLE_VALUE") == "net/head/bias"
        assert ckpt.spec("net/head/bias").name == "net/head/bias/.ATTRIBUTES/VARIABLE_VALUE"
        np.testing.assert_array_equal(ckpt["net/head/bias"], [1.0, 2.0, 3.0])
        for alias, key in aliases.items():
            assert alias in ckpt and alias not in ckpt.keys()
            assert ckpt[alias].__array_interface__ == ckpt[key].__array_interface__ or ckpt[alias].dtype == object
        graph = ckpt.object_graph()
        assert graph is not None and len(graph) > 5
        children = {name for _, name in graph[0][0]}
        assert {"net", "optimizer", "save_counter"} <= children
    with open_checkpoint(tf_checkpoints.prefix("tf1_newest")) as ckpt:
        assert dict(ckpt.aliases) == {}
        assert ckpt.object_graph() is None
        assert ckpt.friendly_name("counts") == "counts"


def test_unknown_name_suggests_close_ones(tf_checkpoints: Checkpoints) -> None:
    with open_checkpoint(tf_checkpoints.prefix("tf1_newest")) as ckpt:
        with pytest.raises(CheckpointKeyError, match="did you mean 'dense/kernel'") as info:
            ckpt["dense/kernal"]
        assert isinstance(info.value, errors.NotFoundError) and isinstance(info.value, KeyError)
        assert tf_checkpoints.prefix("tf1_newest") in str(info.value)
        with pytest.raises(TypeError):
            ckpt[3]  # type: ignore[index]


@pytest.mark.parametrize("label", LABELS)
def test_verify_passes_on_good_checkpoints(tf_checkpoints: Checkpoints, label: str) -> None:
    with open_checkpoint(tf_checkpoints.prefix(label)) as ckpt:
        assert ckpt.verify() == []
        for key in ckpt.keys():
            ckpt.get_tensor(key, verify=True)


def test_threads_read_the_same_values(tf_checkpoints: Checkpoints) -> None:
    prefix = tf_checkpoints.prefix("dtypes")
    with open_checkpoint(prefix) as ckpt:
        reference = {k: ckpt[k] for k in ckpt.keys()}
        results: list[Any] = []
        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            def work() -> None:
                try:
                    got = {k: ckpt.get_tensor(k, verify=True) for k in ckpt.keys()}
                    results.append(all(
                        np.array_equal(got[k], v) if v.dtype != object else list(got[k].ravel()) == list(v.ravel())
                        for k, v in reference.items()
                    ) and ckpt.verify() == [])
                except BaseException as e:  # noqa: BLE001  # pragma: no cover - reported below
                    results.append(e)

            threads = [threading.Thread(target=work) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(old)
        assert results == [True] * 4


def _crc32c_reference(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def test_crc32c_matches_the_definition() -> None:
    assert _core.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert _core.crc32c(b"") == 0
    rng = np.random.default_rng(1)
    blob = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    for start in range(9):
        for length in (0, 1, 7, 8, 9, 31, 32, 33, 100, 250):
            piece = blob[start : start + length]
            want = _crc32c_reference(piece)
            assert _core.crc32c(piece) == want
            assert _core.crc32c(piece, portable=True) == want
    # Extending: crc(a + b) == extend(crc(a), b).
    assert _core.crc32c(blob[100:], _core.crc32c(blob[:100])) == _core.crc32c(blob)
    assert isinstance(_core.crc32c_hardware(), bool)


# ------------------------------------------------- third-party checkpoints ---


def _testdata_indexes(root: Path) -> list[Path]:
    return sorted(root.rglob("*.index"))


def test_every_testdata_checkpoint_reads_and_verifies(testdata: Path) -> None:
    indexes = _testdata_indexes(testdata)
    assert len(indexes) > 50
    for index in indexes:
        with open_checkpoint(index) as ckpt:
            assert ckpt.verify() == [], index
            for key in ckpt.keys():
                value = ckpt[key]
                assert value.shape == ckpt.spec(key).shape, (index, key)


# Values recorded in shared/testdata/PROVENANCE.md (TensorFlow 2.21's checkpoint reader).
PROVENANCE_VALUES = [
    ("tensorflow/checkpoints/profiler_ckpt", "ScalarW", "float32", (), [0.002026]),
    ("tensorflow/checkpoints/profiler_ckpt", "DW", "float32", (3, 3, 3, 6), None),
    ("tensorflow/checkpoints/profiler_ckpt", "DW2", "float32", (2, 2, 6, 12), None),
    ("tensorflow/checkpoints/feature_column_embedding", "my_embedding", "float32", (3, 2), None),
    ("tensorflow/checkpoints/tensorrt_mnist", "global_step", "int64", (), [46900]),
    ("tensorflow/checkpoints/tensorrt_mnist", "beta1_power", "float32", (), [0.0]),
    ("tensorflow/checkpoints/tensorrt_mnist", "conv2d/bias", "float32", (32,), None),
    ("tfx/trainer_current_Format-Serving/model.ckpt-1000", "dnn/logits/bias", "float32", (1,), [-0.068898]),
    ("tfx/trainer_current_Format-Serving/model.ckpt-1000", "global_step", "int64", (), [1000]),
    ("tfx/trainer_current_Format-Serving/model.ckpt-1000", "linear/linear_model/bias_weights", "float32", (1,),
     [-0.14862]),
    ("tfx/trainer_current_Format-Serving/model.ckpt-1000", "dnn/hiddenlayer_1/kernel", "float32", (100, 70), None),
    ("tensorflow_onnx/regression_checkpoint", "W", "float32", (), [0.213962]),
    ("tensorflow_onnx/regression_checkpoint", "b", "float32", (), [1.049525]),
    ("tensorflow/historical/session_bundle_half_plus_two_ckpt_v2/00000123/export", "a", "float32", (), [0.5]),
    ("tensorflow/historical/session_bundle_half_plus_two_ckpt_v2/00000123/export", "b", "float32", (), [2.0]),
    ("tensorflow/checkpoints/old_string_tensors/foo", "floats", "float32", (2, 3), None),
    ("tensorflow/checkpoints/old_string_tensors/foo", "scalar", "object", (1,), [b"hello"]),
    ("tensorflow/checkpoints/old_string_tensors/foo", "string_tensor", "object", (1,), [b""]),
    ("tensorflow/checkpoints/table_legacy_saveable_object", "lookup_table/.ATTRIBUTES/table-keys", "int64", (32, 1),
     None),
    ("tensorflow/checkpoints/table_legacy_saveable_object", "lookup_table/.ATTRIBUTES/table-values", "int64",
     (32, 1), None),
]  # fmt: skip


@pytest.mark.parametrize(("where", "key", "dtype", "shape", "values"), PROVENANCE_VALUES)
def test_testdata_values_match_provenance(
    testdata: Path, where: str, key: str, dtype: str, shape: tuple, values: list | None
) -> None:
    with open_checkpoint(testdata / where) as ckpt:
        value = ckpt[key]
        assert value.dtype == np.dtype(dtype)
        assert value.shape == shape
        if values is not None:
            if value.dtype == object:
                assert list(value.ravel()) == values
            else:
                np.testing.assert_allclose(value.ravel(), values, rtol=0, atol=1e-6)


def test_old_string_tensors(testdata: Path) -> None:
    with open_checkpoint(testdata / "tensorflow/checkpoints/old_string_tensors") as ckpt:
        strs = list(ckpt["strs"])
        assert strs[:2] == [b"hello", b""]
        assert len(strs) == 4 and set(strs[3]) == {ord("c")} and len(strs[3]) > 100


def test_snappy_compressed_testdata_index(testdata: Path) -> None:
    # TF 1.0-era SavedModels carry snappy-compressed index blocks.
    folder = testdata / "tensorflow_serving/saved_model_half_plus_two_cpu/00000123"
    with open_checkpoint(folder) as ckpt:
        assert ckpt.keys() == ["a", "a2", "b", "c", "c2"]
        assert ckpt["a"][()] == 0.5 and ckpt["b"][()] == 2.0


def test_v1_checkpoints_are_refused_clearly(testdata: Path) -> None:
    for where in ("tensorflow/historical/half_plus_two_2016_v1_checkpoint",
                  "tensorflow_serving/bad_half_plus_two/00000123",
                  "tensorflow_serving/session_bundle_half_plus_two"):  # fmt: skip
        with pytest.raises(errors.UnimplementedError, match="V1-format checkpoint"):
            open_checkpoint(testdata / where)


def test_savedmodel_without_variables(testdata: Path) -> None:
    with pytest.raises(errors.NotFoundError, match="no variables checkpoint"):
        open_checkpoint(testdata / "tensorflow/cc_saved_model_testdata/bert1")


# ------------------------------------------------------------- the CLI ---


def _vars(*argv: str, capsys: Any) -> tuple[int, str, str]:
    status = vars_main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_lists_variables(tf_checkpoints: Checkpoints, capsys: Any) -> None:
    status, out, _ = _vars(str(tf_checkpoints.root / "tf1"), capsys=capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["name", "dtype", "shape", "size"]
    row = next(line for line in lines if line.startswith("dense/kernel "))
    assert row.split()[:4] == ["dense/kernel", "float32", "(6,", "4)"]
    assert any(line.startswith("embedding ") and "in 3 slices" in line for line in lines)
    assert lines[-1].startswith("9 variables,") and "model.ckpt-2" in lines[-1]
    status, out, _ = _vars(str(tf_checkpoints.root / "tf2"), "--json", capsys=capsys)
    listing = json.loads(out)
    rows = {r["name"]: r for r in listing["variables"]}
    assert rows["net/hidden/kernel/.ATTRIBUTES/VARIABLE_VALUE"]["friendly_name"] == "hidden_kernel"
    assert rows["net/hidden/kernel/.ATTRIBUTES/VARIABLE_VALUE"]["shape"] == [5, 7]


def test_cli_dump_and_verify(tf_checkpoints: Checkpoints, capsys: Any) -> None:
    status, out, _ = _vars(str(tf_checkpoints.root / "tf1"), "--dump", "counts", "--dump", "words", capsys=capsys)
    assert status == 0
    assert "counts: int64 (5,)" in out and "[0, 1, 2, 3, 4]" in out and "b'three'" in out
    status, out, _ = _vars(str(tf_checkpoints.root / "tf2"), "--dump", "net/head/bias", capsys=capsys)
    assert "net/head/bias -> net/head/bias/.ATTRIBUTES/VARIABLE_VALUE" in out and "[1., 2., 3.]" in out
    status, out, _ = _vars(tf_checkpoints.prefix("dtypes"), "--verify", capsys=capsys)
    assert status == 0 and out.startswith("OK: ")
    status, _, err = _vars(tf_checkpoints.prefix("dtypes"), "--dump", "nope", capsys=capsys)
    assert status == 2 and "no tensor 'nope'" in err


def test_cli_export_npz(tf_checkpoints: Checkpoints, tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "weights.npz"
    status, out, err = _vars(tf_checkpoints.prefix("dtypes"), "--export", str(target), capsys=capsys)
    assert status == 0 and "wrote" in out
    assert "ml_dtypes" in err  # bfloat16 and friends are stored as raw bytes
    with np.load(target) as saved, open_checkpoint(tf_checkpoints.prefix("dtypes")) as ckpt:
        assert sorted(saved.files) == ckpt.keys()
        for key in ckpt.keys():
            want = ckpt[key]
            got = saved[key]
            if want.dtype == object:
                assert [bytes(x) for x in got.ravel()] == [bytes(x) for x in want.ravel()]
            else:
                assert got.tobytes() == want.tobytes() and got.shape == want.shape


def test_cli_export_safetensors(tf_checkpoints: Checkpoints, tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("safetensors", reason="safetensors is an optional extra")
    from safetensors import safe_open

    target = tmp_path / "weights.safetensors"
    status, _, err = _vars(str(tf_checkpoints.root / "tf1"), "--export", str(target), capsys=capsys)
    assert status == 0
    assert "skipped words (strings" in err and "skipped tokens" in err
    with safe_open(str(target), framework="np") as saved, open_checkpoint(tf_checkpoints.root / "tf1") as ckpt:
        assert sorted(saved.keys()) == ["big_embedding", "counts", "dense/bias", "dense/kernel", "embedding",
                                        "global_step", "wide"]
        for key in saved.keys():
            np.testing.assert_array_equal(saved.get_tensor(key), ckpt[key])
    status, _, err = _vars(str(tf_checkpoints.root / "tf1"), "--export", str(tmp_path / "x.bin"), capsys=capsys)
    assert status == 2 and ".npz or .safetensors" in err

