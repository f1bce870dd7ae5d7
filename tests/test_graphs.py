"""load_checkpoint_graph and load_graph: TF1 checkpoints, SessionBundles and frozen GraphDefs.

The checkpoints and frozen graphs are made by TensorFlow's Python API in a child
process (tests/makers/graphs.py, through the ``tf_models`` fixture); TensorFlow's own
answers (``import_meta_graph`` + ``Saver.restore``, or a session on the frozen graph)
are saved beside them and compared with tfbundle's. The third-party checkpoints and
legacy SessionBundles of the ``testdata`` fixture are checked against its PROVENANCE.md.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tfbundle
from _util import examples
from tfbundle import errors
from tfbundle._runtime.graphs import (
    ChosenSignature,
    GraphModel,
    InferredSignatureWarning,
    latest_checkpoint,
    load_checkpoint_graph,
    load_graph,
)


@pytest.fixture(scope="module")
def graphs(tf_models: Callable[[str], Path]) -> Path:
    return tf_models("graphs")


@pytest.fixture(scope="module")
def oracle(graphs: Path) -> dict[str, np.ndarray]:
    with np.load(graphs / "oracle.npz", allow_pickle=True) as z:
        return {k: z[k] for k in z.files}


def _same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------ checkpoints ---


def test_folder_loads_the_newest_checkpoint(graphs: Path, oracle: dict) -> None:
    """The `checkpoint` file names model.ckpt-2 by an absolute path that no longer exists
    (the folder was moved): the prefix is found in the folder itself."""
    with load_checkpoint_graph(graphs / "train") as m:
        assert isinstance(m, GraphModel) and m.source == "checkpoint"
        assert m.checkpoint == str(graphs / "train" / "model.ckpt-2")
        assert m.graph_file == str(graphs / "train" / "model.ckpt-2.meta")
        assert dict(m.signatures) == {}
        x, words = oracle["X"], oracle["WORDS"]
        _same(m.run("y:0", {"x:0": x}), oracle["train2_y"])
        # No init op in a training graph: local variables and tables are initialised,
        # as TensorFlow's SavedModel builder's default main op does.
        _same(m.run("ids:0", {"words:0": words}), oracle["train2_ids"])
        _same(m.run("y_offset", {"x": x}), oracle["train2_y_offset"])
    assert latest_checkpoint(graphs / "train") == str(graphs / "train" / "model.ckpt-2")


@pytest.mark.parametrize(
    "given",
    ["model.ckpt-1", "model.ckpt-1.meta", "model.ckpt-1.index", "model.ckpt-1.data-00000-of-00001"],
)
def test_prefix_meta_index_or_data_file(graphs: Path, oracle: dict, given: str) -> None:
    """Without a `checkpoint` file: the prefix, its .meta, .index or data file."""
    with load_checkpoint_graph(graphs / "nostate" / given) as m:
        assert m.checkpoint == str(graphs / "nostate" / "model.ckpt-1")
        _same(m.run("y:0", {"x:0": oracle["X"]}), oracle["train1_y"])


@pytest.mark.parametrize(
    ("folder", "key"),
    [
        ("relative", "relative_y"),
        ("partitioned", "partitioned_y"),
        ("v1", "v1_y"),
        ("v1sharded", "v1sharded_y"),
    ],
)
def test_checkpoint_flavours(graphs: Path, oracle: dict, folder: str, key: str) -> None:
    """Resource variables with relative paths; a partitioned variable with a sharded Saver;
    the V1 format, in one file and in shards (whose `checkpoint` file names a pattern)."""
    with load_checkpoint_graph(graphs / folder) as m:
        _same(m.run("y:0", {"x:0": oracle["X"]}), oracle[key])


def test_v1_sharded_pattern_is_the_checkpoint(graphs: Path) -> None:
    with load_checkpoint_graph(graphs / "v1sharded") as m:
        assert m.checkpoint == str(graphs / "v1sharded" / "model.ckpt-?????-of-00001")


def test_meta_signatures_become_signatures(graphs: Path, oracle: dict) -> None:
    with load_checkpoint_graph(graphs / "signature") as m:
        sig = m.signatures["serving_default"]
        assert sig.inputs["x"].dtype == np.float32 and sig.inputs["x"].shape == (None, 3)
        _same(m(x=oracle["X"])["y"], oracle["signature_y"])


def test_devices_pinned_to_a_parameter_server(graphs: Path, oracle: dict) -> None:
    """meta= takes the graph from another file; its /job:ps placements need clear_devices."""
    prefix, meta = graphs / "devices" / "weights", graphs / "devices" / "ps.meta"
    with pytest.raises(errors.InvalidArgumentError, match="clear_devices=True"):
        load_checkpoint_graph(prefix, meta=meta)
    with load_checkpoint_graph(prefix, meta=meta, clear_devices=True) as m:
        _same(m.run("y:0", {"x:0": oracle["X"]}), oracle["devices_y"])


def test_session_options_are_applied(graphs: Path, oracle: dict) -> None:
    with load_checkpoint_graph(graphs / "train", intra_op_threads=1, inter_op_threads=1) as m:
        _same(m.run("y:0", {"x:0": oracle["X"]}), oracle["train2_y"])
        assert [d.type for d in m.devices()] == ["CPU"]
    with pytest.raises(
        errors.InvalidArgumentError, match="intra_op_threads must be a non-negative int"
    ):
        load_checkpoint_graph(graphs / "train", intra_op_threads=-1)


# ------------------------------------------------- checkpoint refusals ---


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(errors.NotFoundError, match="does not exist"):
        load_checkpoint_graph(tmp_path / "nope" / "model.ckpt")


def test_folder_without_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(errors.NotFoundError, match="holds no TF1 checkpoint tfbundle can find"):
        load_checkpoint_graph(tmp_path)


def test_folder_with_several_meta_files(graphs: Path, tmp_path: Path) -> None:
    shutil.copytree(graphs / "nostate", tmp_path / "ck")
    with pytest.raises(errors.NotFoundError, match=r"it has 2 .meta files: pass one of them"):
        load_checkpoint_graph(tmp_path / "ck")


def test_prefix_without_data(graphs: Path) -> None:
    with pytest.raises(errors.NotFoundError, match=r"no checkpoint at .*model\.ckpt-9: expected"):
        load_checkpoint_graph(graphs / "nostate" / "model.ckpt-9")


def test_prefix_without_meta(graphs: Path, tmp_path: Path) -> None:
    for f in (graphs / "nostate").glob("model.ckpt-1.*"):
        if f.suffix != ".meta":
            shutil.copy(f, tmp_path / f.name)
    with pytest.raises(
        errors.NotFoundError, match=r"has no model\.ckpt-1\.meta beside it.*pass meta="
    ):
        load_checkpoint_graph(tmp_path / "model.ckpt-1")


def test_meta_argument_missing(graphs: Path) -> None:
    with pytest.raises(errors.NotFoundError, match=r"meta=.* does not exist"):
        load_checkpoint_graph(graphs / "train", meta=graphs / "missing.meta")


def test_checkpoint_file_naming_a_missing_prefix(graphs: Path, tmp_path: Path) -> None:
    shutil.copytree(graphs / "nostate", tmp_path / "ck")
    (tmp_path / "ck" / "checkpoint").write_text(
        'model_checkpoint_path: "model.ckpt-5"\nall_model_checkpoint_paths: "model.ckpt-1"\n'
        'all_model_checkpoint_paths: "model.ckpt-5"\n'
    )
    with pytest.raises(
        errors.NotFoundError,
        match=r"names 'model\.ckpt-5'.*checkpoints that are there: .*model\.ckpt-1",
    ):
        load_checkpoint_graph(tmp_path / "ck")


def test_malformed_checkpoint_file(graphs: Path, tmp_path: Path) -> None:
    shutil.copytree(graphs / "nostate", tmp_path / "ck")
    (tmp_path / "ck" / "checkpoint").write_text("model_checkpoint_path = model.ckpt-1\n")
    with pytest.raises(errors.DataLossError, match="is not a valid text-format CheckpointState"):
        load_checkpoint_graph(tmp_path / "ck")
    (tmp_path / "ck" / "checkpoint").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(errors.DataLossError, match="not a text CheckpointState file"):
        load_checkpoint_graph(tmp_path / "ck")
    (tmp_path / "ck" / "checkpoint").write_text('all_model_checkpoint_paths: "model.ckpt-1"\n')
    with pytest.raises(errors.DataLossError, match="names no model_checkpoint_path"):
        load_checkpoint_graph(tmp_path / "ck")


def test_checkpoint_file_escapes_and_timestamps(graphs: Path, tmp_path: Path, oracle: dict) -> None:
    """Text-format octal escapes in the path (as protobuf writes non-ASCII bytes), and the
    timestamp fields newer Savers write."""
    folder = tmp_path / "caf\u00e9"
    shutil.copytree(graphs / "nostate", folder)
    escaped = "".join(
        chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03o}"
        for b in str(folder / "model.ckpt-1").encode()
    )
    assert "\\303\\251" in escaped
    (folder / "checkpoint").write_text(
        f'model_checkpoint_path: "{escaped}"\n'
        "all_model_checkpoint_timestamps: 1700000000.5\nlast_preserved_timestamp: 1699999999.0\n"
    )
    with load_checkpoint_graph(folder) as m:
        assert m.checkpoint == str(folder / "model.ckpt-1")
        _same(m.run("y:0", {"x:0": oracle["X"]}), oracle["train1_y"])


def test_garbage_meta_file(graphs: Path, tmp_path: Path) -> None:
    for f in (graphs / "nostate").glob("model.ckpt-1.*"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "model.ckpt-1.meta").write_bytes(b"\x0a\xff\xff\xff\xff\x0f" + b"x" * 10)
    with pytest.raises(errors.DataLossError, match="is truncated"):
        load_checkpoint_graph(tmp_path / "model.ckpt-1")
    (tmp_path / "model.ckpt-1.meta").write_bytes(b"\x1a\x02\x0a\x00")  # a SaverDef, no graph
    with pytest.raises(errors.DataLossError, match="holds no graph"):
        load_checkpoint_graph(tmp_path / "model.ckpt-1")
    (tmp_path / "model.ckpt-1.meta").write_text('meta_info_def {\n  tags: "serve"\n}\n')
    with pytest.raises(errors.UnimplementedError, match="text-format MetaGraphDef"):
        load_checkpoint_graph(tmp_path / "model.ckpt-1")


def test_meta_graph_without_saver(graphs: Path) -> None:
    with pytest.raises(errors.FailedPreconditionError, match="has variables but no SaverDef"):
        load_checkpoint_graph(graphs / "nosaver")


def test_saved_model_folder_is_pointed_to_load(testdata: Path) -> None:
    folder = testdata / "tensorflow_serving/saved_model_half_plus_two_cpu/00000123"
    with pytest.raises(
        errors.NotFoundError,
        match=r"is a SavedModel, not a checkpoint: load it with tfbundle\.load",
    ):
        load_checkpoint_graph(folder)


def test_checkpoint_without_meta_in_testdata(testdata: Path) -> None:
    """tensorrt_mnist ships model.ckpt-46900 without its graph."""
    with pytest.raises(
        errors.NotFoundError, match=r"has no model\.ckpt-46900\.meta beside it.*open_checkpoint"
    ):
        load_checkpoint_graph(testdata / "tensorflow/checkpoints/tensorrt_mnist")


def test_use_after_close(graphs: Path, oracle: dict) -> None:
    m = load_checkpoint_graph(graphs / "train")
    m.close()
    with pytest.raises(errors.ClosedError, match="was closed"):
        m.run("y:0", {"x:0": oracle["X"]})


# ------------------------------------------------------------ frozen graphs ---


@pytest.mark.parametrize("name", ["frozen.pb", "frozen.pbtxt"])
def test_frozen_graph_chooses_and_says(graphs: Path, oracle: dict, name: str) -> None:
    with pytest.warns(
        InferredSignatureWarning, match=r"inputs \(placeholders\): x:0; outputs .*: top:0, total:0"
    ):
        m = load_graph(graphs / name)
    with m:
        assert m.source == "frozen_graph" and m.checkpoint is None
        assert m.chosen == ChosenSignature(
            {"x": "x:0"}, {"top": "top:0", "total": "total:0"}, ("temperature:0",)
        )
        sig = m.signatures["serving_default"]
        assert sig.method_name == "tensorflow/serving/predict"
        assert sig.inputs["x"].dtype == np.float32 and sig.inputs["x"].shape == (None, 3)
        assert sig.outputs["top"].dtype == np.int64 and sig.outputs["total"].dtype == np.float32
        out = m(x=oracle["X"])
        _same(out["top"], oracle["frozen_top"])
        _same(out["total"], oracle["frozen_total"])
        # Every tensor stays reachable by name, the optional input too.
        _same(
            m.run("probs:0", {"x:0": oracle["X"], "temperature:0": np.float32(2.0)}),
            oracle["frozen_probs_t2"],
        )


def test_frozen_graph_explicit_bindings(graphs: Path, oracle: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # explicit: no warning
        m = load_graph(
            graphs / "frozen.pb",
            {"features": "x:0", "temperature": "temperature"},
            ["probs", "top:0"],
        )
    with m:
        assert m.chosen is None
        sig = m.default_signature
        assert set(sig.inputs) == {"features", "temperature"} and set(sig.outputs) == {
            "probs",
            "top",
        }
        assert sig.inputs["temperature"].shape == ()
        out = m(features=oracle["X"], temperature=np.float32(2.0))
        _same(out["probs"], oracle["frozen_probs_t2"])
    with load_graph(graphs / "frozen.pbtxt", "x", "probs", signature_name="classify") as m:
        assert list(m.signatures) == ["classify"]
        _same(m(x=oracle["X"])["probs"], oracle["frozen_probs"])


def test_frozen_graph_refusals(graphs: Path, tmp_path: Path) -> None:
    frozen = graphs / "frozen.pb"
    with pytest.raises(
        errors.NotFoundError,
        match=r"outputs\['prob'\] = 'prob': .* has no node 'prob'; did you mean 'probs'",
    ):
        load_graph(frozen, "x", "prob")
    with pytest.raises(errors.NotFoundError, match=r"has no node 'input'.*Its placeholders: x"):
        load_graph(frozen, "input", "probs")
    with pytest.raises(
        errors.NotFoundError, match=r"output 'top:5': operation 'top' \(ArgMax\) has 1 output\(s\)"
    ):
        load_graph(frozen, "x", "top:5")
    with pytest.raises(errors.InvalidArgumentError, match="is both an input and an output"):
        load_graph(frozen, "x", {"out": "x:0"})
    with pytest.raises(errors.InvalidArgumentError, match="is a control input"):
        load_graph(frozen, "x", "^probs")
    with pytest.raises(errors.InvalidArgumentError, match="names the tensor 'probs:0' twice"):
        load_graph(frozen, "x", ["probs", "probs:0"])
    with pytest.raises(TypeError, match="must be tensor names"):
        load_graph(frozen, "x", [3])
    with pytest.raises(errors.InvalidArgumentError, match="signature_name must be a non-empty str"):
        load_graph(frozen, "x", "probs", signature_name="")
    with pytest.raises(
        errors.FailedPreconditionError,
        match=r"is not a frozen graph: it has 2 variable\(s\) \(b, w\)",
    ):
        load_graph(graphs / "unfrozen.pb", "x", "y")
    with pytest.raises(errors.NotFoundError, match="does not exist"):
        load_graph(tmp_path / "none.pb")
    with pytest.raises(
        errors.NotFoundError, match="is a folder: load_graph reads one GraphDef file"
    ):
        load_graph(graphs)
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(errors.DataLossError, match="not a valid serialized GraphDef"):
        load_graph(bad)
    text = tmp_path / "bad.pbtxt"
    text.write_text('node {\n  name: "x"\n  op: Placeholder\n')
    with pytest.raises(errors.DataLossError, match=r"not a valid text-format GraphDef: .*3"):
        load_graph(text)
    meta = tmp_path / "model.meta"
    shutil.copy(graphs / "nostate" / "model.ckpt-1.meta", meta)
    with pytest.raises(
        errors.DataLossError,
        match=r"it is a MetaGraphDef, load it with tfbundle\.load_checkpoint_graph",
    ):
        load_graph(meta)


def test_graph_whose_outputs_cannot_be_chosen(tmp_path: Path) -> None:
    """A graph of a placeholder feeding a NoOp: nothing to offer as an output."""
    from tfbundle._proto import parsing as gp

    graph = gp.message_class("GraphDef")()
    x = graph.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    graph.node.add(name="done", op="NoOp", input=["^x"])
    path = tmp_path / "g.pb"
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(
        errors.InvalidArgumentError, match=r"no outputs could be chosen.*pass outputs="
    ):
        load_graph(path)


def test_unregistered_op_in_a_frozen_graph(tmp_path: Path) -> None:
    from tfbundle._proto import parsing as gp

    graph = gp.message_class("GraphDef")()
    x = graph.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    graph.node.add(name="y", op="MadeUpOpForTfbundleTests", input=["x"])
    path = tmp_path / "g.pb"
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(
        errors.NotFoundError, match=r"op type 'MadeUpOpForTfbundleTests'.*tfbundle\.load_library"
    ):
        load_graph(path, "x", "y")


# --------------------------------------------------- third-party testdata ---


X3 = np.array([[1.0], [2.0], [5.0]], np.float32)
Y3 = np.array([[2.5], [3.0], [4.5]], np.float32)


@pytest.mark.parametrize(
    "path",
    [
        "tensorflow_serving/session_bundle_half_plus_two",  # V1 shards, a base folder of versions
        "tensorflow_serving/session_bundle_half_plus_two/00000123/export.meta",
        "tensorflow/historical/session_bundle_half_plus_two_ckpt_v2/00000123",  # V2
    ],
)
def test_legacy_session_bundles(testdata: Path, path: str) -> None:
    """Signatures converted as TF Serving converts them; the init op ran with asset paths fed."""
    with load_checkpoint_graph(testdata / path) as m:
        assert m.source == "session_bundle"
        assert m.checkpoint is not None and m.checkpoint.endswith("00000123/export")
        regress = m.signatures["serving_default"]
        assert regress.method_name == "tensorflow/serving/regress"
        assert regress.inputs["inputs"].tensor_name == "tf_example:0"
        assert regress.inputs["inputs"].dtype == np.dtype(object)
        assert regress.outputs["outputs"].tensor_name == "Identity:0"
        _same(regress(inputs=examples({"x": [1.0]}, {"x": [2.0]}, {"x": [5.0]}))["outputs"], Y3)
        predict = m.signatures["serving_default_from_named"]
        assert predict.method_name == "tensorflow/serving/predict"
        _same(predict(x=X3)["y"], Y3)
        asset = m.run("filename1:0")
        assert asset == str(Path(m.path) / "assets" / "hello1.txt").encode()


def test_bad_half_plus_two_has_no_signatures(testdata: Path) -> None:
    """Its `checkpoint` file holds /tmp paths; export.meta + the export file are used."""
    with load_checkpoint_graph(testdata / "tensorflow_serving/bad_half_plus_two") as m:
        assert dict(m.signatures) == {}
        out = m.run("Add:0", {"Placeholder:0": np.array([1.0, 2.0, 5.0], np.float32)})
        _same(out, np.array([2.5, 3.0, 4.5], np.float32))


@pytest.mark.parametrize(
    ("path", "fetch", "expected"),
    [
        ("tensorflow_onnx/regression_checkpoint", "W:0", 0.213962),
        ("tensorflow_onnx/regression_checkpoint", "b:0", 1.049525),
        ("tensorflow/checkpoints/profiler_ckpt/ckpt", "ScalarW:0", 0.002026),
        (
            "tfx/trainer_current_Format-Serving",
            "dnn/logits/bias/Read/ReadVariableOp:0",
            [-0.068898],
        ),
        ("tfx/trainer_current_Format-Serving", "global_step/Read/ReadVariableOp:0", 1000),
    ],
)
def test_third_party_checkpoints_restore_provenance_values(
    testdata: Path, path: str, fetch: str, expected: object
) -> None:
    with load_checkpoint_graph(testdata / path) as m:
        np.testing.assert_allclose(m.run(fetch), expected, rtol=0, atol=5e-7)


def test_feature_column_embedding_checkpoint(testdata: Path) -> None:
    with load_checkpoint_graph(
        testdata / "tensorflow/checkpoints/feature_column_embedding/embedding.ckpt.meta"
    ) as m:
        value = m.run("my_embedding:0")
        assert value.shape == (3, 2) and value.dtype == np.float32


def test_2016_v1_checkpoint_saved_model_output(testdata: Path) -> None:
    """tfbundle.load restores the V1-format variables TF's C loader skips."""
    with tfbundle.load(
        testdata / "tensorflow/historical/half_plus_two_2016_v1_checkpoint"
    ) as m:
        out = m.run(
            "Identity:0", {"tf_example:0": examples({"x": [1.0]}, {"x": [2.0]}, {"x": [5.0]})}
        )
        _same(out, Y3)


def test_graph_loaders_take_the_grappler_setting(graphs: Path, oracle: dict) -> None:
    """The checkpoint and frozen-graph loaders take ``grappler`` as :func:`tfbundle.load` does:
    both settings give the same outputs, and an unknown one is refused."""
    x = oracle["X"]
    for grappler in ("fast", "tensorflow"):
        with load_checkpoint_graph(graphs / "train", grappler=grappler) as m:
            _same(m.run("y:0", {"x:0": x}), oracle["train2_y"])
        with load_graph(graphs / "frozen.pb", "x", "probs", grappler=grappler) as m:
            _same(m(x=x)["probs"], oracle["frozen_probs"])
    with pytest.raises(tfbundle.InvalidArgumentError, match="grappler must be"):
        load_graph(graphs / "frozen.pb", "x", "probs", grappler="none")
