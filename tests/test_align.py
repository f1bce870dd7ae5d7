"""``tfbundle.align_saved_model`` / ``tfbundle align``: a SavedModel copy with aligned tensors.

The aligned copy of each model of tests/makers/object_graph.py and tests/makers/mmap_restore.py
must hold the same tensors (keys, dtypes, shapes, values, checksums; every other field of each
index entry unchanged), each starting at a multiple of 64 in one data shard; TensorFlow's C
loader (``restore="tf"``) must restore it with the outputs of the source, and the mapped restore
must then hand every numeric variable to TensorFlow without a copy. Bundles written here with
the fuzz target's writer cover what TensorFlow's models do not: an index of several data
blocks (read back by TensorFlow in a subprocess), a big-endian bundle, unknown entry fields.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import _factory
import tfbundle
from _util import assert_outputs_match, read_varint, tfbundle_env
from test_object_graph_restore import CASES, read_npz
from tfbundle import _core
from tfbundle.cli import main as cli_main
from tfbundle.errors import (
    AlreadyExistsError,
    DataLossError,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
import bundle_writer  # the fuzz target's TensorBundle writer

OBJECT_GRAPH_MODELS = sorted({model for model, _ in CASES})
MMAP_MODELS = ["tf1_resource", "tf2_module", "dtype_float", "dtype_int"]
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

#: Tensors the mapped restore copies whatever their alignment, by model: string variables, a
#: variable the graph gathers from (tf1_resource's c_embedding), a TF2 variable stored in slices
#: (reassembled: sharded's four split variables). The TF1 partitioned variables are fed slice by
#: slice, each mapped.
COPIED_ANYWAY = {"tf_module": 1, "sharded": 4, "tf1_resource": 2}

MMAP_INPUTS = {
    "tf1_resource": {
        "x": np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]], np.float32),
        "ids": np.array([3, 8], np.int64),
    },
    "tf2_module": {"x": np.arange(5, dtype=np.float32)},
    "dtype_float": {"x": np.array([1.0, 2.0], np.float32)},
    "dtype_int": {"x": np.array([1, 2], np.int32)},
}


@pytest.fixture(scope="module")
def sources(tf_models: Callable[[str], Path]) -> dict[str, Path]:
    """Every model's SavedModel folder, by name."""
    made, zoo = tf_models("object_graph"), tf_models("mmap_restore")
    out = {name: made / name / "model" for name in OBJECT_GRAPH_MODELS}
    out.update({name: zoo / name for name in MMAP_MODELS})
    return out


