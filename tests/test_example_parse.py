"""tfbundle.tf_example.decode_batch: tf.Example records to dense columns in C++, against
TensorFlow's tf.io.parse_example (tests/makers/example_parse.py) and protobuf's own parser."""

from __future__ import annotations

import pickle
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfbundle
from tfbundle import _proto, tf_example

# tf.io.FixedLenFeature's fields, without TensorFlow.
FixedLenFeature = namedtuple("FixedLenFeature", ["shape", "dtype", "default_value"])
NUMPY = {"float32": np.float32, "int64": np.int64, "string": bytes}


def as_features(spec: dict[str, tuple[str, list[int], Any]]) -> dict[str, Any]:
    return {k: FixedLenFeature(shape, NUMPY[d], default) for k, (d, shape, default) in spec.items()}


@pytest.fixture(scope="module")
def cases(tf_models: Callable[[str], Path]) -> dict[str, dict[str, Any]]:
    with open(tf_models("example_parse") / "cases.pickle", "rb") as f:
        return {c["name"]: c for c in pickle.load(f)}


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].shape == want[k].shape, k
        if want[k].dtype == object:
            assert got[k].dtype == object and got[k].tolist() == want[k].tolist(), k
        else:
            assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k


def protobuf_parses(record: bytes) -> bool:
    from google.protobuf.message import DecodeError

    try:
        _proto.Example().ParseFromString(record)
    except DecodeError:
        return False
    return True


@pytest.mark.parametrize("name", ["random", "empty_batch"])
def test_same_columns_as_tensorflow(cases: dict[str, dict[str, Any]], name: str) -> None:
    case = cases[name]
    assert_same(tf_example.decode_batch(case["records"], as_features(case["spec"])), case["arrays"])


def test_arrow_and_bytes_like_records_read_in_place(cases: dict[str, dict[str, Any]]) -> None:
    pa = pytest.importorskip("pyarrow")
    case = cases["random"]
    features = as_features(case["spec"])
    for records in (
        pa.array(case["records"], pa.binary()),
        pa.array(case["records"], pa.large_binary()),
        pa.chunked_array([case["records"][:100], case["records"][100:]], pa.binary()),
        [bytearray(r) for r in case["records"]],
        [memoryview(r) for r in case["records"]],
        np.array(case["records"], dtype=object),
    ):
        assert_same(tf_example.decode_batch(records, features), case["arrays"])
    sliced = pa.array([b"junk", *case["records"][:10]], pa.binary()).slice(1)  # an offset into the buffers
    want = {k: v[:10] for k, v in case["arrays"].items()}
    assert_same(tf_example.decode_batch(sliced, features), want)


@pytest.mark.parametrize(
    ("name", "index", "feature", "words"),
    [
        ("missing", 1, "b", "missing, and its spec has no default"),
        ("wrong_type", 2, "b", "it holds float values (float_list) where the spec asks for int64"),
        ("wrong_count", 0, "a", "3 or more float values where its shape [2] takes 2"),
        ("too_few", 1, "a", "1 float values where its shape [2] takes 2"),
    ],
)
def test_errors_name_the_record_and_feature_where_tensorflow_refuses(
    cases: dict[str, dict[str, Any]], name: str, index: int, feature: str, words: str
) -> None:
    case = cases[name]
    assert "error" in case, "TensorFlow refuses these records too"
    assert f"Index: {index}" in case["error"] or f"Feature: {feature}" in case["error"]
    with pytest.raises(tfbundle.InvalidArgumentError) as info:
        tf_example.decode_batch(case["records"], as_features(case["spec"]))
    assert isinstance(info.value, ValueError)
    assert f"tf.Example record {index}, feature '{feature}': {words}" in str(info.value)


@pytest.mark.parametrize("name", ["single", "single_defaults"])
def test_hand_made_and_truncated_records(cases: dict[str, dict[str, Any]], name: str) -> None:
    """Each record alone, against TensorFlow's verdict and protobuf's.

    tfbundle follows protobuf's rules of what a message is, where TensorFlow's fast parser has
    its own: a truncated Features message that ends on an entry's boundary (TensorFlow reads
    the entries before the cut) and unknown fields (TensorFlow refuses them) are the two places
    they part; there the test holds decode_batch to protobuf's reading (tf_example.decode).
    """
    case = cases[name]
    features = as_features(case["spec"])
    differ = 0
    for i, (record, outcome) in enumerate(zip(case["records"], case["outcomes"])):
        if not protobuf_parses(record):
            # Malformed: as a whole, or where a feature's list is (which protobuf's reader refuses too).
            with pytest.raises(tfbundle.InvalidArgumentError, match=r"^tf\.Example record 0( is not a|, feature)"):
                tf_example.decode_batch([record], features)
            differ += "arrays" in outcome
            continue
        if "arrays" in outcome:
            assert_same(tf_example.decode_batch([record], features), outcome["arrays"])
            continue
        if "Could not parse example input" in outcome["error"]:  # unknown fields: protobuf reads on
            differ += 1
            got = tf_example.decode_batch([record], features)
            values = tf_example.decode(record)
            for k, column in got.items():
                assert column.ravel().tolist() == pytest.approx(values[k]) if column.dtype != object else (
                    column.ravel().tolist() == values[k]
                ), (i, k)
            continue
        with pytest.raises(tfbundle.InvalidArgumentError, match=r"^tf\.Example record 0, feature '\w'"):
            tf_example.decode_batch([record], features)
    assert differ <= 4, "TensorFlow and tfbundle part on more records than the known cases"


