"""``tfbundle bench PATH``: load time, first-call and steady-state latency, and the top ops.

``tfbundle bench PATH --load``: where the time to the first prediction goes in a fresh
process (interpreter, ``import numpy``, ``import tfbundle``, opening TensorFlow's libraries,
the load, the first call) and in a warm one, against TensorFlow's Python loader.

The ``tfbundle`` command adds this sub-command with :func:`add_parser`; it also
runs on its own as ``python -m tfbundle.cli.bench PATH``::

    tfbundle bench models/resnet                      # serving_default, batch 1
    tfbundle bench models/resnet --batch 32 --top 15  # bigger batch, more ops
    tfbundle bench frozen.pb --signature serving_default --inputs batch.npz
    tfbundle bench train_dir/                         # a TF1 checkpoint (load time)
    tfbundle bench models/resnet --load --repeats 9   # cold start, vs tf.saved_model.load

PATH is a SavedModel folder (or a TF Serving base folder), a frozen GraphDef
(``.pb``/``.pbtxt``) or a TF1 checkpoint (folder, prefix or ``.meta``). Inputs
come from ``--inputs`` (an ``.npz`` with one array per input key), else from
the model's first warmup predict request for the signature, else they are made
up from the signature: unknown dimensions become ``--batch``, numbers are
random, strings are empty (an empty serialized tf.Example).

With ``--load`` (SavedModels only), each of ``--repeats`` fresh processes (default 5)
imports numpy and tfbundle, opens TensorFlow's libraries, loads the model and makes one
prediction, then loads it again and predicts (the warm figures); the medians are shown. The
same is done with TensorFlow's Python (``import tensorflow``, ``tf.saved_model.load``, the
signature's first call) when it is installed (``--no-tensorflow`` skips it). The children run
with ``TFBUNDLE_PRELOAD=0``, so that the library's opening is timed apart. The inputs are
chosen as above, once, by this process. With ``--compile-cache DIR`` (or
``$TFBUNDLE_COMPILE_CACHE``) every load uses that compile cache; this process's own check load
writes the entry first, so the fresh processes time a warm cache, and the report says what the
cache did in each load (``hit``, ``miss: <why>``).

Exit status: 0 on success, 2 when the model cannot be loaded or run (the error
on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..errors import Error, InvalidArgumentError, NotFoundError

__all__ = ["add_parser", "configure_parser", "main", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the ``bench`` sub-command to an ``argparse`` sub-parsers object.

    The parser's default ``func`` is :func:`run`, which takes the parsed
    arguments and returns the exit status.
    """
    parser = subparsers.add_parser(
        "bench",
        help="time loading a model, its first call and its steady-state latency; show its top ops",
        description=(
            "Loads a SavedModel, frozen graph or TF1 checkpoint through TensorFlow's C API and times "
            "the load, the first call and the following calls (median, p90, p99), then traces a few "
            "calls and prints the op types that take the most time."
        ),
    )
    configure_parser(parser)
    return parser


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the ``bench`` arguments to ``parser`` and sets ``func`` to :func:`run`."""
    parser.add_argument("path", help="SavedModel folder, frozen .pb/.pbtxt, or TF1 checkpoint")
    parser.add_argument(
        "--signature", "-s", help="the signature to time (default: serving_default or the only one)"
    )
    parser.add_argument(
        "--batch",
        "-b",
        type=int,
        default=1,
        help="size of unknown dimensions of made-up inputs (default 1)",
    )
    parser.add_argument(
        "--top",
        "-k",
        type=int,
        default=10,
        help="op types to show from traced calls (0: no tracing)",
    )
    parser.add_argument(
        "--runs", "-n", type=int, default=200, help="timed calls after the first (default 200)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=3.0,
        help="stop the timed calls after this long, if sooner (default 3)",
    )
    parser.add_argument(
        "--inputs", metavar="NPZ", help="an .npz file with one array per signature input"
    )
    parser.add_argument(
        "--warmup", action="store_true", help="replay assets.extra/tf_serving_warmup_requests first"
    )
    parser.add_argument("--tags", help="the SavedModel tag-set, e.g. 'serve' or 'serve,gpu'")
    parser.add_argument("--threads", type=int, help="intra- and inter-op threads of the session")
    parser.add_argument(
        "--grappler",
        choices=("fast", "tensorflow"),
        default="fast",
        help="graph optimizer settings of the load (default fast: tfbundle's; tensorflow: TensorFlow's)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--load",
        action="store_true",
        help="time the cold start instead: fresh processes to the first prediction, step by step, "
        "and a warm load, against TensorFlow's Python loader (SavedModels only)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="--load: fresh processes to take the median of (default 5)"
    )
    parser.add_argument(
        "--no-tensorflow",
        dest="tensorflow",
        action="store_false",
        help="--load: do not time TensorFlow's Python loader",
    )
    parser.add_argument(
        "--compile-cache",
        metavar="DIR",
        help="--load: load with this compile cache folder (default: $TFBUNDLE_COMPILE_CACHE when set); "
        "the figures say whether each load found its entry",
    )
    parser.set_defaults(func=run)


# --------------------------------------------------------------- loading ---


def _load_any(path: str, args: argparse.Namespace) -> tuple[Any, str]:
    """Loads what ``path`` holds; returns (model, kind)."""
    from .._base.paths import MODEL_FILES, resolve_export_dir
    from .._runtime.graphs import load_checkpoint_graph, load_graph
    from .._runtime.model import load

    options: dict[str, Any] = {"grappler": args.grappler}
    if args.threads is not None:
        options.update(intra_op_threads=args.threads, inter_op_threads=args.threads)
    p = Path(path).expanduser()
    if p.is_file() and p.name in MODEL_FILES:
        p = p.parent
    if p.is_file() and p.suffix.lower() in (".pb", ".pbtxt", ".pbtext"):
        import warnings

        from .._runtime.graphs import InferredSignatureWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InferredSignatureWarning)
            model = load_graph(p, **options)
        return model, "frozen graph"
    try:
        resolve_export_dir(p)
    except NotFoundError:
        looks_like_prefix = p.parent.is_dir() and any(
            c.name.startswith(p.name + ".") for c in p.parent.iterdir()
        )
        if not p.exists() and not looks_like_prefix:
            raise NotFoundError(f"{p} does not exist") from None
        try:
            return load_checkpoint_graph(p, **options), "TF1 checkpoint"
        except NotFoundError as e:
            raise NotFoundError(
                f"{p}: no SavedModel, frozen graph (.pb/.pbtxt) or TF1 checkpoint there ({e})"
            ) from None
    return load(p, args.tags, warmup=args.warmup, **options), "SavedModel"


def _warmup_inputs(model: Any, signature: Any) -> dict[str, np.ndarray] | None:
    """The first warmup predict request for this signature, as arrays, if there is one."""
    from .._proto import parsing as gp
    from .._runtime.warmup import MAX_RECORDS, read_tfrecords, warmup_file

    found = warmup_file(model.path)
    if found is None:
        return None
    try:
        for record in read_tfrecords(found, limit=MAX_RECORDS):
            log = gp.parse("PredictionLog", bytes(record), str(found))
            if log.WhichOneof("log_type") != "predict_log":
                continue
            request = log.predict_log.request
            if (request.model_spec.signature_name or "serving_default") != signature.name:
                continue
            return {
                k: gp.tensor_to_numpy(v, f"warmup input {k!r}") for k, v in request.inputs.items()
            }
    except Error:
        return None
    return None


def _made_up_inputs(signature: Any, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {}
    for key, spec in signature.inputs.items():
        if spec.dtype is None:
            raise InvalidArgumentError(
                f"input {key!r} of signature {signature.name!r} is {spec.tf_dtype}, which cannot be made up: "
                "pass --inputs FILE.npz"
            )
        shape = (
            tuple(batch if d is None else d for d in spec.shape)
            if spec.shape is not None
            else (batch,)
        )
        if spec.dtype == np.dtype(object):
            arr = np.empty(shape, dtype=object)
            arr.fill(b"")
        elif spec.dtype.kind == "f" or spec.dtype.kind == "c":
            arr = rng.standard_normal(shape).astype(spec.dtype)
        else:
            arr = np.zeros(shape, dtype=spec.dtype)
        out[key] = arr
    return out


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _latency(values_us: list[float]) -> dict[str, float]:
    return {
        "n": len(values_us),
        "median_us": _percentile(values_us, 50),
        "p90_us": _percentile(values_us, 90),
        "p99_us": _percentile(values_us, 99),
        "mean_us": float(np.mean(values_us)) if values_us else float("nan"),
        "min_us": float(np.min(values_us)) if values_us else float("nan"),
    }


# ----------------------------------------------------------------- running ---


def bench(args: argparse.Namespace, err: TextIO = sys.stderr) -> dict[str, Any]:
    """Runs the benchmark and returns its figures (see :func:`run` for printing)."""
    from .._runtime import library as _library
    from .._runtime.profile import profile_signature

    if args.batch < 1:
        raise InvalidArgumentError(f"--batch must be at least 1, got {args.batch}")
    if args.runs < 1 or args.top < 0 or args.seconds <= 0:
        raise InvalidArgumentError("--runs must be >= 1, --top >= 0 and --seconds > 0")
    result: dict[str, Any] = {"path": str(Path(args.path).expanduser())}
    start = time.perf_counter()
    result["tensorflow"] = _library.ensure_loaded()
    result["library_s"] = time.perf_counter() - start
    start = time.perf_counter()
    model, kind = _load_any(args.path, args)
    result["load_s"] = time.perf_counter() - start
    result["kind"] = kind
    result["grappler"] = args.grappler
    with model:
        if getattr(model, "warmup", None) is not None:
            result["warmup"] = {
                "ran": model.warmup.ran,
                "records": model.warmup.records,
                "seconds": model.warmup.seconds,
            }
        if args.signature is not None:
            signature = model.signatures[args.signature]
        elif len(model.signatures) == 0:
            result["signature"] = None
            result["note"] = "the model has no signature to call: only its load was timed"
            return result
        else:
            signature = model.default_signature
        result["signature"] = signature.name
        inputs: dict[str, np.ndarray] | None
        if args.inputs:
            with np.load(args.inputs, allow_pickle=True) as z:
                inputs = {k: z[k] for k in z.files}
            result["inputs_from"] = args.inputs
        else:
            inputs = _warmup_inputs(model, signature)
            result["inputs_from"] = "the warmup requests"
            if inputs is None:
                inputs = _made_up_inputs(signature, args.batch)
                result["inputs_from"] = f"made up (batch {args.batch})"
        result["inputs"] = {k: [str(v.dtype), list(v.shape)] for k, v in inputs.items()}

        start = time.perf_counter()
        signature.run(inputs)
        result["first_call_us"] = (time.perf_counter() - start) * 1e6
        times: list[float] = []
        deadline = time.perf_counter() + args.seconds
        for _ in range(args.runs):
            start = time.perf_counter()
            signature.run(inputs)
            end = time.perf_counter()
            times.append((end - start) * 1e6)
            if end > deadline:
                break
        result["latency"] = _latency(times)
        if args.top:
            prof = profile_signature(
                signature, inputs, runs=min(10, max(3, len(times) // 10)), warmup=0
            )
            result["top_ops"] = [
                {"op": o.op, "nodes": o.nodes, "us_per_run": o.per_run_us, "share": o.share}
                for o in prof.top(args.top)
            ]
            result["traced_kernel_us"] = prof.total_us
    return result


# ------------------------------------------------------------- --load ---

# The fresh process of `--load`, one per repeat: argv[1] is the request (JSON). Each stamp is
# time.monotonic() (one clock for every process on Linux), so that the interpreter's start is
# measured from the parent's spawn. Its result is the last line of stdout (JSON).
_TFBUNDLE_CHILD = """\
import time
t_first = time.monotonic()
import json, sys
req = json.loads(sys.argv[1])
t0 = time.monotonic()
import numpy as np
t1 = time.monotonic()
import tfbundle
t2 = time.monotonic()
from tfbundle._runtime import library
library.ensure_loaded()
t3 = time.monotonic()
opts = req["options"]
m = tfbundle.load(req["path"], req["tags"], **opts)
t4 = time.monotonic()
with np.load(req["inputs"], allow_pickle=True) as z:
    inputs = {k: z[k] for k in z.files}
