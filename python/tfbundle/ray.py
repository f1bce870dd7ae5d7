"""Batch inference on Ray Data: a model loaded once per actor, and TFRecord files without TensorFlow.

``Predictor`` is a callable class for :meth:`ray.data.Dataset.map_batches`: each actor of the pool
loads the model once (``tfbundle.load``, in its ``__init__``) and then runs every batch it is
given; the columns named like the signature's inputs are fed, its outputs come back as new
columns::

    import ray, tfbundle.ray

    ds = ray.data.read_parquet("s3://bucket/features/")
    scored = ds.map_batches(
        tfbundle.ray.Predictor,
        fn_constructor_kwargs={"model": "/models/ranker/3", "keep_columns": ["id"]},
        concurrency=4,      # actors, each with its own session
        batch_size=1024,
        batch_format="numpy",  # or "pyarrow", "pandas": the result has the same format
    )

``read_tfrecords`` reads TFRecord files of serialized ``tf.train.Example`` into a dataset, with
tfbundle's own TFRecord reader and its C++ ``tf.Example`` parser: no TensorFlow in the readers::

    ds = tfbundle.ray.read_tfrecords("/data/eval/", features={"x": (np.float32, [4]), "id": np.int64})

Ray is imported by this module only (``import tfbundle`` never imports it); install it with
``pip install 'tfbundle[ray]'``.
"""

from __future__ import annotations

import glob
import inspect
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ._base.arrow import fixed_size_list_values, numbers_to_arrow, numbers_to_numpy
from ._base.dtypes import cast_numeric
from ._base.fs import from_uri, is_uri, list_files
from ._base.paths import PathLike
from ._runtime.model import Model, load
from .errors import InvalidArgumentError, InvalidTypeError, NotFoundError

__all__ = ["Predictor", "TFRecordDatasource", "read_tfrecords"]


# ---------------------------------------------------------------- columns ---


def column_to_numpy(column: Any, name: str = "column") -> np.ndarray:
    """One column of a Ray batch as a numpy array, without a copy where its layout allows.

    numpy arrays pass through (Ray's read-only zero-copy batches included: tfbundle only reads
    its inputs). pyarrow arrays: a primitive column is a view of its buffer, a fixed-size-list
    column (nested for more dimensions) a 2-D (N-D) view of its values, Ray's tensor extension
    its ndarray, a binary or string column an object array of bytes. pandas columns: their numpy
    form; a column of equal-length arrays (what Ray's pandas batches hold for tensors) is stacked.
    """
    if isinstance(column, np.ndarray):
        if column.dtype == object and column.ndim == 1 and len(column) and isinstance(column[0], np.ndarray):
            return np.stack(list(column))
        return column
    pa = sys.modules.get("pyarrow")  # an arrow column means pyarrow is imported already
    if pa is not None and isinstance(column, (pa.Array, pa.ChunkedArray)):
        return _arrow_to_numpy(column, name)
    if type(column).__module__.startswith("pandas"):
        if hasattr(column, "dtype") and type(column.dtype).__name__ == "TensorDtype":  # Ray's tensor column
            return np.asarray(column.to_numpy())
        return column_to_numpy(column.to_numpy(), name)
    return np.asarray(column)


def _arrow_to_numpy(column: Any, name: str) -> np.ndarray:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if isinstance(column.type, pa.ExtensionType):
        if hasattr(column, "to_numpy"):
            try:
                return np.asarray(column.to_numpy(zero_copy_only=False))
            except TypeError:
                return np.asarray(column.to_numpy())
        column = column.storage
    t = column.type
    if pa.types.is_fixed_size_list(t):
        if column.null_count:
            raise InvalidArgumentError(f"column {name!r} has {column.null_count} null rows")
        dims = [len(column)]
        values = column
        while pa.types.is_fixed_size_list(values.type):
            dims.append(values.type.list_size)
            values = fixed_size_list_values(values)
        return _arrow_to_numpy(values, name).reshape(dims)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        rows = column.to_numpy(zero_copy_only=False)
        try:
            return np.stack([np.asarray(r) for r in rows]) if len(rows) else np.empty((0, 0))
        except ValueError:
            raise InvalidArgumentError(
                f"column {name!r} holds lists of different lengths: a model input needs one shape"
            ) from None
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    return numbers_to_numpy(column)


