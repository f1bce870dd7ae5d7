"""The op policy against TensorFlow's whole op registry, and on crafted graphs.

The registry test is the systematic review of the deny list: every op type of the installed
TensorFlow with an input or attr that names a file, a directory, a database or a network address
(policy.FILE_SYSTEM_ARGS) must be denied, noted or reviewed as harmless. The crafted graphs check
that what the policy reads follows protobuf's parsing rules where a model could play on them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import tfbundle
from _util import tfbundle_env
from tfbundle import _proto as pb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
import saved_model_facts as facts  # the crafted-model builders the fuzz targets use
from bundle_writer import f_bytes  # the wire primitives the fuzz targets write with
from tfbundle._readers.policy import DENIED_OPS, FILE_SYSTEM_ARGS, NOTED_OPS, REVIEWED_OPS, findings

_DUMP_REGISTRY = r"""
import json
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session as c
ops = op_def_pb2.OpList()
ops.ParseFromString(c.TF_GetBuffer(c.TF_GetAllOpList()))
print(json.dumps({o.name: [a.name for a in list(o.input_arg) + list(o.attr)] for o in ops.op}))
"""


@pytest.fixture(scope="module")
def registry() -> dict[str, list[str]]:
    """Op type -> names of its inputs and attrs, from the installed TensorFlow's registry."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-c", _DUMP_REGISTRY], capture_output=True, text=True, env=env, check=True, timeout=300
    )
    ops: dict[str, list[str]] = json.loads(out.stdout)
    return ops


@pytest.mark.needs_tensorflow  # it lists the op registry
def test_every_op_reaching_files_or_network_is_judged(registry: dict[str, list[str]]) -> None:
    assert len(registry) > 1000
    judged = set(DENIED_OPS) | set(NOTED_OPS) | set(REVIEWED_OPS)
    unjudged = {
        op: sorted(set(args) & FILE_SYSTEM_ARGS)
        for op, args in registry.items()
        if set(args) & FILE_SYSTEM_ARGS and op not in judged
    }
    assert not unjudged, f"op types that may reach outside the model and are not judged: {unjudged}"


@pytest.mark.needs_tensorflow  # it lists the op registry
def test_reviewed_ops_are_real_and_not_also_denied(registry: dict[str, list[str]]) -> None:
    assert not set(REVIEWED_OPS) & set(DENIED_OPS)
    assert set(REVIEWED_OPS) <= set(registry)
    plain = {op.split("(")[0] for op in DENIED_OPS} | set(NOTED_OPS)
    missing = sorted(op for op in plain if op not in registry)
    # Ops of TensorFlow's contrib era or of optional libraries (kept: older models use them).
    assert set(missing) <= {
        "DTensorRestoreV2", "RpcClient", "RpcServer", "RpcServerStart", "RpcServerRegister", "RpcCall",
        "RpcGetValue", "RpcCheckStatus", "CalibrationStatisticsSaver", "DistributedSave", "DumpTensor",
        "ListSnapshotChunksDataset", "SnapshotChunkDataset", "SnapshotNestedDatasetReader",
        "SnapshotDatasetReader", "DataServiceDatasetV4", "LoadDataset", "SaveDatasetV2",
        "SummaryWriter", "FileSystemSetConfiguration", "DebugIdentityV3",
    }, missing


# ------------------------------------------------------------------- crafted graphs ---


def _node(name: str, op: str, inputs: tuple[str, ...] = (), **attrs: str) -> bytes:
    return facts.node(name, op, *inputs, **attrs).SerializeToString()


def _saved_model(folder: Path, nodes: list[bytes], output: str) -> Path:
    """A SavedModel whose serving_default returns `output`; nodes are raw NodeDef bytes."""
    graph = pb.GraphDef()
    graph.MergeFromString(b"".join(f_bytes(1, n) for n in nodes))  # GraphDef.node = 1
    meta = pb.MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    meta.graph_def.CopyFrom(graph)
    sig = meta.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    sig.outputs["y"].name = output
    sig.outputs["y"].dtype = 7
    model = pb.SavedModel(saved_model_schema_version=1)
    model.meta_graphs.append(meta)
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(model.SerializeToString())
    return folder