t5 = time.monotonic()
m.signatures[req["signature"]].run(inputs)
t6 = time.monotonic()
m2 = tfbundle.load(req["path"], req["tags"], **opts)
t7 = time.monotonic()
m2.signatures[req["signature"]].run(inputs)
t8 = time.monotonic()
def cache_state(model):
    n = model.compiled_calls
    return model.compile_cache and model.compile_cache + (f", {n} compiled call(s)" if n else "")
states = cache_state(m), cache_state(m2)
m.close(); m2.close()
print(json.dumps({
    "compile_cache": states[0], "warm_compile_cache": states[1],
    "interpreter_s": t_first - req["spawned"], "import_numpy_s": t1 - t0, "import_s": t2 - t1,
    "libraries_s": t3 - t2, "load_s": t4 - t3, "first_call_s": t6 - t5,
    "total_s": (t6 - req["spawned"]) - (t5 - t4) - (t0 - t_first),
    "warm_load_s": t7 - t6, "warm_first_call_s": t8 - t7,
}))
"""

_TENSORFLOW_CHILD = """\
import time
t_first = time.monotonic()
import json, sys
req = json.loads(sys.argv[1])
t0 = time.monotonic()
import numpy as np
t1 = time.monotonic()
import tensorflow as tf
t2 = time.monotonic()
tags = req["tags"]
m = tf.saved_model.load(req["path"], tags=tags)
t3 = time.monotonic()
with np.load(req["inputs"], allow_pickle=True) as z:
    inputs = {k: tf.constant(z[k]) for k in z.files}