def numpy_to_arrow(array: np.ndarray) -> Any:
    """An output array as a pyarrow array: 1-D as is, more dimensions as (nested) fixed-size lists
    over the same values, bytes as binary."""
    import pyarrow as pa

    if array.dtype == object:
        flat = pa.array(array.reshape(-1).tolist(), pa.binary())
    else:
        flat = numbers_to_arrow(np.ascontiguousarray(array).reshape(-1))
    for size in reversed(array.shape[1:]):
        flat = pa.FixedSizeListArray.from_arrays(flat, size)
    return flat


# ------------------------------------------------------------- predictor ---


def _actor_cpus() -> int | None:
    """The CPUs Ray assigned to this worker (rounded up, at least 1); None outside a Ray worker."""
    ray = sys.modules.get("ray")  # a Ray worker has imported it; a plain process need not
    if ray is None:
        return None
    try:
        if not ray.is_initialized():
            return None
        context = ray.get_runtime_context()
        if context.worker.mode != ray.WORKER_MODE:
            return None
        cpus = context.get_assigned_resources().get("CPU")
    except Exception:  # noqa: BLE001 - Ray's internals differ across versions: keep the default
        return None
    if not cpus:
        return None
    import math

    return max(1, math.ceil(cpus))


class Predictor:
    """A callable class for ``Dataset.map_batches``: loads the model once per actor, runs each batch.

    Args:
        model: the SavedModel's path, or a :class:`tfbundle.Model` (which pickles by reference:
            each actor loads it again, with its tags and load options).
        signature: the signature to run; the model's default one when None.
        inputs: input key -> column name, for inputs whose column is named otherwise; the other
            inputs read the column of their own name.
        outputs: the output keys to compute (all when None), or output key -> column name to
            compute some and name their columns.
        keep_columns: also return the batch's columns: True for all, or a list of names; False
            (default) returns the outputs only. An output named like a kept column replaces it.
        cast: convert a numeric column of another dtype to the input's (float64 -> float32,
            int32 -> int64, ...); with False such a column raises InvalidTypeError.
        **load_options: passed to :func:`tfbundle.load` (``tags``, ``intra_op_threads``, ...).
            Without ``intra_op_threads``, an actor's ops use as many threads as the CPUs Ray
            gave it (``num_cpus``, at least 1), so that actors sharing a node do not
            oversubscribe its cores; outside a Ray worker, TensorFlow's default (all cores).

    ``__call__(batch)`` takes a dict of numpy arrays, a pyarrow Table or a pandas DataFrame (Ray's
    ``batch_format`` "numpy", "pyarrow", "pandas") and returns the same kind. Ray's zero-copy
    batches are read-only numpy arrays: they are fed as they are (tfbundle never writes to an
    input); an array is copied once only when TensorFlow cannot use its buffer (not C-contiguous,
    or not 64-byte aligned), or to cast it. Fixed-size-list and tensor columns become N-D arrays;
    N-D outputs become fixed-size-list columns in pyarrow batches.
    """

    def __init__(
        self,
        model: PathLike | Any,
        *,
        signature: str | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Sequence[str] | Mapping[str, str] | None = None,
        keep_columns: bool | Sequence[str] = False,
        cast: bool = True,
        **load_options: Any,
    ) -> None:
        if isinstance(model, Model):
            if load_options:
                raise InvalidArgumentError("load options go with a path, not with a loaded model")
            self.model = model
        else:
            if "intra_op_threads" not in load_options:
                load_options["intra_op_threads"] = _actor_cpus()
            self.model = load(model, **load_options)
        self.signature = (
            self.model.signatures[signature] if signature is not None else self.model.default_signature
        )
        specs = self.signature.inputs
        unknown = sorted(set(inputs or {}) - set(specs))
        if unknown:
            raise InvalidArgumentError(
                f"inputs names {', '.join(map(repr, unknown))}, which signature {self.signature.name!r} does "
                f"not have; its inputs are {', '.join(map(repr, specs))}"
            )
        self._columns = {key: (inputs or {}).get(key, key) for key in specs}
        self._dtypes = {key: spec.dtype for key, spec in specs.items()}
        if outputs is None:
            self._outputs = {key: key for key in self.signature.outputs}
        elif isinstance(outputs, Mapping):
            self._outputs = dict(outputs)
        elif isinstance(outputs, str):
            self._outputs = {outputs: outputs}
        else:
            self._outputs = {key: key for key in outputs}
        missing = sorted(set(self._outputs) - set(self.signature.outputs))
        if missing:
            raise InvalidArgumentError(
                f"outputs names {', '.join(map(repr, missing))}, which signature {self.signature.name!r} "
                f"does not have; its outputs are {', '.join(map(repr, self.signature.outputs))}"
            )
        self._keys = list(self._outputs)
        self._keep = keep_columns
        self._cast = cast

    def _feed(self, key: str, column: Any) -> Any:
        array = column_to_numpy(column, self._columns[key])
        return cast_numeric(array, self._dtypes[key]) if self._cast else array

    def predict(self, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Runs the signature on a mapping of column name -> column; returns output column -> array."""
        feeds = {}
        for key, name in self._columns.items():
            try:
                column = columns[name]
            except KeyError:
                raise InvalidArgumentError(
                    f"the batch has no column {name!r} for input {key!r} of signature {self.signature.name!r}; "
                    f"its columns are {', '.join(map(repr, columns))} (rename with inputs={{{key!r}: column}})"
                ) from None
            feeds[key] = self._feed(key, column)
        values = self.signature.run(feeds, self._keys)
        return {self._outputs[k]: v for k, v in zip(self._keys, values)}

    def _kept(self, names: Sequence[str]) -> list[str]:
        if self._keep is True:
            return list(names)
        if not self._keep:
            return []
        keep = [self._keep] if isinstance(self._keep, str) else list(self._keep)
        absent = [c for c in keep if c not in names]
        if absent:
            raise InvalidArgumentError(f"keep_columns names {absent}, which the batch does not have")
        return keep

    def __call__(self, batch: Any) -> Any:
        module = type(batch).__module__
        if isinstance(batch, Mapping):
            out = self.predict(batch)
            kept = {c: batch[c] for c in self._kept(list(batch)) if c not in out}
            return {**kept, **out}
        if module.startswith("pyarrow"):
            import pyarrow as pa

            columns = {name: batch.column(name) for name in batch.column_names}
            out = self.predict(columns)
            names = [c for c in self._kept(batch.column_names) if c not in out]
            arrays = [batch.column(c) for c in names] + [numpy_to_arrow(v) for v in out.values()]
            return pa.Table.from_arrays(arrays, names=names + list(out))
        if module.startswith("pandas"):
            import pandas as pd

            out = self.predict({name: batch[name] for name in batch.columns})
            frame = {c: batch[c] for c in self._kept(list(batch.columns)) if c not in out}
            for name, value in out.items():
                frame[name] = list(value) if value.ndim > 1 else value
            return pd.DataFrame(frame, index=batch.index)
        raise InvalidTypeError(
            f"a batch must be a dict of numpy arrays, a pyarrow Table or a pandas DataFrame, got "
            f"{type(batch).__name__}"
        )

    def __repr__(self) -> str:
        return f"<tfbundle.ray.Predictor {self.model.path!r} signature={self.signature.name!r}>"


# ------------------------------------------------------------- TFRecords ---


def _expand(paths: PathLike | Sequence[PathLike]) -> list[str]:
    """Files of ``paths``: files as given, folders' files (sorted, hidden ones left out), globs."""
    given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[str] = []
    for p in given:
        s = os.fspath(p)
        if os.path.isdir(s):
            for root, dirs, names in os.walk(s):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                files.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith((".", "_")))
        elif os.path.isfile(s):
            files.append(s)
        elif glob.has_magic(s):
            matched = sorted(m for m in glob.glob(s, recursive=True) if os.path.isfile(m))
            if not matched:
                raise NotFoundError(f"no file matches {s}")
            files.extend(matched)
        else:
            raise NotFoundError(f"{s} does not exist")
    if not files:
        raise NotFoundError(f"no TFRecord files in {', '.join(str(os.fspath(g)) for g in given)}")
    return files


