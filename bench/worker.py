"""One measurement, in a process of its own; started by ``bench/run.py``.

Usage (internal)::

    python bench/worker.py REQUEST_JSON RESULT_JSON

REQUEST_JSON is a file holding the request (a dict with a ``task`` key); the result dict is
written to RESULT_JSON. A failure is written as ``{"error": "..."}`` with exit status 1.

Tasks:

- ``load``: import one framework and load one model, in this fresh process; report the import
  time, (tfbundle only) the time to open TensorFlow's libraries, the load time, the first
  prediction's time and the resident memory after it.
- ``warm_load``: load a model with tfbundle once, then ``repeats`` more times in the same process.
- ``latency``: per-call latency of each of the framework's call forms at each batch size.

Frameworks: ``tfbundle`` (tfbundle.load; signature call, ``sig.run`` and the C loop on the same
session), ``tf2`` (tf.saved_model.load + the serving_default concrete function) and ``tf1``
(tf.compat.v1.saved_model.loader.load + Session.run). TensorFlow's Python package is imported
only in tf2/tf1 workers and tfbundle only in tfbundle workers.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import time
import traceback
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # bench/ is not a package: imported from its folder


def _rss_mb() -> float | None:
    """Return this process's resident memory in MiB, or None where /proc is absent."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _tf_cc_copies() -> int:
    """Count the copies of libtensorflow_cc mapped in this process (each maps offset 0 once)."""
    count = 0
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and "libtensorflow_cc.so" in parts[5] and int(parts[2], 16) == 0:
                    count += 1
    except OSError:
        return -1
    return count


def _time_calls(fn: Callable[[], Any], iters: int) -> list[float]:
    """Call ``fn`` ``iters`` times with the garbage collector off; return per-call microseconds."""
    samples = [0.0] * iters
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for i in range(iters):
            t0 = clock()
            fn()
            samples[i] = (clock() - t0) / 1000.0
    finally:
        gc.enable()
    return samples


def _round_chunks(total: int, rounds: int) -> list[int]:
    """Split ``total`` iterations into ``rounds`` nearly equal positive chunks."""
    rounds = max(1, min(rounds, total))
    base, extra = divmod(total, rounds)
    return [base + (1 if i < extra else 0) for i in range(rounds)]


# ----------------------------------------------------------------------------------- loaders


def _load_tfbundle(model_dir: str) -> tuple[Any, Callable[[Any], Any], dict]:
    t0 = time.perf_counter()
    import tfbundle

    t1 = time.perf_counter()
    # tfbundle opens TensorFlow's libraries at the first load; open them first (a private
    # helper, used when present) so that the load time is the load alone.
    try:
        from tfbundle._runtime import library as _library

        _library.ensure_loaded()
        t2 = time.perf_counter()
        libs_s: float | None = t2 - t1
    except (ImportError, AttributeError):
        t2, libs_s = t1, None
    model = tfbundle.load(model_dir)
    t3 = time.perf_counter()
    phases = {"import_s": t1 - t0, "libs_s": libs_s, "load_s": t3 - t2}
    return model, lambda data: model(x=data), phases


def _load_tf2(model_dir: str) -> tuple[Any, Callable[[Any], Any], dict]:
    t0 = time.perf_counter()
    import tensorflow as tf

    t1 = time.perf_counter()
    loaded = tf.saved_model.load(model_dir)
    t2 = time.perf_counter()
    fn = loaded.signatures["serving_default"]
    phases = {"import_s": t1 - t0, "libs_s": None, "load_s": t2 - t1}
    return loaded, lambda data: {k: v.numpy() for k, v in fn(x=tf.constant(data)).items()}, phases


def _load_tf1(model_dir: str) -> tuple[Any, Callable[[Any], Any], dict]:
    t0 = time.perf_counter()
    import tensorflow as tf

    t1 = time.perf_counter()
    graph = tf.Graph()
    sess = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], model_dir)
    t2 = time.perf_counter()
    sig = meta.signature_def["serving_default"]
    x = graph.get_tensor_by_name(sig.inputs["x"].name)
    y = graph.get_tensor_by_name(sig.outputs["y"].name)
    phases = {"import_s": t1 - t0, "libs_s": None, "load_s": t2 - t1}
    return sess, lambda data: {"y": sess.run(y, feed_dict={x: data})}, phases


