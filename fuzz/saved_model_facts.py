"""What a SavedModel says, computed twice: by tfbundle's C++ core and from protobuf's parse.

tfbundle reads SavedModel protos with its own wire reader (cpp/wire.h, cpp/saved_model.cc,
cpp/inspect.cc); TensorFlow reads them with protobuf. Where the two disagree, a model can show
tfbundle's policy one graph and run another. This module computes the facts a load or a policy
decision depends on both ways, so that a test or a fuzz target can compare them:

- :func:`reference_facts` parses the bytes with the ``protobuf`` package (the project's generated
  classes, :mod:`tfbundle._proto`) and derives the facts as TensorFlow's loader does (the init op
  of GetInitOp, the assets of GetAssetFileDefs) and as tfbundle documents its policy walk
  (:attr:`tfbundle.OpsInfo.policy_counts`);
- :func:`tfbundle_facts` asks :func:`tfbundle.inspect` about a folder holding the same bytes;
- :func:`compare` raises :class:`Mismatch` naming the first difference.

The facts: schema version; per MetaGraph its tags, versions, signatures (method name; each input
and output's tensor name, dtype, shape and encoding), init op, assets (tensor, filename, and
whether tfbundle refuses it), SaverDef, whether it has an object graph, and the op counts, calls
of library functions and policy counts of its graph.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tfbundle import _proto as pb
from tfbundle._base.dtypes import dtype_name

__all__ = ["Mismatch", "compare", "reference_facts", "tfbundle_facts", "write_model"]

INIT_KEY = "__saved_model_init_op"
RESTORE_OPS = frozenset({"Restore", "RestoreV2", "RestoreSlice"})
CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})


class Mismatch(AssertionError):  # noqa: N818 - a finding of the fuzzer, named as such
    """tfbundle's reading of a SavedModel differs from protobuf's."""


class Unparsable(Exception):  # noqa: N818 - a kind of input, not an error of tfbundle
    """Bytes that protobuf itself refuses where TensorFlow would parse them (an Any's payload...)."""


class Divergent(Exception):  # noqa: N818 - a kind of input, not an error of tfbundle
    """Bytes that protobuf's runtimes read differently, so that the Python one is no oracle.

    A map entry holding an unknown field (a key or value of the wrong wire type, a field number
    the entry does not have): TensorFlow's C++ protobuf drops the unknown field and keeps the
    entry (with a default key or value), while the Python runtime (upb) moves the whole entry to
    the parent's unknown fields. tfbundle follows the C++ runtime, which TensorFlow's loader uses
    (tests/test_proto_rules.py checks it against a load).
    """


def _check_runtimes_agree(message: Any) -> None:
    """Raises Divergent where upb set a map entry aside as an unknown field (see Divergent)."""
    from google.protobuf import unknown_fields

    desc = message.DESCRIPTOR
    maps = {f.number for f in desc.fields if f.message_type is not None and f.message_type.GetOptions().map_entry}
    if maps and any(u.field_number in maps for u in unknown_fields.UnknownFieldSet(message)):
        raise Divergent(f"a {desc.name} map entry with an unknown field")
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                for item in value.values():
                    _check_runtimes_agree(item)
        elif field.is_repeated:
            for item in value:
                _check_runtimes_agree(item)
        else:
            _check_runtimes_agree(value)


# ------------------------------------------------------------------ protobuf side ---


def _input_node(name: str) -> str:
    return name.removeprefix("^").split(":", 1)[0]


def _shape(shape: Any) -> tuple[int | None, ...] | None:
    if shape.unknown_rank:
        return None
    return tuple(d.size if d.size >= 0 else None for d in shape.dim)


def _tensor(info: Any) -> tuple[Any, ...]:
    which = info.WhichOneof("encoding")
    encoding = {"coo_sparse": "coo_sparse", "composite_tensor": "composite"}.get(which or "", "dense")
    return (info.name, dtype_name(info.dtype), _shape(info.tensor_shape), encoding)


def _init_op(mg: Any) -> str:
    """GetInitOp of TensorFlow's loader ("" where it finds none or fails)."""
    if INIT_KEY in mg.signature_def:
        outputs = mg.signature_def[INIT_KEY].outputs
        return outputs[INIT_KEY].name if INIT_KEY in outputs else ""
    collections = mg.collection_def
    key = "saved_model_main_op" if "saved_model_main_op" in collections else "legacy_init_op"
    if key not in collections:
        return ""
    values = collections[key].node_list.value
    return values[0] if len(values) == 1 else ""


def _parse(cls: Any, data: bytes) -> Any:
    try:
        return cls.FromString(data)
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError (its class differs between runtimes)
        if "UTF-8" in str(e):
            # tfbundle does not check that strings are UTF-8 (TensorFlow's loader refuses such a
            # payload itself): no oracle for what tfbundle reads from it.
            raise Divergent(f"{cls.DESCRIPTOR.name}: {e}") from None
        raise Unparsable(f"{cls.DESCRIPTOR.name}: {e}") from None


def _assets(mg: Any) -> list[tuple[str, str]]:
    """GetAssetFileDefs: asset_file_def, else the TF1 collection's AssetFileDefs packed as Any."""
    packed = []
    collection = mg.collection_def.get("saved_model_assets")
    if collection is not None and collection.WhichOneof("kind") == "any_list":
        # tfbundle reads them all, as protobuf must
        packed.extend(_parse(pb.AssetFileDef, any_.value) for any_ in collection.any_list.value)
    local = mg.collection_def.get("local_variables")
    if local is not None and local.WhichOneof("kind") == "bytes_list":
        for value in local.bytes_list.value:
            _parse(pb.VariableDef, value)  # tfbundle reads each VariableDef's initializer
    chosen = list(mg.asset_file_def) or packed
    return [(a.tensor_info.name, a.filename) for a in chosen]


def _asset_refused(filename: str) -> bool:
    """What tfbundle refuses in a folder without symlinks: an absolute path, a '..' component."""
    return filename.startswith("/") or ".." in filename.split("/")


def _string_attr(node: Any, key: str) -> bytes | None:
    if key in node.attr and node.attr[key].WhichOneof("value") == "s":
        return bytes(node.attr[key].s)
    return None


def _policy_key(node: Any, scope: int, flow: _AssetFlow) -> str:
    if node.op in FILE_PATH_INPUTS:
        data = _data_inputs(node)
        for i in FILE_PATH_INPUTS[node.op]:
            if i >= len(data) or not flow.resolve(scope, data[i]):
                return node.op + "(path)"
        return str(node.op)
    if node.op == "PrintV2":
        stream = _string_attr(node, "output_stream")
        if stream is not None and stream.startswith(b"file://"):
            return "PrintV2(file)"
    elif node.op in ("DecodeProtoV2", "EncodeProto"):
        source = _string_attr(node, "descriptor_source")
        if source is not None and source != b"local://" and not source.startswith(b"bytes://"):
            return node.op + "(file)"
    return str(node.op)


#: The inputs through which an op type reads a file named by a tensor (asset_flow.cc's table).
FILE_PATH_INPUTS = {"InitializeTableFromTextFile": (1,), "InitializeTableFromTextFileV2": (1,),
                    "LoadAndRemapMatrix": (0,), "GenerateVocabRemapping": (0, 1)}
_FORWARDING = frozenset({"Identity", "Snapshot", "StopGradient"})
_MAX_DEPTH = 256
_NO_INDEX = -1


def _data_inputs(node: Any) -> list[str]:
    return [i for i in node.input if i and not i.startswith("^")]


def _ref(text: str) -> tuple[str, int]:
    """A data input's node and output index ("a:1", "a:output:1"); _NO_INDEX when unreadable."""
    if ":" not in text:
        return text, 0
    digits = text.rsplit(":", 1)[1]
    ok = re.fullmatch(r"[0-9]+", digits) is not None and int(digits) < 2**64
    return text.split(":", 1)[0], int(digits) if ok else _NO_INDEX


class _AssetFlow:
    """Whether a file path comes from the model's assets, by the rules cpp/asset_flow.h documents."""

    def __init__(self, graph: list[Any], functions: list[Any], by_name: dict[str, int], assets: set[str]):
        self.assets = assets
        self.functions, self.by_name = functions, by_name
        self.scopes: list[tuple[list[Any], dict[str, int], dict[str, int]]] = []
        for nodes, args in [(graph, [])] + [(list(f.node_def), [a.name for a in f.signature.input_arg])
                                            for f in functions]:
            first: dict[str, int] = {}
            for i, n in enumerate(nodes):
                first.setdefault(n.name, i)
            arg_index: dict[str, int] = {}
            for i, a in enumerate(args):
                arg_index.setdefault(a, i)
            self.scopes.append((nodes, first, arg_index))
        self.memo: dict[tuple[int, str], int] = {}
        self.depth = 0
        self.callers: list[list[tuple[int, int]]] | None = None
        self.escapes: list[bool] = []
        self.variables: dict[str, list[tuple[int, int]]] | None = None
        self.consumers: dict[str, list[tuple[int, int]]] = {}

    def resolve(self, scope: int, text: str) -> bool:
        if not text or text.startswith("^") or self.depth >= _MAX_DEPTH:
            return False
        key = (scope, text)
        if key in self.memo:
            return self.memo[key] == 1
        self.memo[key] = 0
        self.depth += 1
        try:
            yes = self._resolve(scope, text)
        finally:
            self.depth -= 1
        self.memo[key] = 1 if yes else 2
        return yes

    def _resolve(self, scope: int, text: str) -> bool:
        nodes, first, args = self.scopes[scope]
        name, output = _ref(text)
        if scope > 0 and ":" not in text and text in args:
            return self._argument(scope - 1, args[text])
        if name not in first or output == _NO_INDEX:
            return False
        node = nodes[first[name]]
        inputs = _data_inputs(node)
        if scope == 0 and f"{name}:{output}" in self.assets:
            return True
        if node.op in _FORWARDING:
            return output == 0 and bool(inputs) and self.resolve(scope, inputs[0])
        if node.op == "IdentityN":
            return output < len(inputs) and self.resolve(scope, inputs[output])
        if node.op == "ReadVariableOp" and scope == 0 and inputs:
            handle, index = _ref(inputs[0])
            return index == 0 and handle in first and self._variable(nodes[first[handle]])
        return False

    def _index_calls(self) -> list[list[tuple[int, int]]]:
        if self.callers is None:
            self.callers = [[] for _ in self.functions]
            self.escapes = [False] * len(self.functions)
            for scope, (nodes, _, _) in enumerate(self.scopes):
                for n, node in enumerate(nodes):
                    if node.op in self.by_name:
                        self.callers[self.by_name[node.op]].append((scope, n))
                    call = node.op in CALL_OPS
                    f = node.attr["f"] if call and "f" in node.attr else None
                    if f is not None and f.WhichOneof("value") == "func" and f.func.name in self.by_name:
                        self.callers[self.by_name[f.func.name]].append((scope, n))
                    for key, value in node.attr.items():
                        if call and key == "f":
                            continue
                        which = value.WhichOneof("value")
                        named = [value.func.name] if which == "func" else (
                            [f.name for f in value.list.func] if which == "list" else [])
                        for fn in named:
                            if fn in self.by_name:
                                self.escapes[self.by_name[fn]] = True
        return self.callers

    def _argument(self, function: int, arg: int) -> bool:
        sites = self._index_calls()[function]
        if self.escapes[function] or not sites:
            return False
        for scope, n in sites:
            inputs = _data_inputs(self.scopes[scope][0][n])
            if arg >= len(inputs) or not self.resolve(scope, inputs[arg]):
                return False
        return True

    @staticmethod
    def _variable_key(node: Any) -> str:
        shared = _string_attr(node, "shared_name")
        name = shared.decode("utf-8", "surrogateescape") if shared else node.name
        container = (_string_attr(node, "container") or b"").decode("utf-8", "surrogateescape")
        return f"{container}/{name}"

    def _variable(self, handle: Any) -> bool:
        if handle.op != "VarHandleOp":
            return False
        if self.variables is None:
            self.variables = {}
            for scope, (nodes, _, _) in enumerate(self.scopes):
                for n, node in enumerate(nodes):
                    if scope == 0:
                        for i, text in enumerate(_data_inputs(node)):
                            self.consumers.setdefault(_ref(text)[0], []).append((n, i))
                    if node.op == "VarHandleOp":
                        self.variables.setdefault(self._variable_key(node), []).append((scope, n))
        graph = self.scopes[0][0]
        assignments = 0
        for scope, n in self.variables.get(self._variable_key(handle), []):
            if scope != 0:
                return False
            for consumer, position in self.consumers.get(graph[n].name, []):
                use = graph[consumer]
                inputs = _data_inputs(use)
                if _ref(inputs[position])[1] != 0:
                    return False
                if position == 0 and use.op in ("ReadVariableOp", "VarIsInitializedOp"):
                    continue
                if position != 0 or use.op != "AssignVariableOp" or len(inputs) < 2 or not self.resolve(0, inputs[1]):
                    return False
                assignments += 1
        return assignments > 0


def _attr_functions(node: Any) -> list[str]:
    out = []
    for value in node.attr.values():
        which = value.WhichOneof("value")
        if which == "func":
            out.append(value.func.name)
        elif which == "list":
            out.extend(f.name for f in value.list.func)
    return out


def _ops(mg: Any) -> dict[str, Any]:
    """The op counts and the policy walk of inspect.cc's graph_ops, on protobuf's parse."""
    graph = mg.graph_def
    functions = list(graph.library.function)
    by_name = {f.signature.name: i for i, f in enumerate(functions)}  # the last definition wins
    counts: dict[str, int] = {}
    calls = 0
    for node in list(graph.node) + [n for f in functions for n in f.node_def]:
        if node.op in by_name:
            calls += 1
        else:
            counts[node.op] = counts.get(node.op, 0) + 1

    first: dict[str, Any] = {}
    for node in graph.node:
        first.setdefault(node.name, node)  # a name given twice: the first node

    def ancestors(todo: list[str], seen: set[str]) -> None:
        while todo:
            name = todo.pop()
            if name not in first or name in seen:
                continue
            seen.add(name)
            todo.extend(_input_node(i) for i in first[name].input)

    roots: list[str] = []
    for key in sorted(mg.signature_def):
        sig = mg.signature_def[key]
        for side in (sig.inputs, sig.outputs):
            for k in sorted(side):
                info = side[k]
                roots.append(_input_node(info.name))
                coo = info.coo_sparse
                names = (coo.values_tensor_name, coo.indices_tensor_name, coo.dense_shape_tensor_name)
                roots.extend(_input_node(n) for n in names if n)
                roots.extend(_input_node(c.name) for c in info.composite_tensor.components)
    init = _init_op(mg)
    if init:
        roots.append(_input_node(init))
    serving: set[str] = set()
    restore: set[str] = set()
    ancestors(roots, serving)
    if mg.HasField("saver_def") and mg.saver_def.restore_op_name:
        ancestors([_input_node(mg.saver_def.restore_op_name)], restore)

    def node_functions(node: Any) -> list[str]:
        return ([node.op] if node.op in by_name else []) + _attr_functions(node)

    def reachable(todo: list[str]) -> set[str]:
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name not in by_name or name in seen:
                continue
            seen.add(name)
            for node in functions[by_name[name]].node_def:
                todo.extend(node_functions(node))
        return seen

    serving_roots: list[str] = []
    restore_roots: list[str] = []
    for node in graph.node:
        if node.name in serving:
            serving_roots.extend(node_functions(node))
        elif node.name in restore:
            restore_roots.extend(node_functions(node))
    serving_fns, restore_fns = reachable(serving_roots), reachable(restore_roots)
    policy: dict[str, int] = {}
    assets = {name if ":" in name else name + ":0" for name, _ in _assets(mg)}
    flow = _AssetFlow(list(graph.node), functions, by_name, assets)

    def judge(nodes: Iterable[Any], runs: bool, scope: int) -> None:
        for node in nodes:
            if node.op in by_name or (not runs and node.op in RESTORE_OPS):
                continue
            key = _policy_key(node, scope, flow)
            policy[key] = policy.get(key, 0) + 1

    for node in graph.node:
        if node.name in serving or node.name in restore:
            judge([node], node.name in serving, 0)
    for i, f in enumerate(functions):
        if f.signature.name in serving_fns or f.signature.name in restore_fns:
            judge(f.node_def, f.signature.name in serving_fns, i + 1)
    return {"counts": counts, "function_calls": calls, "policy_counts": policy}


def reference_facts(data: bytes) -> dict[str, Any] | None:
    """The facts from protobuf's parse, or None when protobuf does not parse `data` as a SavedModel.

    Raises:
        Unparsable: the SavedModel parses but a payload tfbundle decodes too does not (an
            AssetFileDef packed in an Any, a VariableDef in a bytes_list): tfbundle must refuse it.
        Divergent: protobuf's Python and C++ runtimes read `data` differently.
    """
    try:
        model = pb.SavedModel.FromString(data)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError (its class differs between runtimes)
        return None
    _check_runtimes_agree(model)
    metas = []
    for mg in model.meta_graphs:
        info = mg.meta_info_def
        sigs = {}
        for key in sorted(mg.signature_def):
            sig = mg.signature_def[key]
            sigs[key] = (
                sig.method_name,
                {k: _tensor(sig.inputs[k]) for k in sorted(sig.inputs)},
                {k: _tensor(sig.outputs[k]) for k in sorted(sig.outputs)},
            )
        saver = None
        if mg.HasField("saver_def"):
            s = mg.saver_def
            saver = (s.filename_tensor_name, s.save_tensor_name, s.restore_op_name, s.version, s.sharded)
        metas.append({
            "tags": list(info.tags),
            "versions": (info.meta_graph_version, info.tensorflow_version, info.tensorflow_git_version,
                         info.stripped_default_attrs),
            "signatures": sigs,
            "init_op": _init_op(mg),
            "assets": [(t, f, _asset_refused(f)) for t, f in _assets(mg)],
            "saver": saver,
            "has_object_graph": mg.HasField("object_graph_def"),
            "ops": _ops(mg),
        })  # fmt: skip
    return {"schema_version": model.saved_model_schema_version, "meta_graphs": metas}


# ------------------------------------------------------------------ tfbundle side ---


def _spec(spec: Any) -> tuple[Any, ...]:
    return (spec.tensor_name, spec.tf_dtype, spec.shape, spec.encoding)


def tfbundle_facts(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The same facts from :func:`tfbundle.inspect` (``ops=True``) of a SavedModel folder."""
    import tfbundle

    info = tfbundle.inspect(folder, ops=True)
    metas = []
    for m in info.meta_graphs:
        assert m.ops is not None
        sigs = {
            key: (
                s.method_name,
                {k: _spec(v) for k, v in s.inputs.items()},
                {k: _spec(v) for k, v in s.outputs.items()},
            )
            for key, s in m.signatures.items()
        }
        saver = None
        if m.saver is not None:
            s = m.saver
            saver = (s.filename_tensor_name, s.save_tensor_name, s.restore_op_name, s.version, s.sharded)
        metas.append({
            "tags": list(m.tags),
            "versions": (m.meta_graph_version, m.tensorflow_version, m.tensorflow_git_version,
                         m.stripped_default_attrs),
            "signatures": sigs,
            "init_op": m.init_op,
            "assets": [(a.tensor_name, a.filename, bool(a.problem)) for a in m.assets],
            "saver": saver,
            "has_object_graph": m.has_object_graph,
            "ops": {"counts": dict(m.ops.counts), "function_calls": m.ops.function_calls,
                    "policy_counts": dict(m.ops.policy_counts)},
        })  # fmt: skip
    return {"schema_version": info.schema_version, "meta_graphs": metas}


def write_model(folder: Path, data: bytes) -> Path:
    """`data` as the saved_model.pb of `folder` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_bytes(data)
    return folder


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=repr):
            if k not in a or k not in b:
                return f"{path}[{k!r}]: {'missing in tfbundle' if k not in a else 'not in protobuf'}"
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}[{k!r}]")
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: tfbundle {a!r} != protobuf {b!r}"


