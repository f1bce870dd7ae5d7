"""Seed corpora and dictionaries for the libFuzzer targets in fuzz/native (run by fuzz/native.sh).

    python3 fuzz/native/seeds.py OUT_DIR

writes OUT_DIR/<target>/ (one file per seed), OUT_DIR/<target>.max_len (the longest input to
try) and, where one helps, a dictionary OUT_DIR/<target>.dict, from what exists on this machine:

- the models and checkpoints the test suite made in $TFBUNDLE_TEST_CACHE,
- the third-party test data in $TFBUNDLE_TESTDATA or ../shared/testdata, when present,
- small inputs written here (so that a fresh clone has seeds too).

Nothing is copied into the repository; OUT_DIR is a build folder. Needs only the standard
library (bundle_writer falls back to a pure-Python CRC-32C without the extension).
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import bundle_writer as w  # noqa: E402

#: Inputs longer than these are left out (fuzz/native.sh passes the same -max_len).
MAX_LEN = {
    "wire": 16 << 10,
    "saved_model": 64 << 10,
    "text_format": 64 << 10,
    "bundle": 128 << 10,
    "example": 4 << 10,
    "tfrecord": 4 << 10,
    "json": 4 << 10,
    "compiled": 8 << 10,
}
MAX_SEEDS = 200
MAX_SHARD = 1 << 16


def roots() -> list[Path]:
    out = []
    cache = os.environ.get("TFBUNDLE_TEST_CACHE")
    if cache:
        out.append(Path(cache))
    testdata = os.environ.get("TFBUNDLE_TESTDATA")
    out.append(Path(testdata) if testdata else HERE.parents[2] / "shared" / "testdata")
    return [r for r in out if r.is_dir()]


def files(pattern: str) -> Iterator[Path]:
    for root in roots():
        yield from sorted(p for p in root.rglob(pattern) if p.is_file())


# ---- small inputs written here ----


def f_double(number: int, value: float) -> bytes:
    return w.varint((number << 3) | 1) + struct.pack("<d", value)


def map_entry(number: int, key: bytes, value: bytes) -> bytes:
    return w.f_bytes(number, w.f_bytes(1, key) + w.f_bytes(2, value))


def example(features: dict[bytes, bytes]) -> bytes:
    """A serialized tf.Example; each value is a serialized Feature (see ``feature``)."""
    return w.f_bytes(1, b"".join(map_entry(1, k, v) for k, v in features.items()))


def feature(kind: str, values: Iterable[float | int | bytes]) -> bytes:
    """A serialized tf.train.Feature: floats and int64s packed, bytes one field each."""
    values = list(values)
    if kind == "bytes":
        return w.f_bytes(1, b"".join(w.f_bytes(1, v) for v in values))  # type: ignore[arg-type]
    if kind == "float":
        return w.f_bytes(2, w.f_bytes(1, struct.pack(f"<{len(values)}f", *values)))
    return w.f_bytes(3, w.f_bytes(1, b"".join(w.varint(v & (2**64 - 1)) for v in values)))  # type: ignore[operator]


def json_seeds() -> list[bytes]:
    """Predict bodies for fuzz_json: the simple forms, and near misses the reader must refuse."""
    return [
        b'{"instances": [[1.5, -2, 3e-7], [0, -0.0, 1E+2]]}',
        b'{"signature_name": "serving_default", "inputs": [[[1], [2]], [[3], [4]]]}',
        b' { "inputs" : [ 5e-324 , 1.7976931348623157e308 , 123456789012345 ] } ',
        b'{"instances": [[1, 2], [3]]}',
        b'{"instances": [NaN, 1e400, 01, 1.]}',
    ]


JSON_TOKENS = [b'{"instances": ', b'{"inputs": ', b'"signature_name": ', b"[", b"]", b",", b"-0", b"e-", b"E+", b".5"]


def tfrecord_frame(data: bytes) -> bytes:
    """One TFRecord record: length, its masked CRC-32C, data, the data's masked CRC-32C."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", w.masked_crc(length)) + data + struct.pack("<I", w.masked_crc(data))


def tfrecord_seeds() -> list[bytes]:
    """Pieces of TFRecord streams for fuzz_tfrecord: whole records, a cut one, a bad checksum."""
    stream = b"".join(tfrecord_frame(d) for d in (b"", b"a", b"example bytes" * 3, bytes(range(200))))
    bad = bytearray(stream)
    bad[30] ^= 0x10
    return [stream, stream[:-7], stream[:20], bytes(bad), tfrecord_frame(b"x" * 1000)]


