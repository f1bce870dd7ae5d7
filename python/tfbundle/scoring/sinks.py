"""Output files of batch scoring: Parquet (default), JSON lines, CSV and ``.npy``.

A sink writes one output file under a temporary name beside it and renames it into place in
:meth:`Sink.commit`, so a file under the final name is always complete: that is what ``resume``
relies on. Each written batch is the kept input columns followed by the outputs, one row per
input row.

Multi-dimensional outputs: Parquet stores them as fixed-size lists (nested for more than two
dimensions), JSON lines as nested lists, CSV as one column per value (``name_0``, ``name_1``...),
``.npy`` as they are (a ``.npy`` output holds one output tensor and no kept columns).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Any

import numpy as np

from .._base.arrow import numbers_to_arrow
from .._base.fs import file_name, local_temporary, publish, remove
from ..errors import InvalidArgumentError

__all__ = ["FORMATS", "ErrorLog", "Sink", "format_of_output", "open_sink"]

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".npy": "npy",
}
EXTENSIONS = {"parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv", "npy": ".npy"}


def format_of_output(path: str) -> str | None:
    """The output format a file name says, or None."""
    return FORMATS.get(os.path.splitext(file_name(path))[1].lower())


def _tmp(path: str) -> str:
    return local_temporary(path)


class Sink:
    """Writes batches of columns (name -> array of n rows) to ``path``, atomically."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp = _tmp(path)
        self.rows = 0

    def write(self, columns: dict[str, Any], n: int) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Finishes the file and renames it to its final name."""
        self._close()
        publish(self.tmp, self.path)

    def abort(self) -> None:
        """Drops the temporary file."""
        with contextlib.suppress(Exception):
            self._close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def _arrow_array(values: Any) -> Any:
    import pyarrow as pa

    if isinstance(values, np.ndarray) and values.dtype != object:
        if values.ndim == 1:
            return numbers_to_arrow(values)
        inner = _arrow_array(np.ascontiguousarray(values).reshape((-1, *values.shape[2:])))
        return pa.FixedSizeListArray.from_arrays(inner, int(values.shape[1]))
    items = list(values)
    if any(isinstance(x, np.ndarray) for x in items):
        items = [x.tolist() if isinstance(x, np.ndarray) else x for x in items]
    return pa.array(items)


class ParquetSink(Sink):
    """Buffers numpy columns and writes a row group of ROW_GROUP rows at a time."""

    ROW_GROUP = 1 << 16

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.writer: Any = None
        self.schema: Any = None
        self.pending: list[dict[str, Any]] = []
        self.pending_rows = 0

    def write(self, columns: dict[str, Any], n: int) -> None:
        self.pending.append(columns)
        self.pending_rows += n
        self.rows += n
        if self.pending_rows >= self.ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self.pending:
            return
        names = list(self.pending[0])
        joined = {k: _concat([c[k] for c in self.pending]) for k in names}
        rb = pa.record_batch({k: _arrow_array(v) for k, v in joined.items()})
        if self.writer is None:
            import pyarrow.parquet as pq

            self.schema = rb.schema
            self.writer = pq.ParquetWriter(
                self.tmp, rb.schema, use_dictionary=_dictionary_columns(rb.schema)
            )
        elif rb.schema != self.schema:
            rb = rb.cast(self.schema)
        self.writer.write_batch(rb, row_group_size=self.ROW_GROUP)
        self.pending, self.pending_rows = [], 0

    def _close(self) -> None:
        self._flush()
        if self.writer is None:  # no rows: an empty file with no columns
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self.tmp)
            return
        self.writer.close()
        self.writer = None


def _dictionary_columns(schema: Any) -> list[str]:
    """The columns worth dictionary encoding: all but floating-point ones (and lists of them).

    Model outputs are mostly floats that seldom repeat: Parquet's writer would hash every value
    into a dictionary, give up when the dictionary outgrows its page, and write them plain anyway.
    That hashing was 7% of a scoring process's CPU (perf, bench_score's small model); labels, ids
    and strings keep the encoding.
    """
    import pyarrow as pa

    names = []
    for f in schema:
        t = f.type
        while pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t):
            t = t.value_type
        if not pa.types.is_floating(t):
            names.append(f.name)
    return names


def concat_rows(parts: list[Any]) -> Any | None:
    """Consecutive batches' values of one column as one array, or None when they are not all
    arrays of one row shape (lists, outputs whose row shape changes)."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, np.ndarray) for p in parts) and len({p.shape[1:] for p in parts}) == 1:
        return np.concatenate(parts)
    return None


def _concat(parts: list[Any]) -> Any:
    joined = concat_rows(parts)
    if joined is not None:
        return joined
    out: list[Any] = []
    for p in parts:
        out.extend(p)
    return out


def _json_value(v: Any) -> Any:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return {"b64": base64.b64encode(v).decode("ascii")}
    if isinstance(v, np.ndarray):
        return [_json_value(x) for x in v.tolist()] if v.dtype == object else v.tolist()
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _json_rows(columns: dict[str, Any], n: int) -> list[dict[str, Any]]:
    lists = {}
    for k, v in columns.items():
        if isinstance(v, np.ndarray) and v.dtype != object:
            lists[k] = v.tolist()
        else:
            lists[k] = [_json_value(x) for x in v]
    keys = list(lists)
    return (
        [dict(zip(keys, row)) for row in zip(*(lists[k] for k in keys))]
        if keys
        else [{} for _ in range(n)]
    )


