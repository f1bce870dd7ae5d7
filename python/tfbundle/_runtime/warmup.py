"""Warmup: replaying ``assets.extra/tf_serving_warmup_requests`` the way TF Serving does.

TensorFlow prepares a graph for a given set of feeds and fetches at the first
run that uses it (pruning, Grappler, kernel creation), so the first requests
after a load are much slower than the rest. TF Serving hides that by running
requests recorded next to the model before it serves it. The file is a
TFRecord file of ``tensorflow.serving.PredictionLog`` records; this module reads
it (checking every record's masked CRC-32C) and runs each request against the
loaded model:

- ``predict_log``: the PredictRequest's inputs (TensorProtos) through its
  signature (``serving_default`` when unnamed), fetching its ``output_filter``
  or every output;
- ``classify_log`` / ``regress_log``: the request's tf.Examples, serialized
  into one string tensor, through a classify / regress signature's ``inputs``
  (a context example is prepended to each example's bytes, which protobuf
  merges as TF Serving does);
- ``multi_inference_log``: the tasks' classify/regress signatures in one run;
- ``session_run_log`` is refused (TF Serving refuses it too); records with no
  request or a streamed predict request are skipped, as TF Serving skips them.

As in TF Serving, a file of more than 1000 records is refused, and any failing
request fails the warmup with an error naming the record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._base.paths import PathLike
from .._proto import parsing as gp
from .._readers.tfrecord import RecordError, iter_record_batches
from ..errors import (
    DataLossError,
    Error,
    InvalidArgumentError,
    NotFoundError,
    UnimplementedError,
    error_for_code,
)

__all__ = ["MAX_RECORDS", "WarmupReport", "read_tfrecords", "replay_warmup", "warmup_file"]


#: TF Serving refuses warmup files with more records than this.
MAX_RECORDS = 1000
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"


@dataclass
class WarmupReport:
    """What a warmup replay did.

    Attributes:
        path: the warmup file, or None when the model has none (then nothing ran).
        records: records read from the file.
        ran: requests run (a record is run ``iterations`` times).
        skipped: records TF Serving skips too (no request, or a streamed predict).
        by_kind: records per kind: ``{"predict": 3, "classify": 1, ...}``.
        seconds: wall time of the replay.
    """

    path: str | None
    records: int = 0
    ran: int = 0
    skipped: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.path is None:
            return "no warmup file"
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.by_kind.items())) or "none"
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return f"{self.ran} warmup requests run from {self.records} records ({kinds}{skipped}) in {self.seconds:.3f} s"


def read_tfrecords(path: PathLike, *, limit: int | None = None) -> Iterator[bytes]:
    """Yields the records of a TFRecord file, checking each length's and data's masked CRC-32C.

    The framing is read by :mod:`tfbundle._readers.tfrecord` (as the scorer reads it); its
    errors are reworded here for warmup files, counting records from 1.

    Args:
        path: the file.
        limit: refuse files with more records than this (InvalidArgumentError).

    Raises:
        NotFoundError: no such file.
        DataLossError: a truncated record or a checksum mismatch (the message
            names the byte offset), or a compressed file.
        InvalidArgumentError: more records than ``limit``.
    """
    p = Path(os.fspath(path))
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise NotFoundError(f"{p} does not exist") from None
    if head.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd")):
        raise DataLossError(
            f"{p} is compressed (gzip or zstd): warmup requests must be an uncompressed TFRecord file"
        )
    count = 0
    # One record at a time: the records before a bad one run first, as they always did.
    try:
        with closing(iter_record_batches(p, 1, compression=None)) as batches:
            for batch in batches:
                count += 1
                if limit is not None and count > limit:
                    raise InvalidArgumentError(
                        f"{p} holds more than {limit} warmup records, the maximum TF Serving "
                        f"accepts: keep at most {limit}"
                    )
                yield batch[0]
    except RecordError as e:
        raise DataLossError(_record_error_message(p, e)) from None


def _record_error_message(path: Path, e: RecordError) -> str:
    """The reader's error about a warmup file, worded for it (records counted from 1)."""
    at = f"at byte {e.offset}"
    n = e.index + 1
    hint = ". Please verify your warmup data is in TFRecord format"
    if e.what == "corrupted record":
        return f"{path}: corrupted record {at} (record {n}): checksum mismatch{hint}"
    if e.what == "truncated record":
        return f"{path}: truncated record {at} (record {n} says {e.length} bytes, {e.available} are there){hint}"
    return f"{path}: {e.what} {at} (record {n}){hint}"


