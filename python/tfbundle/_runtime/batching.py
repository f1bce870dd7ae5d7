"""In-process dynamic batching, with TF Serving's parameters: ``Batcher``.

    >>> batcher = tfbundle.Batcher(model, max_batch_size=64, batch_timeout_micros=500)
    >>> batcher(x=rows)                      # from any thread: blocks until its rows are back
    >>> await batcher.acall(x=rows)          # from asyncio: the loop never blocks
    >>> batcher.close()

Many small requests (each with a batch dimension, dim 0, of one row or more) are joined
along dim 0 into one run of the signature, and the outputs are split back by rows. As in
TF Serving's basic batch scheduler, a batch is run once it is full, or once its first
request has waited ``batch_timeout_micros`` and a batch thread is free; at most
``max_enqueued_batches`` batches wait, and a request beyond that is refused with
``ResourceExhaustedError`` at once.

Only requests that can be joined share a batch: the same signature, and for each input
the same dtype and the same dimensions after dim 0 (with ``pad_variable_length_inputs``,
the same rank: shorter dimensions are padded). Others are batched apart.

Two paths run the requests. A signature whose inputs and outputs are all numeric goes through
the native queue (``_core.NativeBatchQueue``, cpp/batch_queue.h): the request's arrays are
checked and copied into its batch's buffers in C++, a blocking caller waits without the GIL
(and runs its batch itself when it is ready and a slot is free), and the batch runs with
TF_SessionRun through the signature's session; each request gets new arrays holding its rows.
The blocking callers a batch answers are woken one after another (each, once it holds the GIL,
wakes the next), not all at once to queue for the GIL. A value that is not a C-ordered array of
the input's dtype (a list, a strided view) goes through ``prepare``'s checks and conversion
first, so that errors read the same on both paths. For a ModelRepository,
a request runs on the version served when it came (kept open until the request is answered).
String inputs or outputs and ``pad_variable_length_inputs`` take the Python path below (on a
repository, each batch runs on the version served when it starts), whose results are views of
the batch's outputs.
"""

from __future__ import annotations

import concurrent.futures
import copy
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import _core
from ..errors import (
    ClosedError,
    DeadlineExceededError,
    InvalidArgumentError,
    InvalidTypeError,
    ResourceExhaustedError,
)
from .model import Model, Signature, empty

__all__ = ["Batcher"]

_STRING_KINDS = frozenset("OSU")


class _Task:
    """One request: its arrays, rows, deadline and the future its caller waits on."""

    __slots__ = ("deadline", "future", "inputs", "size")

    def __init__(self, inputs: dict[str, np.ndarray], size: int, deadline: float | None) -> None:
        self.inputs = inputs
        self.size = size
        self.deadline = deadline
        self.future: concurrent.futures.Future[dict[str, np.ndarray]] = concurrent.futures.Future()


class _Batch:
    """Requests that can run together, in the order they came."""

    __slots__ = ("created", "key", "names", "signature", "size", "tasks")

    def __init__(self, key: tuple[Any, ...], signature: str, names: tuple[str, ...], created: float) -> None:
        self.key = key
        self.signature = signature
        self.names = names
        self.created = created
        self.tasks: list[_Task] = []
        self.size = 0


class _SigInfo:
    """What a request to one signature is checked against (made once per Signature object)."""

    __slots__ = ("error", "names", "native", "specs")

    def __init__(self, sig: Signature, native: bool) -> None:
        self.names = tuple(sig.inputs)
        self.specs = dict(sig.inputs)
        self.error: str | None = _unbatchable(sig)
        # The signature as the native queue runs it: None for the Python path.
        self.native: Any = None
        if native and self.error is None and _numeric(sig):
            try:
                shapes = {k: spec.shape for k, spec in sig.inputs.items()}
                self.native = _core.NativeBatchSignature(sig._native, sig.name, shapes)
            except Exception:  # noqa: BLE001 - e.g. an input that is not a plain tensor: Python path
                self.native = None


def _numeric(sig: Signature) -> bool:
    specs = (*sig.inputs.values(), *sig.outputs.values())
    return all(spec.dtype is not None and spec.dtype.kind not in _STRING_KINDS for spec in specs)


