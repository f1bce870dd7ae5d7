"""Bad checkpoints: every malformed input gets a specific, named error, never a crash.

Corrupt copies of real TensorFlow checkpoints are made here (bytes flipped,
files truncated or removed). Finer corruptions (an entry pointing past its
shard, a size that does not match dtype and shape, a big-endian bundle, a
snappy-compressed index...) are written with the small TensorBundle writer
below, which re-encodes a real index with one field changed and valid
checksums, so the reader's later checks are reached.
"""

from __future__ import annotations

import shutil
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _util import tfbundle_env
from test_checkpoint import Checkpoints, tf_checkpoints  # noqa: F401  (the fixture)
from tfbundle import _core, errors, latest_checkpoint
from tfbundle._readers.checkpoint import open_checkpoint
from tfbundle.cli.vars import main as vars_main

# The wire-level primitives are shared with the fuzz target's writer.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
from bundle_writer import MAGIC, f_bytes, f_fixed32, f_varint, masked_crc, snappy_literal, varint

# ------------------------------------------------- a small bundle writer ---


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def encode_header(num_shards: int = 1, big_endian: bool = False, producer: int = 1, min_consumer: int = 0,
                  bad_consumers: Sequence[int] = ()) -> bytes:  # fmt: skip
    version = f_varint(1, producer) + f_varint(2, min_consumer) + b"".join(f_varint(3, c) for c in bad_consumers)
    return f_varint(1, num_shards) + f_varint(2, int(big_endian)) + f_bytes(3, version)


def encode_entry(dtype: int, shape: Sequence[int], shard_id: int = 0, offset: int = 0, size: int = 0,
                 crc: int = 0, slices: Iterable[Sequence[tuple[int, int]]] = (),
                 unknown_rank: bool = False) -> bytes:  # fmt: skip
    shape_msg = b"".join(f_bytes(2, f_varint(1, d)) for d in shape) + (f_varint(3, 1) if unknown_rank else b"")
    out = f_varint(1, dtype) + f_bytes(2, shape_msg) + f_varint(3, shard_id) + f_varint(4, offset)
    out += f_varint(5, size) + f_fixed32(6, crc)
    for extents in slices:
        ext = b""
        for start, length in extents:
            body = f_varint(1, start) + (f_varint(2, length) if length != -1 else b"")
            ext += f_bytes(1, body)
        out += f_bytes(7, ext)
    return out


