"""Batch scoring: ``tfbundle score`` against the TensorFlow Python pipeline a user would write.

Every figure is a whole process, timed from outside (``subprocess``): start-up, imports, the model's
load, reading, running and writing the outputs (Parquet). The inputs are generated into a
temporary folder:

- ``small``: a small dense model, x float32 (None, 16) -> Dense 32 relu -> Dense 1 (made here with
  TensorFlow), over ``--rows`` rows (default 1M) in 4 Parquet files (x a fixed-size list column)
  and in 4 TFRecord files of tf.Example (feature x: 16 floats);
- ``scale``: the small model over ``--scale-rows`` rows (default 8M) in 16 Parquet files, for the
  workers' scaling, where the start-up (about 0.35 s, and 0.45 s more for a second worker) weighs
  less than in a 1-second job;
- ``mobilenet_v2``: bench/make_models.py's MobileNetV2 over ``--mobilenet-rows`` images in Parquet.

Runs: ``tfbundle score`` with 1 and 2 workers, with and without the progress bar; the TensorFlow
baselines: pyarrow (``ParquetFile.iter_batches``) + the loaded model, and ``tf.data``
(``TFRecordDataset`` + ``parse_example``) + the model, batch 256 (MobileNetV2: ``--mobilenet-batch``).
On ``scale``: 1 worker, 1 worker bound to one CPU (the share each of 2 workers gets on 2 CPUs),
2 workers bound to a CPU each (the command's default) and 2 unbound (``--no-pin-cpus``).
``--repeats`` go in rounds (each run once per round); the fastest of each counts. ``cores`` is a
run's CPU time (user + system, all its threads and processes) over its wall time.

    python bench/bench_score.py                # the figures (a few minutes)
    python bench/bench_score.py --quick        # a smoke test: small inputs, figures not to quote
    python bench/bench_score.py --workdir /tmp/bs --repeats 3   # inputs kept for the next run
    python bench/bench_score.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_CACHE = str(HERE / "_build" / "models")
FEATURES = 16

MAKE_SMALL = r"""
import os, sys
import tensorflow as tf

class Small(tf.Module):
    def __init__(self):
        super().__init__()
        init = tf.random.stateless_normal
        self.w1 = tf.Variable(init((16, 32), seed=(1, 2)) * 0.2)
        self.b1 = tf.Variable(tf.zeros((32,)))
        self.w2 = tf.Variable(init((32, 1), seed=(3, 4)) * 0.2)

    @tf.function(input_signature=[tf.TensorSpec([None, 16], tf.float32, name="x")])
    def serve(self, x):
        h = tf.nn.relu(tf.matmul(x, self.w1) + self.b1)
        return {"y": tf.matmul(h, self.w2)}

m = Small()
tmp = sys.argv[1] + ".partial"
tf.saved_model.save(m, tmp, signatures={"serving_default": m.serve})
os.rename(tmp, sys.argv[1])
"""

TF_PARQUET = r"""
import sys, glob, os
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
import tensorflow as tf
model_dir, pattern, out, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.makedirs(out, exist_ok=True)
fn = tf.saved_model.load(model_dir).signatures["serving_default"]
key = list(fn.structured_input_signature[1])[0]
for path in sorted(glob.glob(pattern)):
    outs = []
    for rb in pq.ParquetFile(path).iter_batches(batch_size=batch, columns=[key]):
        col = rb.column(0)
        x = col.flatten().to_numpy().reshape(len(col), -1) if pa.types.is_fixed_size_list(col.type) else col.to_numpy()
        shape = fn.structured_input_signature[1][key].shape
        x = x.reshape((len(col), *[d for d in shape[1:]]))
        y = fn(**{key: tf.constant(x)})
        outs.append({k: v.numpy() for k, v in y.items()})
    cols = {}
    for k in outs[0]:
        v = np.concatenate([o[k] for o in outs])
        cols[k] = pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1]) if v.ndim == 2 else pa.array(v)
    pq.write_table(pa.table(cols), os.path.join(out, os.path.basename(path)))
