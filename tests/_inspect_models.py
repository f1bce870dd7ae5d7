"""SavedModels and saved_model_cli oracles for test_inspect.py and test_cli.py.

The models are made with TensorFlow's Python API in a subprocess (tests never import
TensorFlow themselves) and cached under ``$TFBUNDLE_TEST_CACHE/inspect-<key>`` (default
``~/.cache/tfbundle-tests``, as conftest.py), where the key hashes the model makers' source and
TensorFlow's version, so a change to a model maker remakes them all.

The oracles run ``saved_model_cli``'s own functions on many models in one TensorFlow process
(a fresh ``saved_model_cli`` process per model costs 5 s) with ``PYTHONHASHSEED=0``, so the op
sets it prints come out in the order tfbundle prints them when it runs with the same seed.

Run by hand::

    python tests/_inspect_models.py make OUT_DIR
    python tests/_inspect_models.py show-oracle REQUEST.json RESULT.json
    python tests/_inspect_models.py gen-op-registry cpp/op_registry_data.inc
    python tests/_inspect_models.py gen-text-schema cpp/text_schema_data.inc
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TESTDATA = os.environ.get(
    "TFBUNDLE_TESTDATA", os.path.join(os.path.dirname(REPO), "shared", "testdata")
)
MODEL_NAMES = (
    "tf1_simple",
    "tf1_two_tags",
    "tf1_pbtxt_assets",
    "tf2_module",
    "tf2_no_signatures",
    "keras_export",
    "write_file",
    "file_ops",
)


# --------------------------------------------------------------------------------------------
# Model makers (run inside the TensorFlow subprocess)
# --------------------------------------------------------------------------------------------


def _make_tf1_simple(out: str) -> None:
    """TF1 graph saved with simple_save: x float32 (None, 3) -> y = x @ w + b."""
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.get_variable("w", initializer=np.arange(6, dtype=np.float32).reshape(3, 2))
        b = v1.get_variable("b", initializer=np.array([0.5, -1.0], dtype=np.float32))
        y = tf.add(tf.matmul(x, w), b, name="y")
        sess.run(v1.global_variables_initializer())
        v1.saved_model.simple_save(sess, out, inputs={"x": x}, outputs={"y": y})


def _make_tf1_two_tags(out: str) -> None:
    """TF1 Builder with tag-sets {serve} and {serve, gpu}; predict, classify and regress."""
    import tensorflow as tf

    v1 = tf.compat.v1
    sig = v1.saved_model.signature_def_utils
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        a = v1.get_variable("a", initializer=0.5)
        b = v1.get_variable("b", initializer=2.0)
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        parsed = v1.io.parse_example(serialized, {"x": v1.io.FixedLenFeature([1], tf.float32)})
        xe = tf.identity(parsed["x"], name="x_from_example")
        y_example = tf.add(a * xe, b, name="y_from_example")
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        y = tf.add(a * x, b, name="y")
        n = v1.placeholder(tf.int64, [2, None], name="n")
        n2 = tf.multiply(n, tf.constant(3, tf.int64), name="n_times_3")
        flag = v1.placeholder(tf.bool, [], name="flag")
        not_flag = tf.logical_not(flag, name="not_flag")
        sess.run(v1.global_variables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        predict = sig.predict_signature_def({"x": x}, {"y": y})
        ints = sig.build_signature_def(
            {"n": info(n), "flag": info(flag)},
            {"n_times_3": info(n2), "not_flag": info(not_flag)},
            "tensorflow/serving/predict",
        )
        classify = sig.classification_signature_def(serialized, None, y_example)
        regress = sig.regression_signature_def(serialized, y_example)
        builder = v1.saved_model.Builder(out)
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map={
                "serving_default": predict,
                "ints": ints,
                "classify_x_to_y": classify,
                "regress_x_to_y": regress,
            },
        )
        builder.add_meta_graph(["serve", "gpu"], signature_def_map={"serving_default": predict})
        builder.save()


def _make_tf1_pbtxt_assets(out: str) -> None:
    """TF1 vocabulary lookup from an asset file, saved as text (saved_model.pbtxt)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    vocab = os.path.join(os.path.dirname(out), "vocab_src.txt")
    with open(vocab, "w") as f:
        f.write("apple\nbanana\ncherry\n")
    with graph.as_default(), v1.Session(graph=graph) as sess:
        words = v1.placeholder(tf.string, [None], name="words")
        vocab_path = tf.constant(vocab, name="vocab_path")
        table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                vocab_path,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=-1,
        )
        ids = tf.identity(table.lookup(words), name="ids")
        scale = v1.get_variable("scale", initializer=10.0)
        scaled = tf.multiply(tf.cast(ids, tf.float32), scale, name="scaled")
        sess.run(v1.global_variables_initializer())
        sess.run(v1.tables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        predict = v1.saved_model.signature_def_utils.build_signature_def(
            {"words": info(words)},
            {"ids": info(ids), "scaled": info(scaled)},
            "tensorflow/serving/predict",
        )
        builder = v1.saved_model.Builder(out)
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map={"serving_default": predict},
            assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
            main_op=v1.tables_initializer(),
            strip_default_attrs=True,
        )
        builder.save(as_text=True)
    os.remove(vocab)


