"""Why the compile cache runs a stored call in a session of its own with grappler off.

Usage::

    python bench/bench_compiled_graph.py [--model mobilenet_v2] [--repeats 3]

In TensorFlow's own Python (``tf.compat.v1``, no tfbundle), for a bench model (made by
``bench/make_models.py`` when missing): the SavedModel's serving signature is called once with
``RunOptions.output_partition_graphs``; the one partition graph that comes back (the graph the
session optimized for that call) is rewritten as tfbundle stores it (``_Arg``/``_Retval`` to
``Placeholder``/``Identity``, names under a prefix but the variables' handles), then its first call
is timed three ways, each in a new graph and session with the variables assigned first:

- ``own session, grappler off``: the stored graph alone, ``disable_meta_optimizer`` (tfbundle's way);
- ``own session, grappler on``: the stored graph alone, tfbundle's default grappler settings;
- ``beside the model's graph, grappler off``: the SavedModel loaded into the same session.

Also the model's own first call (grappler on, tfbundle's settings). Each row: the median of
``--repeats`` runs, in ms, of the run that assigns the variables (the session's first run since the
import, which takes the imported graph in) and of the first call; every output is checked equal to
the model's own, bit for bit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_models  # noqa: E402

INPUTS = {"mobilenet_v2": (1, 224, 224, 3), "dense": (1, 256)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mobilenet_v2", choices=sorted(INPUTS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=HERE / "_build" / "models")
    args = ap.parse_args(argv)
    path = make_models.model_dir(str(args.cache), args.model)
    if not make_models.is_complete(path):
        make_models.make(str(args.cache), [args.model])

    import tensorflow as tf
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    x = np.random.default_rng(0).random(INPUTS[args.model], dtype=np.float32)

    def config(grappler: bool) -> config_pb2.ConfigProto:
        rw = rewriter_config_pb2.RewriterConfig(
            meta_optimizer_iterations=1, memory_optimization=1, disable_tfg_optimizer=True,
            disable_meta_optimizer=not grappler,
        )  # fmt: skip
        return config_pb2.ConfigProto(graph_options=config_pb2.GraphOptions(rewrite_options=rw))

    def load(session: object) -> tuple[str, str]:
        meta = tf1.saved_model.loader.load(session, ["serve"], path)
        sig = meta.signature_def["serving_default"]
        return next(iter(sig.inputs.values())).name, next(iter(sig.outputs.values())).name

    # The model's own first call, and the partition graph it ran.
    own: list[float] = []
    for _ in range(args.repeats):
        with tf.Graph().as_default() as g, tf1.Session(graph=g, config=config(True)) as s:
            feed, fetch = load(s)
            metadata = config_pb2.RunMetadata()
            t0 = time.perf_counter()
            expected = s.run(fetch, {feed: x}, config_pb2.RunOptions(output_partition_graphs=True), metadata)
            own.append(time.perf_counter() - t0)
    (partition,) = metadata.partition_graphs

    # The rewrite tfbundle stores (cpp/compiled_graph.cc), in Python.
    handles = {n.name for n in partition.node if n.op == "VarHandleOp"}

    def rename(name: str) -> str:
        return name if name in handles else "stored/" + name

    stored = graph_pb2.GraphDef()
    stored.versions.CopyFrom(partition.versions)
    for n in partition.node:
        m = stored.node.add()
        m.CopyFrom(n)
        m.name = rename(n.name)
        del m.input[:]
        for i in n.input:
            control = i.startswith("^")
            node, _, output = i.lstrip("^").partition(":")
            m.input.append(("^" if control else "") + rename(node) + (":" + output if output else ""))
        m.attr.pop("_class", None)
        if n.op in ("_Arg", "_Retval"):
            dtype = n.attr["T"].type
            m.attr.clear()
            m.op = "Placeholder" if n.op == "_Arg" else "Identity"
            m.attr["dtype" if n.op == "_Arg" else "T"].type = dtype
    arg = next(rename(n.name) for n in partition.node if n.op == "_Arg") + ":0"
    ret = next(rename(n.name) for n in partition.node if n.op == "_Retval") + ":0"
    # The variables' values, read from the model's own session through its handles (the stored
    # graph keeps their names).
    dtypes = {n.name: n.attr["dtype"].type for n in partition.node if n.op == "VarHandleOp"}
    with tf.Graph().as_default() as g, tf1.Session(graph=g, config=config(True)) as s:
        load(s)
        reads = {h: tf1.raw_ops.ReadVariableOp(resource=g.get_tensor_by_name(h + ":0"), dtype=t)
                 for h, t in dtypes.items()}  # fmt: skip
        values = s.run(reads)

    rows = {
        label: {"assign": [], "first": []}
        for label in (
            "own session, grappler off",
            "own session, grappler on",
            "beside the model's graph, grappler off",
        )
    }
    for _ in range(args.repeats):
        for label in rows:
            with tf.Graph().as_default() as g:
                beside = label.startswith("beside")
                s = tf1.Session(graph=g, config=config("grappler on" in label))
                if beside:
                    load(s)
                tf1.import_graph_def(stored, name="c")
                assigns, feeds = [], {}
                for h, v in values.items():
                    p = tf1.placeholder(v.dtype, v.shape)
                    assigns.append(tf1.raw_ops.AssignVariableOp(resource=g.get_tensor_by_name(f"c/{h}:0"), value=p))
                    feeds[p] = v
                t0 = time.perf_counter()
                s.run(assigns, feeds)  # the session's first run since the import: it takes the graph in
                t1 = time.perf_counter()
                got = s.run("c/" + ret, {"c/" + arg: x})
                rows[label]["assign"].append(t1 - t0)
                rows[label]["first"].append(time.perf_counter() - t1)
                s.close()
                if not np.array_equal(got, expected):
                    print(f"warning: {label}: the outputs differ from the model's own", file=sys.stderr)

    print(f"{args.model}: partition graph of {len(partition.node)} nodes, {len(handles)} variable handles; "
          f"first call, median of {args.repeats} (ms)")  # fmt: skip
    print("| run | variables assigned | first call |\n|---|---|---|")
    print(f"| model's own first call, grappler on | | {1e3 * statistics.median(own):.0f} |")
    for label, times in rows.items():
        print(f"| stored graph, {label} | {1e3 * statistics.median(times['assign']):.0f} | "
              f"{1e3 * statistics.median(times['first']):.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