def _policy(folder: Path) -> dict[str, int]:
    info = tfbundle.inspect(folder, ops=True)
    ops = info.meta_graphs[0].ops
    assert ops is not None
    return dict(ops.policy_counts)


def test_an_attr_given_twice_is_judged_by_its_last_value(tmp_path: Path) -> None:
    # A NodeDef whose attr map names output_stream twice: protobuf keeps the last entry.
    first = _node("p", "PrintV2", ("c",), output_stream="stderr")
    second = pb.NodeDef()
    second.attr["output_stream"].s = b"file:///tmp/tfbundle-policy-test.txt"
    node = first + second.SerializeToString()
    assert pb.NodeDef.FromString(node).attr["output_stream"].s.startswith(b"file://")
    model = _saved_model(tmp_path / "m", [_node("c", "Const"), node], "p:0")
    counts = _policy(model)
    assert counts.get("PrintV2(file)") == 1 and "PrintV2" not in counts
    assert [f.op for f in findings(counts) if f.denied] == ["PrintV2(file)"]
    with pytest.raises(tfbundle.PermissionDeniedError, match=r"PrintV2\(file\)"):
        tfbundle.load(model, allowed_ops=())

    # The reverse order is harmless.
    safe = _node("p", "PrintV2", ("c",), output_stream="file:///x") + _node("", "", output_stream="stderr")
    assert pb.NodeDef.FromString(safe).attr["output_stream"].s == b"stderr"
    counts = _policy(_saved_model(tmp_path / "s", [_node("c", "Const"), safe], "p:0"))
    assert counts.get("PrintV2") == 1 and "PrintV2(file)" not in counts


@pytest.mark.parametrize(
    ("op", "source", "key"),
    [
        ("DecodeProtoV2", "/etc/descriptors.bin", "DecodeProtoV2(file)"),
        ("EncodeProto", "descriptors.bin", "EncodeProto(file)"),
        ("DecodeProtoV2", "local://", "DecodeProtoV2"),
        ("DecodeProtoV2", "bytes://\x0a\x00", "DecodeProtoV2"),
    ],
)
def test_proto_ops_reading_descriptor_files(tmp_path: Path, op: str, source: str, key: str) -> None:
    nodes = [_node("c", "Const"), _node("p", op, ("c",), descriptor_source=source)]
    counts = _policy(_saved_model(tmp_path / "m", nodes, "p:0"))
    assert counts.get(key) == 1
    assert any(f.denied for f in findings(counts)) == key.endswith("(file)")


@pytest.mark.parametrize("op", ["CacheDatasetV2", "RegisterDatasetV2", "Skipgram", "FixedUnigramCandidateSampler"])
def test_newly_denied_ops(tmp_path: Path, op: str) -> None:
    counts = _policy(_saved_model(tmp_path / "m", [_node("c", "Const"), _node("p", op, ("c",))], "p:0"))
    assert [f.op for f in findings(counts) if f.denied] == [op]


# ------------------------------------------------ where a table's file path comes from ---
#
# A text-file lookup table reads the file its `filename` input names. From one of the model's
# assets that is a file in assets/ (noted); from anything else it can be any file, whose lines a
# signature can hand back (denied as "InitializeTableFromTextFileV2(path)"). Each case below is a
# graph shaped as TF1 or TF2 exports are, with one thing changed. The rules: cpp/asset_flow.h.

_TABLE_OP = "InitializeTableFromTextFileV2"


