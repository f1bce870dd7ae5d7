"""tfbundle.inspect: SavedModels read without TensorFlow, checked against TensorFlow's own protos.

The imodels are made with TensorFlow's Python API in a subprocess and cached (see
makers/cli_models.py); TensorFlow's reading of each one (the oracle, see _inspect_models.py)
runs in a subprocess too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import _inspect_models as M  # noqa: N812 - the oracles, named on many lines
from _factory import tensorflow_version, tf_env
from _util import saved_model_dirs, tfbundle_env
from makers.cli_models import MODEL_NAMES
from tfbundle import _core
from tfbundle import tf_example as examples
from tfbundle._readers.inspect import DTYPE_NAMES, SavedModelInfo, dtype_name, inspect
from tfbundle._readers.policy import DENIED_OPS, check_graph, check_saved_model, findings
from tfbundle.errors import (
    DataLossError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnimplementedError,
)


@pytest.fixture(scope="session")
def oracle(imodels: str) -> dict[str, dict]:
    dirs = [os.path.join(imodels, name) for name in MODEL_NAMES]
    return dict(zip(dirs, M.inspect_oracle([{"dir": d} for d in dirs])))


def _shape(dims):
    return None if dims is None else tuple(None if d == -1 else d for d in dims)


def _check_against_oracle(info: SavedModelInfo, want: dict, *, binary: bool) -> None:
    assert info.schema_version == want["schema_version"]
    assert len(info.meta_graphs) == len(want["meta_graphs"])
    for mg, w in zip(info.meta_graphs, want["meta_graphs"]):
        assert list(mg.tags) == w["tags"]
        assert mg.tensorflow_version == w["tensorflow_version"]
        assert mg.tensorflow_git_version == w["tensorflow_git_version"]
        assert mg.stripped_default_attrs == w["stripped_default_attrs"]
        assert mg.has_object_graph == w["has_object_graph"]
        if binary:
            assert mg.graph_def_bytes == w["graph_def_bytes"]
        assert sorted(mg.signatures) == sorted(w["signatures"])
        for key, ws in w["signatures"].items():
            sig = mg.signatures[key]
            assert sig.method_name == ws["method_name"]
            for mine, theirs in ((sig.inputs, ws["inputs"]), (sig.outputs, ws["outputs"])):
                assert list(mine) == sorted(theirs)
                for k, (name, dtype, dims) in theirs.items():
                    assert mine[k].tensor_name == name
                    assert mine[k].tf_dtype == dtype_name(dtype)
                    assert mine[k].shape == _shape(dims), (key, k)
        assert [[a.tensor_name, a.filename] for a in mg.assets] == w["assets"]
        if w["saver"] is None:
            assert mg.saver is None
        else:
            s = mg.saver
            assert [
                s.filename_tensor_name,
                s.save_tensor_name,
                s.restore_op_name,
                s.version,
                s.sharded,
            ] == w["saver"]
        assert mg.ops is not None
        assert dict(mg.ops.counts) == w["counts"]
        assert len(mg.ops.functions) == w["num_functions"]
    if want["variables"] is None:
        assert info.variables.format in (None, "v1")
    else:
        assert info.variables.format == "v2"
        assert info.variables.count == want["variables"]["count"]
        if want["variables"]["total_bytes"] is not None:
            assert info.variables.total_bytes == want["variables"]["total_bytes"]
    if want["fingerprint"] is None:
        assert info.fingerprint is None
    else:
        fp = info.fingerprint
        assert fp is not None
        assert [fp.saved_model_checksum, fp.graph_def_program_hash, fp.signature_def_hash,
                fp.saved_object_graph_hash, fp.checkpoint_hash, fp.producer] == want["fingerprint"]  # fmt: skip


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_test_models_match_tensorflow(imodels: str, oracle: dict, name: str) -> None:
    d = os.path.join(imodels, name)
    info = inspect(d, ops=True)
    assert info.path == d
    _check_against_oracle(info, oracle[d], binary=info.format == "pb")


@pytest.mark.needs_tensorflow
def test_every_testdata_model_matches_tensorflow(testdata: Path) -> None:
    dirs = saved_model_dirs(testdata)
    oracle = dict(zip(dirs, M.inspect_oracle([{"dir": d} for d in dirs])))
    checked = 0
    for d in dirs:
        info = inspect(d, ops=True)
        try:
            _check_against_oracle(info, oracle[d], binary=info.format == "pb")
        except AssertionError as e:
            raise AssertionError(f"{d}: {e}") from e
        checked += 1
    assert checked >= 60


def test_signature_specs(imodels: str) -> None:
    info = inspect(os.path.join(imodels, "tf2_module"))
    mg = info.meta_graph()
    assert mg.tags == ("serve",)
    assert mg.tensorflow_version == tensorflow_version().split("+")[0]
    sig = mg.signatures["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    x = sig.inputs["x"]
    assert (x.tensor_name, x.tf_dtype, x.shape, str(x.dtype)) == (
        "serving_default_x:0",
        "DT_FLOAT",
        (None, 3),
        "float32",
    )
    assert set(sig.outputs) == {"y", "norm"}
    assert mg.signatures["lengths"].inputs["text"].dtype == object
    assert mg.signatures["unknown_rank"].inputs["anything"].shape is None
    assert "__saved_model_init_op" in mg.signatures
    assert mg.ops is None  # not asked for
    assert info.variables.count == 3 and info.variables.total_bytes == 6 * 4 + 2 * 4 + 8
    assert info.fingerprint is not None and info.fingerprint.singleprint.count("/") == 3


def test_two_tag_sets(imodels: str) -> None:
    info = inspect(os.path.join(imodels, "tf1_two_tags"))
    assert info.tag_sets == [frozenset({"serve"}), frozenset({"serve", "gpu"})]
    assert info.meta_graph("serve,gpu").tags == ("serve", "gpu")
    assert info.meta_graph(["gpu", "serve"]) is info.meta_graph("serve, gpu")
    assert info.meta_graph().tag_set == frozenset({"serve"})
    assert (
        info.meta_graph("serve").signatures["classify_x_to_y"].method_name
        == "tensorflow/serving/classify"
    )
    with pytest.raises(
        NotFoundError, match=r'no MetaGraph with the tag-set "train".*"serve", "serve,gpu"'
    ):
        info.meta_graph("train")
    assert info.fingerprint is None  # TF1 Builder writes none


def test_pbtxt_model_with_assets(imodels: str) -> None:
    d = os.path.join(imodels, "tf1_pbtxt_assets")
    info = inspect(d)
    assert info.format == "pbtxt" and info.file.endswith("saved_model.pbtxt")
    mg = info.meta_graph()
    assert mg.stripped_default_attrs
    assert [(a.tensor_name, a.filename, a.exists) for a in mg.assets] == [
        ("vocab_path:0", "vocab_src.txt", True)
    ]
    assert mg.assets[0].path == os.path.join(d, "assets", "vocab_src.txt")
    assert mg.init_op  # the main_op collection


@pytest.mark.parametrize("name", ["tf2_module", "tf1_two_tags", "keras_export"])
def test_pbtxt_reads_like_pb(imodels: str, name: str) -> None:
    """protobuf's own text printing of a model reads back exactly as the binary does."""
    d = os.path.join(imodels, name)
    txt = M.pbtxt_copy(d)
    a, b = inspect(d, ops=True), inspect(txt, ops=True)
    assert b.format == "pbtxt"
    for ma, mb in zip(a.meta_graphs, b.meta_graphs):
        assert ma.tags == mb.tags and ma.signatures == mb.signatures and ma.assets == mb.assets
        assert ma.saver == mb.saver and ma.ops == mb.ops and ma.init_op == mb.init_op
    raw_a = _core.inspect_saved_model(d, True, True)
    raw_b = _core.inspect_saved_model(txt, True, True)
    assert _plain(raw_a.functions) == _plain(raw_b.functions)


