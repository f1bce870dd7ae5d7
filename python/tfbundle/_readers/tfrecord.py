"""TFRecord files: reading and writing the framing, plain or GZIP-compressed, without TensorFlow.

Each record of a TFRecord file is::

    uint64 length | uint32 masked CRC-32C of the 8 length bytes | data | uint32 masked CRC-32C of data

(little-endian; the mask is TensorFlow's ``((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32``).
A GZIP file is the same byte stream compressed as one gzip stream, as ``tf.io.TFRecordWriter``
writes it with ``TFRecordOptions(compression_type="GZIP")``.

:func:`iter_records` streams a file: it reads 1 MiB at a time, so a file larger than memory is
fine, and checks both checksums of every record unless told not to. A truncated file or a
checksum mismatch raises :class:`RecordError` (a :class:`tfbundle.DataLossError`) naming the
file, the record's index (counting from 0) and its byte offset (in the uncompressed stream for a
GZIP file), which it also carries as attributes, so a caller can word its own message.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Generator, Iterable, Iterator
from typing import Any, BinaryIO, Literal

from .. import _core
from .._base.paths import PathLike
from ..errors import DataLossError, InvalidArgumentError, NotFoundError

__all__ = [
    "Compression",
    "RecordError",
    "detect_compression",
    "iter_record_batches",
    "iter_records",
    "masked_crc32c",
    "write_records",
]

Compression = Literal["auto", "GZIP", "", None]

_MASK_DELTA = 0xA282EAD8
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """TensorFlow's masked CRC-32C of ``data`` (as stored in TFRecord files)."""
    crc = _core.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _normalize(compression: str | None) -> str | None:
    if compression is None or compression == "" or str(compression).upper() == "NONE":
        return None
    up = str(compression).upper()
    if up in ("AUTO", "GZIP"):
        return up.lower() if up == "AUTO" else "GZIP"
    raise InvalidArgumentError(
        f"unsupported TFRecord compression {compression!r}: use 'auto', 'GZIP' or None"
    )


def detect_compression(path: PathLike, *, filesystem: Any = None) -> str | None:
    """``"GZIP"`` when the file is a gzip stream, else None (a plain TFRecord file).

    A plain file whose first length happens to start with gzip's magic bytes is told apart by
    the length's checksum. ``filesystem``: a ``pyarrow.fs.FileSystem`` the path is in (S3, GCS,
    HDFS...); None for a local path.
    """
    p = os.fspath(path)
    f = _open_raw(p, filesystem)
    try:
        head = f.read(12)
    finally:
        f.close()
    if not head.startswith(_GZIP_MAGIC):
        return None
    if len(head) == 12 and masked_crc32c(head[:8]) == int.from_bytes(head[8:12], "little"):
        return None
    return "GZIP"


def _open_raw(path: str, filesystem: Any) -> Any:
    """The file's bytes as they are stored: a local file, or a ``pyarrow.fs`` input stream (told
    not to decompress: pyarrow would otherwise by the file's extension)."""
    try:
        if filesystem is None:
            return open(path, "rb")
        return filesystem.open_input_stream(path, compression=None)
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist") from None


def _open(path: str, compression: str | None, filesystem: Any = None) -> tuple[Any, Any]:
    raw = _open_raw(path, filesystem)
    if compression == "GZIP":
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


class RecordError(DataLossError):
    """A truncated or corrupt TFRecord file: where and what, as attributes beside the message.

    Attributes:
        path: the file.
        index: the bad record's index, counting from 0 (also ``record``).
        offset: the record's byte offset (in the uncompressed stream for a GZIP file).
        what: ``"corrupted record length"``, ``"corrupted record"`` (its data's checksum),
            ``"truncated record header"``, ``"truncated record"`` or
            ``"corrupt or truncated gzip stream"``.
        length: for a truncated record, the data length its header gives, else None.
        available: for a truncated record, the bytes after its header less the 4 of the
            data's checksum; for a truncated header, the header bytes there; else None.
        compressed: the file is a GZIP stream.
    """

    path: str = ""
    index: int = 0
    offset: int = 0
    what: str = ""
    length: int | None = None
    available: int | None = None
    compressed: bool = False

    @property
    def record(self) -> int:
        return self.index

    def __reduce__(self) -> Any:  # the attributes survive pickling (Ray, Spark workers)
        return (type(self), (self.message,), dict(self.__dict__))


def _loss(
    path: str,
    index: int,
    offset: int,
    what: str,
    detail: str,
    compressed: bool,
    *,
    length: int | None = None,
    available: int | None = None,
) -> RecordError:
    where = "byte" if not compressed else "uncompressed byte"
    e = RecordError(f"{path}: record {index} at {where} {offset}: {what} ({detail})")
    e.path, e.index, e.offset, e.what = path, index, offset, what
    e.length, e.available, e.compressed = length, available, compressed
    return e


