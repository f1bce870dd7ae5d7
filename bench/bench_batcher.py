"""tfbundle.Batcher against direct calls, in one process, on a small model.

Usage::

    python bench/bench_batcher.py [--model DIR] [--seconds S] [--threads 1,8,64] [--json OUT]

The model is the bench's ``dense`` model (``bench/_build/models/dense``, made by
``bench/make_models.py`` when missing, which needs TensorFlow) unless ``--model`` names a
SavedModel whose default signature takes one float32 input of shape (None, n). Each request is
one row. For each number of client threads, for ``--seconds`` (default 3) each:

- ``direct``: every thread calls the signature itself (calls run in parallel, the GIL released);
- ``batcher tN``: every thread calls ``tfbundle.Batcher(signature, max_batch_size=64,
  batch_timeout_micros=N, num_batch_threads=1)``, for N in ``--timeouts`` (default 0 and 500);
- ``batcher tN idle``: the same with ``run_when_idle=True`` (a batch starts as soon as the slot is
  free; the timeout applies while it is busy), for N in ``--idle-timeouts`` (default 500; "" for none);
- with ``--python``, ``... py`` rows: the same Batchers on the Python path (the native queue off), to
  compare the two;
- ``handoff floor``: no model and no batcher: each thread hands its request (a lock) to one
  answering thread, which releases up to 64 at a time, and waits for it. What any batcher of
  Python threads costs at the least (each answer is a blocked thread woken up, which then takes
  the GIL back): its requests/s bound every batcher row's.

Reports requests per second, p50 and p99 latency per request (us), and the mean batch size; and
the two figures of issue 12: the batcher's p50 minus the direct p50 at 1 thread, and the batcher's
requests/s over the direct calls' at the most threads. The configurations alternate, one after
another, so that a change in the machine's load falls on all of them.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_models  # noqa: E402
import tfbundle  # noqa: E402


def _drive(call: Any, x: np.ndarray, threads: int, seconds: float) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds
    start = threading.Barrier(threads + 1)

    def client(k: int) -> None:
        mine = latencies[k]
        start.wait()
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            call(x)
            mine.append(time.perf_counter() - t0)

    pool = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    begun = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - begun
    flat = sorted(v for per in latencies for v in per)
    return {
        "requests_per_s": len(flat) / elapsed,
        "p50_us": 1e6 * flat[len(flat) // 2],
        "p99_us": 1e6 * flat[min(len(flat) - 1, int(len(flat) * 0.99))],
    }


class HandoffFloor:
    """A batcher that does nothing: requests handed to one thread, answered up to 64 at a time."""

    def __init__(self) -> None:
        self.requests: queue.SimpleQueue[threading.Lock | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._answer, daemon=True)
        self.thread.start()

    def _answer(self) -> None:
        while True:
            first = self.requests.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 64:
                try:
                    nxt = self.requests.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.requests.put(None)
                    break
                batch.append(nxt)
            for lock in batch:
                lock.release()

    def __call__(self, _: Any) -> None:
        done = threading.Lock()
        done.acquire()
        self.requests.put(done)
        done.acquire()  # released by the answering thread

    def close(self) -> None:
        self.requests.put(None)
        self.thread.join()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", default="1,8,64")
    ap.add_argument("--timeouts", default="0,500")
    ap.add_argument("--idle-timeouts", default="500")
    ap.add_argument("--python", action="store_true", help="also run each Batcher on the Python path")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    path = args.model
    if path is None:
        cache = HERE / "_build" / "models"
        if not make_models.is_complete(make_models.model_dir(str(cache), "dense")):
            print("making the dense model with TensorFlow ...", file=sys.stderr)
            make_models.make(str(cache), ["dense"])
        path = Path(make_models.model_dir(str(cache), "dense"))
    model = tfbundle.load(path)
    sig = model.default_signature
    (key, spec), = sig.inputs.items()
    x = np.ones((1, spec.shape[-1]), np.float32)
    threads = [int(t) for t in args.threads.split(",")]
    timeouts = [float(t) for t in args.timeouts.split(",") if t]
    idle = [float(t) for t in args.idle_timeouts.split(",") if t]
    configs = [(f"batcher t{t:g}", t, False) for t in timeouts] + [(f"batcher t{t:g} idle", t, True) for t in idle]
    batchers = {}
    for name, t, when_idle in configs:
        for py in (False, True) if args.python else (False,):
            b = tfbundle.Batcher(sig, max_batch_size=64, batch_timeout_micros=t, run_when_idle=when_idle)
            b._s.use_native = not py
            batchers[name + (" py" if py else "")] = b
    calls: dict[str, Any] = {"direct": lambda a: sig(**{key: a})}
    for name, b in batchers.items():
        calls[name] = lambda a, b=b: b({key: a})
    floor = HandoffFloor()
    calls["handoff floor"] = floor
    for call in calls.values():
        for _ in range(50):
            call(x)
    results: dict[int, dict[str, list[dict[str, float]]]] = {n: {c: [] for c in calls} for n in threads}
    batch_means: dict[int, dict[str, list[float]]] = {n: {c: [] for c in batchers} for n in threads}
    for _ in range(args.rounds):
        for n in threads:
            for name, call in calls.items():
                before = batchers[name].stats if name in batchers else None
                results[n][name].append(_drive(call, x, n, args.seconds))
                if before is not None:
                    after = batchers[name].stats
                    runs = after["batches"] - before["batches"]
                    reqs = after["requests"] - before["requests"]
                    batch_means[n][name].append(reqs / runs if runs else 0.0)
    table: dict[str, Any] = {}
    print("| threads | calls | requests/s | p50 us | p99 us | mean batch |")
    print("|---|---|---|---|---|---|")
    for n in threads:
        for name in calls:
            runs = results[n][name]
            row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            if name in batchers:
                row["mean_batch"] = statistics.median(batch_means[n][name])
            table[f"{n}/{name}"] = row
            mean = f"{row['mean_batch']:.1f}" if "mean_batch" in row else "-"
            rate, p50, p99 = row["requests_per_s"], row["p50_us"], row["p99_us"]
            print(f"| {n} | {name} | {rate:,.0f} | {p50:.0f} | {p99:.0f} | {mean} |")
    one, most = threads[0], threads[-1]
    for name in batchers:
        added = table[f"{one}/{name}"]["p50_us"] - table[f"{one}/direct"]["p50_us"]
        gain = table[f"{most}/{name}"]["requests_per_s"] / table[f"{most}/direct"]["requests_per_s"]
        print(f"{name}: p50 added at {one} thread(s) {added:+.0f} us (goal <= 50); "
              f"requests/s at {most} threads {gain:.2f}x direct (goal >= 3)")  # fmt: skip
    floor_gain = table[f"{most}/handoff floor"]["requests_per_s"] / table[f"{most}/direct"]["requests_per_s"]
    print(f"handoff floor (no model): requests/s at {most} threads {floor_gain:.2f}x direct: "
          "the most a batcher of Python threads reaches here")  # fmt: skip
    floor.close()
    for b in batchers.values():
        b.close()
    model.close()
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