def _plain(value: object) -> object:
    """A reading of the core (its read-only objects, lists, dicts) as plain values, to compare."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if type(value).__module__ == _core.__name__:
        names = [n for n in dir(type(value)) if isinstance(getattr(type(value), n), property)]
        return {n: _plain(getattr(value, n)) for n in names}
    return value


def test_versioned_folder_picks_highest(testdata: Path) -> None:
    base = os.path.join(testdata, "tensorflow_serving", "saved_model_half_plus_two_2_versions")
    info = inspect(base)
    assert info.path == os.path.join(base, "00000124")
    assert inspect(os.path.join(base, "00000124", "saved_model.pb")).path == info.path


def test_empty_tag_set_and_v1_checkpoint(testdata: Path) -> None:
    empty = inspect(
        os.path.join(testdata, "tensorflow", "go_testdata", "half_plus_two_empty_tags")
    )
    assert empty.tag_sets == [frozenset()]
    assert empty.meta_graph("").tags == ()
    v1 = inspect(
        os.path.join(testdata, "tensorflow", "historical", "half_plus_two_2016_v1_checkpoint")
    )
    assert v1.variables.format == "v1"


def test_chunked_model(testdata: Path) -> None:
    src = os.path.join(
        testdata, "tensorflow", "cc_saved_model_testdata", "chunked_saved_model", "chunked_model"
    )
    # As shipped it also has saved_model.pbtxt, which is read (as TensorFlow does).
    assert inspect(src).format == "pbtxt"


def test_chunked_only_is_refused(tmp_path) -> None:
    (tmp_path / "saved_model.cpb").write_bytes(b"\x00" * 32)
    with pytest.raises(UnimplementedError, match=r"chunked SavedModel format.*re-export"):
        inspect(tmp_path)


def test_missing_and_not_a_model(tmp_path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        inspect(tmp_path / "nope")
    with pytest.raises(NotFoundError, match=r"no saved_model.pb or saved_model.pbtxt"):
        inspect(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotFoundError, match="is a file"):
        inspect(tmp_path / "file.txt")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _meta_graph(graph_def: bytes, tags: tuple[str, ...] = ("serve",)) -> bytes:
    info = b"".join(_ld(4, t.encode()) for t in tags) + _ld(5, b"2.99.0")
    tensor_info = (
        _ld(1, b"x:0") + _varint(2 << 3) + _varint(1)
    )  # name, dtype DT_FLOAT, no shape: scalar
    sig = (
        _ld(1, _ld(1, b"x") + _ld(2, tensor_info))
        + _ld(2, _ld(1, b"y") + _ld(2, tensor_info))
        + _ld(3, b"m")
    )
    return _ld(1, info) + _ld(2, graph_def) + _ld(5, _ld(1, b"serving_default") + _ld(2, sig))


def test_graph_is_skipped_unless_ops_are_asked(tmp_path) -> None:
    """A GraphDef of 8 MB of malformed bytes: read only with ops=True (so it is not parsed otherwise)."""
    garbage = b"\xff" * (8 << 20)
    (tmp_path / "saved_model.pb").write_bytes(
        _varint(1 << 3) + _varint(1) + _ld(2, _meta_graph(garbage))
    )
    info = inspect(tmp_path)
    mg = info.meta_graph()
    assert mg.graph_def_bytes == len(garbage)
    assert mg.signatures["serving_default"].inputs["x"].shape == ()
    assert mg.tensorflow_version == "2.99.0"
    with pytest.raises(DataLossError, match="GraphDef is malformed"):
        inspect(tmp_path, ops=True)


def test_malformed_saved_model_pb(tmp_path) -> None:
    good = _varint(1 << 3) + _varint(1) + _ld(2, _meta_graph(b""))
    cases = {
        "truncated": good[:-3],
        "garbage": b"\x0a\xff\xff\xff\xff\x0f",
        "empty": b"",
        "field zero": b"\x00\x01",
    }
    for name, data in cases.items():
        d = tmp_path / name.replace(" ", "_")
        d.mkdir()
        (d / "saved_model.pb").write_bytes(data)
        with pytest.raises(DataLossError) as e:
            inspect(d)
        assert str(d / "saved_model.pb") in str(e.value), name
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "saved_model.pb").write_bytes(good)
    assert inspect(tmp_path / "ok").meta_graph().signatures["serving_default"].method_name == "m"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("meta_graphs { meta_info_def { tags: 'serve' }", "line 1: missing '}'"),
        (
            "meta_graphs {\n  meta_info_def {\n    colour: 'red' } }",
            "line 3: tensorflow.MetaGraphDef.MetaInfoDef has no field named 'colour'",
        ),
        ("saved_model_schema_version: x", "expected an integer for saved_model_schema_version"),
        (
            "meta_graphs { signature_def { key: 'a' value { inputs { key: 'x' value { dtype: DT_NOPE } } } } }",
            "tensorflow.DataType has no value named 'DT_NOPE'",
        ),
        ("meta_graphs { meta_info_def { tags: 'unterminated } }", "unterminated string"),
        ("meta_graphs { meta_info_def { tags: serve } }", "expected a string for tags"),
    ],
)
def test_malformed_pbtxt(tmp_path, text: str, message: str) -> None:
    (tmp_path / "saved_model.pbtxt").write_text(text)
    with pytest.raises(DataLossError) as e:
        inspect(tmp_path)
    assert message in str(e.value)
    assert "saved_model.pbtxt is malformed" in str(e.value)


def test_pbtxt_syntax_variants(tmp_path) -> None:
    text = textwrap.dedent(
        r"""
        # a comment
        saved_model_schema_version: 0x1
        meta_graphs <
          meta_info_def: { tags: ["serve", 'gp' "u"]; tensorflow_version: "2.\x31\0620" }
          signature_def { key: "s" value { method_name: "caf\303\251"
            inputs { key: "x" value { name: "x:0" dtype: 1 tensor_shape { dim { size: -1 } dim { size: 3 } } } }
            outputs [{ key: "y" value { name: "y:0" dtype: DT_HALF tensor_shape { unknown_rank: true } } }] } }
          collection_def { key: "saved_model_assets" value { any_list { value {
            [type.googleapis.com/tensorflow.AssetFileDef] { tensor_info { name: "v:0" } filename: "vocab.txt" } } } } }
        >
        """
    )
    (tmp_path / "saved_model.pbtxt").write_text(text)
    info = inspect(tmp_path)
    assert info.schema_version == 1
    mg = info.meta_graph("serve,gpu")
    assert mg.tensorflow_version == "2.120"
    sig = mg.signatures["s"]
    assert sig.method_name == "café"
    assert sig.inputs["x"].shape == (None, 3) and sig.inputs["x"].tf_dtype == "DT_FLOAT"
    assert sig.outputs["y"].shape is None and sig.outputs["y"].tf_dtype == "DT_HALF"
    assert [(a.tensor_name, a.filename, a.exists) for a in mg.assets] == [
        ("v:0", "vocab.txt", False)
    ]


def test_variables_index_problems(imodels: str, tmp_path) -> None:
    d = tmp_path / "m"
    shutil.copytree(os.path.join(imodels, "tf1_simple"), d)
    good = inspect(d).variables
    assert (good.format, good.count, good.total_bytes, good.num_shards) == ("v2", 2, 32, 1)
    (d / "variables" / "variables.data-00000-of-00001").unlink()
    assert inspect(d).variables.missing_shards == ("variables.data-00000-of-00001",)
    (d / "variables" / "variables.index").write_bytes(b"not an sstable" * 10)
    broken = inspect(d)  # the rest of the model is still read
    assert broken.variables.error is not None and "variables.index" in broken.variables.error
    assert broken.meta_graph().signatures


def test_dtype_names() -> None:
    assert (
        dtype_name(1) == "DT_FLOAT"
        and dtype_name(7) == "DT_STRING"
        and dtype_name(101) == "DT_FLOAT_REF"
    )
    assert dtype_name(20) == "DT_RESOURCE" and dtype_name(999) == "DT_999"
    assert DTYPE_NAMES[33] == "DT_FLOAT4_E2M1FN"


def test_inspect_loads_no_tensorflow(imodels: str) -> None:
    """inspect and show --all never open TensorFlow's libraries (checked in /proc/self/maps)."""
    script = textwrap.dedent(
        f"""
        import sys
        from tfbundle._readers.inspect import inspect
        from tfbundle import cli
        info = inspect({os.path.join(imodels, "tf2_module")!r}, ops=True)
        assert info.meta_graph().ops.counts
        assert cli.main(["show", "--all", "--dir", {os.path.join(imodels, "keras_export")!r}]) == 0
        assert cli.main(["scan", "--dir", {os.path.join(imodels, "tf1_simple")!r}]) == 0
        maps = open("/proc/self/maps").read()
        assert "libtensorflow" not in maps, [l for l in maps.splitlines() if "tensorflow" in l][:3]
        assert "tensorflow" not in sys.modules
        print("clean")
        """
    )
    env = tfbundle_env()
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("clean")