def build_block(entries: Sequence[tuple[bytes, bytes]], restart_interval: int = 16) -> bytes:
    out = bytearray()
    restarts = []
    prev = b""
    for i, (key, value) in enumerate(entries):
        if i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            while shared < min(len(prev), len(key)) and prev[shared] == key[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        prev = key
    if not restarts:
        restarts = [0]
    for r in restarts:
        out += struct.pack("<I", r)
    out += struct.pack("<I", len(restarts))
    return bytes(out)


def build_table(entries: Sequence[tuple[bytes, bytes]], *, per_block: int = 1 << 30, compression: int = 0,
                compress: Callable[[bytes], bytes] = snappy_literal) -> bytes:  # fmt: skip
    """An SSTable of ``entries`` (sorted by the caller), with valid trailers."""
    out = bytearray()

    def write_block(contents: bytes, kind: int = 0) -> tuple[int, int]:
        stored = compress(contents) if kind == 1 else contents
        handle = (len(out), len(stored))
        out.extend(stored)
        out.append(kind)
        out.extend(struct.pack("<I", masked_crc(stored + bytes([kind]))))
        return handle

    index_entries = []
    for i in range(0, max(len(entries), 1), per_block):
        chunk = list(entries[i : i + per_block])
        if not chunk:
            break
        off, size = write_block(build_block(chunk), compression)
        index_entries.append((chunk[-1][0], varint(off) + varint(size)))
    meta = write_block(build_block([]))
    index = write_block(build_block(index_entries, restart_interval=1))
    footer = varint(meta[0]) + varint(meta[1]) + varint(index[0]) + varint(index[1])
    footer = footer.ljust(40, b"\0") + struct.pack("<II", MAGIC & 0xFFFFFFFF, MAGIC >> 32)
    return bytes(out + footer)


def real_entries(prefix: str) -> dict[bytes, dict[str, Any]]:
    """The entries of a real index, as fields the writer takes (keyed by raw key bytes)."""
    reader = _core.BundleReader(prefix)
    out = {}
    for key in reader.keys(include_slices=True):
        e = reader.entry(key)
        out[key.encode("utf-8", "surrogateescape")] = dict(
            dtype=e.dtype, shape=list(e.shape), shard_id=e.shard_id, offset=e.offset, size=e.size, crc=e.crc32c,
            slices=[list(ext) for ext in e.slices],
        )  # fmt: skip
    return out


def write_index(prefix: Path | str, entries: dict[bytes, dict[str, Any]], *, header: bytes | None = None,
                raw: dict[bytes, bytes] | None = None, **table_options: Any) -> None:  # fmt: skip
    """Writes PREFIX.index holding a header and ``entries`` (re-encoded), plus ``raw`` values."""
    values = {k: encode_entry(**v) for k, v in entries.items()}
    values.update(raw or {})
    items = [(b"", header if header is not None else encode_header()), *sorted(values.items())]
    Path(f"{prefix}.index").write_bytes(build_table(items, **table_options))


def copy_checkpoint(prefix: str, dest: Path) -> str:
    """Copies PREFIX.index and PREFIX.data-* into dest; returns the new prefix."""
    dest.mkdir(parents=True, exist_ok=True)
    src = Path(prefix)
    for f in src.parent.glob(src.name + ".*"):
        shutil.copy(f, dest / f.name)
    return str(dest / src.name)


@pytest.fixture
def tf1(tf_checkpoints: Checkpoints, tmp_path: Path) -> str:  # noqa: F811
    """A private copy of the TF1 checkpoint (dense/kernel, strings, partitioned variables)."""
    return copy_checkpoint(tf_checkpoints.prefix("tf1_newest"), tmp_path / "tf1")


def assert_names(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def read_everything(prefix: str) -> None:
    with open_checkpoint(prefix) as ckpt:
        for key in ckpt.keys():
            ckpt.get_tensor(key, verify=True)


# ------------------------------------------------------- the index file ---


def test_writer_round_trips_a_real_index(tf1: str, tmp_path: Path) -> None:
    with open_checkpoint(tf1) as ckpt:
        before = {k: ckpt[k] for k in ckpt.keys()}
    write_index(tf1, real_entries(tf1), per_block=3)  # several data blocks, same data file
    with open_checkpoint(tf1) as ckpt:
        assert ckpt.keys() == sorted(before)
        assert ckpt.verify() == []
        for key, value in before.items():
            got = ckpt[key]
            assert got.dtype == value.dtype and got.shape == value.shape
            assert [bytes(x) for x in got.ravel()] == [bytes(x) for x in value.ravel()] if got.dtype == object \
                else got.tobytes() == value.tobytes()


@pytest.mark.parametrize("keep", [0, 1, 20, 47, 48, "half", -1])
def test_truncated_index(tf1: str, keep: Any) -> None:
    index = Path(tf1 + ".index")
    data = index.read_bytes()
    n = len(data) // 2 if keep == "half" else (len(data) + keep if keep < 0 else keep)
    index.write_bytes(data[:n])
    with pytest.raises(errors.DataLossError) as info:
        open_checkpoint(tf1)
    assert_names(str(info.value), str(index))
    assert "truncated" in str(info.value)


def test_wrong_magic_number(tf1: str) -> None:
    index = Path(tf1 + ".index")
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF
    index.write_bytes(bytes(data))
    with pytest.raises(errors.DataLossError, match="bad magic number") as info:
        open_checkpoint(tf1)
    assert_names(str(info.value), str(index))


def test_bad_block_checksum(tf1: str) -> None:
    index = Path(tf1 + ".index")
    data = bytearray(index.read_bytes())
    data[12] ^= 0x01  # inside the first data block
    index.write_bytes(bytes(data))
    with pytest.raises(errors.DataLossError, match="checksum does not match") as info:
        open_checkpoint(tf1)
    assert_names(str(info.value), str(index), "data block at offset 0")


def test_bad_checksum_in_block_trailer(tmp_path: Path) -> None:
    prefix = str(tmp_path / "t")
    write_index(prefix, {b"x": dict(dtype=1, shape=[], size=4)})
    index = Path(prefix + ".index")
    data = bytearray(index.read_bytes())
    data[len(data) - 48 - 1] ^= 0x40  # the index block's CRC, just before the footer
    index.write_bytes(bytes(data))
    with pytest.raises(errors.DataLossError, match=r"index block .*checksum does not match"):
        open_checkpoint(prefix)


def test_garbage_index(tmp_path: Path) -> None:
    prefix = tmp_path / "junk"
    Path(f"{prefix}.index").write_bytes(np.random.default_rng(0).integers(0, 256, 500, np.uint8).tobytes())
    with pytest.raises(errors.DataLossError, match="magic"):
        open_checkpoint(prefix)


def test_missing_header(tmp_path: Path) -> None:
    prefix = tmp_path / "t"
    Path(f"{prefix}.index").write_bytes(build_table([(b"x", encode_entry(1, []))]))
    with pytest.raises(errors.DataLossError, match="no header entry"):
        open_checkpoint(prefix)


def test_malformed_header_and_entry(tmp_path: Path) -> None:
    prefix = tmp_path / "t"
    write_index(prefix, {}, header=b"\x0a\xff")  # a length running past the end
    with pytest.raises(errors.DataLossError, match="malformed header"):
        open_checkpoint(prefix)
    write_index(prefix, {}, raw={b"layer/kernel": b"\x12\x05\x10"})
    with pytest.raises(errors.DataLossError) as info:
        open_checkpoint(prefix)
    assert_names(str(info.value), '"layer/kernel"', f"{prefix}.index", "malformed")
    write_index(prefix, {}, header=encode_header() + f_varint(2, 7))
    with pytest.raises(errors.DataLossError, match="endianness"):
        open_checkpoint(prefix)


def test_keys_out_of_order(tmp_path: Path) -> None:
    prefix = tmp_path / "t"
    items = [(b"", encode_header()), (b"b", encode_entry(1, [])), (b"a", encode_entry(1, []))]
    Path(f"{prefix}.index").write_bytes(build_table(items))
    with pytest.raises(errors.DataLossError, match="out of order"):
        open_checkpoint(prefix)


def test_newer_bundle_versions_are_refused(tmp_path: Path) -> None:
    prefix = tmp_path / "t"
    write_index(prefix, {}, header=encode_header(min_consumer=2))
    with pytest.raises(errors.InvalidArgumentError, match="newer TensorFlow"):
        open_checkpoint(prefix)
    write_index(prefix, {}, header=encode_header(bad_consumers=[1]))
    with pytest.raises(errors.InvalidArgumentError, match="disallows readers of version 1"):
        open_checkpoint(prefix)


def test_snappy_compressed_index(tf1: str) -> None:
    with open_checkpoint(tf1) as ckpt:
        before = {k: ckpt[k] for k in ckpt.keys() if ckpt.spec(k).dtype != object}
    write_index(tf1, real_entries(tf1), per_block=4, compression=1)
    with open_checkpoint(tf1) as ckpt:
        for key, value in before.items():
            np.testing.assert_array_equal(ckpt[key], value)


def test_malformed_snappy_block(tf1: str) -> None:
    def bad(data: bytes) -> bytes:  # claims one byte more than it holds
        good = snappy_literal(data)
        return varint(len(data) + 1) + good[len(varint(len(data))) :]

    write_index(tf1, real_entries(tf1), compression=1, compress=bad)
    with pytest.raises(errors.DataLossError, match="snappy compression is malformed"):
        open_checkpoint(tf1)


def test_unknown_block_compression(tf1: str) -> None:
    write_index(tf1, real_entries(tf1), compression=2, compress=lambda b: b)
    with pytest.raises(errors.UnimplementedError, match="compression type 2"):
        open_checkpoint(tf1)


# -------------------------------------------------------- entries and data ---


def test_entry_pointing_past_the_end_of_its_shard(tf1: str) -> None:
    entries = real_entries(tf1)
    entries[b"dense/kernel"]["offset"] = 10**6
    write_index(tf1, entries)
    with open_checkpoint(tf1) as ckpt:
        np.testing.assert_array_equal(ckpt["counts"], np.arange(5))  # the others still read
        with pytest.raises(errors.DataLossError) as info:
            ckpt["dense/kernel"]
        assert_names(str(info.value), '"dense/kernel"', tf1 + ".index", tf1 + ".data-00000-of-00001",
                     "points past the end")  # fmt: skip
        problems = dict(ckpt.verify())
        assert list(problems) == ["dense/kernel"]


def test_truncated_data_shard(tf1: str) -> None:
    shard = Path(tf1 + ".data-00000-of-00001")
    with open_checkpoint(tf1) as ckpt:
        last = max(ckpt.keys(), key=lambda k: -1 if ckpt.spec(k).partitioned else ckpt.spec(k).offset)
        first = min(ckpt.keys(), key=lambda k: 1 << 60 if ckpt.spec(k).partitioned else ckpt.spec(k).offset)
    shard.write_bytes(shard.read_bytes()[:-1])
    with open_checkpoint(tf1) as ckpt:
        ckpt[first]
        with pytest.raises(errors.DataLossError, match="points past the end of its data shard") as info:
            ckpt[last]
        assert_names(str(info.value), f'"{last}"', str(shard))


def test_missing_shard_file(tf1: str) -> None:
    shard = Path(tf1 + ".data-00000-of-00001")
    shard.unlink()
    with open_checkpoint(tf1) as ckpt:  # opening reads only the index
        assert "dense/kernel" in ckpt.keys()
        ckpt.spec("dense/kernel")
        with pytest.raises(errors.NotFoundError) as info:
            ckpt["dense/kernel"]
        assert isinstance(info.value, FileNotFoundError)
        assert_names(str(info.value), '"dense/kernel"', str(shard), "missing")
        assert len(ckpt.verify()) == len(ckpt.keys())


def test_size_not_matching_dtype_and_shape(tf1: str) -> None:
    entries = real_entries(tf1)
    entries[b"dense/kernel"]["size"] -= 4
    entries[b"counts"]["shape"] = [6]
    write_index(tf1, entries)
    with open_checkpoint(tf1) as ckpt:
        with pytest.raises(errors.DataLossError, match="does not match its dtype DT_FLOAT and shape") as info:
            ckpt["dense/kernel"]
        assert_names(str(info.value), '"dense/kernel"', tf1 + ".index", "92 bytes", "24 elements x 4 bytes")
        with pytest.raises(errors.DataLossError, match="does not match its dtype DT_INT64"):
            ckpt.get_tensor("counts")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"shard_id": 3}, "names data shard 3 but the index has 1 shard"),
        ({"shard_id": -1}, "names data shard -1"),
        ({"offset": -8}, "negative offset or size"),
        ({"shape": [-6, 4]}, "negative dimension"),
        ({"shape": [1 << 40, 1 << 40]}, "element count overflows"),
        ({"unknown_rank": True}, "unknown rank"),
        ({"dtype": 99}, "has dtype DT_99"),
    ],
)
def test_corrupt_entry_fields(tf1: str, change: dict, match: str) -> None:
    entries = real_entries(tf1)
    entries[b"dense/kernel"].update(change)
    write_index(tf1, entries)
    with open_checkpoint(tf1) as ckpt:
        ckpt.spec("dense/kernel")  # the index itself is readable
        with pytest.raises(errors.Error, match=match) as info:
            ckpt["dense/kernel"]
        assert isinstance(info.value, (errors.DataLossError, errors.UnimplementedError))
        assert_names(str(info.value), '"dense/kernel"', tf1 + ".index")


