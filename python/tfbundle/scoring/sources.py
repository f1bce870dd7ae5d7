"""Input files for batch scoring, read in batches of rows without TensorFlow.

One input file is one *shard*. Each format is streamed, so a file larger than memory is fine:

- Parquet (``.parquet``, ``.pq``): ``pyarrow.parquet.ParquetFile.iter_batches``, reading only the
  columns needed;
- Arrow IPC (``.arrow``, ``.feather``, ``.ipc``; file or stream format): record batch by batch;
- CSV (``.csv``, ``.tsv``, optionally ``.gz``): ``pyarrow.csv.open_csv``, block by block;
- JSON lines (``.jsonl``, ``.ndjson``, optionally ``.gz``): line by line;
- ``.npy``: memory-mapped, one column (fed to the signature's only input unless renamed); ``.npz``:
  one column per array, memory-mapped (``np.savez``) or decompressed as read
  (``np.savez_compressed``), see :mod:`.npz`;
- TFRecord files of ``tf.Example`` (``.tfrecord``, ``.tfrecords``, ``.tfr``, optionally ``.gz``;
  plain or GZIP, every record's CRC checked): the serialized records, as one column named
  :data:`RECORDS`.

Every batch is a :class:`Batch`: the index of its first row in the file and column name -> numpy
array (fixed-size list columns become arrays with more dimensions; strings and bytes are object
arrays; a variable-size list column is an object array of arrays unless its lists all have one
length).
"""

from __future__ import annotations

import glob
import gzip
import io
import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._base.arrow import fixed_size_list_values, numbers_to_numpy
from .._base.fs import file_name, from_uri, is_uri, list_files, uri_of
from ..errors import InvalidArgumentError, NotFoundError
from .npz import iter_npz, npz_names, npz_rows, read_header, streamed

__all__ = ["RECORDS", "Batch", "RowError", "Shard", "expand_inputs", "format_of"]

#: The column of a TFRecord shard's serialized records (and of a .npy shard: ``NPY``).
RECORDS = "__records__"
NPY = "__array__"
_READ_ROWS = 1 << 15  # rows per pyarrow read, at most
_READ_BYTES = 16 << 20  # and about this many bytes (wide rows: fewer)

_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".npy": "npy",
    ".npz": "npz",
    ".tfrecord": "tfrecord",
    ".tfrecords": "tfrecord",
    ".tfr": "tfrecord",
}


class RowError(Exception):
    """Rows of a batch that cannot be read or converted: ``rows`` (indices in the batch) -> reason."""

    def __init__(self, rows: dict[int, str]) -> None:
        super().__init__("; ".join(f"row {r}: {m}" for r, m in list(rows.items())[:3]))
        self.rows = rows


@dataclass
class Batch:
    """Rows ``start .. start + n - 1`` of a shard: column name -> array of n rows."""

    start: int
    n: int
    columns: dict[str, Any]
    rows: list[int] | None = None  # the file row numbers when not start .. start + n - 1

    def row(self, i: int) -> int:
        """The file row number of the batch's row i."""
        return self.rows[i] if self.rows is not None else self.start + i

    def take(self, rows: Sequence[int]) -> Batch:
        """The batch of the given rows (indices in this batch), for retrying rows one by one."""
        idx = np.asarray(rows, dtype=np.int64)
        numbers = [self.row(int(i)) for i in idx]
        return Batch(
            numbers[0] if numbers else self.start,
            len(idx),
            {k: _take(v, idx) for k, v in self.columns.items()},
            numbers,
        )


def _take(v: Any, idx: np.ndarray) -> Any:
    if isinstance(v, np.ndarray):
        return v[idx]
    return [v[i] for i in idx]


def format_of(path: str) -> str | None:
    """The format a file name says (``"parquet"``, ``"tfrecord"``, ...), or None."""
    name = file_name(path).lower()
    if name.endswith((".gz", ".gzip")):
        name = name.rsplit(".", 1)[0]
    return _FORMATS.get(os.path.splitext(name)[1])


