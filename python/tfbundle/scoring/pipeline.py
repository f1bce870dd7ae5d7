"""The scoring pipeline of one process: read, convert, run and write, overlapped.

For each shard (input file):

- a *read* thread reads the next batches (pyarrow decodes with the GIL released) and a *convert*
  thread turns them into feed dicts (tf.Example parsing releases the GIL too), each up to
  ``prefetch`` groups of batches ahead of the next stage (a group: about 4096 rows, see _Group);
- up to ``inflight`` groups run on a thread pool at once, each batch of a group as its own run of
  the signature (a run holds no GIL, so TensorFlow computes while Python reads and writes);
- the calling thread takes the runs' results in input order and writes them to the sink.

Every stage is timed (:class:`Stages`): ``read``, ``convert`` and ``run`` are busy seconds summed
over the threads doing them, ``write`` is the writer's, and ``wait_feed`` is how long the writer
waited for a batch to be fed (the feed side being the bottleneck shows there).

A batch that fails to convert or to run is retried row by row to find the rows at fault; with
``on_error="stop"`` the first one raises :class:`ScoreError` naming its file and row, with
``"skip"`` each goes to the errors file with its reason and the others are written.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._base.fs import open_input_file, strip_query
from ..errors import Error, InvalidArgumentError
from .convert import Feeder
from .sinks import ErrorLog, concat_rows, open_sink
from .sources import Batch, RowError, Shard

__all__ = ["Job", "Options", "ScoreError", "Stages", "score_shard"]


class ScoreError(Error, ValueError):
    """A row could not be converted or scored (with ``on_error="stop"``): ``file``, ``row``, ``reason``."""

    code = 3  # INVALID_ARGUMENT

    def __init__(self, message: str, file: str = "", row: int = -1, reason: str = "") -> None:
        super().__init__(message)
        self.file, self.row, self.reason = file, row, reason

    def __reduce__(self) -> Any:
        return (type(self), (self.message, self.file, self.row, self.reason))


@dataclass
class Job:
    """One shard to score: its input file, output file, errors file and output format."""

    input: str
    output: str
    errors: str
    format: str


@dataclass
class Options:
    batch_size: int = 256
    outputs: Sequence[str] | None = None
    rename: dict[str, str] = field(default_factory=dict)
    keep: Sequence[str] = ()
    on_error: str = "stop"
    inflight: int = 2
    prefetch: int = 4


@dataclass
class Stages:
    """Seconds per stage (busy time; see the module's docstring)."""

    read: float = 0.0
    convert: float = 0.0
    run: float = 0.0
    write: float = 0.0
    wait_feed: float = 0.0

    def add(self, other: Stages) -> None:
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in vars(self).items()}


class _NotPerRowError(InvalidArgumentError):
    """An output without one row per input row: the job's error, not a row's."""


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if isinstance(e, Error):
        return text or type(e).__name__
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class _Group:
    """Batches handed from stage to stage together: about GROUP_ROWS rows or GROUP_BYTES bytes, at
    most GROUP_BATCHES batches. A small model's batch runs in tens of microseconds, about what
    handing one item between threads costs (a queue, a future, a thread woken with the GIL), so
    the stages meet once per group; each batch still runs as its own batch of ``batch_size`` rows.
    A row error closes its group (errors keep their place among the rows)."""

    GROUP_ROWS = 4096
    GROUP_BYTES = 4 << 20
    GROUP_BATCHES = 64

    def __init__(self) -> None:
        self.items: list[Batch | RowError] = []
        self.rows = 0
        self.bytes = 0

    def add(self, item: Batch | RowError) -> bool:
        """Adds an item; True when the group is full (to be handed on)."""
        self.items.append(item)
        if isinstance(item, RowError):
            return True
        self.rows += item.n
        self.bytes += sum(getattr(v, "nbytes", 0) for v in item.columns.values())
        return (
            self.rows >= self.GROUP_ROWS
            or self.bytes >= self.GROUP_BYTES
            or len(self.items) >= self.GROUP_BATCHES
        )


