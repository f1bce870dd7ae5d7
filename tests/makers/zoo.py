"""Writes tfbundle's test SavedModels and TensorFlow's own outputs for them.

Usage: ``python tests/makers/zoo.py OUT`` (the ``models`` fixture runs it through the
test factory, tests/_factory.py, which caches OUT).

The script uses TensorFlow's Python API (never imported by the library or by the
pytest process) to export one model per export style that users meet:

- ``tf1_simple``: ``tf.compat.v1.saved_model.simple_save``, TF1 reference variables;
- ``tf1_builder``: ``SavedModelBuilder`` with two tag-sets (``serve`` and
  ``serve,gpu``), predict/classify/regress signatures on serialized tf.Example
  strings, a ``main_op`` that initialises a local variable and a table, and an
  ``increment`` op for ``Model.run(targets=...)``;
- ``tf1_asset``: ``SavedModelBuilder(assets_collection=...)`` with a vocabulary file;
- ``tf2_module``: ``tf.Module`` with several ``tf.function`` signatures returning dicts;
- ``tf2_asset``: ``tf.Module`` with ``StaticHashTable(TextFileInitializer(asset))``;
- ``keras_export`` / ``keras_strings``: Keras 3 ``model.export(dir)``;
- ``dtypes``: one signature per TensorFlow dtype numpy can hold, plus constant,
  variable-read, identity, scalar and unknown-rank signatures.

Every (model, tag-set, signature) case gets its inputs and TensorFlow's outputs in
``.npz`` files (TF1 models run through ``tf.compat.v1`` sessions on the loaded
SavedModel, TF2 ones through ``tf.saved_model.load(...).signatures[...]``), and
``OUT/manifest.json`` describes them together with what each MetaGraphDef's
signatures say about their tensors.

This module imports only the standard library and numpy at import time, so the tests
can read :data:`CASE_IDS` and :data:`RUN_CASE_IDS` without TensorFlow.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

#: Format of manifest.json; bump when its layout changes.
MANIFEST_VERSION = 1

#: Dtypes of the ``dtypes`` model: each gets a signature ``dt_<name>``.
DTYPE_NAMES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex64",
    "complex128",
    "string",
)

#: Every oracle case main() writes: "<model>[@<tags>]/<signature>[#<variant>]".
CASE_IDS = (
    "tf1_simple/serving_default",
    "tf1_simple/serving_default#empty_batch",
    "tf1_builder/serving_default",
    "tf1_builder/predict",
    "tf1_builder/classify",
    "tf1_builder/regress",
    "tf1_builder@gpu,serve/serving_default",
    "tf1_asset/serving_default",
    "tf1_asset_dup/serving_default",
    "tf1_asset_2tags/serving_default",
    "tf1_asset_2tags@extra,serve/serving_default",
    "tf2_module/serving_default",
    "tf2_module/add",
    "tf2_module/scale",
    "tf2_module/mixed",
    "tf2_module/no_inputs",
    "tf2_asset/serving_default",
    "keras_export/serve",
    "keras_export/serving_default",
    "keras_strings/serve",
    "keras_strings/serving_default",
    *(f"dtypes/dt_{name}" for name in DTYPE_NAMES),
    "dtypes/all_dtypes",
    "dtypes/constant",
    "dtypes/variable",
    "dtypes/identity",
    "dtypes/scalar",
    "dtypes/unknown_rank",
    "dtypes/unknown_rank#rank3",
    "dtypes/unknown_rank#scalar",
)

#: Every ``Model.run`` case main() writes (raw tensor names, targets).
RUN_CASE_IDS = (
    "tf1_simple/run_by_tensor_names",
    "tf1_builder/run_increment_target",
    "tf1_builder/run_parse_example",
)

tf: Any = None  # TensorFlow, imported by main() only.


# ----------------------------------------------------------------------------- helpers


def _np_dtype_name(dtype_enum: int) -> str | None:
    """Numpy dtype name of a DataType enum value (``object`` for strings), or None."""
    dt = tf.dtypes.as_dtype(dtype_enum)
    if dt in (tf.resource, tf.variant):
        return None
    if dt == tf.string:
        return "object"
    if dt == tf.bfloat16:
        return "bfloat16"
    return np.dtype(dt.as_numpy_dtype).name


def _tensor_info(info: Any) -> dict[str, Any]:
    """What a TensorInfo says: tensor name, dtype and shape (None = unknown)."""
    from tensorflow.core.framework import types_pb2

    shape: list[int | None] | None
    if not info.HasField("tensor_shape") or info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = [None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
    return {
        "tensor_name": info.name,
        "tf_dtype": types_pb2.DataType.Name(info.dtype),
        "dtype": _np_dtype_name(info.dtype),
        "shape": shape,
    }


def _describe_saved_model(folder: Path) -> list[dict[str, Any]]:
    """Reads saved_model.pb and lists each MetaGraphDef's tags and signatures."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((folder / "saved_model.pb").read_bytes())
    metas = []
    for meta in proto.meta_graphs:
        sigs = {}
        for key, sig in sorted(meta.signature_def.items()):
            if key == "__saved_model_init_op":
                continue
            sigs[key] = {
                "method_name": sig.method_name,
                "inputs": {k: _tensor_info(v) for k, v in sorted(sig.inputs.items())},
                "outputs": {k: _tensor_info(v) for k, v in sorted(sig.outputs.items())},
            }
        metas.append({"tags": sorted(meta.meta_info_def.tags), "signatures": sigs})
    return metas


