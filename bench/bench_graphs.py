"""Benchmark: loading TF1 checkpoint graphs, and the first call with and without warmup.

    python bench/bench_graphs.py [--quick] [--json OUT] [--repeats N] [--iterations N]

Two questions, each answered side by side with TensorFlow's own ways in one run:

1. Loading a TF1 checkpoint graph (``model.ckpt.meta`` + ``.index`` + ``.data``):
   - ``tfbundle``: ``tfbundle.load_checkpoint_graph(prefix)``;
   - ``C API loop``: ``bench/graph_loop.cc``, built here with g++ against the TensorFlow
     wheel's C headers: read the .meta, ``TF_GraphImportGraphDef``, ``TF_NewSession``,
     ``TF_SessionRun`` of the restore op. The floor for any C-API loader;
   - ``TF Python``: ``tf.compat.v1.train.import_meta_graph`` + ``Saver.restore``.
   Measured twice: repeated loads in one warm process (median of ``--iterations``), and
   a cold process per repeat (interpreter or program start, library loading, load,
   first call; median of ``--repeats``), the wall time seen from outside.
2. Warmup: a SavedModel with ``assets.extra/tf_serving_warmup_requests``, loaded with
   ``tfbundle.load(dir, warmup=False)`` and ``warmup=True`` in fresh processes: the first
   call's latency against the steady-state median of the calls after it.

The models are made once by TensorFlow's Python API into ``bench/_build/graphs/``: a
small dense checkpoint (2 layers of 256) and a deep convolutional one (24 conv layers of
64 channels on 64x64 images, 48 variables, 3.4 MB), plus the deep one as a SavedModel
with a warmup file (one predict request at batch 1).

Every measurement runs in its own child process; progress goes to stderr, tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = HERE / "_build"
MODELS = BUILD / "graphs"

MAKE_MODELS = r"""
import os, shutil, struct, sys
import numpy as np
import tensorflow as tf
tf1 = tf.compat.v1
out = sys.argv[1]
tmp = out + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
rng = np.random.RandomState(0)

def dense_graph():
    x = tf1.placeholder(tf.float32, [None, 256], name="x")
    h = x
    for i, width in enumerate((256, 10)):
        init = rng.randn(int(h.shape[1]), width).astype(np.float32) * 0.05
        w = tf1.get_variable(f"w{i}", initializer=init, use_resource=False)
        b = tf1.get_variable(f"b{i}", initializer=np.zeros(width, np.float32), use_resource=False)
        h = tf.matmul(h, w) + b
        if i == 0:
            h = tf.nn.relu(h)
    return x, tf.identity(h, name="y")

def deep_graph():
    x = tf1.placeholder(tf.float32, [None, 64, 64, 3], name="x")
    h, channels = x, 3
    for i in range(24):
        init = rng.randn(3, 3, channels, 64).astype(np.float32) * 0.05
        k = tf1.get_variable(f"conv{i}/kernel", initializer=init, use_resource=False)
        b = tf1.get_variable(f"conv{i}/bias", initializer=np.zeros(64, np.float32), use_resource=False)
        h = tf.nn.relu(tf.nn.conv2d(h, k, strides=2 if i in (4, 12) else 1, padding="SAME") + b)
        channels = 64
    pooled = tf.reduce_mean(h, axis=[1, 2])
    w = tf1.get_variable("head/kernel", initializer=rng.randn(64, 10).astype(np.float32) * 0.05, use_resource=False)
    return x, tf.identity(tf.matmul(pooled, w), name="y")

for name, make in (("small", dense_graph), ("deep", deep_graph)):
    with tf.Graph().as_default(), tf1.Session() as s:
        x, y = make()
        s.run(tf1.global_variables_initializer())
        tf1.train.Saver().save(s, os.path.join(tmp, name + "_ckpt", "model.ckpt"))
        if name == "deep":
            sig = tf1.saved_model.signature_def_utils.predict_signature_def({"x": x}, {"y": y})
            builder = tf1.saved_model.Builder(os.path.join(tmp, "deep_saved_model"))
            builder.add_meta_graph_and_variables(s, ["serve"], signature_def_map={"serving_default": sig})
            builder.save()

def varint(v):
    b = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        b.append(c | 0x80 if v else c)
        if not v:
            return bytes(b)

def ld(n, payload):
    return varint(n << 3 | 2) + varint(len(payload)) + payload

