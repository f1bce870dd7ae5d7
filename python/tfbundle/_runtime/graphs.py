"""Models that are not SavedModels: TF1 checkpoints, legacy SessionBundles, frozen GraphDefs.

    >>> model = tfbundle.load_checkpoint_graph("train_dir")        # newest checkpoint
    >>> model.run("logits:0", {"x:0": batch})                      # by tensor name
    >>> frozen = tfbundle.load_graph("frozen.pb", inputs="x", outputs="probs")
    >>> frozen(x=batch)                                            # a signature

Both build a MetaGraphDef and hand it to the native core, which imports its graph
(``TF_GraphImportGraphDef``), opens a session and, for checkpoints, runs the
SaverDef's restore op with the checkpoint prefix fed: what
``tf.compat.v1.train.import_meta_graph`` + ``Saver.restore`` do, without
TensorFlow's Python.
"""

from __future__ import annotations

import difflib
import glob
import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .. import _core
from .._base.paths import (
    MODEL_FILES,
    PathLike,
    has_model_file,
    read_checkpoint_state,
    version_folders,
)
from .._proto import parsing as gp
from ..errors import (
    DataLossError,
    Error,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    UnimplementedError,
)
from . import library as _library
from .model import Model, _explain_missing_op, session_options

__all__ = [
    "ChosenSignature",
    "GraphModel",
    "InferredSignatureWarning",
    "latest_checkpoint",
    "load_checkpoint_graph",
    "load_graph",
]

TensorBindings = Union[str, Sequence[str], Mapping[str, str], None]

logger = logging.getLogger("tfbundle")

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

_V1_SHARD_PATTERN = "-?????-of-?????"
# Op types that hold variables: a GraphDef with them is not frozen.
_VARIABLE_OPS = frozenset(
    {"Variable", "VariableV2", "VarHandleOp", "_VarHandlesOp", "AutoReloadVariable"}
)
_PLACEHOLDER_OPS = frozenset({"Placeholder", "PlaceholderV2"})
# Op types that are never a model's output: no outputs, training steps, I/O, constants.
_NOT_OUTPUT_OPS = frozenset({
    "NoOp", "Assert", "PrintV2", "ControlTrigger", "Const", "HostConst", "Placeholder",
    "PlaceholderV2", "PlaceholderWithDefault", "MergeV2Checkpoints", "SaveV2", "Save", "SaveSlices",
    "RestoreV2", "Restore", "RestoreSlice", "ShardedFilename", "ShardedFilespec",
    "VarIsInitializedOp", "IsVariableInitialized", "DestroyResourceOp", "_Retval",
}) | _VARIABLE_OPS  # fmt: skip
_NOT_OUTPUT_PREFIXES = (
    "Assign", "ResourceApply", "Apply", "ResourceScatter", "ScatterUpdate", "InitializeTable",
    "LookupTableImport", "LookupTableInsert", "Write", "CreateSummary", "FlushSummary",
)  # fmt: skip

# The dtype of output 0 of common op types, from their attributes (the op
# registry is in TensorFlow's C++; only these are certain from the NodeDef).
_DTYPE_ATTR = {
    "Const": "dtype", "Placeholder": "dtype", "PlaceholderV2": "dtype", "PlaceholderWithDefault": "dtype",
    "Cast": "DstT", "Shape": "out_type", "Size": "out_type", "ArgMax": "output_type",
    "ArgMin": "output_type", "Bitcast": "type", "RandomUniform": "dtype",
    "RandomStandardNormal": "dtype", "Fill": "T", "ZerosLike": "T", "OnesLike": "T",
    "GatherV2": "Tparams", "Gather": "Tparams", "ResourceGather": "dtype",
    "ReadVariableOp": "dtype",
}  # fmt: skip
_SAME_AS_T = frozenset({
    "Identity", "Snapshot", "StopGradient", "PreventGradient", "IdentityN", "Softmax",
    "LogSoftmax", "Sigmoid", "Tanh", "Relu", "Relu6", "Elu", "Selu", "Softplus", "Softsign",
    "LeakyRelu", "Gelu", "Add", "AddV2", "AddN", "Sub", "Mul", "Div", "RealDiv", "FloorDiv",
    "TruncateDiv", "Maximum", "Minimum", "Pow", "SquaredDifference", "Neg", "Abs", "Sign",
    "Square", "Sqrt", "Rsqrt", "Exp", "Expm1", "Log", "Log1p", "Erf", "Round", "Floor", "Ceil",
    "Rint", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "BiasAdd",
    "Conv2D", "Conv3D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "MaxPool", "MaxPoolV2",
    "AvgPool", "AvgPool3D", "MaxPool3D", "Reshape", "Squeeze", "ExpandDims", "Transpose",
    "ConjugateTranspose", "ConcatV2", "Concat", "Pack", "Tile", "Pad", "PadV2", "MirrorPad",
    "Slice", "StridedSlice", "Reverse", "ReverseV2", "Mean", "Sum", "Prod", "Max", "Min",
    "Cumsum", "Cumprod", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Select",
    "SelectV2", "ClipByValue", "L2Loss", "ResizeBilinear", "ResizeNearestNeighbor", "Unpack",
    "Split", "SplitV", "TopKV2", "Unique", "Cross", "BroadcastTo", "MatrixBandPart",
    "EnsureShape", "CheckNumerics", "DepthToSpace", "SpaceToDepth", "LRN",
})  # fmt: skip
_BOOL_OPS = frozenset({
    "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd",
    "LogicalOr", "LogicalNot", "IsNan", "IsInf", "IsFinite", "InTopK", "InTopKV2",
    "ApproximateEqual",
})  # fmt: skip
_FIXED_DTYPE = {"Rank": 3, "Where": 9, "StringJoin": 7, "AsString": 7, "DecodeBase64": 7}