def _as_array(value: Any) -> np.ndarray:
    """An output as numpy gives it, with strings always as object arrays of bytes.

    TensorFlow returns a scalar string as ``bytes``; ``np.asarray`` would make it a
    fixed-width ``S`` array, which drops trailing NUL bytes.
    """
    if isinstance(value, bytes):
        arr = np.empty((), dtype=object)
        arr[()] = value
        return arr
    arr = np.asarray(value)
    if arr.dtype.kind in "SU":
        raise TypeError(f"string output came back as {arr.dtype}, expected object/bytes")
    return arr


def _store_array(arr: np.ndarray) -> tuple[np.ndarray, str]:
    """Returns (array as stored in an .npz, dtype name to restore it)."""
    arr = np.asarray(arr)
    if arr.dtype == object:
        return arr, "object"
    name = arr.dtype.name
    if name == "bfloat16":
        return arr.view(np.uint16), name
    return arr, name


class _Writer:
    """Collects models, cases and arrays under one output folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "models").mkdir(parents=True)
        (root / "data").mkdir()
        self.models: dict[str, dict[str, Any]] = {}
        self.cases: list[dict[str, Any]] = []
        self.run_cases: list[dict[str, Any]] = []

    def model_dir(self, name: str) -> Path:
        return self.root / "models" / name

    def save_arrays(self, stem: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """Writes arrays to data/<stem>.npz; returns {"file", "dtypes"} for the manifest."""
        stored = {}
        dtypes = {}
        for key, value in arrays.items():
            stored[key], dtypes[key] = _store_array(value)
        rel = f"data/{stem}.npz"
        np.savez(self.root / rel, **stored)
        return {"file": rel, "dtypes": dtypes}

    def add_model(self, name: str, style: str, default_tags: list[str], **extra: Any) -> None:
        folder = self.model_dir(name)
        metas = _describe_saved_model(folder)
        default = next(m for m in metas if m["tags"] == sorted(default_tags))
        sigs = default["signatures"]
        default_sig = "serving_default" if "serving_default" in sigs else None
        if default_sig is None and len(sigs) == 1:
            default_sig = next(iter(sigs))
        self.models[name] = {
            "folder": f"models/{name}",
            "style": style,
            "default_tags": sorted(default_tags),
            "default_signature": default_sig,
            "meta_graphs": metas,
            **extra,
        }

    def add_case(
        self,
        model: str,
        tags: list[str],
        signature: str,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, Any],
        variant: str = "",
        **extra: Any,
    ) -> None:
        tags = sorted(tags)
        case_id = model
        if tags != self.models[model]["default_tags"]:
            case_id += "@" + ",".join(tags)
        case_id += "/" + signature + (f"#{variant}" if variant else "")
        stem = case_id.replace("/", "__").replace("@", "_at_").replace("#", "_v_").replace(",", "_")
        outputs = {k: _as_array(v) for k, v in outputs.items()}
        self.cases.append(
            {
                "id": case_id,
                "model": model,
                "tags": tags,
                "signature": signature,
                "inputs": self.save_arrays(stem + ".in", inputs),
                "expected": self.save_arrays(stem + ".out", outputs),
                **extra,
            }
        )

    def add_run_case(self, model: str, name: str, steps: list[dict[str, Any]]) -> None:
        """A sequence of Model.run calls on one freshly loaded model.

        Each step: fetches (list of tensor names), feeds ({tensor name: array}),
        targets (list of op names), expected (list of arrays, one per fetch).
        """
        case_id = f"{model}/{name}"
        stem = case_id.replace("/", "__")
        out_steps = []
        for i, step in enumerate(steps):
            feed_keys = {t: f"feed{j}" for j, t in enumerate(step.get("feeds", {}))}
            feeds = {feed_keys[t]: v for t, v in step.get("feeds", {}).items()}
            expected = {f"fetch{j}": _as_array(v) for j, v in enumerate(step["expected"])}
            out_steps.append(
                {
                    "fetches": list(step["fetches"]),
                    "feeds": feed_keys,
                    "targets": list(step.get("targets", [])),
                    "inputs": self.save_arrays(f"{stem}.s{i}.in", feeds),
                    "expected": self.save_arrays(f"{stem}.s{i}.out", expected),
                }
            )
        self.run_cases.append(
            {
                "id": case_id,
                "model": model,
                "tags": self.models[model]["default_tags"],
                "steps": out_steps,
            }
        )

    def write_manifest(self, seconds: float) -> None:
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "tensorflow_version": tf.__version__,
            "seconds": round(seconds, 2),
            "models": self.models,
            "cases": self.cases,
            "run_cases": self.run_cases,
        }
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _tf1_run_signature(
    folder: Path, tags: list[str], signature: str, inputs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Loads a SavedModel in a fresh TF1 session and runs one signature."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, tags, str(folder))
        sig = meta.signature_def[signature]
        feeds = {sig.inputs[k].name: v for k, v in inputs.items()}
        fetches = {k: v.name for k, v in sig.outputs.items()}
        return sess.run(fetches, feeds)


def _tf2_run_signature(
    loaded: Any, signature: str, inputs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Runs a signature of a tf.saved_model.load()ed object eagerly."""
    fn = loaded.signatures[signature]
    out = fn(**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


def _example(**features: list[float] | list[bytes] | list[int]) -> bytes:
    """A serialized tf.Example with the given float/bytes/int64 features."""
    feats = {}
    for key, values in features.items():
        if isinstance(values[0], float):
            feats[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        elif isinstance(values[0], bytes):
            feats[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        else:
            feats[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def _bytes_array(values: list[bytes]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


# ----------------------------------------------------------------------------- TF1 models


def make_tf1_simple(w: _Writer) -> None:
    """simple_save of a dense layer on TF1 reference variables: x (None,4) -> y, total."""
    folder = w.model_dir("tf1_simple")
    rng = np.random.RandomState(0)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        x = tf.compat.v1.placeholder(tf.float32, (None, 4), name="x")
        kernel = tf.compat.v1.Variable(
            rng.randn(4, 3).astype(np.float32), name="kernel", use_resource=False
        )
        bias = tf.compat.v1.Variable(
            np.array([0.5, -1.0, 2.0], np.float32), name="bias", use_resource=False
        )
        y = tf.identity(tf.matmul(x, kernel) + bias, name="y")
        total = tf.reduce_sum(y, axis=1, name="total")
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.saved_model.simple_save(
            sess, str(folder), inputs={"x": x}, outputs={"y": y, "total": total}
        )
    w.add_model("tf1_simple", "tf1 simple_save", ["serve"])

    xs = rng.randn(5, 4).astype(np.float32)
    out = _tf1_run_signature(folder, ["serve"], "serving_default", {"x": xs})
    w.add_case("tf1_simple", ["serve"], "serving_default", {"x": xs}, out)
    empty = np.zeros((0, 4), np.float32)
    out = _tf1_run_signature(folder, ["serve"], "serving_default", {"x": empty})
    w.add_case("tf1_simple", ["serve"], "serving_default", {"x": empty}, out, "empty_batch")

    # Model.run by raw tensor names, as a TF1 user would.
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(folder))
        y_val, total_val = sess.run(["y:0", "total:0"], {"x:0": xs})
        kernel_val = sess.run("kernel:0")
    w.add_run_case(
        "tf1_simple",
        "run_by_tensor_names",
        [
            {"fetches": ["y:0", "total:0"], "feeds": {"x:0": xs}, "expected": [y_val, total_val]},
            {"fetches": ["kernel:0"], "expected": [kernel_val]},
        ],
    )


def make_tf1_builder(w: _Writer) -> None:
    """SavedModelBuilder: tag-sets serve and serve,gpu; predict/classify/regress; main_op."""
    folder = w.model_dir("tf1_builder")
    sdu = tf.compat.v1.saved_model.signature_def_utils
    build_info = tf.compat.v1.saved_model.utils.build_tensor_info
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        kernel = tf.compat.v1.Variable(
            np.array([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]], np.float32), name="kernel"
        )
        bias = tf.compat.v1.Variable(np.array([0.1, 0.2, 0.3], np.float32), name="bias")
        reg_kernel = tf.compat.v1.Variable(np.array([[2.0], [-3.0]], np.float32), name="reg_kernel")
        counter = tf.compat.v1.Variable(10.0, name="counter")
        tf.group(counter.assign_add(1.0), name="increment")
        tf.identity(counter, name="counter_value")
        # A local variable (not in the checkpoint) and a table: only main_op initialises them.
        marker = tf.compat.v1.Variable(
            42.0,
            name="marker",
            trainable=False,
            collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES],
        )
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(["apple", "banana", "cherry"]), tf.constant([0, 1, 2], tf.int64)
            ),
            default_value=-1,
        )

        x = tf.compat.v1.placeholder(tf.float32, (None, 2), name="x")
        key = tf.compat.v1.placeholder(tf.string, (None,), name="key")
        examples = tf.compat.v1.placeholder(tf.string, (None,), name="tf_example")
        parsed = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([2], tf.float32)})
        ex_x = tf.identity(parsed["x"], name="parsed_x")

        def logits_of(v: Any) -> Any:
            return tf.matmul(v, kernel) + bias

        y = tf.identity(logits_of(x), name="y")
        y_gpu = tf.identity(logits_of(x) * 2.0 - 1.0, name="y_gpu")
        marker_out = tf.identity(marker.read_value(), name="marker_out")
        key_id = tf.identity(table.lookup(key), name="key_id")
        scores = tf.nn.softmax(logits_of(ex_x), name="scores")
        classes = tf.tile(
            tf.constant([[b"low", b"mid", b"high"]]), [tf.shape(ex_x)[0], 1], name="classes"
        )
        reg_out = tf.identity(tf.matmul(ex_x, reg_kernel) + 1.0, name="reg_out")

        sess.run(tf.compat.v1.global_variables_initializer())
        main_op = tf.group(
            tf.compat.v1.local_variables_initializer(),
            tf.compat.v1.tables_initializer(),
            name="main_op",
        )
        serve_sigs = {
            "serving_default": sdu.predict_signature_def({"x": x}, {"y": y}),
            "predict": sdu.predict_signature_def(
                {"x": x, "key": key}, {"y": y, "marker": marker_out, "key_id": key_id}
            ),
            "classify": sdu.classification_signature_def(examples, classes, scores),
            "regress": sdu.regression_signature_def(examples, reg_out),
        }
        gpu_sigs = {
            "serving_default": sdu.build_signature_def(
                {"x": build_info(x)},
                {"y": build_info(y_gpu), "marker": build_info(marker_out)},
                tf.compat.v1.saved_model.signature_constants.PREDICT_METHOD_NAME,
            )
        }
        builder = tf.compat.v1.saved_model.Builder(str(folder))
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map=serve_sigs,
            main_op=main_op,
            strip_default_attrs=True,
        )
        # The graph's main_op collection is shared, so serve,gpu runs it too.
        builder.add_meta_graph(
            ["serve", "gpu"],
            signature_def_map=gpu_sigs,
            strip_default_attrs=True,
        )
        builder.save()
    w.add_model("tf1_builder", "tf1 SavedModelBuilder", ["serve"])

    xs = np.array([[1.0, 2.0], [-0.5, 0.0], [3.0, -4.0]], np.float32)
    keys = _bytes_array([b"banana", b"durian", b"apple", b""])
    ex = _bytes_array([_example(x=[1.0, 2.0]), _example(x=[-1.0, 0.5]), _example(x=[0.0, 3.0])])
    for sig, inputs in (
        ("serving_default", {"x": xs}),
        ("predict", {"x": xs, "key": keys}),
        ("classify", {"inputs": ex}),
        ("regress", {"inputs": ex}),
    ):
        out = _tf1_run_signature(folder, ["serve"], sig, inputs)
        w.add_case("tf1_builder", ["serve"], sig, inputs, out)
    out = _tf1_run_signature(folder, ["serve", "gpu"], "serving_default", {"x": xs})
    w.add_case("tf1_builder", ["serve", "gpu"], "serving_default", {"x": xs}, out)

    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(folder))
        first = sess.run("counter_value:0")
        sess.run("increment")
        sess.run("increment")
        after = sess.run("counter_value:0")
        parsed_val, scores_val = sess.run(["parsed_x:0", "scores:0"], {"tf_example:0": ex})
    w.add_run_case(
        "tf1_builder",
        "run_increment_target",
        [
            {"fetches": ["counter_value:0"], "expected": [first]},
            {"fetches": [], "targets": ["increment"], "expected": []},
            {"fetches": [], "targets": ["increment"], "expected": []},
            {"fetches": ["counter_value:0"], "expected": [after]},
        ],
    )
    w.add_run_case(
        "tf1_builder",
        "run_parse_example",
        [
            {
                "fetches": ["parsed_x:0", "scores:0"],
                "feeds": {"tf_example:0": ex},
                "expected": [parsed_val, scores_val],
            },
        ],
    )