def _table_model(folder: Path, graph: Sequence[Any], functions: Sequence[Any] = (), *, path: str = "path") -> Path:
    """A SavedModel whose init op initialises a table from `path`; asset_path:0 is its one asset."""
    meta = pb.MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    g = meta.graph_def
    g.node.extend([facts.node("asset_path", "Placeholder", dtype=7), facts.node("table", "HashTableV2")])
    g.node.extend(graph)
    if path:
        g.node.append(facts.node("init_table", _TABLE_OP, "table", path))
    g.node.append(facts.node("init", "NoOp", "^init_table" if path else "^table", *[f"^{n.name}" for n in graph]))
    g.library.function.extend(functions)
    meta.signature_def["__saved_model_init_op"].outputs["__saved_model_init_op"].name = "init"
    asset = meta.asset_file_def.add(filename="vocab.txt")
    asset.tensor_info.name = "asset_path:0"
    model = pb.SavedModel(saved_model_schema_version=1)
    model.meta_graphs.append(meta)
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(model.SerializeToString())
    (folder / "assets").mkdir()
    (folder / "assets" / "vocab.txt").write_text("a\nb\n")
    return folder


def _initializer(name: str = "init_fn", *, body_input: str = "path") -> Any:
    """A library function (table, path) that initialises `table` from `body_input`."""
    fn = pb.FunctionDef()
    fn.signature.name = name
    fn.signature.input_arg.add(name="table", type=20)
    fn.signature.input_arg.add(name="path", type=7)
    fn.node_def.add(name="t", op=_TABLE_OP, input=["table", body_input])
    return fn


def _call(name: str, fn: str, *inputs: str, op: str = "StatefulPartitionedCall") -> Any:
    return facts.node(name, op, *inputs, f=facts.func_attr(fn))


def _tf2_variable(*extra: Any, name: str = "Variable") -> list[Any]:
    """The asset path as TF2 exports hold it: a string variable assigned from the asset, read."""
    return [
        facts.node(name, "VarHandleOp", dtype=7, shared_name=name),
        facts.node(f"{name}/Assign", "AssignVariableOp", name, "asset_path"),
        facts.node("read", "ReadVariableOp", name, f"^{name}/Assign", dtype=7),
        *extra,
    ]


def _ident(name: str, source: str, op: str = "Identity") -> Any:
    return facts.node(name, op, source)


_FROM_ASSETS: dict[str, tuple[list[Any], list[Any], str]] = {
    "the asset tensor": ([], [], "asset_path"),
    "the asset tensor, output 0 written out": ([], [], "asset_path:0"),
    "through Identity, Snapshot and StopGradient": (
        [_ident("i1", "asset_path"), _ident("i2", "i1", "Snapshot"), _ident("i3", "i2:0", "StopGradient")], [], "i3"),
    "through IdentityN, by output index": (
        [facts.node("c", "Const", dtype=7), facts.node("n", "IdentityN", "c", "asset_path")], [], "n:1"),
    "a TF2 asset variable read in the graph": (_tf2_variable(), [], "read"),
    "a function argument whose every call passes the asset": (
        [_call("call1", "init_fn", "table", "asset_path"),
         _call("call2", "init_fn", "table", "asset_path", op="PartitionedCall")],
        [_initializer()], ""),
    "a TF2 asset variable passed to the initializer function": (
        _tf2_variable(_call("call", "init_fn", "table", "read")), [_initializer()], ""),
    "a function called by its name": (
        [facts.node("call", "init_fn", "table", "asset_path")], [_initializer()], ""),
}

