"""A minimal TensorBundle writer for the fuzz target's seeds and mutations.

Writes TensorFlow's table format (blocks with prefix-compressed entries,
restart arrays, trailers with masked CRC-32C, a 48-byte footer) so that a
mutated entry still passes the block checksum and reaches the entry parser.
Field numbers and layout: see cpp/sstable.h and cpp/tensor_bundle.h.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

MAGIC = 0xDB4775248B80FB57


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        for _ in range(8):
            n = (n >> 1) ^ 0x82F63B78 if n & 1 else n >> 1
        table.append(n)
    return table


def _crc32c_python(data: bytes) -> int:
    """CRC-32C without the extension (fuzz/native/seeds.py runs without a built package)."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


_CRC32C_TABLE = _crc32c_table()
try:
    from tfbundle._core import crc32c as _crc32c
except ImportError:
    _crc32c = _crc32c_python


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def f_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def f_bytes(number: int, value: bytes) -> bytes:
    return varint((number << 3) | 2) + varint(len(value)) + value


def f_fixed32(number: int, value: int) -> bytes:
    return varint((number << 3) | 5) + struct.pack("<I", value & 0xFFFFFFFF)


def masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def header(num_shards: int = 1, big_endian: bool = False) -> bytes:
    return f_varint(1, num_shards) + f_varint(2, int(big_endian)) + f_bytes(3, f_varint(1, 1))


def entry(dtype: int, shape: Sequence[int], offset: int, size: int, crc: int = 0, shard_id: int = 0,
          slices: Sequence[Sequence[tuple[int, int]]] = ()) -> bytes:  # fmt: skip
    out = f_varint(1, dtype) + f_bytes(2, b"".join(f_bytes(2, f_varint(1, d)) for d in shape))
    out += f_varint(3, shard_id) + f_varint(4, offset) + f_varint(5, size) + f_fixed32(6, crc)
    for extents in slices:
        body = b"".join(
            f_bytes(1, f_varint(1, s) + (f_varint(2, n) if n != -1 else b"")) for s, n in extents
        )
        out += f_bytes(7, body)
    return out


def block(entries: Sequence[tuple[bytes, bytes]], restart_interval: int = 16) -> bytes:
    out = bytearray()
    restarts = []
    prev = b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(prev), len(key)) and prev[shared] == key[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        prev = key
    restarts = restarts or [0]
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def snappy_literal(data: bytes) -> bytes:
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 60):
        chunk = data[i : i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def table(entries: Sequence[tuple[bytes, bytes]], per_block: int = 1 << 30, snappy: bool = False) -> bytes:
    """An SSTable holding ``entries`` as given (the caller sorts them), with valid trailers."""
    out = bytearray()

    def write(contents: bytes, kind: int) -> tuple[int, int]:
        stored = snappy_literal(contents) if kind == 1 else contents
        handle = (len(out), len(stored))
        out.extend(stored + bytes([kind]) + struct.pack("<I", masked_crc(stored + bytes([kind]))))
        return handle

    index = []
    for i in range(0, len(entries), max(per_block, 1)):
        chunk = list(entries[i : i + per_block])
        off, size = write(block(chunk), 1 if snappy else 0)
        index.append((chunk[-1][0], varint(off) + varint(size)))
    meta = write(block([]), 0)
    idx = write(block(index, restart_interval=1), 0)
    footer = (varint(meta[0]) + varint(meta[1]) + varint(idx[0]) + varint(idx[1])).ljust(40, b"\0")
    return bytes(out + footer + struct.pack("<II", MAGIC & 0xFFFFFFFF, MAGIC >> 32))


def pack(index: bytes, shard: bytes) -> bytes:
    """The fuzz target's input: a 4-byte index length, the index, the data shard."""
    return struct.pack("<I", len(index)) + index + shard


def unpack(data: bytes) -> tuple[bytes, bytes]:
    if len(data) < 4:
        return data, b""
    n = struct.unpack("<I", data[:4])[0]
    return data[4 : 4 + n], data[4 + n :]


def string_payload(items: Sequence[bytes]) -> tuple[bytes, int]:
    """A DT_STRING tensor's stored bytes and its masked entry CRC (little-endian writer)."""
    lengths = b"".join(struct.pack("<I", len(s)) for s in items)
    stored = struct.pack("<I", masked_crc(lengths))
    body = b"".join(items)
    return b"".join(varint(len(s)) for s in items) + stored + body, masked_crc(lengths + stored + body)


def sample_bundle() -> tuple[bytes, bytes]:
    """A small bundle using every feature the reader has: numbers, strings, slices, blocks."""
    shard = bytearray()
    entries: dict[bytes, bytes] = {}

    def add(key: bytes, dtype: int, shape: Sequence[int], raw: bytes, crc: int | None = None) -> None:
        entries[key] = entry(dtype, shape, len(shard), len(raw), masked_crc(raw) if crc is None else crc)
        shard.extend(raw)

    add(b"dense/kernel", 1, [2, 3], struct.pack("<6f", *range(6)))
    add(b"dense/bias", 9, [3], struct.pack("<3q", 1, -2, 3))
    add(b"half", 19, [2], b"\x00\x3c\x00\xc0")
    payload, crc = string_payload([b"alpha", b"", b"gamma"])
    add(b"words", 7, [3], payload, crc)
    # A variable in two slices along dimension 0: full entry + slice entries.
    slices = [[(0, 1), (0, -1)], [(1, 1), (0, -1)]]
    entries[b"part"] = entry(1, [2, 2], 0, 0, slices=slices)
    for extents in slices:
        key = slice_key(b"part", extents)
        add(key, 1, [1, 2], struct.pack("<2f", 1.5, -2.5))
    items = [(b"", header()), *sorted(entries.items())]
    return table(items, per_block=3), bytes(shard)


def _ordered_signed(v: int) -> bytes:
    magnitude = ~v if v < 0 else v
    length = (magnitude.bit_length() + 1 + 6) // 7
    raw = (v & ((1 << (8 * length)) - 1)).to_bytes(length, "big")
    header = ((1 << length) - 1) << (8 * length - length)
    return (int.from_bytes(raw, "big") ^ header).to_bytes(length, "big")


def slice_key(name: bytes, extents: Sequence[tuple[int, int]]) -> bytes:
    """checkpoint::EncodeTensorNameSlice (OrderedCode)."""
    escaped = b"".join(b"\x00\xff" if c == 0 else b"\xff\x00" if c == 255 else bytes([c]) for c in name)
    rank = len(extents).to_bytes(8, "big").lstrip(b"\0")
    out = b"\x00" + escaped + b"\x00\x01" + bytes([len(rank)]) + rank
    for start, length in extents:
        out += _ordered_signed(start) + _ordered_signed(length)
    return out