def make_tf1_asset(w: _Writer, scratch: Path) -> None:
    """SavedModelBuilder(assets_collection=...) with a vocabulary file read by a table.

    ``TextFileInitializer`` puts its constant file name into the ASSET_FILEPATHS
    collection by itself. ``tf1_asset`` relies on that: the asset is listed once.
    ``tf1_asset_dup`` also adds it by hand, as many TF1 exporters did, and
    ``tf1_asset_2tags`` adds a second MetaGraphDef (``serve,extra``) from the same
    graph: in both, the asset is listed twice, which TensorFlow's Python loader accepts
    and TF_LoadSessionFromSavedModel refuses ("fed more than once").
    """
    _make_tf1_asset_model(w, scratch, "tf1_asset", None, add_by_hand=False)
    _make_tf1_asset_model(w, scratch, "tf1_asset_dup", None, add_by_hand=True)
    _make_tf1_asset_model(w, scratch, "tf1_asset_2tags", ["serve", "extra"], add_by_hand=False)


def _make_tf1_asset_model(
    w: _Writer, scratch: Path, name: str, extra_tags: list[str] | None, add_by_hand: bool
) -> None:
    folder = w.model_dir(name)
    vocab = scratch / "tf1_vocab.txt"
    vocab.write_text("zero\none\ntwo\nthree\nfour\n")
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        asset_path = tf.constant(str(vocab), name="vocab_path")
        if add_by_hand:
            tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, asset_path)
        table = tf.compat.v1.lookup.StaticHashTable(
            tf.compat.v1.lookup.TextFileInitializer(
                asset_path,
                tf.string,
                tf.compat.v1.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                tf.compat.v1.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=-1,
        )
        words = tf.compat.v1.placeholder(tf.string, (None,), name="words")
        ids = tf.identity(table.lookup(words), name="ids")
        size = tf.identity(table.size(), name="vocab_size")
        sdu = tf.compat.v1.saved_model.signature_def_utils
        sigs = {
            "serving_default": sdu.predict_signature_def(
                {"words": words}, {"ids": ids, "vocab_size": size}
            )
        }
        assets = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS)
        builder = tf.compat.v1.saved_model.Builder(str(folder))
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map=sigs,
            assets_collection=assets,
            main_op=tf.compat.v1.tables_initializer(),
        )
        if extra_tags:
            builder.add_meta_graph(extra_tags, signature_def_map=sigs, assets_collection=assets)
        builder.save()
    vocab.unlink()  # the model must read its own copy in assets/
    style = "tf1 SavedModelBuilder with assets" + (", two tag-sets" if extra_tags else "")
    style += ", asset listed twice" if add_by_hand or extra_tags else ""
    w.add_model(name, style, ["serve"], asset_files=["assets/tf1_vocab.txt"])
    inputs = {"words": _bytes_array([b"three", b"zero", b"five", b"four"])}
    for tags in (["serve"], extra_tags) if extra_tags else (["serve"],):
        out = _tf1_run_signature(folder, tags, "serving_default", inputs)
        w.add_case(name, tags, "serving_default", inputs, out)