def warmup_file(export_dir: PathLike) -> Path | None:
    """``EXPORT_DIR/assets.extra/tf_serving_warmup_requests`` if it exists, else None."""
    p = Path(os.fspath(export_dir), WARMUP_FILE)
    return p if p.is_file() else None


# ------------------------------------------------------------------ requests ---


def _examples_tensor(input_msg: Any, what: str) -> np.ndarray:
    """The Input's tf.Examples, serialized, as a 1-D string array (as TF Serving builds it)."""
    kind = input_msg.WhichOneof("kind")
    if kind == "example_list":
        examples = [e.SerializeToString() for e in input_msg.example_list.examples]
    elif kind == "example_list_with_context":
        with_context = input_msg.example_list_with_context
        context = with_context.context.SerializeToString()
        examples = [context + e.SerializeToString() for e in with_context.examples]
    else:
        examples = []
    if not examples:
        raise InvalidArgumentError(
            f"{what}: the request's input holds no tf.Example (Input is empty)"
        )
    out = np.empty(len(examples), dtype=object)
    out[:] = examples
    return out


def _signature(model: Any, spec: Any, what: str) -> Any:
    name = spec.signature_name or DEFAULT_SIGNATURE
    if name not in model.signatures:
        names = ", ".join(repr(k) for k in model.signatures) or "none"
        raise NotFoundError(f"{what}: the model has no signature {name!r}; it has {names}")
    return model.signatures[name]


def _check_method(sig: Any, method: str, what: str) -> None:
    if sig.method_name != method:
        raise InvalidArgumentError(
            f"{what}: signature {sig.name!r} has method_name {sig.method_name!r}, expected {method!r}"
        )


def _example_signature_tensors(
    sig: Any, method: str, what: str
) -> tuple[str, list[tuple[str, str]]]:
    """(input tensor, [(output key, tensor)]) of a classify or regress signature."""
    _check_method(sig, method, what)
    if list(sig.inputs) != ["inputs"]:
        raise InvalidArgumentError(
            f"{what}: signature {sig.name!r} must take one input named 'inputs', it takes {list(sig.inputs)}"
        )
    wanted = ("classes", "scores") if method == CLASSIFY_METHOD else ("outputs",)
    outs = [(k, sig.outputs[k].tensor_name) for k in wanted if k in sig.outputs]
    if not outs:
        raise InvalidArgumentError(
            f"{what}: signature {sig.name!r} has none of the outputs {', '.join(wanted)} a "
            f"{method.rsplit('/', 1)[-1]} request reads"
        )
    return sig.inputs["inputs"].tensor_name, outs


def _run_predict(model: Any, request: Any, what: str) -> None:
    sig = _signature(model, request.model_spec, what)
    inputs = {
        key: gp.tensor_to_numpy(proto, f"{what}: input {key!r}")
        for key, proto in request.inputs.items()
    }
    outputs = list(request.output_filter) or None
    if outputs is not None:
        unknown = [o for o in outputs if o not in sig.outputs]
        if unknown:
            raise InvalidArgumentError(
                f"{what}: output_filter names {', '.join(map(repr, unknown))}, which signature {sig.name!r} "
                f"does not have; it has {', '.join(map(repr, sig.outputs))}"
            )
    sig.run(inputs, outputs)