"""

TF_TFRECORD = r"""
import sys, glob, os
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
import tensorflow as tf
model_dir, pattern, out, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.makedirs(out, exist_ok=True)
fn = tf.saved_model.load(model_dir).signatures["serving_default"]
spec = {"x": tf.io.FixedLenFeature([16], tf.float32)}
for path in sorted(glob.glob(pattern)):
    ds = (tf.data.TFRecordDataset(path).batch(batch)
          .map(lambda r: tf.io.parse_example(r, spec), num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE))
    outs = [fn(x=f["x"])["y"].numpy() for f in ds]
    v = np.concatenate(outs)
    pq.write_table(pa.table({"y": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])}),
                   os.path.join(out, os.path.basename(path).replace(".tfrecord", ".parquet")))
"""


def log(text: str) -> None:
    sys.stderr.write(f"[bench_score] {text}\n")
    sys.stderr.flush()


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "python") + (
        os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else ""
    )
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return e


class Timing(NamedTuple):
    wall: float  # seconds
    cpu: float  # the process's user + system CPU seconds (its threads and children included)


def run_python(code_or_args: list[str], what: str, cpus: list[int] | None = None) -> Timing:
    """Runs ``python ARGS`` (bound to ``cpus`` when given) and returns its wall and CPU time
    (raises when it fails)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, *code_or_args],
        env=env(),
        capture_output=True,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"{what} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(dt, cpu)


# ------------------------------------------------------------------------ inputs ---


def make_small_model(path: str) -> None:
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        log(f"making the small dense model in {path} with TensorFlow")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.rmtree(path + ".partial", ignore_errors=True)
        run_python(["-c", MAKE_SMALL, path], "making the small model")


def make_mobilenet(cache: str) -> str:
    path = os.path.join(cache, "mobilenet_v2")
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        log("making MobileNetV2 with bench/make_models.py")
        run_python(
            [str(HERE / "make_models.py"), cache, "--models", "mobilenet_v2"], "make_models.py"
        )
    return path


def _example_bytes(x):
    """tf.Example{features{feature{"x": float_list{packed 16 floats}}}} per row: the floats are the
    serialization's tail, so one encoded Example gives the prefix every row shares."""
    import numpy as np

    from tfbundle import tf_example

    floats = 4 * FEATURES
    prefix = tf_example.encode_example({"x": np.zeros(FEATURES, np.float32)})[:-floats]
    xs = np.ascontiguousarray(x, dtype="<f4")
    return [prefix + row.tobytes() for row in xs]


def make_inputs(folder: Path, rows: int, shards: int, tfrecord: bool = True) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tfbundle._readers.tfrecord import write_records

    done = folder / f".inputs-{rows}-{shards}-{int(tfrecord)}"
    if done.exists():  # a --workdir kept from an earlier run with the same inputs
        return
    for sub in ("parquet", "tfrecord") if tfrecord else ("parquet",):
        shutil.rmtree(folder / sub, ignore_errors=True)
        (folder / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    per = rows // shards
    for k in range(shards):
        n = per if k < shards - 1 else rows - per * (shards - 1)
        x = rng.normal(size=(n, FEATURES)).astype(np.float32)
        t = pa.table(
            {
                "id": np.arange(k * per, k * per + n),
                "x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), FEATURES),
            }
        )
        pq.write_table(t, folder / "parquet" / f"part-{k}.parquet", row_group_size=65536)
        if tfrecord:
            write_records(folder / "tfrecord" / f"part-{k}.tfrecord", _example_bytes(x))
    done.touch()


def make_images(folder: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = folder / f".images-{rows}"
    if done.exists():
        return
    shutil.rmtree(folder / "images", ignore_errors=True)
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(1)
    side = 224 * 224 * 3
    writer = None
    for s in range(0, rows, 64):
        n = min(64, rows - s)
        x = rng.random(size=(n, side), dtype=np.float32)
        t = pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), side)})
        if writer is None:
            writer = pq.ParquetWriter(
                folder / "images" / "images.parquet", t.schema, compression="none"
            )
        writer.write_table(t, row_group_size=64)
    assert writer is not None
    writer.close()
    done.touch()


