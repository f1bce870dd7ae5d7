"""TF Serving's REST JSON: request bodies to numpy arrays, outputs back to JSON, as its server does.

The rules are those of TF Serving's server (``tensorflow_serving/util/json_tensor.cc``), which
are sometimes stricter or different from its REST API guide; where the two disagree, this
follows the server:

- predict: ``{"signature_name"?, "instances": [...]}`` (row format: every instance has the
  same shape; several inputs make each instance an object with exactly the inputs' names) or
  ``{"signature_name"?, "inputs": value | {name: value}}`` (columnar; names not in the
  signature are ignored), never both. A tensor's shape is read from the first element of each
  list level, and every list of a level must have that size. Floats take any JSON number, ints
  only integral numbers in their range, bools only ``true``/``false``, strings JSON strings or
  ``{"b64": "..."}``. ``NaN``, ``Infinity`` and ``-Infinity`` are read as numbers.
- The answer is ``{"predictions": [...]}`` for row requests (one value per instance, an object
  per instance when there are several outputs) and ``{"outputs": ...}`` for columnar ones.
  Floats are written as TF Serving writes them (six significant digits when that reads back
  as the same number, else full precision; ``.0`` on whole numbers; ``NaN``, ``Infinity``);
  string outputs whose name ends in ``_bytes`` are written as ``{"b64": "..."}``.
- classify/regress: ``{"signature_name"?, "context"?: {...}, "examples": [{...}, ...]}``:
  each example (and the context) maps feature names to a value or a list of values: JSON
  floats make a float_list, integers and booleans an int64_list, strings and ``{"b64": ...}``
  a bytes_list. The answer is ``{"results": ...}`` (the server's key; the guide says
  ``"result"``): ``[[label, score], ...]`` per example, or one value per example.

Errors are :class:`tfbundle.errors.InvalidArgumentError` (and ``UnimplementedError`` for a
dtype JSON cannot carry) with TF Serving's messages.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import _core
from .._base.dtypes import DTYPE_NAMES, numpy_dtype
from ..errors import Error, InvalidArgumentError, UnimplementedError

__all__ = [
    "classify_response",
    "columnar_response",
    "examples_from_request",
    "inputs_from_request",
    "parse_json",
    "parse_simple_predict",
    "predict_response",
    "regress_response",
    "row_response",
    "simple_inputs",
]

_B64 = "b64"
_DEBUG_BYTES = 256  # TF Serving cuts the JSON it quotes in errors here


# ----------------------------------------------------------------------- reading ---


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object (``NaN``/``Infinity`` accepted).

    Raises:
        InvalidArgumentError: an empty body, invalid JSON, or JSON that is not an object.
    """
    if not body:
        raise InvalidArgumentError("JSON Parse error: The document is empty")
    import orjson

    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # the json module reads NaN, Infinity and -Infinity, which TF Serving accepts
            doc = json.loads(body)
        except json.JSONDecodeError as e:
            raise InvalidArgumentError(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
        except ValueError as e:  # not UTF-8
            raise InvalidArgumentError(f"JSON Parse error: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgumentError(f"JSON Value: {debug_string(doc)} Is not object")
    return doc


def debug_string(value: Any) -> str:
    """JSON text of ``value`` as TF Serving quotes it in errors (pretty objects, one-line arrays, cut)."""
    text = _pretty(value, 0)
    return text[:_DEBUG_BYTES]


def _pretty(value: Any, indent: int) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = " " * (indent + 4)
        items = ",\n".join(
            f"{pad}{json.dumps(k)}: {_pretty(v, indent + 4)}" for k, v in value.items()
        )
        return "{\n" + items + "\n" + " " * indent + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_pretty(v, indent) for v in value) + "]"
    if isinstance(value, float):
        return _float64_token(value)
    return json.dumps(value)


def _format_error(doc: Any, *parts: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"JSON Value: {debug_string(doc)} " + "".join(parts))


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_B64), str)


