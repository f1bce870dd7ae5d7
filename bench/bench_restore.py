"""Memory-mapped restore vs TensorFlow's own restore, on SavedModels with ~1.5 GB of variables.

Usage::

    python bench/bench_restore.py [--model {tf1,tf2,all}] [--repeats N] [--calls N]
                                  [--rounds N] [--json OUT] [--cache DIR]

Compares, in fresh processes, on the same model:

- ``tf``: ``tfbundle.load`` (TF_LoadSessionFromSavedModel: TensorFlow's RestoreV2 reads
  every tensor from the data shards into buffers of its own);
- ``mmap``: ``tfbundle.load(restore="mmap")`` (feeds the restore with TF_Tensors over a private
  copy-on-write mapping of the shards: zero-copy where a tensor's bytes start 64-byte-aligned,
  copied otherwise). Where tfbundle cannot do this for a model (it raises UnimplementedError),
  the row says "unsupported: <message>" and the other rows are still measured;
- ``tf.saved_model.load`` (TF2 model only): TensorFlow's own Python loader, in a process that
  imports ``tensorflow`` and not tfbundle; the signature is called with ``tf.constant`` inputs
  and its output converted with ``.numpy()``.

For each: load time, time of the first call (which touches every weight), and the process's
memory from ``/proc/self/smaps_rollup`` (Rss, Pss, anonymous and file-backed parts) after the
load and after the first call, less what it held before loading (TensorFlow's libraries already
loaded: ``import tensorflow`` for TensorFlow's Python loader). Runs: one process with a warm
page cache, one process with the model's files dropped from the page cache first
(``posix_fadvise(DONTNEED)``, "cold"), and four processes loading at once (warm), measured while
all four are alive. Repeats go round-robin over the restores, so that a change in the machine's
load falls on all of them alike.

Then the steady-state time of one call at batch 1, per restore: one process per restore, all
alive at once, 5 warm-up calls each, then ``--calls`` (default 50) timed calls each,
interleaved in ``--rounds`` (default 5) rounds whose order turns, so that the restores are
timed under the same machine load (median, p10, p90). Also reports how many bytes of the
checkpoint the mapped restore handed to TensorFlow without a copy, and, per model, the figures
of issue 10: mmap load over ``tf`` load, the PSS sum of four processes over the variables' size,
mmap per-call time over ``tf``'s.

The models (made once with TensorFlow's Python API into ``bench/_build/restore/``, about
1.5 GB each), both with the signature ``serving_default``: ``x`` float32 (N, 4096), ``ids``
int64 (N,) -> ``y`` float32 (N,):

- ``tf1``: a TF1-style graph (``tf.compat.v1``, resource variables, SavedModelBuilder) of
  17 dense layers 4096x4096 and an embedding table 100001x1000 read with embedding_lookup,
  whose stock checkpoint packs the tensors with no padding, so the tensors stored after the
  embedding table are not 64-byte-aligned.
- ``tf2``: a ``tf.Module`` with ``tf.Variable`` s (16 dense layers 4096x4096 with biases and an
  embedding table 100000x1000 read with ``tf.gather``: the sparse-access case), saved with
  ``tf.saved_model.save``: its variables are restored inside a traced function, through the
  object graph. Every tensor's size is a multiple of 64 bytes, so every tensor in its shard
  starts 64-byte-aligned (TensorFlow's saver writes the table first: with 100001 rows, like the
  TF1 model's, every tensor after it would be misaligned and copied).

Figures for the TF1 model (2026-11, TensorFlow 2.21.0, this 2-core VM, load average about 1.2;
median of 5 fresh-process runs; MiB above the process's baseline; ``python bench/bench_restore.py
--model tf1 --repeats 5``):

| case | restore | load s | first call s | RSS after load | RSS after call | PSS after call | PSS sum, all alive |
|---|---|---|---|---|---|---|---|
| 1 process, warm cache | tf | 1.90 | 0.19 | 1,548 | 1,556 | 1,556 | 1,556 |
| 1 process, warm cache | mmap | 0.72 | 0.18 | 809 | 1,521 | 1,526 | 1,526 |
| 1 process, cold cache | tf | 1.90 | 0.14 | 1,546 | 1,554 | 1,554 | 1,554 |
| 1 process, cold cache | mmap | 0.79 | 0.67 | 809 | 1,521 | 1,521 | 1,521 |
| 4 processes, warm cache | tf | 4.40 | 0.53 | 1,548 | 1,556 | 1,541 | 6,098 |
| 4 processes, warm cache | mmap | 2.33 | 0.71 | 809 | 1,521 | 997 | 3,913 |

Of the checkpoint's 1,470 MiB, 704 MiB (22 tensors) went to TensorFlow without a copy; 766 MiB
(13 tensors) were copied: 384 MiB stored at offsets that are not multiples of 64 (everything
after the 400,004,000-byte embedding table) and 381 MiB of the embedding table itself, which the
graph reads with ResourceGather: fed zero-copy, it was copied again at the first call (+381 MiB
anonymous memory, measured), so the restore copies it up front. Both restores give the same
outputs. The mapped restore does not check the tensors' CRC-32C (TensorFlow's RestoreV2 does).
Cold = the model's files dropped from the page cache with posix_fadvise(DONTNEED) (the VM's
host may still cache them: TensorFlow's own load time did not change).

Figures for the TF2 model (2026-12, TensorFlow 2.21.0, this 2-core VM shared with other jobs,
load average about 3; median of 3 fresh-process runs; MiB above the process's baseline;
``python bench/bench_restore.py --model tf2 --repeats 3``):

| case | restore | load s | first call s | RSS after load | RSS after call | PSS after call | PSS sum, all alive |
|---|---|---|---|---|---|---|---|
| 1 process, warm cache | tf | 1.64 | 0.22 | 1,420 | 1,422 | 1,419 | 1,419 |
| 1 process, warm cache | mmap | 0.65 | 0.18 | 396 | 1,422 | 1,419 | 1,419 |
| 1 process, warm cache | tf.saved_model.load | 1.69 | 0.14 | 1,415 | 1,421 | 1,372 | 1,372 |
| 1 process, cold cache | tf | 3.12 | 0.13 | 1,420 | 1,422 | 1,422 | 1,422 |
| 1 process, cold cache | mmap | 1.92 | 0.19 | 396 | 1,423 | 1,423 | 1,423 |
| 1 process, cold cache | tf.saved_model.load | 3.51 | 0.14 | 1,415 | 1,421 | 1,421 | 1,421 |
| 4 processes, warm cache | tf | 6.33 | 0.43 | 1,420 | 1,422 | 1,410 | 5,632 |
| 4 processes, warm cache | mmap | 1.41 | 0.32 | 396 | 1,422 | 712 | 2,524 |
| 4 processes, warm cache | tf.saved_model.load | 7.79 | 0.31 | 1,415 | 1,421 | 1,417 | 5,666 |

Steady-state call at batch 1 (median of 50, interleaved; p10-p90): tf 57.2 ms (43.8-68.0),
mmap 54.0 ms (43.8-70.1), tf.saved_model.load 57.4 ms (46.1-66.6). The mapped restore handed
32 of 33 tensors (1,024 MiB) to TensorFlow without a copy and copied the embedding table
(381 MiB, read by ResourceGather) once per process: the PSS sum of four processes is one shared
1,024 MiB plus 4 x 381 MiB of copies. All three loaders give the same outputs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CACHE = HERE / "_build" / "restore"

MAKE_TF1_MODEL = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
out = sys.argv[1]
tf.compat.v1.disable_eager_execution()
D, LAYERS, SPLIT, VOCAB, EMB = 4096, 17, 11, 100001, 1000
with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    x = tf.compat.v1.placeholder(tf.float32, (None, D), name="x")
    ids = tf.compat.v1.placeholder(tf.int64, (None,), name="ids")
    h = x
    init = tf.compat.v1.random_normal_initializer(stddev=1.0 / np.sqrt(D), seed=1)
    for i in range(LAYERS):
        k = tf.compat.v1.get_variable(f"layer_{i:02d}/kernel", (D, D), initializer=init, use_resource=True)
        bias_init = tf.compat.v1.constant_initializer(0.01 * (i + 1))
        b = tf.compat.v1.get_variable(
            f"layer_{i:02d}/bias", (D,), initializer=bias_init, use_resource=True
        )
        h = tf.nn.tanh(tf.matmul(h, k) + b)
        if i == SPLIT - 1:
            # sorts between layer_10/... and layer_11/...: every tensor stored after it is misaligned
            emb = tf.compat.v1.get_variable("layer_10_embedding", (VOCAB, EMB), initializer=init, use_resource=True)
    y = tf.reduce_sum(h, axis=1) + tf.reduce_sum(tf.nn.embedding_lookup(emb, ids), axis=1)
    y = tf.identity(y, name="y")
    sess.run(tf.compat.v1.global_variables_initializer())
    b = tf.compat.v1.saved_model.Builder(out)
    sig = tf.compat.v1.saved_model.predict_signature_def({"x": x, "ids": ids}, {"y": y})
    b.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
    b.save()
"""

