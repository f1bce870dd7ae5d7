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
    tfbundle demo                                               # a quick end-to-end check

``show`` and ``scan`` read the model with tfbundle's C++ core and never load TensorFlow;
``run`` loads it through TensorFlow's C API. Errors print one line on stderr and exit with
status 2 (add ``--debug`` for the traceback); ``scan`` exits with 1 when it finds a denied op.
"""

# ruff: noqa: UP031 - the show text is built with %-formatting, as saved_model_cli builds it

from __future__ import annotations

import argparse
import ast
import collections
import importlib
import json
import os
import re
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable, TextIO

from . import _core
from ._inspect import DTYPE_NAMES, inspect, inspect_raw, signature_dict
from .errors import Error, InvalidArgumentError, NotFoundError, PermissionDeniedError

__all__ = ["build_parser", "evaluate_expression", "main"]

# ------------------------------------------------------------------ colour ---


def _use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _paint(text: str, code: str, stream: TextIO) -> str:
    return f"\033[{code}m{text}\033[0m" if _use_colour(stream) else text


# ------------------------------------------------------- show: the text ---
#
# These functions print what tensorflow/python/tools/saved_model_cli.py prints, line for line,
# from the plain dicts of _core.inspect_saved_model.


def _tensor_info_lines(info: Mapping[str, Any], indent: int) -> list[str]:
    pad = "  " * indent
    code = info["dtype"]
    if code not in DTYPE_NAMES:
        raise InvalidArgumentError(
            f"tensor {info['name']!r} has the DataType value {code}, which TensorFlow does not define"
        )
    dims = info["dims"]
    shape = "unknown_rank" if dims is None else "(" + ", ".join(str(d) for d in dims) + ")"
    return [
        pad + "    dtype: " + DTYPE_NAMES[code],
        pad + "    shape: " + shape,
        pad + "    name: " + info["name"],
    ]


def _signature_lines(sig: Mapping[str, Any], indent: int) -> list[str]:
    pad = "  " * indent
    lines = [pad + "The given SavedModel SignatureDef contains the following input(s):"]
    for key, info in sorted(sig["inputs"], key=lambda kv: kv[0]):
        lines.append(pad + "  inputs['%s'] tensor_info:" % key)
        lines += _tensor_info_lines(info, indent + 1)
    lines.append(pad + "The given SavedModel SignatureDef contains the following output(s):")
    for key, info in sorted(sig["outputs"], key=lambda kv: kv[0]):
        lines.append(pad + "  outputs['%s'] tensor_info:" % key)
        lines += _tensor_info_lines(info, indent + 1)
    lines.append(pad + "Method name is: %s" % sig["method_name"])
    return lines


def _used_ops_set(ops: Mapping[str, Any]) -> set[str]:
    """saved_model_cli's ``set(ops_used_by_graph_def(graph_def))``, built in the same order.

    A set's iteration order depends only on its elements' hashes and the order they were added,
    so replaying saved_model_cli's insertions gives a set that prints in the same order as its
    own (when both processes use the same PYTHONHASHSEED).
    """
    used: set[str] = set()
    for name in ops["cli_marks"]:
        used.add(name)
    functions = set(ops["functions"])
    return {op for op in used if op not in functions}


def _ops_line(meta: Mapping[str, Any]) -> str:
    return "The MetaGraph with tag set %s contains the following ops: %s" % (
        "%s" % list(meta["tags"]),
        _used_ops_set(meta["ops"]),
    )


def _tag_sets_text(raw: Mapping[str, Any]) -> str:
    lines = ["The given SavedModel contains the following tag-sets:"]
    for tag_set in sorted(list(m["tags"]) for m in raw["meta_graphs"]):
        lines.append("%r" % ", ".join(sorted(tag_set)))
    return "\n".join(lines) + "\n"


def _parse_tag_set(text: str) -> set[str]:
    """saved_model_cli's tag-set flag: comma-separated, blanks dropped; "" is the empty set."""
    return {t.strip() for t in text.split(",") if t.strip()}