class InferredSignatureWarning(UserWarning):
    """:func:`load_graph` chose a frozen graph's inputs and outputs itself."""


@dataclass(frozen=True)
class ChosenSignature:
    """What :func:`load_graph` chose when it was not told the inputs and outputs.

    Attributes:
        inputs: signature key -> tensor name (the graph's placeholders).
        outputs: signature key -> tensor name (the graph's sink nodes).
        optional_inputs: PlaceholderWithDefault tensors, left out of the
            signature (they have a default); feed them with ``Model.run``.
    """

    inputs: Mapping[str, str]
    outputs: Mapping[str, str]
    optional_inputs: tuple[str, ...] = ()

    def describe(self) -> str:
        ins = ", ".join(self.inputs.values()) or "none"
        outs = ", ".join(self.outputs.values()) or "none"
        text = f"inputs (placeholders): {ins}; outputs (nodes nothing else reads): {outs}"
        if self.optional_inputs:
            text += f"; left out, as they have defaults: {', '.join(self.optional_inputs)}"
        return text


class GraphModel(Model):
    """A :class:`~tfbundle.Model` loaded from a TF1 checkpoint, a SessionBundle or a frozen GraphDef.

    Attributes (besides :class:`~tfbundle.Model`'s):
        source: ``"checkpoint"``, ``"session_bundle"`` or ``"frozen_graph"``.
        graph_file: the ``.meta`` / ``export.meta`` / ``.pb`` / ``.pbtxt`` file read.
        checkpoint: the checkpoint prefix the variables were restored from
            (None for a frozen graph).
        chosen: for :func:`load_graph` without ``inputs``/``outputs``, what it
            chose (a :class:`ChosenSignature`); else None.
    """

    def __init__(
        self,
        native: Any,
        path: str,
        tags: frozenset[str],
        *,
        source: str,
        graph_file: str,
        checkpoint: str | None,
        chosen: ChosenSignature | None = None,
    ) -> None:
        super().__init__(native, path, tags)
        self.source = source
        self.graph_file = graph_file
        self.checkpoint = checkpoint
        self.chosen = chosen

    def __repr__(self) -> str:
        state = (
            "closed" if self.closed else ", ".join(self.signatures) or "no signatures: use run()"
        )
        return f"<tfbundle.GraphModel {self.source} {self.graph_file!r} [{state}]>"


# ------------------------------------------------------------ checkpoint state ---


_V1_PATTERN_SUFFIX = re.compile(r"-\?{5}-of-(\d{5}|\?{5})$")


def _checkpoint_exists(prefix: str) -> bool:
    """A V2 checkpoint (prefix.index), a V1 file, or V1 shards (prefix-?????-of-?????).

    A V1 sharded Saver records the file pattern itself (``model.ckpt-?????-of-00002``)
    in the ``checkpoint`` file: a pattern counts when it matches files.
    """
    if _V1_PATTERN_SUFFIX.search(prefix):
        return bool(glob.glob(prefix))
    return (
        os.path.isfile(prefix + ".index")
        or os.path.isfile(prefix)
        or bool(glob.glob(glob.escape(prefix) + _V1_SHARD_PATTERN))
    )


def _restore_path(prefix: str) -> str:
    """What to feed the restore op: the prefix, or the file pattern of V1 shards."""
    if (
        _V1_PATTERN_SUFFIX.search(prefix)
        or os.path.isfile(prefix + ".index")
        or os.path.isfile(prefix)
    ):
        return prefix
    return prefix + _V1_SHARD_PATTERN


def latest_checkpoint(folder: PathLike) -> str:
    """The newest checkpoint prefix of a training folder, from its ``checkpoint`` file.

    Like ``tf.train.latest_checkpoint``, without TensorFlow.

    Raises:
        NotFoundError: no ``checkpoint`` file, or the prefix it names has no data.
        DataLossError: the ``checkpoint`` file is malformed.
    """
    folder = Path(os.fspath(folder)).expanduser().absolute()
    state = read_checkpoint_state(folder)
    if state is None:
        raise NotFoundError(f"{folder} has no 'checkpoint' file naming its newest checkpoint")
    newest, every = state.newest, state.all
    prefix = state.locate(newest, _checkpoint_exists)[0]
    if not _checkpoint_exists(prefix):
        present = [q for q in (state.locate(e, _checkpoint_exists)[0] for e in every) if _checkpoint_exists(q)]
        hint = f"; checkpoints that are there: {', '.join(present)}" if present else ""
        raise NotFoundError(
            f"{folder / 'checkpoint'} names {newest!r}, but there is no {prefix}.index (nor a V1 "
            f"checkpoint file){hint}"
        )
    return prefix


