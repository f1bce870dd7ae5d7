"""What a signature's tensors and a session's devices are: plain values shared by every layer."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from .dtypes import numpy_dtype

__all__ = ["Device", "TensorSpec", "specs_of"]


class Device(NamedTuple):
    """A device of a model's session, e.g. ``/job:localhost/replica:0/task:0/device:CPU:0``."""

    name: str
    type: str
    memory_bytes: int


class TensorSpec:
    """What a signature's input or output is: name, dtype, shape and graph tensor.

    Attributes:
        name: the signature's key for it (``"x"``).
        tensor_name: the graph tensor behind it (``"serving_default_x:0"``).
        dtype: its numpy dtype (``object`` for strings; None for resource and
            variant tensors, which have no numpy form).
        tf_dtype: TensorFlow's name of the dtype (``"DT_FLOAT"``).
        shape: a tuple with None for unknown dimensions, or None for unknown rank.
    """

    __slots__ = ("dtype", "encoding", "name", "shape", "tensor_name", "tf_dtype")

    def __init__(
        self,
        name: str,
        tensor_name: str,
        dtype: np.dtype | None,
        tf_dtype: str,
        shape: tuple[int | None, ...] | None,
        encoding: str = "dense",
    ) -> None:
        self.name = name
        self.tensor_name = tensor_name
        self.dtype = dtype
        self.tf_dtype = tf_dtype
        self.shape = shape
        self.encoding = encoding

    def __repr__(self) -> str:
        dtype = self.dtype.name if self.dtype is not None else self.tf_dtype
        return f"TensorSpec(name={self.name!r}, dtype={dtype}, shape={self.shape}, tensor_name={self.tensor_name!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorSpec):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.name, self.tensor_name, self.tf_dtype, self.shape))


def specs_of(infos: Mapping[str, Any]) -> Mapping[str, TensorSpec]:
    """The TensorSpecs of one side of a SignatureDef (key -> the core's TensorInfo), read-only."""
    return MappingProxyType(
        {
            key: TensorSpec(
                key, info.name, numpy_dtype(info.dtype, runnable_only=True), info.tf_dtype, info.shape, info.encoding
            )
            for key, info in infos.items()
        }
    )
