"""tfbundle reads SavedModel protos by protobuf's rules, where a load or the op policy depends on it.

Every crafted model here is built with the generated classes (``tfbundle._proto``) plus raw
fields concatenated as a crafted file would hold them, and tfbundle's answers (inspect, the
policy counts, load) are compared with protobuf's parse of the same bytes
(fuzz/saved_model_facts.py: a difference raises Mismatch). The rules: the last occurrence of a
scalar wins; a message field given twice is merged; repeated fields concatenate; of map entries
with one key the last wins; a oneof holds the member that came last; a field of the wrong wire
type is unknown. Last, a bounded run of the differential fuzz target (fuzz/fuzz_saved_model.py).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tfbundle
from _util import tfbundle_env
from tfbundle import _proto as pb
from tfbundle._readers.policy import findings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
import saved_model_facts as facts
from bundle_writer import f_bytes, f_varint

INIT = "__saved_model_init_op"

# --------------------------------------------------------------------- wire helpers ---


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return f_bytes(number, payload)


def vi(number: int, value: int) -> bytes:
    """A varint field."""
    return f_varint(number, value)


def entry(number: int, key: str, value: bytes) -> bytes:
    """A map entry (key = 1, value = 2) as field `number` of its message."""
    return ld(number, ld(1, key.encode()) + ld(2, value))


node = facts.node  # a NodeDef; attrs: str -> s, int -> type, an AttrValue as it is
func = facts.func_attr


def graph(*nodes: Any) -> bytes:
    return pb.GraphDef(node=list(nodes)).SerializeToString()


def meta(*, tags: tuple[str, ...] = ("serve",), output: str | None = "y:0") -> Any:
    mg = pb.MetaGraphDef()
    mg.meta_info_def.tags.extend(tags)
    if output is not None:
        sig = mg.signature_def["serving_default"]
        sig.method_name = "tensorflow/serving/predict"
        sig.outputs["y"].name = output
        sig.outputs["y"].dtype = 1
    return mg


def saved_model(meta_graph: Any | bytes, extra: bytes = b"") -> bytes:
    """A SavedModel of one MetaGraphDef (a message or its bytes) with raw `extra` fields appended."""
    body = meta_graph if isinstance(meta_graph, bytes) else meta_graph.SerializeToString()
    return vi(1, 1) + ld(2, body + extra)


def check(tmp_path: Path, data: bytes, name: str = "m") -> dict[str, Any]:
    """tfbundle's facts of `data`, after checking them against protobuf's parse."""
    got = facts.compare(data, facts.write_model(tmp_path / name, data))
    assert got is not None, "protobuf does not parse the crafted model"
    return got["meta_graphs"][0]


def policy(mg: dict[str, Any]) -> dict[str, int]:
    return mg["ops"]["policy_counts"]


# ---------------------------------------------------------------- the merge rules ---


def test_a_graph_def_given_twice_is_one_graph(tmp_path: Path) -> None:
    # TensorFlow's parser merges the two graph_def fields: one graph with both node lists.
    first = graph(node("w", "WriteFile", "c", "c"))
    second = graph(node("c", "Const"), node("y", "Identity", "c", "^w"))
    data = saved_model(meta(), ld(2, first) + ld(2, second))  # MetaGraphDef.graph_def = 2
    assert [n.name for n in pb.SavedModel.FromString(data).meta_graphs[0].graph_def.node] == ["w", "c", "y"]
    mg = check(tmp_path, data)
    assert policy(mg) == {"WriteFile": 1, "Const": 1, "Identity": 1}
    with pytest.raises(tfbundle.PermissionDeniedError, match="WriteFile"):
        tfbundle.load(tmp_path / "m", allowed_ops=())


def test_a_function_library_given_twice_is_merged(tmp_path: Path) -> None:
    lib1 = pb.FunctionDefLibrary()
    f = lib1.function.add()
    f.signature.name = "evil"
    f.node_def.add(name="w", op="WriteFile")
    lib2 = pb.FunctionDefLibrary()
    lib2.function.add().signature.name = "other"
    data = saved_model(meta(), ld(2, graph(node("y", "StatefulPartitionedCall", f=func("evil"))))
                       + ld(2, ld(2, lib1.SerializeToString())) + ld(2, ld(2, lib2.SerializeToString())))  # fmt: skip
    mg = check(tmp_path, data)
    assert policy(mg) == {"StatefulPartitionedCall": 1, "WriteFile": 1}


def test_an_init_op_collection_given_twice_keeps_the_last_entry(tmp_path: Path) -> None:
    g = graph(node("c", "Const"), node("w", "WriteFile", "c", "c"), node("harmless", "NoOp"),
              node("evil", "NoOp", "^w"), node("y", "Const"))  # fmt: skip
    harmless = pb.CollectionDef()
    harmless.node_list.value.append("harmless")
    evil = pb.CollectionDef()
    evil.node_list.value.append("evil")
    key = "saved_model_main_op"
    data = saved_model(meta(), ld(2, g) + entry(4, key, harmless.SerializeToString())
                       + entry(4, key, evil.SerializeToString()))  # fmt: skip
    assert list(pb.SavedModel.FromString(data).meta_graphs[0].collection_def[key].node_list.value) == ["evil"]
    mg = check(tmp_path, data)
    assert mg["init_op"] == "evil" and policy(mg).get("WriteFile") == 1
    # The other order: the harmless one is last, nothing writes.
    data = saved_model(meta(), ld(2, g) + entry(4, key, evil.SerializeToString())
                       + entry(4, key, harmless.SerializeToString()))  # fmt: skip
    mg = check(tmp_path, data, "m2")
    assert mg["init_op"] == "harmless" and "WriteFile" not in policy(mg)


def test_the_init_op_is_found_as_tensorflow_finds_it(tmp_path: Path) -> None:
    g = graph(node("a", "NoOp"), node("b", "NoOp"), node("y", "Const"))
    main = pb.CollectionDef()
    main.bytes_list.value.append(b"a")  # not a node list: TensorFlow's loader finds no init op
    legacy = pb.CollectionDef()
    legacy.node_list.value.append("b")
    two = pb.CollectionDef()
    two.node_list.value.extend(["a", "b"])  # not exactly one node: the loader fails
    cases = [
        (entry(4, "saved_model_main_op", main.SerializeToString())
         + entry(4, "legacy_init_op", legacy.SerializeToString()), ""),
        (entry(4, "legacy_init_op", legacy.SerializeToString()), "b"),
        (entry(4, "saved_model_main_op", two.SerializeToString()), ""),
    ]  # fmt: skip
    for i, (collections, init_op) in enumerate(cases):
        assert check(tmp_path, saved_model(meta(), ld(2, g) + collections), f"m{i}")["init_op"] == init_op
    # An __saved_model_init_op signature without its output: the loader fails, no collection is used.
    mg = meta()
    mg.signature_def[INIT].outputs["other"].name = "a"
    mg.collection_def["legacy_init_op"].node_list.value.append("b")
    assert check(tmp_path, saved_model(mg, ld(2, g)), "sig")["init_op"] == ""


def test_a_collection_holds_the_member_of_its_oneof_that_came_last(tmp_path: Path) -> None:
    nodes = pb.CollectionDef()
    nodes.node_list.value.append("evil")
    other = pb.CollectionDef()
    other.int64_list.value.append(1)
    g = graph(node("w", "WriteFile"), node("evil", "NoOp", "^w"), node("y", "Const"))
    value = nodes.SerializeToString() + other.SerializeToString()  # node_list, then int64_list
    mg = check(tmp_path, saved_model(meta(), ld(2, g) + entry(4, "saved_model_main_op", value)))
    assert mg["init_op"] == "" and "WriteFile" not in policy(mg)
    value = other.SerializeToString() + nodes.SerializeToString()
    mg = check(tmp_path, saved_model(meta(), ld(2, g) + entry(4, "saved_model_main_op", value)), "m2")
    assert mg["init_op"] == "evil" and policy(mg)["WriteFile"] == 1


def test_a_saver_def_given_twice_is_merged(tmp_path: Path) -> None:
    # The restore op of the first SaverDef stays when a second one sets only the filename tensor.
    g = graph(node("c", "Const"), node("w", "WriteFile", "c", "c"), node("restore_all", "NoOp", "^w"),
              node("y", "Const"))  # fmt: skip
    first = pb.SaverDef(restore_op_name="restore_all", version=2).SerializeToString()
    second = pb.SaverDef(filename_tensor_name="c:0", sharded=True).SerializeToString()
    data = saved_model(meta(), ld(2, g) + ld(3, first) + ld(3, second))  # MetaGraphDef.saver_def = 3
    mg = check(tmp_path, data)
    assert mg["saver"] == ("c:0", "", "restore_all", 2, True)
    assert policy(mg).get("WriteFile") == 1


def test_an_attr_value_given_twice_in_one_entry_is_merged(tmp_path: Path) -> None:
    # f = {name: "evil"} then f = {attr: {...}} in one map entry: the merged NameAttrList keeps the name.
    lib = pb.FunctionDefLibrary()
    fn = lib.function.add()
    fn.signature.name = "evil"
    fn.node_def.add(name="w", op="WriteFile")
    later = pb.AttrValue()
    later.func.attr["T"].type = 1
    call = node("y", "StatefulPartitionedCall").SerializeToString()
    call += entry(5, "f", func("evil").SerializeToString() + later.SerializeToString())  # NodeDef.attr = 5
    g = ld(1, call) + ld(2, lib.SerializeToString())
    parsed = pb.SavedModel.FromString(saved_model(meta(), ld(2, g))).meta_graphs[0].graph_def.node[0]
    assert parsed.attr["f"].func.name == "evil"
    mg = check(tmp_path, saved_model(meta(), ld(2, g)))
    assert policy(mg) == {"StatefulPartitionedCall": 1, "WriteFile": 1}


def test_a_list_attr_given_twice_concatenates(tmp_path: Path) -> None:
    lib = pb.FunctionDefLibrary()
    for name, op in (("a", "Relu"), ("b", "ReadFile")):
        fn = lib.function.add()
        fn.signature.name = name
        fn.node_def.add(name="n", op=op)
    first, second = pb.AttrValue(), pb.AttrValue()
    first.list.func.add(name="a")
    second.list.func.add(name="b")
    case = node("y", "Case").SerializeToString()
    case += entry(5, "branches", first.SerializeToString() + second.SerializeToString())
    mg = check(tmp_path, saved_model(meta(), ld(2, ld(1, case) + ld(2, lib.SerializeToString()))))
    assert policy(mg) == {"Case": 1, "Relu": 1, "ReadFile": 1}


def test_an_attr_key_given_twice_keeps_the_last_entry(tmp_path: Path) -> None:
    lib = pb.FunctionDefLibrary()
    fn = lib.function.add()
    fn.signature.name = "evil"
    fn.node_def.add(name="w", op="WriteFile")
    call = node("y", "StatefulPartitionedCall").SerializeToString()
    mg = check(tmp_path, saved_model(meta(), ld(2, ld(1, call + entry(5, "f", func("evil").SerializeToString())
                                                       + entry(5, "f", func("none").SerializeToString()))
                                                + ld(2, lib.SerializeToString()))))  # fmt: skip
    assert policy(mg) == {"StatefulPartitionedCall": 1}
    mg = check(tmp_path, saved_model(meta(), ld(2, ld(1, call + entry(5, "f", func("none").SerializeToString())
                                                       + entry(5, "f", func("evil").SerializeToString()))
                                                + ld(2, lib.SerializeToString()))), "m2")  # fmt: skip
    assert policy(mg) == {"StatefulPartitionedCall": 1, "WriteFile": 1}


def test_an_op_given_twice_keeps_the_last(tmp_path: Path) -> None:
    n = node("y", "Identity").SerializeToString() + ld(2, b"WriteFile")  # NodeDef.op = 2
    mg = check(tmp_path, saved_model(meta(), ld(2, ld(1, n))))
    assert mg["ops"]["counts"] == {"WriteFile": 1} and policy(mg) == {"WriteFile": 1}


def test_a_signature_given_twice_keeps_the_last_entry(tmp_path: Path) -> None:
    g = graph(node("c", "Const"), node("w", "WriteFile", "c", "c"), node("y", "Identity", "c"))
    harmless = pb.SignatureDef(method_name="first")
    harmless.outputs["y"].name = "y:0"
    evil = pb.SignatureDef(method_name="second")
    evil.outputs["z"].name = "w"
    data = saved_model(meta(output=None), ld(2, g) + entry(5, "serving_default", harmless.SerializeToString())
                       + entry(5, "serving_default", evil.SerializeToString()))  # fmt: skip
    mg = check(tmp_path, data)
    assert list(mg["signatures"]) == ["serving_default"]
    assert mg["signatures"]["serving_default"][0] == "second" and list(mg["signatures"]["serving_default"][2]) == ["z"]
    assert policy(mg) == {"Const": 1, "WriteFile": 1}
    # A signature's value given twice in one entry: merged (its outputs maps concatenate).
    value = harmless.SerializeToString() + evil.SerializeToString()
    mg = check(tmp_path, saved_model(meta(output=None), ld(2, g) + entry(5, "serving_default", value)), "m2")
    assert mg["signatures"]["serving_default"][0] == "second"
    assert sorted(mg["signatures"]["serving_default"][2]) == ["y", "z"]


def test_a_tensor_info_holds_the_member_of_its_oneof_that_came_last(tmp_path: Path) -> None:
    named = pb.TensorInfo(name="x:0", dtype=1).SerializeToString()
    sparse = pb.TensorInfo()
    sparse.coo_sparse.values_tensor_name = "v:0"
    sparse_bytes = sparse.SerializeToString()
    more = pb.TensorInfo()
    more.coo_sparse.indices_tensor_name = "i:0"
    shape = pb.TensorInfo()
    shape.tensor_shape.dim.add(size=2)
    cases = {
        "dense_then_sparse": named + sparse_bytes,  # name dropped: a SparseTensor
        "sparse_then_dense": sparse_bytes + named,  # a dense tensor named x:0
        "sparse_twice": sparse_bytes + more.SerializeToString(),  # merged: values and indices
        "shape_twice": named + shape.SerializeToString() + shape.SerializeToString(),  # dims concatenate
        "sparse_name_sparse": sparse_bytes + named + more.SerializeToString(),  # only the last sparse part
    }
    sig = b"".join(entry(2, key, value) for key, value in cases.items())  # SignatureDef.outputs = 2
    mg = check(tmp_path, saved_model(meta(output=None), ld(2, graph()) + entry(5, "s", sig)))
    outputs = mg["signatures"]["s"][2]
    assert outputs["dense_then_sparse"] == ("", "DT_FLOAT", (), "coo_sparse")
    assert outputs["sparse_then_dense"] == ("x:0", "DT_FLOAT", (), "dense")
    assert outputs["shape_twice"] == ("x:0", "DT_FLOAT", (2, 2), "dense")
    parsed = pb.SavedModel.FromString(saved_model(meta(output=None), entry(5, "s", sig)))
    twice = parsed.meta_graphs[0].signature_def["s"].outputs["sparse_twice"].coo_sparse
    assert (twice.values_tensor_name, twice.indices_tensor_name) == ("v:0", "i:0")


def test_meta_info_and_asset_file_defs_merge(tmp_path: Path) -> None:
    info1 = pb.MetaGraphDef.MetaInfoDef(tags=["serve"], tensorflow_version="1")
    info2 = pb.MetaGraphDef.MetaInfoDef(tags=["gpu"], tensorflow_git_version="g")
    asset = pb.AssetFileDef(filename="a.txt")
    asset.tensor_info.name = "asset:0"
    second = pb.AssetFileDef(filename="b.txt")
    second.tensor_info.dtype = 7  # merged into the first tensor_info: the name stays
    value = asset.SerializeToString() + second.SerializeToString()
    data = saved_model(meta(tags=()), ld(1, info1.SerializeToString()) + ld(1, info2.SerializeToString())
                       + ld(2, graph()) + ld(6, value))  # fmt: skip
    mg = check(tmp_path, data)
    assert mg["tags"] == ["serve", "gpu"] and mg["versions"][1:3] == ("1", "g")
    assert mg["assets"] == [("asset:0", "b.txt", False)]


def test_packed_assets_read_the_last_any_value(tmp_path: Path) -> None:
    first = pb.AssetFileDef(filename="../../etc/passwd")
    first.tensor_info.name = "a:0"
    last = pb.AssetFileDef(filename="vocab.txt")
    last.tensor_info.name = "a:0"
    # Any.value is `bytes`: given twice, the last one (not a merge).
    packed = ld(1, b"type.googleapis.com/tensorflow.AssetFileDef") + ld(2, first.SerializeToString())
    packed += ld(2, last.SerializeToString())
    collection = ld(5, ld(1, packed))  # CollectionDef.any_list = 5, AnyList.value = 1
    mg = check(tmp_path, saved_model(meta(), ld(2, graph()) + entry(4, "saved_model_assets", collection)))
    assert mg["assets"] == [("a:0", "vocab.txt", False)]


def test_fields_of_the_wrong_wire_type_are_unknown(tmp_path: Path) -> None:
    g = graph(node("c", "Const"), node("w", "WriteFile", "c", "c"), node("y", "Identity", "c"))
    info = pb.MetaGraphDef.MetaInfoDef(tags=["serve"]).SerializeToString() + vi(4, 7)  # tags = 4 as a varint
    saver = pb.SaverDef(restore_op_name="w").SerializeToString() + vi(3, 1)  # restore_op_name = 3 as a varint
    sig = pb.SignatureDef(method_name="m").SerializeToString() + vi(3, 5)  # method_name = 3 as a varint
    fields = ld(1, info) + ld(2, g) + ld(3, saver) + entry(5, "s", sig) + vi(2, 3)
    data = saved_model(meta(tags=(), output=None), fields)
    mg = check(tmp_path, data)
    assert mg["tags"] == ["serve"] and mg["saver"][2] == "w" and mg["signatures"]["s"][0] == "m"
    assert policy(mg) == {"Const": 1, "WriteFile": 1}


def test_a_map_entry_with_an_unknown_field_is_kept_as_tensorflow_keeps_it(tmp_path: Path) -> None:
    """TensorFlow's C++ protobuf keeps a map entry whose key has the wrong wire type (key "");
    protobuf's Python runtime (upb) sets the entry aside. tfbundle follows TensorFlow."""
    g = graph(node("c", "Const"), node("w", "WriteFile", "c", "c"), node("y", "Identity", "c"))
    hidden = ld(2, vi(1, 1) + ld(2, pb.TensorInfo(name="w:0").SerializeToString()))  # an outputs entry, key a varint
    sig = pb.SignatureDef(method_name="m")
    sig.outputs["y"].name = "y:0"
    data = saved_model(meta(output=None), ld(2, g) + entry(5, "serving_default", sig.SerializeToString() + hidden))
    assert list(pb.SavedModel.FromString(data).meta_graphs[0].signature_def["serving_default"].outputs) == ["y"]
    with pytest.raises(facts.Divergent):
        facts.reference_facts(data)
    info = tfbundle.inspect(facts.write_model(tmp_path / "m", data), ops=True).meta_graph()
    assert sorted(info.signatures["serving_default"].outputs) == ["", "y"]
    assert info.ops is not None and info.ops.policy_counts.get("WriteFile") == 1