# --------------------------------------------------------- finding the files ---


@dataclass
class _Source:
    meta_file: Path
    prefix: str | None  # the checkpoint prefix (None: no variables to restore)
    folder: Path  # where assets/ would be
    kind: str  # "checkpoint" | "session_bundle"


def _bundle_prefix(folder: Path) -> str:
    prefix = str(folder / "export")
    if not _checkpoint_exists(prefix):
        raise NotFoundError(
            f"{folder} has export.meta (a legacy SessionBundle) but no variables: expected export.index + "
            f"export.data-*, an 'export' file or export{_V1_SHARD_PATTERN} shards"
        )
    return prefix


def _resolve(path: PathLike, meta: PathLike | None) -> _Source:
    p = Path(os.fspath(path)).expanduser().absolute()
    meta_file = Path(os.fspath(meta)).expanduser().absolute() if meta is not None else None
    if meta_file is not None and not meta_file.is_file():
        raise NotFoundError(
            f"meta={meta_file} does not exist: pass the .meta file that holds the graph"
        )

    if p.is_dir():
        if (p / "export.meta").is_file():
            return _Source(meta_file or p / "export.meta", _bundle_prefix(p), p, "session_bundle")
        if (p / "checkpoint").is_file():
            prefix = latest_checkpoint(p)
            return _with_meta(prefix, meta_file, p, how=f"the newest checkpoint of {p}")
        versions = version_folders(
            p, lambda c: (c / "export.meta").is_file() or (c / "checkpoint").is_file()
        )
        if versions:
            return _resolve(versions[-1][1], meta)
        metas = sorted(p.glob("*.meta"))
        if len(metas) == 1 and _checkpoint_exists(str(metas[0])[: -len(".meta")]):
            return _with_meta(str(metas[0])[: -len(".meta")], meta_file, p, how=str(metas[0]))
        if has_model_file(p):
            raise NotFoundError(
                f"{p} is a SavedModel, not a checkpoint: load it with tfbundle.load({str(p)!r})"
            )
        listing = f" (it has {len(metas)} .meta files: pass one of them)" if len(metas) > 1 else ""
        raise NotFoundError(
            f"{p} holds no TF1 checkpoint tfbundle can find{listing}: expected a 'checkpoint' state file, "
            "PREFIX.meta + PREFIX.index + PREFIX.data-*, or a SessionBundle's export.meta"
        )
    if p.is_file() and p.suffix == ".meta":
        if p.name == "export.meta":
            return _Source(meta_file or p, _bundle_prefix(p.parent), p.parent, "session_bundle")
        return _with_meta(str(p)[: -len(".meta")], meta_file or p, p.parent, how=str(p))
    prefix = str(p)
    if p.is_file() and p.suffix == ".index":
        prefix = prefix[: -len(".index")]
    m = re.match(r"^(.*)\.data-\d{5}-of-\d{5}$", prefix)
    if m and p.is_file():
        prefix = m.group(1)
    if not _checkpoint_exists(prefix):
        if not p.exists() and not p.parent.is_dir():
            raise NotFoundError(f"{p} does not exist")
        raise NotFoundError(
            f"no checkpoint at {prefix}: expected {prefix}.index + {prefix}.data-* (or a V1 checkpoint file), "
            "a .meta file, or a folder with a 'checkpoint' file"
        )
    return _with_meta(prefix, meta_file, Path(prefix).parent, how=prefix)


def _with_meta(prefix: str, meta_file: Path | None, folder: Path, *, how: str) -> _Source:
    if not _checkpoint_exists(prefix):
        raise NotFoundError(
            f"{how}: no checkpoint data at {prefix} (expected {prefix}.index + {prefix}.data-*)"
        )
    if meta_file is None:
        meta_file = Path(_V1_PATTERN_SUFFIX.sub("", prefix) + ".meta")
        if not meta_file.is_file():
            raise NotFoundError(
                f"{how}: {prefix} has no {meta_file.name} beside it, so there is no graph to run its "
                "variables in: pass meta=PATH_TO_GRAPH.meta, or read the variables alone with "
                "tfbundle.open_checkpoint"
            )
    return _Source(meta_file, prefix, folder, "checkpoint")


# ------------------------------------------------------- MetaGraphDef surgery ---


def _parse_meta(data: bytes, what: str) -> Any:
    """The MetaGraphDef of a ``.meta`` file; DataLossError if it is not one or holds no graph."""
    meta = gp.parse("MetaGraphDef", data, what)
    if not meta.HasField("graph_def"):
        raise DataLossError(f"{what} holds no graph (it is not a MetaGraphDef, or an empty one)")
    return meta


