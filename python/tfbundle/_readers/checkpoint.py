"""Reading TensorFlow checkpoints without TensorFlow: ``open_checkpoint``.

A SavedModel's ``variables/`` folder and every TF1/TF2 training checkpoint are
TensorBundles: an index (``PREFIX.index``) and data shards
(``PREFIX.data-00000-of-00001``). :func:`open_checkpoint` parses the index
and memory-maps the shards, so each variable is a read-only numpy view of the
file, with no copy, in the spirit of safetensors' ``safe_open``::

    >>> with tfbundle.open_checkpoint("models/resnet") as ckpt:
    ...     for name in ckpt.keys():
    ...         print(name, ckpt.spec(name).shape)
    ...     kernel = ckpt["dense/kernel"]          # np.ndarray, read-only view

Views stay valid after the reader is closed: each one keeps its shard mapped
until it is garbage-collected. String tensors are decoded into object arrays
of ``bytes``; partitioned variables are reassembled into new arrays; data
written on a machine of the other byte order is copied and swapped. Those
copies are writable, views are not.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from .. import _core
from .._base.dtypes import dtype_name as tf_dtype_name
from .._base.dtypes import numpy_dtype
from .._base.paths import MODEL_FILES_ANY_FORMAT, PathLike, read_checkpoint_state, version_folders
from ..errors import (
    CheckpointKeyError,
    ClosedError,
    Error,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    UnimplementedError,
)

__all__ = [
    "CheckpointKeyError",
    "CheckpointReader",
    "VariableSpec",
    "open_checkpoint",
    "resolve_checkpoint_prefix",
]


#: Key of a TF2 checkpoint's object graph (a serialized TrackableObjectGraph).
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_ATTRIBUTES = "/.ATTRIBUTES/"
_VALUE_ATTRIBUTE = "VARIABLE_VALUE"
_SHARD_RE = re.compile(r"^(?P<prefix>.+)\.data-\d{5}-of-\d{5}$")

@dataclass(frozen=True)
class VariableSpec:
    """What a checkpoint holds under one name, read from the index alone.

    Attributes:
        name: the checkpoint key.
        dtype: numpy dtype (``object`` for strings), or None for dtypes numpy
            cannot hold (DT_VARIANT, DT_RESOURCE).
        tf_dtype: TensorFlow's name of the dtype (``"DT_FLOAT"``).
        shape: the tensor's shape.
        nbytes: bytes stored in the data shards (for a partitioned variable,
            the sum over its slices).
        shard: the data shard holding it; None for a partitioned variable.
        offset: where it starts in its shard; None for a partitioned variable.
        slices: for a partitioned variable, each stored slice as a tuple of
            ``(start, length)`` per dimension (length -1: the whole
            dimension); empty otherwise.
    """

    name: str
    dtype: np.dtype | None
    tf_dtype: str
    shape: tuple[int, ...]
    nbytes: int
    shard: int | None
    offset: int | None
    slices: tuple[tuple[tuple[int, int], ...], ...] = ()

    @property
    def partitioned(self) -> bool:
        """True for a partitioned (sliced) variable."""
        return bool(self.slices)

    @property
    def size(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n


_TABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # 0xdb4775248b80fb57, little-endian


def _is_v1_checkpoint(path: Path) -> bool:
    """True for a V1-format (TensorSlice) checkpoint file: a bare table, no .index."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < 48:
                return False
            f.seek(-8, os.SEEK_END)
            return f.read(8) == _TABLE_MAGIC
    except OSError:
        return False


def _refuse_v1(path: Path) -> UnimplementedError:
    return UnimplementedError(
        f"{path} is a V1-format checkpoint (TensorSlice, written by TF 0.x-1.x Savers with "
        "write_version=V1), which tfbundle does not read: load it with TensorFlow and re-save it "
        "with tf.compat.v1.train.Saver() (V2 format: PREFIX.index + PREFIX.data-*)"
    )