def test_same_as_python_decode_on_random_records() -> None:
    rng = np.random.default_rng(3)
    records = []
    for _ in range(300):
        rec: dict[str, Any] = {
            "x": rng.normal(size=4).astype(np.float32),
            "k": rng.integers(-(2**63), 2**63 - 1, size=2, dtype=np.int64),
            "w": [bytes(rng.integers(0, 256, size=rng.integers(0, 30)).astype(np.uint8)) for _ in range(3)],
        }
        if rng.random() < 0.3:
            rec["other"] = [1, 2, 3]
        records.append(tf_example.encode_example(rec))
    got = tf_example.decode_batch(records, {"x": (np.float32, 4), "k": ("int64", [2]), "w": (bytes, (3,))})
    for i, r in enumerate(records):
        values = tf_example.decode(r)
        assert got["x"][i].tolist() == values["x"] and got["k"][i].tolist() == values["k"]
        assert got["w"][i].tolist() == values["w"]
    assert got["x"].dtype == np.float32 and got["k"].dtype == np.int64 and got["w"].dtype == object


def test_spec_forms_and_defaults() -> None:
    records = tf_example.encode([{"a": [1.5]}, {"b": ["q"]}])
    got = tf_example.decode_batch(
        records,
        {
            "a": FixedLenFeature([], np.float32, 0.0),  # tf.io.FixedLenFeature's shape
            "b": (bytes, [], "none"),  # str defaults are UTF-8
            "c": ("int64", [2, 2], -1),  # a scalar default broadcasts
            "d": (np.dtype("float32"), (1,), [2.5]),
        },
    )
    assert got["a"].tolist() == [1.5, 0.0] and got["b"].tolist() == [b"none", b"q"]
    assert got["c"].shape == (2, 2, 2) and (got["c"] == -1).all() and got["d"].tolist() == [[2.5], [2.5]]
    assert tf_example.decode_batch(records[:1], {"a": np.float32})["a"].tolist() == [1.5]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ((np.float64, [1]), "float32, int64 or bytes"),
        (("int32", [1]), "float32, int64 or bytes"),
        ((np.float32, [None]), "fully known"),
        ((np.float32, [2], [1.0, 2.0, 3.0]), "default value has 3 values where its shape"),
        ((np.int64, [1], 0.5), "not int64"),
    ],
)
def test_bad_specs(spec: Any, match: str) -> None:
    with pytest.raises(tfbundle.InvalidArgumentError, match=match):
        tf_example.decode_batch([b""], {"f": spec})


def test_records_of_the_wrong_type() -> None:
    with pytest.raises(tfbundle.InvalidTypeError, match="record 1 must be bytes"):
        tf_example.decode_batch([b"", "text", b""], {"f": (np.float32, [], 0.0)})
    with pytest.raises(tfbundle.InvalidTypeError, match="sequence of serialized Examples"):
        tf_example.decode_batch(b"\n\x00", {"f": (np.float32, [], 0.0)})
    with pytest.raises(tfbundle.InvalidTypeError, match="sequence"):
        tf_example.decode_batch(5, {"f": (np.float32, [], 0.0)})
    with pytest.raises(tfbundle.InvalidTypeError, match="fixed-width bytes"):
        tf_example.decode_batch(np.array([b"\n\x00"]), {"f": (np.float32, [], 0.0)})


def test_record_index_in_a_long_batch_and_last_key_wins() -> None:
    records = tf_example.encode([{"a": [float(i)]} for i in range(1000)])
    records[777] = tf_example.encode_example({"a": [1, 2]})
    with pytest.raises(tfbundle.InvalidArgumentError, match=r"record 777, feature 'a': it holds int64"):
        tf_example.decode_batch(records, {"a": np.float32})
    # A key twice in the map: protobuf (and TensorFlow) keep the last.
    twice = records[0] + tf_example.encode_example({"a": [9.0]})  # concatenated messages merge
    assert tf_example.decode_batch([twice], {"a": np.float32})["a"].tolist() == [9.0]


def test_mutated_records_parse_or_raise_never_crash() -> None:
    """Random byte flips, cuts and splices of valid records: each either parses or raises
    InvalidArgumentError naming the record (the reader is bounds-checked)."""
    rng = np.random.default_rng(23)
    seeds = tf_example.encode(
        [{"a": [1.5, 2.5], "b": [7], "c": [b"xyz"]}, {"a": [0.0, -1.0], "b": [2**40], "c": [b""], "d": [1, 2]}]
    )
    features = {"a": (np.float32, [2], 0.0), "b": (np.int64, [], -1), "c": (bytes, [], b"?")}
    outcomes = {"ok": 0, "error": 0}
    for i in range(3000):
        r = bytearray(seeds[i % 2])
        for _ in range(int(rng.integers(1, 4))):
            op = rng.integers(0, 3)
            if op == 0 and r:
                r[rng.integers(0, len(r))] = int(rng.integers(0, 256))
            elif op == 1:
                r = r[: rng.integers(0, len(r) + 1)]
            else:
                at = int(rng.integers(0, len(r) + 1))
                r[at:at] = seeds[int(rng.integers(0, 2))][: rng.integers(0, 12)]
        try:
            got = tf_example.decode_batch([bytes(r)], features)
        except tfbundle.InvalidArgumentError as e:
            message = str(e)
            outcomes["error"] += message.startswith("tf.Example record 0")
            continue
        assert got["a"].shape == (1, 2) and got["b"].shape == (1,) and got["c"].shape == (1,)
        outcomes["ok"] += 1
    assert outcomes["ok"] + outcomes["error"] == 3000, "an error that names no record"
    assert outcomes["ok"] > 100 and outcomes["error"] > 100, outcomes