def _node_list(meta: Any, key: str) -> list[str]:
    """The node names of a node_list collection ([] when there is no such collection)."""
    if key not in meta.collection_def:
        return []
    return list(meta.collection_def[key].node_list.value)


def _any_values(meta: Any, key: str) -> list[Any]:
    """The ``Any`` messages of an any_list collection ([] when there is no such collection)."""
    if key not in meta.collection_def:
        return []
    return list(meta.collection_def[key].any_list.value)


def _legacy_signature_defs(meta: Any, dtypes: Mapping[str, int], what: str) -> dict[str, Any]:
    """SignatureDefs from a SessionBundle's ``serving_signatures`` collection, as TF Serving converts them.

    The default signature becomes ``serving_default`` if it is a regression or
    classification; the named generic signatures ``inputs`` and ``outputs``
    together become a predict signature (``serving_default``, or
    ``serving_default_from_named`` when that key is taken); other named
    regression and classification signatures keep their names.
    """
    values = _any_values(meta, "serving_signatures")
    if not values:
        return {}
    signatures = gp.parse("Signatures", values[0].value, f"the serving_signatures of {what}")
    sig_cls = gp.message_class("SignatureDef")
    out: dict[str, Any] = {}

    def info(binding: Any) -> Any:
        ti = gp.message_class("TensorInfo")(name=binding.tensor_name)
        ti.dtype = dtypes.get(binding.tensor_name.split(":")[0], 0)
        ti.tensor_shape.unknown_rank = True  # a legacy signature says nothing of shapes
        return ti

    def convert(sig: Any) -> Any | None:
        kind = sig.WhichOneof("type")
        if kind == "regression_signature":
            d = sig_cls(method_name=REGRESS_METHOD)
            d.inputs["inputs"].CopyFrom(info(sig.regression_signature.input))
            d.outputs["outputs"].CopyFrom(info(sig.regression_signature.output))
            return d
        if kind == "classification_signature":
            c = sig.classification_signature
            d = sig_cls(method_name=CLASSIFY_METHOD)
            d.inputs["inputs"].CopyFrom(info(c.input))
            if c.classes.tensor_name:
                d.outputs["classes"].CopyFrom(info(c.classes))
            if c.scores.tensor_name:
                d.outputs["scores"].CopyFrom(info(c.scores))
            return d
        return None

    if signatures.HasField("default_signature"):
        converted = convert(signatures.default_signature)
        if converted is not None:
            out[DEFAULT_SIGNATURE] = converted
    named = signatures.named_signatures
    predict_made = False
    if "inputs" in named and "outputs" in named:
        ins, outs = named["inputs"], named["outputs"]
        if (
            ins.WhichOneof("type") == "generic_signature"
            and outs.WhichOneof("type") == "generic_signature"
        ):
            d = sig_cls(method_name=PREDICT_METHOD)
            for key, binding in ins.generic_signature.map.items():
                d.inputs[key].CopyFrom(info(binding))
            for key, binding in outs.generic_signature.map.items():
                d.outputs[key].CopyFrom(info(binding))
            out[
                DEFAULT_SIGNATURE + "_from_named" if DEFAULT_SIGNATURE in out else DEFAULT_SIGNATURE
            ] = d
            predict_made = True
    for key, sig in named.items():
        if predict_made and key in ("inputs", "outputs"):
            continue
        converted = convert(sig)
        if converted is not None:
            out[key] = converted
    return out


# ----------------------------------------------------------- graph analysis ---


def _attr_dtype(node: Any, name: str) -> int:
    attr = node.attr.get(name)
    return int(attr.type) if attr is not None and attr.WhichOneof("value") == "type" else 0


def _output_dtype(node: Any, index: int) -> int:
    """Output ``index``'s dtype where the NodeDef tells it for certain, else 0 (DT_INVALID)."""
    op = node.op
    if "_output_shapes" in node.attr and "T" not in node.attr and op not in _DTYPE_ATTR:
        return 0
    if index == 0 and op in _DTYPE_ATTR:
        return _attr_dtype(node, _DTYPE_ATTR[op])
    if op in _FIXED_DTYPE and index == 0:
        return _FIXED_DTYPE[op]
    if op in _BOOL_OPS and index == 0:
        return 10
    if op in _SAME_AS_T and (index == 0 or op in ("Split", "SplitV", "Unpack", "IdentityN")):
        if op == "IdentityN":
            attr = node.attr.get("T")
            types = list(attr.list.type) if attr is not None else []
            return int(types[index]) if index < len(types) else 0
        return _attr_dtype(node, "T")
    return 0


