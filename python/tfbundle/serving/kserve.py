"""KServe's Open Inference Protocol (v2) over REST: JSON tensors and the binary tensor extension.

An ``/infer`` request is a JSON object ``{"id"?, "parameters"?, "inputs": [{"name", "shape",
"datatype", "data" | "parameters": {"binary_data_size": n}}], "outputs"?: [{"name",
"parameters"?: {"binary_data": bool}}]}``. With the binary extension (Triton's, which
``tritonclient`` uses by default) the JSON is followed by the raw tensors, and the
``Inference-Header-Content-Length`` header gives the JSON's length; each input with
``binary_data_size`` takes that many bytes, in order (little-endian, row-major; each BYTES
element prefixed by its 4-byte length). Outputs are answered in binary when their
``binary_data`` parameter, or the request's ``binary_data_output``, says so.

tfbundle serves a model's ``serving_default`` signature (or its only one) on this protocol; the
request parameter ``signature_name`` picks another.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, UnimplementedError

__all__ = ["datatype", "decode_request", "encode_response", "tensor_metadata"]

HEADER_LENGTH = "inference-header-content-length"

_BY_TF = {
    "DT_BOOL": "BOOL",
    "DT_UINT8": "UINT8",
    "DT_UINT16": "UINT16",
    "DT_UINT32": "UINT32",
    "DT_UINT64": "UINT64",
    "DT_INT8": "INT8",
    "DT_INT16": "INT16",
    "DT_INT32": "INT32",
    "DT_INT64": "INT64",
    "DT_HALF": "FP16",
    "DT_FLOAT": "FP32",
    "DT_DOUBLE": "FP64",
    "DT_STRING": "BYTES",
    "DT_BFLOAT16": "BF16",
}
_NUMPY = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}


def datatype(tf_dtype: str) -> str:
    """The v2 datatype of a TensorFlow DataType (``DT_FLOAT`` -> ``FP32``)."""
    return _BY_TF.get(tf_dtype, tf_dtype.removeprefix("DT_"))


def tensor_metadata(spec: Any) -> dict[str, Any]:
    """``{"name", "datatype", "shape"}`` of a signature input or output (-1 for unknown sizes)."""
    shape = [-1] if spec.shape is None else [-1 if d is None else int(d) for d in spec.shape]
    return {"name": spec.name, "datatype": datatype(spec.tf_dtype), "shape": shape}


def _bytes_elements(raw: bytes | memoryview, name: str) -> list[bytes]:
    out = []
    pos, end = 0, len(raw)
    while pos < end:
        if pos + 4 > end:
            raise InvalidArgumentError(
                f"input '{name}': truncated BYTES element length at byte {pos}"
            )
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + n > end:
            raise InvalidArgumentError(
                f"input '{name}': BYTES element of {n} bytes runs past the tensor's data"
            )
        out.append(bytes(raw[pos : pos + n]))
        pos += n
    return out


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def decode_request(
    header: dict[str, Any], binary: memoryview, model: str, specs: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], list[str] | None, set[str], bool]:
    """The inputs of an /infer request, checked against the signature's inputs.

    Returns:
        (input name -> array, the outputs asked for or None for all, the outputs to send in
        binary, whether every output goes in binary by default).
    """
    inputs = header.get("inputs")
    if not isinstance(inputs, list):
        raise InvalidArgumentError("the request has no 'inputs' list")
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for item in inputs:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidArgumentError("each input must be an object with a 'name'")
        name = item["name"]
        if name not in specs:
            raise InvalidArgumentError(f"unexpected inference input '{name}' for model '{model}'")
        spec = specs[name]
        want = datatype(spec.tf_dtype)
        dt = item.get("datatype")
        if dt != want:
            raise InvalidArgumentError(
                f"inference input '{name}' data-type is '{dt}', but model '{model}' expects '{want}'"
            )
        shape = item.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise InvalidArgumentError(
                f"input '{name}': 'shape' must be a list of non-negative integers"
            )
        if spec.shape is not None and (
            len(shape) != len(spec.shape)
            or any(s is not None and s != d for s, d in zip(spec.shape, shape))
        ):
            expected = "[" + ",".join("-1" if s is None else str(s) for s in spec.shape) + "]"
            raise InvalidArgumentError(
                f"unexpected shape for input '{name}' for model '{model}'. Expected {expected}, got "
                f"[{','.join(map(str, shape))}]"
            )
        count = int(np.prod(shape, dtype=np.int64))
        params = item.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise InvalidArgumentError(
                    f"input '{name}': binary_data_size {size} runs past the {len(binary)} bytes after the JSON header"
                )
            raw = binary[offset : offset + size]
            offset += size
            if dt == "BYTES":
                values = _bytes_elements(raw, name)
                if len(values) != count:
                    raise InvalidArgumentError(
                        f"input '{name}': {len(values)} BYTES elements for shape {shape} ({count} elements)"
                    )
                arr = np.empty(count, dtype=object)
                arr[:] = values
                arrays[name] = arr.reshape(shape)
                continue
            np_dtype = _NUMPY.get(dt)
            if np_dtype is None:
                raise UnimplementedError(f"input '{name}': datatype {dt} is not supported")
            if size != count * np_dtype.itemsize:
                raise InvalidArgumentError(
                    f"input '{name}': {size} bytes of binary data for shape {shape} of {dt}, "
                    f"expected {count * np_dtype.itemsize}"
                )
            arrays[name] = (
                np.frombuffer(raw, dtype=np_dtype)
                .reshape(shape)
                .astype(np_dtype.newbyteorder("="), copy=True)
            )
            continue
        if "data" not in item:
            raise InvalidArgumentError(
                f"input '{name}' has neither 'data' nor a binary_data_size parameter"
            )
        flat = _flatten(item["data"])
        if len(flat) != count:
            raise InvalidArgumentError(
                f"input '{name}': {len(flat)} values in 'data' for shape {shape} ({count} elements)"
            )
        if dt == "BYTES":
            if not all(isinstance(v, str) for v in flat):
                raise InvalidArgumentError(f"input '{name}': BYTES data must be strings")
            arr = np.empty(count, dtype=object)
            arr[:] = [v.encode("utf-8") for v in flat]
            arrays[name] = arr.reshape(shape)
            continue
        np_dtype = _NUMPY.get(dt)
        if np_dtype is None:
            raise UnimplementedError(f"input '{name}': datatype {dt} is not supported")
        ok = (
            all(isinstance(v, bool) for v in flat)
            if dt == "BOOL"
            else all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat)
        )
        if not ok or (dt[0] in "IU" and not all(isinstance(v, int) for v in flat)):
            raise InvalidArgumentError(f"input '{name}': 'data' holds values that are not {dt}")
        try:
            arrays[name] = np.array(flat, dtype=np_dtype).reshape(shape)
        except OverflowError:
            raise InvalidArgumentError(f"input '{name}': a value does not fit in {dt}") from None
    if offset != len(binary):
        raise InvalidArgumentError(
            f"the request has {len(binary) - offset} bytes of binary data that no input's "
            "binary_data_size claims"
        )
    missing = sorted(set(specs) - set(arrays))
    if missing:
        raise InvalidArgumentError(
            f"expected {len(specs)} inputs but got {len(arrays)} inputs for model '{model}' "
            f"(missing {', '.join(missing)})"
        )
    request_params = header.get("parameters") or {}
    binary_default = bool(
        isinstance(request_params, dict) and request_params.get("binary_data_output")
    )
    wanted: list[str] | None = None
    binary_outputs: set[str] = set()
    outputs = header.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list):
            raise InvalidArgumentError("'outputs' must be a list")
        wanted = []
        for out in outputs:
            if not isinstance(out, dict) or not isinstance(out.get("name"), str):
                raise InvalidArgumentError("each requested output must be an object with a 'name'")
            wanted.append(out["name"])
            p = out.get("parameters") or {}
            if isinstance(p, dict) and p.get("binary_data", binary_default):
                binary_outputs.add(out["name"])
    return arrays, wanted, binary_outputs, binary_default


def encode_response(
    header: dict[str, Any],
    outputs: Mapping[str, np.ndarray],
    specs: Mapping[str, Any],
    binary_outputs: set[str] | None,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it.

    Args:
        header: ``model_name``, ``model_version``, ``id`` (what goes before ``outputs``).
        outputs: name -> array, in the order to send.
        specs: the signature's outputs (their DataTypes).
        binary_outputs: the outputs to send in binary; None: all of them.
    """
    import orjson

    items = []
    blobs = []
    for name, arr in outputs.items():
        arr = np.asarray(arr)
        dt = datatype(specs[name].tf_dtype) if name in specs else "BYTES"
        entry: dict[str, Any] = {"name": name, "datatype": dt, "shape": list(arr.shape)}
        if binary_outputs is None or name in binary_outputs:
            if dt == "BYTES":
                parts = []
                for v in arr.ravel().tolist():
                    b = v if isinstance(v, bytes) else str(v).encode("utf-8")
                    parts.append(struct.pack("<I", len(b)))
                    parts.append(b)
                blob = b"".join(parts)
            else:
                np_dtype = _NUMPY.get(dt)
                if np_dtype is None:
                    raise UnimplementedError(f"output '{name}': datatype {dt} cannot be sent")
                blob = np.ascontiguousarray(arr, dtype=np_dtype).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif dt == "BYTES":
            entry["data"] = [
                (v if isinstance(v, bytes) else str(v).encode("utf-8")).decode(
                    "utf-8", errors="replace"
                )
                for v in arr.ravel().tolist()
            ]
        else:
            if _NUMPY.get(dt) is None or dt == "FP16":
                entry["data"] = arr.ravel().astype(np.float32 if dt == "FP16" else object).tolist()
            else:
                entry["data"] = np.ascontiguousarray(arr.ravel())
        items.append(entry)
    body = dict(header)
    body["outputs"] = items
    text = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return text, None
    return text + b"".join(blobs), len(text)