_NOT_FROM_ASSETS: dict[str, tuple[list[Any], list[Any], str]] = {
    "a constant path": ([facts.node("c", "Const", dtype=7)], [], "c"),
    "a signature input": ([facts.node("input_path", "Placeholder", dtype=7)], [], "input_path"),
    "a path computed from the asset": (
        [facts.node("c", "Const", dtype=7), facts.node("j", "StringJoin", "asset_path", "c")], [], "j"),
    "another output of the asset's node": ([], [], "asset_path:1"),
    "IdentityN's other output": (
        [facts.node("c", "Const", dtype=7), facts.node("n", "IdentityN", "c", "asset_path")], [], "n:0"),
    "an unreadable output index": ([], [], "asset_path:x"),
    "a missing node": ([], [], "nowhere"),
    "a cycle of Identity nodes": ([_ident("a", "b"), _ident("b", "a")], [], "a"),
    "a function argument with one call passing a constant": (
        [facts.node("c", "Const", dtype=7), _call("call1", "init_fn", "table", "asset_path"),
         _call("call2", "init_fn", "table", "c")], [_initializer()], ""),
    "a function argument of a call with too few inputs": (
        [_call("call", "init_fn", "table")], [_initializer()], ""),
    "a function also used as a branch of If": (
        [_call("call", "init_fn", "table", "asset_path"),
         facts.node("if", "If", "asset_path", then_branch=facts.func_attr("init_fn"),
                    else_branch=facts.func_attr("init_fn"))], [_initializer()], ""),
    "a constant inside the function": (
        [_call("call", "init_fn", "table", "asset_path")],
        [_initializer(body_input="c:output:0")], ""),
    "a TF2 variable also assigned a constant": (
        _tf2_variable(facts.node("c", "Const", dtype=7), facts.node("again", "AssignVariableOp", "Variable", "c")),
        [], "read"),
    "a TF2 variable restored from the checkpoint": (
        _tf2_variable(_call("restore", "restore_fn", "Variable")), [], "read"),
    "a TF2 variable never assigned": (
        [facts.node("Variable", "VarHandleOp", dtype=7, shared_name="Variable"),
         facts.node("read", "ReadVariableOp", "Variable", dtype=7)], [], "read"),
    "a TF2 variable also created in a function": (
        _tf2_variable(_call("call", "write_fn", "table")), [], "read"),
    "a variable handle through an Identity": (
        _tf2_variable(_ident("h", "Variable"), facts.node("read2", "ReadVariableOp", "h", dtype=7)), [], "read2"),
}


def _write_fn() -> Any:
    fn = pb.FunctionDef()
    fn.signature.name = "write_fn"
    fn.signature.input_arg.add(name="table", type=20)
    fn.node_def.add(name="v", op="VarHandleOp").attr["shared_name"].s = b"Variable"
    return fn


def _restore_fn() -> Any:
    fn = pb.FunctionDef()
    fn.signature.name = "restore_fn"
    fn.signature.input_arg.add(name="v", type=20)
    return fn


@pytest.mark.parametrize("case", sorted(_FROM_ASSETS))
def test_a_table_reading_an_asset_is_only_noted(tmp_path: Path, case: str) -> None:
    graph, functions, path = _FROM_ASSETS[case]
    model = _table_model(tmp_path / "m", graph, functions, path=path)
    counts = _policy(model)
    assert counts.get(_TABLE_OP) == 1 and f"{_TABLE_OP}(path)" not in counts, counts
    assert facts.compare((model / "saved_model.pb").read_bytes(), folder=tmp_path / "oracle") is not None
    assert [f.op for f in findings(counts)] == [_TABLE_OP]
    assert not any(f.denied for f in findings(counts))


@pytest.mark.parametrize("case", sorted(_NOT_FROM_ASSETS))
def test_a_table_reading_any_other_path_is_denied(tmp_path: Path, case: str) -> None:
    graph, functions, path = _NOT_FROM_ASSETS[case]
    functions = [*functions, _write_fn(), _restore_fn()]
    model = _table_model(tmp_path / "m", graph, functions, path=path)
    counts = _policy(model)
    assert counts.get(f"{_TABLE_OP}(path)") == 1 and _TABLE_OP not in counts, counts
    denied = [f for f in findings(counts) if f.denied]
    assert [f.op for f in denied] == [f"{_TABLE_OP}(path)"] and "not one of the model's assets" in denied[0].reason
    with pytest.raises(tfbundle.PermissionDeniedError, match=r"InitializeTableFromTextFileV2\(path\)"):
        tfbundle.load(model, allowed_ops=())
    # Allowing the op type allows it whatever its path; the protobuf oracle (fuzz/) agrees.
    assert not [f for f in findings(counts, allowed_ops=[_TABLE_OP]) if f.denied]
    assert facts.compare((model / "saved_model.pb").read_bytes(), folder=tmp_path / "oracle") is not None


