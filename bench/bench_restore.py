"""Memory-mapped restore vs TensorFlow's own restore, on a SavedModel with ~1.5 GB of variables.

Usage::

    python bench/bench_restore.py [--repeats N] [--json OUT] [--cache DIR]

Compares, in fresh processes, on the same model:

- ``tf``: ``tfbundle.load`` (TF_LoadSessionFromSavedModel: TensorFlow's RestoreV2 reads
  every tensor from the data shards into buffers of its own);
- ``mmap``: ``tfbundle.load(restore="mmap")`` (imports the graph, feeds the RestoreV2 outputs
  with TF_Tensors over a private copy-on-write mapping of the shards: zero-copy where a
  tensor's bytes start 64-byte-aligned, copied otherwise; then runs the init op).

For each: load time, time of the first call (which touches every weight), and the process's
memory from ``/proc/self/smaps_rollup`` (Rss, Pss, anonymous and file-backed parts) after the
load and after the first call, less what it held before loading (TensorFlow's libraries
already loaded). Runs: one process with a warm page cache, one process with the shards
dropped from the page cache first (``posix_fadvise(DONTNEED)``, "cold"), and four processes
loading at once (warm), measured while all four are alive. Also reports how many bytes of
the checkpoint were handed to TensorFlow without a copy.

The model (made once with TensorFlow's Python API into ``bench/_build/restore/``, about
1.5 GB): a TF1-style graph (``tf.compat.v1``, resource variables, SavedModelBuilder) of
17 dense layers 4096x4096 and an embedding table 100001x1000, whose stock checkpoint packs
the tensors with no padding, so the tensors stored after the embedding table are not
64-byte-aligned. Signature ``serving_default``: ``x`` float32 (N, 4096), ``ids`` int64 (N,)
-> ``y`` float32 (N,).

Figures (2026-11, TensorFlow 2.21.0, this 2-core VM, load average about 1.2; median of 5
fresh-process runs; MiB above the process's baseline; ``python bench/bench_restore.py
--repeats 5``):

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
"""

from __future__ import annotations

import argparse
import json
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

MAKE_MODEL = r"""
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

WORKER = r"""
import json, os, sys, time
mode, export_dir = sys.argv[1], sys.argv[2]
import numpy as np
import tfbundle
from tfbundle._runtime import library as _library
_library.ensure_loaded()

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

base = smaps()
t0 = time.perf_counter()
stats = None
model = tfbundle.load(export_dir, restore=mode)
load_s = time.perf_counter() - t0
if model.restore_stats is not None:
    stats = {k: getattr(model.restore_stats, k) for k in (
        "tensors", "zero_copy_tensors", "zero_copy_bytes", "copied_tensors", "copied_bytes",
        "copied_sparse_bytes", "tf_read_tensors")}
after_load = smaps()
x = np.full((1, 4096), 0.5, np.float32)
ids = np.array([7], np.int64)
t1 = time.perf_counter()
y = model(x=x, ids=ids)["y"]
first_call_s = time.perf_counter() - t1
after_call = smaps()
t2 = time.perf_counter()
model(x=x, ids=ids)
second_call_s = time.perf_counter() - t2
print(json.dumps({"event": "ready", "mode": mode, "load_s": load_s, "first_call_s": first_call_s,
                  "second_call_s": second_call_s, "y": float(y[0]), "stats": stats,
                  "after_load": diff(after_load, base), "after_call": diff(after_call, base)}), flush=True)
for line in sys.stdin:
    if line.strip() == "measure":
        print(json.dumps({"event": "measure", "now": diff(smaps(), base)}), flush=True)
    elif line.strip() == "exit":
        break