def iter_records(
    path: PathLike,
    *,
    compression: Compression | str = "auto",
    check_crc: bool = True,
    filesystem: Any = None,
) -> Iterator[bytes]:
    """Yields the records of a TFRecord file, in order, reading it in 1 MiB pieces.

    Args:
        path: the file.
        compression: ``"auto"`` (default: GZIP when the file is a gzip stream), ``"GZIP"``,
            or None / ``""`` for a plain file (TensorFlow's names).
        check_crc: check the masked CRC-32C of every record's length and data (default).
        filesystem: a ``pyarrow.fs.FileSystem`` holding ``path`` (S3, GCS, HDFS...); None
            (default) for a local path.

    Raises:
        NotFoundError: no such file.
        RecordError: (a DataLossError) a truncated record, a checksum mismatch or a corrupt
            gzip stream; the message names the file, the record (counting from 0) and its byte
            offset, which the exception also carries as attributes (``path``, ``index``,
            ``offset``, ``what``, ...).
        InvalidArgumentError: an unknown compression.
    """
    for chunk in iter_record_batches(
        path, 4096, compression=compression, check_crc=check_crc, filesystem=filesystem
    ):
        yield from chunk


def iter_record_batches(
    path: PathLike,
    batch_size: int,
    *,
    compression: Compression | str = "auto",
    check_crc: bool = True,
    filesystem: Any = None,
) -> Generator[list[bytes], None, None]:
    """:func:`iter_records` in lists of ``batch_size`` records (the last may be shorter): the same
    checks and errors, less work per record."""
    p = os.fspath(path)
    mode = _normalize(compression)
    if mode == "auto":
        mode = detect_compression(p, filesystem=filesystem)
    gz = mode == "GZIP"
    raw, f = _open(p, mode, filesystem)
    scan = _core.scan_records  # the inner loop, in C++ (cpp/tfrecord.h)
    buf = b""
    pos = 0  # where the next record starts in buf
    base = 0  # the stream offset of buf[0]
    index = 0
    eof = False
    try:
        while True:
            out, pos, need, error = scan(buf, pos, batch_size, check_crc)
            index += len(out)
            if error == 1:
                raise _loss(
                    p, index, base + pos, "corrupted record length", "checksum mismatch", gz
                )
            if error:
                raise _loss(p, index, base + pos, "corrupted record", "data checksum mismatch", gz)
            if out:
                yield out
                if len(out) == batch_size:
                    continue
            if eof:
                left = len(buf) - pos
                if left == 0:
                    return
                if left < 12:
                    raise _loss(
                        p,
                        index,
                        base + pos,
                        "truncated record header",
                        f"{left} of 12 bytes",
                        gz,
                        available=left,
                    )
                length, available = need - 16, max(0, left - 16)
                raise _loss(
                    p,
                    index,
                    base + pos,
                    "truncated record",
                    f"its header says {length} bytes, {available} are there",
                    gz,
                    length=length,
                    available=available,
                )
            # Read on: keep the unread tail, add at least what the next record needs.
            parts = [buf[pos:]]
            have = len(parts[0])
            base += pos
            while have < max(need, _CHUNK // 2) and not eof:
                try:
                    # At most 64 MiB a read: a record's header may claim any length.
                    piece = f.read1(min(max(_CHUNK, need - have), 64 << 20))
                except (EOFError, OSError, zlib.error) as e:
                    raise _loss(
                        p, index, base + have, "corrupt or truncated gzip stream", str(e), gz
                    ) from None
                if not piece:
                    eof = True
                    break
                parts.append(piece)
                have += len(piece)
            buf = b"".join(parts) if len(parts) > 1 else parts[0]
            pos = 0
    finally:
        if f is not raw:
            f.close()
        raw.close()


def _frame(record: bytes | bytearray | memoryview) -> bytes:
    header = len(record).to_bytes(8, "little")
    return b"".join(
        (
            header,
            masked_crc32c(header).to_bytes(4, "little"),
            bytes(record),
            masked_crc32c(record).to_bytes(4, "little"),
        )
    )


def write_records(
    path: PathLike,
    records: Iterable[bytes | bytearray | memoryview],
    *,
    compression: Literal["GZIP", "", None] | str = None,
) -> int:
    """Writes ``records`` as a TFRecord file (GZIP-compressed with ``compression="GZIP"``).

    Returns the number of records written. TensorFlow's ``tf.data.TFRecordDataset`` reads the
    file back.
    """
    p = os.fspath(path)
    mode = _normalize(compression)
    if mode == "auto":
        raise InvalidArgumentError("write_records: compression must be 'GZIP' or None")
    count = 0
    with open(p, "wb") as raw:
        out: BinaryIO = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if mode == "GZIP" else raw  # type: ignore[assignment]
        try:
            for r in records:
                out.write(_frame(r))
                count += 1
        finally:
            if out is not raw:
                out.close()
    return count