def test_data_checksum(tf1: str, capsys: Any) -> None:
    shard = Path(tf1 + ".data-00000-of-00001")
    with open_checkpoint(tf1) as ckpt:
        offset = ckpt.spec("dense/kernel").offset
        good = np.array(ckpt["dense/kernel"])
    data = bytearray(shard.read_bytes())
    data[offset + 5] ^= 0x10
    shard.write_bytes(bytes(data))
    with open_checkpoint(tf1) as ckpt:
        assert not np.array_equal(ckpt["dense/kernel"], good)  # unverified reads are views of the bytes
        with pytest.raises(errors.DataLossError, match="checksum does not match") as info:
            ckpt.get_tensor("dense/kernel", verify=True)
        assert_names(str(info.value), '"dense/kernel"', str(shard))
        assert [k for k, _ in ckpt.verify()] == ["dense/kernel"]
    assert vars_main([tf1, "--verify"]) == 1
    err = capsys.readouterr().err
    assert "CORRUPT dense/kernel:" in err and "1 of 9 variables failed" in err


def test_corrupt_string_lengths(tf1: str) -> None:
    shard = Path(tf1 + ".data-00000-of-00001")
    with open_checkpoint(tf1) as ckpt:
        offset = ckpt.spec("words").offset
    data = bytearray(shard.read_bytes())
    data[offset] ^= 0x01  # the first string's length
    shard.write_bytes(bytes(data))
    with open_checkpoint(tf1) as ckpt:
        with pytest.raises(errors.DataLossError, match="string lengths whose checksum does not match") as info:
            ckpt["words"]
        assert_names(str(info.value), '"words"')


