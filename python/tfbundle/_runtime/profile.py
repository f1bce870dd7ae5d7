"""Where a call spends its time: TensorFlow's step stats, summarised per op type and per node.

    >>> prof = model.profile({"x": batch}, runs=10)
    >>> print(prof.table(10))          # the ten op types that took longest
    >>> prof.op_types[0].op, prof.op_types[0].share
    >>> json.dump(prof.chrome_trace(), open("trace.json", "w"))   # chrome://tracing, Perfetto

A traced run is a normal ``TF_SessionRun`` with ``RunOptions.trace_level =
FULL_TRACE``: TensorFlow records, for every node it executes, when its kernel
started and ended (``RunMetadata.step_stats``). Tracing adds a little time to
each node, so compare op types with each other rather than with untraced
latency. Functions (TF2 ``StatefulPartitionedCall`` bodies) are inlined by
TensorFlow's optimizer and show their own nodes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _proto
from .._proto import parsing as gp
from ..errors import InvalidArgumentError

__all__ = [
    "NodeStat",
    "OpTypeStat",
    "Profile",
    "profile_run",
    "profile_signature",
    "trace_options",
]


def trace_options() -> bytes:
    """A serialized RunOptions with trace_level = FULL_TRACE."""
    return _proto.RunOptions(trace_level=_proto.RunOptions.FULL_TRACE).SerializeToString()


@dataclass(frozen=True)
class NodeStat:
    """One node's time, over the traced runs.

    Attributes:
        name: the node's name in the (optimised) graph.
        op: its op type (``MatMul``, ``_MklNativeFusedMatMul``...).
        device: the device it ran on.
        count: how many times it ran in all the traced runs.
        total_us: time in its kernel, summed over the traced runs (microseconds).
        per_run_us: ``total_us`` divided by the number of traced runs.
    """

    name: str
    op: str
    device: str
    count: int
    total_us: float
    per_run_us: float


@dataclass(frozen=True)
class OpTypeStat:
    """The time of all nodes of one op type, over the traced runs.

    Attributes:
        op: the op type.
        nodes: how many distinct nodes of this type ran.
        count: how many node executions in all the traced runs.
        total_us: kernel time summed over those (microseconds).
        per_run_us: ``total_us`` per traced run.
        share: fraction of the kernel time of all nodes (0..1).
    """

    op: str
    nodes: int
    count: int
    total_us: float
    per_run_us: float
    share: float


def _op_type(stats: Any) -> str:
    """The op type from a timeline label ``"name = Op(inputs)"``."""
    label = stats.timeline_label
    _, sep, rest = label.partition(" = ")
    if sep:
        return rest.split("(", 1)[0].strip() or "?"
    return label.split("(", 1)[0].strip() or "?"


def _node_times(stats: Any) -> tuple[float, float, float]:
    """(start, kernel time, full time) of one NodeExecStats, in microseconds."""
    if stats.all_start_nanos:
        start = stats.all_start_nanos / 1000.0
        kernel = (stats.op_end_rel_nanos - stats.op_start_rel_nanos) / 1000.0
        full = stats.all_end_rel_nanos / 1000.0
    else:
        start = float(stats.all_start_micros)
        kernel = float(stats.op_end_rel_micros - stats.op_start_rel_micros)
        full = float(stats.all_end_rel_micros)
    if kernel <= 0 and full > 0:
        kernel = full
    return start, max(kernel, 0.0), max(full, 0.0)


class Profile:
    """Per-op-type and per-node time of traced runs (see :func:`tfbundle.Model.profile`).

    Attributes:
        name: what was profiled (``"signature 'serving_default'"``).
        runs: how many traced runs were aggregated.
        wall_us: each traced run's wall time as the caller saw it (microseconds).
        outputs: the last traced run's outputs.
        nodes: :class:`NodeStat` per node, longest first.
        op_types: :class:`OpTypeStat` per op type, longest first.
        total_us: kernel time of all nodes per run (microseconds).
        run_metadata: each run's serialized ``RunMetadata`` (for TensorBoard
            or TensorFlow's own tools).
    """

    def __init__(
        self, name: str, outputs: Any, wall_us: list[float], metadata: list[bytes]
    ) -> None:
        self.name = name
        self.runs = len(metadata)
        self.wall_us = wall_us
        self.outputs = outputs
        self.run_metadata = metadata
        self._events: list[tuple[int, str, str, str, float, float, int]] = []
        per_node: dict[tuple[str, str], list[Any]] = {}
        for run, data in enumerate(metadata):
            meta = gp.parse("RunMetadata", data, f"the RunMetadata of traced run {run + 1}")
            for dev in meta.step_stats.dev_stats:
                for stats in dev.node_stats:
                    op = _op_type(stats)
                    start, kernel, full = _node_times(stats)
                    entry = per_node.setdefault((dev.device, stats.node_name), [op, 0, 0.0])
                    entry[1] += 1
                    entry[2] += kernel
                    self._events.append(
                        (run, dev.device, stats.node_name, op, start, full, stats.thread_id)
                    )
        runs = max(self.runs, 1)
        self.nodes: list[NodeStat] = sorted(
            (
                NodeStat(name, op, device, count, total, total / runs)
                for (device, name), (op, count, total) in per_node.items()
            ),
            key=lambda n: (-n.total_us, n.name),
        )
        grand = sum(n.total_us for n in self.nodes)
        by_op: dict[str, list[Any]] = {}
        for n in self.nodes:
            entry = by_op.setdefault(n.op, [0, 0, 0.0])
            entry[0] += 1
            entry[1] += n.count
            entry[2] += n.total_us
        self.op_types: list[OpTypeStat] = sorted(
            (
                OpTypeStat(op, nodes, count, total, total / runs, total / grand if grand else 0.0)
                for op, (nodes, count, total) in by_op.items()
            ),
            key=lambda o: (-o.total_us, o.op),
        )
        self.total_us = grand / runs

    def top(self, k: int = 10, by: str = "op") -> list[Any]:
        """The ``k`` op types (``by="op"``) or nodes (``by="node"``) that took longest."""
        if by not in ("op", "node"):
            raise InvalidArgumentError(f"by must be 'op' or 'node', got {by!r}")
        return (self.op_types if by == "op" else self.nodes)[: max(int(k), 0)]

    def table(self, k: int = 10, by: str = "op") -> str:
        """A plain-text table of the top ``k`` op types or nodes."""
        rows = self.top(k, by)
        if by == "op":
            lines = [f"{'op type':<32} {'nodes':>5} {'us/run':>10} {'share':>6}"]
            lines += [
                f"{o.op[:32]:<32} {o.nodes:>5} {o.per_run_us:>10.1f} {o.share:>6.1%}" for o in rows
            ]
        else:
            lines = [f"{'node':<48} {'op type':<24} {'us/run':>10}"]
            lines += [f"{n.name[-48:]:<48} {n.op[:24]:<24} {n.per_run_us:>10.1f}" for n in rows]
        median = float(np.median(self.wall_us)) if self.wall_us else 0.0
        lines.append(
            f"{self.runs} traced run(s) of {self.name}: kernels {self.total_us:.1f} us/run, "
            f"wall median {median:.1f} us"
        )
        return "\n".join(lines)

    def chrome_trace(self) -> dict[str, Any]:
        """The traced runs as a Chrome trace (``json.dump`` it; open in chrome://tracing or Perfetto).

        One process per device, one thread per TensorFlow thread, one event per node.
        """
        devices = sorted({e[1] for e in self._events})
        pid = {d: i for i, d in enumerate(devices)}
        origin = min((e[4] for e in self._events), default=0.0)
        events: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": pid[d], "args": {"name": d}} for d in devices
        ]
        for run, device, name, op, start, full, thread in self._events:
            events.append(
                {
                    "name": op,
                    "cat": "Op",
                    "ph": "X",
                    "ts": start - origin,
                    "dur": full,
                    "pid": pid[device],
                    "tid": thread,
                    "args": {"name": name, "op": op, "run": run},
                }
            )
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def __repr__(self) -> str:
        top = ", ".join(f"{o.op} {o.share:.0%}" for o in self.op_types[:3])
        return f"<tfbundle.Profile {self.name}: {self.runs} run(s), {self.total_us:.1f} us/run in kernels; {top}>"

    def __str__(self) -> str:
        return self.table()


def _check_runs(runs: int, warmup: int) -> None:
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise InvalidArgumentError(f"runs must be a positive int, got {runs!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise InvalidArgumentError(f"warmup must be a non-negative int, got {warmup!r}")


def profile_signature(
    signature: Any,
    inputs: Mapping[str, Any],
    *,
    runs: int = 1,
    warmup: int = 1,
    outputs: Sequence[str] | None = None,
) -> Profile:
    """Runs a signature with tracing on and summarises its step stats.

    Args:
        signature: a :class:`tfbundle.Signature`.
        inputs: input key -> array, as for a call.
        runs: traced runs to aggregate.
        warmup: untraced runs first, so that one-time work (graph
            preparation, kernel set-up) stays out of the figures.
        outputs: the output keys to fetch (all by default).

    Returns:
        A :class:`Profile`; ``profile.outputs`` is the last run's outputs as a dict.
    """
    _check_runs(runs, warmup)
    if not isinstance(inputs, dict):
        inputs = dict(inputs)
    keys = list(outputs) if outputs is not None else sorted(signature.outputs)
    for _ in range(warmup):
        signature.run(inputs, keys)
    metadata, wall = [], []
    arrays: list[Any] = []
    options = trace_options()  # made before the clock starts: the first one builds the message classes
    for _ in range(runs):
        start = time.perf_counter()
        arrays, meta = signature._native.run(inputs, keys, run_options=options)
        wall.append((time.perf_counter() - start) * 1e6)
        metadata.append(bytes(meta))
    return Profile(f"signature {signature.name!r}", dict(zip(keys, arrays)), wall, metadata)


def profile_run(
    model: Any,
    fetches: Sequence[str],
    feeds: Mapping[str, Any] | None = None,
    targets: Sequence[str] = (),
    *,
    runs: int = 1,
    warmup: int = 1,
) -> Profile:
    """Like :func:`profile_signature`, for ``Model.run`` by tensor names (graphs without signatures).

    Returns:
        A :class:`Profile`; ``profile.outputs`` is a dict of fetch name -> array.
    """
    _check_runs(runs, warmup)
    model._check_open()
    fetches = [fetches] if isinstance(fetches, str) else list(fetches)
    targets = [targets] if isinstance(targets, str) else list(targets)
    feeds = dict(feeds or {})
    for _ in range(warmup):
        model._native.run(fetches, feeds, targets)
    metadata, wall = [], []
    arrays: list[Any] = []
    options = trace_options()  # made before the clock starts: the first one builds the message classes
    for _ in range(runs):
        start = time.perf_counter()
        arrays, meta = model._native.run(fetches, feeds, targets, run_options=options)
        wall.append((time.perf_counter() - start) * 1e6)
        metadata.append(bytes(meta))
    return Profile(
        f"run({', '.join(fetches) or ', '.join(targets)})",
        dict(zip(fetches, arrays)),
        wall,
        metadata,
    )
