"""The arrays of a ``.npz`` file, a batch of rows at a time, without loading them whole.

``np.load`` reads an ``.npz`` member whole when it is indexed. Here a member stored as it is
(``np.savez``) is memory-mapped at its offset in the file, and a compressed one
(``np.savez_compressed``) is decompressed as its rows are read, so a file larger than memory can be
scored. Members that cannot be read by rows are loaded whole, as ``np.load`` would: object arrays
(pickled: refused unless pickles are allowed, which scoring does not do), arrays of more than one
dimension in Fortran order, and headers of format 3.0 (only written for non-ASCII field names).
"""

from __future__ import annotations

import contextlib
import math
import struct
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
from numpy.lib import format as npformat

from ..errors import InvalidArgumentError

__all__ = ["iter_npz", "npz_names", "npz_rows", "read_header", "streamed"]

# A zip local file header: signature, version, flags, method, time, date, crc, sizes, name and
# extra lengths (30 bytes); a member's data follows its name and extra field. zipfile has checked
# it when the member was opened.
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")


@contextlib.contextmanager
def _zip(path: str, file: str | IO[bytes]) -> Iterator[zipfile.ZipFile]:
    """``file`` (a path or a file) as a zip archive; a broken one is an error naming ``path``."""
    try:
        with zipfile.ZipFile(file) as zf:
            yield zf
    except zipfile.BadZipFile as e:
        raise InvalidArgumentError(f"{path}: not a readable .npz file ({e})") from None


def _member_name(name: str) -> str:
    return name.removesuffix(".npy")


def npz_names(path: str, file: IO[bytes] | None = None) -> list[str]:
    """The arrays' names, as ``np.load(path).files`` gives them (``file``: see :func:`iter_npz`)."""
    with _zip(path, file if file is not None else path) as zf:
        return [_member_name(n) for n in zf.namelist()]


@dataclass
class _Header:
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype[Any]
    data_start: int  # the array's first byte within the member

    @property
    def by_rows(self) -> bool:
        return (
            not self.dtype.hasobject
            and not (self.fortran and len(self.shape) > 1)
            and len(self.shape) > 0
        )


def read_header(f: IO[bytes]) -> _Header | None:
    """The member's .npy header, or None for a format this module leaves to ``np.load``."""
    version = npformat.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = npformat.read_array_header_2_0(f)
    else:
        return None
    return _Header(tuple(shape), bool(fortran), np.dtype(dtype), f.tell())


def npz_rows(path: str, file: IO[bytes] | None = None) -> int:
    """The first array's number of rows (0 for no arrays), from its header alone."""
    with _zip(path, file if file is not None else path) as zf:
        names = zf.namelist()
        if not names:
            return 0
        with zf.open(names[0]) as f:
            h = read_header(f)
        if h is None:
            return int(_whole(zf, names[0]).shape[0])
    return int(h.shape[0]) if h.shape else 0


def _mapped(path: str, info: zipfile.ZipInfo, h: _Header) -> np.ndarray:
    """A stored member's array, memory-mapped where it lies in the file."""
    with open(path, "rb") as raw:
        raw.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
    start = info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10] + h.data_start
    if math.prod(h.shape) == 0:
        return np.empty(h.shape, h.dtype)
    return np.memmap(path, dtype=h.dtype, mode="r", offset=start, shape=h.shape, order="C")


def streamed(f: IO[bytes], h: _Header, batch_size: int) -> Iterator[np.ndarray]:
    """A compressed member's rows, ``batch_size`` at a time, decompressed as they are read."""
    row_shape = h.shape[1:]
    row_bytes = h.dtype.itemsize * math.prod(row_shape)
    left = h.shape[0]
    while left > 0:
        n = min(batch_size, left)
        want = n * row_bytes
        buf = f.read(want)
        if len(buf) != want:
            raise InvalidArgumentError(f"truncated array: {len(buf)} of {want} bytes")
        yield np.frombuffer(buf, h.dtype).reshape((n, *row_shape))
        left -= n


def _whole(zf: zipfile.ZipFile, member: str) -> np.ndarray:
    """A member read whole, as ``np.load`` reads it (object arrays refused: no pickles)."""
    with zf.open(member) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _batches_of(array: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for s in range(0, array.shape[0], batch_size):
        yield array[s : s + batch_size]


def iter_npz(
    path: str, names: Sequence[str] | None, batch_size: int, file: IO[bytes] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(first row, name -> rows) for each batch of ``batch_size`` rows of the named arrays (all
    when ``names`` is None; names the file lacks are left out). ``file``: the file opened for
    random access (a remote file, whose members are all streamed); None to open the local
    ``path`` (stored members memory-mapped).

    Raises:
        InvalidArgumentError: the arrays have different numbers of rows, a 0-d array, or a
            truncated member.
    """
    with _zip(path, file if file is not None else path) as zf:
        members = {_member_name(n): n for n in zf.namelist()}
        wanted = [k for k in (names if names is not None else list(members)) if k in members]
        rows: dict[str, int] = {}
        sources: dict[str, Iterator[np.ndarray]] = {}
        opened: list[IO[bytes]] = []
        try:
            for k in wanted:
                info = zf.getinfo(members[k])
                f = zf.open(info)
                opened.append(f)
                h = read_header(f)
                if h is not None and h.by_rows and info.compress_type == zipfile.ZIP_STORED and file is None:
                    arr = _mapped(path, info, h)
                    rows[k], sources[k] = arr.shape[0], _batches_of(arr, batch_size)
                elif h is not None and h.by_rows:
                    rows[k], sources[k] = h.shape[0], streamed(f, h, batch_size)
                else:
                    whole = _whole(zf, members[k])
                    if whole.ndim == 0:
                        raise InvalidArgumentError(f"{path}: the array {k!r} is a scalar, not rows")
                    rows[k], sources[k] = whole.shape[0], _batches_of(whole, batch_size)
            if len(set(rows.values())) > 1:
                raise InvalidArgumentError(
                    f"{path}: the arrays have different numbers of rows ({sorted(set(rows.values()))})"
                )
            total = next(iter(rows.values()), 0)
            for s in range(0, total, batch_size):
                try:
                    batch = {k: next(src) for k, src in sources.items()}
                except InvalidArgumentError as e:
                    raise InvalidArgumentError(f"{path}: {e}") from None
                yield s, batch
        finally:
            for f in opened:
                f.close()
