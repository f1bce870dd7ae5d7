"""``tfbundle run``: saved_model_cli run's flags and output, through tfbundle."""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from .._readers.inspect import inspect
from ..errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from ._common import model_dir, parse_tag_set, warn

__all__ = ["command", "evaluate_expression", "parse_run_inputs"]

# ------------------------------------------------------------------- run ---

_INPUT_WITH_NAME = re.compile(r"([^=]+)=([^\[\]]+)\[([^\[\]]+)\]$")
_INPUT_PLAIN = re.compile(r"([^=]+)=([^\[\]]+)$")

# numpy functions --input_exprs may call, and the dtypes it may name.
_NP_FUNCTIONS = frozenset({
    "array", "asarray", "ones", "zeros", "full", "arange", "linspace", "eye", "identity",
    "ones_like", "zeros_like", "full_like", "reshape", "stack", "concatenate",
})  # fmt: skip
_NP_DTYPES = frozenset({
    "float16", "float32", "float64", "half", "single", "double", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool_", "str_", "bytes_", "object_", "complex64",
    "complex128",
})  # fmt: skip
_ARRAY_METHODS = frozenset({"reshape", "astype", "transpose", "ravel", "flatten"})
_BUILTIN_TYPES = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "bytes": bytes,
    "complex": complex,
}
_MAX_ELEMENTS = 100_000_000


class _UnsafeExpression(InvalidArgumentError):
    pass


def _check_size(func: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Refuses constructors that would allocate more than _MAX_ELEMENTS elements."""
    import numpy as np

    def count(shape: Any) -> float:
        dims = shape if isinstance(shape, (list, tuple)) else [shape]
        total = 1.0
        for d in dims:
            if isinstance(d, (int, np.integer)):
                total *= max(int(d), 0)
        return total

    n = 0.0
    if func in ("ones", "zeros", "full") and args:
        n = count(args[0])
    elif func == "arange" and args:
        nums = [float(a) for a in args[:3] if isinstance(a, (int, float))]
        if len(nums) == 1:
            n = nums[0]
        elif len(nums) >= 2:
            step = nums[2] if len(nums) == 3 and nums[2] else 1.0
            n = (nums[1] - nums[0]) / step
    elif func == "linspace":
        n = float(kwargs.get("num", args[2] if len(args) > 2 else 50))
    elif func in ("eye", "identity") and args and isinstance(args[0], int):
        m = args[1] if len(args) > 1 and isinstance(args[1], int) else args[0]
        n = float(args[0]) * float(m)
    if n > _MAX_ELEMENTS:
        raise _UnsafeExpression(
            f"np.{func}(...) would make {n:.3g} elements, more than the {_MAX_ELEMENTS:,} an expression may; "
            "save the input with np.save and pass it with --inputs"
        )


def evaluate_expression(text: str) -> Any:
    """Evaluates an --input_exprs / --input_examples expression without ``eval``.

    Allowed: Python literals (numbers, strings, bytes, True/False/None, lists, tuples, dicts,
    sets, with unary +/- and the complex-number sums literal_eval accepts), calls of a few
    numpy constructors (``np.array``, ``np.asarray``, ``np.ones``, ``np.zeros``, ``np.full``,
    ``np.arange``, ``np.linspace``, ``np.eye``, ``np.identity``, ``np.*_like``,
    ``np.reshape``, ``np.stack``, ``np.concatenate``) with literal arguments, numpy dtypes
    (``np.float32``...) and builtin types as arguments, and ``.reshape``/``.astype``/
    ``.transpose``/``.ravel``/``.flatten`` on their results. Nothing else is evaluated:
    no names, no attribute access, no other calls.

    Args:
        text: the expression.

    Returns:
        The value.

    Raises:
        InvalidArgumentError: the expression is not valid Python, uses anything outside
            the list above, or would allocate more than 100 million elements.
    """
    import numpy as np

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise InvalidArgumentError(f"expression {text!r} is not valid Python: {e.msg}") from None

    def refuse(node: ast.AST, what: str) -> None:
        raise _UnsafeExpression(
            f"expression {text!r}: {what} is not allowed; use literals and np.array/ones/zeros/full/arange/"
            "linspace/eye/... (tfbundle never evaluates arbitrary code)"
        )

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float, complex, str, bytes, bool, type(None))):
                return node.value
            refuse(node, f"the constant {node.value!r}")
        if isinstance(node, ast.List):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(ev(e) for e in node.elts)
        if isinstance(node, ast.Set):
            return {ev(e) for e in node.elts}
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                refuse(node, "** in a dict")
            return {ev(k): ev(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = ev(node.operand)
            if not isinstance(value, (int, float, complex)) or isinstance(value, bool):
                refuse(node, "a sign on a non-number")
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            left, right = ev(node.left), ev(node.right)
            numeric = (int, float, complex)
            if not (isinstance(left, numeric) and isinstance(right, numeric) and isinstance(right, complex) or
                    isinstance(left, complex) and isinstance(right, numeric)):  # fmt: skip
                refuse(node, "arithmetic (other than writing a complex number)")
            return left + right if isinstance(node.op, ast.Add) else left - right
        if isinstance(node, ast.Name):
            if node.id in _BUILTIN_TYPES:
                return _BUILTIN_TYPES[node.id]
            refuse(node, f"the name {node.id!r}")
        if isinstance(node, ast.Attribute) and _is_np(node.value) and node.attr in _NP_DTYPES:
            return getattr(np, node.attr)
        if isinstance(node, ast.Call):
            args = []
            for a in node.args:
                if isinstance(a, ast.Starred):
                    refuse(a, "*args")
                args.append(ev(a))
            kwargs = {}
            for k in node.keywords:
                if k.arg is None:
                    refuse(k, "**kwargs")
                kwargs[k.arg] = ev(k.value)
            func = node.func
            if isinstance(func, ast.Attribute) and _is_np(func.value):
                if func.attr in _NP_FUNCTIONS:
                    _check_size(func.attr, args, kwargs)
                    return getattr(np, func.attr)(*args, **kwargs)
                if func.attr in _NP_DTYPES:
                    return getattr(np, func.attr)(*args, **kwargs)
                refuse(node, f"np.{func.attr}()")
            if isinstance(func, ast.Attribute) and func.attr in _ARRAY_METHODS:
                target = ev(func.value)
                if isinstance(target, np.ndarray):
                    return getattr(target, func.attr)(*args, **kwargs)
                refuse(node, f".{func.attr}() on a {type(target).__name__}")
            refuse(node, "this call")
        refuse(node, f"a {type(node).__name__} expression")

    try:
        return ev(tree.body)
    except (InvalidArgumentError, MemoryError):
        raise
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"expression {text!r} failed: {e}") from None


def _is_np(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("np", "numpy")


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
    if tag_set is None:
        meta = info.meta_graph(None)
    else:
        meta = info.meta_graph(frozenset(parse_tag_set(tag_set)))
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
            sys.stdout.write("Result for output key %s:\n%s\n" % (key, output))
            if args.outdir:
                os.makedirs(args.outdir, exist_ok=True)
                target = os.path.join(args.outdir, _safe_output_name(key))
                if not args.overwrite and os.path.exists(target):
                    raise InvalidArgumentError(
                        f'output file {target} already exists; add "--overwrite" to overwrite the existing output files'
                    )
                np.save(target, np.asarray(output))
                sys.stdout.write("Output %s is saved to %s\n" % (key, target))
    return 0