def example_seeds() -> list[bytes]:
    """Records for fuzz_example: whole, with features missing, of the wrong kind or count, and
    several records in one input (fuzz_example splits its input at each ``\\xff\\xfe``)."""
    good = example(
        {
            b"x": feature("float", [0.5, 2.0]),
            b"id": feature("int64", [-3]),
            b"s": feature("bytes", [b"ab"]),
        }
    )
    partial = example({b"x": feature("float", [1.0, 1.0])})
    wrong_kind = example(
        {
            b"x": feature("int64", [1, 2]),
            b"id": feature("int64", [4]),
            b"s": feature("bytes", [b""]),
        }
    )
    wrong_count = example(
        {b"x": feature("float", [1.0]), b"id": feature("int64", [1, 2]), b"s": feature("bytes", [])}
    )
    unpacked = example({b"id": w.f_bytes(3, w.f_varint(1, 9) + w.f_varint(1, 9))})
    sep = b"\xff\xfe"
    return [
        good,
        partial,
        wrong_kind,
        wrong_count,
        unpacked,
        b"",
        good + sep + partial,
        sep.join([good] * 4),
        good[:-3],
    ]


def node(name: bytes, op: bytes, inputs: Iterable[bytes] = (), attrs: bytes = b"") -> bytes:
    return w.f_bytes(1, name) + w.f_bytes(2, op) + b"".join(w.f_bytes(3, i) for i in inputs) + attrs


def compiled_seeds() -> list[bytes]:
    """RunMetadata partition graphs for fuzz_compiled: the call {x:0} -> {y:0} as DirectSession
    writes it (y = x * ReadVariableOp(w)), one with a stateful op, and two partitions."""

    def attr(key: bytes, field: int, value: int) -> bytes:
        return w.f_bytes(5, w.f_bytes(1, key) + w.f_bytes(2, w.f_varint(field, value)))

    cpu = w.f_bytes(4, b"/job:localhost/replica:0/task:0/device:CPU:0")
    frame = attr(b"T", 6, 1) + attr(b"index", 3, 0)
    nodes = [
        node(b"w", b"VarHandleOp", attrs=cpu + attr(b"dtype", 6, 1)),
        node(b"_arg_x_0_0", b"_Arg", attrs=cpu + frame),
        node(b"read", b"ReadVariableOp", [b"w"], cpu + attr(b"dtype", 6, 1)),
        node(b"y", b"Mul", [b"_arg_x_0_0", b"read:0", b"^w"], cpu + attr(b"T", 6, 1)),
        node(b"_retval_y_0_0", b"_Retval", [b"y"], cpu + frame),
    ]
    versions = w.f_bytes(4, w.f_varint(1, 1766))
    graph = b"".join(w.f_bytes(1, n) for n in nodes) + versions
    stateful = graph + w.f_bytes(1, node(b"r", b"RandomUniform", [b"y"], cpu))
    return [w.f_bytes(3, graph), w.f_bytes(3, stateful), w.f_bytes(3, graph) * 2, graph]


def tensor_info(name: bytes, dtype: int, dims: Iterable[int]) -> bytes:
    shape = b"".join(w.f_bytes(2, w.f_varint(1, d)) for d in dims)
    return w.f_bytes(1, name) + w.f_varint(2, dtype) + w.f_bytes(3, shape)