def test_string_entry_smaller_than_its_elements(tf1: str) -> None:
    entries = real_entries(tf1)
    entries[b"words"]["shape"] = [10**12]
    write_index(tf1, entries)
    with open_checkpoint(tf1) as ckpt, pytest.raises(errors.DataLossError, match="string elements in only"):
        ckpt["words"]


def test_partitioned_variable_with_a_missing_slice(tf1: str) -> None:
    entries = real_entries(tf1)
    slice_keys = [k for k in entries if k.startswith(b"\0embedding\0\x01")]
    del entries[slice_keys[0]]
    write_index(tf1, entries)
    with open_checkpoint(tf1) as ckpt:
        with pytest.raises(errors.DataLossError, match="lists a slice that the index does not hold") as info:
            ckpt["embedding"]
        assert_names(str(info.value), '"embedding"')
        assert [k for k, _ in ckpt.verify()] == ["embedding"]


def test_partitioned_variable_with_a_slice_outside_its_shape(tf1: str) -> None:
    entries = real_entries(tf1)
    entries[b"embedding"]["shape"] = [5, 3]
    write_index(tf1, entries)
    with open_checkpoint(tf1) as ckpt, pytest.raises(errors.DataLossError, match="slice outside its shape"):
        ckpt.reassemble("embedding")