def _make_tf2_module(out: str) -> None:
    """tf.Module with several signatures and functions that exercise show --all's printing."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], name="w")
            self.bias = tf.Variable([0.25, -0.5], name="bias")
            self.count = tf.Variable(7, dtype=tf.int64, name="count")

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def predict(self, x):
            return {"y": tf.matmul(x, self.w) + self.bias, "norm": tf.norm(x, axis=1)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([], tf.int32, name="a"),
                tf.TensorSpec([None], tf.int32, name="b"),
            ]
        )
        def multiply(self, a, b):
            return {"product": a * b, "total": tf.reduce_sum(a * b)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def lengths(self, text):
            return {"length": tf.strings.length(text), "upper": tf.strings.upper(text)}

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float64, name="anything")])
        def unknown_rank(self, anything):
            return {"doubled": anything * 2.0, "count": tf.identity(self.count)}

        @tf.function
        def poly(self, x, scale=2.0, training=False):
            if training:
                return x * scale + 1.0
            return x * scale

        @tf.function
        def structured(self, inputs):
            return inputs["a"] + tf.cast(inputs["b"], tf.float32)

        @tf.function
        def listy(self, pair, label="name"):
            return pair[0] + pair[1]

        @tf.function(input_signature=[tf.TensorSpec([2, 2], tf.bool), tf.TensorSpec([], tf.uint8)])
        def unnamed(self, flags, small):
            return tf.cast(tf.reduce_any(flags), tf.uint8) + small

    m = Model()
    m.poly.get_concrete_function(tf.TensorSpec([None], tf.float32))
    m.poly.get_concrete_function(tf.TensorSpec([None], tf.float32), training=True)
    m.poly.get_concrete_function(tf.TensorSpec([3], tf.float64, name="x64"), 3.0)
    m.structured.get_concrete_function(
        {"a": tf.TensorSpec([None], tf.float32, name="a"), "b": tf.TensorSpec([None], tf.int32)}
    )
    m.listy.get_concrete_function(
        [tf.TensorSpec([2], tf.float32), tf.TensorSpec([2], tf.float32)], label="lbl"
    )
    m.bare = m.predict.get_concrete_function()
    signatures = {
        "serving_default": m.predict,
        "multiply": m.multiply,
        "lengths": m.lengths,
        "unknown_rank": m.unknown_rank,
    }
    tf.saved_model.save(m, out, signatures=signatures)


def _make_tf2_no_signatures(out: str) -> None:
    """tf.Module saved without signatures (only __saved_model_init_op in the SignatureDefs)."""
    import tensorflow as tf

    class Plain(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v = tf.Variable(3.0)

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
        def __call__(self, x):
            return x * self.v

    tf.saved_model.save(Plain(), out, signatures={})


def _make_keras_export(out: str) -> None:
    """Keras 3 model exported with Model.export (the ExportArchive SavedModel)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="logits")(hidden)
    model = keras.Model(inputs, outputs, name="tiny")
    model.predict(np.zeros((1, 4), np.float32), verbose=0)
    model.export(out, verbose=False)