def _b64decode(value: Any) -> bytes:
    if not _is_b64(value):
        raise InvalidArgumentError(
            f"JSON Value: {debug_string(value)} not formatted correctly for base64 data"
        )
    text = value[_B64] + "=" * (-len(value[_B64]) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    # The web-safe alphabet, which TF Serving's decoder reads too: "-" and "_" in place of
    # "+" and "/" (never both alphabets at once), and nothing outside it.
    if "+" not in text and "/" not in text:
        try:
            return base64.b64decode(text, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            pass
    raise InvalidArgumentError("Unable to base64 decode")


def dtype_string(tf_dtype: str) -> str:
    """TensorFlow's DataTypeString: ``DT_FLOAT`` -> ``float``, ``DT_HALF`` -> ``half``."""
    return tf_dtype[3:].lower() if tf_dtype.startswith("DT_") else tf_dtype.lower()


# What each DataType takes from JSON: (numpy dtype, the check of one JSON value).
_I32 = (-(2**31), 2**31 - 1)
_INT_RANGES = {
    "DT_INT32": _I32,
    "DT_INT16": _I32,
    "DT_INT8": _I32,
    "DT_UINT8": _I32,
    "DT_INT64": (-(2**63), 2**63 - 1),
    "DT_UINT32": (0, 2**32 - 1),
    "DT_UINT64": (0, 2**64 - 1),
}
_NUMPY = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_INT32": np.int32,
    "DT_INT16": np.int16,
    "DT_INT8": np.int8,
    "DT_UINT8": np.uint8,
    "DT_INT64": np.int64,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_STRING": object,
}


class _Kind:
    """How the values of one input's DataType are read from JSON."""

    __slots__ = ("dtype", "name", "range", "tf_dtype")

    def __init__(self, tf_dtype: str) -> None:
        self.tf_dtype = tf_dtype
        self.name = dtype_string(tf_dtype)
        self.dtype = _NUMPY.get(tf_dtype)
        self.range = _INT_RANGES.get(tf_dtype)

    def leaf(self, value: Any) -> Any:
        """One JSON value as this DataType (TF Serving's AddValueToTensor), or an error."""
        t = self.tf_dtype
        if isinstance(value, dict):
            if t == "DT_STRING":
                return _b64decode(value)
            raise self.type_error(value)
        if self.dtype is None:
            raise UnimplementedError(
                f"Conversion of JSON Value: {debug_string(value)} to type: {self.name}"
            )
        if t in ("DT_FLOAT", "DT_DOUBLE"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.type_error(value)
            return value
        if self.range is not None:
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not self.range[0] <= value <= self.range[1]
            ):
                raise self.type_error(value)
            return value
        if t == "DT_BOOL":
            if not isinstance(value, bool):
                raise self.type_error(value)
            return value
        if not isinstance(value, str):  # DT_STRING
            raise self.type_error(value)
        return value.encode("utf-8")

    def type_error(self, value: Any) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"JSON Value: {debug_string(value)} Type: {_json_type(value)} is not of expected type: {self.name}"
        )

    def fast(self, value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
        """numpy's own conversion of a numeric value, when it surely agrees with the rules; else None."""
        if self.dtype is None or self.dtype is object:
            return None
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError, OverflowError):
            return None
        if arr.shape != shape:
            return None
        kind = arr.dtype.kind
        if self.tf_dtype in ("DT_FLOAT", "DT_DOUBLE"):
            if kind not in "iuf":
                return None
        elif self.range is not None:
            if kind not in "iu":
                return None
            if arr.size and (int(arr.min()) < self.range[0] or int(arr.max()) > self.range[1]):
                return None
        elif kind != "b":  # DT_BOOL
            return None
        return arr.astype(self.dtype, copy=False)


# One _Kind per DataType name: it holds no request state, so requests share it.
_kind = functools.cache(_Kind)


