"""tfbundle._base.arrow: numbers viewed between pyarrow and numpy, equal to pyarrow's converters."""

from __future__ import annotations

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")

from tfbundle._base.arrow import fixed_size_list_values, numbers_to_arrow, numbers_to_numpy  # noqa: E402

NUMBER_TYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
]


@pytest.mark.parametrize("dtype", NUMBER_TYPES)
def test_numbers_to_numpy_views_a_slice_in_place(dtype: str) -> None:
    values = np.arange(20).astype(dtype)
    arr = pa.array(values).slice(3, 9)
    got = numbers_to_numpy(arr)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, values[3:12])
    assert not got.flags.writeable  # a view of arrow's buffer, not a copy
    np.testing.assert_array_equal(got, arr.to_numpy(zero_copy_only=False))


def test_numbers_to_numpy_falls_back_for_nulls_bools_and_empty() -> None:
    with_null = numbers_to_numpy(pa.array([1.0, None, 3.0], pa.float32()))
    assert np.isnan(with_null[1]) and with_null[2] == 3.0
    np.testing.assert_array_equal(
        numbers_to_numpy(pa.array([True, False, True])), [True, False, True]
    )
    empty = numbers_to_numpy(pa.array([], pa.int64()))
    assert empty.dtype == np.int64 and empty.shape == (0,)
    strings = numbers_to_numpy(pa.array(["a", "b"]))
    assert list(strings) == ["a", "b"]


def test_fixed_size_list_values_honours_the_offset() -> None:
    flat = pa.array(np.arange(24, dtype=np.float32))
    lists = pa.FixedSizeListArray.from_arrays(flat, 4).slice(2, 3)
    got = numbers_to_numpy(fixed_size_list_values(lists)).reshape(3, 4)
    np.testing.assert_array_equal(got, np.arange(8, 20, dtype=np.float32).reshape(3, 4))
    assert fixed_size_list_values(lists).equals(lists.flatten())


@pytest.mark.parametrize("dtype", NUMBER_TYPES)
def test_numbers_to_arrow_equals_pa_array(dtype: str) -> None:
    values = np.arange(10).astype(dtype)[::2]  # not contiguous: copied once, then viewed
    got = numbers_to_arrow(values)
    assert got.equals(pa.array(values))


def test_numbers_to_arrow_other_dtypes_and_byte_orders() -> None:
    swapped = np.arange(4, dtype=">i4")
    assert numbers_to_arrow(swapped).to_pylist() == [0, 1, 2, 3]
    assert numbers_to_arrow(np.array([True, False])).to_pylist() == [True, False]
    assert numbers_to_arrow(np.array([b"a", b"bc"], dtype=object)).to_pylist() == [b"a", b"bc"]


def test_numbers_to_arrow_keeps_the_numpy_array_alive() -> None:
    arr = numbers_to_arrow(np.arange(1000, dtype=np.int64) * 3)
    import gc

    gc.collect()
    assert arr[999].as_py() == 2997


def test_allocator_env_reaches_processes_started_inside(monkeypatch) -> None:
    import os
    import subprocess
    import sys

    from tfbundle._base.arrow import ALLOCATOR_ENV, environment_with

    (key, value), = ALLOCATOR_ENV.items()
    monkeypatch.delenv(key, raising=False)
    show = [sys.executable, "-c", f"import os; print(os.environ.get({key!r}))"]
    with environment_with():
        inside = subprocess.run(show, capture_output=True, text=True, check=True).stdout.strip()
    assert inside == value
    assert key not in os.environ  # taken away again
    monkeypatch.setenv(key, "1")  # the user's own value is kept
    with environment_with():
        assert os.environ[key] == "1"
    assert os.environ[key] == "1"
