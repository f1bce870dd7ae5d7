"""``tfbundle show``: the text saved_model_cli show prints, from tfbundle's own reader."""

# ruff: noqa: UP031 - the show text is built with %-formatting, as saved_model_cli builds it

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .. import _core
from .._base.dtypes import python_dtype_name
from .._base.tags import tag_set as parse_tags
from .._readers.inspect import DTYPE_NAMES, inspect, inspect_raw, signature_dict
from ..errors import InvalidArgumentError, NotFoundError
from ._common import model_dir

__all__ = ["command", "show_all_text", "show_text"]

# ------------------------------------------------------- show: the text ---
#
# These functions print what tensorflow/python/tools/saved_model_cli.py prints, line for line,
# from the reading of _core.inspect_saved_model.


def _tensor_info_lines(info: _core.TensorInfo, indent: int) -> list[str]:
    pad = "  " * indent
    code = info.dtype
    if code not in DTYPE_NAMES:
        raise InvalidArgumentError(
            f"tensor {info.name!r} has the DataType value {code}, which TensorFlow does not define"
        )
    dims = info.dims
    shape = "unknown_rank" if dims is None else "(" + ", ".join(str(d) for d in dims) + ")"
    return [
        pad + "    dtype: " + DTYPE_NAMES[code],
        pad + "    shape: " + shape,
        pad + "    name: " + info.name,
    ]


def _signature_lines(sig: _core.SignatureDef, indent: int) -> list[str]:
    pad = "  " * indent
    lines = [pad + "The given SavedModel SignatureDef contains the following input(s):"]
    for key, info in sorted(sig.inputs.items(), key=lambda kv: kv[0]):
        lines.append(pad + "  inputs['%s'] tensor_info:" % key)
        lines += _tensor_info_lines(info, indent + 1)
    lines.append(pad + "The given SavedModel SignatureDef contains the following output(s):")
    for key, info in sorted(sig.outputs.items(), key=lambda kv: kv[0]):
        lines.append(pad + "  outputs['%s'] tensor_info:" % key)
        lines += _tensor_info_lines(info, indent + 1)
    lines.append(pad + "Method name is: %s" % sig.method_name)
    return lines


def _used_ops_set(ops: _core.GraphOps | None) -> set[str]:
    """saved_model_cli's ``set(ops_used_by_graph_def(graph_def))``, built in the same order.

    A set's iteration order depends only on its elements' hashes and the order they were added,
    so replaying saved_model_cli's insertions gives a set that prints in the same order as its
    own (when both processes use the same PYTHONHASHSEED).
    """
    used: set[str] = set()
    if ops is None:  # read without ops (never for show: it asks for them)
        return used
    for name in ops.cli_marks:
        used.add(name)
    functions = set(ops.functions)
    return {op for op in used if op not in functions}


def _ops_line(meta: _core.MetaGraphReading) -> str:
    return "The MetaGraph with tag set %s contains the following ops: %s" % (
        "%s" % list(meta.tags),
        _used_ops_set(meta.ops),
    )


def _tag_sets_text(raw: _core.SavedModelReading) -> str:
    lines = ["The given SavedModel contains the following tag-sets:"]
    tag_sets = sorted(list(m.tags) for m in raw.meta_graphs)
    lines.extend("%r" % ", ".join(sorted(tag_set)) for tag_set in tag_sets)
    return "\n".join(lines) + "\n"


def _find_meta_graph(
    raw: _core.SavedModelReading, tags: str, export_dir: str
) -> _core.MetaGraphReading:
    wanted = parse_tags(tags) or frozenset()
    for meta in raw.meta_graphs:
        if set(meta.tags) == wanted:
            return meta
    listing = ", ".join('"' + ",".join(m.tags) + '"' for m in raw.meta_graphs)
    raise NotFoundError(
        f'the SavedModel in {export_dir} has no MetaGraphDef with the tag-set "{tags}"; '
        f"use one of: {listing}"
    )


def _find_signature(meta: _core.MetaGraphReading, key: str) -> _core.SignatureDef:
    for sig in meta.signatures:
        if sig.key == key:
            return sig
    keys = ", ".join(s.key for s in meta.signatures) or "none"
    raise NotFoundError(f'could not find signature "{key}" in the MetaGraphDef with tags {list(meta.tags)}; '
                        f"choose from: {keys}")  # fmt: skip


