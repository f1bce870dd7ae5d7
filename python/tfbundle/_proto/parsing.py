"""Reading TensorFlow and TF Serving messages in Python: parse, parse_text, tensor_to_numpy.

Frozen GraphDefs in text format (``.pbtxt``), warmup requests (``PredictionLog``),
``RunMetadata`` step stats, the ``.meta`` MetaGraphDefs of checkpoints and SessionBundles are
read with the ``protobuf`` package, through the message classes of :mod:`tfbundle._proto`:
tfbundle's own declaration of those messages (proto/ at the repository root, with TensorFlow's
names and field numbers under a private package, so they never clash with TensorFlow's
generated modules in one process). ``protobuf`` is imported at the first use, not when tfbundle
is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _proto
from .._base.dtypes import dtype_name, numpy_dtype
from ..errors import DataLossError, InvalidArgumentError, UnimplementedError

__all__ = ["message_class", "parse", "parse_text", "tensor_to_numpy"]


def message_class(name: str) -> Any:
    """The class of the message ``name`` of :mod:`tfbundle._proto` (``"GraphDef"``)."""
    return getattr(_proto, name)


def parse(name: str, data: bytes, what: str, *, into: Any = None) -> Any:
    """Parses serialized bytes as the message ``name``.

    Args:
        name: a message of :mod:`tfbundle._proto`, e.g. ``"GraphDef"``.
        data: the serialized message.
        what: what the bytes are, for the error message (a file name, "record 3 of ...").
        into: a message of that type to parse into (cleared first), e.g. a field of another
            message, which saves a copy; by default a new one.

    Raises:
        DataLossError: the bytes are not a valid serialized message.
    """
    from google.protobuf.message import DecodeError

    msg = message_class(name)() if into is None else into
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        detail = str(e).replace(_proto.PRIVATE_PREFIX, "")
        raise DataLossError(
            f"{what} is not a valid serialized {name}: it is truncated or corrupt ({detail})"
        ) from None
    return msg


def parse_text(name: str, text: str, what: str) -> Any:
    """Parses protobuf text format (``.pbtxt``) as the message ``name``.

    Raises:
        DataLossError: the text is not a valid text-format message, with the
            line and column protobuf reports.
    """
    from google.protobuf import text_format

    msg = message_class(name)()
    try:
        text_format.Parse(text, msg, allow_unknown_extension=False)
    except text_format.ParseError as e:
        detail = str(e).replace(_proto.PRIVATE_PREFIX, "")
        raise DataLossError(f"{what} is not a valid text-format {name}: {detail}") from None
    return msg


# ------------------------------------------------------- TensorProto -> numpy ---

# The repeated field of TensorProto that holds the values of each DataType.
_FIELD_BY_DTYPE_NAME = {
    "DT_FLOAT": "float_val", "DT_DOUBLE": "double_val", "DT_INT32": "int_val",
    "DT_UINT8": "int_val", "DT_INT16": "int_val", "DT_INT8": "int_val",
    "DT_STRING": "string_val", "DT_COMPLEX64": "scomplex_val", "DT_INT64": "int64_val",
    "DT_BOOL": "bool_val", "DT_QINT8": "int_val", "DT_QUINT8": "int_val", "DT_QINT32": "int_val",
    "DT_BFLOAT16": "half_val", "DT_QINT16": "int_val", "DT_QUINT16": "int_val",
    "DT_UINT16": "int_val", "DT_COMPLEX128": "dcomplex_val", "DT_HALF": "half_val",
    "DT_UINT32": "uint32_val", "DT_UINT64": "uint64_val",
}  # fmt: skip


def tensor_to_numpy(proto: Any, what: str) -> np.ndarray:
    """Converts a ``TensorProto`` message to a numpy array, as ``Tensor::FromProto`` does.

    ``tensor_content`` holds the raw bytes; otherwise the typed repeated field
    holds the values, and when it has fewer than the shape needs, the last one
    fills the rest (none at all: zeros), as TensorFlow fills them.

    Args:
        proto: a ``TensorProto`` message of :mod:`tfbundle._proto`.
        what: what the tensor is, for error messages.

    Raises:
        InvalidArgumentError: an unknown shape, more values than the shape
            holds, or content of the wrong size.
        UnimplementedError: a dtype numpy cannot hold (resource, variant, float8).
    """
    code = int(proto.dtype)
    dtype = numpy_dtype(code, runnable_only=True) if code < 100 else None
    field = _FIELD_BY_DTYPE_NAME.get(dtype_name(code))
    if dtype is None or field is None:
        raise UnimplementedError(
            f"{what} has dtype {dtype_name(code)}, which tfbundle cannot feed from numpy"
        )
    if proto.tensor_shape.unknown_rank:
        raise InvalidArgumentError(f"{what} has an unknown rank: a tensor needs a full shape")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise InvalidArgumentError(f"{what} has an unknown dimension in its shape {shape}")
    size = int(np.prod(shape, dtype=np.int64))
    is_string = field == "string_val"
    if proto.tensor_content and not is_string:
        content = bytes(proto.tensor_content)
        want = size * dtype.itemsize
        if len(content) != want:
            raise InvalidArgumentError(
                f"{what}: tensor_content holds {len(content)} bytes, the shape {shape} of "
                f"{dtype_name(code)} needs {want}"
            )
        return np.frombuffer(content, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    raw = list(getattr(proto, field))
    if is_string:
        values = np.empty(len(raw), dtype=object)
        values[:] = [bytes(v) for v in raw]
    elif field in ("scomplex_val", "dcomplex_val"):  # (real, imaginary) pairs
        pairs = np.asarray(raw, dtype=np.float32 if field == "scomplex_val" else np.float64)
        values = (pairs[0::2] + 1j * pairs[1::2]).astype(dtype)
    elif field == "half_val":  # half and bfloat16 keep their 16 bits in an int32 each
        values = np.asarray(raw, dtype=np.int64).astype(np.uint16).view(dtype)
    else:
        values = np.asarray(raw).astype(dtype) if raw else np.empty(0, dtype)
    count = len(values)
    if count > size:
        raise InvalidArgumentError(
            f"{what} holds {count} values, more than its shape {shape} has room for ({size})"
        )
    if count == size:
        return values.reshape(shape)
    out = np.empty(size, dtype=dtype) if is_string else np.zeros(size, dtype=dtype)
    if is_string and count == 0:
        out[:] = b""
    if count:
        out[:count] = values
        out[count:] = values[-1]
    return out.reshape(shape)