@pytest.mark.needs_tensorflow  # TensorFlow's C library parses the model
def test_tensorflow_reads_merged_fields_as_tfbundle_does(tmp_path: Path) -> None:
    # A loadable model whose graph_def is split in two and whose output entry has an unknown field:
    # the signatures TensorFlow's loader hands back (its own parse, re-serialized) are tfbundle's.
    x = node("x", "Placeholder", dtype=1)
    y = node("y", "Identity", "x", T=1)
    sig = pb.SignatureDef(method_name="tensorflow/serving/predict")
    sig.inputs["x"].name = "x:0"
    sig.inputs["x"].dtype = 1
    sig.inputs["x"].tensor_shape.unknown_rank = True
    sig.outputs["y"].name = "y:0"
    sig.outputs["y"].dtype = 1
    sig.outputs["y"].tensor_shape.unknown_rank = True
    odd = ld(2, vi(1, 1) + ld(2, pb.TensorInfo(name="y:0", dtype=1).SerializeToString()))
    data = saved_model(meta(output=None), ld(2, graph(x)) + ld(2, graph(y))
                       + entry(5, "serving_default", sig.SerializeToString() + odd))  # fmt: skip
    folder = facts.write_model(tmp_path / "m", data)
    info = tfbundle.inspect(folder).meta_graph()
    with tfbundle.load(folder) as model:
        assert sorted(model.signatures["serving_default"].outputs) == sorted(info.signatures["serving_default"].outputs)
        assert model.signatures["serving_default"](x=[1.0, 2.0])["y"].tolist() == [1.0, 2.0]