class _DType:
    """Prints like tf.DType: repr ``tf.float32``, str ``<dtype: 'float32'>``."""

    def __init__(self, code: int) -> None:
        self.name = python_dtype_name(code)

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

    def __iter__(self) -> Iterator[Any]:
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


def _decode(v: _core.StructuredValue | None) -> Any:
    """A StructuredValue (as the core decoded it) as TensorFlow's nested_structure_coder decodes it."""
    if v is None:
        return None
    kind = v.kind
    if kind in ("none", "unset"):
        return None
    if kind in ("float", "int", "str", "bool"):
        return v.value
    if kind == "tensor_shape":
        return _TensorShape(v.shape)
    if kind == "dtype":
        return _DType(v.dtype)
    if kind in ("tensor_spec", "bounded_tensor_spec"):
        return _TensorSpec(
            v.name,
            v.shape,
            v.dtype,
            "TensorSpec" if kind == "tensor_spec" else "BoundedTensorSpec",
        )
    if kind == "type_spec":
        name = _TYPE_SPEC_CLASSES.get(v.type_spec_class) or v.class_name or "TypeSpec"
        state = _decode(v.state)
        return _TypeSpec(name, state)
    if kind == "list":
        return [_decode(i) for i in v.items]
    if kind == "tuple":
        return tuple(_decode(i) for i in v.items)
    if kind == "dict":
        return {k: _decode(i) for k, i in zip(v.keys, v.items)}
    if kind == "named_tuple":
        keys = list(v.keys)
        values = [_decode(i) for i in v.items]
        try:
            return collections.namedtuple(v.name or "", keys)(*values)  # no name: ValueError
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
            out.extend("%s" % maybe_quotes(value) + ", " for value in element)
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


def _concrete_functions_text(functions: _core.FunctionListing | None) -> str:
    """saved_model_cli's _show_defined_functions."""
    if functions is None or not functions.present:
        return ""
    out = ["\nConcrete Functions:"]
    if functions.failure:
        reason = ("the existence of custom ops in the SavedModel" if functions.failure == "custom_ops"
                  else "unknown reasons")  # fmt: skip
        out.append(f" N/A (could not be listed due to {reason})\n")
        return "".join(out)
    for fn in sorted(functions.functions, key=lambda f: f.name):
        out.append("\n  Function Name: '%s'\n" % fn.name)
        for index, cf in enumerate(
            sorted(
                fn.concrete_functions, key=lambda c: c.load_name.encode("utf-8", "surrogateescape")
            ),
            1,
        ):
            args, kwargs = None, None
            signature = _decode(cf.input_signature)
            if signature:
                args, kwargs = signature
            elif fn.bare and fn.argument_keywords:
                args = list(fn.argument_keywords)
            if args:
                out.append("    Option #%d\n" % index)
                out.append("      Callable with:\n")
                _print_args(out, args, indent=4)
            if kwargs:
                _print_args(out, kwargs, "Named Argument", indent=4)
    return "".join(out)


def show_all_text(raw: _core.SavedModelReading) -> str:
    """What ``saved_model_cli show --all`` prints for the model read into ``raw``.

    Args:
        raw: ``_core.inspect_saved_model(dir, cli=True)``.

    Returns:
        The text, byte for byte (the op sets print in the order saved_model_cli's do when
        both run with the same PYTHONHASHSEED).
    """
    lines = []
    for meta in sorted(raw.meta_graphs, key=lambda m: list(m.tags)):
        lines.append(
            "\nMetaGraphDef with tag-set: '%s' contains the following SignatureDefs:"
            % ", ".join(meta.tags)
        )
        for sig in sorted(meta.signatures, key=lambda s: s.key):
            lines.append("\nsignature_def['" + sig.key + "']:")
            lines += _signature_lines(sig, indent=1)
        lines.append(_ops_line(meta))
    return "\n".join(lines) + "\n" + _concrete_functions_text(raw.functions)


def show_text(
    raw: _core.SavedModelReading,
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
        for sig in sorted(meta.signatures, key=lambda s: s.key):
            text += 'SignatureDef key: "%s"\n' % sig.key
        return text
    return text + "\n".join(_signature_lines(_find_signature(meta, signature_def), indent=0)) + "\n"


def command(args: argparse.Namespace) -> int:
    path = model_dir(args)
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
