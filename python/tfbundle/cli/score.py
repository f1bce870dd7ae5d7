"""`tfbundle score`: run a SavedModel over files of rows and write the outputs, row for row.

    tfbundle score models/ranker --input 'data/*.parquet' --output scores/ --keep id
    tfbundle score models/clf --input examples.tfrecord.gz --output out.jsonl --signature classify
    tfbundle score models/ranker --input data/ --output scores/ --workers 2 --resume --on-error skip

Inputs: Parquet, Arrow IPC, CSV, JSON lines, .npy/.npz, TFRecord files of tf.Example (plain or
GZIP). Outputs: Parquet (default), JSON lines, CSV, .npy. See ``tfbundle.score``.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["build_parser", "main"]


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise argparse.ArgumentTypeError(f"expected COLUMN=INPUT, got {part!r}")
        col, _, target = part.partition("=")
        out[col.strip()] = target.strip()
    return out


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``tfbundle score``."""
    p = argparse.ArgumentParser(
        prog="tfbundle score",
        description="Runs a signature over every row of the input files (Parquet, Arrow, CSV, JSON lines, "
        ".npy/.npz, TFRecord of tf.Example) and writes one output row per input row, in input order.",
    )
    p.add_argument(
        "model_dir", metavar="MODEL_DIR", help="the SavedModel (or a TF Serving base folder)"
    )
    p.add_argument(
        "--input",
        "-i",
        action="append",
        required=True,
        metavar="PATH_OR_GLOB",
        help="an input file, glob ('data/*.parquet', quoted) or folder, local or a URI "
        "(s3://bucket/data/, gs://, hdfs://); repeat for more",
    )
    p.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="PATH",
        help="the output file (one input; its extension says the format) or folder (one file per "
        "input), local or a URI",
    )
    p.add_argument(
        "--signature",
        "--signature_def",
        dest="signature",
        metavar="NAME",
        help="the signature (default: serving_default, or the only one)",
    )
    p.add_argument(
        "--tag_set", "--tag-set", dest="tag_set", help="the MetaGraph's tags (default: serve)"
    )
    p.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=_positive,
        default=256,
        help="rows per run (default 256)",
    )
    p.add_argument(
        "--workers", type=_positive, default=1, help="processes, each loading the model (default 1)"
    )
    p.add_argument(
        "--no-pin-cpus",
        dest="pin_cpus",
        action="store_false",
        help="with --workers N, leave the workers free to run on any CPU (by default each is bound "
        "to its own share of them)",
    )
    p.add_argument(
        "--inflight", type=_positive, default=2, help="runs in flight per process (default 2)"
    )
    p.add_argument(
        "--resume", action="store_true", help="skip the inputs whose output is already there"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--keep",
        type=_names,
        default=[],
        metavar="COLUMNS",
        help="comma-separated input columns (features, for TFRecord) copied to the output",
    )
    p.add_argument(
        "--rename",
        type=_pairs,
        action="append",
        default=[],
        metavar="COLUMN=INPUT[,...]",
        help="feed a column to an input of another name",
    )
    p.add_argument(
        "--outputs",
        type=_names,
        default=None,
        metavar="KEYS",
        help="comma-separated output keys to write (default: all)",
    )
    p.add_argument(
        "--format",
        dest="output_format",
        choices=("parquet", "jsonl", "csv", "npy"),
        help="the format of a folder output's files (default parquet)",
    )
    p.add_argument(
        "--on-error",
        "--on_error",
        dest="on_error",
        choices=("stop", "skip"),
        default="stop",
        help="a row that fails: stop with an error (default), or skip it into "
        "<output>.errors.jsonl and go on",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="a bar on a terminal, lines in logs (default auto)",
    )
    p.add_argument(
        "--progress-interval",
        dest="progress_interval",
        type=float,
        default=10.0,
        help="seconds between progress lines or events (default 10)",
    )
    p.add_argument(
        "--json", action="store_true", help="JSON events on stdout (start, progress, shard, done)"
    )
    p.add_argument("--debug", action="store_true", help="print the traceback of an error")
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs ``tfbundle score``; errors propagate to the ``tfbundle`` command's one-line handler."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a usage error (printed) or --help
        return int(e.code) if isinstance(e.code, int) else 2
    if args.resume and args.overwrite:
        parser.print_usage(sys.stderr)
        sys.stderr.write("tfbundle score: error: --resume and --overwrite exclude each other\n")
        return 2
    rename: dict[str, str] = {}
    for r in args.rename:
        rename.update(r)
    from .._base.arrow import ALLOCATOR_ENV

    for key, value in ALLOCATOR_ENV.items():  # before pyarrow is imported (see ALLOCATOR_ENV)
        os.environ.setdefault(key, value)
    from ..scoring import score

    report = score(
        args.model_dir,
        args.input,
        args.output,
        signature=args.signature,
        batch_size=args.batch_size,
        outputs=args.outputs,
        rename=rename,
        keep=args.keep,
        output_format=args.output_format,
        on_error=args.on_error,
        resume=args.resume,
        overwrite=args.overwrite,
        workers=args.workers,
        pin_cpus=args.pin_cpus,
        inflight=args.inflight,
        progress="json" if args.json else args.progress,
        progress_interval=args.progress_interval,
        load_kwargs={"tags": args.tag_set} if args.tag_set is not None else None,
    )
    if args.json:
        return 0
    if args.progress == "none":
        sys.stdout.write(str(report) + "\n")
    return 0
