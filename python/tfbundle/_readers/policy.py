"""Op types that reach outside the model, and refusing graphs that use them.

TensorFlow's own security guide says a SavedModel is a program: running it may read and write
files, talk to the network or call back into Python. This module names the op types that do
so, so that ``tfbundle scan`` can report them and ``tfbundle.load(..., allowed_ops=...)`` can
refuse a graph before TensorFlow runs any of it. It looks at op types only (plus PrintV2's
``output_stream`` attr); it is a first line of defence, not a sandbox: run untrusted models in
one (nsjail, gVisor, a container without network).

The judgement is on the part of the graph TensorFlow runs: what the signatures and the init op
depend on, what the SaverDef's restore op depends on, and the functions those call
(:attr:`tfbundle.OpsInfo.policy_counts`, computed by the C++ core). Every SavedModel restores
its variables with RestoreV2 at load and carries a SaveV2 subgraph nobody runs when serving;
those are left out, while the same ops anywhere TensorFlow runs them are reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import PermissionDeniedError
from .inspect import inspect

__all__ = [
    "DENIED_OPS",
    "FILE_SYSTEM_ARGS",
    "REVIEWED_OPS",
    "NOTED_OPS",
    "Finding",
    "asset_findings",
    "check_assets",
    "check_graph",
    "check_saved_model",
    "findings",
]


def _group(reason: str, *ops: str) -> dict[str, str]:
    return dict.fromkeys(ops, reason)


#: Op types denied by default, with what they do. ``PrintV2(file)`` stands for a PrintV2 node
#: whose output_stream is a file; PrintV2 to stderr/stdout/the log is harmless.
#: ``InitializeTableFromTextFileV2(path)`` stands for a text-file table initialised from a path
#: that is not one of the model's assets (a constant, a signature input, a string computed in the
#: graph or held in a restored variable: any file); from an asset it is only noted (NOTED_OPS).
#: The C++ core follows each such path back through the graph (cpp/asset_flow.h).
DENIED_OPS: Mapping[str, str] = MappingProxyType({
    **_group("reads a text file whose path is not one of the model's assets (any file; its lines "
             "can come back through a signature)", "InitializeTableFromTextFile(path)",
             "InitializeTableFromTextFileV2(path)"),
    **_group("reads checkpoint or vocabulary files whose paths are not the model's assets",
             "LoadAndRemapMatrix(path)", "GenerateVocabRemapping(path)"),
    **_group("reads a file", "ReadFile", "ImmutableConst", "RecordInput", "Skipgram"),
    **_group("reads a vocabulary file named in the graph", "FixedUnigramCandidateSampler"),
    **_group("reads a protobuf descriptor file", "DecodeProtoV2(file)", "EncodeProto(file)"),
    **_group("writes and reads cache files (Dataset.cache(filename))", "CacheDataset", "CacheDatasetV2"),
    **_group("writes a file", "WriteFile", "PrintV2(file)", "CalibrationStatisticsSaver", "DumpTensor"),
    **_group("lists files", "MatchingFiles", "MatchingFilesDataset", "ExperimentalMatchingFilesDataset"),
    **_group("writes checkpoint files outside the saver", "Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints",
             "DistributedSave"),
    **_group("reads checkpoint files outside the saver", "Restore", "RestoreV2", "RestoreSlice", "DTensorRestoreV2"),
    **_group("calls back into a Python interpreter", "PyFunc", "PyFuncStateless", "EagerPyFunc"),
    **_group("reads files (TF1 reader)", "WholeFileReader", "WholeFileReaderV2", "TextLineReader",
             "TextLineReaderV2", "TFRecordReader", "TFRecordReaderV2", "FixedLengthRecordReader",
             "FixedLengthRecordReaderV2", "LMDBReader"),
    **_group("reads files (dataset source)", "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset",
             "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2",
             "ExperimentalCSVDataset", "LMDBDataset", "ExperimentalLMDBDataset", "LoadDataset",
             "SnapshotDatasetReader", "SnapshotNestedDatasetReader", "SnapshotChunkDataset",
             "ListSnapshotChunksDataset"),
    # (Snapshot, without "Dataset", is the array op that copies a tensor.)
    **_group("reads or writes files (dataset snapshot)", "SnapshotDataset", "SnapshotDatasetV2"),
    **_group("writes files (dataset sink)", "SaveDataset", "SaveDatasetV2", "DatasetToTFRecord",
             "ExperimentalDatasetToTFRecord"),
    **_group("queries a database", "SqlDataset", "ExperimentalSqlDataset"),
    **_group("talks to the network", "RegisterDataset", "RegisterDatasetV2", "DataServiceDataset",
             "DataServiceDatasetV2", "DataServiceDatasetV3", "DataServiceDatasetV4", "RpcClient",
             "RpcCall", "RpcServer", "RpcServerStart", "RpcServerRegister", "RpcGetValue",
             "RpcCheckStatus"),
    **_group("writes summaries to files", "CreateSummaryFileWriter", "CreateSummaryDbWriter", "SummaryWriter",
             "WriteSummary", "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary",
             "WriteAudioSummary", "WriteGraphSummary", "WriteRawProtoSummary", "ImportEvent",
             "FlushSummaryWriter", "CloseSummaryWriter", "StatsAggregatorSetSummaryWriter"),
    **_group("sends tensors to debug URLs (files or gRPC)", "DebugIdentity", "DebugIdentityV2",
             "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary", "DebugNumericSummaryV2"),
    **_group("changes file-system settings", "FileSystemSetConfiguration"),
})  # fmt: skip

#: The names of op inputs and attrs through which an op reaches a file, a directory, a database or
#: a network address. Every op of TensorFlow's registry that has one is in DENIED_OPS, in
#: NOTED_OPS, or in REVIEWED_OPS with the reason it is harmless (tests/test_policy.py checks this
#: against the registry of the installed TensorFlow).
FILE_SYSTEM_ARGS = frozenset({
    "address", "chunk_file", "ckpt_path", "data_source_name", "db_uri", "debug_urls",
    "descriptor_source", "directory", "file_name", "file_pattern", "filename", "filenames",
    "log_dir_path", "logdir", "memory_region_name", "new_vocab_file", "old_vocab_file",
    "output_file_path", "output_stream", "path", "pattern", "prefix", "protocol",
    "reader_path_prefix", "server_address", "shard_dir", "snapshot_path", "target",
    "target_workers", "vocab_file", "writer_path_prefix",
})  # fmt: skip

#: Op types with one of FILE_SYSTEM_ARGS that reach nothing outside the model, and why.
REVIEWED_OPS: Mapping[str, str] = MappingProxyType({
    "PrintV2": "prints to stderr, stdout or the log; to a file it counts as PrintV2(file)",
    "DecodeProtoV2": "uses descriptors linked into the binary or given inline; a file path counts as "
                     "DecodeProtoV2(file)",
    "EncodeProto": "as DecodeProtoV2; a file path counts as EncodeProto(file)",
    "RegexFullMatch": "'pattern' is a regular expression", "RegexReplace": "'pattern' is a regular expression",
    "StaticRegexFullMatch": "'pattern' is a regular expression",
    "StaticRegexReplace": "'pattern' is a regular expression",
    "RemoteCall": "'target' is a device of the model's own session",
    "TensorSliceDataset": "'is_files' only marks elements as file names for tf.data's bookkeeping",
})  # fmt: skip

#: Op types that read files in normal use, counted here only when every path they read is one of
#: the model's assets (vocabularies in ``assets/``): reported by ``tfbundle scan`` as notes, not
#: denied. With any other path they count as ``<op>(path)``, which DENIED_OPS denies.
NOTED_OPS: Mapping[str, str] = MappingProxyType({
    **_group("reads a vocabulary file from the model's assets/",
             "InitializeTableFromTextFile", "InitializeTableFromTextFileV2"),
    **_group("reads checkpoint or vocabulary files from the model's assets/ (warm-starting)",
             "LoadAndRemapMatrix", "GenerateVocabRemapping"),
})  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One op type a policy reports.

    Attributes:
        op: the op type (``"WriteFile"``; ``"PrintV2(file)"`` for PrintV2 to a file).
        count: how many nodes use it (graph and function library).
        reason: what it does.
        denied: True when it is denied (it reaches outside the model); False for a note.
    """

    op: str
    count: int
    reason: str
    denied: bool