def _from_state_file(folder: Path) -> str | None:
    """The newest checkpoint named by ``folder/checkpoint``, if it exists."""
    found = read_checkpoint_state(folder)
    if found is None:
        return None
    state, named = found.file, found.newest
    prefix, candidate = found.locate(named, lambda q: os.path.isfile(q + ".index"))
    if os.path.isfile(prefix + ".index"):
        return prefix
    beside = folder / Path(named).name
    for v1 in (Path(candidate), beside):
        if _is_v1_checkpoint(v1):
            raise _refuse_v1(v1)
    raise NotFoundError(
        f"{state} names checkpoint {named!r}, but neither {candidate}.index nor {beside}.index exists"
    )


def resolve_checkpoint_prefix(path: PathLike) -> str:
    """The TensorBundle prefix ``P`` (of ``P.index``) that ``path`` designates.

    Accepted: a SavedModel folder (its ``variables/variables``), a TF Serving
    base folder (the highest numbered version), a SavedModel's ``variables/``
    folder, a folder with a ``checkpoint`` state file (the newest checkpoint it
    names), a folder holding exactly one ``*.index``, a checkpoint prefix, or
    the path of a ``.index`` or ``.data-*`` file.

    Raises:
        NotFoundError: nothing there is a checkpoint; the message says what
            was looked for.
        InvalidArgumentError: a folder holds several checkpoints and none is
            designated (pass the prefix).
        UnimplementedError: the checkpoint is in the V1 (TensorSlice) format.
    """
    p = Path(os.fspath(path)).expanduser()
    text = os.fspath(p)
    if p.is_file():
        if p.suffix == ".index":
            return text[: -len(".index")]
        m = _SHARD_RE.match(text)
        if m:
            return m.group("prefix")
        if p.name in MODEL_FILES_ANY_FORMAT:
            return resolve_checkpoint_prefix(p.parent)
    if Path(text + ".index").is_file():
        return text
    if p.is_file() and _is_v1_checkpoint(p):
        raise _refuse_v1(p)
    if not p.exists():
        raise NotFoundError(
            f"no checkpoint at {p}: it does not exist (expected a SavedModel folder, a checkpoint "
            "folder, or a checkpoint prefix P with P.index beside it)"
        )
    if not p.is_dir():
        raise NotFoundError(f"{p} is not a checkpoint: expected PREFIX.index and PREFIX.data-* files")
    if any((p / f).is_file() for f in MODEL_FILES_ANY_FORMAT):
        variables = p / "variables"
        if (variables / "variables.index").is_file():
            return str(variables / "variables")
        for v1 in [variables / "variables", *sorted(variables.glob("variables-?????-of-?????"))]:
            if _is_v1_checkpoint(v1):
                raise _refuse_v1(v1)
        raise NotFoundError(f"the SavedModel at {p} has no variables checkpoint (no variables/variables.index)")
    if (p / "variables.index").is_file():
        return str(p / "variables")
    from_state = _from_state_file(p)
    if from_state is not None:
        return from_state
    indexes = sorted(p.glob("*.index"))
    if len(indexes) == 1:
        return str(indexes[0])[: -len(".index")]
    if len(indexes) > 1:
        names = ", ".join(i.name[: -len(".index")] for i in indexes[:10])
        raise InvalidArgumentError(
            f"{p} holds several checkpoints and no 'checkpoint' state file: pass one prefix, e.g. "
            f"{p / indexes[-1].name[: -len('.index')]} (found {names})"
        )
    versions = version_folders(p)
    for _, version in reversed(versions):  # TF Serving layout: the highest version that has one
        try:
            return resolve_checkpoint_prefix(version)
        except NotFoundError:
            continue
    if (p / "variables").is_dir():
        return resolve_checkpoint_prefix(p / "variables")
    for f in sorted(p.iterdir()):
        if f.is_file() and f.suffix != ".meta" and _is_v1_checkpoint(f):
            raise _refuse_v1(f)
    raise NotFoundError(
        f"no checkpoint in {p}: expected saved_model.pb with variables/, variables.index, a "
        "'checkpoint' state file, or a PREFIX.index file"
    )