@pytest.fixture(scope="module")
def aligned(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The aligned copy of every model (made once), by name."""
    root = tmp_path_factory.mktemp("aligned")
    out = {}
    for name, src in sources.items():
        tfbundle.align_saved_model(src, root / name)
        out[name] = root / name
    return out


def prefix(folder: Path) -> str:
    return str(folder / "variables" / "variables")


def decode_fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(number, wire type, value) of each field of a serialized message, in order."""
    out: list[tuple[int, int, Any]] = []
    i = 0
    while i < len(data):
        tag, i = read_varint(data, i)
        number, kind = tag >> 3, tag & 7
        if kind == 0:
            value, i = read_varint(data, i)
            out.append((number, kind, value))
        elif kind == 2:
            n, i = read_varint(data, i)
            out.append((number, kind, data[i : i + n]))
            i += n
        elif kind in (1, 5):
            width = 8 if kind == 1 else 4
            out.append((number, kind, data[i : i + width]))
            i += width
        else:
            raise AssertionError(f"wire type {kind}")
    return out


def raw_index(prefix_path: str) -> dict[bytes, bytes]:
    return dict(_core.sstable_entries(Path(prefix_path + ".index").read_bytes()))


def data_blocks(index_file: Path) -> int:
    """How many data blocks a table has (its index block has one entry, a restart point, each)."""
    data = index_file.read_bytes()
    footer = data[-48:]
    p = 0
    for _ in range(2):  # the metaindex block's handle
        _, p = read_varint(footer, p)
    offset, p = read_varint(footer, p)
    size, p = read_varint(footer, p)
    return int(struct.unpack_from("<I", data, offset + size - 4)[0])


def assert_same_checkpoint(src: str, dst: str, alignment: int = 64) -> None:
    """Same tensors and index fields (but shard and offset); dst is one shard, all aligned."""
    a, b = _core.BundleReader(src), _core.BundleReader(dst)
    assert b.num_shards == 1
    assert (b.big_endian, b.version) == (a.big_endian, a.version)
    assert b.keys(include_slices=True) == a.keys(include_slices=True)
    assert b.verify_all() == []
    raw_a, raw_b = raw_index(src), raw_index(dst)
    assert sorted(raw_a) == sorted(raw_b)
    header_a, header_b = decode_fields(raw_a[b""]), decode_fields(raw_b[b""])
    assert [f for f in header_b if f[0] != 1] == [f for f in header_a if f[0] != 1]
    assert (1, 0, 1) in header_b
    for key in b.keys(include_slices=True):
        ea, eb = a.entry(key), b.entry(key)
        assert (eb.dtype, eb.shape, eb.size, eb.crc32c, eb.slices) == (
            ea.dtype, ea.shape, ea.size, ea.crc32c, ea.slices
        ), key  # fmt: skip
        assert eb.shard_id == 0 and eb.offset % alignment == 0, (key, eb.offset)
        if eb.size == 0:
            assert eb.offset == 0, key
        raw_key = key.encode("utf-8", "surrogateescape")
        kept = [f for f in decode_fields(raw_a[raw_key]) if f[0] not in (3, 4)]
        assert [f for f in decode_fields(raw_b[raw_key]) if f[0] not in (3, 4)] == kept, key


def tree(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    """Relative path -> (mode, bytes of a file or None for a folder), checkpoint files left out."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel == "variables/variables.index" or rel.startswith("variables/variables.data-"):
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        out[rel] = (mode, None if path.is_dir() else path.read_bytes())
    return out


# ------------------------------------------------------------- the checkpoint ---


@pytest.mark.parametrize("name", OBJECT_GRAPH_MODELS + MMAP_MODELS)
def test_same_tensors_every_one_aligned(
    sources: dict[str, Path], aligned: dict[str, Path], name: str
) -> None:
    src, dst = sources[name], aligned[name]
    assert_same_checkpoint(prefix(src), prefix(dst))
    with tfbundle.open_checkpoint(src) as before, tfbundle.open_checkpoint(dst) as after:
        assert after.keys() == before.keys()
        assert after.num_shards == 1
        assert after.verify() == []
        specs = after.specs()
        for key, spec in specs.items():
            old = before.spec(key)
            assert (spec.dtype, spec.tf_dtype, spec.shape, spec.nbytes) == (
                old.dtype, old.tf_dtype, old.shape, old.nbytes
            )  # fmt: skip
            if spec.dtype != object and not spec.partitioned:
                assert spec.offset is not None and spec.offset % 64 == 0, (key, spec.offset)
            got, want = after.get_tensor(key, verify=True), before.get_tensor(key)
            assert got.dtype == want.dtype and got.shape == want.shape, key
            if want.dtype == object:
                assert got.ravel().tolist() == want.ravel().tolist(), key
            else:
                np.testing.assert_array_equal(got, want, err_msg=key)
    # Everything but the checkpoint is copied as it is, file modes included.
    assert tree(dst) == tree(src)
    assert sorted(p.name for p in (dst / "variables").glob("variables.data-*")) == [
        "variables.data-00000-of-00001"
    ]


def test_source_had_misaligned_tensors(sources: dict[str, Path]) -> None:
    """The models are worth aligning: TensorFlow's saver left tensors misaligned in them."""
    with tfbundle.open_checkpoint(sources["keras_functional"]) as ckpt:
        offsets = [s.offset for s in ckpt.specs().values() if s.offset is not None and s.nbytes]
    assert any(o % 64 for o in offsets)


# --------------------------------------------------------------- TensorFlow ---


@pytest.mark.parametrize("restore", ["tf", "mmap"])
@pytest.mark.parametrize(("model", "signature"), CASES)
def test_tensorflow_restores_the_copy(
    tf_models: Callable[[str], Path],
    aligned: dict[str, Path],
    model: str,
    signature: str,
    restore: str,
) -> None:
    """The aligned copy gives the outputs of TF2's Python loader on the source."""
    made = tf_models("object_graph")
    inputs = read_npz(made / model / "inputs.npz")[signature]
    expected = read_npz(made / model / "expected.npz")[signature]
    with tfbundle.load(aligned[model], restore=restore) as loaded:
        got = loaded.signatures[signature](**inputs)
    assert_outputs_match(got, expected, f"aligned {model}/{signature} (restore={restore})")


@pytest.mark.parametrize("name", MMAP_MODELS)
def test_tensorflow_restores_the_copy_tf1(
    sources: dict[str, Path], aligned: dict[str, Path], name: str
) -> None:
    with tfbundle.load(sources[name]) as reference:
        expected = reference(**MMAP_INPUTS[name])
    for restore in ("tf", "mmap"):
        with tfbundle.load(aligned[name], restore=restore) as model:
            got = model(**MMAP_INPUTS[name])
        assert sorted(got) == sorted(expected)
        for key in expected:
            np.testing.assert_array_equal(
                got[key], expected[key], err_msg=f"{name} {key} ({restore})"
            )


@pytest.mark.parametrize("name", OBJECT_GRAPH_MODELS + MMAP_MODELS)
def test_mapped_restore_copies_no_numeric_tensor(
    sources: dict[str, Path], aligned: dict[str, Path], name: str
) -> None:
    """restore="mmap" of the copy maps every numeric variable; only strings (and the
    COPIED_ANYWAY cases) are copied, where the source copies every misaligned one."""
    with tfbundle.load(sources[name], restore="mmap") as model:
        before = model.restore_stats
    with tfbundle.load(aligned[name], restore="mmap") as model:
        after = model.restore_stats
    assert before is not None and after is not None
    assert after.tensors == before.tensors > 0
    assert after.zero_copy_tensors + after.copied_tensors == after.tensors
    with tfbundle.open_checkpoint(aligned[name]) as ckpt:
        strings = [
            k for k, s in ckpt.specs().items() if s.dtype == object and k != OBJECT_GRAPH_KEY
        ]
    if name in COPIED_ANYWAY:
        assert after.copied_tensors == COPIED_ANYWAY[name], after
    else:
        assert after.copied_tensors == len(strings), after
        assert after.zero_copy_tensors == after.tensors - len(strings), after
    assert after.zero_copy_tensors >= before.zero_copy_tensors
    if before.copied_tensors > after.copied_tensors:
        assert after.zero_copy_bytes > before.zero_copy_bytes


def test_keras_functional_figures(sources: dict[str, Path], aligned: dict[str, Path]) -> None:
    """The case the command exists for: no variable of the source is mapped, all of the copy's."""
    with tfbundle.load(sources["keras_functional"], restore="mmap") as model:
        before = model.restore_stats
    with tfbundle.load(aligned["keras_functional"], restore="mmap") as model:
        after = model.restore_stats
    assert before is not None and after is not None
    assert before.zero_copy_tensors == 0 and before.copied_tensors == before.tensors == 8
    assert after.zero_copy_tensors == after.tensors == 8 and after.copied_tensors == 0


# ------------------------------------------------------------------ the API ---


def test_other_alignment(sources: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "paged"
    tfbundle.align_saved_model(sources["sharded"], dst, alignment=4096)
    assert_same_checkpoint(prefix(sources["sharded"]), prefix(dst), alignment=4096)


def test_copies_every_file_with_its_mode(sources: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(sources["keras_functional"], src)
    (src / "assets.extra").mkdir()
    (src / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"\x00\x01warmup")
    (src / "assets.extra" / "tf_serving_warmup_requests").chmod(0o600)
    (src / "assets" / "vocab.txt").write_text("a\nb\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o750)
    (src / "variables" / "checkpoint").write_text('model_checkpoint_path: "variables"\n')
    dst = tmp_path / "out" / "deeper" / "dst"  # missing parents are made
    tfbundle.align_saved_model(src, dst)
    assert tree(dst) == tree(src)
    assert stat.S_IMODE((dst / "run.sh").stat().st_mode) == 0o750
    assert_same_checkpoint(prefix(src), prefix(dst))
    # Nothing else is left beside dst (the work folder was renamed).
    assert [p.name for p in dst.parent.iterdir()] == ["dst"]


def test_empty_destination_folder_is_used(sources: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "empty"
    dst.mkdir()
    tfbundle.align_saved_model(sources["tf_module"], dst)
    assert_same_checkpoint(prefix(sources["tf_module"]), prefix(dst))


def test_model_without_variables_is_copied(sources: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(sources["keras_functional"] / "saved_model.pb", src)
    (src / "assets").mkdir()
    tfbundle.align_saved_model(src, tmp_path / "dst")
    assert tree(tmp_path / "dst") == tree(src)
    assert not (tmp_path / "dst" / "variables").exists()
    # An empty variables/ folder is copied as it is.
    (src / "variables").mkdir()
    tfbundle.align_saved_model(src, tmp_path / "dst2")
    assert tree(tmp_path / "dst2") == tree(src)
    assert list((tmp_path / "dst2" / "variables").iterdir()) == []


def test_refuses_an_existing_destination(sources: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExistsError, match="exists and is not empty"):
        tfbundle.align_saved_model(sources["keras_functional"], dst)
    assert [p.name for p in dst.iterdir()] == ["keep.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(AlreadyExistsError, match="not a folder"):
        tfbundle.align_saved_model(sources["keras_functional"], tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "file"]  # no work folder left


def test_refuses_the_source_as_destination(sources: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(sources["keras_functional"], src)
    before = tree(src), Path(prefix(src) + ".index").read_bytes()
    with pytest.raises(InvalidArgumentError, match="is the source"):
        tfbundle.align_saved_model(src, src)
    (tmp_path / "sub").mkdir()
    with pytest.raises(InvalidArgumentError, match="is the source"):
        tfbundle.align_saved_model(src, tmp_path / "sub" / ".." / "src")
    (tmp_path / "link").symlink_to(src)
    with pytest.raises(InvalidArgumentError, match="is the source"):
        tfbundle.align_saved_model(src, tmp_path / "link")
    with pytest.raises(InvalidArgumentError, match="inside the source"):
        tfbundle.align_saved_model(src, src / "aligned")
    # The core refuses too: the same prefix, or another path to the same files.
    with pytest.raises(InvalidArgumentError, match="over its source"):
        _core.write_aligned_bundle(prefix(src), prefix(src))
    with pytest.raises(InvalidArgumentError, match="one of the source's files"):
        _core.write_aligned_bundle(prefix(src), str(tmp_path / "link" / "variables" / "variables"))
    assert (tree(src), Path(prefix(src) + ".index").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "src", "sub"]


@pytest.mark.parametrize("alignment", [0, -64, 3, 48, 100, 1 << 22])
def test_refuses_a_bad_alignment(sources: dict[str, Path], tmp_path: Path, alignment: int) -> None:
    with pytest.raises(InvalidArgumentError, match="power of two"):
        tfbundle.align_saved_model(
            sources["keras_functional"], tmp_path / "dst", alignment=alignment
        )
    assert not (tmp_path / "dst").exists()
    if alignment >= 0:
        (tmp_path / "v").mkdir(exist_ok=True)
        with pytest.raises(InvalidArgumentError, match="power of two"):
            _core.write_aligned_bundle(
                prefix(sources["keras_functional"]), str(tmp_path / "v" / "v"), alignment
            )
        assert list((tmp_path / "v").iterdir()) == []


def test_alignment_may_be_a_numpy_integer(sources: dict[str, Path], tmp_path: Path) -> None:
    tfbundle.align_saved_model(sources["tf_module"], tmp_path / "dst", alignment=np.int64(128))
    assert_same_checkpoint(prefix(sources["tf_module"]), prefix(tmp_path / "dst"), alignment=128)


@pytest.mark.parametrize("alignment", [64.0, "64", True, None])
def test_refuses_an_alignment_that_is_not_an_int(
    sources: dict[str, Path], tmp_path: Path, alignment: Any
) -> None:
    with pytest.raises(InvalidTypeError):
        tfbundle.align_saved_model(
            sources["keras_functional"], tmp_path / "dst", alignment=alignment
        )


def test_refuses_a_folder_that_is_not_a_saved_model(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        tfbundle.align_saved_model(tmp_path / "missing", tmp_path / "dst")
    with pytest.raises(NotFoundError, match="not a SavedModel folder"):
        tfbundle.align_saved_model(sources["keras_functional"] / "variables", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_corrupt_source_leaves_nothing(sources: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(sources["keras_functional"], src)
    with tfbundle.open_checkpoint(src) as ckpt:
        spec = max(ckpt.specs().values(), key=lambda s: s.nbytes if s.dtype != object else 0)
    shard = Path(prefix(src) + ".data-00000-of-00001")
    data = bytearray(shard.read_bytes())
    assert spec.offset is not None
    data[spec.offset + 1] ^= 0xFF
    shard.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DataLossError, match="checksum"):
        tfbundle.align_saved_model(src, out / "dst")
    assert list(out.iterdir()) == []
    # The core alone leaves no temporary file either.
    with pytest.raises(DataLossError, match="checksum"):
        _core.write_aligned_bundle(prefix(src), str(out / "v"))
    assert list(out.iterdir()) == []
    with pytest.raises(NotFoundError):
        _core.write_aligned_bundle(prefix(src), str(out / "no-such-folder" / "v"))


def test_core_replaces_an_existing_bundle(sources: dict[str, Path], tmp_path: Path) -> None:
    dst = str(tmp_path / "v")
    _core.write_aligned_bundle(prefix(sources["tf_module"]), dst)
    _core.write_aligned_bundle(prefix(sources["keras_functional"]), dst)
    assert_same_checkpoint(prefix(sources["keras_functional"]), dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.data-00000-of-00001", "v.index"]


# ---------------------------------------------------- bundles written here ---


def write_bundle(
    folder: Path, tensors: list[tuple[bytes, int, list[int], bytes]], big_endian: bool = False,
    extra: bytes = b"", per_block: int = 1 << 30,
) -> str:  # fmt: skip
    """A bundle at folder/variables/variables of (key, dtype, shape, stored bytes), packed."""
    (folder / "variables").mkdir(parents=True)
    shard = bytearray()
    entries = []
    for key, dtype, shape, raw in sorted(tensors):
        value = bundle_writer.entry(
            dtype, shape, len(shard), len(raw), bundle_writer.masked_crc(raw)
        )
        entries.append((key, value + extra))
        shard += raw
    index = bundle_writer.table(
        [(b"", bundle_writer.header(big_endian=big_endian)), *entries], per_block
    )
    p = prefix(folder)
    Path(p + ".index").write_bytes(index)
    Path(p + ".data-00000-of-00001").write_bytes(bytes(shard))
    return p


def many_tensors(n: int) -> list[tuple[bytes, int, list[int], bytes]]:
    """n float32 tensors of 1 to 7 elements under long keys that share little."""
    out = []
    for i in range(n):
        key = hashlib.sha256(str(i).encode()).hexdigest().encode() + b"/var_%d" % i
        values = np.arange(i % 7 + 1, dtype=np.float32) + i
        out.append((key, 1, [len(values)], values.tobytes()))
    return out


def test_index_of_several_blocks(tmp_path: Path) -> None:
    src = write_bundle(tmp_path / "src", many_tensors(6000), per_block=500)
    dst = tmp_path / "dst" / "v"
    dst.parent.mkdir()
    _core.write_aligned_bundle(src, str(dst))
    assert_same_checkpoint(src, str(dst))
    # TensorFlow's 256 KiB data blocks: the index of 6000 long keys takes two or more.
    assert data_blocks(Path(str(dst) + ".index")) >= 2
    reader = _core.BundleReader(str(dst))
    for key, _, _, raw in many_tensors(6000)[::250]:
        assert reader.tensor(key.decode()).tobytes() == raw


@pytest.mark.needs_tensorflow
def test_tensorflow_reads_an_index_of_several_blocks(tmp_path: Path) -> None:
    src = write_bundle(tmp_path / "src", many_tensors(6000))
    dst = str(tmp_path / "v")
    _core.write_aligned_bundle(src, dst)
    assert data_blocks(Path(dst + ".index")) >= 2
    script = (
        "import sys, tensorflow as tf\n"
        "r = tf.train.load_checkpoint(sys.argv[1])\n"
        "keys = sorted(r.get_variable_to_shape_map())\n"
        "print(len(keys), sum(float(r.get_tensor(k).sum()) for k in keys))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, dst],
        env=_factory.tf_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    count, total = done.stdout.split()
    want = sum(float(np.frombuffer(raw, np.float32).sum()) for _, _, _, raw in many_tensors(6000))
    assert int(count) == 6000 and float(total) == pytest.approx(want)


def test_big_endian_bundle_keeps_its_byte_order(tmp_path: Path) -> None:
    values = np.array([1.5, -2.0, 3.25], np.float32)
    tensors = [
        (b"a", 1, [3], values.astype(">f4").tobytes()),
        (b"b", 9, [1], np.array([7], ">i8").tobytes()),
    ]
    src = write_bundle(tmp_path / "src", tensors, big_endian=True)
    dst = str(tmp_path / "v")
    _core.write_aligned_bundle(src, dst)
    assert_same_checkpoint(src, dst)
    reader = _core.BundleReader(dst)
    assert reader.big_endian
    np.testing.assert_array_equal(reader.tensor("a"), values)
    assert reader.entry("b").offset == 64


def test_unknown_entry_fields_are_kept(tmp_path: Path) -> None:
    extra = bundle_writer.f_varint(20, 7) + bundle_writer.f_bytes(21, b"later")
    tensors = [(b"x", 3, [3], np.arange(3, dtype=np.int32).tobytes()), (b"y", 3, [1], b"\1\0\0\0")]
    src = write_bundle(tmp_path / "src", tensors, extra=extra)
    dst = str(tmp_path / "v")
    _core.write_aligned_bundle(src, dst)
    assert_same_checkpoint(src, dst)
    fields = decode_fields(raw_index(dst)[b"y"])
    assert fields[-2:] == [(20, 0, 7), (21, 2, b"later")]
    assert (4, 0, 64) in fields and not any(f[0] == 3 for f in fields)  # shard 0 is left out


def test_empty_and_string_tensors(tmp_path: Path) -> None:
    payload, crc = bundle_writer.string_payload([b"alpha", b"", b"gamma"])
    (tmp_path / "src" / "variables").mkdir(parents=True)
    entries = [
        (b"a_empty", bundle_writer.entry(1, [0], 0, 0, bundle_writer.masked_crc(b""))),
        (b"b_odd", bundle_writer.entry(6, [3], 0, 3, bundle_writer.masked_crc(b"\1\2\3"))),
        (b"c_words", bundle_writer.entry(7, [3], 3, len(payload), crc)),
    ]
    p = prefix(tmp_path / "src")
    Path(p + ".index").write_bytes(bundle_writer.table([(b"", bundle_writer.header()), *entries]))
    Path(p + ".data-00000-of-00001").write_bytes(b"\1\2\3" + payload)
    dst = str(tmp_path / "v")
    _core.write_aligned_bundle(p, dst)
    assert_same_checkpoint(p, dst)
    reader = _core.BundleReader(dst)
    assert [reader.entry(k).offset for k in ("a_empty", "b_odd", "c_words")] == [0, 0, 64]
    assert reader.tensor("c_words").tolist() == [b"alpha", b"", b"gamma"]
    assert os.path.getsize(dst + ".data-00000-of-00001") == 64 + len(payload)


# ------------------------------------------------------------------ the CLI ---


def test_cli(sources: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    dst = tmp_path / "dst"
    assert cli_main(["align", str(sources["keras_functional"]), str(dst)]) == 0
    out = capsys.readouterr().out
    with tfbundle.open_checkpoint(dst) as ckpt:
        n = len(ckpt.keys())
    assert f"{n} tensors" in out
    assert f"after:  {n} of {n} tensors" in out
    assert f"before: {n} of {n} tensors" not in out
    assert_same_checkpoint(prefix(sources["keras_functional"]), prefix(dst))

    assert cli_main(["align", str(sources["keras_functional"]), str(dst)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (
        cli_main(
            ["align", str(sources["keras_functional"]), str(tmp_path / "x"), "--alignment", "3"]
        )
        == 2
    )
    assert "power of two" in capsys.readouterr().err

    assert (
        cli_main(["align", str(sources["sharded"]), str(tmp_path / "paged"), "--alignment", "4096"])
        == 0
    )
    assert "multiple of 4096 bytes" in capsys.readouterr().out


def test_cli_model_without_variables(sources: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(sources["keras_functional"] / "saved_model.pb", src)
    assert cli_main(["align", str(src), str(tmp_path / "dst")]) == 0
    assert "has no checkpoint" in capsys.readouterr().out


def test_cli_runs_as_a_module(sources: dict[str, Path], tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfbundle.cli.align",
            str(sources["tf_module"]),
            str(tmp_path / "dst"),
        ],
        env=tfbundle_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "after:" in done.stdout


_SHARD_PAGES = r"""
import sys, numpy as np, tfbundle
model = tfbundle.load(sys.argv[1], restore="mmap")
model.signatures["serving_default"](x=np.arange(5, dtype=np.float32))
shard = sys.argv[2]
shared = 0
with open("/proc/self/smaps") as f:
    inside = False
    for line in f:
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = len(fields) == 6 and fields[5] == shard
        elif inside and fields[0] in ("Shared_Clean:", "Shared_Dirty:"):
            shared += int(fields[1])
print(shared)
sys.stdout.flush()
sys.stdin.read()  # alive until the parent has read both
"""


def test_two_processes_share_the_mapped_weights(aligned: dict[str, Path]) -> None:
    """The pages of a variable restored with restore="mmap" are the file's page-cache pages: two
    processes serving the model map the same pages (/proc/PID/smaps: Shared_Clean of the shard)."""
    folder = aligned["tf2_module"]
    shard = str(next((folder / "variables").glob("variables.data-*")).resolve())
    env = tfbundle_env()
    procs: list[subprocess.Popen[str]] = []
    try:
        lines = []
        for _ in range(2):  # the second starts once the first has mapped and used the weights
            proc = subprocess.Popen([sys.executable, "-c", _SHARD_PAGES, str(folder), shard], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
            procs.append(proc)
            assert proc.stdout is not None
            lines.append(proc.stdout.readline())
        # Alone, the first process had the pages to itself; the second maps the same pages.
        assert int(lines[0]) == 0 and int(lines[1]) > 0, lines
    finally:
        for p in procs:
            p.communicate("", timeout=60)