# ----------------------------------------------------------------------------- TF2 models


def make_tf2_module(w: _Writer) -> None:
    """tf.Module with several tf.function signatures and dict outputs."""
    folder = w.model_dir("tf2_module")

    class Net(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(
                np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.0]], np.float32), name="w"
            )
            self.scale_v = tf.Variable(np.array([[1.5, 2.0], [-1.0, 0.5]]), name="scale")
            self.steps = tf.Variable(7, dtype=tf.int64, name="steps")

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            logits = tf.matmul(x, self.w)
            return {"logits": logits, "label": tf.argmax(logits, axis=1)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="a"),
                tf.TensorSpec([None], tf.float32, name="b"),
            ]
        )
        def add(self, a: Any, b: Any) -> dict[str, Any]:
            return {"sum": a + b, "diff": a - b}

        @tf.function(input_signature=[tf.TensorSpec([2, 2], tf.float64, name="m")])
        def scale(self, m: Any) -> dict[str, Any]:
            return {"scaled": m * self.scale_v}

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 2], tf.int32, name="ids"),
                tf.TensorSpec([], tf.float32, name="factor"),
                tf.TensorSpec([None], tf.string, name="names"),
            ]
        )
        def mixed(self, ids: Any, factor: Any, names: Any) -> dict[str, Any]:
            return {
                "weighted": tf.cast(tf.reduce_sum(ids, axis=1), tf.float32) * factor,
                "greeting": tf.strings.join(["hello ", names]),
                "count": tf.shape(names, out_type=tf.int64)[0],
            }

        @tf.function(input_signature=[])
        def no_inputs(self) -> dict[str, Any]:
            return {"steps": self.steps + 1, "w_sum": tf.reduce_sum(self.w)}

    net = Net()
    sigs = {
        "serving_default": net.serve.get_concrete_function(),
        "add": net.add.get_concrete_function(),
        "scale": net.scale.get_concrete_function(),
        "mixed": net.mixed.get_concrete_function(),
        "no_inputs": net.no_inputs.get_concrete_function(),
    }
    tf.saved_model.save(net, str(folder), signatures=sigs)
    w.add_model("tf2_module", "tf2 tf.Module", ["serve"])

    loaded = tf.saved_model.load(str(folder))
    cases = {
        "serving_default": {"x": np.array([[1, 2, 3], [0, -1, 4]], np.float32)},
        "add": {"a": np.array([1.5, 2.5, -3], np.float32), "b": np.array([0.5, 1, 2], np.float32)},
        "scale": {"m": np.array([[1.0, 2.0], [3.0, 4.0]])},
        "mixed": {
            "ids": np.array([[1, 2], [3, 4], [-5, 6]], np.int32),
            "factor": np.array(0.5, np.float32),
            "names": _bytes_array([b"world", b"caf\xc3\xa9", b""]),
        },
        "no_inputs": {},
    }
    for sig, inputs in cases.items():
        w.add_case("tf2_module", ["serve"], sig, inputs, _tf2_run_signature(loaded, sig, inputs))


