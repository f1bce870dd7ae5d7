"""TensorFlow's DataType values, their names and their numpy dtypes: one table for the package.

Values and names from tensorflow/core/framework/types.proto (TensorFlow 2.21);
``*_REF`` types (TF1 reference variables) are the base value + 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

__all__ = ["DTYPE_NAMES", "RUNNABLE", "dtype_name", "numpy_dtype", "python_dtype_name"]

_NAMES = (
    "DT_INVALID", "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16", "DT_INT8",
    "DT_STRING", "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_QINT8", "DT_QUINT8", "DT_QINT32",
    "DT_BFLOAT16", "DT_QINT16", "DT_QUINT16", "DT_UINT16", "DT_COMPLEX128", "DT_HALF",
    "DT_RESOURCE", "DT_VARIANT", "DT_UINT32", "DT_UINT64", "DT_FLOAT8_E5M2", "DT_FLOAT8_E4M3FN",
    "DT_FLOAT8_E4M3FNUZ", "DT_FLOAT8_E4M3B11FNUZ", "DT_FLOAT8_E5M2FNUZ", "DT_INT4", "DT_UINT4",
    "DT_INT2", "DT_UINT2", "DT_FLOAT4_E2M1FN",
)  # fmt: skip

#: DataType value -> TensorFlow's name, reference types included.
DTYPE_NAMES: Mapping[int, str] = MappingProxyType(
    {**dict(enumerate(_NAMES)), **{i + 100: name + "_REF" for i, name in enumerate(_NAMES) if i > 0}}
)

# numpy dtype names by value (quantized types as their integers; the float8,
# int4 and float4 families and bfloat16 come from ml_dtypes).
_NUMPY_NAMES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "object",
    8: "complex64", 9: "int64", 10: "bool", 11: "int8", 12: "uint8", 13: "int32", 14: "bfloat16",
    15: "int16", 16: "uint16", 17: "uint16", 18: "complex128", 19: "float16", 22: "uint32",
    23: "uint64", 24: "float8_e5m2", 25: "float8_e4m3fn", 26: "float8_e4m3fnuz",
    27: "float8_e4m3b11fnuz", 28: "float8_e5m2fnuz", 29: "int4", 30: "uint4", 31: "int2",
    32: "uint2", 33: "float4_e2m1fn",
}  # fmt: skip

#: The values a model's inputs and outputs can have in numpy (the native
#: conversion table); the newer narrow types are only read from checkpoints.
RUNNABLE = frozenset(code for code in _NUMPY_NAMES if code <= 23)


def dtype_name(code: int) -> str:
    """TensorFlow's name of a DataType value (``1`` -> ``"DT_FLOAT"``; ``"DT_<code>"`` if unknown)."""
    return DTYPE_NAMES.get(code, f"DT_{code}")


def numpy_dtype(code: int, *, runnable_only: bool = False) -> np.dtype | None:
    """The numpy dtype of a DataType value (a ``*_REF`` as its base type), or None if it has none.

    Args:
        code: the DataType value.
        runnable_only: only the dtypes model inputs and outputs convert (see :data:`RUNNABLE`).
    """
    if code > 100:
        code -= 100
    name = _NUMPY_NAMES.get(code)
    if name is None or (runnable_only and code not in RUNNABLE):
        return None
    try:
        return np.dtype(name)
    except TypeError:
        import ml_dtypes

        kind = getattr(ml_dtypes, name, None)
        return np.dtype(kind) if kind is not None else None


# TensorFlow's Python names of the DataTypes (tf.float32, ...), by value.
_PYTHON_NAMES = (
    None, "float32", "float64", "int32", "uint8", "int16", "int8", "string", "complex64", "int64",
    "bool", "qint8", "quint8", "qint32", "bfloat16", "qint16", "quint16", "uint16", "complex128",
    "float16", "resource", "variant", "uint32", "uint64", "float8_e5m2", "float8_e4m3fn",
    "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz", "int4", "uint4", "int2", "uint2",
    "float4_e2m1fn",
)  # fmt: skip


def python_dtype_name(code: int) -> str:
    """TensorFlow's Python name of a DataType value (``1`` -> ``"float32"``, ``101`` -> ``"float32_ref"``)."""
    base = code - 100 if code > 100 else code
    name = _PYTHON_NAMES[base] if 0 < base < len(_PYTHON_NAMES) else None
    if name is None:
        return f"<DataType {code}>"
    return name + "_ref" if code > 100 else name