def _output_shape(node: Any, index: int) -> Any:
    """The TensorShapeProto recorded for an output, or None (unknown rank)."""
    if (
        node.op in _PLACEHOLDER_OPS | {"PlaceholderWithDefault"}
        and index == 0
        and "shape" in node.attr
    ):
        return node.attr["shape"].shape
    shapes = node.attr.get("_output_shapes")
    if shapes is not None and index < len(shapes.list.shape):
        return shapes.list.shape[index]
    return None


def _split_tensor(name: str) -> tuple[str, int]:
    if name.startswith("^"):
        raise InvalidArgumentError(f"{name!r} is a control input, not a tensor: drop the '^'")
    op, sep, index = name.rpartition(":")
    if sep and index.isdigit():
        return op, int(index)
    return name, 0


def _key_for(tensor: str) -> str:
    op, index = _split_tensor(tensor)
    return op if index == 0 else f"{op}:{index}"


def _bindings(spec: TensorBindings, what: str) -> dict[str, str] | None:
    """Normalises ``inputs=``/``outputs=`` to {signature key: tensor name}."""
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        out = {}
        for key, tensor in spec.items():
            if not isinstance(key, str) or not isinstance(tensor, str):
                raise InvalidTypeError(
                    f"{what} must map str keys to tensor names, got {key!r}: {tensor!r}"
                )
            out[key] = tensor
        return out
    out = {}
    for tensor in spec:
        if not isinstance(tensor, str):
            raise InvalidTypeError(
                f"{what} must be tensor names (str), got {type(tensor).__name__}: {tensor!r}"
            )
        key = _key_for(tensor)
        if key in out:
            raise InvalidArgumentError(f"{what} names the tensor {tensor!r} twice")
        out[key] = tensor
    return out


def _full_name(tensor: str) -> str:
    op, index = _split_tensor(tensor)
    return f"{op}:{index}"


def _tensor_info(nodes: Mapping[str, Any], tensor: str) -> Any:
    op, index = _split_tensor(tensor)
    node = nodes[op]
    info = gp.message_class("TensorInfo")(name=f"{op}:{index}")
    info.dtype = _output_dtype(node, index)
    shape = _output_shape(node, index)
    if shape is None:
        info.tensor_shape.unknown_rank = True
    else:
        info.tensor_shape.CopyFrom(shape)
    return info


def _check_names(
    nodes: Mapping[str, Any], bindings: Mapping[str, str], what: str, path: str
) -> None:
    for key, tensor in bindings.items():
        op, _ = _split_tensor(tensor)
        if op not in nodes:
            close = difflib.get_close_matches(op, list(nodes), n=3)
            placeholders = [n for n, node in nodes.items() if node.op in _PLACEHOLDER_OPS]
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            listing = (
                f" Its placeholders: {', '.join(placeholders[:10]) or 'none'}."
                if what == "inputs"
                else ""
            )
            raise NotFoundError(
                f"{what}[{key!r}] = {tensor!r}: {path} has no node {op!r}{hint}{listing}"
            )


def _choose_signature(graph: Any) -> ChosenSignature:
    consumed: set[str] = set()
    for node in graph.node:
        for inp in node.input:
            if not inp.startswith("^"):
                consumed.add(_split_tensor(inp)[0])
    inputs, optional, outputs = {}, [], {}
    for node in graph.node:
        if node.op in _PLACEHOLDER_OPS:
            inputs[node.name] = node.name + ":0"
        elif node.op == "PlaceholderWithDefault":
            optional.append(node.name + ":0")
        elif (
            node.name not in consumed
            and node.op not in _NOT_OUTPUT_OPS
            and not node.op.startswith(_NOT_OUTPUT_PREFIXES)
        ):
            outputs[node.name] = node.name + ":0"
    return ChosenSignature(inputs, outputs, tuple(optional))


# ------------------------------------------------------------------ loading ---


def _native_from_meta(meta: bytes, what: str, options: dict[str, Any], **request: Any) -> _core.NativeModel:
    """Loads a MetaGraphDef built here through the core's one load path (restore mode in ``request``)."""
    intra, inter, growth, visible = session_options(
        options.get("intra_op_threads"),
        options.get("inter_op_threads"),
        options.get("gpu_memory_growth"),
        options.get("visible_devices"),
    )
    _library.ensure_loaded()
    try:
        return _core.NativeModel.load(
            meta_graph=meta,
            intra_op_threads=intra,
            inter_op_threads=inter,
            gpu_memory_growth=growth,
            visible_devices=visible,
            grappler=options.get("grappler", "fast"),
            **request,
        )
    except NotFoundError as e:
        explained = _explain_missing_op(e)
        if explained is not e:
            raise explained from None
        raise type(e)(f"{what}: {e.message}") from None
    except Error as e:
        hint = ""
        if "Cannot assign a device" in e.message:
            hint = " (the graph pins ops to devices this machine lacks: pass clear_devices=True)"
        raise type(e)(f"{what}: {e.message}{hint}") from None


def _graph_dtypes(graph: Any) -> dict[str, int]:
    """Node name -> dtype of output 0, where the NodeDef tells it (for legacy signatures)."""
    return {node.name: _output_dtype(node, 0) for node in graph.node}