def make_tf2_asset(w: _Writer, scratch: Path) -> None:
    """tf.Module with StaticHashTable(TextFileInitializer(asset)) and a read of the asset."""
    folder = w.model_dir("tf2_asset")
    vocab = scratch / "tf2_vocab.txt"
    vocab.write_text("red\ngreen\nblue\n")

    class Vocab(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.asset = tf.saved_model.Asset(str(vocab))
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    self.asset,
                    tf.string,
                    tf.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64,
                    tf.lookup.TextFileIndex.LINE_NUMBER,
                ),
                default_value=-1,
            )
            self.const_table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(["red", "blue"]), tf.constant([10.0, 30.0])
                ),
                default_value=0.0,
            )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
        def serve(self, words: Any) -> dict[str, Any]:
            return {
                "ids": self.table.lookup(words),
                "weights": self.const_table.lookup(words),
                "contents": tf.io.read_file(self.asset.asset_path),
            }

    mod = Vocab()
    tf.saved_model.save(mod, str(folder), signatures={"serving_default": mod.serve})
    vocab.unlink()  # the model must read its own copy in assets/
    w.add_model(
        "tf2_asset", "tf2 tf.Module with asset", ["serve"], asset_files=["assets/tf2_vocab.txt"]
    )
    loaded = tf.saved_model.load(str(folder))
    inputs = {"words": _bytes_array([b"blue", b"purple", b"red", b"green"])}
    w.add_case(
        "tf2_asset",
        ["serve"],
        "serving_default",
        inputs,
        _tf2_run_signature(loaded, "serving_default", inputs),
    )


