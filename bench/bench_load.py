"""Load plus first call in a warm process: tfbundle against TensorFlow's C and Python loaders.

Usage::

    python bench/bench_load.py [--models dense,mobilenet_v2,transformer] [--repeats N] [--json OUT]

Where a process serves models it loads and reloads (new versions, autoscaling), the time from
``load`` to the first answer is the figure. For each model (made by ``bench/make_models.py`` into
``bench/_build/models`` when missing, which needs TensorFlow), after one untimed load of it:

- ``tfbundle``: ``tfbundle.load(path)`` (the default restore, ``"auto"``), then one call;
- ``tfbundle, warm compile cache``: the same with ``compile_cache=DIR`` (a temporary folder,
  its entry written by the untimed load and call), every load a hit whose call runs the stored
  optimized graph (``hit, compiled``);
- ``tfbundle, empty compile cache``: the same with a new empty folder each time, every load a
  miss whose call's optimized graph is stored (what storing costs);
- ``TF C loader``: ``tfbundle.load(path, restore="tf", grappler="tensorflow")``, i.e.
  ``TF_LoadSessionFromSavedModel`` with TensorFlow's default session options (TensorFlow restores
  the variables and runs the init op) and the first ``TF_SessionRun``, through tfbundle's thin
  wrapper, alternating with the rows above in the same process;
- ``TF C loader, tfbundle's grappler``: the same with tfbundle's grappler settings (the default
  ``grappler="fast"``), to tell the share of those settings from the share of tfbundle's loader;
- ``TF Python``: ``tf.saved_model.load(path)`` and the first call of its ``serving_default``
  signature, in a separate process that imported TensorFlow first (not timed).

Each row: the median of ``--repeats`` (default 5) loads of the load and of the first call, in
milliseconds, and the total over the C loader's. A last row per model gives the median time of a
call once loaded with each grappler setting, from the warm compile cache, and with an empty one
(four models held, their calls alternating). The inputs
are zeros of batch 1. The tfbundle rows are checked to give the C loader's outputs exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_models  # noqa: E402

# Per model: the input key, its shape at batch 1 and dtype.
INPUTS: dict[str, tuple[str, tuple[int, ...], str]] = {
    "dense": ("x", (1, 256), "float32"),
    "mobilenet_v2": ("x", (1, 224, 224, 3), "float32"),
    "transformer": ("x", (1, 64), "int32"),
}


def _inputs(name: str) -> dict[str, np.ndarray]:
    key, shape, dtype = INPUTS[name]
    return {key: np.zeros(shape, dtype)}


def _tfbundle_rows(path: Path, name: str, repeats: int) -> dict[str, Any]:
    import tfbundle

    inputs = _inputs(name)
    modes = ("auto", "cache", "store", "tf", "tf_fast")
    times: dict[str, dict[str, list[float]]] = {m: {"load": [], "first_call": []} for m in modes}
    outputs: dict[str, dict[str, np.ndarray]] = {}
    chose = ""
    cache_states: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="bench-load-cache-") as cache:
        # Untimed: the libraries opened, the files in the page cache, the cache's entry written
        # (the call's optimized graph with it).
        with tfbundle.load(path, compile_cache=cache) as first:
            first(**inputs)
        for _ in range(repeats):
            for mode in modes:
                t0 = time.perf_counter()
                if mode == "cache":
                    model = tfbundle.load(path, compile_cache=cache)
                elif mode == "store":
                    model = tfbundle.load(path, compile_cache=tempfile.mkdtemp(dir=cache))
                elif mode == "tf":
                    model = tfbundle.load(path, restore="tf", compile_cache=False, grappler="tensorflow")
                elif mode == "tf_fast":
                    model = tfbundle.load(path, restore="tf", compile_cache=False)
                else:
                    model = tfbundle.load(path, restore=mode, compile_cache=False)
                t1 = time.perf_counter()
                outputs[mode] = model(**inputs)
                t2 = time.perf_counter()
                if mode == "auto":
                    chose = model.restore
                if mode == "cache":
                    # "hit" with the call run from its stored optimized graph: "hit, compiled".
                    count, active, note = model._native.compiled_calls
                    cache_states.add(f"{model.compile_cache}, compiled" if count and active else
                                     f"{model.compile_cache}, not compiled ({note or 'no stored call'})")
                model.close()
                times[mode]["load"].append(t1 - t0)
                times[mode]["first_call"].append(t2 - t1)
        # Steady state: one model per grappler setting and one running its stored optimized graph
        # (a warm compile cache), calls alternating between them.
        # "storing": a load whose entry was empty, which checks every call for a new one to store.
        steady: dict[str, list[float]] = {"fast": [], "tensorflow": [], "compiled": [], "storing": []}
        held = {g: tfbundle.load(path, compile_cache=False, grappler=g) for g in ("fast", "tensorflow")}
        held["compiled"] = tfbundle.load(path, compile_cache=cache)
        held["storing"] = tfbundle.load(path, compile_cache=Path(cache) / "storing")
        for m in held.values():
            m(**inputs)
        t0 = time.perf_counter()
        for _ in range(5):
            held["fast"](**inputs)
        per_call = (time.perf_counter() - t0) / 5
        # About 4 s of calls, at least 60 per setting (fewer swing by 10% on this VM).
        for _ in range(min(1000, max(60, int(4.0 / (2 * per_call))))):
            for g, m in held.items():
                t0 = time.perf_counter()
                m(**inputs)
                steady[g].append(time.perf_counter() - t0)
        steady_compiled = held["compiled"]._native.compiled_calls[1]
        for m in held.values():
            m.close()
    equal = all(
        np.array_equal(outputs[m][k], outputs["tf"][k])
        for m in ("auto", "cache", "store", "tf_fast")
        for k in outputs["tf"]
    )
    return {
        "tfbundle": {k: statistics.median(v) for k, v in times["auto"].items()},
        "tfbundle, warm compile cache": {k: statistics.median(v) for k, v in times["cache"].items()},
        "tfbundle, empty compile cache": {k: statistics.median(v) for k, v in times["store"].items()},
        "TF C loader": {k: statistics.median(v) for k, v in times["tf"].items()},
        "TF C loader, tfbundle's grappler": {k: statistics.median(v) for k, v in times["tf_fast"].items()},
        "restore": chose,
        "steady_call": {g: statistics.median(v) for g, v in steady.items()},
        "compile_cache": sorted(cache_states),
        "steady_compiled": steady_compiled,
        "outputs_equal": equal,
    }


def _tf_python_worker(path: str, name: str, repeats: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    key, shape, dtype = INPUTS[name]
    x = tf.zeros(shape, dtype)
    tf.saved_model.load(path).signatures["serving_default"](**{key: x})  # untimed
    load, first = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loaded = tf.saved_model.load(path)
        t1 = time.perf_counter()
        out = loaded.signatures["serving_default"](**{key: x})
        {k: v.numpy() for k, v in out.items()}
        t2 = time.perf_counter()
        load.append(t1 - t0)
        first.append(t2 - t1)
    print(json.dumps({"load": statistics.median(load), "first_call": statistics.median(first)}))


def _tf_python_row(path: Path, name: str, repeats: int) -> dict[str, float] | None:
    try:
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None:
            return None
    except ValueError:
        return None
    proc = subprocess.run(
        [sys.executable, __file__, "--tf-worker", str(path), name, str(repeats)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"TF Python on {name} failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="dense,mobilenet_v2,transformer")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=HERE / "_build" / "models")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--tf-worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tf_worker:
        _tf_python_worker(args.tf_worker[0], args.tf_worker[1], int(args.tf_worker[2]))
        return 0
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in INPUTS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(INPUTS)}")
    missing = [n for n in names if not make_models.is_complete(make_models.model_dir(str(args.cache), n))]
    if missing:
        print(f"making {', '.join(missing)} with TensorFlow ...", file=sys.stderr)
        make_models.make(str(args.cache), missing)
    results = {}
    print("| model | loader | load ms | first call ms | total ms | total / TF C loader |")
    print("|---|---|---|---|---|---|")
    for name in names:
        path = Path(make_models.model_dir(str(args.cache), name))
        row = _tfbundle_rows(path, name, args.repeats)
        tf_python = _tf_python_row(path, name, args.repeats)
        if tf_python is not None:
            row["TF Python"] = tf_python
        results[name] = row
        base = row["TF C loader"]["load"] + row["TF C loader"]["first_call"]
        for loader in (
            "tfbundle",
            "tfbundle, warm compile cache",
            "tfbundle, empty compile cache",
            "TF C loader",
            "TF C loader, tfbundle's grappler",
            "TF Python",
        ):
            if loader not in row:
                continue
            t = row[loader]
            total = t["load"] + t["first_call"]
            label = f"{loader} (restore={row['restore']})" if loader.startswith("tfbundle") else loader
            print(f"| {name} | {label} | {1e3 * t['load']:.0f} | {1e3 * t['first_call']:.0f} | {1e3 * total:.0f} | "
                  f"{total / base:.2f} |", flush=True)  # fmt: skip
        per = row["steady_call"]
        print(f"| {name} | steady-state call, grappler fast / tensorflow / compiled / storing | "
              f"{1e3 * per['fast']:.3f} / {1e3 * per['tensorflow']:.3f} / {1e3 * per['compiled']:.3f} / "
              f"{1e3 * per['storing']:.3f} ms | | | {per['fast'] / per['tensorflow']:.2f} / "
              f"{per['compiled'] / per['tensorflow']:.2f} / {per['storing'] / per['tensorflow']:.2f} |")  # fmt: skip
        if not row["steady_compiled"]:
            print(f"warning: {name}: the steady-state 'compiled' model left its compiled graph", file=sys.stderr)
        if row["compile_cache"] != ["hit, compiled"]:
            print(f"warning: {name}: the warm compile cache's loads said {row['compile_cache']}", file=sys.stderr)
        if not row["outputs_equal"]:
            print(f"warning: {name}: tfbundle's outputs differ from the C loader's", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