def _clear_devices(graph: Any) -> None:
    """Drops the device placements of a GraphDef's nodes, its functions' included."""
    for node in graph.node:
        node.device = ""
    for fn in graph.library.function:
        for node in fn.node_def:
            node.device = ""


def load_checkpoint_graph(
    path: PathLike,
    *,
    meta: PathLike | None = None,
    clear_devices: bool = False,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    gpu_memory_growth: bool | None = None,
    visible_devices: str | Sequence[int] | None = None,
    grappler: str = "fast",
) -> GraphModel:
    """Loads a TF1 training checkpoint (or a legacy SessionBundle) with its graph.

    What ``tf.compat.v1.train.import_meta_graph(meta)`` + ``Saver.restore(sess,
    prefix)`` do, through TensorFlow's C API: the MetaGraphDef's graph is
    imported, a session opened, and the SaverDef's restore op run with the
    checkpoint prefix fed. Then the graph's own init op runs if it has one
    (``saved_model_main_op``, ``legacy_init_op``, a SessionBundle's
    ``serving_init_op``, with asset paths fed); if it has none, its local
    variables and lookup tables are initialised, as the default main op of
    TensorFlow's SavedModel builder does.

    Args:
        path: one of
            - a folder with a ``checkpoint`` state file: its newest checkpoint;
            - a checkpoint prefix (``train/model.ckpt-1000``; the ``.index`` or a
              ``.data-*`` file works too) with ``PREFIX.meta`` beside it;
            - a ``.meta`` file, with the checkpoint at its prefix;
            - a legacy SessionBundle folder (``export.meta`` + ``export``
              variables, V1 or V2), or a folder of numbered versions of them.
        meta: the ``.meta`` graph to use instead of the one beside the checkpoint.
        clear_devices: drop the device placements recorded in the graph (as
            ``import_meta_graph(clear_devices=True)``); soft placement already
            moves ops pinned to absent GPUs onto the CPU.
        intra_op_threads, inter_op_threads, gpu_memory_growth, visible_devices, grappler:
            session options, as for :func:`tfbundle.load`.

    Returns:
        A :class:`GraphModel`. ``run(fetches, feeds)`` works by tensor name;
        its signatures are the MetaGraphDef's SignatureDefs (a SessionBundle's
        legacy signatures converted as TF Serving converts them), often none
        for a training checkpoint.

    Raises:
        NotFoundError: no checkpoint or no graph there (the message says what was
            looked for), or the graph uses an op type this TensorFlow lacks.
        DataLossError: a ``.meta`` or ``checkpoint`` file that is malformed.
        FailedPreconditionError: a graph with variables but no SaverDef to restore them.
        Error: TensorFlow's own error while importing or restoring, by status code.
    """
    source = _resolve(path, meta)
    what = str(source.meta_file)
    data = source.meta_file.read_bytes()
    if (
        data[:20]
        .lstrip()
        .startswith((b"meta_info_def", b"graph_def", b"saver_def", b"collection_def"))
    ):
        raise UnimplementedError(
            f"{what} is a text-format MetaGraphDef; tfbundle reads binary .meta files "
            "(export it with as_text=False)"
        )
    meta_graph = _parse_meta(data, what)
    legacy = source.kind == "session_bundle"
    has_signatures = len(meta_graph.signature_def) > 0
    has_saver = meta_graph.HasField("saver_def")

    # A SessionBundle's graph may be in the serving_graph collection, its
    # signatures in serving_signatures: rebuild the MetaGraphDef then.
    rebuild = clear_devices
    if legacy:
        graphs = [
            a.value
            for a in _any_values(meta_graph, "serving_graph")
            if a.type_url.endswith("tensorflow.GraphDef")
        ]
        if len(graphs) == 1:
            gp.parse("GraphDef", graphs[0], f"the serving_graph of {what}", into=meta_graph.graph_def)
            rebuild = True
        if not has_signatures and "serving_signatures" in meta_graph.collection_def:
            rebuild = True
    if rebuild:
        if clear_devices:
            _clear_devices(meta_graph.graph_def)
        if legacy and not has_signatures:
            dtypes = _graph_dtypes(meta_graph.graph_def)
            for key, sig in _legacy_signature_defs(meta_graph, dtypes, what).items():
                meta_graph.signature_def[key].CopyFrom(sig)
        data = meta_graph.SerializeToString()

    if not has_saver or not meta_graph.saver_def.restore_op_name:
        ops = {node.op for node in meta_graph.graph_def.node}
        if ops & _VARIABLE_OPS:
            raise FailedPreconditionError(
                f"{what} has variables but no SaverDef (the restore op's recipe), so tfbundle cannot restore "
                f"{source.prefix}: export the graph with a tf.compat.v1.train.Saver, or freeze it and use "
                "tfbundle.load_graph"
            )
    prefix = _restore_path(source.prefix) if source.prefix and has_saver else ""

    # The core feeds the MetaGraphDef's own assets, runs its init op (or, with
    # none, the local variables' and tables' initializers); a SessionBundle
    # adds its serving_assets and serving_init_op.
    asset_dir = source.folder / "assets"
    extra_assets: list[tuple[str, str]] = []
    init_op = None
    if legacy:
        for packed in _any_values(meta_graph, "serving_assets"):
            asset = gp.parse("AssetFile", packed.value, f"a serving_assets entry of {what}")
            # Joined as a string (not Path's /, which an absolute filename replaces): the core's
            # load plan then judges the filename as it judges the MetaGraphDef's own assets.
            extra_assets.append((asset.tensor_binding.tensor_name, f"{asset_dir}/{asset.filename}"))
        init_ops = _node_list(meta_graph, "serving_init_op")
        if len(init_ops) > 1:
            raise FailedPreconditionError(
                f"{what} lists {len(init_ops)} serving_init_op ops; a SessionBundle has one"
            )
        init_op = init_ops[0] if init_ops else None

    native = _native_from_meta(
        data,
        f"could not load the graph of {what}",
        {
            "intra_op_threads": intra_op_threads,
            "inter_op_threads": inter_op_threads,
            "gpu_memory_growth": gpu_memory_growth,
            "visible_devices": visible_devices,
            "grappler": grappler,
        },
        restore="graph",
        checkpoint_prefix=prefix,
        asset_dir=str(asset_dir),
        assets=extra_assets,
        init_op=init_op,
        init_local_variables=True,
    )
    return GraphModel(
        native,
        str(source.folder),
        frozenset(meta_graph.meta_info_def.tags),
        source=source.kind,
        graph_file=what,
        checkpoint=source.prefix,
    )


