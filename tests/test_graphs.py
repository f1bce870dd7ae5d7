"""load_checkpoint_graph and load_graph: TF1 checkpoints, SessionBundles and frozen GraphDefs.

The checkpoints and frozen graphs are made by TensorFlow's Python API in a child
process (``MAKE_GRAPHS`` below, cached under the tests' model cache); TensorFlow's own
answers (``import_meta_graph`` + ``Saver.restore``, or a session on the frozen graph)
are saved beside them and compared with tfbundle's. The third-party checkpoints and
legacy SessionBundles of shared/testdata are checked against PROVENANCE.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tfbundle
from _util import examples
from conftest import models_cache_root, tensorflow_installed
from tfbundle import errors
from tfbundle._runtime.graphs import (
    ChosenSignature,
    GraphModel,
    InferredSignatureWarning,
    latest_checkpoint,
    load_checkpoint_graph,
    load_graph,
)

MAKE_GRAPHS = r"""'''Writes TF1 checkpoints and frozen graphs for tests/test_graphs.py, with TensorFlow's outputs.

Usage: python - OUT (this text is run by the test in a subprocess; the pytest
process never imports TensorFlow). Files go to OUT.tmp, renamed to OUT at the end,
so the absolute paths TensorFlow writes into `checkpoint` files point nowhere:
the folders have been moved, as users' folders often are.
'''
import json
import os
import shutil
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
tf1.disable_eager_execution()
OUT = sys.argv[1]
TMP = OUT + ".tmp"
shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(TMP)
X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]], np.float32)
WORDS = np.array([b"b", b"zz", b"a"], object)
oracle = {}
manifest = {}


def d(*parts):
    path = os.path.join(TMP, *parts)
    os.makedirs(path, exist_ok=True)
    return path


def tf_restore(meta, prefix, fetches, feeds, init=()):
    '''TensorFlow's own answer: import_meta_graph + Saver.restore (+ init ops).'''
    with tf.Graph().as_default() as g, tf1.Session(graph=g) as s:
        saver = tf1.train.import_meta_graph(meta)
        saver.restore(s, prefix)
        for op in init:
            s.run(op())
        return s.run(fetches, feeds)


def dense_graph(use_resource, partitioned=False):
    x = tf1.placeholder(tf.float32, [None, 3], name="x")
    init = tf.constant([[1.0, -1.0], [2.0, 0.0], [3.0, 1.0]])
    if partitioned:
        w = tf1.get_variable("w", shape=[3, 2], initializer=tf1.random_uniform_initializer(-1.0, 1.0, seed=3),
                             partitioner=tf1.fixed_size_partitioner(3), use_resource=use_resource)
    else:
        w = tf1.get_variable("w", initializer=init, use_resource=use_resource)
    b = tf1.get_variable("b", initializer=tf.constant([0.5, -0.5]), use_resource=use_resource)
    y = tf.add(tf.matmul(x, w), b, name="y")
    return x, w, b, y


# train/: two checkpoints + a `checkpoint` file with absolute paths; a lookup table
# and a local variable, which a Saver does not restore.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(["a", "b"], [1, 2], tf.string, tf.int64), -1)
    words = tf1.placeholder(tf.string, [None], name="words")
    tf.identity(table.lookup(words), name="ids")
    offset = tf1.get_local_variable("offset", initializer=tf.constant(100.0))
    tf.add(y, offset, name="y_offset")
    saver = tf1.train.Saver()
    with tf1.Session() as s:
        s.run([tf1.global_variables_initializer(), tf1.local_variables_initializer(), tf1.tables_initializer()])
        saver.save(s, os.path.join(d("train"), "model.ckpt"), global_step=1)
        s.run(b.assign([10.0, 20.0]))
        saver.save(s, os.path.join(d("train"), "model.ckpt"), global_step=2)
for step in (1, 2):
    meta, prefix = os.path.join(TMP, "train", f"model.ckpt-{step}.meta"), os.path.join(TMP, "train", f"model.ckpt-{step}")
    y_val, ids_val, yo_val = tf_restore(meta, prefix, ["y:0", "ids:0", "y_offset:0"], {"x:0": X, "words:0": WORDS},
                                        init=[tf1.local_variables_initializer, tf1.tables_initializer])
    oracle[f"train{step}_y"], oracle[f"train{step}_ids"], oracle[f"train{step}_y_offset"] = y_val, ids_val, yo_val

# relative/: resource variables, relative paths in `checkpoint`.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=True)
    saver = tf1.train.Saver(save_relative_paths=True)
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        s.run(w.assign(w * 2))
        saver.save(s, os.path.join(d("relative"), "ckpt"), global_step=3)
oracle["relative_y"] = tf_restore(os.path.join(TMP, "relative", "ckpt-3.meta"), os.path.join(TMP, "relative", "ckpt-3"),
                                  "y:0", {"x:0": X})

# nostate/: a prefix without a `checkpoint` file.
shutil.copytree(os.path.join(TMP, "train"), os.path.join(TMP, "nostate"))
os.remove(os.path.join(TMP, "nostate", "checkpoint"))