def bar_cost_in_process(rows: int, batch: int, files: int, job_seconds: float) -> float:
    """The seconds a progress bar costs a job of ``rows`` rows, measured in this process: the
    ``update`` call per batch that the job makes, and tqdm's redraws (one per 0.2 s of the job),
    drawn to a pipe. tqdm's import (50-80 ms) is left out: ``tfbundle score`` starts it in a thread
    while the model loads. The whole-process difference (bar run minus plain run) is the other
    figure; on a shared VM it moves by more than the bar costs."""
    import io

    import tqdm  # noqa: F401 - imported before the timing (see above)

    from tfbundle.scoring.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    t0 = time.perf_counter()
    prog = Progress("bar", total=rows, stream=Terminal())
    per_file = rows // files
    done = 0
    for f in range(files):
        prog.file_started(f"part-{f}.parquet")
        left = per_file if f < files - 1 else rows - done
        while left > 0:
            n = min(batch, left)
            prog.update(n)
            left -= n
            done += n
    updates = time.perf_counter() - t0
    assert prog.bar is not None
    t0 = time.perf_counter()
    for _ in range(100):
        prog.bar.refresh()
    redraw = (time.perf_counter() - t0) / 100
    prog.bar.close()
    return updates + redraw * job_seconds / 0.2


# --------------------------------------------------------------------------- runs ---


def tfbundle_score(model: str, inputs: str, out: Path, *extra: str, one_cpu: bool = False) -> Timing:
    """``tfbundle score`` in a new process; ``one_cpu``: bound to the first CPU this process may
    use (as ``taskset`` would), the share one of two workers gets on two CPUs."""
    shutil.rmtree(out, ignore_errors=True)
    return run_python(
        ["-m", "tfbundle", "score", model, "--input", inputs, "--output", str(out), *extra],
        f"tfbundle score {' '.join(extra)}",
        cpus=[min(os.sched_getaffinity(0))] if one_cpu else None,
    )


def baseline(code: str, model: str, pattern: str, out: Path, batch: int, what: str) -> Timing:
    shutil.rmtree(out, ignore_errors=True)
    return run_python(["-c", code, model, pattern, str(out), str(batch)], what)