def compare(data: bytes, folder: Path | None = None) -> dict[str, Any] | None:
    """Checks that tfbundle reads `data` (a serialized SavedModel) as protobuf does.

    Returns:
        The facts, or None when protobuf does not parse `data` or its runtimes disagree on it
        (Divergent): nothing to compare.

    Raises:
        Mismatch: a fact differs, or tfbundle refused bytes protobuf parses (or the reverse,
            for a payload protobuf refuses).
    """
    from tfbundle.errors import Error

    try:
        expected = reference_facts(data)
        unparsable = None
    except Unparsable as e:
        expected, unparsable = None, e
    except Divergent:
        return None
    if expected is None and unparsable is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tfbundle-facts-") if folder is None else _Keep(folder) as d:
        write_model(Path(d), data)
        try:
            got = tfbundle_facts(d)
        except Error as e:
            if unparsable is not None or (expected is not None and not expected["meta_graphs"]):
                return None  # refused as TensorFlow would refuse it
            raise Mismatch(f"tfbundle refused a SavedModel protobuf parses: {type(e).__name__}: {e}") from None
    if unparsable is not None:
        raise Mismatch(f"tfbundle read a SavedModel with a payload protobuf refuses ({unparsable})")
    if got != expected:
        raise Mismatch(_first_difference(got, expected))
    return got