def _dense_shape(value: Any) -> tuple[int, ...]:
    """The shape TF Serving reads: the length of each list level, following first elements."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _fill(value: Any, level: int, shape: tuple[int, ...], kind: _Kind, out: list[Any]) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise InvalidArgumentError(
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}"
            )
        out.append(kind.leaf(value))
        return
    if level >= rank:
        raise InvalidArgumentError(
            f"Encountered list at unexpected level: {level} expected < {rank}"
        )
    if len(value) != shape[level]:
        raise InvalidArgumentError(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    for v in value:
        _fill(v, level + 1, shape, kind, out)


def _tensor(value: Any, kind: _Kind) -> np.ndarray:
    """One JSON value (a scalar or nested lists) as an array of the input's DataType."""
    shape = _dense_shape(value)
    fast = kind.fast(value, shape)
    if fast is not None:
        return fast
    flat: list[Any] = []
    _fill(value, 0, shape, kind, flat)
    if kind.dtype is object:
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr.reshape(shape)
    return np.array(flat, dtype=kind.dtype).reshape(shape)


def _shape_string(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _status_string(e: Error) -> str:
    from .errors import CODE_NAMES

    return f"{CODE_NAMES.get(int(e.code), 'UNKNOWN')}: {e}"


def _from_instances(instances: Any, doc: Any, kinds: Mapping[str, _Kind]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise _format_error(doc, "Expecting 'instances' to be an list/array")
    if not instances:
        raise _format_error(doc, "No values in 'instances' array")
    first = instances[0]
    if not isinstance(first, dict) and len(kinds) > 1:
        raise InvalidArgumentError(
            "instances is a plain list, but expecting list of objects as multiple input tensors required "
            "as per tensorinfo_map"
        )
    objects = isinstance(first, dict) and not _is_b64(first)
    names = sorted(kinds)
    if not objects:  # one input: the whole list is the batch, when numpy reads it the same way
        name = names[0]
        kind = kinds[name]
        whole = kind.fast(instances, _dense_shape(instances))
        if whole is not None:
            return {name: whole}
    parts: dict[str, list[np.ndarray]] = {}
    for index, element in enumerate(instances):
        if objects:
            if not (isinstance(element, dict) and not _is_b64(element)):
                raise InvalidArgumentError(
                    f"Expecting object but got list at item {index} of input list"
                )
            for key, item in element.items():
                try:
                    if key not in kinds:
                        raise InvalidArgumentError(f"JSON object: does not have named input: {key}")
                    _add_instance(parts, key, _tensor(item, kinds[key]))
                except Error as e:
                    raise InvalidArgumentError(
                        f"Failed to process element: {index} key: {key} of 'instances' list. "
                        f"Error: {_status_string(e)}"
                    ) from None
            if set(element) != set(kinds):
                raise InvalidArgumentError(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{debug_string(element)} keys must be equal to: {','.join(names)}"
                )
        else:
            if isinstance(element, dict) and not _is_b64(element):
                raise InvalidArgumentError(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            try:
                _add_instance(parts, names[0], _tensor(element, kinds[names[0]]))
            except Error as e:
                raise InvalidArgumentError(
                    f"Failed to process element: {index} of 'instances' list. Error: {_status_string(e)}"
                ) from None
    return {name: np.stack(arrays) for name, arrays in parts.items()}


def _add_instance(parts: dict[str, list[np.ndarray]], name: str, arr: np.ndarray) -> None:
    seen = parts.get(name)
    if seen is None:
        parts[name] = [arr]
        return
    first = seen[0]
    if first.size != arr.size:
        raise InvalidArgumentError(f"Expecting tensor size: {first.size} but got: {arr.size}")
    if first.shape != arr.shape:
        raise InvalidArgumentError(
            f"Expecting shape {_shape_string(first.shape)} but got: {_shape_string(arr.shape)}"
        )
    seen.append(arr)


def _from_inputs(value: Any, kinds: Mapping[str, _Kind]) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or _is_b64(value):
        if len(kinds) > 1:
            raise InvalidArgumentError(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as "
                "per tensorinfo_map"
            )
        name = next(iter(kinds))
        return {name: _tensor(value, kinds[name])}
    out = {}
    for name in sorted(kinds):
        if name not in value:
            raise InvalidArgumentError(f"Missing named input: {name} in 'inputs' object.")
        out[name] = _tensor(value[name], kinds[name])
    return out


def inputs_from_request(
    doc: dict[str, Any], input_dtypes: Mapping[str, str]
) -> tuple[dict[str, np.ndarray], bool]:
    """The arrays of a predict request, and whether it is in row format.

    Args:
        doc: the request's JSON object.
        input_dtypes: the signature's inputs: key -> DataType name (``"DT_FLOAT"``).

    Returns:
        (input key -> array, True for ``instances`` / False for ``inputs``).
    """
    kinds = {name: _kind(t) for name, t in input_dtypes.items()}
    has_instances = "instances" in doc
    has_inputs = "inputs" in doc
    if has_instances and has_inputs:
        raise _format_error(
            doc,
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ",
        )
    if has_instances:
        return _from_instances(doc["instances"], doc, kinds), True
    if has_inputs:
        return _from_inputs(doc["inputs"], kinds), False
    raise InvalidArgumentError("Missing 'inputs' or 'instances' key")


def parse_simple_predict(body: bytes) -> tuple[str, bool, np.ndarray] | None:
    """(signature_name, row format, float64 tensor) of a predict body of the common form, else None.

    The common form is ``{"signature_name"?: "...", "instances" or "inputs": regular nested lists
    of JSON numbers}``, read in C++ without a Python object per number (``_core.parse_predict_json``).
    For any other body (None) use :func:`parse_json` and :func:`inputs_from_request`, which also
    word the errors.
    """
    return _core.parse_predict_json(body)


# The input types a simple body's float64 tensor converts to as inputs_from_request converts them.
_SIMPLE_TYPES: dict[str, np.dtype[Any]] = {
    "DT_FLOAT": np.dtype(np.float32),
    "DT_DOUBLE": np.dtype(np.float64),
}


def simple_inputs(
    values: np.ndarray, input_dtypes: Mapping[str, str]
) -> dict[str, np.ndarray] | None:
    """The inputs of a simple body (:func:`parse_simple_predict`) for a signature of one float
    input; None for other signatures (use :func:`inputs_from_request`)."""
    if len(input_dtypes) != 1:
        return None
    ((name, tf_dtype),) = input_dtypes.items()
    dtype = _SIMPLE_TYPES.get(tf_dtype)
    if dtype is None:
        return None
    return {name: values.astype(dtype, copy=False)}


def signature_name(doc: dict[str, Any]) -> str:
    """The request's ``signature_name`` ("" when absent)."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise _format_error(
            doc, "not formatted correctly. 'signature_name' key must be a string value."
        )
    return name


# ------------------------------------------------------------- classify / regress ---


def _feature_kind_error(name: str, current: str) -> InvalidArgumentError:
    kind = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(
        current, "UNKNOWN"
    )
    return InvalidArgumentError(
        f"Unexpected element type in feature: {name} expecting type: {kind}"
    )


def _example(value: Any) -> Any:
    """A JSON object of features as a tf.Example message (TF Serving's MakeExampleFromJsonObject)."""
    from .. import _proto

    if not isinstance(value, dict):
        raise InvalidArgumentError(f"Example must be JSON object but got JSON {_json_type(value)}")
    example = _proto.Example()
    for name, content in value.items():
        values = content if isinstance(content, list) else [content]
        current: str | None = None
        items: list[Any] = []
        item: Any
        for v in values:
            if v is None or isinstance(v, list) or (isinstance(v, dict) and not _is_b64(v)):
                raise InvalidArgumentError(
                    f"Feature: {name} has element with unexpected JSON type: {_json_type(v)}"
                )
            if isinstance(v, bool):
                kind, item = "int64_list", int(v)
            elif isinstance(v, dict):
                kind, item = "bytes_list", _b64decode(v)
            elif isinstance(v, str):
                kind, item = "bytes_list", v.encode("utf-8")
            elif isinstance(v, float):
                kind, item = "float_list", v
            else:
                if v > 2**63 - 1 or v < -(2**63):
                    raise InvalidArgumentError(
                        f"Feature: {name} has uint64_t element. Only int64_t is supported."
                    )
                kind, item = "int64_list", v
            if current is not None and kind != current:
                raise _feature_kind_error(name, current)
            current = kind
            items.append(item)
        feature = example.features.feature[name]
        if current is not None:
            getattr(feature, current).value.extend(items)
    return example


def examples_from_request(doc: dict[str, Any]) -> np.ndarray:
    """The serialized tf.Examples of a classify or regress request, as a 1-D object array.

    A ``context`` example is prepended to each example's bytes (protobuf merges them when the
    model parses them, as TF Serving builds the tensor).
    """
    context = b""
    if "context" in doc:
        context = _example(doc["context"]).SerializeToString()
    if "examples" not in doc:
        raise _format_error(
            doc, "When method is classify, key 'examples' is expected and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise _format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(doc, "'examples' value is an empty array")
    out = np.empty(len(examples), dtype=object)
    out[:] = [context + _example(e).SerializeToString() for e in examples]
    return out


# ----------------------------------------------------------------------- writing ---


def _float32_tokens(flat: np.ndarray) -> list[str]:
    return _float_tokens(flat, np.float32, ".9g")


def _float_tokens(flat: np.ndarray, dtype: Any, full: str) -> list[str]:
    values = flat.tolist()
    short = [format(v, "g") for v in values]
    if not short:
        return short
    # A value whose six-digit form reads back as another number is written in full (absl's way).
    back = np.array(short, dtype=np.float64).astype(dtype)
    with np.errstate(invalid="ignore"):
        differ = np.flatnonzero(~((back == flat) | (np.isnan(flat))))
    for i in differ.tolist():
        short[i] = format(values[i], full)
    for i, s in enumerate(short):
        if "." not in s and "e" not in s:
            if s in ("nan", "-nan"):
                short[i] = "NaN"
            elif s == "inf":
                short[i] = "Infinity"
            elif s == "-inf":
                short[i] = "-Infinity"
            else:
                short[i] = s + ".0"
    return short


def _float64_token(value: float) -> str:
    return _float_tokens(np.array([value], np.float64), np.float64, ".17g")[0]


# numpy dtype -> DataType value of the types TF Serving writes to JSON as numbers (not DT_UINT16:
# its writer has no case for it). _core.json_tensor writes them; _tokens is the same rules in Python.
_WRITTEN: dict[np.dtype[Any], int] = {
    numpy_dtype(code): code  # type: ignore[misc]
    for code, name in DTYPE_NAMES.items()
    if name
    in (
        "DT_FLOAT", "DT_DOUBLE", "DT_BOOL", "DT_INT8", "DT_INT16", "DT_INT32", "DT_INT64",
        "DT_UINT8", "DT_UINT32", "DT_UINT64",
    )
}  # fmt: skip
_INTEGERS = tuple(d for d in _WRITTEN if d.kind in "iu")


def _tensor_json(name: str, arr: np.ndarray, tf_dtype: str | None) -> bytes:
    """``arr`` as nested JSON lists of its shape, each element as TF Serving writes it."""
    code = _WRITTEN.get(arr.dtype)
    if code is not None:
        # (not np.ascontiguousarray, which makes a 0-d array 1-d)
        text = _core.json_tensor(arr if arr.flags.c_contiguous else arr.copy(order="C"), code)
        if text is not None:
            return text
    return _nest(_tokens(name, arr, tf_dtype), arr.shape).encode("utf-8")


def _tokens(name: str, arr: np.ndarray, tf_dtype: str | None) -> list[str]:
    """Each element of ``arr`` (flattened) as JSON text, as TF Serving writes it."""
    import orjson

    flat = arr.ravel()
    kind = flat.dtype.kind
    if flat.dtype == np.float32:
        return _float32_tokens(flat)
    if flat.dtype == np.float64:
        return _float_tokens(flat, np.float64, ".17g")
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if flat.dtype in _INTEGERS:
        return [str(v) for v in flat.tolist()]
    if kind in "OSU" and (tf_dtype in (None, "DT_STRING")):
        items = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat.tolist()]
        if name.endswith("_bytes"):
            return ['{"b64":"' + base64.b64encode(v).decode("ascii") + '"}' for v in items]
        return [orjson.dumps(v.decode("utf-8", errors="replace")).decode("utf-8") for v in items]
    what = dtype_string(tf_dtype) if tf_dtype else _numpy_type_name(flat.dtype)
    raise InvalidArgumentError(f"Failed to write JSON value for tensor type: {what}")


def _numpy_type_name(dtype: np.dtype) -> str:
    return {"float16": "half", "complex64": "complex64", "complex128": "complex128"}.get(
        dtype.name, dtype.name
    )


def _nest(tokens: list[str], shape: tuple[int, ...]) -> str:
    """The tokens of one tensor (row-major) as nested JSON lists of ``shape``."""
    if not shape:
        return tokens[0]
    if 0 in shape:
        k = shape.index(0)
        parts = ["[]"] * int(np.prod(shape[:k], dtype=np.int64))
        shape = shape[:k]
    else:
        parts = tokens
    for d in reversed(shape):
        parts = ["[" + ",".join(parts[i : i + d]) + "]" for i in range(0, len(parts), d)]
    return parts[0]


def row_response(
    outputs: Mapping[str, np.ndarray], dtypes: Mapping[str, str] | None = None
) -> bytes:
    """``{"predictions": [...]}``: one value (or object of outputs) per row of dim 0."""
    batch = -1
    names = sorted(outputs)
    for name in names:
        arr = outputs[name]
        if arr.ndim == 0:
            raise InvalidArgumentError(f"Tensor name: {name} has no shape information ")
        if batch >= 0 and arr.shape[0] != batch:
            raise InvalidArgumentError(
                f"Tensor name: {name} has inconsistent batch size: {arr.shape[0]} expecting: {batch}"
            )
        batch = arr.shape[0]
    types = dtypes or {}
    if len(names) == 1:
        # The rows of dim 0 are the whole tensor's outer list.
        name = names[0]
        return (
            b'{"predictions":'
            + _tensor_json(name, np.asarray(outputs[name]), types.get(name))
            + b"}"
        )
    import orjson

    arrays = {name: np.asarray(outputs[name]) for name in names}
    keys = {name: orjson.dumps(name) + b":" for name in names}
    rows = [
        b"{"
        + b",".join(keys[n] + _tensor_json(n, arrays[n][i, ...], types.get(n)) for n in names)
        + b"}"
        for i in range(batch)
    ]
    return b'{"predictions":[' + b",".join(rows) + b"]}"


def columnar_response(
    outputs: Mapping[str, np.ndarray], dtypes: Mapping[str, str] | None = None
) -> bytes:
    """``{"outputs": value}`` for one output, ``{"outputs": {name: value}}`` for several."""
    import orjson

    names = sorted(outputs)
    values = {
        name: _tensor_json(name, np.asarray(outputs[name]), (dtypes or {}).get(name))
        for name in names
    }
    if len(names) == 1:
        body = values[names[0]]
    else:
        body = b"{" + b",".join(orjson.dumps(n) + b":" + values[n] for n in names) + b"}"
    return b'{"outputs":' + body + b"}"


def predict_response(
    outputs: Mapping[str, np.ndarray], row: bool, dtypes: Mapping[str, str] | None = None
) -> bytes:
    """The answer to a predict request (row or columnar, like the request)."""
    if not outputs:
        raise InvalidArgumentError("Cannot convert empty tensor map to JSON")
    return row_response(outputs, dtypes) if row else columnar_response(outputs, dtypes)


def _tensor_shape(arr: np.ndarray) -> str:
    return "[" + ",".join(str(d) for d in arr.shape) + "]"


def classify_response(
    classes: np.ndarray | None, scores: np.ndarray | None, num_examples: int
) -> bytes:
    """``{"results": [[[label, score], ...], ...]}`` from a classify signature's outputs."""
    import orjson

    for arr, what, want in ((classes, "classes", "DT_STRING"), (scores, "scores", "DT_FLOAT")):
        if arr is None:
            continue
        if arr.ndim != 2:
            raise InvalidArgumentError(
                f"Expected Tensor shape: [batch_size num_classes] but got {_tensor_shape(arr)}"
            )
        ok = arr.dtype.kind in "OSU" if want == "DT_STRING" else arr.dtype == np.float32
        if not ok:
            raise InvalidArgumentError(
                f"Expected {what} Tensor of {want}. Got: {_dt_name(arr.dtype)}"
            )
        if arr.shape[0] != num_examples:
            raise InvalidArgumentError(
                f"Expected {what} output batch size of {num_examples}. Got: {arr.shape[0]}"
            )
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InvalidArgumentError(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    num_classes = 0
    if classes is not None:
        num_classes = classes.shape[1]
    elif scores is not None:
        num_classes = scores.shape[1]
    if num_examples == 0:
        raise InvalidArgumentError("Cannot convert empty ClassificationResults to JSON")
    score_tokens = _float32_tokens(scores.ravel()) if scores is not None else None
    label_list = classes.ravel().tolist() if classes is not None else None
    zero = _float32_tokens(np.zeros(1, np.float32))[0]
    rows = []
    for i in range(num_examples):
        pairs = []
        for c in range(num_classes):
            j = i * num_classes + c
            label = label_list[j] if label_list is not None else b""
            if not isinstance(label, bytes):
                label = str(label).encode("utf-8")
            text = orjson.dumps(label.decode("utf-8", errors="replace")).decode("utf-8")
            pairs.append(f"[{text},{score_tokens[j] if score_tokens is not None else zero}]")
        rows.append("[" + ",".join(pairs) + "]")
    return ('{"results":[' + ",".join(rows) + "]}").encode("utf-8")


def regress_response(outputs: np.ndarray, num_examples: int) -> bytes:
    """``{"results": [value, ...]}`` from a regress signature's ``outputs``."""
    if outputs.dtype != np.float32:
        raise InvalidArgumentError(
            f"Expected output Tensor of DT_FLOAT. Got: {_dt_name(outputs.dtype)}"
        )
    if not (outputs.ndim == 1 or (outputs.ndim == 2 and outputs.shape[1] == 1)):
        raise InvalidArgumentError(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{_tensor_shape(outputs)}"
        )
    if outputs.shape[0] != num_examples:
        raise InvalidArgumentError(
            f"Input batch size did not match output batch size: {num_examples} vs. {outputs.shape[0]}"
        )
    if num_examples == 0:
        raise InvalidArgumentError("Cannot convert empty RegressionResults to JSON")
    return ('{"results":[' + ",".join(_float32_tokens(outputs.ravel())) + "]}").encode("utf-8")


def _dt_name(dtype: np.dtype) -> str:
    names = {
        "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int32": "DT_INT32", "int64": "DT_INT64",
        "int8": "DT_INT8", "int16": "DT_INT16", "uint8": "DT_UINT8", "uint16": "DT_UINT16",
        "uint32": "DT_UINT32", "uint64": "DT_UINT64", "bool": "DT_BOOL", "float16": "DT_HALF",
        "object": "DT_STRING", "complex64": "DT_COMPLEX64", "complex128": "DT_COMPLEX128",
    }  # fmt: skip
    return names.get(dtype.name, dtype.name)


def error_body(message: str) -> bytes:
    """``{"error": message}``, TF Serving's (and KServe's) error body."""
    import orjson

    return orjson.dumps({"error": message})
