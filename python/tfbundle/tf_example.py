"""tf.Example records without TensorFlow: ``tfbundle.tf_example.encode`` / ``decode``.

Classify and regress signatures (``tensorflow/serving/classify``, ``.../regress``) and many TF1
exports take serialized ``tf.train.Example`` protos::

    >>> from tfbundle import tf_example
    >>> data = tf_example.encode([{"age": [22, 24], "education": [b"BS", b"MS"]}])
    >>> model.signatures["classify"](inputs=data)

Many records at once become dense numpy columns with :func:`decode_batch` (what
``tf.io.parse_example`` does with ``FixedLenFeature`` specs, in C++)::

    >>> tf_example.decode_batch(data, {"age": (np.int64, [2]), "education": (bytes, [2])})

The messages are tfbundle's own declaration of TensorFlow's example.proto and feature.proto
(:mod:`tfbundle._proto`, built with the ``protobuf`` package at the first use, in a private
descriptor pool), so they never clash with TensorFlow's own ``tensorflow.Example`` when both
are imported in one process. The bytes are what TensorFlow's
``Example.SerializeToString(deterministic=True)`` writes.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from . import _proto
from .errors import InvalidArgumentError, InvalidTypeError

__all__ = ["FeatureValue", "decode", "decode_batch", "encode", "encode_example"]

#: What a feature may be given as: a list (or tuple) of ints, floats, bytes or str, a numpy
#: array (flattened), or one such scalar.
FeatureValue = Union[Sequence[Any], Any]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _values(name: str, value: FeatureValue) -> tuple[str, list[Any]]:
    """(kind, values) of one feature: kind is "bytes_list", "float_list" or "int64_list"."""
    import numpy as np

    if isinstance(value, np.ndarray):
        flat = value.ravel()
        kind = flat.dtype.kind
        if kind == "f":
            return "float_list", [float(v) for v in flat]
        if kind in "iub":
            return "int64_list", [int(v) for v in flat]
        if kind in "SUO":
            value = list(flat)
        else:
            raise InvalidArgumentError(
                f"feature {name!r}: a numpy array of dtype {flat.dtype} cannot go into a tf.Example "
                "(it holds int64, float or bytes lists)"
            )
    if isinstance(value, (str, bytes, bytearray, numbers.Number)) or (
        np is not None and isinstance(value, np.generic)
    ):
        value = [value]
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            f"feature {name!r}: expected a list of ints, floats, bytes or str, got {type(value).__name__}"
        )
    items = list(value)
    if not items:
        raise InvalidArgumentError(
            f"feature {name!r} has no values, so its type (int64, float or bytes) is unknown: "
            "give a numpy array with a dtype, e.g. np.array([], np.float32)"
        )
    if np is not None:
        items = [v.item() if isinstance(v, np.generic) else v for v in items]
    if all(isinstance(v, (bytes, bytearray, str)) for v in items):
        return "bytes_list", [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in items]
    if all(isinstance(v, numbers.Integral) for v in items):
        for v in items:
            if not _INT64_MIN <= int(v) <= _INT64_MAX:
                raise InvalidArgumentError(f"feature {name!r}: {v} does not fit in an int64")
        return "int64_list", [int(v) for v in items]
    if all(isinstance(v, numbers.Real) for v in items):
        return "float_list", [float(v) for v in items]
    kinds = sorted({type(v).__name__ for v in items})
    raise InvalidArgumentError(
        f"feature {name!r} mixes {', '.join(kinds)}: a tf.Example feature holds one kind "
        "(int64, float or bytes); nested lists are not allowed either"
    )


def encode_example(record: Mapping[str, FeatureValue]) -> bytes:
    """Serializes one record as a ``tf.train.Example``.

    Args:
        record: feature name -> values. The kind of each feature follows its values: ints
            (and bools) make an ``int64_list``, floats (or ints mixed with floats) a
            ``float_list``, bytes and str (UTF-8 encoded) a ``bytes_list``. numpy arrays are
            flattened and typed by their dtype. A scalar is a list of one.

    Returns:
        The serialized Example (deterministic: features sorted by name).

    Raises:
        InvalidArgumentError: a feature's values are empty, nested, of mixed or unsupported
            kinds, or an int is out of the int64 range; the message names the feature.
        TypeError: ``record`` is not a mapping with str keys.
    """
    if not isinstance(record, Mapping):
        raise InvalidTypeError(
            f"a tf.Example record must be a dict of feature name -> values, got {type(record).__name__}"
        )
    example = _proto.Example()
    for name, value in record.items():
        if not isinstance(name, str):
            raise InvalidTypeError(f"feature names must be str, got {type(name).__name__}: {name!r}")
        kind, values = _values(name, value)
        getattr(example.features.feature[name], kind).value.extend(values)
    return example.SerializeToString(deterministic=True)


def encode(
    records: Mapping[str, FeatureValue] | Iterable[Mapping[str, FeatureValue]],
) -> list[bytes]:
    """Serializes records as ``tf.train.Example`` strings, ready to feed a classify/regress input.

    Args:
        records: one record or an iterable of records; a record maps feature names to values
            (see :func:`encode_example`).

    Returns:
        One serialized Example per record.

    Raises:
        InvalidArgumentError: a feature cannot be encoded (the message names it).
        TypeError: a record is not a mapping.
    """
    if isinstance(records, Mapping):
        return [encode_example(records)]
    return [encode_example(r) for r in records]


def decode(data: bytes) -> dict[str, list[Any]]:
    """Parses a serialized ``tf.train.Example`` back into feature name -> values.

    Args:
        data: the serialized Example.

    Returns:
        Feature name -> list of ints, floats (float32 precision) or bytes, sorted by name.

    Raises:
        InvalidArgumentError: ``data`` is not a serialized Example.
    """
    from google.protobuf.message import DecodeError

    example = _proto.Example()
    try:
        example.ParseFromString(bytes(data))
    except DecodeError as e:
        raise InvalidArgumentError(f"not a serialized tf.Example: {e}") from None
    out: dict[str, list[Any]] = {}
    for name in sorted(example.features.feature):
        feature = example.features.feature[name]
        kind = feature.WhichOneof("kind")
        out[name] = [] if kind is None else list(getattr(feature, kind).value)
    return out


# ------------------------------------------------------------------ batches ---

#: A feature spec of :func:`decode_batch`: a dtype (a scalar feature), ``(dtype, shape)``,
#: ``(dtype, shape, default)``, or an object with ``dtype``, ``shape`` and ``default_value``
#: attributes (``tf.io.FixedLenFeature``).
FeatureSpec = Any

_KINDS = {"float32": 0, "float": 0, "int64": 1, "string": 2, "bytes": 2, "str": 2, "object": 2}
_NUMPY = {0: "float32", 1: "int64"}


def _kind(name: str, dtype: Any) -> int:
    import numpy as np

    key: Any = None
    if dtype in (bytes, str, object):
        key = "bytes"
    elif hasattr(dtype, "as_numpy_dtype"):  # a tf.DType: its name ("float32", "int64", "string")
        key = str(dtype.name)
    elif isinstance(dtype, str):
        key = dtype
    else:
        try:
            d = np.dtype(dtype)
        except TypeError:
            d = None
        if d is not None:
            key = "bytes" if d.kind in "SUO" else d.name
    if key not in _KINDS:
        raise InvalidArgumentError(
            f"feature {name!r}: dtype {dtype!r} is not one a tf.Example holds: float32, int64 or bytes"
        )
    return _KINDS[key]


def _spec(name: str, spec: FeatureSpec) -> tuple[tuple[str, int, int, str, Any], tuple[int, ...]]:
    """(the core's spec tuple, the feature's shape) of one ``features`` item."""
    import numpy as np

    if hasattr(spec, "dtype") and hasattr(spec, "shape") and not isinstance(spec, (type, np.dtype)):
        dtype, shape, default = spec.dtype, spec.shape, getattr(spec, "default_value", None)
    elif isinstance(spec, tuple) and len(spec) in (2, 3):
        dtype, shape, default = spec[0], spec[1], spec[2] if len(spec) == 3 else None
    else:
        dtype, shape, default = spec, (), None
    kind = _kind(name, dtype)
    if hasattr(shape, "as_list"):  # a tf.TensorShape
        shape = shape.as_list()
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise InvalidArgumentError(
            f"feature {name!r}: shape {shape!r} must be fully known (non-negative ints): decode_batch "
            "reads fixed-length features"
        )
    dims = tuple(int(d) for d in dims)
    count = int(np.prod(dims, dtype=np.int64))
    text = "[" + ", ".join(map(str, dims)) + "]"
    if default is not None:
        if kind == 2:
            flat = np.asarray(default, dtype=object).ravel()
            values: Any = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat]
            if len(values) == 1 and count != 1:
                values = values * count
        else:
            arr = np.asarray(default)
            if arr.dtype.kind not in "biuf" or (kind == 1 and arr.dtype.kind == "f"):
                raise InvalidArgumentError(
                    f"feature {name!r}: default value {default!r} is not {_NUMPY[kind]}"
                )
            numbers = np.asarray(arr, dtype=_NUMPY[kind]).ravel()
            if numbers.size == 1 and count != 1:
                numbers = np.full(count, numbers[0], dtype=numbers.dtype)
            values = numbers
        if len(values) != count:
            raise InvalidArgumentError(
                f"feature {name!r}: its default value has {len(values)} values where its shape {text} "
                f"takes {count}"
            )
        default = values
    return (name, kind, count, text, default), dims


def decode_batch(records: Any, features: Mapping[str, FeatureSpec], *, first_index: int = 0) -> dict[str, Any]:
    """Parses serialized ``tf.train.Example`` records into dense numpy columns, in C++.

    What ``tf.io.parse_example(records, {name: tf.io.FixedLenFeature(shape, dtype, default)})``
    returns, without TensorFlow: one array per feature, of shape ``(len(records), *shape)``.

    Args:
        records: the serialized Examples: a sequence of bytes (or bytes-like objects), a numpy
            array of them, or a pyarrow ``binary``/``large_binary`` array (read in place).
        features: feature name -> spec. A spec is a dtype (a scalar feature), ``(dtype,
            shape)``, ``(dtype, shape, default)``, or ``tf.io.FixedLenFeature(shape, dtype,
            default_value)`` (any object with those attributes). dtype: ``np.float32``,
            ``np.int64`` or ``bytes`` (also their names, ``"string"`` and ``tf.DType``); shape:
            an int or a sequence of ints (``()`` for a scalar); default: the value of a record
            that lacks the feature (broadcast from a scalar), None to make that an error.
        first_index: the index of ``records[0]`` in error messages (where the batch is part of
            a larger input, such as a file).

    Returns:
        feature name -> array: float32, int64, or an object array of bytes.

    Raises:
        InvalidArgumentError: a record is not a serialized Example, or one of its features has
            another kind or number of values than its spec says, or is missing and its spec has
            no default; the message names the record's index and the feature. Also a spec that
            is not one of the forms above.
        InvalidTypeError: a record is not bytes-like.
    """
    from . import _core

    if not isinstance(features, Mapping):
        raise InvalidTypeError(f"features must be a dict of name -> spec, got {type(features).__name__}")
    specs, shapes = [], []
    for name, spec in features.items():
        if not isinstance(name, str):
            raise InvalidTypeError(f"feature names must be str, got {type(name).__name__}: {name!r}")
        core_spec, dims = _spec(name, spec)
        specs.append(core_spec)
        shapes.append(dims)
    arrow = _arrow_buffers(records)
    if arrow is not None:
        data, offsets = arrow
        columns = _core.parse_examples(data, specs, offsets, first_index)
    else:
        if isinstance(records, (bytes, bytearray, memoryview)):
            raise InvalidTypeError("records must be a sequence of serialized Examples, got one bytes object")
        if getattr(getattr(records, "dtype", None), "kind", None) == "S":
            raise InvalidTypeError(
                "records is a numpy array of fixed-width bytes, which drops each record's trailing zero "
                "bytes: pass a list, or a numpy array of dtype object"
            )
        columns = _core.parse_examples(records, specs, None, first_index)
    return {
        spec[0]: column.reshape((column.shape[0], *dims))
        for spec, dims, column in zip(specs, shapes, columns)
    }


def _arrow_buffers(records: Any) -> tuple[Any, Any] | None:
    """(data buffer, int64 offsets) of a pyarrow binary array, None for anything else."""
    module = type(records).__module__
    if not module.startswith("pyarrow"):
        return None
    import numpy as np
    import pyarrow as pa

    if isinstance(records, pa.ChunkedArray):
        records = records.combine_chunks() if records.num_chunks != 1 else records.chunk(0)
    if not isinstance(records, pa.Array):
        return None
    if pa.types.is_binary(records.type) or pa.types.is_string(records.type):
        width = np.int32
    elif pa.types.is_large_binary(records.type) or pa.types.is_large_string(records.type):
        width = np.int64
    else:
        raise InvalidTypeError(f"records must be a binary pyarrow array, got one of type {records.type}")
    if records.null_count:
        raise InvalidArgumentError(f"records holds {records.null_count} nulls; every record must be an Example")
    _, offsets_buf, data_buf = records.buffers()
    n = len(records)
    offsets = np.frombuffer(offsets_buf, dtype=width, count=n + 1, offset=records.offset * np.dtype(width).itemsize)
    data = data_buf if data_buf is not None else b""
    return data, offsets.astype(np.int64)