t4 = time.monotonic()
[v.numpy() for v in m.signatures[req["signature"]](**inputs).values()]
t5 = time.monotonic()
m2 = tf.saved_model.load(req["path"], tags=tags)
t6 = time.monotonic()
[v.numpy() for v in m2.signatures[req["signature"]](**inputs).values()]
t7 = time.monotonic()
print(json.dumps({
    "interpreter_s": t_first - req["spawned"], "import_numpy_s": t1 - t0, "import_s": t2 - t1,
    "libraries_s": None, "load_s": t3 - t2, "first_call_s": t5 - t4,
    "total_s": (t5 - req["spawned"]) - (t4 - t3) - (t0 - t_first),
    "warm_load_s": t6 - t5, "warm_first_call_s": t7 - t6,
}))
"""

#: The steps of ``--load``, in order: (key, label).
LOAD_STEPS = (
    ("interpreter_s", "interpreter start"),
    ("import_numpy_s", "import numpy"),
    ("import_s", "import tfbundle / tensorflow"),
    ("libraries_s", "open TensorFlow's libraries"),
    ("load_s", "load"),
    ("first_call_s", "first call"),
    ("total_s", "fresh process to first prediction"),
    ("warm_load_s", "warm process: load"),
    ("warm_first_call_s", "warm process: first call"),
)


def _child_env() -> dict[str, str]:
    """The environment of the fresh processes: this one's, with this tfbundle first on the path."""
    import tfbundle

    env = dict(os.environ)
    where = os.path.dirname(os.path.dirname(os.path.abspath(tfbundle.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (where, env.get("PYTHONPATH")) if p)
    env["TFBUNDLE_PRELOAD"] = "0"  # the library's opening is timed as a step of its own
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's Python logs as tfbundle does
    return env


def _fresh_process(code: str, request: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Runs one fresh process of ``--load``; returns its figures.

    Raises:
        InternalError: the process failed (the message ends with its last error line).
    """
    from ..errors import InternalError

    request = dict(request, spawned=time.monotonic())
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(request)], capture_output=True, text=True, env=env, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or [f"exit status {proc.returncode}"]
        raise InternalError(f"the fresh process failed: {tail[0]}")
    return dict(json.loads(lines[-1]))


def _medians(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, _ in LOAD_STEPS:
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = float(np.median(values)) if values else None
    return out


def _cache_states(runs: list[dict[str, Any]]) -> dict[str, dict[str, int]] | None:
    """What the compile cache did in the fresh processes' first and warm loads: state -> count
    (None when no load used a cache)."""
    out: dict[str, dict[str, int]] = {}
    for key in ("compile_cache", "warm_compile_cache"):
        counts: dict[str, int] = {}
        for r in runs:
            if r.get(key) is not None:
                counts[r[key]] = counts.get(r[key], 0) + 1
        if counts:
            out[key] = counts
    return out or None


def bench_load(args: argparse.Namespace, err: TextIO = sys.stderr) -> dict[str, Any]:
    """Runs ``bench --load`` and returns its figures (see :func:`run` for printing)."""
    import importlib.util

    from .._base.paths import resolve_export_dir
    from .._runtime import library as _library
    from .._runtime.model import load

    if args.repeats < 1:
        raise InvalidArgumentError(f"--repeats must be at least 1, got {args.repeats}")
    if args.batch < 1:
        raise InvalidArgumentError(f"--batch must be at least 1, got {args.batch}")
    p = Path(args.path).expanduser()
    try:
        export_dir = resolve_export_dir(p)
    except NotFoundError as e:
        if p.exists() or any(p.parent.glob(p.name + ".*")):
            raise InvalidArgumentError(
                f"{p} is not a SavedModel: --load times SavedModels only (without --load, "
                "tfbundle bench also times frozen graphs and TF1 checkpoints)"
            ) from None
        raise e from None
    options: dict[str, Any] = {"grappler": args.grappler}
    if args.threads is not None:
        options.update(intra_op_threads=args.threads, inter_op_threads=args.threads)
    if getattr(args, "compile_cache", None):
        options["compile_cache"] = os.path.abspath(args.compile_cache)
    result: dict[str, Any] = {
        "path": export_dir,
        "kind": "SavedModel",
        "repeats": args.repeats,
        "grappler": args.grappler,
    }
    # Here, once: the model loads at all, the signature exists, and its inputs are chosen.
    result["tensorflow"] = _library.ensure_loaded()
    with load(export_dir, args.tags, **options) as model:
        signature = model.signatures[args.signature] if args.signature is not None else model.default_signature
        tags = sorted(model.tags)
        if args.inputs:
            with np.load(args.inputs, allow_pickle=True) as z:
                inputs = {k: z[k] for k in z.files}
            result["inputs_from"] = args.inputs
        else:
            found = _warmup_inputs(model, signature)
            result["inputs_from"] = "the warmup requests" if found is not None else f"made up (batch {args.batch})"
            inputs = found if found is not None else _made_up_inputs(signature, args.batch)
        signature.run(inputs)
    result["signature"] = signature.name
    result["tags"] = tags
    env = _child_env()
    with tempfile.TemporaryDirectory(prefix="tfbundle-bench-") as tmp:
        npz = os.path.join(tmp, "inputs.npz")
        np.savez(npz, **inputs)
        request: dict[str, Any] = {"path": export_dir, "tags": tags, "signature": signature.name, "inputs": npz}
        contestants: list[tuple[str, str, dict[str, Any]]] = [
            ("tfbundle", _TFBUNDLE_CHILD, dict(request, options=options))
        ]
        if not args.tensorflow:
            result["tensorflow_python_note"] = "TensorFlow's Python loader not timed (--no-tensorflow)"
        elif importlib.util.find_spec("tensorflow") is None:
            result["tensorflow_python_note"] = "TensorFlow's Python package is not installed: its loader was not timed"
        else:
            contestants.append(("tensorflow_python", _TENSORFLOW_CHILD, request))
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in contestants}
        failed: dict[str, str] = {}
        for i in range(args.repeats):  # round-robin: a change in the machine's load hits both alike
            for name, code, req in contestants:
                if name in failed:
                    continue
                print(f"tfbundle bench --load: {name} {i + 1}/{args.repeats}", file=err, flush=True)
                try:
                    runs[name].append(_fresh_process(code, req, env))
                except Error as e:
                    if name == "tfbundle":
                        raise
                    failed[name] = e.message
    result["tfbundle"] = {
        "median_s": _medians(runs["tfbundle"]),
        "runs": runs["tfbundle"],
        "compile_cache": _cache_states(runs["tfbundle"]),
    }
    if "tensorflow_python" in runs:
        if "tensorflow_python" in failed:
            result["tensorflow_python_note"] = f"TensorFlow's Python loader failed: {failed['tensorflow_python']}"
        else:
            result["tensorflow_python"] = {
                "median_s": _medians(runs["tensorflow_python"]),
                "runs": runs["tensorflow_python"],
            }
    return result


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _print_load(result: dict[str, Any], out: TextIO) -> None:
    print(
        f"{result['path']}  (SavedModel, signature {result['signature']!r}, TensorFlow {result['tensorflow']}; "
        f"median of {result['repeats']} fresh processes)",
        file=out,
    )
    tfb = result["tfbundle"]["median_s"]
    tfp = result.get("tensorflow_python", {}).get("median_s")
    header = f"  {'':<36}{'tfbundle':>12}"
    if tfp:
        header += f"{'TensorFlow':>14}{'ratio':>9}"
    print(header, file=out)
    for key, label in LOAD_STEPS:
        if key == "warm_load_s":
            print(file=out)
        line = f"  {label:<36}{_ms(tfb[key]):>12}"
        if tfp:
            theirs = tfp[key]
            shown = "(in import)" if key == "libraries_s" else _ms(theirs)
            ratio = f"{theirs / tfb[key]:.1f}x" if theirs is not None and tfb[key] else ""
            line += f"{shown:>14}{ratio:>9}"
        print(line, file=out)
    states = result["tfbundle"].get("compile_cache")
    if states:
        for key, label in (("compile_cache", "load"), ("warm_compile_cache", "warm load")):
            shown = "; ".join(f"{state} ({n}/{result['repeats']})" for state, n in states.get(key, {}).items())
            print(f"  compile cache, {label}: {shown or 'not used'}", file=out)
    else:
        print("  compile cache: not used (--compile-cache DIR or $TFBUNDLE_COMPILE_CACHE)", file=out)
    if "tensorflow_python_note" in result:
        print(f"  note: {result['tensorflow_python_note']}", file=out)


def _print(result: dict[str, Any], out: TextIO) -> None:
    print(
        f"{result['path']}  ({result.get('kind', '?')}, TensorFlow {result['tensorflow']})",
        file=out,
    )
    print(f"  open TensorFlow's library  {result['library_s'] * 1000:9.1f} ms", file=out)
    print(f"  load                       {result['load_s'] * 1000:9.1f} ms", file=out)
    if "warmup" in result:
        w = result["warmup"]
        print(f"  warmup ({w['ran']} requests)       {w['seconds'] * 1000:9.1f} ms", file=out)
    if result.get("signature") is None:
        print(f"  {result.get('note', '')}", file=out)
        return
    ins = ", ".join(f"{k}: {d}{s}" for k, (d, s) in result["inputs"].items())
    print(f"  signature {result['signature']!r}, inputs {result['inputs_from']}: {ins}", file=out)
    lat = result["latency"]
    print(f"  first call                 {result['first_call_us'] / 1000:9.3f} ms", file=out)
    print(
        f"  steady state ({lat['n']} calls)  median {lat['median_us'] / 1000:.3f} ms, "
        f"p90 {lat['p90_us'] / 1000:.3f} ms, p99 {lat['p99_us'] / 1000:.3f} ms, min {lat['min_us'] / 1000:.3f} ms",
        file=out,
    )
    if result.get("top_ops"):
        print(
            f"  top op types (traced, {result['traced_kernel_us'] / 1000:.3f} ms of kernels per call):",
            file=out,
        )
        for o in result["top_ops"]:
            print(
                f"    {o['op'][:40]:<40} {o['nodes']:>5} nodes {o['us_per_run'] / 1000:>9.3f} ms {o['share']:>6.1%}",
                file=out,
            )


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Runs ``tfbundle bench`` with parsed arguments; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        result = bench_load(args, err) if getattr(args, "load", False) else bench(args, err)
    except Error as e:
        print(f"tfbundle bench: {type(e).__name__}: {e}", file=err)
        return 2
    except KeyError as e:  # a SignatureNotFoundError is also a KeyError
        print(f"tfbundle bench: {e}", file=err)
        return 2
    except (OSError, ValueError) as e:
        print(f"tfbundle bench: {e}", file=err)
        return 2
    if args.json:
        json.dump(result, out, indent=2)
        out.write("\n")
    elif getattr(args, "load", False):
        _print_load(result, out)
    else:
        _print(result, out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tfbundle.cli.bench PATH [options]``."""
    parser = argparse.ArgumentParser(prog="tfbundle bench")
    configure_parser(parser)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
