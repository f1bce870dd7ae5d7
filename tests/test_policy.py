"""The op policy against TensorFlow's whole op registry, and on crafted graphs.

The registry test is the systematic review of the deny list: every op type of the installed
TensorFlow with an input or attr that names a file, a directory, a database or a network address
(policy.FILE_SYSTEM_ARGS) must be denied, noted or reviewed as harmless. The crafted graphs check
that what the policy reads follows protobuf's parsing rules where a model could play on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tfbundle
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
        "SnapshotDatasetReader", "DataServiceDatasetV4", "LoadDataset", "SaveDatasetV2", "Snapshot",
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
