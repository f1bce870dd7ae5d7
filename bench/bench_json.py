"""TF Serving's JSON in the server: the C++ reader and writer against the Python rules they replace.

Usage::

    python bench/bench_json.py [--seconds S]

No model and no TensorFlow: the bodies and answers of the bench's two models, made here.

- read: a predict body of one example (``{"instances": [...]}``, as ``bench_serve.py`` sends it)
  to the input array: ``parse_json`` + ``inputs_from_request`` (orjson, numpy; the full rules)
  against ``parse_simple_predict`` + ``simple_inputs`` (``_core.parse_predict_json``), for the
  dense model (256 floats, 3 KB) and MobileNetV2 (1x224x224x3, about 3 MB);
- write: a float32 answer to its ``{"predictions": ...}`` text: the Python rules (``_tokens`` and
  ``_nest``, the writer before ``_core.json_tensor``) against ``row_response``, for the dense
  model's answer (1x10) and MobileNetV2's (1x1000).

Each is checked to give the same result both ways, then timed in rounds that alternate the two,
for about ``--seconds`` each (default 1); prints the median time per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tfbundle.serving import tfs_json


def _time(fn: Callable[[], Any], seconds: float) -> float:
    """Median seconds per call over rounds of about 50 ms."""
    fn()
    start = time.perf_counter()
    fn()
    per = max(time.perf_counter() - start, 1e-7)
    n = max(1, int(0.05 / per))
    rounds = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(rounds) < 3:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - t0) / n)
    return statistics.median(rounds)


def _python_row_response(arr: np.ndarray) -> bytes:
    return b'{"predictions":' + tfs_json._nest(tfs_json._tokens("y", arr, None), arr.shape).encode() + b"}"


def _full_read(body: bytes) -> np.ndarray:
    return tfs_json.inputs_from_request(tfs_json.parse_json(body), {"x": "DT_FLOAT"})[0]["x"]


def _simple_read(body: bytes) -> np.ndarray:
    simple = tfs_json.parse_simple_predict(body)
    assert simple is not None
    inputs = tfs_json.simple_inputs(simple[2], {"x": "DT_FLOAT"})
    assert inputs is not None
    return inputs["x"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print("| what | Python rules | C++ | ratio |")
    print("|---|---|---|---|")
    for model, dims in (("dense", (256,)), ("MobileNetV2", (224, 224, 3))):
        x = np.round(rng.random((1, *dims), dtype=np.float32), 4)
        body = json.dumps({"instances": x.tolist()}).encode()
        if not np.array_equal(_full_read(body), _simple_read(body)):
            raise SystemExit(f"the two readers differ on the {model} body")
        full = _time(lambda body=body: _full_read(body), args.seconds)
        fast = _time(lambda body=body: _simple_read(body), args.seconds)
        what = f"read the {model} body ({len(body) / 1e3:,.0f} KB)"
        print(f"| {what} | {1e6 * full:,.1f} us | {1e6 * fast:,.1f} us | {full / fast:.1f}x |")
    for model, width in (("dense", 10), ("MobileNetV2", 1000)):
        y = rng.standard_normal((1, width)).astype(np.float32)
        if _python_row_response(y) != tfs_json.row_response({"y": y}):
            raise SystemExit(f"the two writers differ on the {model} answer")
        slow = _time(lambda y=y: _python_row_response(y), args.seconds)
        fast = _time(lambda y=y: tfs_json.row_response({"y": y}), args.seconds)
        what = f"write the {model} answer (1x{width} float32)"
        print(f"| {what} | {1e6 * slow:,.1f} us | {1e6 * fast:,.1f} us | {slow / fast:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
