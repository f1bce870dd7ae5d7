"""saved_model_cli and TensorFlow's protos as oracles for test_inspect.py and test_cli.py.

The oracles run ``saved_model_cli``'s own functions on many models in one TensorFlow process
(a fresh ``saved_model_cli`` process per model costs 5 s) with ``PYTHONHASHSEED=0``, so the op
sets it prints come out in the order tfbundle prints them when it runs with the same seed.
Each oracle runs through the test factory (tests/_factory.py): this file run as a maker,
``python tests/_inspect_models.py KIND-oracle OUT`` with the requests as JSON on its standard
input, writes OUT/result.json, cached by the requests, this file's source and TensorFlow's
version. The models they read are made by tests/makers/cli_models.py.

Run by hand::

    python tests/_inspect_models.py show-oracle OUT < REQUESTS.json
    python tests/_inspect_models.py to-pbtxt SAVED_MODEL_DIR OUT
    python tests/_inspect_models.py gen-op-registry cpp/op_registry_data.inc
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any

from _factory import make

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


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


def _to_pbtxt(src: str, out: str) -> None:
    """Copies the SavedModel SRC into OUT/<its name>, saved_model.pb rewritten as .pbtxt."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    dst = os.path.join(out, os.path.basename(src))
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("saved_model.pb"))
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(src, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    with open(os.path.join(dst, "saved_model.pbtxt"), "w") as f:
        f.write(text_format.MessageToString(sm))


def _run_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs saved_model_cli's run on each request; returns stdout and the saved outputs.

    A request's values may name ``{tmp}``, a scratch folder that its ``files`` (name: base64
    bytes) are written to first. The stdout recorded names that folder ``{tmp}`` again, so
    that the answer does not depend on where the oracle ran (and can be cached).
    """
    import base64
    import contextlib
    import io
    import tempfile

    import numpy as np
    from absl import flags
    from tensorflow.python.tools import saved_model_cli as smcli

    flags.FLAGS(["saved_model_cli"])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for req in requests:
            for name, data in req.get("files", {}).items():
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(base64.b64decode(data))
        for request in requests:
            req = {k: v.replace("{tmp}", tmp) if isinstance(v, str) else v for k, v in request.items()}
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
                error = f"{type(e).__name__}: {e}".replace(tmp, "{tmp}")
            outputs = {}
            if req.get("outdir") and os.path.isdir(req["outdir"]):
                for name in sorted(os.listdir(req["outdir"])):
                    arr = np.load(os.path.join(req["outdir"], name), allow_pickle=True)
                    outputs[name] = {
                        "dtype": str(arr.dtype),
                        "shape": list(arr.shape),
                        "repr": repr(arr.tolist()),
                    }
            stdout = buf.getvalue().replace(tmp, "{tmp}")
            results.append({"stdout": stdout, "error": error, "outputs": outputs})
    return results


# --------------------------------------------------------------------------------------------
# The generator of the C++ op registry table (run inside the TensorFlow subprocess; see
# test_inspect.py, which checks that the checked-in table matches the installed TensorFlow).
# The text-format schema (cpp/text_schema_data.inc) is made from proto/ by dev/gen_protos.py.
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


# --------------------------------------------------------------------------------------------
# Helpers for the tests (run in the pytest process; they never import TensorFlow)
# --------------------------------------------------------------------------------------------


def _oracle(kind: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One answer per request from an oracle run in TensorFlow (made once per request list)."""
    stdin = json.dumps(requests, sort_keys=True)
    out = make(__file__, f"{kind}-oracle", name=f"oracle-{kind}", stdin=stdin)
    with open(os.path.join(out, "result.json")) as f:
        return json.load(f)


def inspect_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TensorFlow's reading of each SavedModel folder (see _inspect_one)."""
    return _oracle("inspect", requests)


def examples_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TensorFlow's serialization of tf.Examples (see _examples_oracle)."""
    return _oracle("examples", requests)


def show_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """saved_model_cli show's stdout for each request (see _show_oracle)."""
    return _oracle("show", requests)


def run_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """saved_model_cli run's stdout and outputs for each request (see _run_oracle)."""
    return _oracle("run", requests)


def pbtxt_copy(model_dir: str) -> str:
    """A copy of a SavedModel with saved_model.pb rewritten as text by protobuf (made once)."""
    out = make(__file__, "to-pbtxt", model_dir, name="pbtxt")
    return os.path.join(out, os.path.basename(model_dir))


_ORACLES = {
    "show-oracle": _show_oracle,
    "run-oracle": _run_oracle,
    "inspect-oracle": _inspect_oracle,
    "examples-oracle": _examples_oracle,
}


def main(argv: list[str]) -> int:
    """Entry point of the TensorFlow subprocesses."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if argv[0] == "to-pbtxt":
        _to_pbtxt(argv[1], argv[2])
        return 0
    if argv[0] == "gen-op-registry":
        text = op_registry_source()
        if len(argv) > 1:
            with open(argv[1], "w") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
        return 0
    if argv[0] in _ORACLES:
        import logging

        logging.disable(logging.WARNING)
        requests = json.load(sys.stdin)
        os.makedirs(argv[1])
        with open(os.path.join(argv[1], "result.json"), "w") as f:
            json.dump(_ORACLES[argv[0]](requests), f)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