def score_shard(
    sig: Any,
    spec_sig: Any,
    job: Job,
    opts: Options,
    stages: Stages,
    on_rows: Callable[[int, int], None],
) -> tuple[int, int]:
    """Scores one shard into ``job.output`` (atomically). Returns (rows written, rows failed).

    ``sig`` runs (``sig.run(feeds, outputs)``); ``spec_sig`` tells inputs, outputs and method (the
    same object but for a ModelRepository). ``on_rows(written, failed)`` follows the progress.
    """
    shard = Shard(job.input)
    feeder = Feeder(spec_sig, shard.column_names(), opts.rename, opts.keep, job.input)
    shard.columns = feeder.columns_needed()
    out_names = list(opts.outputs) if opts.outputs else list(spec_sig.outputs)
    for name in out_names:
        if name not in spec_sig.outputs:
            have = ", ".join(repr(k) for k in spec_sig.outputs)
            raise InvalidArgumentError(
                f"signature {spec_sig.name!r} has no output {name!r} (its outputs: {have})"
            )
    clash = set(out_names) & set(feeder.keep)
    if clash:
        raise InvalidArgumentError(
            f"--keep {', '.join(sorted(clash))}: an output has that name too"
        )
    skip = opts.on_error == "skip"
    sink = open_sink(job.output, job.format)
    errlog = ErrorLog(job.errors)
    feed_q: queue.Queue[Any] = queue.Queue(maxsize=max(1, opts.prefetch))
    stop = threading.Event()
    lock = threading.Lock()
    written = failed = 0

    raw_q: queue.Queue[Any] = queue.Queue(maxsize=max(1, opts.prefetch))

    def put(q: queue.Queue[Any], item: Any) -> None:
        """Queues an item for the next stage, unless the writer has stopped (then drops it)."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def reader() -> None:
        """Stage 1: batches read from the file (pyarrow and the C++ parts release the GIL), handed on
        in groups (see _Group) so that the stages meet once per group, not once per batch."""
        it = shard.batches(opts.batch_size)
        group = _Group()
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                item = next(it, None)
                stages.read += time.perf_counter() - t0
                if item is None:
                    break
                if group.add(item):
                    put(raw_q, group.items)
                    group = _Group()
            if group.items:
                put(raw_q, group.items)
            put(raw_q, None)
        except BaseException as e:  # noqa: BLE001 - handed to the writer
            put(raw_q, ("fail", e))
        finally:
            it.close()  # the file now, not at the generator's collection

    def converter() -> None:
        """Stage 2: batches converted to feeds (tf.Example parsing runs without the GIL)."""
        try:
            while not stop.is_set():
                try:
                    item = raw_q.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is None:
                    put(feed_q, ("end",))
                    return
                if isinstance(item, tuple):  # the reader failed
                    put(feed_q, item)
                    return
                entries: list[tuple[Any, ...]] = []
                for one in item:
                    if isinstance(one, RowError):
                        entries.append(("bad", one))
                        continue
                    t0 = time.perf_counter()
                    try:
                        feed, kept, err = feeder.feed(one), feeder.kept(one), None
                    except Exception as e:  # noqa: BLE001 - retried row by row by the writer
                        feed, kept, err = None, None, e
                    stages.convert += time.perf_counter() - t0
                    entries.append(("batch", one, feed, kept, err))
                put(feed_q, entries)
        except BaseException as e:  # noqa: BLE001 - handed to the writer
            put(feed_q, ("fail", e))

    def checked(outs: list[np.ndarray], n: int) -> list[np.ndarray]:
        for name, arr in zip(out_names, outs):
            if arr.ndim == 0 or arr.shape[0] != n:
                raise _NotPerRowError(
                    f"output {name!r} has shape {tuple(arr.shape)} for a batch of {n} rows: only outputs "
                    "with one row per input row can be written (choose outputs with --outputs)"
                )
        return outs

    @contextlib.contextmanager
    def running() -> Iterator[None]:
        """Adds the time inside to the run stage (from any run thread)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            with lock:
                stages.run += dt

    def run(feed: dict[str, Any], n: int) -> list[np.ndarray]:
        with running():
            outs = sig.run(feed, out_names)
        return checked(outs, n)

    def run_all(feeds: list[dict[str, Any]], ns: list[int]) -> list[Any]:
        """Runs a group's batches one after the other: each one's outputs, or its exception (timed
        once for the group: a small model's run takes tens of microseconds)."""
        results: list[Any] = []
        with running():
            for feed, n in zip(feeds, ns):
                if stop.is_set():
                    break
                try:
                    results.append(checked(sig.run(feed, out_names), n))
                except _NotPerRowError:
                    raise
                except Exception as e:  # noqa: BLE001 - that batch is retried row by row
                    results.append(e)
        return results

    def bad_row(row: int, reason: str, kept: dict[str, Any] | None) -> None:
        nonlocal failed
        if not skip:
            raise ScoreError(f"{job.input}: row {row}: {reason}", job.input, row, reason)
        errlog.add(job.input, row, reason, kept)
        failed += 1
        on_rows(0, 1)

    def one_by_one(batch: Batch) -> tuple[list[int], list[np.ndarray] | None, dict[str, Any]]:
        """Finds the rows at fault; returns the good rows, their outputs and kept columns."""
        good: list[int] = []
        outs: list[list[np.ndarray]] = []
        for i in range(batch.n):
            one = batch.take([i])
            kept_one: dict[str, Any] | None = None
            try:
                kept_one = feeder.kept(one)
                outs.append(run(feeder.feed(one), 1))
                good.append(i)
            except _NotPerRowError:
                raise
            except Exception as e:  # noqa: BLE001 - the row's reason
                bad_row(batch.row(i), _reason(e), {k: v[0] for k, v in (kept_one or {}).items()})
        if not good:
            return good, None, {}
        joined = [np.concatenate([o[j] for o in outs]) for j in range(len(out_names))]
        sub = batch.take(good)
        return good, joined, feeder.kept(sub)

    def write(columns: dict[str, Any], n: int) -> None:
        nonlocal written
        t0 = time.perf_counter()
        sink.write(columns, n)
        stages.write += time.perf_counter() - t0
        written += n
        on_rows(n, 0)

    def finish(
        group: tuple[list[tuple[Batch, dict[str, Any] | None]], Future[list[Any]] | None],
    ) -> None:
        """Writes a group's batches in order; a batch that failed to convert or run is retried row
        by row. The batches that ran are written together (one write per group, not per batch),
        up to a failed one."""
        entries, fut = group
        results = fut.result() if fut is not None else []
        done: list[tuple[dict[str, Any] | None, list[np.ndarray], int]] = []
        for i, (batch, kept) in enumerate(entries):
            outs = results[i] if i < len(results) else None
            if outs is not None and not isinstance(outs, BaseException):
                done.append((kept, outs, batch.n))
                continue
            write_all(done)
            done = []
            good, outs, kept = one_by_one(batch)
            if good:
                write_all([(kept, outs or [], len(good))])
        write_all(done)

    def write_all(parts: list[tuple[dict[str, Any] | None, list[np.ndarray], int]]) -> None:
        """Writes consecutive batches' kept columns and outputs, as one piece when every column's
        pieces are arrays of one row shape (else batch by batch, as the sinks check them)."""
        if not parts:
            return
        pieces = [{**(kept or {}), **dict(zip(out_names, outs))} for kept, outs, _ in parts]
        joined = _joined(pieces) if len(pieces) > 1 else pieces[0]
        if joined is None:
            for piece, (_, _, n) in zip(pieces, parts):
                write(piece, n)
        else:
            write(joined, sum(n for _, _, n in parts))

    def submit(entries: list[tuple[Any, ...]]) -> None:
        """Starts the runs of consecutive converted batches (as one task), queued for writing."""
        if all(e[4] is None for e in entries):
            fut = pool.submit(run_all, [e[2] for e in entries], [e[1].n for e in entries])
            pending.append(([(e[1], e[3]) for e in entries], fut))
        else:  # a batch that did not convert goes row by row, in its place
            for e in entries:
                f = pool.submit(run_all, [e[2]], [e[1].n]) if e[4] is None else None
                pending.append(([(e[1], e[3])], f))
        while len(pending) > max(1, opts.inflight):  # one queued behind the runs in flight
            finish(pending.popleft())

    threads = [
        threading.Thread(target=reader, name="tfbundle-score-read", daemon=True),
        threading.Thread(target=converter, name="tfbundle-score-convert", daemon=True),
    ]
    pool = ThreadPoolExecutor(
        max_workers=max(1, opts.inflight), thread_name_prefix="tfbundle-score-run"
    )
    pending: deque[Any] = deque()
    ok = False
    try:
        for t in threads:
            t.start()
        while True:
            t0 = time.perf_counter()
            item = feed_q.get()
            stages.wait_feed += time.perf_counter() - t0
            if isinstance(item, tuple):
                if item[0] == "end":
                    break
                raise item[1]  # "fail"
            run_of: list[tuple[Any, ...]] = []
            for entry in item:
                if entry[0] == "batch":
                    run_of.append(entry)
                    continue
                if run_of:
                    submit(run_of)
                    run_of = []
                while pending:  # keep the errors in row order with what is before them
                    finish(pending.popleft())
                for row, reason in entry[1].rows.items():
                    bad_row(row, reason, None)
            if run_of:
                submit(run_of)
        while pending:
            finish(pending.popleft())
        errlog.commit()
        sink.commit()
        ok = True
    finally:
        stop.set()
        if not ok:
            sink.abort()
            errlog.abort()
        pool.shutdown(wait=True, cancel_futures=True)
        for t in threads:
            t.join(timeout=5)
    return written, failed


def _joined(pieces: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Consecutive batches' columns as one batch, or None when a column does not join (see
    sinks.concat_rows)."""
    out: dict[str, Any] = {}
    for k in pieces[0]:
        joined = concat_rows([p[k] for p in pieces])
        if joined is None:
            return None
        out[k] = joined
    return out


def output_rows(path: str) -> int | None:
    """Rows of a finished output file, when cheap to tell (Parquet, npy)."""
    try:
        if strip_query(path).endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(open_input_file(path)).metadata.num_rows)
        if path.endswith(".npy"):
            return int(np.load(path, mmap_mode="r").shape[0])
    except Exception:  # noqa: BLE001
        return None
    return None
