"""From a batch of input rows to a signature's feeds, and the checks made before any row runs.

How columns reach a signature's inputs (:class:`Feeder`):

- by name: the column named like the input (after ``rename={column: input}``);
- a signature that takes serialized ``tf.Example`` strings (a classify or regress signature, or a
  predict signature whose only input is a 1-D string tensor) is fed a TFRecord file's records as
  they are; a table with no column of that input's name has its rows encoded to ``tf.Example`` on
  the way (every column read becomes a feature);
- a signature of named feature inputs fed from TFRecord files has each record parsed: each input
  reads the feature of its name, ``shape[1:]`` values per record (as ``tf.io.FixedLenFeature``);
- a ``.npy`` file feeds the signature's only input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import tf_example
from ..errors import InvalidArgumentError, NotFoundError
from .sources import NPY, RECORDS, Batch

__all__ = ["Feeder", "example_input"]

CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def example_input(sig: Any) -> str | None:
    """The input that takes serialized tf.Examples, when the signature has one such input only."""
    inputs = sig.inputs
    if len(inputs) != 1:
        return None
    name, spec = next(iter(inputs.items()))
    if sig.method_name in (CLASSIFY, REGRESS):
        return name
    if spec.tf_dtype == "DT_STRING" and spec.shape is not None and len(spec.shape) == 1:
        return name
    return None


class Feeder:
    """Turns Batches of one shard into feeds for ``sig``.

    Args:
        sig: the signature.
        columns: the shard's column names.
        rename: column -> input name.
        keep: columns carried to the output as they are.
        what: the shard's path, for messages.

    Raises:
        InvalidArgumentError: a rename of a column the file lacks or to an input the signature
            lacks, an input no column feeds, or a keep column the file lacks.
    """

    def __init__(
        self,
        sig: Any,
        columns: Sequence[str],
        rename: Mapping[str, str] | None,
        keep: Sequence[str],
        what: str,
    ) -> None:
        self.sig = sig
        self.specs = dict(sig.inputs)
        rename = dict(rename or {})
        have = list(columns)
        records = have == [RECORDS]
        inputs = ", ".join(repr(k) for k in self.specs) or "none"
        for col, target in rename.items():
            if col not in have and not records:
                raise InvalidArgumentError(
                    f"--rename {col}={target}: {what} has no column {col!r} (it has {_list(have)})"
                )
            if target not in self.specs:
                raise InvalidArgumentError(
                    f"--rename {col}={target}: signature {sig.name!r} has no input {target!r} (its inputs: {inputs})"
                )
        to_input = {c: rename.get(c, c) for c in have}
        for col, target in rename.items():
            if target in have and target not in rename:
                raise InvalidArgumentError(
                    f"--rename {col}={target}: {what} has a column {target!r} too; both would feed input "
                    f"{target!r} (rename that one as well, e.g. --rename {target}=...)"
                )
        ex = example_input(sig)
        self.mode = "columns"
        self.example_input = ex
        self.sources: dict[str, str] = {}  # input -> column
        if records:
            if ex is not None:
                self.mode = "records"
                self.sources = {ex: RECORDS}
            else:
                self.mode = "decode"
                renamed: dict[str, str] = {str(v): str(k) for k, v in rename.items()}
                for name in self.specs:
                    self.sources[name] = renamed.get(name, str(name))
        elif have == [NPY] and NPY not in rename:
            if len(self.specs) != 1:
                raise InvalidArgumentError(
                    f"{what}: a .npy file feeds a signature of one input; {sig.name!r} has {inputs} "
                    "(use an .npz file with one array per input)"
                )
            self.sources = {next(iter(self.specs)): NPY}
        else:
            by_input = {v: k for k, v in to_input.items()}
            if ex is not None and ex not in by_input:
                self.mode = "encode"
                self.sources = {ex: ""}
            else:
                for name in self.specs:
                    if name not in by_input:
                        raise InvalidArgumentError(
                            f"signature {sig.name!r} input {name!r} matches no column of {what} "
                            f"(it has {_list(have)}): name a column with --rename COLUMN={name}"
                        )
                    self.sources[name] = by_input[name]
        self.keep = list(keep)
        if not records:
            for k in self.keep:
                if k not in have:
                    raise InvalidArgumentError(
                        f"--keep {k}: {what} has no column {k!r} (it has {_list(have)})"
                    )
        self.encode_columns = list(have) if self.mode == "encode" else []

    def columns_needed(self) -> list[str] | None:
        """The columns to read from the file (None: all of them)."""
        if self.mode == "encode":
            return None
        if self.mode in ("records", "decode"):
            return [RECORDS]
        return list(dict.fromkeys([*self.sources.values(), *self.keep]))

    def feed(self, batch: Batch) -> dict[str, Any]:
        """The feed dict of a batch. Raises (ValueError, Error...) when a row cannot be converted."""
        if self.mode == "records":
            return {self.example_input: batch.columns[RECORDS]}  # type: ignore[dict-item]
        if self.mode == "encode":
            return {self.example_input: _encode_rows(batch, self.encode_columns)}  # type: ignore[dict-item]
        if self.mode == "decode":
            return decode_features(batch.columns[RECORDS], self.specs, self.sources)
        return {
            name: to_tensor(batch.columns[col], self.specs[name], name)
            for name, col in self.sources.items()
        }

    def kept(self, batch: Batch) -> dict[str, Any]:
        """The keep columns of a batch (decoded from the records for a TFRecord shard)."""
        if not self.keep:
            return {}
        if RECORDS in batch.columns:
            return _kept_features(batch.columns[RECORDS], self.keep)
        return {k: batch.columns[k] for k in self.keep}


def _list(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:12])
    return (shown + ", ...") if len(names) > 12 else (shown or "no columns")


def to_tensor(values: Any, spec: Any, name: str) -> np.ndarray:
    """A column as the input's tensor: its dtype, and its shape's known dimensions checked (rows of
    as many values as the input's row shape holds are reshaped to it)."""
    dtype = spec.dtype
    if dtype is None:
        raise InvalidArgumentError(
            f"input {name!r} is a {spec.tf_dtype} tensor: it cannot be fed from a file"
        )
    if isinstance(values, np.ndarray) and values.dtype == object and dtype != np.dtype(object):
        values = np.stack([np.asarray(v, dtype=dtype) for v in values]) if len(values) else values
    if dtype == np.dtype(object):
        arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
        if arr.dtype != object:
            arr = arr.astype(object)
    else:
        arr = np.asarray(values)
        if arr.dtype.kind in "US":
            arr = arr.astype(dtype)  # "1.5" in a string column: numpy parses it, or raises
        arr = arr.astype(dtype, copy=False)
    shape = spec.shape
    if shape is not None:
        if arr.ndim == len(shape) - 1 and shape[-1] == 1:
            arr = arr.reshape((*arr.shape, 1))
        elif arr.ndim == len(shape) + 1 and arr.shape[-1] == 1:
            arr = arr.reshape(arr.shape[:-1])
        row = shape[1:]
        if (
            arr.ndim >= 1
            and arr.shape[1:] != tuple(row)
            and None not in row
            and int(np.prod(arr.shape[1:])) == int(np.prod(row))
        ):
            arr = arr.reshape((arr.shape[0], *row))  # a flat list column of an image, say
        if arr.ndim != len(shape) or any(
            d is not None and d != a for d, a in zip(shape[1:], arr.shape[1:])
        ):
            want = "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
            raise InvalidArgumentError(
                f"input {name!r} takes shape {want}, the column gives rows of shape {tuple(arr.shape[1:])}"
            )
    return np.ascontiguousarray(arr)


def _encode_rows(batch: Batch, columns: Sequence[str]) -> np.ndarray:
    out = np.empty(batch.n, dtype=object)
    cols = [(c, batch.columns[c]) for c in columns if c in batch.columns]
    for i in range(batch.n):
        out[i] = tf_example.encode_example({c: v[i] for c, v in cols})
    return out


def decode_features(
    records: Any, specs: Mapping[str, Any], sources: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Parses serialized tf.Examples into one dense array per input (``FixedLenFeature`` semantics).

    Uses ``tfbundle.tf_example.decode_batch`` (C++) when this build has it.
    """
    fast = getattr(tf_example, "decode_batch", None)
    feature_of = {name: sources.get(name, name) for name in specs}
    known = all(s.shape is not None and None not in s.shape[1:] for s in specs.values())
    if fast is not None and known:
        features = {
            feature_of[n]: (_parse_dtype(s.dtype), tuple(s.shape[1:])) for n, s in specs.items()
        }
        got = fast(records, features)  # raises naming the record and the feature
        return {
            n: np.ascontiguousarray(got[feature_of[n]].astype(specs[n].dtype, copy=False))
            for n in specs
        }
    n = len(records)
    values: dict[str, list[Any]] = {name: [] for name in specs}
    for i, record in enumerate(records):
        parsed = tf_example.decode(record)
        for name in specs:
            feature = feature_of[name]
            if feature not in parsed:
                raise NotFoundError(
                    f"record {i}: no feature {feature!r} (it has {_list(list(parsed))})"
                )
            values[name].append(parsed[feature])
    out: dict[str, np.ndarray] = {}
    for name, spec in specs.items():
        dims = tuple(-1 if d is None else d for d in (spec.shape or (None,))[1:])
        dtype = spec.dtype
        try:
            if dtype == np.dtype(object):
                flat = np.empty(sum(len(v) for v in values[name]), dtype=object)
                flat[:] = [x for v in values[name] for x in v]
            else:
                flat = np.asarray([x for v in values[name] for x in v], dtype=dtype)
            out[name] = np.ascontiguousarray(flat.reshape((n, *dims)))
        except ValueError as e:
            counts = sorted({len(v) for v in values[name]})
            raise InvalidArgumentError(
                f"feature {feature_of[name]!r} for input {name!r} (shape {spec.shape}): records hold "
                f"{counts} values ({e})"
            ) from None
    return out


def _parse_dtype(dtype: Any) -> Any:
    """What a tf.Example feature holds for an input of this dtype: float32, int64 or bytes."""
    if dtype == np.dtype(object):
        return bytes
    return np.float32 if np.dtype(dtype).kind == "f" else np.int64


def _kept_features(records: Any, keep: Sequence[str]) -> dict[str, Any]:
    cols: dict[str, list[Any]] = {k: [] for k in keep}
    for record in records:
        parsed = tf_example.decode(record)
        for k in keep:
            v = parsed.get(k)
            cols[k].append(None if v is None else (v[0] if len(v) == 1 else v))
    out: dict[str, Any] = {}
    for k, v in cols.items():
        arr = np.empty(len(v), dtype=object)
        arr[:] = v
        try:
            if all(x is not None and not isinstance(x, list) for x in v):
                arr = np.asarray(v)
                if arr.dtype.kind in "SU":
                    arr = arr.astype(object)
        except ValueError:
            pass
        out[k] = arr
    return out
