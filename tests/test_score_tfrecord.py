"""TFRecord framing (tfbundle._readers.tfrecord): plain and GZIP, CRC-checked, streamed."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import tfbundle
from tfbundle._readers.tfrecord import (
    detect_compression,
    iter_records,
    write_records,
)

RECORDS = [b"", b"a", b"hello" * 50, bytes(range(256)) * 9000]  # the last spans 1 MiB pieces


@pytest.mark.parametrize("compression", [None, "GZIP"])
def test_round_trip(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / "r.tfrecord"
    assert write_records(path, RECORDS, compression=compression) == len(RECORDS)
    assert detect_compression(path) == compression
    assert list(iter_records(path)) == RECORDS  # auto
    assert list(iter_records(path, compression=compression)) == RECORDS
    assert list(iter_records(path, compression=compression, check_crc=False)) == RECORDS


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.tfrecord").write_bytes(b"")
    assert list(iter_records(tmp_path / "e.tfrecord")) == []


def test_plain_file_starting_like_gzip_is_plain(tmp_path: Path) -> None:
    record = b"x" * 0x8B1F  # its length's first bytes are gzip's magic
    write_records(tmp_path / "r", [record])
    assert (tmp_path / "r").read_bytes()[:2] == b"\x1f\x8b"
    assert list(iter_records(tmp_path / "r")) == [record]


def test_corrupt_data_names_record_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "r.tfrecord"
    write_records(path, [b"one", b"two", b"three"])
    data = bytearray(path.read_bytes())
    second = 12 + 3 + 4  # the second record's offset
    data[second + 12] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(tfbundle.DataLossError, match=r"record 1 at byte 19: .*checksum") as e:
        list(iter_records(path))
    assert (e.value.path, e.value.record, e.value.offset) == (str(path), 1, 19)
    assert len(list(iter_records(path, check_crc=False))) == 3


def test_corrupt_length(tmp_path: Path) -> None:
    path = tmp_path / "r.tfrecord"
    write_records(path, [b"one", b"two"])
    data = bytearray(path.read_bytes())
    data[19] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(
        tfbundle.DataLossError, match=r"record 1 at byte 19: corrupted record length"
    ):
        list(iter_records(path))


def _until_error(records, got: list[bytes]) -> list[bytes]:
    """Appends the records to ``got`` as they come (what came before the error stays there)."""
    for r in records:
        got.append(r)  # noqa: PERF402 - one at a time, up to the error
    return []


@pytest.mark.parametrize("cut", [1, 5, 13, 20])
def test_truncated(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "r.tfrecord"
    write_records(path, [b"one", b"twenty"])
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    got: list[bytes] = []
    with pytest.raises(tfbundle.DataLossError, match=r"r.tfrecord: record 1 at byte 19: truncated"):
        got.extend(_until_error(iter_records(path), got))
    assert got == [b"one"]


def test_header_claiming_a_huge_length(tmp_path: Path) -> None:
    """A header whose length checksum is right but whose length no file holds (2**40 bytes, and
    one so large it would overflow a sum) reads the file in bounded pieces and ends truncated."""
    from tfbundle._readers.tfrecord import RecordError, masked_crc32c

    for claimed in (1 << 40, (1 << 64) - 4):
        path = tmp_path / "huge.tfrecord"
        write_records(path, [b"one"])
        length = claimed.to_bytes(8, "little")
        path.write_bytes(path.read_bytes() + length + masked_crc32c(length).to_bytes(4, "little") + b"tail")
        got: list[bytes] = []
        with pytest.raises(RecordError, match=r"record 1 at byte 19: truncated record") as e:
            got.extend(_until_error(iter_records(path), got))
        assert got == [b"one"]
        assert (e.value.index, e.value.offset, e.value.available) == (1, 19, 0)


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "r.tfrecord.gz"
    write_records(path, [bytes([i % 251]) * 1000 for i in range(3000)], compression="GZIP")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    got: list[bytes] = []
    with pytest.raises(
        tfbundle.DataLossError, match=r"uncompressed byte \d+: corrupt or truncated gzip"
    ):
        _until_error(iter_records(path), got)
    assert got


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(tfbundle.NotFoundError):
        list(iter_records(tmp_path / "missing"))
    (tmp_path / "x").write_bytes(b"")
    with pytest.raises(tfbundle.InvalidArgumentError, match="compression"):
        list(iter_records(tmp_path / "x", compression="ZSTD"))
    with pytest.raises(tfbundle.InvalidArgumentError, match="must be 'GZIP' or None"):
        write_records(tmp_path / "y", [b"a"], compression="auto")


def test_gzip_written_by_python_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "p"
    write_records(plain, RECORDS[:3])
    with gzip.open(tmp_path / "g", "wb") as f:
        f.write(plain.read_bytes())
    assert list(iter_records(tmp_path / "g")) == RECORDS[:3]


def test_tensorflow_files(tf_models, tmp_path: Path) -> None:
    """Files written by tf.io.TFRecordWriter, plain and GZIP, read the same."""
    made = tf_models("scoring")
    plain = list(iter_records(made / "examples.tfrecord"))
    assert len(plain) == 1000
    assert list(iter_records(made / "examples.tfrecord.gz")) == plain
    assert detect_compression(made / "examples.tfrecord.gz") == "GZIP"
    assert tfbundle.tf_example.decode(plain[3])["id"] == [b"r3"]
    # The framing write_records writes is TensorFlow's, byte for byte.
    write_records(tmp_path / "same", plain)
    assert (tmp_path / "same").read_bytes() == (made / "examples.tfrecord").read_bytes()


def test_warmup_reads_with_this_reader(tmp_path: Path) -> None:
    """Warmup reads the framing with this reader and words its errors from the error's fields."""
    import pickle

    from tfbundle._readers.tfrecord import RecordError
    from tfbundle._runtime import warmup

    path = tmp_path / "r.tfrecord"
    write_records(path, RECORDS)
    assert list(warmup.read_tfrecords(path)) == RECORDS
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(RecordError) as e:
        list(iter_records(path))
    last = sum(12 + len(r) + 4 for r in RECORDS[:-1])
    fields = (e.value.path, e.value.index, e.value.offset, e.value.what)
    assert fields == (str(path), 3, last, "truncated record")
    assert (e.value.length, e.value.available) == (len(RECORDS[-1]), len(RECORDS[-1]) - 5)
    again = pickle.loads(pickle.dumps(e.value))
    assert (again.index, again.what, again.length, str(again)) == (
        3,
        "truncated record",
        e.value.length,
        str(e.value),
    )
    with pytest.raises(
        tfbundle.DataLossError, match=rf"truncated record at byte {last} \(record 4 says"
    ) as w:
        list(warmup.read_tfrecords(path))
    assert not isinstance(w.value, RecordError)