def _dumps() -> Any:
    try:
        import orjson

        return lambda rows: b"".join(
            orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in rows
        )
    except ImportError:  # pragma: no cover
        import json

        return lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode()


class JsonlSink(Sink):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.f: Any = open(self.tmp, "wb")  # noqa: SIM115
        self.dumps = _dumps()

    def write(self, columns: dict[str, Any], n: int) -> None:
        self.f.write(self.dumps(_json_rows(columns, n)))
        self.rows += n

    def _close(self) -> None:
        if not self.f.closed:
            self.f.close()


class CsvSink(Sink):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.writer: Any = None

    def write(self, columns: dict[str, Any], n: int) -> None:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        flat: dict[str, Any] = {}
        for k, v in columns.items():
            if isinstance(v, np.ndarray) and v.dtype != object and v.ndim > 1:
                v2: Any = v.reshape((n, -1))
                for j in range(v2.shape[1]):
                    flat[f"{k}_{j}"] = pa.array(v2[:, j])
            elif isinstance(v, np.ndarray) and v.dtype != object:
                flat[k] = pa.array(v)
            else:
                flat[k] = pa.array(
                    [
                        x if isinstance(x, (str, int, float)) or x is None else str(_json_value(x))
                        for x in (_json_value(y) for y in v)
                    ]
                )
        rb = pa.record_batch(flat)
        if self.writer is None:
            self.schema = rb.schema
            self.writer = pcsv.CSVWriter(self.tmp, rb.schema)
        elif rb.schema != self.schema:
            rb = rb.cast(self.schema)
        self.writer.write_batch(rb)
        self.rows += n

    def _close(self) -> None:
        if self.writer is None:
            open(self.tmp, "wb").close()
            return
        self.writer.close()
        self.writer = None


class NpySink(Sink):
    """The rows go to a raw temporary file; commit writes the header, then the rows."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.raw = self.tmp + ".raw"
        self.f: Any = open(self.raw, "wb")  # noqa: SIM115
        self.dtype: Any = None
        self.shape: tuple[int, ...] = ()

    def write(self, columns: dict[str, Any], n: int) -> None:
        if len(columns) != 1:
            raise InvalidArgumentError(
                f"{self.path}: a .npy output holds one tensor and no kept columns, got {', '.join(columns)}: "
                "choose one output (outputs=[...], --outputs) or write Parquet"
            )
        (arr,) = columns.values()
        arr = np.asarray(arr)
        if arr.dtype == object:
            raise InvalidArgumentError(
                f"{self.path}: a string output cannot go into a .npy file: write Parquet"
            )
        if self.dtype is None:
            self.dtype, self.shape = arr.dtype, arr.shape[1:]
        elif arr.shape[1:] != self.shape:
            raise InvalidArgumentError(
                f"{self.path}: output rows change shape ({self.shape} then {arr.shape[1:]})"
            )
        self.f.write(np.ascontiguousarray(arr, dtype=self.dtype).tobytes())
        self.rows += n

    def _close(self) -> None:
        if not self.f.closed:
            self.f.close()
        if not os.path.exists(self.raw):
            return
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(self.dtype or np.float32)),
            "fortran_order": False,
            "shape": (self.rows, *self.shape),
        }
        with open(self.tmp, "wb") as out, open(self.raw, "rb") as src:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(src, out, 1 << 20)
        os.unlink(self.raw)

    def abort(self) -> None:
        super().abort()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.raw)


def open_sink(path: str, fmt: str) -> Sink:
    """A sink of the format (``parquet``, ``jsonl``, ``csv``, ``npy``) writing ``path``."""
    kinds = {"parquet": ParquetSink, "jsonl": JsonlSink, "csv": CsvSink, "npy": NpySink}
    if fmt not in kinds:
        raise InvalidArgumentError(f"unknown output format {fmt!r}: use one of {', '.join(kinds)}")
    return kinds[fmt](path)


class ErrorLog:
    """The rows that failed, as JSON lines ``{"file", "row", "error", <kept columns>}``, written
    atomically beside the output (only when there is at least one)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp = ""  # made at the first error
        self.f: Any = None
        self.count = 0
        self.dumps = _dumps()

    def add(self, file: str, row: int, error: str, kept: dict[str, Any] | None = None) -> None:
        if self.f is None:
            self.tmp = _tmp(self.path)
            self.f = open(self.tmp, "wb")  # noqa: SIM115
        entry = {"file": file, "row": int(row), "error": error}
        for k, v in (kept or {}).items():
            entry.setdefault(k, _json_value(v))
        self.f.write(self.dumps([entry]))
        self.count += 1

    def commit(self) -> None:
        if self.f is not None:
            self.f.close()
            publish(self.tmp, self.path)
        else:
            remove(self.path)  # a stale one of an earlier run

    def abort(self) -> None:
        if self.f is not None:
            self.f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)
