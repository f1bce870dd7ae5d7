"""``tfbundle bench PATH``: load time, first-call and steady-state latency, and the top ops.

The ``tfbundle`` command adds this sub-command with :func:`add_parser`; it also
runs on its own as ``python -m tfbundle.cli.bench PATH``::

    tfbundle bench models/resnet                      # serving_default, batch 1
    tfbundle bench models/resnet --batch 32 --top 15  # bigger batch, more ops
    tfbundle bench frozen.pb --signature serving_default --inputs batch.npz
    tfbundle bench train_dir/                         # a TF1 checkpoint (load time)

PATH is a SavedModel folder (or a TF Serving base folder), a frozen GraphDef
(``.pb``/``.pbtxt``) or a TF1 checkpoint (folder, prefix or ``.meta``). Inputs
come from ``--inputs`` (an ``.npz`` with one array per input key), else from
the model's first warmup predict request for the signature, else they are made
up from the signature: unknown dimensions become ``--batch``, numbers are
random, strings are empty (an empty serialized tf.Example).

Exit status: 0 on success, 2 when the model cannot be loaded or run (the error
on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
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
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=run)


# --------------------------------------------------------------- loading ---


def _load_any(path: str, args: argparse.Namespace) -> tuple[Any, str]:
    """Loads what ``path`` holds; returns (model, kind)."""
    from .._base.paths import MODEL_FILES, resolve_export_dir
    from .._runtime.graphs import load_checkpoint_graph, load_graph
    from .._runtime.model import load

    options: dict[str, Any] = {}
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
        result = bench(args, err)
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