def check_same(a: Path, b: Path) -> float:
    """The largest difference between the outputs of two runs (y column), as a sanity check."""
    import numpy as np
    import pyarrow.parquet as pq

    worst = 0.0
    for p in sorted(a.glob("*.parquet")):
        ya = np.stack(pq.read_table(p)["y"].to_numpy(zero_copy_only=False))
        yb = np.stack(pq.read_table(b / p.name)["y"].to_numpy(zero_copy_only=False))
        worst = max(worst, float(np.abs(ya - yb).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rows", type=int, default=1_000_000, help="rows for the small model (default 1M)"
    )
    p.add_argument(
        "--mobilenet-rows", type=int, default=1024, help="images for MobileNetV2 (default 1024)"
    )
    p.add_argument(
        "--mobilenet-batch", type=int, default=32, help="batch for MobileNetV2 (default 32)"
    )
    p.add_argument("--batch", type=int, default=256, help="batch for the small model (default 256)")
    p.add_argument(
        "--quick", action="store_true", help="small inputs, no MobileNetV2: a smoke test"
    )
    p.add_argument(
        "--scale-rows",
        type=int,
        default=8_000_000,
        help="rows (16 Parquet files) for the workers' scaling runs, where start-up weighs less "
        "(default 8M; 0: none)",
    )
    p.add_argument("--no-mobilenet", action="store_true", help="leave MobileNetV2 out")
    p.add_argument("--skip-tf", action="store_true", help="leave the TensorFlow baselines out")
    p.add_argument(
        "--repeats", type=int, default=1, help="runs of each, the fastest counts (default 1)"
    )
    p.add_argument("--cache", default=DEFAULT_CACHE, help="folder of the bench models")
    p.add_argument(
        "--workdir", help="folder for the generated inputs (default: a temporary one, deleted)"
    )
    p.add_argument(
        "--json", metavar="OUT", help="also write the figures as JSON to OUT ('-': stdout)"
    )
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "python"))  # the tree's tfbundle writes the TFRecord inputs
    if args.quick:
        args.rows = min(args.rows, 20000)
        args.scale_rows = min(args.scale_rows, 40000)
        args.no_mobilenet = True

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_score-"))
    results: dict[str, Timing] = {}

    def measure(runs: list[tuple[str, Any]]) -> None:
        """Each run ``--repeats`` times, in rounds (every run once per round, so that a slow minute
        of the VM falls on all of them); the fastest counts."""
        times: dict[str, list[Timing]] = {name: [] for name, _ in runs}
        for _ in range(args.repeats):
            for name, fn in runs:
                times[name].append(fn())
                log(f"{name}: {times[name][-1].wall:.2f} s, {times[name][-1].cpu:.2f} CPU-s")
        for name, ts in times.items():
            results[name] = min(ts)

    try:
        small = os.path.join(args.cache, "score_small")
        make_small_model(small)
        log(f"writing {args.rows} rows as Parquet and TFRecord into {work}")
        make_inputs(work, args.rows, 4)
        pq_in, tfr_in = str(work / "parquet" / "*.parquet"), str(work / "tfrecord" / "*.tfrecord")
        b = str(args.batch)
        none = ["--batch-size", b, "--progress", "none"]
        runs = [
            (
                "small/parquet/tf_python",
                lambda: baseline(
                    TF_PARQUET, small, pq_in, work / "o_tf_pq", args.batch, "TF parquet"
                ),
            ),
            ("small/parquet/tfbundle", lambda: tfbundle_score(small, pq_in, work / "o_pq", *none)),
            (
                "small/parquet/tfbundle_2_workers",
                lambda: tfbundle_score(small, pq_in, work / "o_pq2", *none, "--workers", "2"),
            ),
            (
                "small/parquet/tfbundle_progress_bar",
                lambda: tfbundle_score(
                    small, pq_in, work / "o_pqb", "--batch-size", b, "--progress", "bar"
                ),
            ),
            (
                "small/tfrecord/tf_python",
                lambda: baseline(
                    TF_TFRECORD, small, tfr_in, work / "o_tf_tfr", args.batch, "TF tfrecord"
                ),
            ),
            (
                "small/tfrecord/tfbundle",
                lambda: tfbundle_score(small, tfr_in, work / "o_tfr", *none),
            ),
            (
                "small/tfrecord/tfbundle_2_workers",
                lambda: tfbundle_score(small, tfr_in, work / "o_tfr2", *none, "--workers", "2"),
            ),
        ]
        if args.skip_tf:
            runs = [r for r in runs if "tf_python" not in r[0]]
        measure(runs)
        rows = {"small": args.rows}
        if args.scale_rows:
            scale = work / "scale"
            log(f"writing {args.scale_rows} rows as Parquet into {scale}")
            make_inputs(scale, args.scale_rows, 16, tfrecord=False)
            big = str(scale / "parquet" / "*.parquet")
            measure(
                [
                    ("scale/parquet/tfbundle", lambda: tfbundle_score(small, big, work / "o_s1", *none)),
                    (
                        "scale/parquet/tfbundle_1_cpu",
                        lambda: tfbundle_score(small, big, work / "o_s1c", *none, one_cpu=True),
                    ),
                    (
                        "scale/parquet/tfbundle_2_workers",
                        lambda: tfbundle_score(small, big, work / "o_s2", *none, "--workers", "2"),
                    ),
                    (
                        "scale/parquet/tfbundle_2_workers_unbound",
                        lambda: tfbundle_score(
                            small, big, work / "o_s2u", *none, "--workers", "2", "--no-pin-cpus"
                        ),
                    ),
                ]
            )
            rows["scale"] = args.scale_rows
        diffs = {}
        if not args.skip_tf:
            diffs["parquet"] = check_same(work / "o_pq", work / "o_tf_pq")
            diffs["tfrecord"] = check_same(work / "o_tfr", work / "o_tf_tfr")
        if not args.no_mobilenet:
            mobilenet = make_mobilenet(args.cache)
            log(f"writing {args.mobilenet_rows} images into {work}")
            make_images(work, args.mobilenet_rows)
            img = str(work / "images" / "*.parquet")
            mb = args.mobilenet_batch
            image_runs = [
                (
                    "mobilenet_v2/parquet/tf_python",
                    lambda: baseline(
                        TF_PARQUET, mobilenet, img, work / "o_tf_img", mb, "TF images"
                    ),
                ),
                (
                    "mobilenet_v2/parquet/tfbundle",
                    lambda: tfbundle_score(
                        mobilenet,
                        img,
                        work / "o_img",
                        "--batch-size",
                        str(mb),
                        "--progress",
                        "none",
                    ),
                ),
            ]
            measure([r for r in image_runs if not (args.skip_tf and "tf_python" in r[0])])
            if not args.skip_tf:
                diffs["mobilenet_v2"] = check_same(work / "o_img", work / "o_tf_img")
            rows["mobilenet_v2"] = args.mobilenet_rows
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    table = []
    for name, t in results.items():
        model = name.split("/")[0]
        table.append(
            {
                "run": name,
                "seconds": round(t.wall, 3),
                "cpu_s": round(t.cpu, 3),
                "cores": round(t.cpu / t.wall, 2),
                "rows": rows[model],
                "rows_per_s": round(rows[model] / t.wall, 1),
            }
        )
    by = {r["run"]: r for r in table}

    def ratio(a: str, b: str) -> float | None:
        return round(by[b]["seconds"] / by[a]["seconds"], 2) if a in by and b in by else None

    ratios = {
        "small parquet: tfbundle / TF python (goal >= 3)": ratio(
            "small/parquet/tfbundle", "small/parquet/tf_python"
        ),
        "small tfrecord: tfbundle / TF python (goal >= 2)": ratio(
            "small/tfrecord/tfbundle", "small/tfrecord/tf_python"
        ),
        "mobilenet_v2: tfbundle / TF python (goal >= 1)": ratio(
            "mobilenet_v2/parquet/tfbundle", "mobilenet_v2/parquet/tf_python"
        ),
        "small parquet: 2 workers / 1 worker (goal >= 1.7)": ratio(
            "small/parquet/tfbundle_2_workers", "small/parquet/tfbundle"
        ),
        "small tfrecord: 2 workers / 1 worker (goal >= 1.7)": ratio(
            "small/tfrecord/tfbundle_2_workers", "small/tfrecord/tfbundle"
        ),
        "scale parquet: 2 workers / 1 worker (goal >= 1.7)": ratio(
            "scale/parquet/tfbundle_2_workers", "scale/parquet/tfbundle"
        ),
        "scale parquet: 2 workers / 1 worker on 1 CPU": ratio(
            "scale/parquet/tfbundle_2_workers", "scale/parquet/tfbundle_1_cpu"
        ),
        "scale parquet: 2 workers bound / unbound": ratio(
            "scale/parquet/tfbundle_2_workers", "scale/parquet/tfbundle_2_workers_unbound"
        ),
    }
    bar = by.get("small/parquet/tfbundle_progress_bar")
    plain = by.get("small/parquet/tfbundle")
    bar_cost = round(bar["seconds"] - plain["seconds"], 3) if bar and plain else None
    bar_in_process = (
        bar_cost_in_process(plain["rows"], args.batch, 4, plain["seconds"]) if plain else None
    )

    print(f"{'run':40} {'rows':>9} {'seconds':>9} {'rows/s':>12} {'cores':>6}")
    for r in table:
        print(
            f"{r['run']:40} {r['rows']:>9} {r['seconds']:>9.2f} {r['rows_per_s']:>12,.0f} "
            f"{r['cores']:>6.2f}"
        )
    print()
    for k, v in ratios.items():
        if v is not None:
            print(f"{k:55} {v:>6.2f}x")
    if bar_cost is not None:
        print(f"{'progress bar cost (s, bar - none)':55} {bar_cost:>+7.2f}")
    if bar_in_process is not None and plain:
        share = 100 * bar_in_process / plain["seconds"]
        print(
            f"{'progress bar cost in process (goal < 2% of the run)':55} "
            f"{bar_in_process * 1e3:>7.1f} ms ({share:.2f}%)"
        )
    if diffs:
        print(
            f"{'largest |y| difference vs TensorFlow':55} "
            + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
        )
    print(
        "(whole processes, timed from outside; on a small shared VM the figures move by 10% or more)"
    )
    if args.json:
        doc = {
            "rows": rows,
            "batch": args.batch,
            "quick": args.quick,
            "runs": table,
            "ratios": ratios,
            "progress_bar_cost_s": bar_cost,
            "progress_bar_cost_in_process_s": bar_in_process,
            "max_abs_diff": diffs,
            "cpus": os.cpu_count(),
        }
        text = json.dumps(doc, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
