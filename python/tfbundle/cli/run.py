"""``tfbundle run``: saved_model_cli run's flags and output, through tfbundle."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from .._readers.inspect import inspect
from ..errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from ._common import model_dir, warn
from .expressions import evaluate_expression

__all__ = ["command", "evaluate_expression", "parse_run_inputs"]

# ------------------------------------------------------------------- run ---

_INPUT_WITH_NAME = re.compile(r"([^=]+)=([^\[\]]+)\[([^\[\]]+)\]$")
_INPUT_PLAIN = re.compile(r"([^=]+)=([^\[\]]+)$")

def _load_input_file(key: str, filename: str, variable: str | None, allow_pickle: bool) -> Any:
    import numpy as np

    if not os.path.isfile(filename):
        raise NotFoundError(f"--inputs {key}: the file {filename} does not exist")
    pickle_hint = (f"--inputs {key}: {filename} holds pickled Python objects, and unpickling can run "
                   "arbitrary code; pass --allow-pickle only if you trust the file")  # fmt: skip
    try:
        data = np.load(filename, allow_pickle=allow_pickle)
    except ValueError as e:
        if "pickle" in str(e):
            raise PermissionDeniedError(pickle_hint) from None
        raise InvalidArgumentError(f"--inputs {key}: cannot read {filename}: {e}") from None
    except OSError as e:
        raise InvalidArgumentError(
            f"--inputs {key}: cannot read {filename} as .npy, .npz or pickle: {e}"
        ) from None
    try:
        if variable:
            if isinstance(data, np.ndarray):
                warn(
                    f'input file {filename} contains a single ndarray; name key "{variable}" ignored'
                )
                return data
            if isinstance(data, np.lib.npyio.NpzFile):
                if variable not in data.files:
                    raise InvalidArgumentError(
                        f'--inputs {key}: {filename} has no array named "{variable}"; it has {", ".join(data.files)}'
                    )
                return data[variable]
            if isinstance(data, Mapping) and variable in data:
                return data[variable]
            raise InvalidArgumentError(
                f'--inputs {key}: {filename} does not contain a variable named "{variable}"'
            )
        if isinstance(data, np.lib.npyio.NpzFile):
            if len(data.files) != 1:
                raise InvalidArgumentError(
                    f"--inputs {key}: {filename} holds {len(data.files)} arrays ({', '.join(data.files)}); "
                    f"name one: {key}={filename}[NAME]"
                )
            return data[data.files[0]]
        return data
    except ValueError as e:
        if "pickle" in str(e):
            raise PermissionDeniedError(pickle_hint) from None
        raise


def _split_assignments(flag: str, text: str) -> list[tuple[str, str]]:
    out = []
    for piece in filter(bool, text.split(";")):
        if "=" not in piece:
            raise InvalidArgumentError(f'{flag} "{piece}" is not in the form <input_key>=<value>')
        key, value = piece.split("=", 1)
        out.append((key.strip(), value))
    return out


def parse_run_inputs(
    inputs: str, input_exprs: str, input_examples: str, *, allow_pickle: bool = False
) -> dict[str, Any]:
    """saved_model_cli's input flags, parsed safely into input key -> value.

    Args:
        inputs: ``'k=file.npy;k2=file.npz[name]'``.
        input_exprs: ``'k=[[1],[2]];k2=np.ones((2, 3))'`` (see :func:`evaluate_expression`).
        input_examples: ``'k=[{"age": [22, 24]}]'`` (lists of dicts, encoded as tf.Examples).
        allow_pickle: let ``--inputs`` files hold pickled objects.

    Returns:
        Input key -> numpy array, Python value or list of serialized tf.Examples; later flags
        override earlier ones (with a warning), as in saved_model_cli.

    Raises:
        InvalidArgumentError: a malformed flag or expression.
        PermissionDeniedError: a pickled file without ``allow_pickle``.
        NotFoundError: a missing file.
    """
    from .. import tf_example as examples

    feeds: dict[str, Any] = {}
    for piece in filter(bool, inputs.split(";")):
        m = _INPUT_WITH_NAME.match(piece)
        if m:
            key, filename, variable = m.group(1), m.group(2), m.group(3)
        else:
            m = _INPUT_PLAIN.match(piece)
            if not m:
                raise InvalidArgumentError(
                    f'--inputs "{piece}" format is incorrect: use "<input_key>=<filename>" or '
                    '"<input_key>=<filename>[<variable_name>]"'
                )
            key, filename, variable = m.group(1), m.group(2), None
        feeds[key] = _load_input_file(key, filename, variable, allow_pickle)
    for key, expr in _split_assignments("--input_exprs", input_exprs):
        if key in feeds:
            warn(f"input_key {key} has been specified with both --inputs and --input_exprs options; "
                  "the value in --input_exprs is used")  # fmt: skip
        feeds[key] = evaluate_expression(expr)
    for key, expr in _split_assignments("--input_examples", input_examples):
        records = evaluate_expression(expr)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidArgumentError(
                f"--input_examples {key}: expected a list of dicts of feature lists, got {type(records).__name__}"
            )
        if key in feeds:
            warn(
                f"input_key {key} has been specified in multiple options; the value in --input_examples is used"
            )
        feeds[key] = examples.encode(records)
    return feeds


def _feed_value(value: Any, spec: Any, key: str) -> Any:
    """Converts a value to the input's dtype, as TensorFlow's Session.run converts feeds."""
    import numpy as np

    if spec.dtype is None:
        raise InvalidArgumentError(
            f"input {key!r} is a {spec.tf_dtype} tensor, which cannot be fed from the command line"
        )
    if spec.dtype == np.dtype(object):
        arr = np.asarray(value, dtype=object)
        if arr.dtype != object:
            arr = arr.astype(object)
        return arr
    try:
        return np.asarray(value, dtype=spec.dtype)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(
            f"input {key!r}: cannot convert the value to {spec.dtype}: {e}"
        ) from None


def _safe_output_name(key: str) -> str:
    if key in ("", ".", "..") or "/" in key or "\\" in key or "\0" in key:
        raise InvalidArgumentError(
            f"output key {key!r} cannot be a file name inside --outdir; fetch it without --outdir"
        )
    return key + ".npy"


def command(args: argparse.Namespace) -> int:
    import numpy as np

    for flag in ("tf_debug", "worker", "init_tpu", "use_tfrt"):
        if getattr(args, flag):
            raise InvalidArgumentError(
                f"--{flag} is a saved_model_cli option tfbundle does not support"
            )
    if not (args.inputs or args.input_exprs or args.input_examples):
        raise InvalidArgumentError(
            "at least one of --inputs, --input_exprs or --input_examples is required"
        )
    path = model_dir(args)
    feeds = parse_run_inputs(
        args.inputs, args.input_exprs, args.input_examples, allow_pickle=args.allow_pickle
    )

    # Check the keys before TensorFlow is loaded (as saved_model_cli does before its session).
    info = inspect(path)
    tag_set = args.tag_set
    meta = info.meta_graph(tag_set)
    if args.signature_def not in meta.signatures:
        raise NotFoundError(f'could not find signature "{args.signature_def}"; choose from: '
                            f"{', '.join(k for k in meta.signatures) or 'none'}")  # fmt: skip
    sig_info = meta.signatures[args.signature_def]
    for key in feeds:
        if key not in sig_info.inputs:
            raise InvalidArgumentError(
                f'"{key}" is not a valid input key of signature "{args.signature_def}"; choose from '
                f"{', '.join(repr(k) for k in sig_info.inputs)}"
            )
    if args.outdir:
        for key in sig_info.outputs:
            target = os.path.join(args.outdir, _safe_output_name(key))
            if os.path.exists(target) and not args.overwrite:
                raise InvalidArgumentError(
                    f'output file {target} already exists; add "--overwrite" to overwrite the existing output files'
                )

    from .._readers.policy import check_graph
    from .._runtime.model import load

    if args.deny_unsafe_ops:
        ops_info = inspect(path, ops=True).meta_graph(meta.tag_set)
        assert ops_info.ops is not None
        check_graph(ops_info.ops.policy_counts, args.allow_ops, what=f"{info.path}")
    with load(info.path, sorted(meta.tags)) as model:
        sig = model.signatures[args.signature_def]
        values = {key: _feed_value(value, sig.inputs[key], key) for key, value in feeds.items()}
        keys = sorted(sig.outputs)
        outputs = sig.run(values, keys)
        for key, output in zip(keys, outputs):
            sys.stdout.write(f"Result for output key {key}:\n{output!s}\n")
            if args.outdir:
                os.makedirs(args.outdir, exist_ok=True)
                target = os.path.join(args.outdir, _safe_output_name(key))
                if not args.overwrite and os.path.exists(target):
                    raise InvalidArgumentError(
                        f'output file {target} already exists; add "--overwrite" to overwrite the existing output files'
                    )
                np.save(target, np.asarray(output))
                sys.stdout.write(f"Output {key} is saved to {target}\n")
    return 0