MAKE_TF2_MODEL = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
out = sys.argv[1]
# 100000 x 1000 float32 = 400,000,000 bytes, a multiple of 64: unlike the TF1 model's table,
# it leaves the tensors stored after it 64-byte-aligned.
D, LAYERS, VOCAB, EMB = 4096, 16, 100000, 1000
STD = 1.0 / np.sqrt(D)

class Tower(tf.Module):
    # 16 dense layers 4096x4096 (tanh) and an embedding table read with tf.gather.

    def __init__(self):
        super().__init__(name="tower")
        normal = tf.random.stateless_normal
        self.kernels = [
            tf.Variable(normal((D, D), seed=(1, i)) * STD, name=f"kernel_{i:02d}") for i in range(LAYERS)
        ]
        self.biases = [tf.Variable(tf.fill((D,), 0.01 * (i + 1)), name=f"bias_{i:02d}") for i in range(LAYERS)]
        self.embedding = tf.Variable(normal((VOCAB, EMB), seed=(2, 0)) * STD, name="embedding")

    @tf.function(input_signature=[
        tf.TensorSpec([None, D], tf.float32, name="x"),
        tf.TensorSpec([None], tf.int64, name="ids"),
    ])
    def serve(self, x, ids):
        h = x
        for k, b in zip(self.kernels, self.biases):
            h = tf.nn.tanh(tf.matmul(h, k) + b)
        y = tf.reduce_sum(h, axis=1) + tf.reduce_sum(tf.gather(self.embedding, ids), axis=1)
        return {"y": y}