def _names(ops: Iterable[str] | str | None) -> frozenset[str]:
    if ops is None:
        return frozenset()
    if isinstance(ops, str):
        ops = ops.split(",")
    return frozenset(o.strip() for o in ops if o and o.strip())


def findings(
    meta_graph_ops: Mapping[str, int],
    allowed_ops: Iterable[str] | str | None = None,
    denied_ops: Iterable[str] | str | None = None,
    *,
    only: Iterable[str] | str | None = None,
) -> list[Finding]:
    """Judges the op types of a graph.

    Args:
        meta_graph_ops: op type -> node count, as :attr:`tfbundle.OpsInfo.policy_counts`
            (the part of the graph TensorFlow runs; PrintV2 to a file as ``"PrintV2(file)"``).
        allowed_ops: op types to accept even though they are denied (a list or a
            comma-separated string). An op type also allows its variants: ``"PrintV2"``
            allows ``"PrintV2(file)"``, ``"InitializeTableFromTextFileV2"`` allows
            ``"InitializeTableFromTextFileV2(path)"``.
        denied_ops: op types to deny besides :data:`DENIED_OPS` (each with its variants).
        only: deny exactly these op types (each with its variants) instead of
            :data:`DENIED_OPS` and ``denied_ops`` (saved_model_cli's ``--op_denylist``); no
            notes then.

    Returns:
        The denied op types, then the noted ones, each sorted by name.
    """
    allowed = _names(allowed_ops)
    if only is not None:
        deny = dict.fromkeys(_names(only), "on the given denylist")
        notes: Mapping[str, str] = {}
    else:
        deny = {**dict.fromkeys(_names(denied_ops), "denied by the caller"), **DENIED_OPS}
        notes = NOTED_OPS
    denied, noted = [], []
    for op, count in sorted(meta_graph_ops.items()):
        base = op.split("(", 1)[0]  # "PrintV2(file)" is a PrintV2 node
        if count <= 0 or op in allowed or base in allowed:
            continue
        if op in deny or base in deny:
            denied.append(Finding(op, count, DENIED_OPS.get(op) or deny.get(op) or deny[base], True))
        elif op in notes:
            noted.append(Finding(op, count, notes[op], False))
    return denied + noted


