"""Numbers between pyarrow and numpy without pyarrow's generic converters.

pyarrow's ``Array.to_numpy(zero_copy_only=False)`` and ``pa.array(ndarray)`` import pandas at their
first call (about 0.4 s, more than a scoring process spends on its model), and ``flatten()`` sets up
pyarrow's compute functions (about 0.1 s). For the arrays a model reads and writes (integers and
floats without nulls, fixed-size lists of them) the buffers are the same in both libraries, so these
helpers view them in place; anything else goes through pyarrow's own converters.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["ALLOCATOR_ENV", "environment_with", "fixed_size_list_values", "numbers_to_arrow", "numbers_to_numpy"]

# pyarrow's default allocator (mimalloc 3 in pyarrow 26) asks for transparent huge pages on its 1 GiB
# arenas (madvise MADV_HUGEPAGE) and gives freed pages back to the OS soon after (MADV_DONTNEED);
# reading a file batch by batch then faults the same memory in again and again, each fault zeroing
# 2 MiB. In a scoring process that was up to half the CPU time (perf: clear_page_erms under
# do_huge_pmd_anonymous_page) and made 2 workers slower than 1; without huge pages the same job
# takes 1.3-1.65 s instead of 1.4-3.0 s (1M rows from Parquet, bench_score's small model). mimalloc
# reads its options once, when pyarrow's library is first used, so this must be in the environment
# before pyarrow is imported: the scoring command and its worker processes set it; a process that
# imports pyarrow itself can set it at its start. Older mimalloc versions ignore the option.
ALLOCATOR_ENV = {"MIMALLOC_ALLOW_THP": "0"}


@contextlib.contextmanager
def environment_with(entries: Mapping[str, str] = ALLOCATOR_ENV) -> Iterator[None]:
    """Sets ``entries`` (default :data:`ALLOCATOR_ENV`) the environment lacks, for processes started
    inside (they inherit the environment), and takes them away again after. A value already set is
    kept."""
    added = [k for k in entries if k not in os.environ]
    for k in added:
        os.environ[k] = entries[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


# pyarrow's names of the fixed-width number types and their numpy dtypes (Arrow is little-endian).
_NUMPY_OF = {
    **{
        n: np.dtype(n)
        for n in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    },
    "halffloat": np.dtype("<f2"),
    "float": np.dtype("<f4"),
    "double": np.dtype("<f8"),
}


def fixed_size_list_values(arr: Any) -> Any:
    """The values under a fixed-size list array, sliced to the array's rows (what ``flatten()``
    gives for an array with no null lists)."""
    size = arr.type.list_size
    return arr.values.slice(arr.offset * size, len(arr) * size)


def numbers_to_numpy(arr: Any) -> Any:
    """A flat pyarrow array as numpy: integers and floats without nulls as a read-only view of the
    array's buffer; other arrays through ``to_numpy``."""
    dtype = _NUMPY_OF.get(str(arr.type))
    if dtype is None or arr.null_count:
        return arr.to_numpy(zero_copy_only=False)
    data = arr.buffers()[1]
    if data is None:  # an empty array need not have a buffer
        return np.empty(0, dtype)
    view = np.frombuffer(data, dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    view.flags.writeable = False  # arrow arrays are immutable: so is their view
    return view


def numbers_to_arrow(values: np.ndarray) -> Any:
    """A 1-D numpy array as a pyarrow array: integers and floats over the same memory (the arrow
    array keeps the numpy one alive); other dtypes through ``pa.array``."""
    import pyarrow as pa

    if values.dtype.kind in "iuf":
        # Contiguous and in this machine's byte order (arrow has no byte-swapped arrays).
        contiguous = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("="))
        return pa.Array.from_buffers(
            pa.from_numpy_dtype(contiguous.dtype), len(contiguous), [None, pa.py_buffer(contiguous)]
        )
    return pa.array(values)