def test_variant_tensors_are_listed_but_not_read(tmp_path: Path) -> None:
    prefix = tmp_path / "t"
    Path(f"{prefix}.data-00000-of-00001").write_bytes(b"\0" * 16)
    write_index(prefix, {b"iterator": dict(dtype=21, shape=[], size=16)})
    with open_checkpoint(prefix) as ckpt:
        spec = ckpt.spec("iterator")
        assert spec.dtype is None and spec.tf_dtype == "DT_VARIANT"
        with pytest.raises(errors.UnimplementedError, match="DT_VARIANT"):
            ckpt["iterator"]
        assert ckpt.verify() == []  # bounds only


def _be_string_payload(items: Sequence[bytes]) -> tuple[bytes, int]:
    """A string tensor as a big-endian writer stores it, and its masked entry CRC."""
    lengths_be = b"".join(struct.pack(">I", len(s)) for s in items)
    stored_crc = struct.pack(">I", mask(_core.crc32c(lengths_be)))
    payload = b"".join(varint(len(s)) for s in items) + stored_crc + b"".join(items)
    # The entry's CRC covers the lengths as uint32s, the stored length CRC and the bytes.
    return payload, masked_crc(lengths_be + stored_crc + b"".join(items))


def test_big_endian_bundle_is_swapped(tmp_path: Path) -> None:
    import ml_dtypes

    values = {
        b"f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 3,
        b"i64": np.array([1, -2, 1 << 40], dtype=np.int64),
        b"c64": np.array([1 + 2j, -3.5j], dtype=np.complex64),
        b"f16": np.array([0.5, -2.25], dtype=np.float16),
        b"bf16": np.array([1.5, -4], dtype=ml_dtypes.bfloat16),
        b"u8": np.array([1, 2, 255], dtype=np.uint8),
    }
    dtypes = {b"f32": 1, b"i64": 9, b"c64": 8, b"f16": 19, b"bf16": 14, b"u8": 4}
    data = bytearray()
    entries = {}
    for key, value in values.items():
        if value.dtype.kind == "c":
            raw = value.view(np.float32).astype(">f4").tobytes()
        elif value.dtype == ml_dtypes.bfloat16:
            raw = value.view(np.uint16).astype(">u2").tobytes()
        else:
            raw = value.astype(value.dtype.newbyteorder(">")).tobytes()
        entries[key] = dict(dtype=dtypes[key], shape=list(value.shape), offset=len(data), size=len(raw),
                            crc=masked_crc(raw))  # fmt: skip
        data += raw
    strings = [b"big", b"", b"endian" * 10]
    payload, crc = _be_string_payload(strings)
    entries[b"s"] = dict(dtype=7, shape=[3], offset=len(data), size=len(payload), crc=crc)
    data += payload
    prefix = tmp_path / "be"
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    write_index(prefix, entries, header=encode_header(big_endian=True))
    with open_checkpoint(prefix) as ckpt:
        assert ckpt.big_endian
        assert ckpt.verify() == []
        for key, value in values.items():
            got = ckpt.get_tensor(key.decode(), verify=True)
            assert got.dtype == value.dtype and got.tobytes() == value.tobytes(), key
            assert got.flags.writeable  # a swapped copy
        assert list(ckpt["s"]) == strings