tower = Tower()
tf.saved_model.save(tower, out, signatures={"serving_default": tower.serve})
"""

# One measured process. argv: loader ("tf", "mmap" or "tf2-python"), model folder. Prints one
# JSON line ("ready", or "error" when the load failed), then answers the driver's commands on
# stdin: "measure" (memory now), "calls N WARMUP" (steady-state per-call times), "exit".
WORKER = r"""
import gc, json, os, sys, time
loader, export_dir = sys.argv[1], sys.argv[2]
import numpy as np

def smaps():
    out = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return out

def diff(after, before):
    keys = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean", "Private_Clean", "Private_Dirty", "Anonymous")
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys}

def fail(kind, e):
    print(json.dumps({"event": "error", "loader": loader, "kind": kind,
                      "message": f"{type(e).__name__}: {e}"}), flush=True)
    sys.exit(0)

x = np.full((1, 4096), 0.5, np.float32)
ids = np.array([7], np.int64)
stats = None
if loader == "tf2-python":
    import tensorflow as tf
    base = smaps()
    t0 = time.perf_counter()
    try:
        loaded = tf.saved_model.load(export_dir)
        fn = loaded.signatures["serving_default"]
    except Exception as e:
        fail("failed", e)
    load_s = time.perf_counter() - t0

    def call():
        return fn(x=tf.constant(x), ids=tf.constant(ids))["y"].numpy()

    def close():
        pass