_LOADERS = {"tfbundle": _load_tfbundle, "tf2": _load_tf2, "tf1": _load_tf1}


def task_load(req: dict) -> dict:
    """Import a framework and load a model in this fresh process (see the module docstring)."""
    loader = _LOADERS[req["framework"]]
    data = common.make_input(req["model"], 1)
    _handle, predict, phases = loader(req["model_dir"])
    t0 = time.perf_counter()
    predict(data)
    phases["first_call_s"] = time.perf_counter() - t0
    phases["rss_mb"] = _rss_mb()
    return phases


def task_warm_load(req: dict) -> dict:
    """Load a model with tfbundle once, then ``repeats`` more times, closing each."""
    import tfbundle

    first = tfbundle.load(req["model_dir"])
    first.close()
    times = []
    for _ in range(req["repeats"]):
        t0 = time.perf_counter()
        m = tfbundle.load(req["model_dir"])
        times.append(time.perf_counter() - t0)
        m.close()
    return {"load_s": times}


# ----------------------------------------------------------------------------------- latency


class _CLoop:
    """ctypes wrapper of bench/c_loop.cc's tfb_bench_loop on tfbundle's own session."""

    def __init__(self, lib_path: str, model: Any, sig: Any, in_key: str, out_key: str) -> None:
        native = model._native
        self.session = int(native.session_handle())
        self.graph = int(native.graph_handle())
        self.in_op, self.in_idx = common.parse_tensor_name(sig.inputs[in_key].tensor_name)
        self.out_op, self.out_idx = common.parse_tensor_name(sig.outputs[out_key].tensor_name)
        lib = ctypes.CDLL(
            lib_path
        )  # RTLD_LOCAL; its libtensorflow_cc dependency is tfbundle's copy
        fn = lib.tfb_bench_loop
        fn.restype = ctypes.c_double
        fn.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int64),
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        self.fn = fn

    def run(self, data: Any, iters: int, reuse_input: bool, out: Any = None) -> list[float]:
        """Run the C loop ``iters`` times; return per-call microseconds (and fill ``out``)."""
        import numpy as np

        per_call = np.zeros(iters, dtype=np.float64)
        dims = (ctypes.c_int64 * data.ndim)(*data.shape)
        err = ctypes.create_string_buffer(2048)
        out_ptr = out.ctypes.data if out is not None else None
        out_len = out.size if out is not None else 0
        total = self.fn(
            self.session,
            self.graph,
            self.in_op.encode(),
            self.in_idx,
            self.out_op.encode(),
            self.out_idx,
            data.ctypes.data,
            dims,
            data.ndim,
            iters,
            int(reuse_input),
            per_call.ctypes.data,
            out_ptr,
            out_len,
            err,
            len(err),
        )
        if total < 0:
            raise RuntimeError("C loop failed: " + err.value.decode(errors="replace"))
        return per_call.tolist()


def _tfbundle_methods(req: dict, notes: list[str]) -> tuple[dict, Callable[[], None]]:
    """Build the tfbundle call forms: {method: (make_call(batch), get_output(batch))}."""
    import numpy as np

    import tfbundle

    spec = common.MODELS[req["model"]]
    in_key, out_key = spec["input"], spec["output"]
    model = tfbundle.load(req["model_dir"])
    sig = model.signatures["serving_default"]
    buffers: dict[int, Any] = {}

    def buf(batch: int) -> Any:
        if batch not in buffers:
            b = tfbundle.empty(common.input_shape(req["model"], batch), np.float32)
            b[...] = common.make_input(req["model"], batch)
            buffers[batch] = b
        return buffers[batch]

    def call_form(batch: int) -> Callable[[], Any]:
        b = buf(batch)
        return lambda: sig(**{in_key: b})

    def run_form(batch: int) -> Callable[[], Any]:
        feeds, outs = {in_key: buf(batch)}, [out_key]
        return lambda: sig.run(feeds, outs)

    methods: dict[str, Any] = {
        "tfbundle_call": (call_form, lambda b: sig(**{in_key: buf(b)})[out_key]),
        "tfbundle_run": (run_form, lambda b: sig.run({in_key: buf(b)}, [out_key])[0]),
    }
    lib = req.get("c_loop")
    if not lib:
        notes.append("C loop skipped: " + req.get("c_loop_reason", "no library built"))
    elif not hasattr(model, "_native") or not hasattr(model._native, "session_handle"):
        notes.append("C loop skipped: this tfbundle has no model._native.session_handle()")
    else:
        try:
            loop = _CLoop(lib, model, sig, in_key, out_key)
        except Exception as exc:  # noqa: BLE001 - any failure here: the tfbundle rows still run
            notes.append(f"C loop skipped: {type(exc).__name__}: {exc}")
            return methods, model.close
        copies = _tf_cc_copies()
        if copies != 1:
            notes.append(f"libtensorflow_cc is mapped {copies} times in the tfbundle worker")
        for name, reuse in (("c_loop", False), ("c_loop_reuse", True)):

            def chunk(batch: int, n: int, reuse: bool = reuse) -> list[float]:
                return loop.run(buf(batch), n, reuse)

            def output(batch: int, reuse: bool = reuse) -> Any:
                out = np.zeros((batch, *spec["out_dims"]), np.float32)
                loop.run(buf(batch), 1, reuse, out)
                return out

            methods[name] = ("native", chunk, output)
    return methods, model.close


