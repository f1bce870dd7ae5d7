"""``tfbundle.inspect``: what a SavedModel holds, read without TensorFlow.

    >>> info = tfbundle.inspect("models/resnet")
    >>> info.tag_sets
    [frozenset({'serve'})]
    >>> info.meta_graph().signatures["serving_default"].inputs
    >>> tfbundle.inspect("models/resnet", ops=True).meta_graph().ops.types

Everything is read by tfbundle's C++ core straight from ``saved_model.pb`` (memory-mapped;
the GraphDef is skipped unless ``ops=True``), ``saved_model.pbtxt``, ``variables.index`` and
``fingerprint.pb``. No TensorFlow library is loaded, so it costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .. import _core
from .._base.dtypes import DTYPE_NAMES, dtype_name
from .._base.paths import PathLike, resolve_export_dir
from .._base.specs import TensorSpec, specs_of
from .._base.tags import tag_set
from ..errors import NotFoundError

__all__ = [
    "DTYPE_NAMES",
    "AssetInfo",
    "FingerprintInfo",
    "MetaGraphInfo",
    "OpsInfo",
    "SavedModelInfo",
    "SaverInfo",
    "SignatureInfo",
    "VariablesInfo",
    "dtype_name",
    "inspect",
]

@dataclass(frozen=True)
class AssetInfo:
    """A file the graph reads from ``assets/`` (a vocabulary, a lookup table...).

    Attributes:
        tensor_name: the placeholder TensorFlow feeds with the file's path.
        filename: the base name inside ``assets/``.
        path: the full path of the file.
        exists: whether the file is there (a regular file inside ``assets/``; never looked up
            outside it).
        problem: "" for an asset that resolves inside ``assets/``; else why
            :func:`tfbundle.load` refuses the model: the filename is an absolute path or climbs
            out with ``..``, a symlink leads out of the folder, or the file is a FIFO, a socket
            or a device. ``tfbundle scan`` and the op policy report such an asset as denied.
    """

    tensor_name: str
    filename: str
    path: str
    exists: bool
    problem: str = ""

    @property
    def denied(self) -> bool:
        """True when :func:`tfbundle.load` refuses the model for this asset (see ``problem``)."""
        return bool(self.problem)


@dataclass(frozen=True)
class SaverInfo:
    """The TF1 SaverDef: how TensorFlow restores the variables.

    Attributes:
        filename_tensor_name: tensor fed with the checkpoint prefix.
        save_tensor_name: tensor that saves.
        restore_op_name: op that restores.
        version: checkpoint format: 0 legacy, 1 V1, 2 V2.
        sharded: whether the saver writes sharded checkpoints.
    """

    filename_tensor_name: str
    save_tensor_name: str
    restore_op_name: str
    version: int
    sharded: bool


@dataclass(frozen=True)
class SignatureInfo:
    """One SignatureDef.

    Attributes:
        key: its key (``"serving_default"``).
        method_name: ``"tensorflow/serving/predict"``, ``.../classify``, ``.../regress`` or "".
        inputs: input key -> :class:`tfbundle.TensorSpec`, sorted by key.
        outputs: output key -> :class:`tfbundle.TensorSpec`, sorted by key.
    """

    key: str
    method_name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]


@dataclass(frozen=True)
class OpsInfo:
    """The op types a MetaGraph's graph and its function library use.

    Attributes:
        counts: op type -> number of nodes of that type, over the graph and the bodies of all
            its functions. Calls of library functions by name are not op types.
        function_calls: nodes that call a library function by name.
        graph_nodes: nodes in the graph itself.
        function_nodes: nodes in the bodies of the library's functions.
        functions: names of the library's functions.
        policy_counts: what :mod:`tfbundle._policy` judges: op type -> nodes over the part of
            the graph TensorFlow runs (what the signatures, the init op and the restore op
            depend on, and the functions they call), without the restore op's own checkpoint
            reads; PrintV2 nodes that print to a file count as ``"PrintV2(file)"``.
    """

    counts: Mapping[str, int]
    function_calls: int
    graph_nodes: int
    function_nodes: int
    functions: tuple[str, ...]
    policy_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def types(self) -> tuple[str, ...]:
        """The op types, sorted."""
        return tuple(sorted(self.counts))


@dataclass(frozen=True)
class MetaGraphInfo:
    """One MetaGraphDef of a SavedModel.

    Attributes:
        tags: its tags, in file order (``("serve", "gpu")``).
        tensorflow_version: the TensorFlow version that wrote it ("" when not recorded).
        tensorflow_git_version: the git version of that TensorFlow.
        meta_graph_version: the MetaGraph's own version string (often "").
        stripped_default_attrs: whether default attr values were stripped when saving.
        signatures: key -> :class:`SignatureInfo`, sorted by key (``__saved_model_init_op``
            included, as saved_model_cli shows it).
        assets: the asset files the graph reads.
        saver: the TF1 SaverDef, or None.
        init_op: the op TensorFlow runs after restoring ("" when none).
        has_object_graph: whether it carries a TF2 object graph (tf.saved_model.save).
        graph_def_bytes: size of its serialized GraphDef.
        ops: the op types it uses, or None unless ``inspect(..., ops=True)``.
    """

    tags: tuple[str, ...]
    tensorflow_version: str
    tensorflow_git_version: str
    meta_graph_version: str
    stripped_default_attrs: bool
    signatures: Mapping[str, SignatureInfo]
    assets: tuple[AssetInfo, ...]
    saver: SaverInfo | None
    init_op: str
    has_object_graph: bool
    graph_def_bytes: int
    ops: OpsInfo | None = None

    @property
    def tag_set(self) -> frozenset[str]:
        """The tags as a set (the MetaGraph's identity)."""
        return frozenset(self.tags)


@dataclass(frozen=True)
class VariablesInfo:
    """What ``variables/`` holds, from its index (no tensor data is read).

    Attributes:
        format: ``"v2"`` (variables.index and data shards), ``"v1"`` (a TF1 V1 checkpoint,
            which TensorFlow's C API does not restore), or None (no variables).
        count: tensors in the index (the TF2 object-graph entry excluded).
        total_bytes: bytes of tensor data the index points to.
        num_shards: data files the index names.
        missing_shards: data files the index names that are not there.
        error: why the index could not be read, or None.
    """

    format: str | None
    count: int
    total_bytes: int
    num_shards: int
    missing_shards: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class FingerprintInfo:
    """``fingerprint.pb`` (written by TensorFlow >= 2.12): hashes of the model's parts.

    Attributes:
        saved_model_checksum: checksum of saved_model.pb (changes with immaterial edits).
        graph_def_program_hash: hash of the graph's program.
        signature_def_hash: hash of the signatures.
        saved_object_graph_hash: hash of the object graph.
        checkpoint_hash: hash of the variables.
        producer: the fingerprint format's producer version.
        uuid: a random id of this save ("" when absent).
    """

    saved_model_checksum: int
    graph_def_program_hash: int
    signature_def_hash: int
    saved_object_graph_hash: int
    checkpoint_hash: int
    producer: int
    uuid: str = ""

    @property
    def singleprint(self) -> str:
        """TensorFlow's single fingerprint string (``Fingerprint.singleprint()``)."""
        parts = (self.graph_def_program_hash, self.signature_def_hash,
                 self.saved_object_graph_hash, self.checkpoint_hash)  # fmt: skip
        return "/".join(str(p) for p in parts)


@dataclass(frozen=True)
class SavedModelInfo:
    """Everything :func:`inspect` reads from a SavedModel folder.

    Attributes:
        path: the SavedModel folder (for a TF Serving base folder, its highest version).
        file: the file read (``.../saved_model.pb`` or ``.../saved_model.pbtxt``).
        format: ``"pb"`` or ``"pbtxt"``.
        schema_version: ``saved_model_schema_version`` (1 for every SavedModel so far).
        meta_graphs: the MetaGraphDefs, in file order.
        variables: what ``variables/`` holds.
        fingerprint: ``fingerprint.pb``, or None when absent.
    """

    path: str
    file: str
    format: str
    schema_version: int
    meta_graphs: tuple[MetaGraphInfo, ...]
    variables: VariablesInfo
    fingerprint: FingerprintInfo | None = None
    _raw: _core.SavedModelReading | None = field(default=None, repr=False, compare=False)

    @property
    def tag_sets(self) -> list[frozenset[str]]:
        """The tag-set of each MetaGraph, in file order."""
        return [m.tag_set for m in self.meta_graphs]

    @property
    def tensorflow_version(self) -> str:
        """The TensorFlow version that wrote the first MetaGraph ("" when not recorded)."""
        return self.meta_graphs[0].tensorflow_version if self.meta_graphs else ""

    def meta_graph(
        self, tags: str | Iterable[str] | None = None
    ) -> MetaGraphInfo:
        """The MetaGraph with the given tag-set.

        Args:
            tags: ``"serve"``, ``"serve,gpu"``, an iterable of tags, ``""`` for the empty
                tag-set, or None for ``serve`` if present, else the only MetaGraph.

        Returns:
            The matching :class:`MetaGraphInfo`.

        Raises:
            NotFoundError: no MetaGraph has that tag-set (the message lists those present),
                or ``tags`` is None and there are several MetaGraphs, none tagged ``serve``.
        """
        listing = ", ".join('"' + ",".join(m.tags) + '"' for m in self.meta_graphs)
        if tags is None:
            for m in self.meta_graphs:
                if m.tag_set == frozenset({"serve"}):
                    return m
            if len(self.meta_graphs) == 1:
                return self.meta_graphs[0]
            raise NotFoundError(
                f"{self.path} has several tag-sets and none is 'serve': choose one of {listing}"
            )
        wanted = tag_set(tags) or frozenset()
        for m in self.meta_graphs:
            if m.tag_set == wanted:
                return m
        raise NotFoundError(
            f'{self.path} has no MetaGraph with the tag-set "{",".join(sorted(wanted))}"; it has {listing}'
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of everything here (what ``tfbundle show --json`` prints)."""
        return {
            "path": self.path,
            "file": self.file,
            "format": self.format,
            "schema_version": self.schema_version,
            "meta_graphs": [_meta_graph_dict(m) for m in self.meta_graphs],
            "variables": _plain(self.variables),
            "fingerprint": None if self.fingerprint is None else {
                **_plain(self.fingerprint), "singleprint": self.fingerprint.singleprint},
        }  # fmt: skip


def _spec_dict(spec: TensorSpec) -> dict[str, Any]:
    return {
        "tensor_name": spec.tensor_name,
        "dtype": spec.tf_dtype,
        "shape": None if spec.shape is None else list(spec.shape),
        "encoding": spec.encoding,
    }


def signature_dict(sig: SignatureInfo) -> dict[str, Any]:
    """A JSON-ready dict of one signature."""
    return {
        "method_name": sig.method_name,
        "inputs": {k: _spec_dict(v) for k, v in sig.inputs.items()},
        "outputs": {k: _spec_dict(v) for k, v in sig.outputs.items()},
    }


def _plain(obj: Any) -> dict[str, Any]:
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in vars(obj).items()
        if not k.startswith("_")
    }


def _meta_graph_dict(m: MetaGraphInfo) -> dict[str, Any]:
    return {
        "tags": list(m.tags),
        "tensorflow_version": m.tensorflow_version,
        "tensorflow_git_version": m.tensorflow_git_version,
        "meta_graph_version": m.meta_graph_version,
        "stripped_default_attrs": m.stripped_default_attrs,
        "signatures": {k: signature_dict(s) for k, s in m.signatures.items()},
        "assets": [_plain(a) for a in m.assets],
        "saver": None if m.saver is None else _plain(m.saver),
        "init_op": m.init_op,
        "has_object_graph": m.has_object_graph,
        "graph_def_bytes": m.graph_def_bytes,
        "ops": None if m.ops is None else {
            "counts": dict(m.ops.counts),
            "function_calls": m.ops.function_calls,
            "graph_nodes": m.ops.graph_nodes,
            "function_nodes": m.ops.function_nodes,
            "functions": list(m.ops.functions),
            "policy_counts": dict(m.ops.policy_counts),
        },
    }  # fmt: skip


def _build(export_dir: str, raw: _core.SavedModelReading) -> SavedModelInfo:
    metas = []
    for m in raw.meta_graphs:
        sigs = {
            s.key: SignatureInfo(s.key, s.method_name, specs_of(s.inputs), specs_of(s.outputs))
            for s in m.signatures
        }
        assets = tuple(AssetInfo(t, f, p, exists, problem) for t, f, p, exists, problem in m.assets)
        s = m.saver
        saver = None if s is None else SaverInfo(
            s.filename_tensor_name, s.save_tensor_name, s.restore_op_name, s.version, s.sharded)  # fmt: skip
        ops = None
        if m.ops is not None:
            o = m.ops
            ops = OpsInfo(MappingProxyType(o.counts), o.function_calls, o.graph_nodes, o.function_nodes,
                          tuple(o.functions), MappingProxyType(o.policy_counts))  # fmt: skip
        metas.append(
            MetaGraphInfo(
                tags=tuple(m.tags),
                tensorflow_version=m.tensorflow_version,
                tensorflow_git_version=m.tensorflow_git_version,
                meta_graph_version=m.meta_graph_version,
                stripped_default_attrs=m.stripped_default_attrs,
                signatures=MappingProxyType(dict(sorted(sigs.items()))),
                assets=assets,
                saver=saver,
                init_op=m.init_op,
                has_object_graph=m.has_object_graph,
                graph_def_bytes=m.graph_def_bytes,
                ops=ops,
            )
        )
    v = raw.variables
    variables = VariablesInfo(
        format=v.format or None,
        count=v.count,
        total_bytes=v.total_bytes,
        num_shards=v.num_shards,
        missing_shards=tuple(v.missing_shards),
        error=v.error,
    )
    fp = raw.fingerprint
    fingerprint = None if fp is None else FingerprintInfo(
        fp.saved_model_checksum, fp.graph_def_program_hash, fp.signature_def_hash,
        fp.saved_object_graph_hash, fp.checkpoint_hash, fp.producer, fp.uuid)  # fmt: skip
    return SavedModelInfo(
        path=export_dir,
        file=raw.file,
        format=raw.format,
        schema_version=raw.schema_version,
        meta_graphs=tuple(metas),
        variables=variables,
        fingerprint=fingerprint,
        _raw=raw,
    )


def inspect_raw(
    path: PathLike, *, ops: bool = False, cli: bool = False
) -> tuple[str, _core.SavedModelReading]:
    """The folder and the C++ core's reading of it (for the CLI).

    Args:
        path: as for :func:`inspect`.
        ops: also read the op types of every graph.
        cli: also what ``saved_model_cli show --all`` prints (implies ``ops``).

    Returns:
        ``(export_dir, raw)``.

    Raises:
        As :func:`inspect`.
    """
    export_dir = resolve_export_dir(path)
    return export_dir, _core.inspect_saved_model(export_dir, ops, cli)


def inspect(path: PathLike, *, ops: bool = False) -> SavedModelInfo:
    """Reads what a SavedModel holds, without TensorFlow.

    Args:
        path: a SavedModel folder (``saved_model.pb`` or ``saved_model.pbtxt``), its model
            file, or a TF Serving base folder of numbered versions (the highest is read).
        ops: also list the op types of each MetaGraph's graph and function library
            (reads the whole GraphDef; otherwise it is skipped).

    Returns:
        A :class:`SavedModelInfo`: tag-sets, signatures, TensorFlow version, assets,
        variables, fingerprint.

    Raises:
        NotFoundError: no SavedModel at ``path``.
        UnimplementedError: the folder holds only ``saved_model.cpb`` (the chunked format).
        DataLossError: ``saved_model.pb`` or ``.pbtxt`` is malformed (the message names the
            file and what is wrong).
    """
    export_dir, raw = inspect_raw(path, ops=ops)
    return _build(export_dir, raw)