def make_keras(w: _Writer) -> None:
    """Keras 3 model.export(): a dense net and one with a StringLookup on string input."""
    import keras

    keras.utils.set_random_seed(1)
    folder = w.model_dir("keras_export")
    inp = keras.Input(shape=(3,), name="features")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inp)
    out = keras.layers.Dense(2, name="logits")(hidden)
    model = keras.Model(inp, out)
    model.export(str(folder), verbose=False)
    w.add_model("keras_export", "keras 3 model.export", ["serve"])
    loaded = tf.saved_model.load(str(folder))
    inputs = {"features": np.array([[1, 2, 3], [-1, 0.5, 0], [0, 0, 0]], np.float32)}
    for sig in ("serve", "serving_default"):
        w.add_case("keras_export", ["serve"], sig, inputs, _tf2_run_signature(loaded, sig, inputs))

    folder = w.model_dir("keras_strings")
    inp = keras.Input(shape=(), dtype="string", name="token")
    ids = keras.layers.StringLookup(vocabulary=["cat", "dog", "fish"], name="lookup")(inp)
    emb = keras.layers.Embedding(5, 2, name="embed")(ids)
    model = keras.Model(inp, {"ids": ids, "embedding": emb})
    model.export(str(folder), verbose=False)
    w.add_model("keras_strings", "keras 3 model.export with StringLookup", ["serve"])
    loaded = tf.saved_model.load(str(folder))
    inputs = {"token": _bytes_array([b"dog", b"bird", b"cat"])}
    for sig in ("serve", "serving_default"):
        w.add_case("keras_strings", ["serve"], sig, inputs, _tf2_run_signature(loaded, sig, inputs))