# partitioned/: a variable split in 3 slices, sharded Saver.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False, partitioned=True)
    saver = tf1.train.Saver(sharded=True)
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        saver.save(s, os.path.join(d("partitioned"), "model.ckpt"))
oracle["partitioned_y"] = tf_restore(os.path.join(TMP, "partitioned", "model.ckpt.meta"),
                                     os.path.join(TMP, "partitioned", "model.ckpt"), "y:0", {"x:0": X})

# v1/ and v1sharded/: the V1 checkpoint format (one file; shards named -0000N-of-0000M).
for name, sharded in (("v1", False), ("v1sharded", True)):
    with tf.Graph().as_default():
        x, w, b, y = dense_graph(use_resource=False)
        saver = tf1.train.Saver(write_version=tf1.train.SaverDef.V1, sharded=sharded)
        with tf1.Session() as s:
            s.run(tf1.global_variables_initializer())
            s.run(b.assign([7.0, 8.0]))
            saved = saver.save(s, os.path.join(d(name), "model.ckpt"))
    oracle[name + "_y"] = tf_restore(os.path.join(TMP, name, "model.ckpt.meta"), saved, "y:0", {"x:0": X})

# devices/: the same graph with ops pinned to a parameter server, which a local
# session cannot place (import_meta_graph(clear_devices=True) is the way out).
with tf.Graph().as_default():
    with tf.device("/job:ps/task:0/device:CPU:0"):
        x, w, b, y = dense_graph(use_resource=False)
    saver = tf1.train.Saver()
    tf1.train.export_meta_graph(os.path.join(d("devices"), "ps.meta"), saver_def=saver.as_saver_def())
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False)
    saver = tf1.train.Saver()
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        saver.save(s, os.path.join(TMP, "devices", "weights"), write_meta_graph=False)
        oracle["devices_y"] = s.run(y, {x: X})

# signature/: a .meta that carries a SignatureDef.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False)
    saver = tf1.train.Saver()
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        prefix = saver.save(s, os.path.join(d("signature"), "model"))
        oracle["signature_y"] = s.run(y, {x: X})
    meta = tf1.train.export_meta_graph(saver_def=saver.as_saver_def())
    meta.signature_def["serving_default"].CopyFrom(
        tf1.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y}))
    with open(prefix + ".meta", "wb") as f:
        f.write(meta.SerializeToString())

# nosaver/: variables but no SaverDef in the .meta.
with tf.Graph().as_default():
    x, w, b, y = dense_graph(use_resource=False)
    saver = tf1.train.Saver()
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        saver.save(s, os.path.join(d("nosaver"), "model"), write_meta_graph=False)
    meta = tf1.train.export_meta_graph()
    meta.ClearField("saver_def")
    with open(os.path.join(TMP, "nosaver", "model.meta"), "wb") as f:
        f.write(meta.SerializeToString())

# frozen.pb / frozen.pbtxt: two placeholders (one with a default), two sinks.
with tf.Graph().as_default() as g:
    x, w, b, y = dense_graph(use_resource=False)
    temperature = tf1.placeholder_with_default(tf.constant(1.0), [], name="temperature")
    probs = tf.nn.softmax(y / temperature, name="probs")
    tf.argmax(probs, axis=1, name="top")
    tf.reduce_sum(x, axis=1, name="total")
    with tf1.Session() as s:
        s.run(tf1.global_variables_initializer())
        unfrozen = g.as_graph_def()
        frozen = tf1.graph_util.convert_variables_to_constants(s, unfrozen, ["top", "total", "probs"])
        oracle["frozen_top"], oracle["frozen_total"], oracle["frozen_probs"], oracle["frozen_probs_t2"] = (
            *s.run(["top:0", "total:0", "probs:0"], {x: X}), s.run("probs:0", {x: X, temperature: 2.0}))
tf.io.write_graph(frozen, TMP, "frozen.pb", as_text=False)
tf.io.write_graph(frozen, TMP, "frozen.pbtxt", as_text=True)
tf.io.write_graph(unfrozen, TMP, "unfrozen.pb", as_text=False)
with tf.Graph().as_default() as g:  # TensorFlow itself runs the frozen file
    tf1.import_graph_def(frozen, name="")
    with tf1.Session(graph=g) as s:
        assert np.array_equal(s.run("top:0", {"x:0": X}), oracle["frozen_top"])

np.savez(os.path.join(TMP, "oracle.npz"), X=X, WORDS=WORDS, **oracle)
with open(os.path.join(TMP, "manifest.json"), "w") as f:
    json.dump({"tensorflow": tf.__version__, "tmp": TMP}, f)