def test_random_corruption_never_crashes(tf1: str) -> None:
    """Flipped, inserted and removed bytes: a tfbundle error or a good read, nothing else."""
    index = Path(tf1 + ".index")
    original = index.read_bytes()
    rng = np.random.default_rng(2024)
    outcomes = {"ok": 0, "error": 0}
    for trial in range(300):
        data = bytearray(original)
        for _ in range(int(rng.integers(1, 4))):
            where = int(rng.integers(0, len(data)))
            kind = trial % 3
            if kind == 0:
                data[where] ^= int(rng.integers(1, 256))
            elif kind == 1:
                data.insert(where, int(rng.integers(0, 256)))
            else:
                del data[where]
        index.write_bytes(bytes(data))
        try:
            read_everything(tf1)
            outcomes["ok"] += 1
        except errors.Error:
            outcomes["error"] += 1
    assert outcomes["error"] > 250


def test_random_entry_values_never_crash(tf1: str) -> None:
    """Mutated BundleEntryProto bytes under valid block checksums reach the entry parser.

    It refuses them with a tfbundle error that names the variable, or reads them (a
    mutation may land where it changes nothing that is checked).
    """
    entries = real_entries(tf1)
    encoded = {k: encode_entry(**v) for k, v in entries.items()}
    rng = np.random.default_rng(7)
    keys = sorted(encoded)
    refused = 0
    for _trial in range(300):
        raw = dict(encoded)
        key = keys[int(rng.integers(0, len(keys)))]
        value = bytearray(raw[key])
        for _ in range(int(rng.integers(1, 4))):
            value[int(rng.integers(0, len(value)))] = int(rng.integers(0, 256))
        raw[key] = bytes(value)
        write_index(tf1, {}, raw=raw)
        variable = key.split(b"\0")[1] if key.startswith(b"\0") else key  # slice: \0name\0extents
        try:
            read_everything(tf1)
        except errors.Error as e:
            message = str(e)
        else:
            continue
        assert f'"{variable.decode()}"' in message, (key, message)
        refused += 1
    assert refused > 250


# ------------------------------------------------------------- paths ---