_TEXT_SUFFIXES = (".pbtxt", ".pbtext", ".txt", ".prototxt")


def _read_graph_def(p: Path) -> Any:
    """A MetaGraphDef holding the GraphDef of a .pb or a .pbtxt file as its graph_def."""
    what = str(p)
    hint = ""
    if p.name in MODEL_FILES:
        hint = f": it is a SavedModel, load its folder with tfbundle.load({str(p.parent)!r})"
    elif p.suffix == ".meta":
        hint = f": it is a MetaGraphDef, load it with tfbundle.load_checkpoint_graph({what!r})"
    data = p.read_bytes()
    looks_text = (
        data[:200].lstrip().startswith((b"node", b"versions", b"library", b"#", b"version"))
    )
    try:
        if p.suffix.lower() in _TEXT_SUFFIXES or (looks_text and b"\x00" not in data[:4096]):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise DataLossError(
                    f"{what} is not a text-format GraphDef (it is not UTF-8 text)"
                ) from None
            meta = gp.message_class("MetaGraphDef")()
            meta.graph_def.CopyFrom(gp.parse_text("GraphDef", text, what))
        else:
            meta = gp.message_class("MetaGraphDef")()
            gp.parse("GraphDef", data, what, into=meta.graph_def)
    except DataLossError as e:
        raise DataLossError(e.message + hint) from None
    graph = meta.graph_def
    if not graph.node:
        raise DataLossError(f"{what} is not a GraphDef, or an empty one (it has no nodes){hint}")
    if any(not node.op for node in graph.node):
        raise DataLossError(f"{what} is not a GraphDef: some of its nodes have no op type{hint}")
    return meta