class _Keep:
    """A context manager yielding a given folder (compare() in a caller's folder)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> Path:
        return self.folder

    def __exit__(self, *exc: object) -> None:
        return None


# ------------------------------------------------------------------------- seeds ---


def _set_tensor(info: Any, name: str, dtype: int = 1, dims: tuple[int, ...] = (-1, 3)) -> None:
    info.name = name
    info.dtype = dtype
    for d in dims:
        info.tensor_shape.dim.add(size=d)


def node(name: str, op: str, *inputs: str, **attrs: Any) -> Any:
    """A NodeDef; attrs: str -> s, int -> type, an AttrValue as it is."""
    node = pb.NodeDef(name=name, op=op, input=list(inputs))
    for key, value in attrs.items():
        if isinstance(value, str):
            node.attr[key].s = value.encode()
        elif isinstance(value, int):
            node.attr[key].type = value
        else:
            node.attr[key].CopyFrom(value)
    return node


def func_attr(name: str) -> Any:
    """An AttrValue naming the function `name`."""
    value = pb.AttrValue()
    value.func.name = name
    return value


def tf1_model() -> Any:
    """A TF1-style MetaGraph: placeholders, a saver with its restore subgraph, collections."""
    mg = pb.MetaGraphDef()
    mg.meta_info_def.tags.extend(["serve"])
    mg.meta_info_def.tensorflow_version = "1.15.5"
    g = mg.graph_def
    g.node.append(node("x", "Placeholder", dtype=1))
    g.node.append(node("w", "VariableV2", dtype=1))
    g.node.append(node("y", "MatMul", "x", "w"))
    g.node.append(node("p", "PrintV2", "y", output_stream="file:///tmp/out.txt"))
    g.node.append(node("z", "Identity", "y", "^p"))
    g.node.append(node("asset", "Const", dtype=7))
    g.node.append(node("table", "HashTableV2"))
    g.node.append(node("table_init", "InitializeTableFromTextFileV2", "table", "asset"))
    g.node.append(node("main_op", "NoOp", "^table_init"))
    g.node.append(node("legacy", "NoOp", "^w"))
    g.node.append(node("save/Const", "Const", dtype=7))
    g.node.append(node("save/names", "Const", dtype=7))
    g.node.append(node("save/slices", "Const", dtype=7))
    g.node.append(node("save/RestoreV2", "RestoreV2", "save/Const", "save/names", "save/slices"))
    g.node.append(node("save/Assign", "Assign", "w", "save/RestoreV2"))
    g.node.append(node("save/restore_all", "NoOp", "^save/Assign"))
    g.node.append(node("save/SaveV2", "SaveV2", "save/Const", "save/names", "save/slices", "w"))
    g.node.append(node("unused", "WriteFile", "save/Const", "save/names"))
    s = mg.saver_def
    s.filename_tensor_name = "save/Const:0"
    s.save_tensor_name = "save/SaveV2:0"
    s.restore_op_name = "save/restore_all"
    s.version = 2
    s.sharded = True
    sig = mg.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    _set_tensor(sig.inputs["x"], "x:0")
    _set_tensor(sig.outputs["z"], "z:0")
    sparse = sig.outputs["s"]
    sparse.coo_sparse.values_tensor_name = "y:0"
    sparse.coo_sparse.indices_tensor_name = "w:0"
    sparse.coo_sparse.dense_shape_tensor_name = "x:0"
    mg.collection_def["saved_model_main_op"].node_list.value.append("main_op")
    mg.collection_def["legacy_init_op"].node_list.value.append("legacy")
    mg.collection_def["table_initializer"].node_list.value.append("table_init")
    var = pb.VariableDef(initializer_name="w/Assign")
    mg.collection_def["local_variables"].bytes_list.value.append(var.SerializeToString())
    asset = pb.AssetFileDef(filename="vocab.txt")
    asset.tensor_info.name = "asset:0"
    mg.collection_def["saved_model_assets"].any_list.value.add(
        type_url="type.googleapis.com/tensorflow.AssetFileDef", value=asset.SerializeToString()
    )
    return mg


def tf2_model() -> Any:
    """A TF2-style MetaGraph: calls into a function library, an init signature, asset_file_def."""
    mg = pb.MetaGraphDef()
    mg.meta_info_def.tags.extend(["serve", "gpu"])
    mg.meta_info_def.tensorflow_version = "2.21.0"
    mg.meta_info_def.stripped_default_attrs = True
    g = mg.graph_def
    g.node.append(node("serving_default_x", "Placeholder", dtype=1))
    g.node.append(node("call", "StatefulPartitionedCall", "serving_default_x", f=func_attr("__inference_f_12")))
    # The asset's path as TF2 exports hold it: a string resource variable assigned from the asset
    # placeholder in the graph, read, and passed to the table initializer function.
    g.node.append(node("asset_path", "Placeholder", dtype=7))
    g.node.append(node("Variable", "VarHandleOp", dtype=7, shared_name="Variable"))
    g.node.append(node("Variable/Assign", "AssignVariableOp", "Variable", "asset_path"))
    g.node.append(node("ReadVariableOp", "ReadVariableOp", "Variable", "^Variable/Assign", dtype=7))
    g.node.append(node("table", "HashTableV2"))
    g.node.append(node("init_call", "StatefulPartitionedCall", "table", "ReadVariableOp",
                       f=func_attr("__inference_init_7")))
    g.node.append(node("NoOp", "NoOp", "^init_call"))
    g.node.append(node("saver_filename", "Placeholder", dtype=7))
    g.node.append(node("restore", "StatefulPartitionedCall", "saver_filename", f=func_attr("__inference_restore_9")))
    lib = g.library
    f = lib.function.add()
    f.signature.name = "__inference_f_12"
    f.signature.input_arg.add(name="x", type=1)
    f.signature.output_arg.add(name="y", type=1)
    f.node_def.add(name="relu", op="Relu", input=["x"])
    f.node_def.add(name="inner", op="PartitionedCall", input=["relu:y:0"]).attr["f"].func.name = "helper"
    h = lib.function.add()
    h.signature.name = "helper"
    h.node_def.add(name="read", op="ReadFile")
    cond = h.node_def.add(name="cond", op="If")
    cond.attr["then_branch"].func.name = "branch"
    cond.attr["else_branch"].func.name = "helper2"
    listed = h.node_def.add(name="case", op="Case")
    listed.attr["branches"].list.func.add(name="branch")
    b = lib.function.add()
    b.signature.name = "branch"
    b.node_def.add(name="w", op="WriteFile")
    i = lib.function.add()
    i.signature.name = "__inference_init_7"
    i.signature.input_arg.add(name="table", type=20)
    i.signature.input_arg.add(name="path", type=7)
    i.node_def.add(name="t", op="InitializeTableFromTextFileV2", input=["table", "path"])
    r = lib.function.add()
    r.signature.name = "__inference_restore_9"
    r.node_def.add(name="r", op="RestoreV2")
    r.node_def.add(name="s", op="SaveV2")
    sig = mg.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    _set_tensor(sig.inputs["x"], "serving_default_x:0", dims=(2, 2))
    out = sig.outputs["y"]
    out.composite_tensor.components.add(name="call:0", dtype=1)
    out.composite_tensor.components.add(name="call:1", dtype=9)
    init = mg.signature_def[INIT_KEY]
    init.outputs[INIT_KEY].name = "NoOp"
    a = mg.asset_file_def.add(filename="vocab.txt")
    a.tensor_info.name = "asset_path:0"
    mg.saver_def.filename_tensor_name = "saver_filename:0"
    mg.saver_def.restore_op_name = "restore"
    mg.object_graph_def.nodes.add().children.add(node_id=1, local_name="f")
    return mg


def seed_models() -> list[bytes]:
    """Small SavedModels made with the generated classes, and variants of them."""
    out = []
    for make in (tf1_model, tf2_model):
        model = pb.SavedModel(saved_model_schema_version=1)
        model.meta_graphs.add().CopyFrom(make())
        out.append(model.SerializeToString())
    both = pb.SavedModel(saved_model_schema_version=1)
    both.meta_graphs.add().CopyFrom(tf1_model())
    both.meta_graphs.add().CopyFrom(tf2_model())
    out.append(both.SerializeToString())
    return out