def _resolve(
    paths: PathLike | Sequence[PathLike], filesystem: Any
) -> list[tuple[Any, str, int]]:
    """(filesystem, file, size) of ``paths``: local paths (filesystem None), paths in the given
    ``pyarrow.fs`` filesystem, or URIs (``s3://bucket/data/``, ``gs://...``, ``hdfs://...``,
    ``file:///...``), whose filesystem pyarrow makes from the URI."""
    given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    texts = [os.fspath(p) for p in given]
    if filesystem is None and not any(is_uri(t) for t in texts):
        return [(None, f, os.path.getsize(f)) for f in _expand(texts)]
    import pyarrow.fs as pafs

    out: list[tuple[Any, str, int]] = []
    for t in texts:
        if filesystem is not None:
            fs, inner = filesystem, t
        elif is_uri(t):
            fs, inner = from_uri(t)
        else:
            fs, inner = pafs.LocalFileSystem(), os.path.abspath(t)
        found = list_files(fs, inner, recursive=True)
        if not found and glob.has_magic(inner):
            raise NotFoundError(f"no file matches {t}")
        out.extend((fs, f, size) for f, size in found)
    if not out:
        raise NotFoundError(f"no TFRecord files in {', '.join(texts)}")
    return out


def _supported(fn: Any, **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments ``fn`` takes (Ray's classes gain parameters across versions)."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def _datasource_base() -> type:
    from ray.data.datasource import Datasource

    return Datasource


class _Blocks:
    """Reads files of TFRecords into pyarrow tables of at most ``rows`` rows (picklable: Ray
    ships it to the read tasks)."""

    def __init__(
        self,
        features: Mapping[str, Any] | None,
        compression: str | None,
        check_crc: bool,
        rows: int,
        include_paths: bool,
    ) -> None:
        self.features = dict(features) if features is not None else None
        self.compression = compression
        self.check_crc = check_crc
        self.rows = rows
        self.include_paths = include_paths

    def table(self, records: list[bytes], path: str, first: int) -> Any:
        import pyarrow as pa

        if self.features is None:
            columns = {"example": pa.array(records, pa.binary())}
        else:
            from .tf_example import decode_batch

            try:
                decoded = decode_batch(records, self.features, first_index=first)
            except InvalidArgumentError as e:
                raise InvalidArgumentError(f"{path}: {e}") from None
            columns = {name: numpy_to_arrow(value) for name, value in decoded.items()}
        if self.include_paths:
            columns["path"] = pa.array([path] * len(records), pa.string())
        return pa.table(columns)

    def read(self, files: list[tuple[Any, str]]) -> Iterator[Any]:
        """Blocks of the files, each (its pyarrow filesystem or None for a local path, path)."""
        from ._readers.tfrecord import iter_records

        for filesystem, path in files:
            batch: list[bytes] = []
            first = 0
            for record in iter_records(
                path, compression=self.compression, check_crc=self.check_crc, filesystem=filesystem
            ):
                batch.append(record)
                if len(batch) >= self.rows:
                    yield self.table(batch, path, first)
                    first += len(batch)
                    batch = []
            if batch or first == 0:
                yield self.table(batch, path, first)


def TFRecordDatasource(  # noqa: N802 - a class made at the first use, so that Ray is imported then
    paths: PathLike | Sequence[PathLike],
    *,
    features: Mapping[str, Any] | None = None,
    compression: str | None = "auto",
    check_crc: bool = True,
    rows_per_block: int = 65536,
    include_paths: bool = False,
    filesystem: Any = None,
) -> Any:
    """A ``ray.data.Datasource`` of TFRecord files of ``tf.train.Example`` (see :func:`read_tfrecords`)."""
    cls = _datasource_class()
    return cls(
        paths,
        filesystem=filesystem,
        features=features,
        compression=compression,
        check_crc=check_crc,
        rows_per_block=rows_per_block,
        include_paths=include_paths,
    )


_DATASOURCE: type | None = None


def _datasource_class() -> type:
    global _DATASOURCE
    if _DATASOURCE is not None:
        return _DATASOURCE
    base = _datasource_base()

    class _TFRecordDatasource(base):  # type: ignore[misc, valid-type]
        """TFRecord files read with tfbundle's reader and parsed with its C++ tf.Example parser."""

        def __init__(
            self,
            paths: PathLike | Sequence[PathLike],
            *,
            filesystem: Any,
            features: Mapping[str, Any] | None,
            compression: str | None,
            check_crc: bool,
            rows_per_block: int,
            include_paths: bool,
        ) -> None:
            if features is not None:
                from .tf_example import decode_batch

                decode_batch([], features)  # checks the specs here, not in the read tasks
            if rows_per_block < 1:
                raise InvalidArgumentError(f"rows_per_block must be at least 1, got {rows_per_block}")
            found = _resolve(paths, filesystem)
            self._files = [(fs, f) for fs, f, _ in found]
            self._sizes = [size for _, _, size in found]
            self._blocks = _Blocks(features, compression, check_crc, rows_per_block, include_paths)

        def get_name(self) -> str:
            return "TFRecordExamples"

        def estimate_inmemory_data_size(self) -> int | None:
            return sum(self._sizes)

        def get_read_tasks(self, parallelism: int, *args: Any, **kwargs: Any) -> list[Any]:
            from ray.data.block import BlockMetadata
            from ray.data.datasource import ReadTask

            n = max(1, min(parallelism if parallelism > 0 else len(self._files), len(self._files)))
            groups: list[list[int]] = [[] for _ in range(n)]
            loads = [0] * n
            for i in sorted(range(len(self._files)), key=lambda i: -self._sizes[i]):  # largest first
                j = loads.index(min(loads))
                groups[j].append(i)
                loads[j] += self._sizes[i]
            tasks = []
            limit = kwargs.get("per_task_row_limit", args[0] if args else None)
            for group in groups:
                if not group:
                    continue
                files = [self._files[i] for i in sorted(group)]
                meta = BlockMetadata(
                    **_supported(
                        BlockMetadata,
                        num_rows=None,
                        size_bytes=sum(self._sizes[i] for i in group),
                        schema=None,
                        input_files=[f for _, f in files],
                        exec_stats=None,
                    )
                )
                blocks = self._blocks

                def read(files: list[tuple[Any, str]] = files, blocks: _Blocks = blocks) -> Iterator[Any]:
                    return blocks.read(files)

                tasks.append(ReadTask(read, meta, **_supported(ReadTask.__init__, per_task_row_limit=limit)))
            return tasks

    _DATASOURCE = _TFRecordDatasource
    return _DATASOURCE


def read_tfrecords(
    paths: PathLike | Sequence[PathLike],
    *,
    features: Mapping[str, Any] | None = None,
    compression: str | None = "auto",
    check_crc: bool = True,
    rows_per_block: int = 65536,
    include_paths: bool = False,
    filesystem: Any = None,
    **read_args: Any,
) -> Any:
    """A Ray dataset of the ``tf.train.Example`` records of TFRecord files, read without TensorFlow.

    Args:
        paths: TFRecord files, folders of them (their files, recursively, sorted; names starting
            with ``.`` or ``_`` are left out) or glob patterns: local paths (every node reads
            them), URIs of the filesystems pyarrow knows (``s3://bucket/data/``, ``gs://...``,
            ``hdfs://...``), or paths in ``filesystem``.
        features: None for one binary column ``"example"`` of the serialized records; or feature
            name -> spec, as :func:`tfbundle.tf_example.decode_batch` takes (``(np.float32, [4])``,
            ``tf.io.FixedLenFeature``, ...), for one column per feature: 1-D columns for scalar
            features, (nested) fixed-size lists for the others, binary for bytes.
        compression: ``"auto"`` (GZIP when a file is a gzip stream), ``"GZIP"``, or None.
        check_crc: check every record's checksums.
        rows_per_block: the largest block a read task makes. A file is read by one task (a
            TFRecord file cannot be split without reading it); files are shared among at most
            as many tasks as Ray asks for, the largest first.
        include_paths: add a ``"path"`` column with each record's file (for a URI, the path
            in its filesystem, as Ray's own readers give it).
        filesystem: a ``pyarrow.fs.FileSystem`` (an ``S3FileSystem`` with its credentials and
            region, a ``SubTreeFileSystem``...) that ``paths`` are in.
        **read_args: passed to ``ray.data.read_datasource`` (``concurrency``, ``num_cpus``,
            ``override_num_blocks``, ...).

    Raises:
        NotFoundError: a path does not exist, or names no file.
        InvalidArgumentError: a feature spec is not valid (before anything is read). Reading
            raises a record that does not parse, or lacks a feature without default, naming the
            file and the record; a bad checksum or truncated file is DataLossError.
    """
    import ray.data

    source = TFRecordDatasource(
        paths,
        filesystem=filesystem,
        features=features,
        compression=compression,
        check_crc=check_crc,
        rows_per_block=rows_per_block,
        include_paths=include_paths,
    )
    return ray.data.read_datasource(source, **read_args)
