"""The ``tfbundle`` command: show, run and scan SavedModels without importing TensorFlow.

``show`` and ``run`` take saved_model_cli's flags and print what it prints, so scripts that
read its output keep working::

    tfbundle show --dir models/resnet --all                     # == saved_model_cli show --all
    tfbundle show --dir models/resnet --tag_set serve --signature_def serving_default
    tfbundle show models/resnet --json                          # machine-readable
    tfbundle run --dir models/resnet --tag_set serve --signature_def serving_default \\
        --input_exprs 'x=np.ones((1, 224, 224, 3))' --outdir out/
    tfbundle scan --dir models/resnet                           # ops that reach outside the model
    tfbundle vars models/resnet                                 # the variables (checkpoint)
    tfbundle bench models/resnet                                # load time and latency
    tfbundle align models/resnet/1 models/resnet/2              # tensors 64-byte aligned (mmap)
    tfbundle demo                                               # a quick end-to-end check
    tfbundle serve --model_name m --model_base_path models/m    # TF Serving's REST API, KServe v2
    tfbundle score models/resnet --input 'data/*.parquet' --output scores/   # batch scoring

``show`` and ``scan`` read the model with tfbundle's C++ core and never load TensorFlow;
``run`` loads it through TensorFlow's C API. Errors print one line on stderr and exit with
status 2 (add ``--debug`` for the traceback); ``scan`` exits with 1 when it finds a denied op.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Callable

from .. import _core
from ..errors import Error
from . import align as align_command
from . import bench as bench_command
from . import run as run_command
from . import scan as scan_command
from . import show as show_command
from . import vars as vars_command
from ._common import add_dir, paint
from .run import evaluate_expression, parse_run_inputs

__all__ = ["build_parser", "evaluate_expression", "main", "parse_run_inputs"]

# ------------------------------------------------------------ the parser ---


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    return int(demo.main(list(args.demo_args)) or 0)


def _serve(args: argparse.Namespace) -> int:
    from . import serve

    return int(serve.main(list(args.serve_args)) or 0)


def _score(args: argparse.Namespace) -> int:
    from . import score  # imported when used: it brings pyarrow and the scoring pipeline

    return int(score.main(list(args.score_args)) or 0)




def build_parser() -> argparse.ArgumentParser:
    """The ``tfbundle`` argument parser (show, run, scan, vars, bench, align, demo, score)."""
    parser = argparse.ArgumentParser(
        prog="tfbundle",
        description="Inspect, run and scan TensorFlow SavedModels without importing TensorFlow "
        "(show and run accept saved_model_cli's flags).",
    )
    parser.add_argument(
        "-v", "--version", action="version", version=f"tfbundle {_core.__version__}"
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    show = sub.add_parser(
        "show",
        help="what a SavedModel holds (saved_model_cli show)",
        description="Prints what saved_model_cli show prints for the same flags, or JSON.",
    )
    add_dir(show)
    show.add_argument(
        "--all", action="store_true", help="everything: every MetaGraph, signature, op and function"
    )
    show.add_argument(
        "--tag_set", "--tag-set", dest="tag_set", help="a MetaGraph by its comma-separated tags"
    )
    show.add_argument(
        "--signature_def",
        "--signature-def",
        dest="signature_def",
        help="a signature's inputs and outputs",
    )
    show.add_argument(
        "--list_ops",
        "--list-ops",
        dest="list_ops",
        action="store_true",
        help="the ops of --tag_set's MetaGraph",
    )
    show.add_argument(
        "--json", action="store_true", help="print JSON instead of saved_model_cli's text"
    )
    show.set_defaults(func=show_command.command)

    run = sub.add_parser("run", help="run a signature on inputs from files or expressions (saved_model_cli run)",
                         description="Runs a signature like saved_model_cli run: inputs from .npy/.npz files, safe "
                         "expressions or tf.Example dicts; outputs printed or saved as .npy.")  # fmt: skip
    add_dir(run)
    run.add_argument(
        "--tag_set",
        "--tag-set",
        dest="tag_set",
        help="the MetaGraph's tags (default: serve, or the only one)",
    )
    run.add_argument("--signature_def", "--signature-def", dest="signature_def", default="serving_default",
                     help="the signature to run (default: serving_default)")  # fmt: skip
    run.add_argument("--inputs", default="", help="'key=file.npy;key2=file.npz[name]'")
    run.add_argument(
        "--input_exprs",
        "--input-exprs",
        dest="input_exprs",
        default="",
        help="'key=[[1],[2]];key2=np.ones((2, 3))': literals and numpy constructors, never eval",
    )
    run.add_argument("--input_examples", "--input-examples", dest="input_examples", default="",
                     help="'key=[{\"age\": [22, 24]}]': tf.Example records")  # fmt: skip
    run.add_argument("--outdir", help="save each output as OUTDIR/<key>.npy")
    run.add_argument(
        "--overwrite", action="store_true", help="overwrite existing files in --outdir"
    )
    run.add_argument("--allow-pickle", "--allow_pickle", dest="allow_pickle", action="store_true",
                     help="let --inputs files hold pickled objects (unpickling can run arbitrary code)")  # fmt: skip
    run.add_argument(
        "--deny-unsafe-ops",
        dest="deny_unsafe_ops",
        action="store_true",
        help="refuse to run a graph with ops that reach outside the model (see tfbundle scan)",
    )
    run.add_argument(
        "--allow-ops",
        dest="allow_ops",
        default=None,
        help="with --deny-unsafe-ops: op types to accept",
    )
    for flag in ("--tf_debug", "--init_tpu", "--use_tfrt"):
        run.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--worker", help=argparse.SUPPRESS)
    run.set_defaults(func=run_command.command)

    scan = sub.add_parser("scan", help="list op types and flag those that reach outside the model",
                          description="Lists the op types of every MetaGraph (graph and function library) and flags "
                          "those that read or write files, call Python or talk to the network. Exit status 1 when "
                          "one is found.")  # fmt: skip
    add_dir(scan)
    scan.add_argument("--tag_set", "--tag-set", dest="tag_set", help="scan only this MetaGraph")
    scan.add_argument("--allow", default=None, help="comma-separated op types to accept")
    scan.add_argument(
        "--op_denylist",
        "--op-denylist",
        dest="op_denylist",
        default=None,
        help="comma-separated op types to deny instead of tfbundle's list (as saved_model_cli)",
    )
    scan.add_argument("--json", action="store_true", help="print JSON")
    scan.set_defaults(func=scan_command.command)

    # Sub-commands that live in their own modules (each has add_parser(subparsers) setting `func`);
    # a module missing from this build just leaves its command out.
    for module in (vars_command, bench_command, align_command):
        extra = module.add_parser(sub)
        if not any("--debug" in a.option_strings for a in extra._actions):
            extra.add_argument(
                "--debug", action="store_true", help="print the traceback of an error"
            )

    demo = sub.add_parser(
        "demo", help="classify three iris flowers with the model tfbundle carries, then time it", add_help=False
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER)
    demo.set_defaults(func=_demo)

    score = sub.add_parser(
        "score", help="run a model over Parquet/CSV/JSON/TFRecord... files, one output row per input row",
        add_help=False,
    )
    score.add_argument("score_args", nargs=argparse.REMAINDER)
    score.set_defaults(func=_score)

    serve = sub.add_parser(
        "serve", help="serve models over TF Serving's REST API and KServe's v2 protocol (tfbundle[serve])",
        add_help=False,
    )
    serve.add_argument("serve_args", nargs=argparse.REMAINDER)
    serve.set_defaults(func=_serve)
    return parser


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) if str(e) else ""
    if isinstance(e, Error):
        return text or type(e).__name__
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``tfbundle`` command.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when ``scan`` finds a denied op, 2 on an error
        (printed as one line on stderr; the traceback too with ``--debug``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command == "demo":  # everything after `demo` is the demo's own arguments
            args.demo_args = argv[argv.index("demo") + 1 :]
        elif args.command == "serve":  # the same: `tfbundle serve --help` is serve's own help
            args.serve_args = argv[argv.index("serve") + 1 :]
        elif args.command == "score":  # the same: `tfbundle score --help` is score's own help
            args.score_args = argv[argv.index("score") + 1 :]
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # argparse has printed the usage error (or the help)
        return int(e.code) if isinstance(e.code, int) else 2
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    debug = bool(getattr(args, "debug", False)) or ("--debug" in argv and args.command not in ("demo", "serve"))
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("tfbundle: interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `tfbundle show ... | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except Exception as e:  # noqa: BLE001 - every error becomes one line (traceback with --debug)
        if debug:
            traceback.print_exc()
        sys.stderr.write(paint("tfbundle: error: ", "1;31", sys.stderr) + _one_line(e) + "\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