model.close()
"""


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if list((REPO / "python" / "tfbundle").glob("_core*.so")):
        e["PYTHONPATH"] = str(REPO / "python") + os.pathsep + e.get("PYTHONPATH", "")
    return e


def make_model(cache: Path) -> Path:
    """Makes the ~1.5 GB model once (TensorFlow in a subprocess); returns its folder."""
    folder = cache / "tf1_resource_1p5gb"
    if (folder / "saved_model.pb").exists():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / "tmp_model"
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    print("making the model with TensorFlow (about a minute)...", file=sys.stderr)
    subprocess.run([sys.executable, "-c", MAKE_MODEL, str(tmp)], check=True, env=env())
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


def run_group(mode: str, folder: Path, n: int) -> dict[str, Any]:
    """Starts n workers at once; waits until all have loaded and called; measures them all."""
    avail0 = mem_available()
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, mode, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env(),
        )
        for _ in range(n)
    ]
    ready = []
    for p in procs:
        line = p.stdout.readline()
        if not line:
            p.wait()
            raise RuntimeError(f"a {mode} worker failed (exit code {p.returncode})")
        ready.append(json.loads(line))
    wall = time.perf_counter() - t0
    avail1 = mem_available()
    measures = []
    for p in procs:
        p.stdin.write("measure\n")
        p.stdin.flush()
        measures.append(json.loads(p.stdout.readline())["now"])
    for p in procs:
        p.stdin.write("exit\n")
        p.stdin.flush()
        p.wait()
    return {
        "mode": mode,
        "processes": n,
        "wall_s": wall,
        "workers": ready,
        "measured_all_alive": measures,
        "system_mem_used_delta": avail0 - avail1,
    }


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="fresh-process repeats of each case")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where the model is made and kept"
    )
    args = ap.parse_args()
    folder = make_model(args.cache)
    var_bytes = sum(p.stat().st_size for p in (folder / "variables").glob("variables.data-*"))
    print(f"model: {folder} ({var_bytes / 1e9:.2f} GB of variables)", file=sys.stderr)

    results: dict[str, Any] = {"model": str(folder), "variable_bytes": var_bytes, "cases": {}}
    cases = [
        ("1 process, warm cache", 1, "warm"),
        ("1 process, cold cache", 1, "cold"),
        ("4 processes, warm cache", 4, "warm"),
    ]
    ys = set()
    for label, n, cache_state in cases:
        for mode in ("tf", "mmap"):
            runs = []
            for r in range(args.repeats):
                if cache_state == "cold":
                    drop_page_cache(folder)
                else:
                    warm_page_cache(folder)
                print(f"{label}: {mode} run {r + 1}/{args.repeats}", file=sys.stderr)
                run = run_group(mode, folder, n)
                ys.update(round(w["y"], 3) for w in run["workers"])
                runs.append(run)
            results["cases"].setdefault(label, {})[mode] = {
                "summary": summarize(runs),
                "runs": runs,
            }
            stats = runs[0]["workers"][0]["stats"]
            if stats:
                results["restore_stats"] = stats
    results["outputs_agree"] = len(ys) == 1

    print(
        f"\nMemory-mapped restore vs TF_LoadSessionFromSavedModel: {var_bytes / 1e9:.2f} GB of variables, "
        f"median of {args.repeats} fresh-process runs; memory in MiB above the process's baseline "
        f"(TensorFlow's libraries loaded); PSS sum = all processes alive at once; MemAvailable drop "
        f"is machine-wide (noisy: other jobs, page cache).\n"
    )
    print(
        "| case | restore | load s | first call s | RSS after load | PSS after load | RSS after call "
        "| PSS after call | anon after call | PSS per proc, all alive | PSS sum | MemAvailable drop |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, modes in results["cases"].items():
        for mode, d in modes.items():
            s = d["summary"]
            print(
                f"| {label} | {mode} | {s['load_s_median']:.2f} | {s['first_call_s_median']:.2f} | "
                f"{mib(s['rss_after_load'])} | {mib(s['pss_after_load'])} | {mib(s['rss_after_call'])} | "
                f"{mib(s['pss_after_call'])} | {mib(s['anon_after_call'])} | {mib(s['pss_all_alive_per_proc'])} | "
                f"{mib(s['pss_sum_all_alive'])} | {mib(s['system_mem_used_delta'])} |"
            )
    st = results.get("restore_stats")
    if st:
        total = st["zero_copy_bytes"] + st["copied_bytes"]
        misaligned = st["copied_bytes"] - st["copied_sparse_bytes"]
        print(
            f"\nmmap restore: {st['tensors']} tensors fed; {st['zero_copy_tensors']} zero-copy "
            f"({mib(st['zero_copy_bytes'])} MiB, {100 * st['zero_copy_bytes'] / max(total, 1):.1f}%), "
            f"{st['copied_tensors']} copied ({mib(st['copied_bytes'])} MiB: {mib(misaligned)} MiB not "
            f"64-byte-aligned in the shard, {mib(st['copied_sparse_bytes'])} MiB aligned but read by "
            f"ResourceGather, which copies a buffer TensorFlow does not own); "
            f"{st['tf_read_tensors']} left to TensorFlow's RestoreV2"
        )
    print(f"outputs of both restores agree: {results['outputs_agree']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