def _dtype_samples(name: str) -> tuple[np.ndarray, np.ndarray, Callable[[Any, Any], Any]]:
    """(x, y, arithmetic) for the dt_<name> signature."""
    if name == "string":
        x = _bytes_array([b"a", b"", b"\x00bin\xff", "\u00e9t\u00e9".encode()])
        y = _bytes_array([b"b", b"c", b"", b"x" * 40])
        return x, y, lambda a, b: tf.strings.join([a, b], separator="|")
    if name == "bool":
        return (
            np.array([True, False, True, False]),
            np.array([True, True, False, False]),
            lambda a, b: tf.logical_and(a, tf.logical_not(b)),
        )
    if name.startswith("complex"):
        dt = np.dtype(name)
        return (
            np.array([1 + 2j, -0.5j, 3, 0], dt),
            np.array([2 - 1j, 1j, 0.5, 7 + 7j], dt),
            lambda a, b: a * b + a,
        )
    if name == "bfloat16":
        import ml_dtypes

        dt = np.dtype(ml_dtypes.bfloat16)
        return (
            np.array([1.5, -2, 0.25, 100], dt),
            np.array([2, 0.5, -4, 3], dt),
            lambda a, b: a * b + a,
        )
    dt = np.dtype(name)
    if dt.kind == "f":
        return (
            np.array([1.5, -2, 0.25, 1e3, np.inf, np.nan], dt),
            np.array([2, 0.5, -4, 3, 1, 2], dt),
            lambda a, b: a * b + a,
        )
    info = np.iinfo(dt)
    x = np.array([1, 2, info.max, info.min, 7], dt)
    y = np.array([3, info.max, 1, 0, 2], dt)
    return x, y, lambda a, b: a * 2 + b  # wraps around like TensorFlow's kernels


def _identity_and(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], dict[str, Any]]:
    """The body of a dt_<name> signature: x unchanged and op(x, y)."""

    def body(x: Any, y: Any) -> dict[str, Any]:
        return {"identity": tf.identity(x), "arith": op(x, y)}

    return body