class CheckpointReader:
    """An open checkpoint: names, specs and zero-copy numpy views of its tensors.

    Made by :func:`open_checkpoint`. Use it as a context manager or call
    :meth:`close`; after closing, every method raises :class:`ClosedError`,
    while arrays already returned stay valid.

    ``reader[name]`` and :meth:`get_tensor` accept the checkpoint key (as
    TensorFlow lists it) or a friendly name from :attr:`aliases`.
    """

    def __init__(self, prefix: str, native: Any) -> None:
        self._prefix = prefix
        self._native: Any = native
        self._entries: dict[str, _core.CheckpointEntry] | None = None
        self._aliases: Mapping[str, str] | None = None
        self._friendly: dict[str, str] | None = None

    # ------------------------------------------------------------ lifetime --

    def _reader(self) -> Any:
        native = self._native
        if native is None:
            raise ClosedError(
                f"the checkpoint reader of {self._prefix} is closed; arrays read from it stay valid, "
                "but open it again with tfbundle.open_checkpoint() to read more"
            )
        return native

    def close(self) -> None:
        """Releases the index; arrays already read keep their shard mapped."""
        self._native = None
        self._entries = None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._native is None

    def __reduce__(self) -> Any:
        raise InvalidTypeError(
            "a tfbundle.CheckpointReader holds memory-mapped files and cannot be pickled: pass its "
            f"path ({self._prefix!r}) and call tfbundle.open_checkpoint(path) in the other process"
        )

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._native is None else f"{len(self._all_entries())} tensors"
        return f"<CheckpointReader {self._prefix!r} ({state})>"

    # ---------------------------------------------------------------- index --

    @property
    def path(self) -> str:
        """The checkpoint prefix (``.../variables/variables``, ``.../model.ckpt-1000``)."""
        return self._prefix

    @property
    def index_path(self) -> str:
        """The index file, ``PREFIX.index``."""
        return self._prefix + ".index"

    @property
    def num_shards(self) -> int:
        """How many data shards the checkpoint has."""
        return int(self._reader().num_shards)

    @property
    def big_endian(self) -> bool:
        """True if the data was written on a big-endian machine (read with a byte swap)."""
        return bool(self._reader().big_endian)

    def _all_entries(self) -> dict[str, _core.CheckpointEntry]:
        native = self._reader()
        if self._entries is None:
            self._entries = {e.key: e for e in native.entries()}
        return self._entries

    def keys(self) -> list[str]:
        """Tensor names as TensorFlow lists them (``tf.train.list_variables``), sorted."""
        return list(self._all_entries())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._all_entries())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._all_entries() or name in self.aliases

    def _key(self, name: str) -> str:
        if not isinstance(name, str):
            raise InvalidTypeError(f"checkpoint tensor names are str, got {type(name).__name__}: {name!r}")
        entries = self._all_entries()
        if name in entries:
            return name
        key = self.aliases.get(name)
        if key is not None:
            return key
        candidates = list(entries) + list(self.aliases)
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise CheckpointKeyError(
            f"no tensor {name!r} in checkpoint {self._prefix} ({len(entries)} tensors; list them "
            f"with keys()){hint}"
        )

    def spec(self, name: str) -> VariableSpec:
        """dtype, shape, size and place of a tensor, from the index (no data read).

        Raises:
            CheckpointKeyError: no such tensor.
        """
        key = self._key(name)
        entry = self._all_entries()[key]
        if entry.slices:
            native = self._reader()
            nbytes = 0
            for _extents, slice_key in native.slice_parts(key):
                nbytes += native.entry(slice_key).size
            shard_out: int | None = None
            offset_out: int | None = None
        else:
            nbytes, shard_out, offset_out = entry.size, entry.shard_id, entry.offset
        return VariableSpec(
            name=key,
            dtype=numpy_dtype(entry.dtype),
            tf_dtype=tf_dtype_name(entry.dtype),
            shape=entry.shape,
            nbytes=nbytes,
            shard=shard_out,
            offset=offset_out,
            slices=entry.slices,
        )

    def specs(self) -> dict[str, VariableSpec]:
        """:meth:`spec` of every tensor, by key."""
        return {k: self.spec(k) for k in self.keys()}

    # ----------------------------------------------------------------- data --

    def get_tensor(self, name: str, *, verify: bool = False, copy: bool = False) -> np.ndarray:
        """The tensor stored under ``name`` (a key or an alias).

        Numeric tensors are read-only views into the memory-mapped shard (no
        copy; pages are read from disk when touched). Strings come as an
        object array of bytes, partitioned variables reassembled, both copies.

        A view reads the file as it is when touched: if the checkpoint is
        rewritten in place (truncated, or overwritten by a saver writing to the
        same prefix) while a view is alive, touching the view can kill the process
        with SIGBUS. Savers normally write new files and rename them, which is
        safe; where a file may be rewritten in place, pass ``copy=True``.

        Args:
            name: checkpoint key or friendly name.
            verify: check the stored CRC-32C first (reads every byte).
            copy: return a writable array of its own, read now, instead of a view.

        Raises:
            CheckpointKeyError: no such tensor.
            DataLossError: the entry or its data is corrupt (the message names
                the entry and the file).
            NotFoundError: its data shard file is missing.
            UnimplementedError: a dtype numpy cannot hold (DT_VARIANT).
        """
        key = self._key(name)
        if self._all_entries()[key].slices:
            return self.reassemble(key, verify=verify)
        tensor = self._reader().tensor(key, verify)
        return np.array(tensor, copy=True) if copy and tensor.base is not None else tensor

    def __getitem__(self, name: str) -> np.ndarray:
        return self.get_tensor(name)

    def get(self, name: str, default: Any = None) -> Any:
        """:meth:`get_tensor`, or ``default`` when there is no such tensor."""
        try:
            key = self._key(name)
        except CheckpointKeyError:
            return default
        return self.get_tensor(key)

    def items(self, *, verify: bool = False) -> Iterator[tuple[str, np.ndarray]]:
        """``(key, array)`` for every tensor, in key order."""
        for key in self.keys():
            yield key, self.get_tensor(key, verify=verify)

    def values(self) -> Iterator[np.ndarray]:
        """Every tensor, in key order."""
        for key in self.keys():
            yield self.get_tensor(key)

    def slices(self, name: str) -> list[tuple[tuple[slice, ...], np.ndarray]]:
        """The stored pieces of a partitioned variable: ``(index, array)`` pairs.

        ``full[index] == array`` for each pair; the arrays are views.

        Raises:
            InvalidArgumentError: the tensor is not partitioned.
        """
        key = self._key(name)
        native = self._reader()
        if not self._all_entries()[key].slices:
            raise InvalidArgumentError(f"tensor {key!r} of checkpoint {self._prefix} is not partitioned")
        out = []
        for extents, slice_key in native.slice_parts(key):
            index = tuple(slice(int(s), int(s) + int(n)) for s, n in extents)
            out.append((index, native.tensor(slice_key, False)))
        return out

    def reassemble(self, name: str, *, verify: bool = False) -> np.ndarray:
        """A partitioned variable put back together (a new, writable array).

        For a tensor that is not partitioned this is a copy of it.

        Raises:
            DataLossError: the slices do not match the variable's shape or
                do not cover it.
        """
        key = self._key(name)
        native = self._reader()
        entry = self._all_entries()[key]
        if not entry.slices:
            return np.array(native.tensor(key, verify), copy=True)
        dtype = numpy_dtype(entry.dtype)
        if dtype is None:
            native.tensor(key, verify)  # raises the reader's UnimplementedError
        out = np.empty(entry.shape, dtype=dtype)
        for extents, slice_key in native.slice_parts(key):
            index = tuple(slice(int(s), int(s) + int(n)) for s, n in extents)
            out[index] = native.tensor(slice_key, verify)
        return out

    def verify(self) -> list[tuple[str, str]]:
        """Checks every tensor's CRC-32C, bounds and size (reads all data).

        Returns:
            ``(key, message)`` for each tensor that fails; empty when all pass.
        """
        return [(k, m) for k, m in self._reader().verify_all()]

    # ------------------------------------------------------- friendly names --

    @property
    def aliases(self) -> Mapping[str, str]:
        """Friendlier names of TF2 object-based keys: ``{alias: key}``.

        Two kinds, each kept only where it names one key and is not itself a
        key: the variable's own name recorded in the object graph
        (``"sequential/dense/kernel"``), and the object path without its
        ``/.ATTRIBUTES/VARIABLE_VALUE`` suffix (``"optimizer/_iterations"``).
        Empty for TF1 checkpoints, whose keys are already variable names.
        """
        if self._aliases is None:
            self._build_aliases()
        assert self._aliases is not None
        return self._aliases

    def friendly_name(self, key: str) -> str:
        """The best alias of ``key`` (the variable's own name when known), else ``key``."""
        if self._friendly is None:
            self._build_aliases()
        assert self._friendly is not None
        return self._friendly.get(key, key)

    def object_graph(self) -> list[tuple[list, list, list]] | None:
        """The decoded TrackableObjectGraph of a TF2 checkpoint, or None.

        One ``(children, attributes, slot_variables)`` tuple per node, as
        ``[(node_id, local_name)]``, ``[(name, full_name, checkpoint_key)]``
        and ``[(original_node_id, slot_name, slot_node_id)]``.
        """
        native = self._reader()
        if OBJECT_GRAPH_KEY not in self._all_entries():
            return None
        value = native.tensor(OBJECT_GRAPH_KEY, False)
        if value.shape != () or not isinstance(value[()], bytes):
            return None
        return _core.parse_object_graph(value[()])

    def _build_aliases(self) -> None:
        entries = self._all_entries()
        by_full_name: dict[str, set[str]] = {}
        by_path: dict[str, set[str]] = {}
        try:
            graph = self.object_graph()
        except Error:  # a damaged object graph only costs the aliases
            graph = None
        for _children, attributes, _slots in graph or ():
            for attr_name, full_name, checkpoint_key in attributes:
                if checkpoint_key not in entries or not full_name:
                    continue
                alias = full_name if attr_name == _VALUE_ATTRIBUTE else f"{full_name}/{attr_name}"
                by_full_name.setdefault(alias, set()).add(checkpoint_key)
        for key in entries:
            if _ATTRIBUTES in key:
                path, _, attr = key.partition(_ATTRIBUTES)
                alias = path if attr == _VALUE_ATTRIBUTE else f"{path}/{attr}"
                by_path.setdefault(alias, set()).add(key)
        aliases: dict[str, str] = {}
        friendly: dict[str, str] = {}
        taken = set(entries)
        for table in (by_full_name, by_path):
            for alias, keys in table.items():
                if len(keys) != 1 or alias in taken:
                    continue
                (key,) = keys
                aliases[alias] = key
                friendly.setdefault(key, alias)
            taken.update(table)  # an alias ambiguous in one kind is not offered by the other
        self._aliases = MappingProxyType(dict(sorted(aliases.items())))
        self._friendly = friendly


def open_checkpoint(path: PathLike) -> CheckpointReader:
    """Opens a TensorFlow checkpoint or a SavedModel's variables for reading.

    Only the index is read now; data shards are memory-mapped when a tensor in
    them is first read, and only the pages a tensor covers are read from disk.

    Args:
        path: a SavedModel folder, a TF Serving base folder, a SavedModel's
            ``variables/`` folder, a checkpoint folder with a ``checkpoint``
            state file (its newest checkpoint is opened), a checkpoint prefix
            (``model.ckpt-1000``), or a ``.index`` file.

    Returns:
        A :class:`CheckpointReader` (a context manager).

    Raises:
        NotFoundError: no checkpoint at ``path``.
        DataLossError: the index is truncated or corrupt (the message names it).
        InvalidArgumentError: a folder holds several checkpoints, or the
            checkpoint was written by a newer, incompatible TensorFlow.
        UnimplementedError: a V1-format checkpoint, or an index compressed
            in a way TensorFlow never writes.
    """
    prefix = resolve_checkpoint_prefix(path)
    return CheckpointReader(prefix, _core.BundleReader(prefix))