def test_a_long_chain_to_an_asset_is_bounded(tmp_path: Path) -> None:
    # 5,000 Identity nodes: the walk stops at its depth limit (and calls the path no asset)
    # instead of recursing through the whole graph.
    chain = [_ident("i0", "asset_path")] + [_ident(f"i{k}", f"i{k - 1}") for k in range(1, 5000)]
    counts = _policy(_table_model(tmp_path / "m", chain, path="i4999"))
    assert counts.get(f"{_TABLE_OP}(path)") == 1
    short = _policy(_table_model(tmp_path / "s", chain[:100], path="i99"))
    assert short.get(_TABLE_OP) == 1


@pytest.mark.parametrize("op", ["LoadAndRemapMatrix", "GenerateVocabRemapping"])
def test_warm_starting_ops_are_judged_by_their_paths(tmp_path: Path, op: str) -> None:
    nodes = [facts.node("c", "Const", dtype=7), facts.node("w", op, "asset_path", "asset_path")]
    counts = _policy(_table_model(tmp_path / "a", nodes, path=""))
    assert counts.get(op) == 1
    nodes = [facts.node("c", "Const", dtype=7), facts.node("w", op, "c", "asset_path")]
    counts = _policy(_table_model(tmp_path / "c", nodes, path=""))
    assert counts.get(f"{op}(path)") == 1


def test_a_denylist_entry_and_an_allowance_cover_the_variants(tmp_path: Path) -> None:
    counts = {f"{_TABLE_OP}(path)": 1, "PrintV2(file)": 2}
    assert [f.op for f in findings(counts, only=[_TABLE_OP, "PrintV2"])] == [f"{_TABLE_OP}(path)", "PrintV2(file)"]
    assert [f.op for f in findings(counts, allowed_ops="PrintV2")] == [f"{_TABLE_OP}(path)"]


# ------------------------------------------- the same, on models TensorFlow itself wrote ---

_TF_VOCABULARY_MODELS = (
    "tensorflow/cc_saved_model_testdata/StaticHashTableModule",
    "tfx/tft_tf2_saved_model",
    "tfx/trainer_current_Format-Serving/export/chicago-taxi/1646034756",
    "tfx/trainer_current_Format-TFMA/1646034758",
)


@pytest.mark.parametrize("name", ["tf1_input", "tf1_constant", "tf2_input"])
def test_a_table_reading_a_file_outside_the_model_is_refused(
    tf_models: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    model = tf_models("table_paths") / name
    secret = tmp_path / "secret.txt"
    secret.write_text("top\nsecret\n")
    monkeypatch.chdir(tmp_path)  # tf1_constant reads "secret.txt" from the working folder
    # Without a policy the model reads the file and returns its lines, as it does in TensorFlow.
    with tfbundle.load(model) as m:
        sig = m.signatures["serving_default"]
        out = sig(path=str(secret)) if "input" in name else sig()
    assert sorted(out["lines"].tolist()) == [b"secret", b"top"]
    with pytest.raises(tfbundle.PermissionDeniedError, match=r"InitializeTableFromTextFileV2\(path\) \(reads a text"):
        tfbundle.load(model, allowed_ops=())
    with tfbundle.load(model, allowed_ops="InitializeTableFromTextFileV2"):
        pass  # allowed by the caller
    r = subprocess.run([sys.executable, "-m", "tfbundle", "scan", str(model)], capture_output=True, text=True,
                       env=tfbundle_env(), check=False, timeout=120)  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    line = r"^  InitializeTableFromTextFileV2\s+1  DENIED: reads a text file whose path"
    assert re.search(line, r.stdout, re.MULTILINE), r.stdout


@pytest.mark.parametrize("name", _TF_VOCABULARY_MODELS)
def test_the_vocabulary_tables_of_real_exports_read_their_assets(testdata: Path, name: str) -> None:
    info = tfbundle.inspect(testdata / name, ops=True)
    for mg in info.meta_graphs:
        assert mg.ops is not None
        assert mg.ops.policy_counts.get("InitializeTableFromTextFileV2", 0) >= 1
        assert not [k for k in mg.ops.policy_counts if k.endswith("(path)")], mg.ops.policy_counts
        assert not [f for f in findings(mg.ops.policy_counts) if f.denied]