def asset_findings(assets: Iterable[Any]) -> list[Finding]:
    """The asset files of a MetaGraph that TensorFlow's loader would read outside the model.

    Args:
        assets: :class:`tfbundle.AssetInfo` objects (``MetaGraphInfo.assets``).

    Returns:
        One denied :class:`Finding` per asset whose ``problem`` is set (a filename that is an
        absolute path or climbs out with ``..``, a symlink leading out of ``assets/``, a FIFO),
        named ``"asset:<filename>"``. No ``allowed_ops`` allows them: :func:`tfbundle.load`
        refuses such a model whatever the policy says.
    """
    return [
        Finding(f"asset:{a.filename}", 1, f"the asset file {a.problem}", True) for a in assets if a.problem
    ]


def check_assets(assets: Iterable[Any], *, what: str = "the graph") -> None:
    """Refuses a MetaGraph with an asset file outside ``assets/`` (see :func:`asset_findings`).

    Raises:
        PermissionDeniedError: naming each such asset and what is wrong with it.
    """
    bad = asset_findings(assets)
    if bad:
        listing = "; ".join(f"{f.op[len('asset:'):]!r}: {f.reason}" for f in bad)
        raise PermissionDeniedError(
            f"{what} has asset files TensorFlow's loader would read outside the model's assets/ folder: "
            f"{listing}. Such a model is not loaded."
        )


def check_graph(
    meta_graph_ops: Mapping[str, int],
    allowed_ops: Iterable[str] | str | None = None,
    *,
    denied_ops: Iterable[str] | str | None = None,
    what: str = "the graph",
) -> None:
    """Refuses a graph that uses op types reaching outside the model.

    Args:
        meta_graph_ops: op type -> node count, as :attr:`tfbundle.OpsInfo.policy_counts`.
        allowed_ops: denied op types to accept anyway (list or comma-separated string).
        denied_ops: op types to deny besides :data:`DENIED_OPS`.
        what: how the message names the graph (e.g. the model's path and tag-set).

    Raises:
        PermissionDeniedError: naming each denied op type, what it does and how many nodes use
            it, and how to accept it.
    """
    bad = [f for f in findings(meta_graph_ops, allowed_ops, denied_ops) if f.denied]
    if not bad:
        return
    listing = "; ".join(
        f"{f.op} ({f.reason}, {f.count} node{'s' if f.count != 1 else ''})" for f in bad
    )
    names = ",".join(f.op for f in bad)
    raise PermissionDeniedError(
        f"{what} uses op types that reach outside the model: {listing}. Inspect it with "
        f"`tfbundle scan`; if you trust it, allow them with allowed_ops={names!r}"
    )


def check_saved_model(
    path: str,
    tags: str | Iterable[str] | None = None,
    allowed_ops: Iterable[str] | str | None = None,
    *,
    denied_ops: Iterable[str] | str | None = None,
) -> None:
    """Refuses a SavedModel's MetaGraph that uses op types reaching outside the model.

    Reads the graph without TensorFlow (the C++ core), so nothing of it runs.

    Args:
        path: the SavedModel folder (or a TF Serving base folder).
        tags: the MetaGraph's tag-set, as for :meth:`tfbundle.SavedModelInfo.meta_graph`.
        allowed_ops: denied op types to accept anyway.
        denied_ops: op types to deny besides :data:`DENIED_OPS`.

    Raises:
        PermissionDeniedError: the graph uses a denied op type, or an asset file resolves
            outside ``assets/`` (:func:`check_assets`).
        NotFoundError: no SavedModel there, or no MetaGraph with that tag-set.
    """
    info = inspect(path, ops=True)
    mg = info.meta_graph(tags)
    assert mg.ops is not None
    what = f'{info.path} (tag-set "{",".join(mg.tags)}")'
    check_assets(mg.assets, what=what)
    check_graph(mg.ops.policy_counts, allowed_ops, denied_ops=denied_ops, what=what)