else:
    import tfbundle
    from tfbundle._runtime import library as _library
    _library.ensure_loaded()
    base = smaps()
    t0 = time.perf_counter()
    try:
        model = tfbundle.load(export_dir, restore=loader)
    except tfbundle.UnimplementedError as e:
        fail("unsupported", e)
    except Exception as e:
        fail("failed", e)
    load_s = time.perf_counter() - t0
    if model.restore_stats is not None:
        stats = {k: getattr(model.restore_stats, k) for k in (
            "tensors", "zero_copy_tensors", "zero_copy_bytes", "copied_tensors", "copied_bytes",
            "copied_sparse_bytes", "tf_read_tensors")}

    def call():
        return model(x=x, ids=ids)["y"]

    close = model.close

after_load = smaps()
t1 = time.perf_counter()
y = call()
first_call_s = time.perf_counter() - t1
after_call = smaps()
t2 = time.perf_counter()
call()
second_call_s = time.perf_counter() - t2
print(json.dumps({"event": "ready", "loader": loader, "load_s": load_s, "first_call_s": first_call_s,
                  "second_call_s": second_call_s, "y": float(y[0]), "stats": stats,
                  "after_load": diff(after_load, base), "after_call": diff(after_call, base)}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[:1] == ["measure"]:
        print(json.dumps({"event": "measure", "now": diff(smaps(), base)}), flush=True)
    elif cmd[:1] == ["calls"]:
        n, warmup = int(cmd[1]), int(cmd[2])
        for _ in range(warmup):
            call()
        times = []
        gc.disable()
        for _ in range(n):
            t = time.perf_counter_ns()
            call()
            times.append((time.perf_counter_ns() - t) / 1e9)
        gc.enable()
        print(json.dumps({"event": "calls", "seconds": times}), flush=True)
    elif cmd[:1] == ["exit"]:
        break
close()
"""

# Per model: the folder in the cache, the script that makes it, the restores compared.
MODELS: dict[str, dict[str, Any]] = {
    "tf1": {
        "folder": "tf1_resource_1p5gb",
        "make": MAKE_TF1_MODEL,
        "loaders": ("tf", "mmap"),
        "what": "TF1 graph (SavedModelBuilder, resource variables)",
    },
    "tf2": {
        "folder": "tf2_module_1p5gb",
        "make": MAKE_TF2_MODEL,
        "loaders": ("tf", "mmap", "tf2-python"),
        "what": "TF2 tf.Module (tf.saved_model.save)",
    },
}
LOADER_LABELS = {"tf": "tf", "mmap": "mmap", "tf2-python": "tf.saved_model.load"}
CASES = (
    ("1 process, warm cache", 1, "warm"),
    ("1 process, cold cache", 1, "cold"),
    ("4 processes, warm cache", 4, "warm"),
)
WARMUP_CALLS = 5


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if list((REPO / "python" / "tfbundle").glob("_core*.so")):
        e["PYTHONPATH"] = str(REPO / "python") + os.pathsep + e.get("PYTHONPATH", "")
    return e


def make_model(cache: Path, name: str) -> Path:
    """Makes one ~1.5 GB model once (TensorFlow in a subprocess); returns its folder."""
    spec = MODELS[name]
    folder = cache / spec["folder"]
    if (folder / "saved_model.pb").exists() and (folder / "variables" / "variables.index").exists():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / (spec["folder"] + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    print(f"making the {name} model with TensorFlow (about a minute)...", file=sys.stderr)
    subprocess.run([sys.executable, "-c", spec["make"], str(tmp)], check=True, env=env())
    tmp.rename(folder)
    return folder


def drop_page_cache(folder: Path) -> None:
    """Asks the kernel to drop the model's files from the page cache (no root needed)."""
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def warm_page_cache(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                while f.read(1 << 24):
                    pass


def mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def start_worker(loader: str, folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, loader, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )


def first_reply(p: subprocess.Popen[str]) -> dict[str, Any]:
    """The worker's "ready" line, or an "error" one (also when it died without a word)."""
    assert p.stdout is not None
    line = p.stdout.readline()
    if line:
        return json.loads(line)
    p.wait()
    return {
        "event": "error",
        "kind": "failed",
        "message": f"the worker exited with code {p.returncode} (its stderr is above)",
    }


def ask(p: subprocess.Popen[str], command: str) -> dict[str, Any]:
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(command + "\n")
    p.stdin.flush()
    return json.loads(p.stdout.readline())


def finish(p: subprocess.Popen[str], reply: dict[str, Any]) -> None:
    if reply["event"] == "ready":
        assert p.stdin is not None
        p.stdin.write("exit\n")
        p.stdin.flush()
    p.wait()


def run_group(loader: str, folder: Path, n: int) -> dict[str, Any]:
    """Starts n workers at once; waits until all have loaded and called; measures them all.

    A load that fails gives ``{"error": {"kind": "unsupported" | "failed", "message": ...}}``.
    """
    avail0 = mem_available()
    t0 = time.perf_counter()
    procs = [start_worker(loader, folder) for _ in range(n)]
    replies = [first_reply(p) for p in procs]
    wall = time.perf_counter() - t0
    avail1 = mem_available()
    errors = [r for r in replies if r["event"] == "error"]
    result: dict[str, Any] = {"loader": loader, "processes": n}
    if errors:
        result["error"] = {"kind": errors[0]["kind"], "message": errors[0]["message"]}
    else:
        result["wall_s"] = wall
        result["workers"] = replies
        result["measured_all_alive"] = [ask(p, "measure")["now"] for p in procs]
        result["system_mem_used_delta"] = avail0 - avail1
    for p, r in zip(procs, replies):
        finish(p, r)
    return result


def steady_state(folder: Path, loaders: tuple[str, ...], calls: int, rounds: int) -> dict[str, Any]:
    """Per-call time at batch 1: one process per restore, all alive, calls interleaved in rounds.

    Each process makes ``WARMUP_CALLS`` untimed calls, then ``calls`` timed ones in ``rounds``
    rounds; the order of the restores turns by one each round, so that a change in the machine's
    load falls on every restore alike.
    """
    warm_page_cache(folder)
    procs: dict[str, subprocess.Popen[str]] = {}
    out: dict[str, Any] = {}
    for loader in loaders:  # one load at a time: the loads are not measured here
        p = start_worker(loader, folder)
        reply = first_reply(p)
        if reply["event"] == "error":
            out[loader] = {"error": {"kind": reply["kind"], "message": reply["message"]}}
            finish(p, reply)
        else:
            procs[loader] = p
            out[loader] = {"call_s": []}
    order = list(procs)
    for loader in order:
        ask(procs[loader], f"calls 0 {WARMUP_CALLS}")
    per_round = [calls // rounds + (1 if r < calls % rounds else 0) for r in range(rounds)]
    for r, k in enumerate(per_round):
        turn = order[r % len(order) :] + order[: r % len(order)] if order else []
        for loader in turn:
            out[loader]["call_s"] += ask(procs[loader], f"calls {k} 0")["seconds"]
    for p in procs.values():
        finish(p, {"event": "ready"})
    for d in out.values():
        t = sorted(d.get("call_s", []))
        if t:
            d.update(
                n=len(t),
                median=statistics.median(t),
                p10=nearest_rank(t, 10),
                p90=nearest_rank(t, 90),
                min=t[0],
                max=t[-1],
            )
    return out


def nearest_rank(ordered: list[float], q: float) -> float:
    """The q-th percentile of sorted values, nearest-rank method."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def mib(b: float) -> str:
    return f"{b / 2**20:,.0f}"


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    w = [x for r in runs for x in r["workers"]]
    m = [x for r in runs for x in r["measured_all_alive"]]
    per_run_pss = [sum(x["Pss"] for x in r["measured_all_alive"]) for r in runs]
    return {
        "load_s_median": statistics.median(x["load_s"] for x in w),
        "load_s_max": max(x["load_s"] for x in w),
        "first_call_s_median": statistics.median(x["first_call_s"] for x in w),
        "wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "rss_after_load": statistics.median(x["after_load"]["Rss"] for x in w),
        "pss_after_load": statistics.median(x["after_load"]["Pss"] for x in w),
        "rss_after_call": statistics.median(x["after_call"]["Rss"] for x in w),
        "pss_after_call": statistics.median(x["after_call"]["Pss"] for x in w),
        "anon_after_call": statistics.median(x["after_call"]["Anonymous"] for x in w),
        "pss_all_alive_per_proc": statistics.median(x["Pss"] for x in m),
        "pss_sum_all_alive": statistics.median(per_run_pss),
        "system_mem_used_delta": statistics.median(r["system_mem_used_delta"] for r in runs),
    }


def bench_model(
    name: str, folder: Path, repeats: int, calls: int, rounds: int
) -> dict[str, Any]:
    """Every case and restore of one model (repeats round-robin over the restores), then the
    steady-state per-call times."""
    loaders = MODELS[name]["loaders"]
    var_bytes = sum(p.stat().st_size for p in (folder / "variables").glob("variables.data-*"))
    print(f"{name} model: {folder} ({var_bytes / 1e9:.2f} GB of variables)", file=sys.stderr)
    out: dict[str, Any] = {"folder": str(folder), "variable_bytes": var_bytes, "cases": {}}
    ys: list[float] = []
    for label, n, cache_state in CASES:
        runs: dict[str, list[dict[str, Any]]] = {loader: [] for loader in loaders}
        errors: dict[str, dict[str, str]] = {}
        for r in range(repeats):
            for loader in loaders:
                if loader in errors:
                    continue  # failed once in this case: not repeated
                if cache_state == "cold":
                    drop_page_cache(folder)
                else:
                    warm_page_cache(folder)
                print(
                    f"{name}, {label}: {LOADER_LABELS[loader]} run {r + 1}/{repeats}",
                    file=sys.stderr,
                )
                run = run_group(loader, folder, n)
                if "error" in run:
                    errors[loader] = run["error"]
                    print(f"  {run['error']['kind']}: {run['error']['message']}", file=sys.stderr)
                    continue
                ys.extend(w["y"] for w in run["workers"])
                runs[loader].append(run)
                stats = run["workers"][0]["stats"]
                if stats:
                    out["restore_stats"] = stats
        case = out["cases"].setdefault(label, {})
        for loader in loaders:
            if loader in errors:
                case[loader] = {"error": errors[loader], "runs": runs[loader]}
            else:
                case[loader] = {"summary": summarize(runs[loader]), "runs": runs[loader]}
    if calls > 0:
        print(f"{name}, steady state: {calls} calls per restore", file=sys.stderr)
        out["steady_state"] = steady_state(folder, loaders, calls, rounds)
    # Same weights, same kernels: the restores agree to float32 rounding.
    out["outputs"] = ys
    out["outputs_agree"] = bool(ys) and max(ys) - min(ys) <= 1e-4 * max(1.0, abs(ys[0]))
    return out


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_rows(name: str, res: dict[str, Any]) -> list[str]:
    rows = []
    for label, loaders in res["cases"].items():
        for loader, d in loaders.items():
            head = f"| {name} | {label} | {LOADER_LABELS[loader]} |"
            if "error" in d:
                msg = cell(f"{d['error']['kind']}: {d['error']['message']}")
                rows.append(f"{head} {msg} |" + " - |" * 9)
                continue
            s = d["summary"]
            rows.append(
                f"{head} {s['load_s_median']:.2f} | {s['first_call_s_median']:.2f} | "
                f"{mib(s['rss_after_load'])} | {mib(s['pss_after_load'])} | {mib(s['rss_after_call'])} | "
                f"{mib(s['pss_after_call'])} | {mib(s['anon_after_call'])} | "
                f"{mib(s['pss_all_alive_per_proc'])} | {mib(s['pss_sum_all_alive'])} | "
                f"{mib(s['system_mem_used_delta'])} |"
            )
    return rows


def steady_rows(name: str, res: dict[str, Any]) -> list[str]:
    rows = []
    steady = res.get("steady_state", {})
    tf_median = steady.get("tf", {}).get("median")
    for loader, d in steady.items():
        head = f"| {name} | {LOADER_LABELS[loader]} |"
        if "error" in d:
            msg = cell(f"{d['error']['kind']}: {d['error']['message']}")
            rows.append(f"{head} {msg} |" + " - |" * 4)
            continue
        rows.append(
            f"{head} {d['median'] * 1e3:.1f} | {d['p10'] * 1e3:.1f} | {d['p90'] * 1e3:.1f} | "
            f"{d['n']} | {ratio(d['median'], tf_median)} |"
        )
    return rows


def ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or den == 0 or math.isnan(num) or math.isnan(den):
        return "-"
    return f"{num / den:.2f}x"


def issue_figures(name: str, res: dict[str, Any]) -> list[str]:
    """Issue 10's figures of one model: each restore against ``tf`` and the variables' size."""
    var_bytes = res["variable_bytes"]
    warm = res["cases"]["1 process, warm cache"]
    four = res["cases"]["4 processes, warm cache"]

    def get(case: dict[str, Any], loader: str, key: str) -> float | None:
        d = case.get(loader)
        return None if d is None or "error" in d else d["summary"][key]

    steady = {
        loader: d if "error" in d else {"summary": {"median": d["median"]}}
        for loader, d in res.get("steady_state", {}).items()
    }

    def line(title: str, case: dict[str, Any], key: str, show: Any, den: float | None) -> str:
        parts = []
        for loader in MODELS[name]["loaders"]:
            d = case.get(loader, {})
            value = get(case, loader, key)
            if "error" in d:
                text = d["error"]["kind"]
            elif value is None:
                text = "-"
            else:
                text = f"{show(value)} = {ratio(value, den)}"
            parts.append(f"{LOADER_LABELS[loader]} {text}")
        return f"  {title}: " + "; ".join(parts)

    tf_load = get(warm, "tf", "load_s_median")
    tf_call = get(steady, "tf", "median")
    return [
        f"{name} ({MODELS[name]['what']}, {var_bytes / 1e9:.2f} GB of variables), against issue 10:",
        line(
            "load, 1 process, warm cache, over tf's (mmap: at most 0.50x)",
            warm,
            "load_s_median",
            lambda v: f"{v:.2f} s",
            tf_load,
        ),
        line(
            "PSS sum of 4 processes, warm cache, over the variables' size (mmap: at most 1.50x)",
            four,
            "pss_sum_all_alive",
            lambda v: f"{mib(v)} MiB",
            var_bytes,
        ),
        line(
            "steady-state call at batch 1, over tf's (mmap: unchanged)",
            steady,
            "median",
            lambda v: f"{v * 1e3:.1f} ms",
            tf_call,
        ),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument(
        "--model", choices=("tf1", "tf2", "all"), default="all", help="which model (default all)"
    )
    ap.add_argument("--repeats", type=int, default=3, help="fresh-process repeats of each case")
    ap.add_argument(
        "--calls", type=int, default=50, help="steady-state calls timed per restore (0: none)"
    )
    ap.add_argument(
        "--rounds", type=int, default=5, help="rounds the steady-state calls are interleaved in"
    )
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where the models are made and kept"
    )
    args = ap.parse_args()
    names = ["tf1", "tf2"] if args.model == "all" else [args.model]
    folders = {name: make_model(args.cache, name) for name in names}
    load0 = os.getloadavg()[0]
    results: dict[str, Any] = {
        "config": {
            "repeats": args.repeats,
            "calls": args.calls,
            "rounds": args.rounds,
            "warmup_calls": WARMUP_CALLS,
        },
        "load_average_start": load0,
        "models": {},
    }
    for name in names:
        results["models"][name] = bench_model(
            name, folders[name], args.repeats, args.calls, max(1, args.rounds)
        )
    results["load_average_end"] = os.getloadavg()[0]

    print(
        f"\nRestore from memory-mapped shards vs TensorFlow's loaders: median of {args.repeats} "
        f"fresh-process runs (load average {load0:.1f} at the start, "
        f"{results['load_average_end']:.1f} at the end). restore: tf = tfbundle.load "
        f"(TF_LoadSessionFromSavedModel), mmap = tfbundle.load(restore=\"mmap\"), "
        f"tf.saved_model.load = TensorFlow's Python loader. Memory in MiB above the process's "
        f"baseline (TensorFlow's libraries loaded); PSS sum = all processes alive at once; "
        f"MemAvailable drop is machine-wide (noisy: other jobs, page cache).\n"
    )
    print(
        "| model | case | restore | load s | first call s | RSS after load "
        "| PSS after load | RSS after call | PSS after call | anon after call "
        "| PSS per proc, all alive | PSS sum | MemAvailable drop |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, res in results["models"].items():
        for row in table_rows(name, res):
            print(row)
    if args.calls > 0:
        print(
            f"\nSteady-state call at batch 1 (ms): one process per restore, all alive at once, "
            f"{WARMUP_CALLS} warm-up calls, then {args.calls} timed calls each, interleaved in "
            f"{max(1, args.rounds)} rounds.\n"
        )
        print("| model | restore | median | p10 | p90 | n | over tf |")
        print("|---|---|---|---|---|---|---|")
        for name, res in results["models"].items():
            for row in steady_rows(name, res):
                print(row)
    failed = False
    for name, res in results["models"].items():
        print()
        for line in issue_figures(name, res):
            print(line)
        st = res.get("restore_stats")
        if st:
            total = st["zero_copy_bytes"] + st["copied_bytes"]
            misaligned = st["copied_bytes"] - st["copied_sparse_bytes"]
            print(
                f"  mmap restore: {st['tensors']} tensors fed; {st['zero_copy_tensors']} zero-copy "
                f"({mib(st['zero_copy_bytes'])} MiB, "
                f"{100 * st['zero_copy_bytes'] / max(total, 1):.1f}%), "
                f"{st['copied_tensors']} copied ({mib(st['copied_bytes'])} MiB: {mib(misaligned)} "
                f"MiB not 64-byte-aligned in the shard, {mib(st['copied_sparse_bytes'])} MiB aligned "
                f"but read by ResourceGather, which copies a buffer TensorFlow does not own); "
                f"{st['tf_read_tensors']} left to TensorFlow's RestoreV2"
            )
        print(f"  outputs of every restore agree: {res['outputs_agree']}")
        groups = [*res["cases"].values(), res.get("steady_state", {})]
        failed |= any(d.get("error", {}).get("kind") == "failed" for g in groups for d in g.values())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
