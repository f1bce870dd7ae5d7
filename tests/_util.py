"""Helpers shared by the oracle tests: the models written by tests/makers/zoo.py.

Nothing here imports TensorFlow. :class:`ModelZoo` reads ``manifest.json`` and the
``.npz`` files that ``tests/makers/zoo.py`` wrote; :func:`assert_outputs_match`
compares tfbundle's outputs with TensorFlow's.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:  # ml_dtypes is a dependency of tfbundle (and TensorFlow); bfloat16 lives there.
    import ml_dtypes

    BFLOAT16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a hard dependency
    BFLOAT16 = None


def dtype_from_name(name: str) -> np.dtype:
    """The numpy dtype for a name in the manifest ("object", "bfloat16", "float32", ...)."""
    if name == "bfloat16":
        if BFLOAT16 is None:
            raise RuntimeError("bfloat16 needs the ml_dtypes package")
        return BFLOAT16
    return np.dtype(name)


def load_arrays(root: Path, stored: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Reads one ``{"file", "dtypes"}`` entry of the manifest into arrays.

    bfloat16 arrays are stored as uint16 and viewed back; strings are object arrays of
    bytes (pickled inside the .npz, which this test suite wrote itself).
    """
    out = {}
    with np.load(root / stored["file"], allow_pickle=True) as data:
        for key, name in stored["dtypes"].items():
            arr = data[key]
            if name == "bfloat16":
                arr = arr.view(dtype_from_name(name))
            out[key] = arr
    return out


@dataclass(frozen=True)
class Case:
    """One (model, tag-set, signature) oracle case: inputs and TensorFlow's outputs."""

    id: str
    model: str
    tags: tuple[str, ...]
    signature: str
    folder: Path
    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunStep:
    """One Model.run call: tensor names to fetch and feed, op names to run."""

    fetches: list[str]
    feeds: dict[str, np.ndarray]
    targets: list[str]
    expected: list[np.ndarray]


@dataclass(frozen=True)
class RunCase:
    """A sequence of Model.run calls on one freshly loaded model."""

    id: str
    model: str
    tags: tuple[str, ...]
    folder: Path
    steps: list[RunStep]


def saved_model_dirs(root: Path) -> list[str]:
    """Every SavedModel folder under root (holding saved_model.pb or saved_model.pbtxt), sorted."""
    found = []
    for folder, _dirs, files in os.walk(root):
        if "saved_model.pb" in files or "saved_model.pbtxt" in files:
            found.append(folder)
    return sorted(found)