def expand_inputs(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """The input files: paths, globs (``data/*.parquet``, ``**`` too) or folders (their files of a
    known format), sorted within each pattern, each once. URIs of the filesystems pyarrow knows
    (``s3://bucket/data/``, ``gs://...``, ``hdfs://...``, ``file:///...``) too: the files come
    back as URIs, read through pyarrow's filesystem.

    Raises:
        NotFoundError: a path or pattern that matches no file.
        InvalidArgumentError: a file of no known format.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    out: list[str] = []
    for item in items:
        text = os.fspath(item)
        if is_uri(text):
            found = _expand_uri(text)
        elif os.path.isdir(text):
            found = sorted(
                os.path.join(text, n)
                for n in os.listdir(text)
                if format_of(n) and os.path.isfile(os.path.join(text, n))
            )
            if not found:
                raise NotFoundError(f"the folder {text} holds no input file of a known format")
        elif glob.has_magic(text):
            found = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not found:
                raise NotFoundError(f"no input file matches {text!r}")
        elif os.path.isfile(text):
            found = [text]
        else:
            raise NotFoundError(f"the input {text} does not exist")
        for p in found:
            if format_of(p) is None:
                raise InvalidArgumentError(
                    f"{p}: unknown input format (known: {', '.join(sorted(_FORMATS))}, optionally .gz)"
                )
            if p not in out:
                out.append(p)
    return out


def _expand_uri(uri: str) -> list[str]:
    """The files of a URI (a file, a folder's files of a known format, or a glob), as URIs."""
    fs, inner = from_uri(uri)
    found = list_files(fs, inner, recursive=False, keep=lambda name: format_of(name) is not None)
    if not found:
        if glob.has_magic(inner):
            raise NotFoundError(f"no input file matches {uri!r}")
        raise NotFoundError(f"the folder {uri} holds no input file of a known format")
    return [uri_of(uri, path) for path, _ in found]  # the query (region...) kept for the workers


# ------------------------------------------------------------------ arrow -> numpy ---


def arrow_to_numpy(arr: Any) -> Any:
    """A pyarrow array as numpy: fixed-size lists as extra dimensions, strings as objects.

    Raises:
        RowError: null values (the rows holding them).
    """
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if arr.null_count:
        nulls = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
        raise RowError({int(r): "null value" for r in nulls})
    t = arr.type
    if pa.types.is_fixed_size_list(t):
        inner = arrow_to_numpy(fixed_size_list_values(arr))
        return inner.reshape((len(arr), t.list_size, *inner.shape[1:]))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets = arr.offsets.to_numpy()
        inner = arrow_to_numpy(arr.flatten())
        lengths = np.diff(offsets)
        if len(arr) and (lengths == lengths[0]).all():
            return inner.reshape((len(arr), int(lengths[0]), *inner.shape[1:]))
        starts = offsets[:-1] - offsets[0]
        out = np.empty(len(arr), dtype=object)
        for i, (s, n) in enumerate(zip(starts, lengths)):
            out[i] = inner[s : s + n]
        return out
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
    return numbers_to_numpy(arr)


def _columns_of(batch: Any, names: Sequence[str] | None) -> dict[str, Any]:
    """Column name -> numpy for a pyarrow RecordBatch; null values raise RowError for their rows."""
    cols: dict[str, Any] = {}
    bad: dict[int, str] = {}
    for name in batch.schema.names if names is None else names:
        try:
            cols[name] = arrow_to_numpy(batch.column(name))
        except RowError as e:
            for r, m in e.rows.items():
                bad.setdefault(r, f"column {name!r}: {m}")
    if bad:
        raise _BadRowsError(bad, cols)
    return cols


class _BadRowsError(RowError):
    """RowError carrying the columns that did convert (the rows still need dropping)."""

    def __init__(self, rows: dict[int, str], columns: dict[str, Any]) -> None:
        super().__init__(rows)
        self.columns = columns


# ------------------------------------------------------------------------- shards ---


class Shard:
    """One input file, read in batches of rows.

    Args:
        path: the file.
        columns: the columns to read (None: all), for the formats that can skip the others.
    """

    def __init__(self, path: str, columns: Sequence[str] | None = None) -> None:
        self.path = path
        self.format = format_of(path) or ""
        self.columns = None if columns is None else list(dict.fromkeys(columns))
        # A URI's file is read through its pyarrow filesystem; a local path directly.
        self.fs: Any = None
        self.inner = path
        if is_uri(path):
            self.fs, self.inner = from_uri(path)

    def _file(self) -> Any:
        """The local path, or the remote file opened for random access."""
        return self.inner if self.fs is None else self.fs.open_input_file(self.inner)

    def _remote(self) -> Any:
        """The remote file opened for random access, or None for a local path."""
        return None if self.fs is None else self.fs.open_input_file(self.inner)

    def _stream(self) -> Any:
        """The local path, or the remote file as a stream (a ``.gz`` one decompressed)."""
        return self.inner if self.fs is None else self.fs.open_input_stream(self.inner)

    def column_names(self) -> list[str]:
        """The file's column names (read from its schema or first row, not the whole file)."""
        f = self.format
        if f == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self._file()).schema_arrow.names)
        if f == "arrow":
            return list(_open_ipc(self._file()).schema.names)
        if f == "csv":
            import pyarrow.csv as pcsv

            return list(pcsv.open_csv(self._stream(), parse_options=_csv_parse(self.path)).schema.names)
        if f == "jsonl":  # the keys of the first line that holds an object
            for rows in _json_lines(self, 64):
                for _, value in rows:
                    if isinstance(value, dict):
                        return list(value)
            return []
        if f == "npy":
            return [NPY]
        if f == "npz":
            return npz_names(self.path, self._remote())
        return [RECORDS]

    def num_rows(self) -> int | None:
        """The number of rows when the file says it cheaply (Parquet, Arrow files, npy, npz)."""
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(self._file()).metadata.num_rows)
            if self.format == "npy":
                if self.fs is None:
                    return int(np.load(self.path, mmap_mode="r").shape[0])
                with self._file() as f:
                    h = read_header(f)
                return int(h.shape[0]) if h is not None and h.shape else None
            if self.format == "npz":
                return npz_rows(self.path, self._remote())
            if self.format == "arrow":
                reader = _open_ipc(self._file())
                if hasattr(reader, "num_record_batches"):
                    return sum(
                        reader.get_batch(i).num_rows for i in range(reader.num_record_batches)
                    )
        except Exception:  # noqa: BLE001 - a count is a nicety for the progress bar
            return None
        return None

    def batches(self, batch_size: int) -> Generator[Batch | RowError, None, None]:
        """Yields Batches of ``batch_size`` rows (the last may be shorter), in file order.

        Rows that cannot be read (a null value, a bad JSON line) come as a RowError whose ``rows``
        are file row numbers, right after the batch their neighbours are in (which lacks them).
        A broken file (bad CRC, bad Parquet) raises.
        """
        reader = getattr(self, "_" + self.format)
        yield from reader(batch_size)

    # --- formats
    def _parquet(self, batch_size: int) -> Iterator[Batch | RowError]:
        import pyarrow.parquet as pq

        f = pq.ParquetFile(self._file())
        # Large reads (pyarrow's cost is per batch), cut into batch_size rows after the conversion.
        md = f.metadata
        row_bytes = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups)) / max(
            1, md.num_rows
        )
        read = max(batch_size, min(_READ_ROWS, int(_READ_BYTES // max(1.0, row_bytes))))
        yield from _from_arrow(
            f.iter_batches(batch_size=read, columns=self.columns), batch_size, None
        )

    def _arrow(self, batch_size: int) -> Iterator[Batch | RowError]:
        reader = _open_ipc(self._file())
        if hasattr(reader, "num_record_batches"):
            it: Any = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            it = reader
        yield from _from_arrow(it, batch_size, self.columns)

    def _csv(self, batch_size: int) -> Iterator[Batch | RowError]:
        yield from _from_arrow(_csv_blocks(self, self.columns), batch_size, None)

    def _jsonl(self, batch_size: int) -> Iterator[Batch | RowError]:
        for rows in _json_lines(self, batch_size):
            bad = {r: m for r, m in rows if isinstance(m, str)}
            good = [(r, m) for r, m in rows if not isinstance(m, str)]
            if good:
                names = self.columns or list(dict.fromkeys(k for _, row in good for k in row))
                cols: dict[str, Any] = {}
                missing: dict[int, str] = {}
                for name in names:
                    values = []
                    for r, row in good:
                        if name not in row or row[name] is None:
                            missing.setdefault(r, f"no value for {name!r}")
                        values.append(row.get(name))
                    cols[name] = values
                if missing:
                    keep = [i for i, (r, _) in enumerate(good) if r not in missing]
                    cols = {k: [v[i] for i in keep] for k, v in cols.items()}
                    bad.update(missing)
                    good = [good[i] for i in keep]
                if good:
                    numbers = [r for r, _ in good]
                    yield Batch(
                        numbers[0],
                        len(good),
                        {k: _json_column(v) for k, v in cols.items()},
                        numbers,
                    )
            if bad:
                yield RowError(dict(sorted(bad.items())))

    def _npy(self, batch_size: int) -> Iterator[Batch | RowError]:
        if self.fs is not None:  # a remote file: its rows read as they come
            yield from self._npy_streamed(batch_size)
            return
        arr = np.load(self.path, mmap_mode="r")
        for s in range(0, arr.shape[0], batch_size):
            yield Batch(
                s,
                min(batch_size, arr.shape[0] - s),
                {NPY: np.ascontiguousarray(arr[s : s + batch_size])},
            )

    def _npy_streamed(self, batch_size: int) -> Iterator[Batch | RowError]:
        with self._file() as f:
            h = read_header(f)
            if h is not None and h.by_rows:
                rows: Iterator[np.ndarray] = streamed(f, h, batch_size)
            else:  # object, Fortran-ordered or 3.0 arrays: read whole, as np.load does
                f.seek(0)
                whole = np.lib.format.read_array(f, allow_pickle=False)
                rows = (whole[s : s + batch_size] for s in range(0, len(whole), batch_size))
            first = 0
            try:
                for arr in rows:
                    yield Batch(first, arr.shape[0], {NPY: arr})
                    first += arr.shape[0]
            except InvalidArgumentError as e:
                raise InvalidArgumentError(f"{self.path}: {e}") from None

    def _npz(self, batch_size: int) -> Iterator[Batch | RowError]:
        for first, columns in iter_npz(self.path, self.columns, batch_size, self._remote()):
            n = next(iter(columns.values())).shape[0] if columns else 0
            yield Batch(first, n, columns)

    def _tfrecord(self, batch_size: int) -> Iterator[Batch | RowError]:
        from .._readers.tfrecord import iter_record_batches

        start = 0
        for chunk in iter_record_batches(self.inner, batch_size, filesystem=self.fs):
            yield Batch(start, len(chunk), {RECORDS: _object_array(chunk)})
            start += len(chunk)


def _object_array(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _open_ipc(source: Any) -> Any:
    """An Arrow IPC file or stream reader of a local path (memory-mapped) or an open file."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    f = pa.memory_map(source) if isinstance(source, str) else source
    try:
        return ipc.open_file(f)
    except pa.ArrowInvalid:
        f.seek(0)
        return ipc.open_stream(f)


def _csv_parse(path: str) -> Any:
    import pyarrow.csv as pcsv

    tsv = file_name(path).lower().replace(".gz", "").endswith(".tsv")
    return pcsv.ParseOptions(delimiter="\t" if tsv else ",")


def _csv_blocks(shard: Shard, columns: Sequence[str] | None) -> Iterator[Any]:
    """The record batches of a CSV file, typed as pyarrow infers from its first block.

    pyarrow's streaming reader fixes each column's type from the first block and stops at a later
    value that does not convert ("invalid value 'abc'"), which would end the job without a row to
    blame. From the block where that happens the file is read again as text, from that row on,
    and each column cast to its type: a value that does not convert is a bad row (a batch comes
    as ``(record batch, {row: reason})``, the value null), and the rows around it go on.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    parse = _csv_parse(shard.path)
    convert = pcsv.ConvertOptions(include_columns=list(columns)) if columns else None
    reader = pcsv.open_csv(shard._stream(), parse_options=parse, convert_options=convert)
    schema = reader.schema
    done = 0
    try:
        for rb in reader:
            done += rb.num_rows
            yield rb
        return
    except pa.ArrowInvalid:
        pass  # a value the first block's types do not fit (a malformed line raises again below)
    text = pcsv.ConvertOptions(
        include_columns=schema.names,
        column_types={f.name: pa.string() for f in schema},
        strings_can_be_null=True,
    )
    again = pcsv.open_csv(
        shard._stream(),
        read_options=pcsv.ReadOptions(skip_rows_after_names=done),
        parse_options=parse,
        convert_options=text,
    )
    for rb in again:
        arrays: list[Any] = []
        reasons: dict[int, str] = {}
        for f, col in zip(schema, rb.columns):
            arr, bad = _cast_or_null(col, f.type if not pa.types.is_null(f.type) else pa.string())
            arrays.append(arr)
            for r, value in bad.items():
                reasons.setdefault(r, f"column {f.name!r}: {value!r} is not a {arr.type}")
        typed = pa.RecordBatch.from_arrays(arrays, names=schema.names)
        yield (typed, reasons) if reasons else typed


def _cast_or_null(strings: Any, to: Any) -> tuple[Any, dict[int, str]]:
    """``strings`` cast to ``to``; the values that do not convert become null, returned by row."""
    import pyarrow as pa

    try:
        return strings.cast(to), {}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values, bad = [], {}
    for i, v in enumerate(strings.to_pylist()):
        try:
            values.append(None if v is None else pa.scalar(v, pa.string()).cast(to).as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values.append(None)
            bad[i] = v
    return pa.array(values, to), bad


def _from_arrow(
    batches: Any, batch_size: int, names: Sequence[str] | None
) -> Iterator[Batch | RowError]:
    """Cuts pyarrow record batches (of any size) into Batches of batch_size rows.

    Each record batch is converted to numpy once, then sliced; rows that do not convert (nulls)
    come as a RowError with their file row numbers, and the batches around them carry theirs.
    An item may also be ``(record batch, {row: reason})``: rows found bad before (their values
    null), with the reasons to give instead of "null value".
    """
    import pyarrow as pa

    start = 0
    carry: dict[str, Any] | None = None
    carry_rows = np.empty(0, np.int64)
    bad: dict[int, str] = {}  # rows that did not convert, not yet reported
    for item in batches:
        rb, reasons = item if isinstance(item, tuple) else (item, None)
        n = rb.num_rows
        if n == 0:
            continue
        numbers = np.arange(start, start + n, dtype=np.int64)
        try:
            cols = _columns_of(rb, names)
        except _BadRowsError as e:
            e.rows.update(reasons or {})
            keep = np.array([i for i in range(n) if i not in e.rows], dtype=np.int64)
            taken = rb.take(pa.array(keep))
            cols = {
                name: arrow_to_numpy(taken.column(name))
                for name in (rb.schema.names if names is None else names)
            }
            numbers = numbers[keep]
            bad.update({start + r: m for r, m in sorted(e.rows.items())})
        start += n
        if carry is not None and len(carry_rows):
            cols = {k: np.concatenate([carry[k], v]) for k, v in cols.items()}
            numbers = np.concatenate([carry_rows, numbers])
        total = len(numbers)
        i = 0
        while total - i >= batch_size:
            yield _slice(cols, numbers, i, i + batch_size)
            yield from _bad_up_to(bad, int(numbers[i + batch_size - 1]))
            i += batch_size
        carry = {k: v[i:] for k, v in cols.items()}
        carry_rows = numbers[i:]
    if carry is not None and len(carry_rows):
        yield _slice(carry, carry_rows, 0, len(carry_rows))
    yield from _bad_up_to(bad, None)


def _bad_up_to(bad: dict[int, str], last: int | None) -> Iterator[RowError]:
    """The bad rows up to row ``last`` (all with None), taken out of ``bad``: each comes right
    after the batch its row would have been in, so errors come in row order."""
    rows = [r for r in bad if last is None or r <= last]
    if rows:
        yield RowError({r: bad.pop(r) for r in rows})


def _slice(cols: dict[str, Any], numbers: np.ndarray, lo: int, hi: int) -> Batch:
    rows = numbers[lo:hi]
    first = int(rows[0])
    contiguous = int(rows[-1]) - first == hi - lo - 1
    return Batch(
        first,
        hi - lo,
        {k: v[lo:hi] for k, v in cols.items()},
        None if contiguous else rows.tolist(),
    )


def _json_lines(shard: Shard, batch_size: int) -> Iterator[list[tuple[int, Any]]]:
    """Batches of (row, parsed dict) or (row, error message); blank lines are not rows."""
    try:
        import orjson

        loads: Any = orjson.loads
    except ImportError:  # pragma: no cover
        import json

        loads = json.loads
    if shard.fs is not None:  # pyarrow's stream, a .gz one decompressed
        raw: Any = shard._stream()
        f: Any = io.BufferedReader(raw, 1 << 20)
    elif shard.path.lower().endswith((".gz", ".gzip")):
        raw = gzip.open(shard.path, "rb")  # noqa: SIM115 - closed below
        f = io.BufferedReader(raw, 1 << 20)
    else:
        raw = f = open(shard.path, "rb")  # noqa: SIM115 - closed below
    with raw:
        rows: list[tuple[int, Any]] = []
        r = 0
        for line in f:
            if not line.strip():
                continue
            try:
                value = loads(line)
                if not isinstance(value, dict):
                    value = f"a JSON line must hold an object, got {type(value).__name__}"
            except ValueError as e:
                value = f"bad JSON: {e}"
            rows.append((r, value))
            r += 1
            if len(rows) == batch_size:
                yield rows
                rows = []
        if rows:
            yield rows


def _json_column(values: list[Any]) -> Any:
    try:
        arr = np.asarray(values)
        if arr.dtype.kind in "fiub" or (arr.dtype.kind == "U" and arr.ndim == 1):
            return arr.astype(object) if arr.dtype.kind == "U" else arr
    except ValueError:
        pass
    return _object_array(values)