def sample_meta_graph() -> bytes:
    """A MetaGraphDef with one of most things the decoders read (field numbers: cpp/saved_model.h)."""
    func_attr = map_entry(5, b"f", w.f_bytes(10, w.f_bytes(1, b"__inference_f_12")))
    graph = (
        w.f_bytes(1, node(b"x", b"Placeholder", attrs=map_entry(5, b"dtype", w.f_varint(6, 1))))
        + w.f_bytes(1, node(b"call", b"StatefulPartitionedCall", [b"x", b"^init"], func_attr))
        + w.f_bytes(1, node(b"init", b"NoOp"))
        + w.f_bytes(
            1, node(b"save/RestoreV2", b"RestoreV2", [b"save/Const", b"save/names", b"save/slices"])
        )
        + w.f_bytes(1, node(b"save/restore_all", b"NoOp", [b"^save/RestoreV2"]))
        + w.f_bytes(
            2,
            w.f_bytes(
                1,
                w.f_bytes(1, w.f_bytes(1, b"__inference_f_12") + w.f_bytes(2, w.f_bytes(1, b"x")))
                + w.f_bytes(3, node(b"y", b"Identity", [b"x"])),
            ),
        )
    )
    signature = (
        map_entry(1, b"x", tensor_info(b"x:0", 1, [-1, 3]))
        + map_entry(2, b"y", tensor_info(b"call:0", 1, [-1]))
        + w.f_bytes(3, b"tensorflow/serving/predict")
    )
    init_signature = map_entry(2, b"__saved_model_init_op", tensor_info(b"init", 0, []))
    structured = w.f_bytes(52, w.f_bytes(1, w.f_bytes(33, w.f_bytes(1, b"x") + w.f_varint(3, 1))))
    object_graph = w.f_bytes(
        1,
        w.f_bytes(1, w.f_varint(1, 1) + w.f_bytes(2, b"f"))
        + w.f_bytes(6, w.f_bytes(1, b"__inference_f_12")),
    ) + map_entry(
        2, b"__inference_f_12", w.f_bytes(3, structured) + w.f_bytes(4, w.f_bytes(1, b""))
    )
    return (
        w.f_bytes(1, w.f_bytes(4, b"serve") + w.f_bytes(5, b"2.21.0") + w.f_bytes(1, b"v1"))
        + w.f_bytes(2, graph)
        + w.f_bytes(
            3, w.f_bytes(1, b"save/Const:0") + w.f_bytes(3, b"save/restore_all") + w.f_varint(7, 2)
        )
        + map_entry(4, b"saved_model_main_op", w.f_bytes(1, w.f_bytes(1, b"init")))
        + map_entry(5, b"serving_default", signature)
        + map_entry(5, b"__saved_model_init_op", init_signature)
        + w.f_bytes(6, w.f_bytes(1, w.f_bytes(1, b"vocab:0")) + w.f_bytes(2, b"vocab.txt"))
        + w.f_bytes(7, object_graph)
    )


def sample_saved_model() -> bytes:
    return w.f_varint(1, 1) + w.f_bytes(2, sample_meta_graph())


SAMPLE_PBTXT = b"""# A SavedModel in text format, with most of the syntax the parser accepts.
saved_model_schema_version: 1
meta_graphs {
  meta_info_def {
    meta_graph_version: "v1"
    tags: ["serve", 'gpu']
    tensorflow_version: "2." "21.0"
    any_info {
      [type.googleapis.com/tensorflow.AssetFileDef] { filename: "a\\x41\\101\\n" }
    }
  }
  graph_def {
    node {
      name: "x" op: "Placeholder"
      attr { key: "dtype" value { type: DT_FLOAT } }
      attr { key: "shape" value { shape { dim { size: -1 } dim { size: 0x3 } } } }
      attr { key: "value" value { f: -inf } }
    }
    node < name: "c"; op: "Const", attr: { key: "v" value { f: 1.5e-3 i: 017 b: true } } >
    versions { producer: 1234 }
  }
  saver_def { filename_tensor_name: "save/Const:0" restore_op_name: "save/restore_all" version: V2 }
  collection_def { key: "saved_model_main_op" value { node_list { value: "init" } } }
  signature_def {
    key: "serving_default"
    value {
      inputs { key: "x" value { name: "x:0" dtype: DT_FLOAT tensor_shape { unknown_rank: true } } }
      method_name: "tensorflow/serving/predict"
    }
  }
  asset_file_def { tensor_info { name: "vocab:0" } filename: "vocab.txt" }
}
"""

#: Integers at the edges of the types they are parsed into.
EDGE_INTEGERS = [
    "-9223372036854775808", "9223372036854775807", "18446744073709551615", "18446744073709551616",
    "-2147483648", "2147483647", "4294967295", "-1", "0x7fffffffffffffff", "0xffffffffffffffff", "0777",
]  # fmt: skip

TEXT_TOKENS = [
    "{", "}", "<", ">", ":", "[", "]", ",", ";", "#", '"', "'", "\\x", "\\u", "\\", "0x", "-", "inf",
    "nan", "true", "false", "e+", "1e309", "[type.googleapis.com/", "type_url", "value", *EDGE_INTEGERS,
]  # fmt: skip