arr = np.full((1, 64, 64, 3), 0.5, np.float32)
shape = ld(2, b"".join(ld(2, varint(8) + varint(d)) for d in arr.shape))
tensor = varint(8) + varint(1) + shape + ld(4, arr.tobytes())
record = ld(6, ld(1, ld(2, ld(1, b"x") + ld(2, tensor))))  # PredictionLog.predict_log.request.inputs["x"]
os.makedirs(os.path.join(tmp, "deep_saved_model", "assets.extra"))
with tf.io.TFRecordWriter(os.path.join(tmp, "deep_saved_model", "assets.extra", "tf_serving_warmup_requests")) as w:
    w.write(record)
os.rename(tmp, out)
"""

# Per checkpoint model: the feed, the fetch and the input shape of the first call.
CKPT_MODELS = {
    "small": {"feed": "x:0", "fetch": "y:0", "shape": (1, 256)},
    "deep": {"feed": "x:0", "fetch": "y:0", "shape": (1, 64, 64, 3)},
}


def log(msg: str) -> None:
    print(f"[bench_graphs] {msg}", file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    if any((ROOT / "python" / "tfbundle").glob("_core*.so")):
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "python")] + [p for p in [env.get("PYTHONPATH")] if p]
        )
    return env


def tensorflow_dir() -> str | None:
    import importlib.util

    spec = importlib.util.find_spec("tensorflow")
    return spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None


def make_models() -> None:
    if (MODELS / "deep_saved_model" / "saved_model.pb").is_file():
        return
    log("making the models with TensorFlow (once)")
    MODELS.parent.mkdir(parents=True, exist_ok=True)
    env = dict(child_env(), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", MAKE_MODELS, str(MODELS)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit("making the models failed:\n" + proc.stderr[-3000:])


def build_graph_loop(tfdir: str) -> Path:
    include = Path(tfdir) / "include"
    if not (include / "tensorflow" / "c" / "c_api.h").is_file():
        raise SystemExit(f"no TensorFlow C headers under {include}")
    src, out = HERE / "graph_loop.cc", BUILD / "graph_loop"
    cmd = [
        os.environ.get("CXX", "g++"), "-O2", "-std=c++17", f"-I{include}", str(src), "-o", str(out),
        f"-L{tfdir}", "-l:libtensorflow_cc.so.2", "-l:libtensorflow_framework.so.2", f"-Wl,-rpath,{tfdir}",
    ]  # fmt: skip
    stamp = out.with_suffix(".cmd")
    line = shlex.join(cmd)
    if (
        out.is_file()
        and out.stat().st_mtime >= src.stat().st_mtime
        and stamp.is_file()
        and stamp.read_text() == line
    ):
        return out
    log("building bench/graph_loop.cc")
    BUILD.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("g++ failed:\n" + proc.stderr[-3000:])
    stamp.write_text(line)
    return out


# ------------------------------------------------------------------- workers ---
#
# Each runs in a fresh process (python bench_graphs.py --worker KIND ...), prints one
# JSON line and exits. Times in microseconds.


def worker_tfbundle_load(prefix: str, iterations: int, spec: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    import numpy as np

    from tfbundle._runtime import library as _library
    from tfbundle._runtime.graphs import load_checkpoint_graph  # tfbundle.load_checkpoint_graph

    t1 = time.perf_counter()
    _library.ensure_loaded()
    t2 = time.perf_counter()
    loads, first_calls = [], []
    x = np.full(spec["shape"], 0.5, np.float32)
    for _ in range(iterations):
        start = time.perf_counter()
        model = load_checkpoint_graph(prefix)
        mid = time.perf_counter()
        model.run(spec["fetch"], {spec["feed"]: x})
        end = time.perf_counter()
        model.close()
        loads.append((mid - start) * 1e6)
        first_calls.append((end - mid) * 1e6)
    return {
        "import_us": (t1 - t0) * 1e6,
        "library_us": (t2 - t1) * 1e6,
        "load_us": loads,
        "first_call_us": first_calls,
    }


def worker_tf_load(prefix: str, iterations: int, spec: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    import numpy as np
    import tensorflow as tf

    t1 = time.perf_counter()
    tf1 = tf.compat.v1
    loads, first_calls = [], []
    x = np.full(spec["shape"], 0.5, np.float32)
    config = tf1.ConfigProto(allow_soft_placement=True)
    for _ in range(iterations):
        start = time.perf_counter()
        graph = tf.Graph()
        with graph.as_default():
            saver = tf1.train.import_meta_graph(prefix + ".meta")
            sess = tf1.Session(graph=graph, config=config)
            saver.restore(sess, prefix)
        mid = time.perf_counter()
        sess.run(spec["fetch"], {spec["feed"]: x})
        end = time.perf_counter()
        sess.close()
        loads.append((mid - start) * 1e6)
        first_calls.append((end - mid) * 1e6)
    return {
        "import_us": (t1 - t0) * 1e6,
        "library_us": 0.0,
        "load_us": loads,
        "first_call_us": first_calls,
    }


def worker_warmup(folder: str, warmup: bool, calls: int) -> dict[str, Any]:
    import numpy as np

    import tfbundle

    start = time.perf_counter()
    model = tfbundle.load(folder, warmup=warmup)
    load_us = (time.perf_counter() - start) * 1e6
    sig = model.default_signature
    x = np.full((1, 64, 64, 3), 0.5, np.float32)
    times = []
    for _ in range(calls + 1):
        start = time.perf_counter()
        sig.run({"x": x})
        times.append((time.perf_counter() - start) * 1e6)
    ran = model.warmup.ran if model.warmup is not None else 0
    seconds = model.warmup.seconds if model.warmup is not None else 0.0
    model.close()
    return {"load_us": load_us, "warmup_ran": ran, "warmup_us": seconds * 1e6, "first_call_us": times[0],
            "steady_us": times[1:]}  # fmt: skip


def run_worker(argv: list[str]) -> None:
    kind = argv[0]
    if kind in ("tfbundle", "tf"):
        prefix, iterations, model = argv[1], int(argv[2]), argv[3]
        fn = worker_tfbundle_load if kind == "tfbundle" else worker_tf_load
        result = fn(prefix, iterations, CKPT_MODELS[model])
    elif kind == "warmup":
        result = worker_warmup(argv[1], argv[2] == "1", int(argv[3]))
    else:
        raise SystemExit(f"unknown worker {kind}")
    print(json.dumps(result), flush=True)


# -------------------------------------------------------------------- driver ---


def child(cmd: list[str]) -> tuple[dict[str, Any], float]:
    """Runs a worker or graph_loop; returns its JSON and the wall time seen from outside (us)."""
    env = dict(child_env(), TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = (time.perf_counter() - start) * 1e6
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def py(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", *args]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_load(model: str, loop: Path, iterations: int, repeats: int) -> dict[str, Any]:
    prefix = str(MODELS / f"{model}_ckpt" / "model.ckpt")
    spec = CKPT_MODELS[model]
    call = [spec["feed"], spec["fetch"], *map(str, spec["shape"])]
    out: dict[str, Any] = {}
    # Warm: repeated loads in one process; the first load of a process is left out.
    log(f"{model}: {iterations} loads in one process each way")
    warm = {
        "tfbundle": child(py("tfbundle", prefix, str(iterations + 1), model))[0]["load_us"][1:],
        "C API loop": [
            i["load_us"]
            for i in child([str(loop), prefix + ".meta", prefix, str(iterations + 1)])[0][
                "iterations"
            ][1:]
        ],
        "TF Python": child(py("tf", prefix, str(iterations + 1), model))[0]["load_us"][1:],
    }
    out["warm_load_us"] = {
        k: {"median": median(v), "min": min(v), "n": len(v)} for k, v in warm.items()
    }
    # Cold: a fresh process per repeat, round-robin over the three.
    log(f"{model}: {repeats} cold processes each way")
    cold: dict[str, dict[str, list[float]]] = {
        k: {"wall": [], "load": [], "first_call": []} for k in warm
    }
    for _ in range(repeats):
        result, wall = child(py("tfbundle", prefix, "1", model))
        cold["tfbundle"]["wall"].append(wall)
        cold["tfbundle"]["load"].append(result["load_us"][0])
        cold["tfbundle"]["first_call"].append(result["first_call_us"][0])
        result, wall = child([str(loop), prefix + ".meta", prefix, "1", *call])
        cold["C API loop"]["wall"].append(wall)
        cold["C API loop"]["load"].append(result["iterations"][0]["load_us"])
        cold["C API loop"]["first_call"].append(result["iterations"][0]["first_call_us"])
        result, wall = child(py("tf", prefix, "1", model))
        cold["TF Python"]["wall"].append(wall)
        cold["TF Python"]["load"].append(result["load_us"][0])
        cold["TF Python"]["first_call"].append(result["first_call_us"][0])
    out["cold_us"] = {k: {m: median(v) for m, v in d.items()} for k, d in cold.items()}
    return out


def bench_warmup(repeats: int, calls: int) -> dict[str, Any]:
    folder = str(MODELS / "deep_saved_model")
    log(f"warmup: {repeats} processes with and without")
    runs: dict[str, list[dict[str, Any]]] = {"without warmup": [], "with warmup": []}
    for _ in range(repeats):
        runs["without warmup"].append(child(py("warmup", folder, "0", str(calls)))[0])
        runs["with warmup"].append(child(py("warmup", folder, "1", str(calls)))[0])
    out = {}
    for name, results in runs.items():
        first = median([r["first_call_us"] for r in results])
        steady = median([median(r["steady_us"]) for r in results])
        out[name] = {
            "first_call_us": first,
            "steady_median_us": steady,
            "ratio": first / steady,
            "load_us": median([r["load_us"] for r in results]),
            "warmup_us": median([r["warmup_us"] for r in results]),
            "warmup_requests": results[0]["warmup_ran"],
        }
    return out


def ms(us: float) -> str:
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.0f} us"


def report(results: dict[str, Any]) -> str:
    lines = [
        f"# tfbundle graph loading and warmup ({results['env']['date']}, {results['env']['machine']})",
        "",
    ]
    for model in ("small", "deep"):
        r = results["load"][model]
        lines += [f"## Loading the `{model}` TF1 checkpoint graph", ""]
        lines += [("| | load, warm process (median) | cold process: load | cold: first call "
                   "| cold: start to first result |"),
                  "|---|---|---|---|---|"]  # fmt: skip
        for name in ("tfbundle", "C API loop", "TF Python"):
            w, c = r["warm_load_us"][name], r["cold_us"][name]
            lines.append(
                f"| {name} | {ms(w['median'])} | {ms(c['load'])} | {ms(c['first_call'])} | {ms(c['wall'])} |"
            )
        warm_ratio = (
            r["warm_load_us"]["tfbundle"]["median"] / r["warm_load_us"]["C API loop"]["median"]
        )
        cold_speedup = r["cold_us"]["TF Python"]["wall"] / r["cold_us"]["tfbundle"]["wall"]
        summary = (
            f"tfbundle / C API loop, warm load: **{warm_ratio:.2f}x** (target <= 1.2x); "
            f"TF Python / tfbundle, cold process: **{cold_speedup:.1f}x** faster (target >= 3x)."
        )
        lines += ["", summary, ""]
    w = results["warmup"]
    lines += ["## First call with and without warmup (`deep` SavedModel, batch 1)", "",
              "| | load | warmup | first call | steady-state median | first / median |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in w.items():
        lines.append(f"| {name} | {ms(r['load_us'])} | {ms(r['warmup_us'])} ({r['warmup_requests']} requests) | "
                     f"{ms(r['first_call_us'])} | {ms(r['steady_median_us'])} | **{r['ratio']:.2f}x** |")  # fmt: skip
    lines += ["", "Target: with warmup, the first call within 2x of the steady-state median."]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        run_worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="few iterations: a smoke test, not figures to quote"
    )
    parser.add_argument(
        "--repeats", type=int, help="cold processes per loader (default 5; quick: 2)"
    )
    parser.add_argument(
        "--iterations", type=int, help="loads in one process (default 20; quick: 3)"
    )
    parser.add_argument("--json", metavar="OUT", help="also write every figure to OUT as JSON")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    iterations = args.iterations or (3 if args.quick else 20)
    calls = 20 if args.quick else 200
    tfdir = tensorflow_dir()
    if tfdir is None:
        raise SystemExit("TensorFlow is needed to make the models and to be compared with")
    make_models()
    loop = build_graph_loop(tfdir)
    load1 = os.getloadavg()[0]
    results: dict[str, Any] = {
        "env": {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(),
            "loadavg_start": load1,
        },
        "config": {"repeats": repeats, "iterations": iterations, "calls": calls},
        "load": {m: bench_load(m, loop, iterations, repeats) for m in CKPT_MODELS},
        "warmup": bench_warmup(repeats, calls),
    }
    results["env"]["loadavg_end"] = os.getloadavg()[0]
    print(report(results))
    print(
        f"\n(load average {results['env']['loadavg_start']:.2f} at the start, "
        f"{results['env']['loadavg_end']:.2f} at the end)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
