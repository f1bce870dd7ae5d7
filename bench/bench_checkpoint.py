"""Reading a ~1.5 GB checkpoint: tfbundle vs TensorFlow's reader vs safetensors.

    python bench/bench_checkpoint.py [--size-gb 1.5] [--repeats 5] [--json OUT] [--cache DIR]

Makes, once, with TensorFlow's Python API (cached in bench/_build/checkpoint/ or --cache):
a ``tf.train.Checkpoint`` of several large float32/float16 variables (about --size-gb in
all), and the same tensors under the same names in a ``.safetensors`` file. Then, each run
in a fresh process with a warm page cache (one untimed run of each first), it measures
opening the checkpoint and getting every variable as a numpy array with:

- ``tfbundle``: ``tfbundle.open_checkpoint`` + ``reader[name]`` for each (zero-copy views
  of the mapped shard: no byte is read until it is used);
- ``tfbundle+copy``: the same, then ``np.array(view)`` for each (every byte read into
  process memory: the same work as the two below);
- ``tfbundle+verify``: views with ``verify=True`` (every byte read once, through CRC-32C,
  no copy);
- ``tf``: ``tf.train.load_checkpoint(prefix)`` + ``get_tensor(name)`` for each;
- ``safetensors``: ``safe_open(file, framework="np")`` + ``get_tensor(name)`` for each.

Import time is reported apart (``import tensorflow`` alone takes seconds). Resident memory
(VmRSS of /proc/self/status) is sampled after the imports, after opening and after reading:
opening a checkpoint with tfbundle adds only its index, and the views add nothing until
their pages are touched. Needs TensorFlow and safetensors; tfbundle from python/ when built
there (dev/build.sh), else the installed one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CACHE = HERE / "_build" / "checkpoint"
FORMAT = 2  # bump when what make() writes changes
CONTENDERS = ("tfbundle", "tfbundle+copy", "tfbundle+verify", "tf", "safetensors")


def log(message: str) -> None:
    print(f"[bench_checkpoint] {message}", file=sys.stderr, flush=True)


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# ------------------------------------------------------------ making it ---


def variable_shapes(size_gb: float) -> dict[str, tuple[tuple[int, ...], str]]:
    """Names, shapes and dtypes of the benchmark variables (about size_gb GiB in all)."""
    budget = int(size_gb * (1 << 30))
    shapes: dict[str, tuple[tuple[int, ...], str]] = {
        "embedding/table": ((65536, 1024), "float32"),  # 256 MiB
        "decoder/head": ((16384, 4096), "float16"),  # 128 MiB (not bfloat16: safetensors' numpy loader lacks it)
    }
    used = (256 << 20) + (128 << 20)
    i = 0
    while used + (64 << 20) <= budget:  # blocks of 64 MiB float32 with their biases
        shapes[f"block_{i:02d}/dense/kernel"] = ((4096, 4096), "float32")
        shapes[f"block_{i:02d}/dense/bias"] = ((4096,), "float32")
        used += (64 << 20) + 4096 * 4
        i += 1
    shapes["global_step"] = ((), "int64")
    return shapes


def make(cache: Path, size_gb: float) -> None:
    """Writes cache/ckpt (a TF checkpoint) and cache/model.safetensors (run in a subprocess)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    arrays = {}
    for name, (shape, dtype) in variable_shapes(size_gb).items():
        if dtype == "int64":
            arrays[name] = np.array(1000, np.int64)
        else:
            value = rng.standard_normal(shape, dtype=np.float32)
            arrays[name] = value.astype(dtype)
    tmp = cache.with_name(cache.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    module = tf.Module()
    for name, value in arrays.items():
        setattr(module, name.replace("/", "__"), tf.Variable(value, name=name))
    prefix = tf.train.Checkpoint(model=module).write(str(tmp / "ckpt"))
    reader = tf.train.load_checkpoint(prefix)
    keys = {k for k in reader.get_variable_to_shape_map() if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}
    by_key = {f"model/{name.replace('/', '__')}/.ATTRIBUTES/VARIABLE_VALUE": v for name, v in arrays.items()}
    assert keys == set(by_key), (keys ^ set(by_key))
    del module, reader
    save_file(by_key, str(tmp / "model.safetensors"))
    (tmp / "manifest.json").write_text(json.dumps({"format": FORMAT, "size_gb": size_gb, "keys": sorted(by_key)}))
    os.replace(tmp, cache)


def ensure(cache: Path, size_gb: float, env: dict[str, str]) -> list[str]:
    manifest = cache / "manifest.json"
    info = json.loads(manifest.read_text()) if manifest.exists() else {}
    if info.get("size_gb") == size_gb and info.get("format") == FORMAT:
        log(f"checkpoint cached in {cache}")
    else:
        if cache.exists():
            import shutil

            shutil.rmtree(cache)
        log(f"making a {size_gb} GiB checkpoint and its .safetensors twin in {cache} with TensorFlow (once)")
        subprocess.run([sys.executable, __file__, "--make", str(cache), "--size-gb", str(size_gb)],
                       env=env, check=True)  # fmt: skip
    return json.loads(manifest.read_text())["keys"]


# ------------------------------------------------------------ measuring ---


def worker(contender: str, cache: Path) -> dict:
    """One measurement in this (fresh) process; returns the figures."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keys = json.loads((cache / "manifest.json").read_text())["keys"]
    prefix = str(cache / "ckpt")
    t0 = time.perf_counter()
    import numpy as np

    if contender.startswith("tfbundle"):
        import tfbundle._readers.checkpoint as lib
    elif contender == "tf":
        import tensorflow as lib  # type: ignore[no-redef]
    else:
        from safetensors import safe_open
    imported = time.perf_counter()
    rss0 = rss_bytes()
    arrays = {}
    nbytes = 0
    t1 = time.perf_counter()
    if contender.startswith("tfbundle"):
        reader = lib.open_checkpoint(prefix)
        opened = time.perf_counter()
        rss_open = rss_bytes()
        for key in keys:
            value = reader.get_tensor(key, verify=contender == "tfbundle+verify")
            arrays[key] = np.array(value) if contender == "tfbundle+copy" else value
    elif contender == "tf":
        reader = lib.train.load_checkpoint(prefix)
        opened = time.perf_counter()
        rss_open = rss_bytes()
        for key in keys:
            arrays[key] = reader.get_tensor(key)
    else:
        with safe_open(str(cache / "model.safetensors"), framework="np") as f:
            opened = time.perf_counter()
            rss_open = rss_bytes()
            for key in keys:
                arrays[key] = f.get_tensor(key)
    done = time.perf_counter()
    rss_read = rss_bytes()
    for value in arrays.values():
        nbytes += value.nbytes
    return {
        "contender": contender,
        "import_s": imported - t0,
        "open_s": opened - t1,
        "read_s": done - opened,
        "total_s": done - t1,
        "bytes": nbytes,
        "rss_after_import": rss0,
        "rss_open_delta": rss_open - rss0,
        "rss_read_delta": rss_read - rss0,
    }


def run_worker(contender: str, cache: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", contender, "--cache", str(cache)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{contender} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_env() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    if list((REPO / "python" / "tfbundle").glob("_core*.so")):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "python"), env.get("PYTHONPATH")]))
    return env


def mib(n: float) -> str:
    return f"{n / (1 << 20):8.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.5, help="checkpoint size in GiB (default 1.5)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh-process runs of each (median shown)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the checkpoint is kept")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make(args.make, args.size_gb)
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.cache)))
        return 0

    env = child_env()
    keys = ensure(args.cache, args.size_gb, env)
    contenders = [c for c in args.contenders.split(",") if c]
    results: dict[str, list[dict]] = {c: [] for c in contenders}
    for contender in contenders:  # warm the page cache and the imports
        run_worker(contender, args.cache, env)
    for i in range(args.repeats):
        for contender in contenders:  # interleaved, so drift hits all alike
            results[contender].append(run_worker(contender, args.cache, env))
        log(f"round {i + 1}/{args.repeats} done")

    def med(contender: str, field: str) -> float:
        return statistics.median(r[field] for r in results[contender])

    total_bytes = results[contenders[0]][0]["bytes"]
    print(f"\nCheckpoint: {len(keys)} variables, {total_bytes / (1 << 30):.2f} GiB; warm page cache; "
          f"median of {args.repeats} fresh processes\n")  # fmt: skip
    print("| reader | import (s) | open (ms) | get every tensor (ms) | total (ms) | GB/s | "
          "RSS after open (MiB) | RSS after reading (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for c in contenders:
        total = med(c, "total_s")
        rate = "lazy" if c == "tfbundle" else f"{total_bytes / total / 1e9:.1f}"  # views read nothing yet
        print(f"| {c} | {med(c, 'import_s'):.2f} | {med(c, 'open_s') * 1e3:.2f} | {med(c, 'read_s') * 1e3:.1f} | "
              f"{total * 1e3:.1f} | {rate} | {mib(med(c, 'rss_open_delta')).strip()} | "
              f"{mib(med(c, 'rss_read_delta')).strip()} |")  # fmt: skip
    if "tf" in results and "tfbundle" in results:
        base = med("tf", "total_s")
        print(f"\ntfbundle (views) is {base / med('tfbundle', 'total_s'):.0f}x faster than tf.train.load_checkpoint")
        if "tfbundle+copy" in results:
            ratio = base / med("tfbundle+copy", "total_s")
            print(f"tfbundle+copy is {ratio:.1f}x faster than tf.train.load_checkpoint")
    if "safetensors" in results:
        st = med("safetensors", "total_s")
        for c in ("tfbundle", "tfbundle+copy"):
            if c in results:
                print(f"{c} takes {med(c, 'total_s') / st:.3g}x the time of safetensors safe_open(framework='np')")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
            "size_gb": args.size_gb, "variables": len(keys), "bytes": total_bytes, "runs": results,
        }, indent=2))  # fmt: skip
        log(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