def _unbatchable(sig: Signature) -> str | None:
    """Why the signature cannot be batched (its specs say so), or None."""
    where = f"signature {sig.name!r} cannot be batched"
    if not sig.inputs:
        return f"{where}: it has no inputs to join"
    for side, specs in (("input", sig.inputs), ("output", sig.outputs)):
        for key, spec in specs.items():
            if spec.dtype is None:
                return f"{where}: its {side} {key!r} is a {spec.tf_dtype} tensor, which has no numpy form"
            if spec.shape is not None and len(spec.shape) == 0:
                return f"{where}: its {side} {key!r} is a scalar, with no batch dimension to join or split"
            if spec.shape is not None and spec.shape[0] is not None:
                return (
                    f"{where}: its {side} {key!r} has a fixed dim 0 of {spec.shape[0]}, not a batch "
                    "dimension of any size"
                )
    return None


def _dtype_key(dtype: np.dtype) -> Any:
    return "string" if dtype.kind in _STRING_KINDS else dtype


def _exception_for_each(error: BaseException) -> BaseException:
    """A copy of a batch's error for one of its requests (one traceback each)."""
    try:
        clone = copy.copy(error)
    except Exception:  # noqa: BLE001 - an exception that does not copy is shared
        return error
    clone.__cause__ = error.__cause__
    return clone


def _check_number(name: str, value: Any, minimum: int, integer: bool = True) -> None:
    number = isinstance(value, int) or (not integer and isinstance(value, float))
    if isinstance(value, bool) or not number or not value >= minimum:  # NaN too
        what = "an integer" if integer else "a number"
        raise InvalidArgumentError(f"{name} must be {what} >= {minimum}, got {value!r}")


