"""`tfbundle show --all` against `saved_model_cli show --all`, whole processes, in one run.

    python bench/bench_cli.py [--repeats 5] [--json OUT] [--cache DIR]

Makes, once, with TensorFlow's Python API (cached in bench/_build/models/ or --cache), a Keras
MobileNetV2 with random weights (``keras.applications.MobileNetV2(weights=None)``) exported
by Keras itself (``model.export``), and a synthetic SavedModel whose GraphDef is 100 MB (made
without TensorFlow: 100,000 Const nodes of 1 KB). Then it measures, alternating the two
commands, the wall time of a whole process:

- ``saved_model_cli show --all --dir M`` (TensorFlow's CLI: imports TensorFlow, loads the
  model's functions to list them);
- ``tfbundle show --all --dir M`` (``python -m tfbundle``; checked to print the same text);
- ``saved_model_cli show --dir M --tag_set serve --signature_def serving_default`` and the
  same with tfbundle;

and, in this process, ``tfbundle.inspect`` on the 100 MB model with and without op types.
One untimed run of each command comes first (warm page cache). Both commands run with
PYTHONHASHSEED=0 and TF_CPP_MIN_LOG_LEVEL=3 so that their outputs can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CACHE = HERE / "_build" / "models"
KERAS_MODEL = "mobilenet_v2_keras_export"
BIG_MODEL = "graph_100mb"

_MAKE_KERAS = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
keras.utils.set_random_seed(0)
model = keras.applications.MobileNetV2(weights=None)
model.export(sys.argv[1], verbose=False)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3")
    python_dir = REPO / "python"
    if any(python_dir.glob("tfbundle/_core*.so")):  # the dev build (dev/build.sh)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(python_dir), os.environ.get("PYTHONPATH")] if p
        )
    return env


def make_keras_model(cache: Path) -> Path:
    """The Keras-exported MobileNetV2 (random weights), made once."""
    out = cache / KERAS_MODEL
    if (out / "saved_model.pb").is_file():
        return out
    tmp = cache / (KERAS_MODEL + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", _MAKE_KERAS, str(tmp)], check=True, env=_env())
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def make_big_model(cache: Path, nodes: int = 100_000, node_bytes: int = 1000) -> Path:
    """A SavedModel whose GraphDef holds `nodes` Const nodes of about `node_bytes` bytes each."""
    out = cache / BIG_MODEL
    if (out / "saved_model.pb").is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / (BIG_MODEL + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    # NodeDef{name=1, op=2, attr=5{key, AttrValue{tensor=8{dtype=1, tensor_content=4}}}}
    payload = b"\x00" * node_bytes
    tensor = _varint(1 << 3) + _varint(4) + _ld(4, payload)  # DT_UINT8
    attr = _ld(5, _ld(1, b"value") + _ld(2, _ld(8, tensor))) + _ld(
        5, _ld(1, b"dtype") + _ld(2, _varint(6 << 3) + _varint(4))
    )
    graph = b"".join(_ld(1, _ld(1, b"c%d" % i) + _ld(2, b"Const") + attr) for i in range(nodes))
    info = _ld(4, b"serve") + _ld(5, b"2.21.0")
    tensor_info = _ld(1, b"c0:0") + _varint(2 << 3) + _varint(4)
    sig = _ld(2, _ld(1, b"y") + _ld(2, tensor_info)) + _ld(3, b"tensorflow/serving/predict")
    meta = _ld(1, info) + _ld(2, graph) + _ld(5, _ld(1, b"serving_default") + _ld(2, sig))
    (tmp / "saved_model.pb").write_bytes(_varint(1 << 3) + _varint(1) + _ld(2, meta))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return out


def _time(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def _normalize(text: str) -> str:
    """Sorts the entries of dict lines, whose order saved_model_cli takes from a protobuf map (random)."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from test_cli import normalize  # the tests' own comparison
    except ImportError:  # pragma: no cover - tests/ absent
        return text
    return normalize(text)


def bench_commands(model: Path, repeats: int, smcli: str) -> dict:
    """Alternating whole-process runs of the two CLIs on `model`."""
    cases = {
        "show --all": ["show", "--all", "--dir", str(model)],
        "show --tag_set serve --signature_def serving_default": [
            "show", "--dir", str(model), "--tag_set", "serve", "--signature_def", "serving_default"],
    }  # fmt: skip
    results = {}
    for name, args in cases.items():
        theirs_cmd = [smcli, *args]
        ours_cmd = [sys.executable, "-m", "tfbundle", *args]
        _, theirs_out = _time(theirs_cmd)  # warm-up, and the outputs to compare
        _, ours_out = _time(ours_cmd)
        same = _normalize(theirs_out) == _normalize(ours_out)
        theirs, ours = [], []
        for _ in range(repeats):
            theirs.append(_time(theirs_cmd)[0])
            ours.append(_time(ours_cmd)[0])
        results[name] = {
            "saved_model_cli_s": theirs,
            "tfbundle_s": ours,
            "saved_model_cli_median_s": statistics.median(theirs),
            "tfbundle_median_s": statistics.median(ours),
            "speedup_median": statistics.median(theirs) / statistics.median(ours),
            "same_output": same,
        }
    return results


def bench_inspect(model: Path, repeats: int) -> dict:
    """tfbundle.inspect on the 100 MB graph, in this process (after one warm-up)."""
    sys.path.insert(0, str(REPO / "python"))
    from tfbundle._readers.inspect import inspect

    out = {"graph_def_bytes": inspect(model).meta_graphs[0].graph_def_bytes}
    for ops in (False, True):
        inspect(model, ops=ops)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            inspect(model, ops=ops)
            times.append(time.perf_counter() - start)
        out["ops" if ops else "no_ops"] = {"times_s": times, "median_s": statistics.median(times)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of each command (default 5)"
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="model cache folder")
    args = parser.parse_args(argv)
    smcli = shutil.which("saved_model_cli")
    if smcli is None:
        print("saved_model_cli is not on PATH: install tensorflow to compare", file=sys.stderr)
        return 2
    keras_model = make_keras_model(args.cache)
    big_model = make_big_model(args.cache)
    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "model": str(keras_model),
        "commands": bench_commands(keras_model, args.repeats, smcli),
        "inspect_100mb_graph": bench_inspect(big_model, max(args.repeats, 5)),
    }
    print(f"Keras MobileNetV2 (model.export, random weights): {keras_model}")
    print(f"{'command':<55} {'saved_model_cli':>16} {'tfbundle':>10} {'speed-up':>9}  same text")
    for name, r in results["commands"].items():
        print(f"{name:<55} {r['saved_model_cli_median_s']:>14.3f} s {r['tfbundle_median_s']:>8.3f} s "
              f"{r['speedup_median']:>8.1f}x  {'yes' if r['same_output'] else 'NO'}")  # fmt: skip
    big = results["inspect_100mb_graph"]
    print(f"tfbundle.inspect, {big['graph_def_bytes'] / 1e6:.0f} MB GraphDef: "
          f"{big['no_ops']['median_s'] * 1e3:.2f} ms (graph skipped), "
          f"{big['ops']['median_s'] * 1e3:.1f} ms with ops=True (medians)")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