def _make_write_file(out: str) -> None:
    """A tf.Module whose serving function writes a file: scan must flag WriteFile."""
    import tensorflow as tf

    class Leaky(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="data")])
        def serve(self, data):
            tf.io.write_file("/tmp/tfbundle_planted_write.txt", data)
            return {"length": tf.strings.length(data)}

    m = Leaky()
    tf.saved_model.save(m, out, signatures={"serving_default": m.serve})


def _make_file_ops(out: str) -> None:
    """ReadFile, PrintV2 to a file and a RestoreV2 outside the saver, in a TF2 signature."""
    import tensorflow as tf

    class Sneaky(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.v = tf.Variable(1.0)

        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="path")])
        def serve(self, path):
            contents = tf.io.read_file(path)
            tf.print(contents, output_stream="file:///tmp/tfbundle_planted_print.txt")
            restored = tf.raw_ops.RestoreV2(
                prefix=path, tensor_names=["v"], shape_and_slices=[""], dtypes=[tf.float32]
            )
            return {"length": tf.strings.length(contents), "restored": restored[0] * self.v}

    m = Sneaky()
    tf.saved_model.save(m, out, signatures={"serving_default": m.serve})


_MAKERS = {
    "tf1_simple": _make_tf1_simple,
    "tf1_two_tags": _make_tf1_two_tags,
    "tf1_pbtxt_assets": _make_tf1_pbtxt_assets,
    "tf2_module": _make_tf2_module,
    "tf2_no_signatures": _make_tf2_no_signatures,
    "keras_export": _make_keras_export,
    "write_file": _make_write_file,
    "file_ops": _make_file_ops,
}