SAVED_MODEL_TOKENS = [
    "serve", "__saved_model_init_op", "saved_model_main_op", "legacy_init_op", "saved_model_assets",
    "StatefulPartitionedCall", "PartitionedCall", "RestoreV2", "Restore", "RestoreSlice", "PrintV2",
    "output_stream", "file://", "__inference_", "NoOp", "Placeholder", "^", ":0",
]  # fmt: skip

#: Varints at the edges of int32 / int64 (sizes, offsets, shapes, shard counts are read into these).
EDGE_VARINTS = [
    w.varint(v) for v in (-1, 1 << 31, (1 << 31) - 1, 1 << 63, (1 << 63) - 1, 1 << 32, 1 << 62)
]

BUNDLE_TOKENS = [b"_CHECKPOINTABLE_OBJECT_GRAPH", struct.pack("<Q", w.MAGIC), *EDGE_VARINTS]


# ---- writing ----


def write_corpus(folder: Path, seeds: Iterable[bytes], max_len: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    seen: set[str] = set()
    for seed in seeds:
        if not seed or len(seed) > max_len:
            continue
        digest = hashlib.sha1(seed).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        (folder / digest).write_bytes(seed)
        if len(seen) >= MAX_SEEDS:
            break
    return len(seen)


def write_dict(path: Path, tokens: Iterable[str | bytes]) -> None:
    """A libFuzzer dictionary: one quoted token a line, other than printable ASCII as \\xNN."""
    lines = []
    for token in dict.fromkeys(t.encode() if isinstance(t, str) else t for t in tokens):
        quoted = "".join(
            chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}" for b in token
        )
        lines.append(f'"{quoted}"')
    path.write_text("\n".join(lines) + "\n")


def read_all(paths: Iterable[Path], max_len: int) -> Iterator[bytes]:
    for p in paths:
        if p.stat().st_size <= max_len:
            yield p.read_bytes()


def bundle_seeds() -> Iterator[bytes]:
    yield w.pack(*w.sample_bundle())
    for index in files("*.index"):
        shards = sorted(index.parent.glob(index.name[: -len(".index")] + ".data-*"))
        shard = shards[0].read_bytes()[:MAX_SHARD] if shards else b""
        yield w.pack(index.read_bytes(), shard)


def pbtxt_identifiers(paths: Iterable[Path]) -> list[str]:
    names: dict[str, None] = {}
    for p in paths:
        for name in re.findall(rb"([A-Za-z_][A-Za-z0-9_]*)\s*[:{<]", p.read_bytes()[: 1 << 20]):
            names.setdefault(name.decode(), None)
    return sorted(names)[:500]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    saved_models = sorted(files("saved_model.pb"), key=lambda p: p.stat().st_size)
    pbtxts = sorted(files("*.pbtxt"), key=lambda p: p.stat().st_size)
    sample_mg = sample_meta_graph()
    samples = {
        "wire": [
            sample_mg,
            sample_saved_model(),
            w.header(),
            w.entry(1, [2, 3], 0, 24, slices=[[(0, 1), (0, -1)]]),
        ],
        "saved_model": [sample_saved_model()],
        "text_format": [SAMPLE_PBTXT],
        "example": example_seeds(),
        "tfrecord": tfrecord_seeds(),
        "json": json_seeds(),
        "compiled": compiled_seeds(),
    }
    found = {
        "wire": [*files("fingerprint.pb"), *saved_models],
        "saved_model": saved_models,
        "text_format": pbtxts,
        "example": [],
        "tfrecord": [],
        "json": [],
        "compiled": [],
    }
    counts = {
        target: write_corpus(
            out / target, [*seeds, *read_all(found[target], MAX_LEN[target])], MAX_LEN[target]
        )
        for target, seeds in samples.items()
    }
    counts["bundle"] = write_corpus(out / "bundle", bundle_seeds(), MAX_LEN["bundle"])
    write_dict(out / "wire.dict", EDGE_VARINTS)
    write_dict(out / "saved_model.dict", SAVED_MODEL_TOKENS + EDGE_VARINTS)
    write_dict(
        out / "text_format.dict", TEXT_TOKENS + SAVED_MODEL_TOKENS + pbtxt_identifiers(pbtxts[:50])
    )
    write_dict(out / "bundle.dict", BUNDLE_TOKENS)
    write_dict(out / "json.dict", JSON_TOKENS)
    for target, max_len in MAX_LEN.items():
        (out / f"{target}.max_len").write_text(f"{max_len}\n")
    print("seeds: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
