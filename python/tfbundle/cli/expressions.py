"""The safe evaluator of ``--input_exprs`` / ``--input_examples``: literals and a few numpy calls.

Nothing is passed to ``eval``: the expression is parsed with :mod:`ast` and each node is
evaluated here, from an allow-list. Every array the expression makes is charged, in bytes and
before numpy allocates it, against one budget for the whole expression
(:data:`MAX_EXPRESSION_BYTES`), whatever way the size is written: positional or keyword
arguments, shapes given as arrays, wide string dtypes, many small arrays joined by
``np.concatenate``.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, NoReturn

from ..errors import InvalidArgumentError, ResourceExhaustedError

__all__ = ["MAX_EXPRESSION_BYTES", "evaluate_expression"]

#: The most bytes of arrays one expression may make, summed over every array it makes.
MAX_EXPRESSION_BYTES = 1 << 30

# The parameters of the numpy functions an expression may call, in positional order. A keyword
# not listed here (out=, like=, ...) is refused.
_NP_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "array": ("object", "dtype", "copy", "order", "subok", "ndmin"),
    "asarray": ("a", "dtype", "order"),
    "ones": ("shape", "dtype", "order"),
    "zeros": ("shape", "dtype", "order"),
    "full": ("shape", "fill_value", "dtype", "order"),
    "arange": ("start", "stop", "step", "dtype"),
    "linspace": ("start", "stop", "num", "endpoint", "retstep", "dtype", "axis"),
    "eye": ("N", "M", "k", "dtype", "order"),
    "identity": ("n", "dtype"),
    "ones_like": ("a", "dtype", "order", "subok", "shape"),
    "zeros_like": ("a", "dtype", "order", "subok", "shape"),
    "full_like": ("a", "fill_value", "dtype", "order", "subok", "shape"),
    "reshape": ("a", "shape", "order"),
    "stack": ("arrays", "axis", "dtype"),
    "concatenate": ("arrays", "axis", "dtype"),
}
_NP_DTYPES = frozenset({
    "float16", "float32", "float64", "half", "single", "double", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool_", "str_", "bytes_", "object_", "complex64",
    "complex128",
})  # fmt: skip
_ARRAY_METHODS: dict[str, tuple[str, ...]] = {
    "reshape": ("shape", "order"),
    "astype": ("dtype", "order", "casting", "subok", "copy"),
    "transpose": ("axes",),
    "ravel": ("order",),
    "flatten": ("order",),
}
_BUILTIN_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "bytes": bytes, "complex": complex}
# A shape given as an array may have at most this many dimensions (numpy's own limit is 64).
_MAX_DIMS = 64


class _UnsafeExpressionError(InvalidArgumentError):
    pass


class _Budget:
    """The bytes an expression has made so far, refused past MAX_EXPRESSION_BYTES."""

    def __init__(self) -> None:
        self.used = 0

    def charge(self, nbytes: int, what: str) -> None:
        self.used += max(int(nbytes), 0)
        if self.used > MAX_EXPRESSION_BYTES:
            raise _UnsafeExpressionError(
                f"{what} would bring the arrays it makes to {self.used:,} bytes, "
                f"more than the {MAX_EXPRESSION_BYTES:,} an expression may; save the input with np.save "
                "and pass it with --inputs"
            )


def _bind(func: str, names: tuple[str, ...], args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    if len(args) > len(names):
        raise _UnsafeExpressionError(f"{func}() takes at most {len(names)} positional arguments here")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise _UnsafeExpressionError(f"{func}(): the argument {key}= is not allowed")
        if key in bound:
            raise InvalidArgumentError(f"{func}(): {key} given twice")
        bound[key] = value
    return bound


def _itemsize(dtype: Any, default: Any) -> int:
    """Bytes per element of ``dtype`` (``default`` when None); flexible str/bytes count as 1 char."""
    import numpy as np

    try:
        dt = np.dtype(default if dtype is None else dtype)
    except TypeError as e:
        raise InvalidArgumentError(f"not a dtype: {dtype!r} ({e})") from None
    if dt.itemsize:
        return dt.itemsize
    return 4 if dt.kind == "U" else 1


def _shape_elements(shape: Any) -> int:
    """The number of elements of a shape given as an int, a sequence or an array of ints."""
    import numpy as np

    if isinstance(shape, np.ndarray):
        if shape.size > _MAX_DIMS:
            raise InvalidArgumentError(f"a shape of {shape.size} dimensions")
        shape = shape.reshape(-1).tolist()
    dims = shape if isinstance(shape, (list, tuple)) else [shape]
    if len(dims) > _MAX_DIMS:
        raise InvalidArgumentError(f"a shape of {len(dims)} dimensions")
    total = 1
    for d in dims:
        try:
            total *= max(operator.index(d), 0)
        except TypeError:
            raise InvalidArgumentError(f"a shape's dimensions are integers, got {d!r}") from None
    return total


def _leaves(value: Any) -> tuple[int, int]:
    """(elements, longest string) of a value numpy would turn into an array."""
    import numpy as np

    if isinstance(value, np.ndarray):
        width = value.dtype.itemsize // 4 if value.dtype.kind == "U" else value.dtype.itemsize
        return value.size, width if value.dtype.kind in "US" else 0
    if isinstance(value, (list, tuple, set)):
        count, width = 0, 0
        for v in value:
            c, w = _leaves(v)
            count, width = count + c, max(width, w)
        return count, width
    if isinstance(value, (str, bytes)):
        return 1, len(value)
    return 1, 0


def _array_bytes(value: Any, dtype: Any) -> int:
    """The bytes of ``np.array(value, dtype)``, computed without making it."""
    import numpy as np

    count, width = _leaves(value)
    if dtype is None:
        if isinstance(value, np.ndarray):
            return value.nbytes
        return count * max(8, 4 * width)
    dt = np.dtype(dtype)
    if dt.itemsize == 0:  # flexible: as wide as the longest string
        return count * max(width, 1) * (4 if dt.kind == "U" else 1)
    return count * dt.itemsize


def _arange_elements(bound: dict[str, Any]) -> int:
    start, stop, step = bound.get("start"), bound.get("stop"), bound.get("step")
    if stop is None:
        start, stop = 0, start
    try:
        start_f, stop_f = float(start or 0), float(stop or 0)
        step_f = float(step) if step is not None else 1.0
    except (TypeError, ValueError):
        raise InvalidArgumentError("np.arange takes numbers") from None
    if step_f == 0 or not all(map(math.isfinite, (start_f, stop_f, step_f))):
        raise InvalidArgumentError("np.arange needs finite bounds and a non-zero step")
    return max(math.ceil((stop_f - start_f) / step_f), 0)


def _np_call_bytes(func: str, b: dict[str, Any]) -> int:
    """The bytes of the array np.<func>(**b) makes."""
    import numpy as np

    dtype = b.get("dtype")
    if func in ("ones", "zeros"):
        return _shape_elements(b.get("shape", 0)) * _itemsize(dtype, np.float64)
    if func == "full":
        fill = b.get("fill_value", 0)
        return _shape_elements(b.get("shape", 0)) * max(_itemsize(dtype, np.float64), _array_bytes(fill, dtype))
    if func == "arange":
        return _arange_elements(b) * _itemsize(dtype, np.float64)
    if func == "linspace":
        num = b.get("num", 50)
        try:
            n = operator.index(num)
        except TypeError:
            raise InvalidArgumentError(f"np.linspace: num is an integer, got {num!r}") from None
        return max(n, 0) * _itemsize(dtype, np.float64)
    if func in ("eye", "identity"):
        n = b.get("N", b.get("n", 0))
        m = b.get("M")
        return _shape_elements((n, n if m is None else m)) * _itemsize(dtype, np.float64)
    if func in ("ones_like", "zeros_like", "full_like"):
        proto = np.asarray(b.get("a", 0))
        shape = b.get("shape")
        count = proto.size if shape is None else _shape_elements(shape)
        return count * _itemsize(dtype, proto.dtype)
    if func in ("array", "asarray"):
        return _array_bytes(b.get("object", b.get("a")), dtype)
    if func == "reshape":
        return _array_bytes(b.get("a"), dtype)
    if func in ("stack", "concatenate"):
        return _array_bytes(b.get("arrays", ()), dtype)
    raise AssertionError(func)


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
            the list above, or would make arrays of more than :data:`MAX_EXPRESSION_BYTES`
            bytes in all.
    """
    import numpy as np

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise InvalidArgumentError(f"expression {text!r} is not valid Python: {e.msg}") from None
    budget = _Budget()

    def refuse(node: ast.AST, what: str) -> NoReturn:
        raise _UnsafeExpressionError(
            f"{what} is not allowed; use literals and np.array/ones/zeros/full/arange/"
            "linspace/eye/... (tfbundle never evaluates arbitrary code)"
        )

    def call(node: ast.Call) -> Any:
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                refuse(a, "*args")
            args.append(ev(a))
        kwargs: dict[str, Any] = {}
        for k in node.keywords:
            if k.arg is None:
                refuse(k, "**kwargs")
            kwargs[k.arg] = ev(k.value)
        func = node.func
        if isinstance(func, ast.Attribute) and _is_np(func.value):
            if func.attr in _NP_FUNCTIONS:
                bound = _bind(f"np.{func.attr}", _NP_FUNCTIONS[func.attr], args, kwargs)
                budget.charge(_np_call_bytes(func.attr, bound), f"np.{func.attr}(...)")
                return getattr(np, func.attr)(*args, **kwargs)
            if func.attr in _NP_DTYPES:
                value = args[0] if args else 0
                budget.charge(_array_bytes(value, getattr(np, func.attr)), f"np.{func.attr}(...)")
                return getattr(np, func.attr)(*args, **kwargs)
            refuse(node, f"np.{func.attr}()")
        if isinstance(func, ast.Attribute) and func.attr in _ARRAY_METHODS:
            target = ev(func.value)
            if not isinstance(target, np.ndarray):
                refuse(node, f".{func.attr}() on a {type(target).__name__}")
            bound = _bind(f".{func.attr}", _ARRAY_METHODS[func.attr], args, kwargs)
            new_dtype = bound.get("dtype") if func.attr == "astype" else None
            nbytes = target.size * _itemsize(new_dtype, target.dtype) if new_dtype is not None else target.nbytes
            budget.charge(nbytes, f".{func.attr}(...)")
            return getattr(target, func.attr)(*args, **kwargs)
        refuse(node, "this call")

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
            keys = [k for k in node.keys if k is not None]
            if len(keys) != len(node.keys):
                refuse(node, "** in a dict")
            return {ev(k): ev(v) for k, v in zip(keys, node.values)}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = ev(node.operand)
            if not isinstance(value, (int, float, complex)) or isinstance(value, bool):
                refuse(node, "a sign on a non-number")
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            left, right = ev(node.left), ev(node.right)
            numeric = (int, float, complex)
            if not ((isinstance(left, numeric) and isinstance(right, numeric) and isinstance(right, complex)) or
                    (isinstance(left, complex) and isinstance(right, numeric))):  # fmt: skip
                refuse(node, "arithmetic (other than writing a complex number)")
            return left + right if isinstance(node.op, ast.Add) else left - right
        if isinstance(node, ast.Name):
            if node.id in _BUILTIN_TYPES:
                return _BUILTIN_TYPES[node.id]
            refuse(node, f"the name {node.id!r}")
        if isinstance(node, ast.Attribute) and _is_np(node.value) and node.attr in _NP_DTYPES:
            return getattr(np, node.attr)
        if isinstance(node, ast.Call):
            return call(node)
        refuse(node, f"a {type(node).__name__} expression")

    try:
        return ev(tree.body)
    except InvalidArgumentError as e:  # every refusal above, named once with the expression
        raise type(e)(f"expression {text!r}: {e.message}") from None
    except MemoryError:
        raise ResourceExhaustedError(f"expression {text!r}: out of memory") from None
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidArgumentError(f"expression {text!r} failed: {e}") from None


def _is_np(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("np", "numpy")
