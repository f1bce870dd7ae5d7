"""tf.Example records without TensorFlow: ``tfbundle.tf_example.encode`` / ``decode``.

Classify and regress signatures (``tensorflow/serving/classify``, ``.../regress``) and many TF1
exports take serialized ``tf.train.Example`` protos::

    >>> from tfbundle import tf_example
    >>> data = tf_example.encode([{"age": [22, 24], "education": [b"BS", b"MS"]}])
    >>> model.signatures["classify"](inputs=data)

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

__all__ = ["FeatureValue", "decode", "encode", "encode_example"]

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
