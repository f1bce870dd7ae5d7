"""Ray Data batch inference: ``tfbundle.ray.Predictor`` against TensorFlow's own predictor.

Usage::

    python bench/bench_ray.py [--rows N] [--batch-sizes 256,1024,4096] [--concurrency 1,2]
                              [--repeats R] [--parse RECORDS] [--json OUT]

The model is the bench's small one, ``dense`` (x float32 (N, 256) -> Dense 256 relu -> Dense 10,
made by ``bench/make_models.py`` into ``bench/_build/models`` when missing, which needs
TensorFlow). One Ray (``ray.init(num_cpus=2)``) runs every configuration, in one run, on the same
rows: a dataset of ``--rows`` random float32 rows (column ``x``, materialized in the object store
before anything is timed), mapped by ``map_batches(Predictor class, concurrency=C,
batch_size=B, num_cpus=N, batch_format="numpy")`` and consumed with ``iter_batches``, for N
in ``--cpus-per-actor`` (default 1,2; C * N at most the 2 CPUs). The predictors:

- ``tfbundle``: ``tfbundle.ray.Predictor`` (``tfbundle.load`` in ``__init__``);
- ``TF``: Ray's TensorFlow batch-inference example: ``tf.saved_model.load`` in ``__init__``,
  ``serving_default(x=tf.convert_to_tensor(batch["x"]))`` in ``__call__``, ``.numpy()`` out;
- ``noop`` (only when asked, ``--predictors tfbundle,TF,noop``): an actor that loads nothing and
  returns a slice of its batch, Ray's own cost for the same rows.

Each library runs with its own defaults (threads included). For every (predictor, concurrency,
batch size) the figures are the best of ``--repeats`` runs (default 2) of:

- ``rows/s``: rows over the whole run's wall time (the actors' start, the import of TensorFlow
  or tfbundle and the model's load included: what a job pays);
- ``steady rows/s``: rows after the first output batch over the time after it (the actors up).

The table ends with each predictor's best configuration and the ratio. ``--parse N``
also times ``tfbundle.tf_example.decode_batch`` against a loop of the Python protobuf parser
(upb) over N small tf.Example records (3 features), in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_models  # noqa: E402


class TFPredictor:
    """Ray's TensorFlow batch-inference example for a SavedModel."""

    def __init__(self, model: str) -> None:
        import tensorflow as tf

        self.model = tf.saved_model.load(model)
        self.fn = self.model.signatures["serving_default"]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        out = self.fn(x=tf.convert_to_tensor(batch["x"]))
        return {"y": out["y"].numpy()}


class NoopPredictor:
    """Ray's own floor: an actor that loads nothing and answers each batch with its first 10
    columns (``--predictors ...,noop``)."""

    def __init__(self, model: str) -> None:
        self.model = model

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": batch["x"][:, :10]}


def run_once(
    ds: Any, predictor: str, model: str, concurrency: int, batch_size: int, cpus: int = 1
) -> dict[str, float]:
    import tfbundle.ray

    cls: Any = {"tfbundle": tfbundle.ray.Predictor, "TF": TFPredictor, "noop": NoopPredictor}[predictor]
    mapped = ds.map_batches(
        cls,
        fn_constructor_kwargs={"model": model},
        concurrency=concurrency,
        num_cpus=cpus,
        batch_size=batch_size,
        batch_format="numpy",
    )
    rows = 0
    first_rows = 0
    t_first = None
    t0 = time.perf_counter()
    for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
        rows += len(batch["y"])
        if t_first is None:
            t_first = time.perf_counter()
            first_rows = rows
    t1 = time.perf_counter()
    steady = (
        (rows - first_rows) / (t1 - t_first)
        if t_first is not None and t1 > t_first
        else float("nan")
    )
    return {
        "rows": rows,
        "seconds": t1 - t0,
        "rows_per_s": rows / (t1 - t0),
        "steady_rows_per_s": steady,
    }


