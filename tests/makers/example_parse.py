"""tf.Example records and what TensorFlow's tf.io.parse_example makes of them, for
tests/test_example_parse.py. Usage: ``python tests/makers/example_parse.py OUT``.

Writes OUT/cases.pickle: a list of cases, each a dict with ``name``, ``records`` (serialized
Examples), ``spec`` ({feature: (dtype name, shape, default or None)}) and TensorFlow's answer,
either ``arrays`` ({feature: numpy array}) or ``error`` (its message). The ``single`` cases are
parsed one record at a time (``outcomes``: one answer per record), so that every truncation of a
record, and every hand-made wire form, has TensorFlow's own verdict.
"""

import os
import pickle
import sys

import numpy as np
import tensorflow as tf

OUT = sys.argv[1]
os.makedirs(OUT)
rng = np.random.default_rng(17)

DTYPES = {"float32": tf.float32, "int64": tf.int64, "string": tf.string}


def tf_spec(spec):
    return {
        k: tf.io.FixedLenFeature(shape, DTYPES[d], default_value=default) for k, (d, shape, default) in spec.items()
    }


def parse(records, spec):
    try:
        got = tf.io.parse_example(tf.constant(records, tf.string), tf_spec(spec))
    except (tf.errors.InvalidArgumentError, ValueError) as e:
        return {"error": str(e)}
    return {"arrays": {k: v.numpy() for k, v in got.items()}}


def feature(kind, values):
    if kind == "float32":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    if kind == "int64":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def example(features):
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def random_values(kind, n):
    if kind == "float32":
        return rng.normal(size=n).astype(np.float32).tolist()
    if kind == "int64":
        return rng.integers(-(2**62), 2**62, size=n).tolist()
    return [bytes(rng.integers(0, 256, size=rng.integers(0, 12)).astype(np.uint8)) for _ in range(n)]


cases = []

# Random records: every kind, scalar and multi-dimensional shapes, an optional feature with a
# default, an empty shape, and features nobody asks for.
spec = {
    "f": ("float32", [3], None),
    "i": ("int64", [], None),
    "s": ("string", [2], None),
    "m": ("float32", [2, 2], None),
    "opt_f": ("float32", [2], [0.5, -1.5]),
    "opt_i": ("int64", [1], [7]),
    "opt_s": ("string", [], b"none"),
    "zero": ("float32", [0], None),
}
records = []
for _ in range(400):
    feats = {
        "f": feature("float32", random_values("float32", 3)),
        "i": feature("int64", random_values("int64", 1)),
        "s": feature("string", random_values("string", 2)),
        "m": feature("float32", random_values("float32", 4)),
        "zero": feature("float32", []),
    }
    if rng.random() < 0.5:
        feats["opt_f"] = feature("float32", random_values("float32", 2))
    if rng.random() < 0.5:
        feats["opt_i"] = feature("int64", random_values("int64", 1))
    if rng.random() < 0.5:
        feats["opt_s"] = feature("string", random_values("string", 1))
    for j in range(int(rng.integers(0, 4))):
        feats[f"extra{j}"] = feature("int64", random_values("int64", int(rng.integers(0, 5))))
    records.append(example(feats))
cases.append({"name": "random", "records": records, "spec": spec, **parse(records, spec)})

base = {"a": feature("float32", [1.0, 2.0]), "b": feature("int64", [3]), "c": feature("string", [b"x"])}
good = example(base)
small = {"a": ("float32", [2], None), "b": ("int64", [], None), "c": ("string", [], None)}
cases.append({"name": "missing", "records": [good, example({"a": base["a"], "c": base["c"]})], "spec": small,
              **parse([good, example({"a": base["a"], "c": base["c"]})], small)})
wrong_type = example({**base, "b": feature("float32", [3.0])})
cases.append({"name": "wrong_type", "records": [good, good, wrong_type], "spec": small,
              **parse([good, good, wrong_type], small)})
wrong_count = example({**base, "a": feature("float32", [1.0, 2.0, 3.0])})
cases.append({"name": "wrong_count", "records": [wrong_count], "spec": small, **parse([wrong_count], small)})
too_few = example({**base, "a": feature("float32", [1.0])})
cases.append({"name": "too_few", "records": [good, too_few], "spec": small, **parse([good, too_few], small)})
cases.append({"name": "empty_batch", "records": [], "spec": small, **parse([], small)})


def varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def ld(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def entry(key, feature_bytes):
    return ld(1, ld(1, key) + ld(2, feature_bytes))


# Hand-made wire forms TensorFlow's serializer never writes, each parsed by TensorFlow alone.
unpacked_floats = ld(2, b"".join(varint(1 << 3 | 5) + np.float32(v).tobytes() for v in (1.5, -2.0)))
unpacked_ints = ld(3, b"".join(varint(1 << 3 | 0) + varint(v) for v in (-5,)))
hand = [
    ld(1, entry(b"a", unpacked_floats) + entry(b"b", unpacked_ints) + entry(b"c", ld(1, ld(1, b"u")))),
    # "b" twice: the last entry wins
    ld(1, entry(b"b", ld(3, ld(1, varint(1)))) + entry(b"a", ld(2, ld(1, np.float32([3, 4]).tobytes())))
       + entry(b"c", ld(1, ld(1, b"v"))) + entry(b"b", ld(3, ld(1, varint(2))))),
    # Example.features twice: merged
    ld(1, entry(b"a", ld(2, ld(1, np.float32([5, 6]).tobytes())))) + ld(1, entry(b"b", ld(3, ld(1, varint(9))))
                                                                     + entry(b"c", ld(1, ld(1, b"w")))),
    # unknown fields at every level
    varint(7 << 3 | 0) + varint(99) + ld(1, ld(9, b"junk") + entry(b"a", ld(2, ld(1, np.float32([7, 8]).tobytes())))
                                       + entry(b"b", ld(3, ld(1, varint(3)))) + entry(b"c", ld(1, ld(1, b"z")))),
    # `feature {}`: missing
    ld(1, entry(b"a", b"") + entry(b"b", ld(3, ld(1, varint(3)))) + entry(b"c", ld(1, ld(1, b"z")))),
    # a packed float list with a partial value
    ld(1, entry(b"a", ld(2, ld(1, b"\x00" * 7))) + entry(b"b", ld(3, ld(1, varint(3))))
       + entry(b"c", ld(1, ld(1, b"z")))),
    b"",  # an empty Example: every feature missing
    b"\x0a",  # a truncated length
    b"\xff\xff\xff",  # a truncated varint tag
]
truncated = [good[:n] for n in range(len(good))]
cases.append({"name": "single", "records": hand + truncated, "spec": small,
              "outcomes": [parse([r], small) for r in hand + truncated]})
with_defaults = {"a": ("float32", [2], [0.0, 0.0]), "b": ("int64", [], 0), "c": ("string", [], b"")}
cases.append({"name": "single_defaults", "records": hand + truncated, "spec": with_defaults,
              "outcomes": [parse([r], with_defaults) for r in hand + truncated]})

with open(os.path.join(OUT, "cases.pickle"), "wb") as f:
    pickle.dump(cases, f)