def test_paths_that_are_not_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(errors.NotFoundError, match="does not exist") as info:
        open_checkpoint(tmp_path / "nowhere")
    assert isinstance(info.value, FileNotFoundError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.NotFoundError, match="no checkpoint in"):
        open_checkpoint(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(errors.NotFoundError, match="is not a checkpoint"):
        open_checkpoint(tmp_path / "notes.txt")


def test_folder_with_several_checkpoints(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_index(tmp_path / name, {})
    with pytest.raises(errors.InvalidArgumentError, match="several checkpoints"):
        open_checkpoint(tmp_path)
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "b"\n')
    with open_checkpoint(tmp_path) as ckpt:
        assert ckpt.path == str(tmp_path / "b")


def test_state_file_naming_a_missing_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-9"\n')
    with pytest.raises(errors.NotFoundError, match=r"names checkpoint 'model.ckpt-9'"):
        open_checkpoint(tmp_path)
    (tmp_path / "checkpoint").write_text("all_model_checkpoint_paths: 3\n")
    with pytest.raises(errors.DataLossError, match="not a valid text-format CheckpointState"):
        open_checkpoint(tmp_path)
    (tmp_path / "checkpoint").write_text('all_model_checkpoint_paths: "x"\n')
    with pytest.raises(errors.DataLossError, match="names no model_checkpoint_path"):
        open_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ('model_checkpoint_path = "m"\n', errors.DataLossError, "not a valid text-format CheckpointState"),
        ("model_checkpoint_path: m\n", errors.DataLossError, "not a valid text-format CheckpointState"),
        ('all_model_checkpoint_paths: "m"\n', errors.DataLossError, "names no model_checkpoint_path"),
        # a scalar given twice: refused, as protobuf's text parser (and so TensorFlow) refuses it
        ('model_checkpoint_path: "a"\nmodel_checkpoint_path: "m"\n', errors.DataLossError, "multiple"),
        ('# a comment\nmodel_checkpoint_path: "m" last_preserved_timestamp: 1.5\n', errors.NotFoundError, "'m'"),
    ],
)
def test_one_state_file_reader_for_every_loader(tmp_path: Path, text: str, error: type, match: str) -> None:
    """open_checkpoint, latest_checkpoint and load_checkpoint_graph read `checkpoint` files alike."""
    (tmp_path / "checkpoint").write_text(text)
    for read in (open_checkpoint, latest_checkpoint):
        with pytest.raises(error, match=match):
            read(tmp_path)


def test_index_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "p.index").mkdir()
    with pytest.raises(errors.Error):
        open_checkpoint(tmp_path / "p")
    with pytest.raises(errors.FailedPreconditionError, match="is a folder"):
        _core.BundleReader(str(tmp_path / "p"))


def test_closed_reader(tf1: str) -> None:
    ckpt = open_checkpoint(tf1)
    view = ckpt["dense/kernel"]
    ckpt.close()
    ckpt.close()  # closing twice is fine
    for call in (ckpt.keys, lambda: ckpt["dense/kernel"], lambda: ckpt.spec("counts"), ckpt.verify,
                 lambda: "counts" in ckpt, lambda: len(ckpt), lambda: list(ckpt.items()),
                 lambda: ckpt.reassemble("embedding"), lambda: ckpt.num_shards):  # fmt: skip
        with pytest.raises(errors.ClosedError, match="closed"):
            call()
    assert view.sum() == view.sum()  # still readable


def test_cli_reports_a_corrupt_index(tf1: str, capsys: Any) -> None:
    index = Path(tf1 + ".index")
    index.write_bytes(index.read_bytes()[:-3])
    assert vars_main([tf1]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfbundle vars: error: ") and str(index) in err


def test_fuzz_target_runs_clean() -> None:
    """A short run of fuzz/fuzz_index.py (fuzz/README.md gives longer ones): no finding."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (pip install atheris): it runs the fuzz target")
    repo = Path(__file__).resolve().parents[1]
    env = tfbundle_env()
    proc = subprocess.run(
        [sys.executable, str(repo / "fuzz" / "fuzz_index.py"), "-atheris_runs=3000", "-seed=1"],
        capture_output=True, text=True, env=env, timeout=300, check=False, cwd=repo,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 3000 " in proc.stderr
