"""TensorFlow's DataType values, their names and their numpy dtypes.

The table itself is the native core's (``_core.DTYPES``, generated from the
project's ``proto/`` files): this module only indexes it. ``*_REF`` types (TF1
reference variables) are the base value + 100. numpy dtypes are made when
first asked for; ``ml_dtypes`` is imported only for a type that needs it
(bfloat16, the float8, int4 and float4 families).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .. import _core

__all__ = ["DTYPE_NAMES", "RUNNABLE", "cast_numeric", "dtype_name", "numpy_dtype", "python_dtype_name"]

_BY_VALUE: Mapping[int, _core.DataType] = MappingProxyType({d.value: d for d in _core.DTYPES})

#: DataType value -> TensorFlow's name, reference types included.
DTYPE_NAMES: Mapping[int, str] = MappingProxyType({d.value: d.name for d in _core.DTYPES})

#: The values a model's inputs and outputs can have in numpy (the native
#: conversion's); the newer narrow types are only read from checkpoints.
RUNNABLE = frozenset(d.value for d in _core.DTYPES if d.runnable)

_NUMPY: dict[int, np.dtype | None] = {}  # base value -> numpy dtype, made on first use


def dtype_name(code: int) -> str:
    """TensorFlow's name of a DataType value (``1`` -> ``"DT_FLOAT"``; ``"DT_<code>"`` if unknown)."""
    return DTYPE_NAMES.get(code, f"DT_{code}")


def _make_numpy(info: _core.DataType) -> np.dtype | None:
    if not info.ml_dtypes:
        return np.dtype(info.numpy_name)
    try:
        import ml_dtypes
    except ImportError:
        return None
    kind = getattr(ml_dtypes, info.numpy_name, None)
    return np.dtype(kind) if kind is not None else None


def numpy_dtype(code: int, *, runnable_only: bool = False) -> np.dtype | None:
    """The numpy dtype of a DataType value (a ``*_REF`` as its base type), or None if it has none.

    Args:
        code: the DataType value.
        runnable_only: only the dtypes model inputs and outputs convert (see :data:`RUNNABLE`).
    """
    if code > 100:
        code -= 100
    info = _BY_VALUE.get(code) if code < 100 else None
    if info is None or not info.numpy_name or (runnable_only and not info.runnable):
        return None
    try:
        return _NUMPY[code]
    except KeyError:
        dtype = _NUMPY[code] = _make_numpy(info)
        return dtype


def python_dtype_name(code: int) -> str:
    """TensorFlow's Python name of a DataType value (``1`` -> ``"float32"``, ``101`` -> ``"float32_ref"``)."""
    info = _BY_VALUE.get(code)
    if info is None or not info.python_name:
        return f"<DataType {code}>"
    return info.python_name


def cast_numeric(array: np.ndarray, dtype: Any) -> np.ndarray:
    """``array`` converted to ``dtype`` when both are numeric (bool, int, float) and differ; else
    ``array`` itself (a dtype of None, strings: the signature's own check reports a mismatch).
    The Ray and Spark helpers feed the columns the engine holds through it."""
    if dtype is None or array.dtype == dtype or array.dtype.kind not in "biuf" or np.dtype(dtype).kind not in "biuf":
        return array
    return array.astype(dtype)