def _run_examples(model: Any, request: Any, method: str, what: str) -> None:
    sig = _signature(model, request.model_spec, what)
    _, outs = _example_signature_tensors(sig, method, what)
    sig.run({"inputs": _examples_tensor(request.input, what)}, [key for key, _ in outs])


def _run_multi_inference(model: Any, request: Any, what: str) -> None:
    if not request.tasks:
        raise InvalidArgumentError(f"{what}: the multi-inference request has no tasks")
    feeds: set[str] = set()
    fetches: list[str] = []
    seen: set[str] = set()
    for task in request.tasks:
        method = task.method_name
        if method not in (CLASSIFY_METHOD, REGRESS_METHOD):
            raise UnimplementedError(
                f"{what}: multi-inference task method {method!r} is not classify or regress"
            )
        sig = _signature(model, task.model_spec, what)
        if sig.name in seen:
            raise InvalidArgumentError(f"{what}: the signature {sig.name!r} is evaluated twice")
        seen.add(sig.name)
        tensor, outs = _example_signature_tensors(sig, method, what)
        feeds.add(tensor)
        fetches.extend(t for _, t in outs if t not in fetches)
    examples = _examples_tensor(request.input, what)
    model.run(fetches, dict.fromkeys(feeds, examples))


def _run_record(model: Any, log: Any, what: str) -> str | None:
    """Runs one PredictionLog; returns its kind, or None when TF Serving skips it."""
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        _run_predict(model, log.predict_log.request, what)
        return "predict"
    if kind == "classify_log":
        _run_examples(model, log.classify_log.request, CLASSIFY_METHOD, what)
        return "classify"
    if kind == "regress_log":
        _run_examples(model, log.regress_log.request, REGRESS_METHOD, what)
        return "regress"
    if kind == "multi_inference_log":
        _run_multi_inference(model, log.multi_inference_log.request, what)
        return "multi_inference"
    if kind == "session_run_log":
        raise UnimplementedError(
            f"{what}: SessionRun warmup records are not supported (TF Serving refuses them too); use "
            "predict, classify, regress or multi-inference records"
        )
    return None


def replay_warmup(model: Any, path: PathLike | None = None, *, iterations: int = 1) -> WarmupReport:
    """Runs a model's warmup requests, as TF Serving does before it serves a model.

    Args:
        model: a loaded :class:`tfbundle.Model`.
        path: the TFRecord file of PredictionLog records; by default
            ``MODEL_DIR/assets.extra/tf_serving_warmup_requests`` (a model
            without one is fine: nothing runs).
        iterations: how many times each request runs (TF Serving's
            ``num_request_iterations``, default 1).

    Returns:
        A :class:`WarmupReport` (``report.ran`` requests ran).

    Raises:
        DataLossError: a corrupt or truncated file, or a record that is not a
            PredictionLog.
        InvalidArgumentError: more than 1000 records, or a request that does
            not fit the model's signatures (the message names the record).
        UnimplementedError: a SessionRun record.
        Error: TensorFlow's error from running a request, with the record named.
    """
    if not isinstance(iterations, int) or iterations < 1:
        raise InvalidArgumentError(f"iterations must be a positive int, got {iterations!r}")
    if path is None:
        found = warmup_file(model.path)
        if found is None:
            return WarmupReport(path=None)
        path = found
    path = str(path)
    start = time.perf_counter()
    report = WarmupReport(path=path)
    for index, record in enumerate(read_tfrecords(path, limit=MAX_RECORDS)):
        what = f"warmup record {index + 1} of {path}"
        log = gp.parse("PredictionLog", bytes(record), what)
        report.records += 1
        kind = None
        for _ in range(iterations):
            try:
                kind = _run_record(model, log, what)
            except Error as e:
                if e.message.startswith(what):
                    raise
                raise error_for_code(e.code, f"{what}: {e.message}") from None
            except TypeError as e:
                raise InvalidArgumentError(f"{what}: {e}") from None
            if kind is None:
                break
            report.ran += 1
        if kind is None:
            report.skipped += 1
        else:
            report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
    report.seconds = time.perf_counter() - start
    return report