# ------------------------------------------------------------------------ the op policy ---


def test_policy_finds_planted_ops(imodels: str) -> None:
    ops = inspect(os.path.join(imodels, "write_file"), ops=True).meta_graph().ops
    assert ops is not None and ops.counts["WriteFile"] == 1
    with pytest.raises(
        PermissionDeniedError, match=r"WriteFile \(writes a file, 1 node\).*allowed_ops='WriteFile'"
    ):
        check_graph(ops.policy_counts, what="the model")
    check_graph(ops.policy_counts, allowed_ops=["WriteFile"])
    check_graph(ops.policy_counts, allowed_ops="WriteFile, Other")

    sneaky = inspect(os.path.join(imodels, "file_ops"), ops=True).meta_graph().ops
    assert sneaky is not None
    found = {f.op: f for f in findings(sneaky.policy_counts)}
    assert {"ReadFile", "PrintV2(file)", "RestoreV2"} <= set(found)
    assert all(found[o].denied for o in ("ReadFile", "PrintV2(file)", "RestoreV2"))
    # its saver's own RestoreV2 (in the traced restore function) is not counted
    assert sneaky.counts["RestoreV2"] == 2 and sneaky.policy_counts["RestoreV2"] == 1
    with pytest.raises(PermissionDeniedError) as e:
        check_saved_model(os.path.join(imodels, "file_ops"))
    assert "ReadFile" in str(e.value) and "PrintV2(file)" in str(e.value)
    check_saved_model(
        os.path.join(imodels, "file_ops"), allowed_ops=["ReadFile", "PrintV2", "RestoreV2"]
    )


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n not in ("write_file", "file_ops")])
def test_policy_accepts_clean_models(imodels: str, name: str) -> None:
    check_saved_model(os.path.join(imodels, name), tags=None if name != "tf1_two_tags" else "serve")
    ops = inspect(os.path.join(imodels, name), ops=True).meta_graphs[0].ops
    assert ops is not None
    # their savers' checkpoint ops are counted as ops but left out of the policy's view
    assert any(op in ops.counts for op in ("SaveV2", "RestoreV2"))
    assert not any(op in ops.policy_counts for op in ("SaveV2", "RestoreV2", "MergeV2Checkpoints"))


