"""proto/, tfbundle's own declaration of TensorFlow's messages, against TensorFlow's descriptors.

The messages of proto/ keep TensorFlow's names, field numbers, types and enum values under a
private package (see proto/README.md). Here they are compared with the descriptors of
TensorFlow's own generated modules, read in a subprocess (the pytest process never imports
TensorFlow), and the files generated from them are checked to be current.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from _util import tfbundle_env

REPO = Path(__file__).resolve().parent.parent
PRIVATE = "tfbundle_private."

#: Messages proto/ declares with only the fields tfbundle reads or writes (TensorFlow's names);
#: every other message of the tensorflow package is declared whole, as the text-format reader
#: needs it. TF Serving's messages are all partial.
PARTIAL = {
    "tensorflow.ConfigProto",
    "tensorflow.DeviceStepStats",
    "tensorflow.GPUOptions",
    "tensorflow.GraphOptions",
    "tensorflow.NodeExecStats",
    "tensorflow.RewriterConfig",
    "tensorflow.RunMetadata",
    "tensorflow.RunOptions",
    "tensorflow.TrackableObjectGraph.TrackableObject",
    "tensorflow.VariableDef",
}

# Runs in a TensorFlow subprocess: the descriptors of the messages named on stdin, the enums
# they use, and TensorFlow's Python names of the DataTypes.
_TF_SCRIPT = textwrap.dedent(
    """
    import importlib, json, sys
    from google.protobuf import descriptor_pool

    modules = [
        "tensorflow.core.example.example_pb2",
        "tensorflow.core.framework.step_stats_pb2",
        "tensorflow.core.framework.variable_pb2",
        "tensorflow.core.protobuf.config_pb2",
        "tensorflow.core.protobuf.rewriter_config_pb2",
        "tensorflow.core.protobuf.fingerprint_pb2",
        "tensorflow.core.protobuf.saved_model_pb2",
        "tensorflow.core.protobuf.tensor_bundle_pb2",
        "tensorflow.core.protobuf.trackable_object_graph_pb2",
        "tensorflow.python.training.checkpoint_state_pb2",
        "tensorflow_serving.apis.prediction_log_pb2",
        "tensorflow_serving.session_bundle.manifest_pb2",
    ]
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # TF Serving's modules are rarely installed
    from tensorflow.python.framework import dtypes

    pool = descriptor_pool.Default()
    out = {"messages": {}, "enums": {}, "short_names": {}}
    for name in json.load(sys.stdin):
        try:
            desc = pool.FindMessageTypeByName(name)
        except KeyError:
            continue
        fields = {}
        for f in desc.fields:
            repeated = f.is_repeated if hasattr(f, "is_repeated") else f.label == 3
            sub = f.message_type or f.enum_type
            opts = f.GetOptions()
            fields[f.name] = [
                f.number, f.type, repeated, sub.full_name if sub else "",
                f.containing_oneof.name if f.containing_oneof else "",
                opts.HasField("packed") and not opts.packed,
            ]
            if f.enum_type is not None:
                out["enums"][f.enum_type.full_name] = {v.name: v.number for v in f.enum_type.values}
        out["messages"][name] = fields
    dt = pool.FindEnumTypeByName("tensorflow.DataType")
    out["enums"][dt.full_name] = {v.name: v.number for v in dt.values}
    for v in dt.values:
        try:
            out["short_names"][v.number] = dtypes.as_dtype(v.number).name
        except (TypeError, ValueError, KeyError):
            pass
    json.dump(out, sys.stdout)
    """
)


def _public(name: str) -> str:
    return name.removeprefix(PRIVATE)


def _ours() -> tuple[dict[str, dict[str, list[Any]]], dict[str, dict[str, int]]]:
    """(message -> field -> facts, enum -> value -> number) of proto/, with TensorFlow's names."""
    from tfbundle import _proto

    pool = _proto.pool()
    messages: dict[str, dict[str, list[Any]]] = {}
    enums: dict[str, dict[str, int]] = {}

    def visit(desc: Any) -> None:
        fields = {}
        for f in desc.fields:
            repeated = f.is_repeated if hasattr(f, "is_repeated") else f.label == 3
            sub = f.message_type or f.enum_type
            opts = f.GetOptions()
            fields[f.name] = [
                f.number, f.type, repeated, _public(sub.full_name) if sub else "",
                f.containing_oneof.name if f.containing_oneof else "",
                opts.HasField("packed") and not opts.packed,
            ]  # fmt: skip
            if f.enum_type is not None:
                enums[_public(f.enum_type.full_name)] = {v.name: v.number for v in f.enum_type.values}
        messages[_public(desc.full_name)] = fields
        for nested in desc.nested_types:
            visit(nested)

    for name in _proto.names():
        desc = getattr(_proto, name).DESCRIPTOR
        if hasattr(desc, "fields"):
            visit(desc)
        else:
            enums[_public(desc.full_name)] = {v.name: v.number for v in desc.values}
    assert pool.FindMessageTypeByName(PRIVATE + "tensorflow.SavedModel")
    return messages, enums