os.rename(TMP, OUT)
"""


def _tensorflow_version() -> str:
    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def make_cached(name: str, script: str) -> Path:
    """Runs a model-making script (``python -c script OUT``) once per script and TF version."""
    key = hashlib.sha256((script + _tensorflow_version()).encode()).hexdigest()[:16]
    out = models_cache_root() / f"{name}-{key}"
    if (out / "manifest.json").exists():
        return out
    if not tensorflow_installed():
        pytest.skip(f"TensorFlow's Python package is needed to make the {name} test models")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f"{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "manifest.json").exists():
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
            proc = subprocess.run(
                [sys.executable, "-c", script, str(out)],
                capture_output=True,
                text=True,
                env=env,
                timeout=900,
                check=False,
            )
            if proc.returncode != 0:
                pytest.fail(
                    f"making the {name} models failed:\n{proc.stderr[-4000:]}", pytrace=False
                )
    return out


@pytest.fixture(scope="module")
def graphs() -> Path:
    return make_cached("graphs", MAKE_GRAPHS)


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
        X, W = oracle["X"], oracle["WORDS"]
        _same(m.run("y:0", {"x:0": X}), oracle["train2_y"])
        # No init op in a training graph: local variables and tables are initialised,
        # as TensorFlow's SavedModel builder's default main op does.
        _same(m.run("ids:0", {"words:0": W}), oracle["train2_ids"])
        _same(m.run("y_offset", {"x": X}), oracle["train2_y_offset"])
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
    "folder, key",
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
    with pytest.raises(errors.NotFoundError, match="it has 2 .meta files: pass one of them"):
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
    with pytest.raises(errors.DataLossError, match="line 1 is not a CheckpointState field"):
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


def test_saved_model_folder_is_pointed_to_load(testdata_or_skip: Path) -> None:
    folder = testdata_or_skip / "tensorflow_serving/saved_model_half_plus_two_cpu/00000123"
    with pytest.raises(
        errors.NotFoundError,
        match=r"is a SavedModel, not a checkpoint: load it with tfbundle\.load",
    ):
        load_checkpoint_graph(folder)


def test_checkpoint_without_meta_in_testdata(testdata_or_skip: Path) -> None:
    """tensorrt_mnist ships model.ckpt-46900 without its graph."""
    with pytest.raises(
        errors.NotFoundError, match=r"has no model\.ckpt-46900\.meta beside it.*open_checkpoint"
    ):
        load_checkpoint_graph(testdata_or_skip / "tensorflow/checkpoints/tensorrt_mnist")


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
    from tfbundle import _graph_protos as gp

    graph = gp.message_class("GraphDef")()
    x = graph.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    graph.node.add(name="done", op="NoOp", input=["^x"])
    path = tmp_path / "g.pb"
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(
        errors.InvalidArgumentError, match="no outputs could be chosen.*pass outputs="
    ):
        load_graph(path)


def test_unregistered_op_in_a_frozen_graph(tmp_path: Path) -> None:
    from tfbundle import _graph_protos as gp

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


# ------------------------------------------------------ shared/testdata ---


@pytest.fixture(scope="module")
def testdata_or_skip() -> Path:
    from conftest import testdata_root

    root = testdata_root()
    if not (root / "PROVENANCE.md").is_file():
        pytest.skip(f"third-party test data not found at {root} (set TFBUNDLE_TESTDATA)")
    return root


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
def test_legacy_session_bundles(testdata_or_skip: Path, path: str) -> None:
    """Signatures converted as TF Serving converts them; the init op ran with asset paths fed."""
    with load_checkpoint_graph(testdata_or_skip / path) as m:
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


def test_bad_half_plus_two_has_no_signatures(testdata_or_skip: Path) -> None:
    """Its `checkpoint` file holds /tmp paths; export.meta + the export file are used."""
    with load_checkpoint_graph(testdata_or_skip / "tensorflow_serving/bad_half_plus_two") as m:
        assert dict(m.signatures) == {}
        out = m.run("Add:0", {"Placeholder:0": np.array([1.0, 2.0, 5.0], np.float32)})
        _same(out, np.array([2.5, 3.0, 4.5], np.float32))


@pytest.mark.parametrize(
    "path, fetch, expected",
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
    testdata_or_skip: Path, path: str, fetch: str, expected: object
) -> None:
    with load_checkpoint_graph(testdata_or_skip / path) as m:
        np.testing.assert_allclose(m.run(fetch), expected, rtol=0, atol=5e-7)


def test_feature_column_embedding_checkpoint(testdata_or_skip: Path) -> None:
    with load_checkpoint_graph(
        testdata_or_skip / "tensorflow/checkpoints/feature_column_embedding/embedding.ckpt.meta"
    ) as m:
        value = m.run("my_embedding:0")
        assert value.shape == (3, 2) and value.dtype == np.float32


def test_2016_v1_checkpoint_saved_model_output(testdata_or_skip: Path) -> None:
    """tfbundle.load restores the V1-format variables TF's C loader skips."""
    with tfbundle.load(
        testdata_or_skip / "tensorflow/historical/half_plus_two_2016_v1_checkpoint"
    ) as m:
        out = m.run(
            "Identity:0", {"tf_example:0": examples({"x": [1.0]}, {"x": [2.0]}, {"x": [5.0]})}
        )
        _same(out, Y3)