# ------------------------------------------------------------- the fuzz target ---


def test_differential_fuzz_target_runs_clean(tmp_path: Path) -> None:
    """A bounded run of fuzz/fuzz_saved_model.py: tfbundle reads every input as protobuf does."""
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (pip install atheris): it runs the fuzz target")
    repo = Path(__file__).resolve().parents[1]
    env = tfbundle_env(TFBUNDLE_FUZZ_DIR=str(tmp_path / "work"))
    proc = subprocess.run(
        [sys.executable, str(repo / "fuzz" / "fuzz_saved_model.py"), "-atheris_runs=3000", "-seed=1",
         f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, env=env, timeout=900, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 3000 " in proc.stderr


def test_seed_models_read_alike(tmp_path: Path) -> None:
    """The fuzz target's seeds (every rule's raw material) agree, and the policy sees their hazards."""
    seeds = facts.seed_models()
    got = [facts.compare(s, facts.write_model(tmp_path / f"s{i}", s)) for i, s in enumerate(seeds)]
    tf1, tf2 = got[0]["meta_graphs"][0], got[1]["meta_graphs"][0]
    assert tf1["init_op"] == "main_op" and tf2["init_op"] == "NoOp"
    assert [f.op for f in findings(tf1["ops"]["policy_counts"]) if f.denied] == ["PrintV2(file)"]
    denied = sorted(f.op for f in findings(tf2["ops"]["policy_counts"]) if f.denied)
    assert denied == ["ReadFile", "SaveV2", "WriteFile"]