@pytest.fixture(scope="module")
def tf_descriptors() -> dict[str, Any]:
    messages, _ = _ours()
    proc = subprocess.run(
        [sys.executable, "-c", _TF_SCRIPT],
        input=json.dumps(sorted(messages)),
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES=""),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.needs_tensorflow
def test_messages_match_tensorflow(tf_descriptors: dict[str, Any]) -> None:
    """Every field of ours is TensorFlow's (number, type, label, oneof); whole messages are whole."""
    messages, _ = _ours()
    theirs = tf_descriptors["messages"]
    compared = 0
    for name, fields in sorted(messages.items()):
        if name.startswith("tensorflow.serving.") and name not in theirs:
            continue  # TF Serving is not installed
        assert name in theirs, f"TensorFlow has no message {name}"
        tf_fields = theirs[name]
        for field, facts in fields.items():
            assert field in tf_fields, f"TensorFlow's {name} has no field {field}"
            assert facts == tf_fields[field], f"{name}.{field}: ours {facts}, TensorFlow's {tf_fields[field]}"
        whole = name not in PARTIAL and not name.startswith("tensorflow.serving.")
        if whole:
            missing = sorted(set(tf_fields) - set(fields))
            assert not missing, f"{name} is declared whole but lacks {missing}"
        else:
            assert set(fields) < set(tf_fields), f"{name} is listed as partial but is whole"
        compared += 1
    assert compared >= 90


@pytest.mark.needs_tensorflow
def test_enums_match_tensorflow(tf_descriptors: dict[str, Any]) -> None:
    _, enums = _ours()
    theirs = tf_descriptors["enums"]
    for name, values in enums.items():
        if name.startswith("tensorflow.serving.") and name not in theirs:
            continue
        assert values == theirs[name], name


@pytest.mark.needs_tensorflow
def test_data_type_table_matches_tensorflow(tf_descriptors: dict[str, Any]) -> None:
    """The generated C++ DataType table: every value, its name and TensorFlow's Python name."""
    text = (REPO / "cpp" / "proto_fields.h").read_text()
    rows = re.findall(r'^\s*\{(\d+), "(\w+)", "(\w*)"\},$', text, re.MULTILINE)
    table = {int(v): (name, short) for v, name, short in rows}
    data_type = tf_descriptors["enums"]["tensorflow.DataType"]
    assert {v: n for v, (n, _) in table.items()} == {v: n for n, v in data_type.items()}
    short_names = {int(v): s for v, s in tf_descriptors["short_names"].items()}
    assert len(short_names) > 40
    for value, short in short_names.items():
        assert table[value][1] == short, value
    assert table[0] == ("DT_INVALID", "")


@pytest.mark.needs_tensorflow
def test_no_clash_with_tensorflow_in_one_process() -> None:
    """Our classes and TensorFlow's generated modules live side by side in one process."""
    script = textwrap.dedent(
        """
        from tfbundle import _proto as pb
        from tensorflow.core.protobuf import meta_graph_pb2
        theirs = meta_graph_pb2.MetaGraphDef()
        theirs.meta_info_def.tags.append("serve")
        theirs.signature_def["x"].method_name = "m"
        ours = pb.MetaGraphDef.FromString(theirs.SerializeToString())
        assert list(ours.meta_info_def.tags) == ["serve"], ours
        assert ours.signature_def["x"].method_name == "m"
        assert meta_graph_pb2.MetaGraphDef.FromString(ours.SerializeToString()) == theirs
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=tfbundle_env(TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_protobuf_is_imported_at_first_use_only() -> None:
    script = textwrap.dedent(
        """
        import sys
        import tfbundle
        from tfbundle import _proto
        assert "google.protobuf" not in sys.modules, "imported with tfbundle"
        _proto.GraphDef
        assert "google.protobuf" in sys.modules
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=tfbundle_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_generated_files_are_current() -> None:
    """cpp/proto_fields.h, cpp/text_schema_data.inc and _proto/_descriptors.py are made from proto/."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the dev extra) runs protoc")
    proc = subprocess.run(
        [sys.executable, str(REPO / "dev" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_generated_files_say_so() -> None:
    for rel in ("cpp/proto_fields.h", "cpp/text_schema_data.inc", "python/tfbundle/_proto/_descriptors.py"):
        first = (REPO / rel).read_text().splitlines()[0]
        assert "generated by dev/gen_protos.py, do not edit" in first.lower(), rel


def test_message_classes() -> None:
    """The classes parse and write TensorFlow's wire format; enums come as wrappers."""
    from tfbundle import _proto as pb

    assert pb.DataType.Name(1) == "DT_FLOAT" and pb.DataType.Value("DT_STRING") == 7
    assert pb.GraphDef.DESCRIPTOR.full_name == "tfbundle_private.tensorflow.GraphDef"
    assert pb.PredictionLog.DESCRIPTOR.full_name == "tfbundle_private.tensorflow.serving.PredictionLog"
    shape = pb.TensorShapeProto(dim=[pb.TensorShapeProto.Dim(size=2)])
    assert shape.SerializeToString() == b"\x12\x02\x08\x02"  # dim = 2 { size = 1 }
    with pytest.raises(AttributeError, match="no message or enum"):
        pb.NoSuchMessage  # noqa: B018