def test_policy_on_testdata_models(testdata: Path) -> None:
    """Only AssetModule is denied: its function reads its asset with ReadFile (a real file read)."""
    denied = {}
    for d in saved_model_dirs(testdata):
        info = inspect(d, ops=True)
        for mg in info.meta_graphs:
            assert mg.ops is not None
            bad = [f.op for f in findings(mg.ops.policy_counts) if f.denied]
            if bad:
                denied[os.path.relpath(d, testdata)] = bad
    assert denied == {
        os.path.join("tensorflow", "cc_saved_model_testdata", "AssetModule"): ["ReadFile"]
    }


def test_policy_extra_denials_and_notes() -> None:
    ops = {"MatMul": 2, "InitializeTableFromTextFileV2": 1, "PrintV2": 1}
    found = findings(ops)
    assert [(f.op, f.denied) for f in found] == [("InitializeTableFromTextFileV2", False)]
    check_graph(ops)
    with pytest.raises(PermissionDeniedError, match=r"MatMul .denied by the caller"):
        check_graph(ops, denied_ops="MatMul")
    assert "WriteFile" in DENIED_OPS and "PyFunc" in DENIED_OPS and "PrintV2" not in DENIED_OPS


# ------------------------------------------------------------- the generated C++ tables ---


@pytest.mark.needs_tensorflow
def test_generated_op_registry_matches_tensorflow(tmp_path) -> None:
    """cpp/op_registry_data.inc is what TensorFlow's op registry says (regenerated).

    cpp/text_schema_data.inc is made from proto/ (tests/test_proto_schema.py checks both).
    """
    assert _core.registered_op("StatefulPartitionedCall") == ("@Tout", "Tin,Tout,f")
    assert _core.registered_op("TRTEngineOp") is None
    if tensorflow_version().split("+")[0] != _core.op_registry_version():
        pytest.skip("the op registry grows with TensorFlow's versions: compared with its own version only")
    out = tmp_path / "op_registry_data.inc"
    proc = subprocess.run(
        [sys.executable, M.__file__, "gen-op-registry", str(out)],
        capture_output=True,
        text=True,
        env=tf_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(os.path.join(M.REPO, "cpp", "op_registry_data.inc")) as f:
        assert f.read() == out.read_text(), (
            "regenerate: python tests/_inspect_models.py gen-op-registry cpp/op_registry_data.inc"
        )


# ------------------------------------------------------------------------- tf.Example ---


def _kinds(record: dict) -> dict:
    """The TF-side description of a record, for the oracle."""
    out = {}
    for name, values in examples.decode(examples.encode_example(record)).items():
        if values and isinstance(values[0], bytes):
            out[name] = ["bytes_list", [v.hex() for v in values]]
        elif values and isinstance(values[0], float):
            out[name] = ["float_list", values]
        else:
            out[name] = ["int64_list", values]
    return out


@pytest.mark.needs_tensorflow
def test_examples_match_tensorflow() -> None:
    import numpy as np

    records = [
        {"age": [22, 24], "education": [b"BS", b"MS"]},
        {"x": [1.0]},
        {"x": 2.5, "name": "José", "flags": [True, False], "big": [2**62, -(2**63)]},
        {"arr": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array([3, 4], np.int64),
         "words": np.array(["a", "bc"]), "mixed": [1, 2.5]},
        {},
    ]  # fmt: skip
    want = M.examples_oracle([{"features": _kinds(r)} for r in records])
    got = examples.encode(records)
    assert [g.hex() for g in got] == [w["hex"] for w in want]
    assert examples.decode(got[0]) == {"age": [22, 24], "education": [b"BS", b"MS"]}
    assert examples.decode(got[2])["name"] == ["José".encode()]
    assert examples.decode(got[3])["arr"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert examples.encode({"x": [1.0]}) == [got[1]]


def test_examples_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="feature 'x' has no values"):
        examples.encode_example({"x": []})
    with pytest.raises(InvalidArgumentError, match="feature 'x' mixes"):
        examples.encode_example({"x": [1, b"a"]})
    with pytest.raises(InvalidArgumentError, match="feature 'x' mixes"):
        examples.encode_example({"x": [[1, 2], [3]]})
    with pytest.raises(InvalidArgumentError, match="does not fit in an int64"):
        examples.encode_example({"x": [2**64]})
    with pytest.raises(InvalidArgumentError, match="expected a list"):
        examples.encode_example({"x": {"a": 1}})
    with pytest.raises(TypeError, match="must be a dict"):
        examples.encode([[1, 2]])
    with pytest.raises(TypeError, match="feature names must be str"):
        examples.encode_example({1: [1]})
    with pytest.raises(InvalidArgumentError, match=r"not a serialized tf.Example"):
        examples.decode(b"\xff\xff\xff")


@pytest.mark.needs_tensorflow
def test_examples_beside_tensorflow() -> None:
    """tfbundle's private Example schema and TensorFlow's live in one process without a clash."""
    script = textwrap.dedent(
        """
        import tensorflow as tf
        from tfbundle import tf_example as examples
        data = examples.encode([{"a": [1, 2], "b": [b"x"]}])[0]
        ex = tf.train.Example.FromString(data)
        assert list(ex.features.feature["a"].int64_list.value) == [1, 2]
        assert examples.decode(ex.SerializeToString()) == {"a": [1, 2], "b": [b"x"]}
        print("ok")
        """
    )
    env = tfbundle_env(tf_env())
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


def test_fingerprint_parse(tmp_path) -> None:
    """fingerprint.pb fields, and a malformed one named in the error."""
    good = _varint(1 << 3) + _varint(1) + _ld(2, _meta_graph(b""))
    (tmp_path / "saved_model.pb").write_bytes(good)
    fp = b"".join(
        _varint(i << 3) + _varint(v) for i, v in [(1, 11), (2, 22), (3, 33), (4, 44), (5, 55)]
    )
    fp += _ld(6, _varint(1 << 3) + _varint(1)) + _ld(7, b"abc")
    (tmp_path / "fingerprint.pb").write_bytes(fp)
    f = inspect(tmp_path).fingerprint
    assert f is not None and (f.saved_model_checksum, f.checkpoint_hash, f.producer, f.uuid) == (
        11,
        55,
        1,
        "abc",
    )
    assert f.singleprint == "22/33/44/55"
    (tmp_path / "fingerprint.pb").write_bytes(b"\x0a\x05ab")
    with pytest.raises(DataLossError, match=r"fingerprint.pb"):
        inspect(tmp_path)


def test_to_dict_is_json(tmp_path) -> None:
    import json

    good = _varint(1 << 3) + _varint(1) + _ld(2, _meta_graph(b""))
    (tmp_path / "saved_model.pb").write_bytes(good)
    doc = json.loads(json.dumps(inspect(tmp_path, ops=True).to_dict()))
    assert doc["meta_graphs"][0]["signatures"]["serving_default"]["inputs"]["x"] == {
        "tensor_name": "x:0", "dtype": "DT_FLOAT", "shape": [], "encoding": "dense"}  # fmt: skip
    assert doc["meta_graphs"][0]["ops"]["counts"] == {}