class ModelZoo:
    """The models makers/zoo.py wrote, with their cases, as the tests reach them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.manifest: dict[str, Any] = json.loads((self.root / "manifest.json").read_text())
        self._cases = {c["id"]: c for c in self.manifest["cases"]}
        self._run_cases = {c["id"]: c for c in self.manifest["run_cases"]}

    @property
    def model_names(self) -> list[str]:
        return sorted(self.manifest["models"])

    @property
    def case_ids(self) -> list[str]:
        return list(self._cases)

    @property
    def run_case_ids(self) -> list[str]:
        return list(self._run_cases)

    def info(self, model: str) -> dict[str, Any]:
        """The manifest's record of a model (style, default_tags, meta_graphs, ...)."""
        return self.manifest["models"][model]

    def folder(self, model: str) -> Path:
        """The SavedModel folder of a model."""
        return self.root / self.info(model)["folder"]

    def meta_graph(self, model: str, tags: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """What TensorFlow's MetaGraphDef with these tags says about its signatures."""
        for meta in self.info(model)["meta_graphs"]:
            if meta["tags"] == sorted(tags):
                return meta
        raise KeyError(f"{model} has no tag-set {sorted(tags)}")

    def case(self, case_id: str) -> Case:
        c = self._cases[case_id]
        known = {"id", "model", "tags", "signature", "inputs", "expected"}
        return Case(
            id=case_id,
            model=c["model"],
            tags=tuple(c["tags"]),
            signature=c["signature"],
            folder=self.folder(c["model"]),
            inputs=load_arrays(self.root, c["inputs"]),
            expected=load_arrays(self.root, c["expected"]),
            extra={k: v for k, v in c.items() if k not in known},
        )

    def run_case(self, case_id: str) -> RunCase:
        c = self._run_cases[case_id]
        steps = []
        for s in c["steps"]:
            inputs = load_arrays(self.root, s["inputs"])
            expected = load_arrays(self.root, s["expected"])
            steps.append(
                RunStep(
                    fetches=list(s["fetches"]),
                    feeds={name: inputs[key] for name, key in s["feeds"].items()},
                    targets=list(s["targets"]),
                    expected=[expected[f"fetch{i}"] for i in range(len(s["fetches"]))],
                )
            )
        return RunCase(case_id, c["model"], tuple(c["tags"]), self.folder(c["model"]), steps)


def _tolerances(dtype: np.dtype) -> tuple[float, float] | None:
    """(rtol, atol) for inexact dtypes, None for exact comparison."""
    if BFLOAT16 is not None and dtype == BFLOAT16:
        return 1e-2, 1e-2
    if dtype.kind == "f":
        width = dtype.itemsize
    elif dtype.kind == "c":
        width = dtype.itemsize // 2
    else:
        return None
    return {2: (1e-3, 1e-3), 4: (1e-6, 1e-6), 8: (1e-12, 1e-12)}[width]


def assert_array_matches(actual: Any, expected: np.ndarray, what: str) -> None:
    """One output against TensorFlow's: same dtype, same shape, same values.

    Integers, booleans and strings must be equal exactly; floats and complex numbers
    within a tight tolerance (NaNs match NaNs).
    """
    assert isinstance(actual, np.ndarray), f"{what}: got {type(actual).__name__}, not ndarray"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != TF's {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != TF's {expected.shape}"
    if expected.dtype == object:
        assert all(isinstance(v, bytes) for v in actual.flat), f"{what}: strings must be bytes"
        assert actual.tolist() == expected.tolist(), f"{what}: {actual!r} != TF's {expected!r}"
        return
    tol = _tolerances(expected.dtype)
    if tol is None:
        np.testing.assert_array_equal(actual, expected, err_msg=what, strict=True)
        return
    if BFLOAT16 is not None and expected.dtype == BFLOAT16:
        actual, expected = actual.astype(np.float32), expected.astype(np.float32)
    np.testing.assert_allclose(actual, expected, rtol=tol[0], atol=tol[1], err_msg=what)


def assert_outputs_match(
    actual: Mapping[str, Any], expected: Mapping[str, np.ndarray], what: str
) -> None:
    """A signature's output dict against TensorFlow's: same keys, then each array."""
    assert isinstance(actual, dict), f"{what}: outputs are {type(actual).__name__}, not dict"
    assert sorted(actual) == sorted(expected), (
        f"{what}: output names {sorted(actual)} != TF's {sorted(expected)}"
    )
    for key in expected:
        assert_array_matches(actual[key], expected[key], f"{what}: output {key!r}")


# ----------------------------------------------------------------------------- tf.Example


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 as two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The protobuf varint at ``data[pos:]`` and the position after it."""
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_example(features: Mapping[str, list[Any]]) -> bytes:
    """Serializes a tf.train.Example without TensorFlow (proto wire format).

    Args:
        features: feature name -> values; a list of floats becomes a FloatList, of
            ints an Int64List, of bytes/str a BytesList (str as UTF-8).

    Returns:
        The serialized Example, as ``Example.SerializeToString()`` gives it for one
        feature (several features may come in another order, which parsers accept).
    """
    entries = b""
    for name, values in features.items():
        if not values:
            raise ValueError(f"feature {name!r} has no values: its type is ambiguous")
        if all(isinstance(v, (bytes, str)) for v in values):
            raw = [v.encode() if isinstance(v, str) else v for v in values]
            feature = _field(1, b"".join(_field(1, v) for v in raw))
        elif all(isinstance(v, float) for v in values):
            import struct

            feature = _field(2, _field(1, struct.pack(f"<{len(values)}f", *values)))
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            feature = _field(3, _field(1, b"".join(_varint(v) for v in values)))
        else:
            raise TypeError(f"feature {name!r}: values must be all float, all int or all bytes")
        entries += _field(1, _field(1, name.encode()) + _field(2, feature))
    return _field(1, entries)


def examples(*rows: Mapping[str, list[Any]]) -> np.ndarray:
    """An object array of serialized tf.Examples, one per row."""
    out = np.empty(len(rows), dtype=object)
    out[:] = [encode_example(r) for r in rows]
    return out


def tfbundle_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """Environment for subprocesses that import tfbundle: the same tfbundle as this process's.

    In a developer tree that is python/ (after dev/build.sh); after ``pip install .`` it is
    the installed package. ``base`` (default: os.environ) is copied; ``extra`` is added.
    """
    import tfbundle

    env = dict(os.environ if base is None else base)
    where = os.path.dirname(os.path.dirname(os.path.abspath(tfbundle.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [where, env.get("PYTHONPATH")] if p)
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now (for a server a test starts in a subprocess)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