def _tf_methods(req: dict, notes: list[str]) -> tuple[dict, Callable[[], None]]:
    """Build the TF2 or TF1 call form: {method: (make_call(batch), get_output(batch))}."""
    handle, predict, _ = _LOADERS[req["framework"]](req["model_dir"])
    out_key = common.MODELS[req["model"]]["output"]
    inputs: dict[int, Any] = {}

    def data(batch: int) -> Any:
        if batch not in inputs:
            inputs[batch] = common.make_input(req["model"], batch)
        return inputs[batch]

    def form(batch: int) -> Callable[[], Any]:
        d = data(batch)
        return lambda: predict(d)

    name = "tf2_call" if req["framework"] == "tf2" else "tf1_session_run"
    close = handle.close if req["framework"] == "tf1" else (lambda: None)
    return {name: (form, lambda b: predict(data(b))[out_key])}, close


def task_latency(req: dict) -> dict:
    """Measure per-call latency of each call form of one framework on one model."""
    import numpy as np

    notes: list[str] = []
    build = _tfbundle_methods if req["framework"] == "tfbundle" else _tf_methods
    methods, close = build(req, notes)
    samples: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    outputs: dict[str, dict[str, str]] = {m: {} for m in methods}
    for batch in req["batches"]:
        iters, warmup = req["iters"][str(batch)], req["warmup"][str(batch)]
        calls = {}
        for name, entry in list(methods.items()):
            if entry[0] == "native":
                chunk = entry[1]
                try:
                    chunk(batch, warmup)
                except RuntimeError as exc:  # a C loop failure drops that row only
                    notes.append(f"{name} skipped: {exc}")
                    del methods[name]
                    continue
                calls[name] = lambda n, chunk=chunk, batch=batch: chunk(batch, n)
            else:
                fn = entry[0](batch)
                for _ in range(warmup):
                    fn()
                calls[name] = lambda n, fn=fn: _time_calls(fn, n)
        # Interleave the call forms in rounds so that drift in the machine's load (other
        # processes on a shared machine) spreads over all of them alike.
        for n in _round_chunks(iters, req["rounds"]):
            for name, timed in calls.items():
                samples[name].setdefault(str(batch), []).extend(timed(n))
        for name, entry in methods.items():
            out = np.asarray(entry[-1](batch))
            path = os.path.join(req["out_dir"], f"{req['model']}-{name}-b{batch}.npy")
            np.save(path, out)
            outputs[name][str(batch)] = path
    close()
    return {"samples_us": samples, "outputs": outputs, "notes": notes, "rss_mb": _rss_mb()}


_TASKS = {"load": task_load, "warm_load": task_warm_load, "latency": task_latency}


def main(argv: list[str]) -> int:
    """Run the request in ``argv[0]``, write the result to ``argv[1]``; return the exit status."""
    if len(argv) != 2:
        print(
            "usage: python bench/worker.py REQUEST_JSON RESULT_JSON (started by bench/run.py)",
            file=sys.stderr,
        )
        return 2
    with open(argv[0]) as f:
        req = json.load(f)
    try:
        result = _TASKS[req["task"]](req)
        status = 0
    except Exception as exc:  # noqa: BLE001 - reported to run.py, printed beside the table
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        status = 1
    with open(argv[1], "w") as f:
        json.dump(result, f)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