def make_dtypes(w: _Writer) -> None:
    """One signature per dtype (identity + arithmetic), and read-only-output cases."""
    folder = w.model_dir("dtypes")
    samples = {name: _dtype_samples(name) for name in DTYPE_NAMES}

    class Dtypes(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.var = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="var")

    mod = Dtypes()
    sigs = {}
    for name in DTYPE_NAMES:
        dt = tf.as_dtype(name)
        fn = tf.function(
            _identity_and(samples[name][2]),
            input_signature=[
                tf.TensorSpec([None], dt, name="x"),
                tf.TensorSpec([None], dt, name="y"),
            ],
        )
        setattr(mod, f"dt_{name}", fn)
        sigs[f"dt_{name}"] = fn.get_concrete_function()

    all_specs = [tf.TensorSpec([None], tf.as_dtype(n), name=f"in_{n}") for n in DTYPE_NAMES]

    def all_fn(*args: Any) -> dict[str, Any]:
        return {f"out_{n}": tf.reverse(a, [0]) for n, a in zip(DTYPE_NAMES, args)}

    mod.all_dtypes = tf.function(all_fn, input_signature=all_specs)
    sigs["all_dtypes"] = mod.all_dtypes.get_concrete_function()

    mod.constant = tf.function(
        lambda: {"value": tf.constant([[1.0, 2.0], [3.0, 4.0]])}, input_signature=[]
    )
    mod.variable = tf.function(lambda: {"value": mod.var.read_value()}, input_signature=[])
    mod.identity = tf.function(
        lambda x: {"same": x}, input_signature=[tf.TensorSpec([None, None], tf.float32, name="x")]
    )
    mod.scalar = tf.function(
        lambda x: {"doubled": x * 2}, input_signature=[tf.TensorSpec([], tf.float64, name="x")]
    )
    mod.unknown_rank = tf.function(
        lambda x: {"plus_one": x + 1, "rank": tf.rank(x)},
        input_signature=[tf.TensorSpec(None, tf.float32, name="x")],
    )
    for name in ("constant", "variable", "identity", "scalar", "unknown_rank"):
        sigs[name] = getattr(mod, name).get_concrete_function()
    tf.saved_model.save(mod, str(folder), signatures=sigs)
    w.add_model("dtypes", "tf2 tf.Module, every dtype", ["serve"])

    loaded = tf.saved_model.load(str(folder))

    def case(sig: str, inputs: dict[str, np.ndarray], variant: str = "", **extra: Any) -> None:
        w.add_case(
            "dtypes",
            ["serve"],
            sig,
            inputs,
            _tf2_run_signature(loaded, sig, inputs),
            variant,
            **extra,
        )

    for name in DTYPE_NAMES:
        x, y, _ = samples[name]
        case(f"dt_{name}", {"x": x, "y": y})
    case("all_dtypes", {f"in_{n}": samples[n][0] for n in DTYPE_NAMES})
    case("constant", {}, output_kind={"value": "constant"})
    case("variable", {}, output_kind={"value": "variable"})
    case(
        "identity",
        {"x": np.arange(12, dtype=np.float32).reshape(3, 4)},
        output_kind={"same": "identity"},
    )
    case("scalar", {"x": np.array(2.25)})
    case("unknown_rank", {"x": np.array([1.0, -2.0], np.float32)})
    case("unknown_rank", {"x": np.ones((2, 1, 3), np.float32)}, "rank3")
    case("unknown_rank", {"x": np.array(4.0, np.float32)}, "scalar")


# ----------------------------------------------------------------------------- main


def build(root: Path) -> None:
    """Writes every model, case and the manifest into root (which must not exist)."""
    start = time.monotonic()
    w = _Writer(root)
    with tempfile.TemporaryDirectory(prefix="tfbundle-vocab-") as scratch:
        make_tf1_simple(w)
        make_tf1_builder(w)
        make_tf1_asset(w, Path(scratch))
        make_tf2_module(w)
        make_tf2_asset(w, Path(scratch))
        make_keras(w)
        make_dtypes(w)
    got = [c["id"] for c in w.cases]
    if sorted(got) != sorted(CASE_IDS) or len(set(got)) != len(got):
        raise SystemExit(f"case list out of date: wrote {sorted(got)}, declared {sorted(CASE_IDS)}")
    got_run = sorted(c["id"] for c in w.run_cases)
    if got_run != sorted(RUN_CASE_IDS):
        raise SystemExit(f"run case list out of date: wrote {got_run}")
    w.write_manifest(time.monotonic() - start)


def main(argv: list[str]) -> int:
    """Entry point: ``zoo.py OUT``."""
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    global tf
    import tensorflow

    tf = tensorflow
    tf.get_logger().setLevel("ERROR")
    build(Path(argv[1]).resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