def load_graph(
    path: PathLike,
    inputs: TensorBindings = None,
    outputs: TensorBindings = None,
    *,
    signature_name: str = DEFAULT_SIGNATURE,
    clear_devices: bool = False,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
    gpu_memory_growth: bool | None = None,
    visible_devices: str | Sequence[int] | None = None,
    grappler: str = "fast",
) -> GraphModel:
    """Loads a frozen GraphDef (variables turned into constants), binary or text.

    Args:
        path: a ``.pb`` (binary GraphDef) or ``.pbtxt`` (text format) file.
        inputs: the signature's inputs: a tensor name (``"x"`` or ``"x:0"``),
            a list of them (keys are the names without ``:0``), or a dict of
            key -> tensor name. None: every Placeholder of the graph.
        outputs: the signature's outputs, the same way. None: every node whose
            output nothing else reads (constants, placeholders and ops without
            outputs left out).
        signature_name: the key of the signature built (``model(**inputs)``
            calls it).
        clear_devices: drop the graph's device placements.
        intra_op_threads, inter_op_threads, gpu_memory_growth, visible_devices, grappler:
            session options, as for :func:`tfbundle.load`.

    When ``inputs`` or ``outputs`` is None, what was chosen is in
    ``model.chosen`` and said once with an :class:`InferredSignatureWarning`
    (pass both to be explicit and silence it). ``model.run(fetches, feeds)``
    reaches every tensor of the graph by name in any case.

    Dtypes: a signature input that is a Placeholder has its dtype and shape;
    an output's dtype is filled where the node's attributes tell it for certain
    (most ops), else it is None (``tf_dtype`` ``"DT_INVALID"``) until run.

    Raises:
        NotFoundError: no such file, or an input/output names no node of the
            graph (the message suggests close names), or an op type this
            TensorFlow lacks.
        DataLossError: the file is not a GraphDef.
        FailedPreconditionError: the graph has variables (it is not frozen).
        InvalidArgumentError: no outputs could be chosen, or a bad binding.
    """
    p = Path(os.fspath(path)).expanduser().absolute()
    if p.is_dir():
        raise NotFoundError(
            f"{p} is a folder: load_graph reads one GraphDef file (.pb or .pbtxt); for a SavedModel use "
            "tfbundle.load, for a checkpoint folder tfbundle.load_checkpoint_graph"
        )
    if not p.is_file():
        raise NotFoundError(f"{p} does not exist")
    what = str(p)
    meta = _read_graph_def(p)
    graph = meta.graph_def
    nodes = {node.name: node for node in graph.node}
    variables = sorted(n.name for n in graph.node if n.op in _VARIABLE_OPS)
    if variables:
        listing = ", ".join(variables[:5]) + (
            f" and {len(variables) - 5} more" if len(variables) > 5 else ""
        )
        raise FailedPreconditionError(
            f"{what} is not a frozen graph: it has {len(variables)} variable(s) ({listing}) whose values a "
            "GraphDef does not hold. Freeze it (tf.compat.v1.graph_util.convert_variables_to_constants), or "
            "load the training checkpoint with tfbundle.load_checkpoint_graph"
        )
    if not isinstance(signature_name, str) or not signature_name:
        raise InvalidArgumentError(
            f"signature_name must be a non-empty str, got {signature_name!r}"
        )

    in_map, out_map = _bindings(inputs, "inputs"), _bindings(outputs, "outputs")
    chosen = None
    if in_map is None or out_map is None:
        chosen = _choose_signature(graph)
        if in_map is None:
            in_map = dict(chosen.inputs)
        if out_map is None:
            out_map = dict(chosen.outputs)
        chosen = ChosenSignature(dict(in_map), dict(out_map), chosen.optional_inputs)
        if not out_map:
            raise InvalidArgumentError(
                f"{what}: no outputs could be chosen (every node's output is read by another node, or is a "
                "constant or placeholder): pass outputs=['name:0', ...]"
            )
    _check_names(nodes, in_map, "inputs", what)
    _check_names(nodes, out_map, "outputs", what)
    clash = {_full_name(t) for t in in_map.values()} & {_full_name(t) for t in out_map.values()}
    if clash:
        raise InvalidArgumentError(
            f"{', '.join(sorted(clash))} is both an input and an output of the signature"
        )

    if clear_devices:
        _clear_devices(graph)
    sig = gp.message_class("SignatureDef")(method_name=PREDICT_METHOD)
    for key, tensor in in_map.items():
        sig.inputs[key].CopyFrom(_tensor_info(nodes, tensor))
    for key, tensor in out_map.items():
        sig.outputs[key].CopyFrom(_tensor_info(nodes, tensor))
    meta.signature_def[signature_name].CopyFrom(sig)
    options = {
        "intra_op_threads": intra_op_threads,
        "inter_op_threads": inter_op_threads,
        "gpu_memory_growth": gpu_memory_growth,
        "visible_devices": visible_devices,
        "grappler": grappler,
    }
    native = _native_from_meta(
        meta.SerializeToString(), f"could not load the graph of {what}", options, restore="none"
    )
    unsupported = native.unsupported(signature_name)
    if unsupported and chosen is not None:
        # An automatically chosen output TensorFlow cannot fetch (an op without
        # outputs): choose again without it.
        bad = [k for k in unsupported if k in out_map and outputs is None]
        if bad and len(bad) == len(unsupported):
            native.close()
            for k in bad:
                del sig.outputs[k]
                del out_map[k]
            if not out_map:
                raise InvalidArgumentError(
                    f"{what}: none of the chosen outputs can be fetched: pass outputs=[...]"
                )
            meta.signature_def[signature_name].CopyFrom(sig)
            chosen = ChosenSignature(dict(in_map), dict(out_map), chosen.optional_inputs)
            native = _native_from_meta(
                meta.SerializeToString(), f"could not load the graph of {what}", options, restore="none"
            )
            unsupported = native.unsupported(signature_name)
    if unsupported:
        native.close()
        key, why = next(iter(unsupported.items()))
        raise NotFoundError(f"{what}: {why}")
    if chosen is not None:
        warnings.warn(
            f"{what}: no inputs/outputs given, so the signature {signature_name!r} has {chosen.describe()}. "
            "Pass inputs= and outputs= to choose them yourself (model.chosen keeps this choice).",
            InferredSignatureWarning,
            stacklevel=2,
        )
        logger.info("load_graph(%s): %s", what, chosen.describe())
    return GraphModel(
        native,
        str(p.parent),
        frozenset(),
        source="frozen_graph",
        graph_file=what,
        checkpoint=None,
        chosen=chosen,
    )