def _make_all(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    for name in MODEL_NAMES:
        final = os.path.join(out_dir, name)
        if os.path.isdir(final):
            continue
        tmp = os.path.join(out_dir, ".partial-" + name)
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        _MAKERS[name](os.path.join(tmp, "model"))
        os.rename(os.path.join(tmp, "model"), final)
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Oracles (run inside the TensorFlow subprocess)
# --------------------------------------------------------------------------------------------


def _show_one(req: dict[str, Any]) -> dict[str, Any]:
    """saved_model_cli's show for one request, in this process."""
    import contextlib
    import io

    from absl import flags
    from tensorflow.python.tools import saved_model_cli as smcli

    buf = io.StringIO()
    error = None
    values = {
        "dir": req["dir"],
        "all": bool(req.get("all")),
        "tag_set": req.get("tag_set"),
        "signature_def": req.get("signature_def"),
        "list_ops": bool(req.get("list_ops")),
    }
    for key, value in values.items():
        setattr(flags.FLAGS, key, value)
    try:
        with contextlib.redirect_stdout(buf):
            smcli.show()
    except Exception as e:  # noqa: BLE001 - the oracle records every failure
        error = f"{type(e).__name__}: {e}"
    return {"stdout": buf.getvalue(), "error": error}


def _show_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs saved_model_cli's show on each request {dir, all, tag_set, signature_def, list_ops}.

    Each request runs in a child forked from this process after TensorFlow was imported but
    before it ran anything, so each starts as a fresh ``saved_model_cli`` process does: TF's
    Python loader names the functions it loads with a process-wide counter, and show --all
    sorts concrete functions by those names.

    Returns, per request, {"stdout": text, "error": "ExcType: message" or None}.
    """
    import multiprocessing

    from absl import flags
    from tensorflow.python.tools import saved_model_cli  # noqa: F401 - import before forking

    flags.FLAGS(["saved_model_cli"])  # mark the absl flags parsed
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2, maxtasksperchild=1) as pool:
        return pool.map(_show_one, requests, chunksize=1)


def _inspect_one(d: str) -> dict[str, Any]:
    """What TensorFlow's own protos say about a SavedModel folder (for tfbundle.inspect)."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import meta_graph as meta_graph_lib
    from tensorflow.python.tools import saved_model_utils

    sm = saved_model_utils.read_saved_model(d)
    out: dict[str, Any] = {"schema_version": sm.saved_model_schema_version, "meta_graphs": []}
    for mg in sm.meta_graphs:

        def infos(m):
            return {
                k: [
                    v.name,
                    v.dtype,
                    None if v.tensor_shape.unknown_rank else [x.size for x in v.tensor_shape.dim],
                ]
                for k, v in m.items()
            }

        sigs = {
            k: {
                "method_name": s.method_name,
                "inputs": infos(s.inputs),
                "outputs": infos(s.outputs),
            }
            for k, s in mg.signature_def.items()
        }
        assets = [[a.tensor_info.name, a.filename] for a in mg.asset_file_def]
        if not assets and "saved_model_assets" in mg.collection_def:
            for any_value in mg.collection_def["saved_model_assets"].any_list.value:
                a = meta_graph_pb2.AssetFileDef()
                any_value.Unpack(a)
                assets.append([a.tensor_info.name, a.filename])
        counts: dict[str, int] = {}
        fnames = {f.signature.name for f in mg.graph_def.library.function}
        nodes = list(mg.graph_def.node) + [
            n for f in mg.graph_def.library.function for n in f.node_def
        ]
        for n in nodes:
            if n.op not in fnames:
                counts[n.op] = counts.get(n.op, 0) + 1
        saver = None
        if mg.HasField("saver_def"):
            sd = mg.saver_def
            saver = [
                sd.filename_tensor_name,
                sd.save_tensor_name,
                sd.restore_op_name,
                int(sd.version),
                sd.sharded,
            ]
        out["meta_graphs"].append(
            {
                "tags": list(mg.meta_info_def.tags),
                "tensorflow_version": mg.meta_info_def.tensorflow_version,
                "tensorflow_git_version": mg.meta_info_def.tensorflow_git_version,
                "stripped_default_attrs": mg.meta_info_def.stripped_default_attrs,
                "has_object_graph": mg.HasField("object_graph_def"),
                "graph_def_bytes": mg.graph_def.ByteSize(),
                "signatures": sigs,
                "assets": assets,
                "saver": saver,
                "counts": counts,
                "cli_ops": sorted(meta_graph_lib.ops_used_by_graph_def(mg.graph_def)),
                "num_functions": len(mg.graph_def.library.function),
            }
        )
    index = os.path.join(d, "variables", "variables.index")
    if os.path.isfile(index):
        reader = tf.train.load_checkpoint(os.path.join(d, "variables", "variables"))
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
        names = [k for k in shapes if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]
        numeric = all(dtypes[k] != tf.string for k in names)
        total = sum(int(np.prod(shapes[k])) * dtypes[k].size for k in names) if numeric else None
        out["variables"] = {"count": len(names), "total_bytes": total}
    else:
        out["variables"] = None
    if os.path.isfile(os.path.join(d, "fingerprint.pb")):
        fp = tf.saved_model.experimental.read_fingerprint(d)
        out["fingerprint"] = [
            fp.saved_model_checksum,
            fp.graph_def_program_hash,
            fp.signature_def_hash,
            fp.saved_object_graph_hash,
            fp.checkpoint_hash,
            fp.version.producer,
        ]
    else:
        out["fingerprint"] = None
    return out


def _inspect_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """_inspect_one for each request {dir}; {"error": ...} where TensorFlow cannot read it."""
    results = []
    for req in requests:
        try:
            results.append(_inspect_one(req["dir"]))
        except Exception as e:  # noqa: BLE001
            results.append({"error": f"{type(e).__name__}: {e}"})
    return results


def _examples_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TensorFlow's own serialization of tf.Example records (deterministic), hex-encoded."""
    import tensorflow as tf

    out = []
    for req in requests:
        ex = tf.train.Example()
        for name, (kind, values) in req["features"].items():
            feature = ex.features.feature[name]
            if kind == "bytes_list":
                feature.bytes_list.value.extend(bytes.fromhex(v) for v in values)
            else:
                getattr(feature, kind).value.extend(values)
        out.append({"hex": ex.SerializeToString(deterministic=True).hex()})
    return out


def _to_pbtxt(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies each SavedModel {dir, out} with saved_model.pb rewritten as saved_model.pbtxt."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    for req in requests:
        if os.path.isdir(req["out"]):
            continue
        tmp = req["out"] + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(req["dir"], tmp, ignore=shutil.ignore_patterns("saved_model.pb"))
        sm = saved_model_pb2.SavedModel()
        with open(os.path.join(req["dir"], "saved_model.pb"), "rb") as f:
            sm.ParseFromString(f.read())
        with open(os.path.join(tmp, "saved_model.pbtxt"), "w") as f:
            f.write(text_format.MessageToString(sm))
        os.rename(tmp, req["out"])
    return [{} for _ in requests]


def _run_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs saved_model_cli's run on each request; returns stdout and the saved outputs."""
    import contextlib
    import io

    import numpy as np
    from absl import flags
    from tensorflow.python.tools import saved_model_cli as smcli

    flags.FLAGS(["saved_model_cli"])
    results = []
    for req in requests:
        buf = io.StringIO()
        error = None
        for key in ("dir", "tag_set", "signature_def", "outdir"):
            setattr(flags.FLAGS, key, req.get(key))
        for key in ("inputs", "input_exprs", "input_examples"):
            setattr(flags.FLAGS, key, req.get(key, ""))
        flags.FLAGS.overwrite = True
        try:
            with contextlib.redirect_stdout(buf):
                smcli.run()
        except Exception as e:  # noqa: BLE001
            error = f"{type(e).__name__}: {e}"
        outputs = {}
        if req.get("outdir") and os.path.isdir(req["outdir"]):
            for name in sorted(os.listdir(req["outdir"])):
                arr = np.load(os.path.join(req["outdir"], name), allow_pickle=True)
                outputs[name] = {
                    "dtype": str(arr.dtype),
                    "shape": list(arr.shape),
                    "repr": repr(arr.tolist()),
                }
        results.append({"stdout": buf.getvalue(), "error": error, "outputs": outputs})
    return results


# --------------------------------------------------------------------------------------------
# Generators of the C++ tables (run inside the TensorFlow subprocess; see test_inspect.py,
# which checks that the checked-in tables match the installed TensorFlow)
# --------------------------------------------------------------------------------------------


def op_registry_source() -> str:
    """cpp/op_registry_data.inc: every op TensorFlow registers, its outputs and required attrs.

    show --all predicts what TensorFlow's Python loader does with a function library: which op
    types it does not know (custom ops) and how many tensors each node makes.
    """
    import tensorflow as tf
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    ops = op_def_pb2.OpList()
    ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
    lines = [
        "// Generated by `python tests/_inspect_models.py gen-op-registry` from the op registry of",
        f"// TensorFlow {tf.__version__} (TF_GetAllOpList). Facts only: for each op type, its outputs",
        "// (1: one tensor; #attr=d: as many as the int attr (default d); @attr=d: one per type in",
        "// the type-list attr (default d types)) and the attrs without a default value.",
        f'#define TFBUNDLE_OP_REGISTRY_VERSION "{tf.__version__}"',
    ]
    for op in sorted(ops.op, key=lambda o: o.name.encode()):
        attrs = {a.name: a for a in op.attr}
        outs = []
        for arg in op.output_arg:
            if arg.number_attr:
                a = attrs[arg.number_attr]
                d = f"={a.default_value.i}" if a.HasField("default_value") else ""
                outs.append(f"#{arg.number_attr}{d}")
            elif arg.type_list_attr:
                a = attrs[arg.type_list_attr]
                d = f"={len(a.default_value.list.type)}" if a.HasField("default_value") else ""
                outs.append(f"@{arg.type_list_attr}{d}")
            else:
                outs.append("1")
        required = [a.name for a in op.attr if not a.HasField("default_value")]
        lines.append(f'{{"{op.name}", "{",".join(outs)}", "{",".join(required)}"}},')
    return "\n".join(lines) + "\n"


def text_schema_source() -> str:
    """cpp/text_schema_data.inc: the messages reachable from SavedModel, for reading .pbtxt.

    Field names, numbers and types come from TensorFlow's descriptors (its .proto files).
    """
    import tensorflow as tf
    from google.protobuf.descriptor import FieldDescriptor as FD
    from tensorflow.core.protobuf import fingerprint_pb2, saved_model_pb2

    kinds = {
        FD.TYPE_INT32: "i",
        FD.TYPE_INT64: "i",
        FD.TYPE_UINT32: "u",
        FD.TYPE_UINT64: "u",
        FD.TYPE_SINT32: "z",
        FD.TYPE_SINT64: "z",
        FD.TYPE_BOOL: "b",
        FD.TYPE_ENUM: "e",
        FD.TYPE_STRING: "s",
        FD.TYPE_BYTES: "s",
        FD.TYPE_FLOAT: "f",
        FD.TYPE_DOUBLE: "d",
        FD.TYPE_FIXED32: "x",
        FD.TYPE_FIXED64: "X",
        FD.TYPE_SFIXED32: "x",
        FD.TYPE_SFIXED64: "X",
        FD.TYPE_MESSAGE: "m",
    }
    messages, enums, order = {}, {}, []

    def visit(desc) -> None:
        if desc.full_name in messages:
            return
        messages[desc.full_name] = desc
        order.append(desc)
        for f in desc.fields:
            if f.message_type is not None:
                visit(f.message_type)
            if f.enum_type is not None:
                enums[f.enum_type.full_name] = f.enum_type

    visit(saved_model_pb2.SavedModel.DESCRIPTOR)
    visit(fingerprint_pb2.FingerprintDef.DESCRIPTOR)
    lines = [
        "// Generated by `python tests/_inspect_models.py gen-text-schema` from the descriptors of",
        f"// TensorFlow {tf.__version__}'s protos (tensorflow/core/protobuf/*.proto,",
        "// tensorflow/core/framework/*.proto): every message reachable from SavedModel.",
        "// Kinds: i int32/int64, u uint32/uint64, z sint, b bool, e enum, s string/bytes, f float,",
        "// d double, x fixed32, X fixed64, m message. Number 0: a message without fields.",
        "#ifdef TFBUNDLE_SCHEMA_FIELDS",
    ]
    for desc in sorted(order, key=lambda d: d.full_name):
        if not desc.fields:  # a message without fields (NoneValue): one row with number 0
            lines.append(f'{{"{desc.full_name}", "", 0, \'m\', ""}},')
        for f in sorted(desc.fields, key=lambda f: f.number):
            type_name = ""
            if f.message_type is not None:
                type_name = f.message_type.full_name
            elif f.enum_type is not None:
                type_name = f.enum_type.full_name
            lines.append(
                f'{{"{desc.full_name}", "{f.name}", {f.number}, \'{kinds[f.type]}\', "{type_name}"}},'
            )
    lines.append("#endif")
    lines.append("#ifdef TFBUNDLE_SCHEMA_ENUMS")
    for name in sorted(enums):
        for v in enums[name].values:
            lines.append(f'{{"{name}", "{v.name}", {v.number}}},')
    lines.append("#endif")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Helpers for the tests (run in the pytest process; they never import TensorFlow)
# --------------------------------------------------------------------------------------------


def tf_version() -> str | None:
    """TensorFlow's version from its installed metadata, or None when it is not installed."""
    from importlib import metadata

    for dist in ("tensorflow-cpu", "tensorflow", "tf-nightly"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _cache_root() -> str:
    """Where models and oracles are cached: as conftest.py, $TFBUNDLE_TEST_CACHE or ~/.cache/tfbundle-tests."""
    return os.environ.get(
        "TFBUNDLE_TEST_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "tfbundle-tests")
    )


def _key(*parts: str) -> str:
    """A cache key: the model makers' source, TensorFlow's version and ``parts``."""
    import inspect

    h = hashlib.sha256()
    for name in MODEL_NAMES:
        h.update(inspect.getsource(_MAKERS[name]).encode())
    for p in parts:
        h.update(p.encode())
    return h.hexdigest()[:16]


def tf_env() -> dict[str, str]:
    """Environment for TensorFlow subprocesses: quiet logs, a fixed hash seed."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONPATH", None)
    return env


def tfbundle_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """Environment for subprocesses that import tfbundle: the same tfbundle as this process's.

    In a developer tree that is python/ (after dev/build.sh); after ``pip install .`` it is
    the installed package.
    """
    import tfbundle

    env = dict(os.environ if base is None else base)
    where = os.path.dirname(os.path.dirname(os.path.abspath(tfbundle.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [where, os.environ.get("PYTHONPATH")] if p)
    env.update(extra)
    return env


def _run_tf(cmd: list[str]) -> None:
    """Runs a TensorFlow subprocess quietly; raises with its stderr when it fails."""
    proc = subprocess.run(cmd, env=tf_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")


def models_dir() -> str:
    """Makes (once) and returns the folder holding one subfolder per name in MODEL_NAMES."""
    out = os.path.join(_cache_root(), "inspect-" + _key(str(tf_version())))
    if all(os.path.isdir(os.path.join(out, n)) for n in MODEL_NAMES):
        return out
    _run_tf([sys.executable, __file__, "make", out])
    return out


def _cached_oracle(kind: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs an oracle in a TensorFlow subprocess, cached by the request and the models' bytes."""
    import inspect

    h = hashlib.sha256(json.dumps(requests, sort_keys=True).encode())
    for req in requests:
        d = req.get("dir", "")
        for name in ("saved_model.pb", "saved_model.pbtxt"):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                h.update(str(os.path.getsize(p)).encode())
                with open(p, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    fn = _ORACLES[kind + "-oracle"]
    h.update(inspect.getsource(_show_one if fn is _show_oracle else fn).encode())
    path = os.path.join(
        _cache_root(), f"oracle-{kind}-{_key(str(tf_version()), h.hexdigest())}.json"
    )
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    os.makedirs(_cache_root(), exist_ok=True)
    req_path = path + ".request"
    with open(req_path, "w") as f:
        json.dump(requests, f)
    _run_tf([sys.executable, __file__, kind + "-oracle", req_path, path + ".partial"])
    os.replace(path + ".partial", path)
    os.remove(req_path)
    with open(path) as f:
        return json.load(f)


def inspect_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TensorFlow's reading of each SavedModel folder (see _inspect_one)."""
    return _cached_oracle("inspect", requests)


def examples_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TensorFlow's serialization of tf.Examples (see _examples_oracle)."""
    return _cached_oracle("examples", requests)


def pbtxt_copy(model_dir: str) -> str:
    """A copy of a SavedModel with saved_model.pb rewritten as text by protobuf (made once)."""
    out = os.path.join(
        _cache_root(), "pbtxt-" + _key(str(tf_version()), model_dir), os.path.basename(model_dir)
    )
    if not os.path.isdir(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        _cached_oracle("to-pbtxt", [{"dir": model_dir, "out": out}])
    return out


def show_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """saved_model_cli show's stdout for each request (see _show_oracle)."""
    return _cached_oracle("show", requests)


def run_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """saved_model_cli run's stdout and outputs for each request (see _run_oracle)."""
    return _cached_oracle("run", requests)


def testdata_models() -> list[str]:
    """Every SavedModel folder under ../shared/testdata (folders with saved_model.pb/.pbtxt)."""
    found = []
    for root, _dirs, files in os.walk(TESTDATA):
        if "saved_model.pb" in files or "saved_model.pbtxt" in files:
            found.append(root)
    return sorted(found)


_ORACLES = {
    "show-oracle": _show_oracle,
    "run-oracle": _run_oracle,
    "inspect-oracle": _inspect_oracle,
    "examples-oracle": _examples_oracle,
    "to-pbtxt-oracle": _to_pbtxt,
}


def main(argv: list[str]) -> int:
    """Entry point of the TensorFlow subprocesses."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if argv[0] == "make":
        _make_all(argv[1])
        return 0
    if argv[0] == "gen-tables":  # both tables into the folder argv[1]
        for name, fn in (("op_registry_data.inc", op_registry_source), ("text_schema_data.inc", text_schema_source)):
            with open(os.path.join(argv[1], name), "w") as f:
                f.write(fn())
        return 0
    if argv[0] in ("gen-op-registry", "gen-text-schema"):
        fn = op_registry_source if argv[0] == "gen-op-registry" else text_schema_source
        text = fn()
        if len(argv) > 1:
            with open(argv[1], "w") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return 0
    if argv[0] in _ORACLES:
        import logging

        logging.disable(logging.WARNING)
        with open(argv[1]) as f:
            requests = json.load(f)
        fn = _ORACLES[argv[0]]
        with open(argv[2], "w") as f:
            json.dump(fn(requests), f)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