class _Target:
    """What the batches run on: a Signature, a Model, or a ModelRepository (its current version)."""

    def __init__(self, target: Any, signature: str | None) -> None:
        from .repository import ModelRepository, _SignatureProxy

        self.repository: Any = None
        self.model: Model | None = None
        self.fixed: Signature | None = None
        if isinstance(target, Signature):
            self.fixed = target
            self.default = target.name
        elif isinstance(target, Model):
            self.model = target
            self.default = target.signatures[signature].name if signature else target.default_signature.name
        elif isinstance(target, ModelRepository):
            self.repository = target
            self.default = target.signatures[signature].name if signature else target.model.default_signature.name
        elif isinstance(target, _SignatureProxy):
            self.repository = target._repo
            self.default = target.name
        else:
            raise InvalidTypeError(
                "Batcher batches a tfbundle.Signature, Model or ModelRepository (or repository.signature(name)), "
                f"got {type(target).__name__}"
            )
        self.bound = self.fixed is not None or isinstance(target, _SignatureProxy)
        if self.bound and signature is not None and signature != self.default:
            raise InvalidArgumentError(
                f"signature={signature!r}, but the Batcher was given the signature {self.default!r} itself"
            )

    def signature(self, name: str | None) -> Signature:
        """The Signature a request to ``name`` is checked against (the current version's)."""
        if name is None or name == self.default:
            if self.fixed is not None:
                return self.fixed
            name = self.default
        elif self.bound:
            raise InvalidArgumentError(
                f"signature={name!r}, but this Batcher runs only the signature {self.default!r}"
            )
        if self.model is not None:
            return self.model.signatures[name]
        return self.repository.signatures[name]

    def run(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.fixed is not None:
            return self.fixed(**inputs)
        if self.model is not None:
            return self.model.signatures[name](**inputs)
        with self.repository.acquire() as model:
            return model.signatures[name](**inputs)


class _Scheduler:
    """The queues and batch threads of one Batcher (the threads hold this, not the Batcher)."""

    def __init__(
        self,
        target: _Target,
        max_batch_size: int,
        batch_timeout: float,
        max_enqueued_batches: int,
        allowed_batch_sizes: tuple[int, ...] | None,
        pad_variable_length_inputs: bool,
        slots: int = 1,
        run_when_idle: bool = False,
    ) -> None:
        self.target = target
        # Batches that may run at once (num_batch_threads), whether a batch thread or a blocking
        # caller runs them, and how many run now.
        self.slots = slots
        self.running = 0
        self.max_batch_size = max_batch_size
        self.timeout = batch_timeout
        self.max_enqueued_batches = max_enqueued_batches
        self.allowed = allowed_batch_sizes
        self.pad_inner = pad_variable_length_inputs
        self.run_when_idle = run_when_idle
        self.cond = threading.Condition(threading.Lock())
        self.queues: dict[tuple[Any, ...], deque[_Batch]] = {}
        self.enqueued_batches = 0
        self.queued_requests = 0
        self.closing = False
        self.infos: weakref.WeakKeyDictionary[Signature, _SigInfo] = weakref.WeakKeyDictionary()
        self.threads: list[threading.Thread] = []
        self.python_threads_started = False
        # The native queue (numeric signatures of a Model or Signature), and whether requests use it.
        self.native: Any = None
        self.use_native = True
        self.default_native: Any = None  # the default signature's NativeBatchSignature, once known
        if not pad_variable_length_inputs:
            self.native = _core.NativeBatchQueue(
                max_batch_size=max_batch_size,
                batch_timeout_micros=batch_timeout * 1e6,
                max_enqueued_batches=max_enqueued_batches,
                num_batch_threads=slots,
                allowed_batch_sizes=list(allowed_batch_sizes or ()),
                run_when_idle=run_when_idle,
            )
        self.counts = dict.fromkeys(
            ("requests", "batches", "padding_rows", "rejected", "deadline_exceeded", "cancelled", "errors"), 0
        )
        self.batch_sizes: dict[int, int] = {}

    # ------------------------------------------------------------- requests ---

    def info(self, sig: Signature) -> _SigInfo:
        info = self.infos.get(sig)
        if info is None:
            info = self.infos[sig] = _SigInfo(sig, self.native is not None)
        return info

    def start_threads(self) -> None:
        """Starts the batch threads: the native queue's, and the Python path's once it has a request."""
        native = self.native is not None
        if native:
            for i in range(self.slots):
                thread = threading.Thread(target=self.native.work, name=f"tfbundle-batcher-{i}", daemon=True)
                self.threads.append(thread)
                thread.start()
        else:
            self.start_python_threads()

    def start_python_threads(self) -> None:
        with self.cond:
            if self.python_threads_started:
                return
            self.python_threads_started = True
            prefix = "tfbundle-batcher-py" if self.native is not None else "tfbundle-batcher"
            for i in range(self.slots):
                thread = threading.Thread(target=self.work, name=f"{prefix}-{i}", daemon=True)
                self.threads.append(thread)
                thread.start()

    def native_info(self, signature: str | None) -> tuple[_SigInfo | None, Any]:
        """The request's signature's info when the native queue runs it (else None), and for a
        repository the version it is bound to, entered (the caller leaves it once answered):
        the request runs on the version served when it came, which stays open until then."""
        if self.native is None or not self.use_native:
            return None, None
        target = self.target
        repository = target.repository
        if repository is None:
            info = self.info(target.signature(signature))
            if signature is None:
                self.default_native = info.native
            return (info if info.native is not None else None), None
        name = target.signature(signature).name
        served = repository._enter()
        try:
            info = self.info(served.model.signatures[name])
        except BaseException:
            repository._exit(served)
            raise
        if info.native is None:
            repository._exit(served)
            return None, None
        return info, served

    def call(self, signature: str | None, inputs: Mapping[str, Any], timeout: float | None) -> dict[str, np.ndarray]:
        """A blocking request."""
        if signature is None and timeout is None and self.use_native and self.default_native is not None:
            out = self.native.call(self.default_native, inputs, None)  # the shortest path
            if out is not None:
                return out
        if timeout is not None:
            _check_number("timeout", timeout, 0, integer=False)
        info, served = self.native_info(signature)
        if info is not None:
            try:
                out = self.native.call(info.native, inputs, timeout)
                if out is None:
                    out = self.native.call(info.native, self.checked(signature, inputs), timeout)
            finally:
                if served is not None:
                    self.target.repository._exit(served)
            if out is not None:
                return out
        future = self.submit(signature, inputs, timeout, run_here=True, python=True)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.cancel() or not future.done():
                raise DeadlineExceededError(f"the request took more than its timeout of {timeout} s") from None
            return future.result()  # it finished just now (or the batch's own error, which may be a TimeoutError)

    def checked(self, signature: str | None, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The request's arrays after Python's checks (which raise for an invalid request), C-ordered."""
        _, _, arrays, _, _ = self.prepare(signature, inputs)
        return {k: np.ascontiguousarray(a) for k, a in arrays.items()}

    def submit_future(
        self, signature: str | None, inputs: Mapping[str, Any], timeout: float | None
    ) -> concurrent.futures.Future[dict[str, np.ndarray]]:
        """A request answered through a future (Batcher.submit, acall)."""
        if timeout is not None:
            _check_number("timeout", timeout, 0, integer=False)
        info, served = self.native_info(signature)
        if info is None:
            return self.submit(signature, inputs, timeout, python=True)
        future: concurrent.futures.Future[dict[str, np.ndarray]] = concurrent.futures.Future()
        native = self.native
        repository = self.target.repository
        try:
            task = native.submit(info.native, inputs, timeout, future)
            if task is None:
                task = native.submit(info.native, self.checked(signature, inputs), timeout, future)
        except BaseException:
            if served is not None:
                repository._exit(served)
            raise
        if task is None:
            if served is not None:
                repository._exit(served)
            return self.submit(signature, inputs, timeout, python=True)

        def answered(f: concurrent.futures.Future[dict[str, np.ndarray]]) -> None:
            if f.cancelled():
                native.cancel(task)  # takes it out of its batch if the batch has not started
            if served is not None:
                repository._exit(served)

        future.add_done_callback(answered)
        return future

    def prepare(
        self, signature: str | None, inputs: Mapping[str, Any]
    ) -> tuple[str, _SigInfo, dict[str, np.ndarray], int, tuple[Any, ...]]:
        """Checks one request and puts its inputs in array form (in the caller's thread)."""
        sig = self.target.signature(signature)
        info = self.info(sig)
        if info.error is not None:
            raise InvalidArgumentError(info.error)
        if len(inputs) != len(info.names) or any(k not in inputs for k in info.names):
            missing = [k for k in info.names if k not in inputs]
            unknown = sorted(k for k in inputs if k not in info.specs)
            raise InvalidArgumentError(
                f"signature {sig.name!r} takes the inputs {', '.join(map(repr, info.names))}"
                + (f"; missing {', '.join(map(repr, missing))}" if missing else "")
                + (f"; unknown {', '.join(map(repr, unknown))}" if unknown else "")
            )
        arrays: dict[str, np.ndarray] = {}
        shape_key: list[Any] = []
        size = -1
        for name in info.names:
            spec = info.specs[name]
            value = inputs[name]
            want = spec.dtype
            is_string = want is not None and want.kind == "O"
            if isinstance(value, np.ndarray):
                a = value
            else:
                a = np.asarray(value) if is_string else np.asarray(value, dtype=want)
            if is_string:
                if a.dtype.kind not in _STRING_KINDS:
                    raise InvalidTypeError(f"input {name!r} is a string input, got an array of {a.dtype}")
            elif a.dtype != want:
                raise InvalidTypeError(f"input {name!r} wants {want}, got an array of {a.dtype}")
            if a.ndim == 0 or a.shape[0] == 0:
                raise InvalidArgumentError(
                    f"input {name!r} has shape {a.shape}: a batched request carries a batch dimension "
                    "(dim 0) of size >= 1 on every input"
                )
            known = spec.shape
            if known is not None and (
                len(known) != a.ndim or any(d is not None and d != n for d, n in zip(known[1:], a.shape[1:]))
            ):
                shown = tuple(-1 if d is None else d for d in known)
                raise InvalidArgumentError(f"input {name!r} has shape {a.shape}, the signature wants {shown}")
            if size < 0:
                size = a.shape[0]
            elif a.shape[0] != size:
                raise InvalidArgumentError(
                    f"the inputs disagree on the batch size (dim 0): {name!r} has {a.shape[0]} rows, "
                    f"{info.names[0]!r} has {size}"
                )
            arrays[name] = a
            shape_key.append((_dtype_key(a.dtype), a.ndim if self.pad_inner else a.shape[1:]))
        if size > self.max_batch_size:
            raise InvalidArgumentError(
                f"a request of {size} rows is larger than max_batch_size={self.max_batch_size}: send it in "
                "parts of at most that many rows, or call the signature directly"
            )
        return sig.name, info, arrays, size, (sig.name, *shape_key)

    def submit(
        self,
        signature: str | None,
        inputs: Mapping[str, Any],
        timeout: float | None,
        run_here: bool = False,
        python: bool = False,
    ) -> concurrent.futures.Future[dict[str, np.ndarray]]:
        """Queues a request on the Python path. With ``run_here`` (a blocking caller), when the
        request's batch is ready at once and a slot is free, the caller's thread takes the batch
        and runs it itself: no hand-off to a batch thread and back."""
        if not python:
            return self.submit_future(signature, inputs, timeout)
        if timeout is not None:
            _check_number("timeout", timeout, 0, integer=False)
        if not self.python_threads_started:
            self.start_python_threads()
        name, info, arrays, size, key = self.prepare(signature, inputs)
        now = time.monotonic()  # one clock reading per request: its deadline, its batch's start
        task = _Task(arrays, size, None if timeout is None else now + timeout)
        with self.cond:
            if self.closing:
                raise ClosedError("the Batcher was closed")
            queue = self.queues.get(key)
            if queue is not None and queue[-1].size + size <= self.max_batch_size:
                batch = queue[-1]
                wake = False
            else:
                if self.enqueued_batches >= self.max_enqueued_batches:
                    self.counts["rejected"] += 1
                    raise ResourceExhaustedError(
                        f"the Batcher's queue is full ({self.enqueued_batches} batches wait, "
                        f"max_enqueued_batches={self.max_enqueued_batches}): retry later"
                    )
                batch = _Batch(key, name, info.names, now)
                if queue is None:
                    queue = self.queues[key] = deque()
                queue.append(batch)
                self.enqueued_batches += 1
                wake = True
            batch.tasks.append(task)
            batch.size += size
            self.queued_requests += 1
            self.counts["requests"] += 1
            mine = None
            if run_here and self.running < self.slots and queue[0] is batch:
                ready = batch.size >= self.max_batch_size or batch.created + self.timeout <= now or self.run_when_idle
                if ready:
                    mine = self.take(batch)
            if mine is None and (wake or batch.size >= self.max_batch_size):
                self.cond.notify()
        if mine is not None:
            try:
                self.run(mine)
            finally:
                self.finished()
        return task.future

    def take(self, batch: _Batch) -> _Batch:
        """Takes the head batch of its queue to run, holding a slot. Holds the lock."""
        queue = self.queues[batch.key]
        queue.popleft()
        if not queue:
            del self.queues[batch.key]
        self.enqueued_batches -= 1
        self.queued_requests -= len(batch.tasks)
        self.running += 1
        return batch

    def finished(self) -> None:
        """A batch ran: its slot is free again."""
        with self.cond:
            self.running -= 1
            if self.queues or self.closing:
                self.cond.notify()

    # ------------------------------------------------------ batch threads ---

    def next_batch(self) -> _Batch | None:
        """The next batch to run, waiting for one; None once closed and drained. Holds the lock."""
        while True:
            now = time.monotonic()
            best: _Batch | None = None
            wake: float | None = None
            for queue in self.queues.values():
                head = queue[0]
                ready_at = head.created + self.timeout
                if (
                    len(queue) > 1
                    or head.size >= self.max_batch_size
                    or self.closing
                    or ready_at <= now
                    or self.run_when_idle
                ):
                    if best is None or head.created < best.created:
                        best = head
                elif wake is None or ready_at < wake:
                    wake = ready_at
            if best is not None and self.running < self.slots:
                self.take(best)
                if self.queues:
                    self.cond.notify()  # another batch may be ready for another thread
                return best
            if best is None and self.closing:
                return None
            # No batch ready, or every slot taken (finished() wakes a thread when one frees).
            self.cond.wait(None if wake is None or best is not None else wake - now)

    def work(self) -> None:
        while True:
            with self.cond:
                batch = self.next_batch()
            if batch is None:
                return
            try:
                self.run(batch)
            finally:
                self.finished()

    def padded_size(self, rows: int) -> int:
        if self.allowed is None:
            return rows
        for allowed in self.allowed:
            if allowed >= rows:
                return allowed
        return rows  # not reached: the last allowed size is max_batch_size

    def join(self, names: tuple[str, ...], live: list[_Task], rows: int, padded: int) -> dict[str, np.ndarray]:
        if len(live) == 1 and padded == rows:
            return live[0].inputs
        joined = {}
        for name in names:
            parts = [t.inputs[name] for t in live]
            if self.pad_inner:
                parts = _pad_inner(parts)
            if padded > rows:  # the first row again, a valid input for any model
                parts.append(np.repeat(parts[0][:1], padded - rows, axis=0))
            first = parts[0]
            if len(parts) == 1:
                joined[name] = first
                continue
            dtype = first.dtype if all(p.dtype == first.dtype for p in parts) else None
            if dtype is not None and dtype.kind not in _STRING_KINDS:
                out = empty((padded, *first.shape[1:]), dtype)  # aligned: TensorFlow takes it without a copy
                np.concatenate(parts, out=out)
                joined[name] = out
            else:
                joined[name] = np.concatenate(parts)
        return joined

    def run(self, batch: _Batch) -> None:
        now = time.monotonic()
        live: list[_Task] = []
        expired: list[_Task] = []
        cancelled = late = 0
        for task in batch.tasks:
            past = task.deadline is not None and now >= task.deadline
            if not task.future.set_running_or_notify_cancel():  # cancelled by its caller
                if past:
                    late += 1  # a caller that gave up at its deadline
                else:
                    cancelled += 1
            elif past:
                expired.append(task)
            else:
                live.append(task)
        rows = sum(t.size for t in live)
        padded = self.padded_size(rows)
        error: BaseException | None = None
        results: list[dict[str, np.ndarray]] = []
        if live:
            try:
                outputs = self.target.run(batch.signature, self.join(batch.names, live, rows, padded))
                results = self.split(batch.signature, outputs, live, padded)
            except BaseException as e:  # noqa: BLE001 - every request of the batch gets it
                error = e
        with self.cond:  # the counts first, so that a caller answered sees them
            counts = self.counts
            counts["cancelled"] += cancelled
            counts["deadline_exceeded"] += late + len(expired)
            if live:
                counts["errors"] += len(live) if error is not None else 0
                counts["batches"] += 1
                counts["padding_rows"] += padded - rows
                self.batch_sizes[padded] = self.batch_sizes.get(padded, 0) + 1
        for task in expired:
            task.future.set_exception(
                DeadlineExceededError(
                    "the request's deadline passed while it waited in the Batcher's queue; it was not run"
                )
            )
        if error is None:
            for task, result in zip(live, results):
                task.future.set_result(result)
            return
        for task in live:
            task.future.set_exception(_exception_for_each(error))
        if not isinstance(error, Exception):
            raise error

    def split(
        self, signature: str, outputs: dict[str, np.ndarray], live: list[_Task], rows: int
    ) -> list[dict[str, np.ndarray]]:
        for key, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != rows:
                message = (
                    f"signature {signature!r} cannot be batched: its output {key!r} has shape {value.shape} "
                    f"for a batch of {rows} rows (dim 0 must be the batch size to split it back)"
                )
                sig = self.target.signature(signature)
                self.info(sig).error = message  # later requests fail at once
                raise InvalidArgumentError(message)
        if len(live) == 1 and live[0].size == rows:
            return [outputs]
        results: list[dict[str, np.ndarray]] = [{} for _ in live]
        for key, value in outputs.items():
            start = 0
            for task, result in zip(live, results):
                result[key] = value[start : start + task.size]
                start += task.size
        return results

    def close(self, timeout: float | None) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self.native is not None:
            self.native.close()
        end = None if timeout is None else time.monotonic() + timeout
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join(None if end is None else max(0.0, end - time.monotonic()))
        with self.cond:  # what the threads did not reach in time
            left = [t for queue in self.queues.values() for b in queue for t in b.tasks]
            self.queues.clear()
            self.enqueued_batches = 0
            self.queued_requests = 0
        for task in left:
            if task.future.set_running_or_notify_cancel():
                task.future.set_exception(ClosedError("the Batcher was closed before this request ran"))
        if self.native is not None:
            self.native.drain("the Batcher was closed before this request ran")

    def shutdown(self) -> None:
        """For a Batcher garbage-collected unclosed: the threads finish the queue and end."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self.native is not None:
            self.native.close()

    def stats(self) -> dict[str, Any]:
        with self.cond:
            out: dict[str, Any] = dict(self.counts)
            sizes = dict(self.batch_sizes)
            out["queued_requests"] = self.queued_requests
            out["queued_batches"] = self.enqueued_batches
        if self.native is not None:
            native = self.native.stats()
            for key, value in native.pop("batch_sizes").items():
                sizes[key] = sizes.get(key, 0) + value
            for key, value in native.items():
                out[key] += value
        out["batch_sizes"] = dict(sorted(sizes.items()))
        return out


def _pad_inner(parts: list[np.ndarray]) -> list[np.ndarray]:
    """Pads every array to the largest size of each dimension after dim 0, with its first element."""
    target = tuple(max(sizes) for sizes in zip(*(p.shape[1:] for p in parts)))
    out = []
    for p in parts:
        if p.shape[1:] == target:
            out.append(p)
            continue
        filler = p.reshape(-1)[0] if p.size else np.zeros((), p.dtype)[()]
        padded = np.full((p.shape[0], *target), filler, dtype=p.dtype)
        padded[tuple(slice(0, n) for n in p.shape)] = p
        out.append(padded)
    return out


class Batcher:
    """Joins concurrent requests to a signature into batches, as TF Serving's batching does.

    Args:
        target: a :class:`Signature`; a :class:`Model` (its default signature, or
            ``signature``; calls may name another with ``signature=``); or a
            :class:`ModelRepository` or ``repository.signature(name)``: a request
            runs on the version served when it came (kept open until it is answered;
            on the Python path, each batch on the version served when it starts).
        max_batch_size: the most rows in a batch. A request has 1 or more rows (dim 0
            of every input); one larger than this is refused (InvalidArgumentError).
        batch_timeout_micros: how long a batch waits for more requests after its
            first one came, when no more come (0: run what is there as soon as a
            batch thread is free; batches still form while the threads are busy).
        max_enqueued_batches: how many batches may wait; a request that would need
            one more is refused with ResourceExhaustedError.
        num_batch_threads: how many batches run at once.
        allowed_batch_sizes: increasing sizes, the last one ``max_batch_size``: each
            batch is padded up to the next one (with copies of its first row), and
            the padding is dropped from the outputs.
        pad_variable_length_inputs: join requests whose inputs differ in dimensions
            after dim 0 (same rank) by padding each input up to the largest size in
            the batch, with the request's own first element. Outputs keep the padded
            size (as they come from the model); use it only for a model that ignores
            the padding (masks, lengths as inputs).
        signature: the signature to batch, for a Model or a ModelRepository.
        run_when_idle: start a batch as soon as a slot is free, whatever its size:
            the timeout then applies only while every slot is busy, so that a lone
            request is not held for it (False, the default, is TF Serving's rule: a
            batch starts once full, or once its first request waited the timeout).

    Every output of a batched signature must have the batch size as dim 0, to be
    split back: a signature whose specs say otherwise (a scalar or fixed-size
    input or output) is refused at the first request, and one whose output
    turns out not to be split by rows fails its first batch and every request
    after it, with InvalidArgumentError.

    Errors: an invalid request raises in its caller, before it is queued; an
    error of a batch's run goes to every request of the batch (ClosedError when
    the model was closed under the Batcher). Results are the request's own
    arrays (copies of its rows) on the native path, views of the batch's
    outputs on the Python path (see the module's docstring).
    """

    def __init__(
        self,
        target: Any,
        *,
        max_batch_size: int = 32,
        batch_timeout_micros: float = 1000,
        max_enqueued_batches: int = 100,
        num_batch_threads: int = 1,
        allowed_batch_sizes: Sequence[int] | None = None,
        pad_variable_length_inputs: bool = False,
        signature: str | None = None,
        run_when_idle: bool = False,
    ) -> None:
        _check_number("max_batch_size", max_batch_size, 1)
        _check_number("batch_timeout_micros", batch_timeout_micros, 0, integer=False)
        _check_number("max_enqueued_batches", max_enqueued_batches, 1)
        _check_number("num_batch_threads", num_batch_threads, 1)
        allowed: tuple[int, ...] | None = None
        if allowed_batch_sizes is not None:
            if isinstance(allowed_batch_sizes, (str, bytes)) or not isinstance(allowed_batch_sizes, Sequence):
                raise InvalidArgumentError(
                    f"allowed_batch_sizes must be a list of sizes, got {type(allowed_batch_sizes).__name__}"
                )
            allowed = tuple(allowed_batch_sizes)
            for size in allowed:
                _check_number("each of allowed_batch_sizes", size, 1)
            if not allowed or any(a >= b for a, b in zip(allowed, allowed[1:])):
                raise InvalidArgumentError(
                    f"allowed_batch_sizes must be strictly increasing and not empty, got {list(allowed)}"
                )
            if allowed[-1] != max_batch_size:
                raise InvalidArgumentError(
                    f"the last of allowed_batch_sizes ({allowed[-1]}) must be max_batch_size ({max_batch_size})"
                )
        if not isinstance(pad_variable_length_inputs, bool):
            raise InvalidArgumentError(
                f"pad_variable_length_inputs must be True or False, got {pad_variable_length_inputs!r}"
            )
        if not isinstance(run_when_idle, bool):
            raise InvalidArgumentError(f"run_when_idle must be True or False, got {run_when_idle!r}")
        if signature is not None and not isinstance(signature, str):
            raise InvalidTypeError(f"signature must be a str, got {type(signature).__name__}")
        self.max_batch_size = max_batch_size
        self.batch_timeout_micros = batch_timeout_micros
        self.max_enqueued_batches = max_enqueued_batches
        self.num_batch_threads = num_batch_threads
        self.allowed_batch_sizes = allowed
        self.pad_variable_length_inputs = pad_variable_length_inputs
        self.run_when_idle = run_when_idle
        self._target = _Target(target, signature)
        self.signature: str = self._target.default
        s = self._s = _Scheduler(
            self._target,
            max_batch_size,
            batch_timeout_micros / 1e6,
            max_enqueued_batches,
            allowed,
            pad_variable_length_inputs,
            num_batch_threads,
            run_when_idle,
        )
        s.start_threads()
        self._finalizer = weakref.finalize(self, s.shutdown)

    @staticmethod
    def _inputs(inputs: Mapping[str, Any] | None, kw: dict[str, Any]) -> Mapping[str, Any]:
        if inputs is None:
            return kw
        if not isinstance(inputs, Mapping):
            raise InvalidTypeError(f"inputs must be a mapping of input key -> array, got {type(inputs).__name__}")
        if kw:
            raise InvalidArgumentError("pass the inputs either as a mapping or as keywords, not both")
        return inputs

    def submit(
        self,
        inputs: Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        signature: str | None = None,
        **kw_inputs: Any,
    ) -> concurrent.futures.Future[dict[str, np.ndarray]]:
        """Queues a request and returns its ``concurrent.futures.Future`` at once.

        Cancelling the future before its batch starts keeps it out of the batch.
        The deadline (``timeout`` seconds from now) is checked when the batch
        starts: a request past it gets DeadlineExceededError and is not run.
        """
        return self._s.submit_future(signature, self._inputs(inputs, kw_inputs), timeout)

    def __call__(
        self,
        inputs: Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        signature: str | None = None,
        **kw_inputs: Any,
    ) -> dict[str, np.ndarray]:
        """Runs one request in a batch and returns its outputs (a dict, like ``sig(**inputs)``).

        Args:
            inputs: input key -> array (or pass them as keywords: ``batcher(x=a)``;
                the mapping form is for inputs named ``timeout`` or ``signature``).
                Every input has the request's rows in dim 0.
            timeout: seconds before DeadlineExceededError. A request still queued
                then is not run; one whose batch is running is answered with the
                error, and its outputs are dropped.
            signature: another signature of the Model or repository.

        Raises:
            InvalidArgumentError, InvalidTypeError: an invalid request (before it is queued).
            ResourceExhaustedError: the queue is full.
            DeadlineExceededError: the timeout passed first.
            ClosedError: the Batcher, or the model under it, was closed.
            Error: the batch's run failed (every request of the batch gets the error).
        """
        return self._s.call(signature, kw_inputs if inputs is None else self._inputs(inputs, kw_inputs), timeout)

    async def acall(
        self,
        inputs: Mapping[str, Any] | None = None,
        /,
        *,
        timeout: float | None = None,
        signature: str | None = None,
        **kw_inputs: Any,
    ) -> dict[str, np.ndarray]:
        """``batcher(...)`` for asyncio: awaits the batch without blocking the event loop.

        Cancelling the awaiting task takes the request out of its batch if the
        batch has not started; if it has, the request's outputs are dropped. The
        other requests are not affected.
        """
        import asyncio

        from .offloop import within

        future = self._s.submit_future(signature, self._inputs(inputs, kw_inputs), timeout)
        return await within(
            asyncio.wrap_future(future), timeout, f"the request took more than its timeout of {timeout} s"
        )

    @property
    def stats(self) -> dict[str, Any]:
        """Counters since the Batcher started (a snapshot).

        ``requests`` queued, ``batches`` run, ``batch_sizes`` (run size, padding
        included -> how many batches), ``padding_rows``, ``queued_requests`` and
        ``queued_batches`` now, and requests ``rejected`` (queue full),
        ``deadline_exceeded`` and ``cancelled`` before their batch ran, and
        answered with a batch's ``errors``.
        """
        return self._s.stats()

    @property
    def closed(self) -> bool:
        return self._s.closing

    def close(self, timeout: float | None = None) -> None:
        """Refuses new requests (ClosedError), runs those queued, and stops the batch threads.

        Args:
            timeout: at most this many seconds to wait (None: until the queue is
                empty); requests still queued then get ClosedError and are not run.
                Batches already running finish either way. Idempotent.
        """
        self._s.close(timeout)

    async def aclose(self) -> None:
        """:meth:`close` for asyncio (waits in a worker thread)."""
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, self._s.close, None)

    def __enter__(self) -> Batcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Batcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __reduce__(self) -> Any:
        raise InvalidTypeError("a tfbundle.Batcher holds threads and a loaded model and cannot be pickled")

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"max_batch_size={self.max_batch_size}"
        return f"<tfbundle.Batcher {self.signature!r} [{state}]>"