def bench_parse(n: int) -> dict[str, float]:
    from tfbundle import _proto, tf_example

    rng = np.random.default_rng(0)
    distinct = [
        tf_example.encode_example(
            {"x": rng.normal(size=4).astype(np.float32), "id": [i], "tag": [b"abc"]}
        )
        for i in range(10000)
    ]
    records = (distinct * (n // len(distinct) + 1))[:n]
    spec = {"x": (np.float32, [4]), "id": np.int64, "tag": bytes}
    t0 = time.perf_counter()
    tf_example.decode_batch(records, spec)
    fast = time.perf_counter() - t0
    sample = records[: max(1, n // 10)]  # a tenth, scaled: the loop is slow
    xs = np.empty((len(sample), 4), np.float32)
    ids = np.empty(len(sample), np.int64)
    tags = []
    t0 = time.perf_counter()
    for i, r in enumerate(sample):
        e = _proto.Example()
        e.ParseFromString(r)
        f = e.features.feature
        xs[i] = f["x"].float_list.value
        ids[i] = f["id"].int64_list.value[0]
        tags.append(f["tag"].bytes_list.value[0])
    slow = (time.perf_counter() - t0) * n / len(sample)
    return {"records": n, "decode_batch_s": fast, "python_protobuf_s": slow, "speedup": slow / fast}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch-sizes", default="256,1024,4096")
    ap.add_argument("--concurrency", default="1,2")
    ap.add_argument(
        "--cpus-per-actor",
        default="1,2",
        help="Ray CPUs per actor (num_cpus; tfbundle's Predictor uses as many op threads); "
        "configurations needing more than the 2 CPUs are left out",
    )
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--predictors", default="tfbundle,TF")
    ap.add_argument(
        "--parse", type=int, default=0, metavar="N", help="also time decode_batch on N records"
    )
    ap.add_argument("--cache", type=Path, default=HERE / "_build" / "models")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    path = make_models.model_dir(str(args.cache), "dense")
    if not make_models.is_complete(path):
        print("making the bench model (needs TensorFlow)...", file=sys.stderr)
        make_models.make(str(args.cache), ["dense"])
    import ray

    # The actors import tfbundle from where this process does (a source tree's python/).
    import tfbundle

    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(tfbundle.__file__).parents[1]), os.environ.get("PYTHONPATH")) if p
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    x = np.random.default_rng(1).normal(size=(args.rows, 256)).astype(np.float32)
    blocks = max(8, args.rows // 4096)  # blocks of about 4096 rows: a stream, not one lump
    ds = ray.data.from_numpy(x).rename_columns({"data": "x"}).repartition(blocks).materialize()
    predictors = args.predictors.split(",")
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    concurrency = [int(c) for c in args.concurrency.split(",")]
    cpu_counts = [int(c) for c in args.cpus_per_actor.split(",")]
    results: list[dict[str, Any]] = []
    load = os.getloadavg()[0]
    print(
        f"# {args.rows} rows of float32[256] in {blocks} blocks, model dense, 2 CPUs; load average {load:.1f}"
    )
    configs = [(c, n, b) for c in concurrency for n in cpu_counts if c * n <= 2 for b in sizes]
    for c, n, b in configs:
        for p in predictors:
            runs = [run_once(ds, p, path, c, b, n) for _ in range(args.repeats)]
            best = max(runs, key=lambda r: r["rows_per_s"])
            row = {
                "predictor": p,
                "concurrency": c,
                "cpus_per_actor": n,
                "batch_size": b,
                "rows_per_s": best["rows_per_s"],
                "steady_rows_per_s": max(r["steady_rows_per_s"] for r in runs),
                "seconds": best["seconds"],
            }
            results.append(row)
            print(
                f"{p:9s} concurrency={c} cpus={n} batch_size={b:5d}  {row['rows_per_s']:10.0f} rows/s  "
                f"steady {row['steady_rows_per_s']:10.0f} rows/s  ({row['seconds']:.2f} s)",
                flush=True,
            )
    ray.shutdown()
    best = {
        p: max((r for r in results if r["predictor"] == p), key=lambda r: r["rows_per_s"])
        for p in predictors
    }
    steady = {
        p: max(r["steady_rows_per_s"] for r in results if r["predictor"] == p) for p in predictors
    }
    print("\nbest configuration of each:")
    for p, r in best.items():
        print(
            f"{p:9s} {r['rows_per_s']:10.0f} rows/s (concurrency={r['concurrency']}, "
            f"cpus={r['cpus_per_actor']}, batch_size={r['batch_size']}); "
            f"best steady {steady[p]:10.0f} rows/s"
        )
    summary: dict[str, Any] = {
        "rows": args.rows,
        "load_average": [load, os.getloadavg()[0]],
        "runs": results,
    }
    if "tfbundle" in best and "TF" in best:
        ratio = best["tfbundle"]["rows_per_s"] / best["TF"]["rows_per_s"]
        steady_ratio = steady["tfbundle"] / steady["TF"]
        print(f"tfbundle / TF: {ratio:.2f}x rows/s, {steady_ratio:.2f}x steady rows/s")
        summary.update(ratio=ratio, steady_ratio=steady_ratio)
    if args.parse:
        parse = bench_parse(args.parse)
        print(
            f"\ntf.Example parse of {parse['records']} records: decode_batch {parse['decode_batch_s']:.2f} s, "
            f"Python protobuf loop {parse['python_protobuf_s']:.2f} s (scaled from a tenth): "
            f"{parse['speedup']:.0f}x"
        )
        summary["parse"] = parse
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