def _find_meta_graph(raw: Mapping[str, Any], tag_set: str, export_dir: str) -> Mapping[str, Any]:
    wanted = _parse_tag_set(tag_set)
    for meta in raw["meta_graphs"]:
        if set(meta["tags"]) == wanted:
            return meta
    listing = ", ".join('"' + ",".join(m["tags"]) + '"' for m in raw["meta_graphs"])
    raise NotFoundError(
        f'the SavedModel in {export_dir} has no MetaGraphDef with the tag-set "{tag_set}"; '
        f"use one of: {listing}"
    )


def _find_signature(meta: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    for sig in meta["signatures"]:
        if sig["key"] == key:
            return sig
    keys = ", ".join(s["key"] for s in meta["signatures"]) or "none"
    raise NotFoundError(f'could not find signature "{key}" in the MetaGraphDef with tags {list(meta["tags"])}; '
                        f"choose from: {keys}")  # fmt: skip


# TensorFlow's Python names of the DataTypes (tf.float32 ...), for printing TensorSpecs.
_TF_DTYPE_NAMES = (
    None, "float32", "float64", "int32", "uint8", "int16", "int8", "string", "complex64", "int64",
    "bool", "qint8", "quint8", "qint32", "bfloat16", "qint16", "quint16", "uint16", "complex128",
    "float16", "resource", "variant", "uint32", "uint64", "float8_e5m2", "float8_e4m3fn",
    "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz", "int4", "uint4", "int2", "uint2",
    "float4_e2m1fn",
)  # fmt: skip


def _tf_dtype_name(code: int) -> str:
    base = code - 100 if code > 100 else code
    name = _TF_DTYPE_NAMES[base] if 0 < base < len(_TF_DTYPE_NAMES) else None
    if name is None:
        return f"<DataType {code}>"
    return name + "_ref" if code > 100 else name


class _DType:
    """Prints like tf.DType: repr ``tf.float32``, str ``<dtype: 'float32'>``."""

    def __init__(self, code: int) -> None:
        self.name = _tf_dtype_name(code)

    def __repr__(self) -> str:
        return "tf." + self.name

    def __str__(self) -> str:
        return "<dtype: %r>" % self.name


class _TensorShape:
    """Prints and iterates like tf.TensorShape (TF2 behaviour)."""

    def __init__(self, dims: Sequence[int | None] | None) -> None:
        self.dims = None if dims is None else list(dims)

    def __repr__(self) -> str:
        return f"TensorShape({self.dims})" if self.dims is not None else "TensorShape(None)"

    def __str__(self) -> str:
        if self.dims is None:
            return "<unknown>"
        if len(self.dims) == 1:
            return "(%s,)" % self.dims[0]
        return "(%s)" % ", ".join(str(d) for d in self.dims)

    def __iter__(self):
        if self.dims is None:
            raise ValueError("Cannot iterate over a shape with unknown rank.")
        return iter(self.dims)


class _TensorSpec:
    """Prints like tf.TensorSpec: ``TensorSpec(shape=(None, 3), dtype=tf.float32, name='x')``."""

    def __init__(
        self, name: str | None, shape: Sequence[int | None] | None, dtype: int, cls: str
    ) -> None:
        self.name = name
        self.shape = _TensorShape(shape)
        self.dtype = _DType(dtype)
        self.cls = cls

    def __repr__(self) -> str:
        return f"{self.cls}(shape={self.shape}, dtype={self.dtype!r}, name={self.name!r})"


# TypeSpecProto.TypeSpecClass -> the Python class TensorFlow rebuilds.
_TYPE_SPEC_CLASSES = {
    1: "SparseTensorSpec", 2: "IndexedSlicesSpec", 3: "RaggedTensorSpec", 4: "TensorArraySpec",
    5: "DatasetSpec", 6: "IteratorSpec", 7: "OptionalSpec", 8: "PerReplicaSpec", 9: "VariableSpec",
    10: "RowPartitionSpec",
}  # fmt: skip


class _TypeSpec:
    """Prints like tf.TypeSpec: its class name and the repr of its serialized state."""

    def __init__(self, name: str, state: Any) -> None:
        self.name = name
        self.state = state

    def __repr__(self) -> str:
        return "%s%r" % (self.name, self.state)


class _Opaque:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _decode(v: Mapping[str, Any] | None) -> Any:
    """A StructuredValue (plain dict from the core) as TensorFlow's nested_structure_coder decodes it."""
    if v is None:
        return None
    kind = v["kind"]
    if kind in ("none", "unset"):
        return None
    if kind in ("float", "int", "str", "bool"):
        return v["value"]
    if kind == "tensor_shape":
        return _TensorShape(v["shape"])
    if kind == "dtype":
        return _DType(v["dtype"])
    if kind in ("tensor_spec", "bounded_tensor_spec"):
        return _TensorSpec(
            v["name"],
            v["shape"],
            v["dtype"],
            "TensorSpec" if kind == "tensor_spec" else "BoundedTensorSpec",
        )
    if kind == "type_spec":
        name = _TYPE_SPEC_CLASSES.get(v["type_spec_class"]) or v["class_name"] or "TypeSpec"
        state = _decode(v["state"])
        return _TypeSpec(name, state)
    if kind == "list":
        return [_decode(i) for i in v["items"]]
    if kind == "tuple":
        return tuple(_decode(i) for i in v["items"])
    if kind == "dict":
        return {k: _decode(i) for k, i in v["items"]}
    if kind == "named_tuple":
        keys = [k for k, _ in v["items"]]
        values = [_decode(i) for _, i in v["items"]]
        try:
            return collections.namedtuple(v["name"], keys)(*values)
        except (ValueError, TypeError):
            return tuple(values)
    return _Opaque(f"<{kind}>")


def _print_args(
    out: list[str], arguments: Iterable[Any], argument_type: str = "Argument", indent: int = 0
) -> None:
    """saved_model_cli's _print_args, writing into ``out`` (a list of text pieces)."""
    indent_str = "  " * indent

    def maybe_quotes(value: Any) -> str:
        quotes = "'" * isinstance(value, str)
        return quotes + str(value) + quotes

    def in_print(s: str, end: str = "\n") -> None:
        out.append(indent_str + s + end)

    for index, element in enumerate(arguments, 1):
        if indent == 4:
            in_print("%s #%d" % (argument_type, index))
        if isinstance(element, str):
            in_print("  %s" % element)
        elif isinstance(element, _TensorSpec):
            out.append((indent + 1) * "  " + "%s: %s" % (element.name, repr(element)) + "\n")
        elif isinstance(element, Iterable) and not isinstance(element, dict):
            in_print("  DType: %s" % type(element).__name__)
            in_print("  Value: [", end="")
            for value in element:
                out.append("%s" % maybe_quotes(value) + ", ")
            out.append("\b\b]\n")
        elif isinstance(element, dict):
            in_print("  DType: %s" % type(element).__name__)
            in_print("  Value: {", end="")
            for key, value in element.items():
                out.append("'%s': %s" % (str(key), maybe_quotes(value)) + ", ")
            out.append("\b\b}\n")
        else:
            in_print("  DType: %s" % type(element).__name__)
            in_print("  Value: %s" % str(element))


def _concrete_functions_text(functions: Mapping[str, Any] | None) -> str:
    """saved_model_cli's _show_defined_functions."""
    if functions is None or not functions["present"]:
        return ""
    out = ["\nConcrete Functions:"]
    if functions["failure"]:
        reason = ("the existence of custom ops in the SavedModel" if functions["failure"] == "custom_ops"
                  else "unknown reasons")  # fmt: skip
        out.append(f" N/A (could not be listed due to {reason})\n")
        return "".join(out)
    for fn in sorted(functions["functions"], key=lambda f: f["name"]):
        out.append("\n  Function Name: '%s'\n" % fn["name"])
        for index, cf in enumerate(
            sorted(fn["concrete_functions"], key=lambda c: c["load_name"].encode()), 1
        ):
            args, kwargs = None, None
            signature = (
                _decode(cf["input_signature"]) if cf["input_signature"] is not None else None
            )
            if signature:
                args, kwargs = signature
            elif fn["bare"] and fn["argument_keywords"]:
                args = list(fn["argument_keywords"])
            if args:
                out.append("    Option #%d\n" % index)
                out.append("      Callable with:\n")
                _print_args(out, args, indent=4)
            if kwargs:
                _print_args(out, kwargs, "Named Argument", indent=4)
    return "".join(out)


def show_all_text(raw: Mapping[str, Any]) -> str:
    """What ``saved_model_cli show --all`` prints for the model read into ``raw``.

    Args:
        raw: ``_core.inspect_saved_model(dir, cli=True)``.

    Returns:
        The text, byte for byte (the op sets print in the order saved_model_cli's do when
        both run with the same PYTHONHASHSEED).
    """
    lines = []
    for meta in sorted(raw["meta_graphs"], key=lambda m: list(m["tags"])):
        lines.append(
            "\nMetaGraphDef with tag-set: '%s' contains the following SignatureDefs:"
            % ", ".join(meta["tags"])
        )
        for sig in sorted(meta["signatures"], key=lambda s: s["key"]):
            lines.append("\nsignature_def['" + sig["key"] + "']:")
            lines += _signature_lines(sig, indent=1)
        lines.append(_ops_line(meta))
    return "\n".join(lines) + "\n" + _concrete_functions_text(raw["functions"])


def show_text(
    raw: Mapping[str, Any],
    export_dir: str,
    *,
    show_all: bool = False,
    tag_set: str | None = None,
    signature_def: str | None = None,
    list_ops: bool = False,
) -> str:
    """What ``saved_model_cli show`` prints for these flags.

    Raises:
        NotFoundError: no such tag-set or signature.
    """
    if show_all:
        return show_all_text(raw)
    text = ""
    if tag_set is None:
        if list_ops:
            text += "--list_ops must be paired with a tag-set or with --all.\n"
        return text + _tag_sets_text(raw)
    meta = _find_meta_graph(raw, tag_set, export_dir)
    if list_ops:
        text += _ops_line(meta) + "\n"
    if signature_def is None:
        text += (
            "The given SavedModel MetaGraphDef contains SignatureDefs with the following keys:\n"
        )
        for sig in sorted(meta["signatures"], key=lambda s: s["key"]):
            text += 'SignatureDef key: "%s"\n' % sig["key"]
        return text
    return text + "\n".join(_signature_lines(_find_signature(meta, signature_def), indent=0)) + "\n"


def _show(args: argparse.Namespace) -> int:
    path = _model_dir(args)
    needs_ops = args.all or args.list_ops
    if args.json:
        info = inspect(path, ops=needs_ops)
        if args.tag_set is not None:
            meta = info.meta_graph(args.tag_set)
            if args.signature_def is not None:
                if args.signature_def not in meta.signatures:
                    raise NotFoundError(f'could not find signature "{args.signature_def}"; choose from: '
                                        f"{', '.join(meta.signatures) or 'none'}")  # fmt: skip
                doc: Any = {
                    "key": args.signature_def,
                    **signature_dict(meta.signatures[args.signature_def]),
                }
            else:
                doc = next(
                    m for m in info.to_dict()["meta_graphs"] if tuple(m["tags"]) == meta.tags
                )
        else:
            doc = info.to_dict()
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
        return 0
    export_dir, raw = inspect_raw(path, ops=needs_ops, cli=args.all)
    text = show_text(
        raw,
        export_dir,
        show_all=args.all,
        tag_set=args.tag_set,
        signature_def=args.signature_def,
        list_ops=args.list_ops,
    )
    sys.stdout.write(text)
    return 0


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


def _warn(message: str) -> None:
    sys.stderr.write(_paint("warning: ", "33", sys.stderr) + message + "\n")


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
                _warn(
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
    from . import examples

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
            _warn(f"input_key {key} has been specified with both --inputs and --input_exprs options; "
                  "the value in --input_exprs is used")  # fmt: skip
        feeds[key] = evaluate_expression(expr)
    for key, expr in _split_assignments("--input_examples", input_examples):
        records = evaluate_expression(expr)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidArgumentError(
                f"--input_examples {key}: expected a list of dicts of feature lists, got {type(records).__name__}"
            )
        if key in feeds:
            _warn(
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


def _run(args: argparse.Namespace) -> int:
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
    path = _model_dir(args)
    feeds = parse_run_inputs(
        args.inputs, args.input_exprs, args.input_examples, allow_pickle=args.allow_pickle
    )

    # Check the keys before TensorFlow is loaded (as saved_model_cli does before its session).
    info = inspect(path)
    tag_set = args.tag_set
    if tag_set is None:
        meta = info.meta_graph(None)
    else:
        meta = info.meta_graph(frozenset(_parse_tag_set(tag_set)))
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

    from ._model import load
    from ._policy import check_graph

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


# ------------------------------------------------------------------ scan ---


def _scan_line(op: str, meta_ops: Any, found: Mapping[str, Any], width: int, out: TextIO) -> str:
    """One line of ``tfbundle scan``: the op type, its node count and what the policy says."""
    from ._policy import DENIED_OPS

    total = meta_ops.counts.get(op, 0)
    f = found.get(op)
    if f is None and op == "PrintV2":  # PrintV2 nodes printing to a file are judged apart
        f = found.get("PrintV2(file)")
    line = f"  {op:<{width}}  {total:>6}"
    if f is not None and f.denied:
        runs = f" ({f.count} of {total} nodes run)" if f.count != total else ""
        return line + "  " + _paint(f"DENIED: {f.reason}{runs}", "1;31", out)
    if f is not None:
        return line + "  " + _paint(f"note: {f.reason}", "33", out)
    if op in DENIED_OPS and not meta_ops.policy_counts.get(op):
        return line + "  (only in the saver's subgraphs or in code nothing runs: fine)"
    if _core.registered_op(op) is None:
        return (
            line
            + "  "
            + _paint("note: not a TensorFlow op (a custom-op library must be loaded)", "33", out)
        )
    return line


def _scan(args: argparse.Namespace) -> int:
    from ._policy import findings

    info = inspect(_model_dir(args), ops=True)
    metas = info.meta_graphs
    if args.tag_set is not None:
        metas = (info.meta_graph(frozenset(_parse_tag_set(args.tag_set))),)
    report = []
    for meta in metas:
        assert meta.ops is not None
        found = findings(meta.ops.policy_counts, allowed_ops=args.allow, only=args.op_denylist)
        custom = sorted(op for op in meta.ops.counts if _core.registered_op(op) is None)
        report.append((meta, found, custom))
    denied_ops = sorted({f.op for _, found, _ in report for f in found if f.denied})

    if args.json:
        doc = {
            "path": info.path,
            "meta_graphs": [
                {
                    "tags": list(meta.tags),
                    "ops": dict(meta.ops.counts) if meta.ops else {},
                    "ops_run": dict(meta.ops.policy_counts) if meta.ops else {},
                    "denied": [vars(f) for f in found if f.denied],
                    "noted": [vars(f) for f in found if not f.denied],
                    "custom_ops": custom,
                }
                for meta, found, custom in report
            ],
            "denied": bool(denied_ops),
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 1 if denied_ops else 0

    out = sys.stdout
    for meta, found, _custom in report:
        assert meta.ops is not None
        by_op = {f.op: f for f in found}
        version = (
            f", written by TensorFlow {meta.tensorflow_version}" if meta.tensorflow_version else ""
        )
        out.write(
            f"MetaGraph with tag-set '{', '.join(meta.tags)}'{version}: {len(meta.ops.counts)} op types, "
            f"{meta.ops.graph_nodes} nodes in the graph and {meta.ops.function_nodes} in "
            f"{len(meta.ops.functions)} functions\n"
        )
        names = sorted(meta.ops.counts)
        width = max((len(n) for n in names), default=0)
        for op in names:
            out.write(_scan_line(op, meta.ops, by_op, width, out) + "\n")
    if denied_ops:
        n = len(denied_ops)
        message = (
            f"Found {n} op type{'s that reach' if n != 1 else ' that reaches'} outside the model: "
            f"{', '.join(denied_ops)}. "
            "Do not run this model outside a sandbox unless you trust it."
        )
        out.write(_paint(message, "1;31", out) + "\n")
        return 1
    out.write("No op type that reaches outside the model was found.\n")
    return 0


# ------------------------------------------------------------ the parser ---


def _model_dir(args: argparse.Namespace) -> str:
    path = args.dir or args.path
    if not path:
        raise InvalidArgumentError(
            "give the SavedModel folder with --dir DIR (or as the first argument)"
        )
    return path


def _add_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", help="the SavedModel folder (same as --dir)")
    p.add_argument(
        "--dir",
        help="the SavedModel folder (or a TF Serving base folder: the highest version is used)",
    )
    p.add_argument("--debug", action="store_true", help="print the traceback of an error")


def _demo(args: argparse.Namespace) -> int:
    from . import _demo as demo

    return int(demo.main(list(args.demo_args)) or 0)


#: Modules adding a sub-command: ``vars`` (checkpoint variables) and ``bench`` (timing).
_OPTIONAL_COMMANDS = ("_cli_vars", "_cli_bench")


def build_parser() -> argparse.ArgumentParser:
    """The ``tfbundle`` argument parser (show, run, scan, demo, and vars / bench when present)."""
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

    show = sub.add_parser("show", help="what a SavedModel holds (saved_model_cli show)",
                          description="Prints what saved_model_cli show prints for the same flags, or JSON.")  # fmt: skip
    _add_dir(show)
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
    show.set_defaults(func=_show)

    run = sub.add_parser("run", help="run a signature on inputs from files or expressions (saved_model_cli run)",
                         description="Runs a signature like saved_model_cli run: inputs from .npy/.npz files, safe "
                         "expressions or tf.Example dicts; outputs printed or saved as .npy.")  # fmt: skip
    _add_dir(run)
    run.add_argument(
        "--tag_set",
        "--tag-set",
        dest="tag_set",
        help="the MetaGraph's tags (default: serve, or the only one)",
    )
    run.add_argument("--signature_def", "--signature-def", dest="signature_def", default="serving_default",
                     help="the signature to run (default: serving_default)")  # fmt: skip
    run.add_argument("--inputs", default="", help="'key=file.npy;key2=file.npz[name]'")
    run.add_argument("--input_exprs", "--input-exprs", dest="input_exprs", default="",
                     help="'key=[[1],[2]];key2=np.ones((2, 3))': literals and numpy constructors, never eval")  # fmt: skip
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
    run.set_defaults(func=_run)

    scan = sub.add_parser("scan", help="list op types and flag those that reach outside the model",
                          description="Lists the op types of every MetaGraph (graph and function library) and flags "
                          "those that read or write files, call Python or talk to the network. Exit status 1 when "
                          "one is found.")  # fmt: skip
    _add_dir(scan)
    scan.add_argument("--tag_set", "--tag-set", dest="tag_set", help="scan only this MetaGraph")
    scan.add_argument("--allow", default=None, help="comma-separated op types to accept")
    scan.add_argument("--op_denylist", "--op-denylist", dest="op_denylist", default=None,
                      help="comma-separated op types to deny instead of tfbundle's list (as saved_model_cli)")  # fmt: skip
    scan.add_argument("--json", action="store_true", help="print JSON")
    scan.set_defaults(func=_scan)

    # Sub-commands that live in their own modules (each has add_parser(subparsers) setting `func`);
    # a module missing from this build just leaves its command out.
    for module_name in _OPTIONAL_COMMANDS:
        try:
            module = importlib.import_module(f"{__package__}.{module_name}")
        except ImportError:
            continue
        extra = module.add_parser(sub)
        if not any("--debug" in a.option_strings for a in extra._actions):
            extra.add_argument(
                "--debug", action="store_true", help="print the traceback of an error"
            )

    demo = sub.add_parser(
        "demo", help="make a small model and time it (needs TensorFlow's C library)", add_help=False
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER)
    demo.set_defaults(func=_demo)
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
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # argparse has printed the usage error (or the help)
        return int(e.code) if isinstance(e.code, int) else 2
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    debug = bool(getattr(args, "debug", False)) or ("--debug" in argv and args.command != "demo")
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("tfbundle: interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `tfbundle show ... | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 0
    except Exception as e:  # noqa: BLE001 - every error becomes one line (traceback with --debug)
        if debug:
            traceback.print_exc()
        sys.stderr.write(_paint("tfbundle: error: ", "1;31", sys.stderr) + _one_line(e) + "\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
