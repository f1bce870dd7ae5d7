"""The server's Prometheus metrics (TF Serving's names where TF Serving has the metric).

- ``:tensorflow:serving:request_count{model_name, status}``: requests answered, by status code;
- ``:tensorflow:serving:request_latency{model_name, API, entrypoint}``: a histogram of the time
  from request to answer, in microseconds (``API`` is predict/classify/regress/metadata/status/
  infer; ``entrypoint`` ``REST`` for TF Serving's API, ``V2`` for KServe's);
- ``:tensorflow:serving:batching_session:processed_batch_size{model_name, batch_size}``: batches
  run by size (padding included), when batching is on;
- ``tfbundle_serving_batch_queue{model_name, unit}``: requests and batches waiting now;
- ``tfbundle_serving_requests_in_flight``: requests being answered now;
- ``tfbundle_serving_model_version_state{model_name, version, state}``: 1 per version in its
  state (LOADING, AVAILABLE, UNLOADING, END), TF Serving's ``ModelVersionStatus``.

An app made by :func:`tfbundle.serving.create_app` (and ``tfbundle serve`` with one worker) keeps
its metrics in a registry of its own: several apps in one process count apart.

With ``tfbundle serve --workers N`` (N > 1) the page shows the whole server, whichever worker
answers the scrape. The parent process makes a private temporary folder for prometheus_client's
multiprocess mode (removed when the server exits; a server killed by SIGKILL leaves it behind)
and hands it to the workers in ``$PROMETHEUS_MULTIPROC_DIR`` and ``$TFBUNDLE_SERVE_METRICS_DIR``
(:data:`MULTIPROC_ENV`; both must name it, so a ``PROMETHEUS_MULTIPROC_DIR`` set for other
reasons does not make an app read a shared folder). Each worker writes its values to its own
files there and the page adds them up (without the ``_created`` series, which prometheus_client
does not keep in this mode):

- the request counts, the latency histogram and the batch sizes are summed over the workers,
  those of workers that have exited included (counters never go down);
- requests in flight and the batch queues are gauges in mode ``livesum``: the sum over the
  workers alive now. A worker that has exited is found at the next scrape (its process is gone,
  or is no longer a child of the server) and its live gauges are removed;
- a version's state is reduced over the workers alive now, so that each version still shows one
  state, as with one worker. Each worker writes the state of each of its versions to a gauge of
  its own (mode ``liveall``, one series per worker, never on the page), and the page shows
  ``AVAILABLE`` only when every live worker serves the version (a request may reach any of
  them); ``UNLOADING`` while a worker unloads it (requests still use it there); ``END`` when
  every live worker is done with it, or when any worker has ended it (unloaded it for a newer
  version, or failed to load it) while others still hold it; else
  ``LOADING`` (a worker is loading it, or has not loaded it yet). The modes prometheus_client
  offers do not fit: ``livemin`` or ``livemax`` of a 0/1 gauge per state show a version in no
  state, or in two, while the workers disagree, and ``liveall`` adds a ``pid`` label.

The batch counts, queue depths and version states live in the workers' memory: each worker
copies them to its files every :data:`SYNC_SECONDS`, the worker answering a scrape copies its
own first, and a worker copies a model's batch counts before it answers each request of that
model, so a request answered is in every later scrape's ``processed_batch_size``. Queue depths
and version states of the other workers may be up to :data:`SYNC_SECONDS` old.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["MULTIPROC_ENV", "SYNC_SECONDS", "Metrics"]

logger = logging.getLogger("tfbundle.serving")

#: The environment variable that names the workers' shared metrics folder (set by
#: ``tfbundle serve --workers N``, with ``PROMETHEUS_MULTIPROC_DIR`` naming the same folder).
MULTIPROC_ENV = "TFBUNDLE_SERVE_METRICS_DIR"
#: Seconds between a worker's copies of its batch counts, queue depths and version states.
SYNC_SECONDS = 0.5

# TF Serving's request latency buckets are exponential from 10 us; these cover 10 us .. ~80 s.
_LATENCY_BUCKETS = tuple(10.0 * 1.8**i for i in range(28))

_SIZES = ":tensorflow:serving:batching_session:processed_batch_size"
_SIZES_HELP = "Batches run, by size (padding included)."
_QUEUE = "tfbundle_serving_batch_queue"
_QUEUE_HELP = "Requests and batches waiting to run."
_STATE = "tfbundle_serving_model_version_state"
_STATE_HELP = "1 for each model version in its state (TF Serving's ModelVersionStatus)."
# Each worker's version states, as codes, in the shared folder only (the page shows _STATE).
_WORKER_STATE = "tfbundle_serving_worker_model_version_state"
_STATE_CODES = {"LOADING": 1, "AVAILABLE": 2, "END": 3, "UNLOADING": 4}
_STATE_NAMES = {code: name for name, code in _STATE_CODES.items()}
_LIVE_FILE = re.compile(r"gauge_live[a-z]*_(\d+)\.db")
#: Request metrics keep the names of this many models the server does not serve (TF Serving
#: labels a request with the name it asked for); requests for further unknown names are counted
#: under the model name "", so that clients cannot grow the page (and the memory behind it)
#: without bound by asking for made-up names.
MAX_UNKNOWN_MODELS = 64


def shared_dir() -> str | None:
    """The workers' shared metrics folder when this process is a ``--workers`` worker, else None."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path or os.environ.get("PROMETHEUS_MULTIPROC_DIR") != path or not os.path.isdir(path):
        return None
    return path


class Metrics:
    """The metrics of one app: in a registry of their own (several apps may share a process), or,
    in a ``--workers`` worker, in the workers' shared folder."""

    def __init__(self, models: Mapping[str, Any]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        path = shared_dir()
        if path is not None:
            from prometheus_client import values

            if not getattr(values.ValueClass, "_multiprocess", False):
                # prometheus_client chose its value class before the folder was set: the values
                # would not reach the folder.
                logger.warning(
                    "prometheus_client was imported before $PROMETHEUS_MULTIPROC_DIR was set: "
                    "this worker's metrics page shows this worker only"
                )
                path = None
            else:
                # Live gauges a former process of this pid left (pid reuse) are not ours.
                _mark_dead(path, os.getpid())
        self.registry = CollectorRegistry(auto_describe=path is None)
        # In a worker the metrics are in no registry: their values are in the folder, and the
        # page reads the folder.
        own = self.registry if path is None else None
        self.requests = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ["model_name", "status"],
            registry=own,
        )
        self.latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for requests, by model, API and entrypoint.",
            ["model_name", "API", "entrypoint"],
            buckets=_LATENCY_BUCKETS,
            registry=own,
        )
        self.in_flight = Gauge(
            "tfbundle_serving_requests_in_flight",
            "Requests being answered now.",
            registry=own,
            multiprocess_mode="livesum",
        )
        self._counts: dict[tuple[str, str], Any] = {}
        self._latencies: dict[tuple[str, str, str], Any] = {}
        self._served = models
        self._unknown: set[str] = set()
        self._shared: _SharedState | None = None
        if path is None:
            self.registry.register(_ModelCollector(models))
        else:
            self._shared = _SharedState(models)
            self.registry.register(_WorkersCollector(path, self._shared))
            self._shared.start()

    def observe(self, model: str, api: str, entrypoint: str, status: str, seconds: float) -> None:
        if self._shared is not None:
            self._shared.sync_batches(model)
        # The labelled children, looked up once: labels() validates and locks at every call.
        model = self._label(model)
        count = self._counts.get((model, status))
        if count is None:
            count = self._counts[(model, status)] = self.requests.labels(model, status)
        count.inc()
        if status == "OK":
            key = (model, api, entrypoint)
            latency = self._latencies.get(key)
            if latency is None:
                latency = self._latencies[key] = self.latency.labels(model, api, entrypoint)
            latency.observe(seconds * 1e6)

    def _label(self, model: str) -> str:
        """The model_name label of a request for ``model`` (see MAX_UNKNOWN_MODELS)."""
        if model in self._served or model in self._unknown:
            return model
        if len(self._unknown) < MAX_UNKNOWN_MODELS:
            self._unknown.add(model)
            return model
        return ""

    def page(self) -> tuple[bytes, str]:
        """The text exposition (body, content type)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _batch_state(served: Any) -> tuple[dict[int, int], int, int]:
    """A model's batches run by size, and its queued requests and batches, over its batchers."""
    by_size: dict[int, int] = {}
    queued_requests = queued_batches = 0
    for stats in served.batch_stats():
        for size, count in stats.get("batch_sizes", {}).items():
            by_size[size] = by_size.get(size, 0) + count
        queued_requests += stats.get("queued_requests", 0)
        queued_batches += stats.get("queued_batches", 0)
    return by_size, queued_requests, queued_batches


class _ModelCollector:
    """Reads the batchers' counters and the versions' states at each scrape."""

    def __init__(self, models: Mapping[str, Any]) -> None:
        self._models = models

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        sizes = CounterMetricFamily(_SIZES, _SIZES_HELP, labels=["model_name", "batch_size"])
        queue = GaugeMetricFamily(_QUEUE, _QUEUE_HELP, labels=["model_name", "unit"])
        state = GaugeMetricFamily(_STATE, _STATE_HELP, labels=["model_name", "version", "state"])
        for name, served in self._models.items():
            by_size, queued_requests, queued_batches = _batch_state(served)
            for size, count in sorted(by_size.items()):
                sizes.add_metric([name, str(size)], count)
            queue.add_metric([name, "requests"], queued_requests)
            queue.add_metric([name, "batches"], queued_batches)
            for version, s in sorted(served.states().items()):
                state.add_metric([name, str(version), s], 1)
        yield sizes
        yield queue
        yield state


class _SharedState:
    """A worker's batch counts, queue depths and version states, copied to the shared folder."""

    def __init__(self, models: Mapping[str, Any]) -> None:
        from prometheus_client import Counter, Gauge

        self._models = models
        self._lock = threading.Lock()
        self._sizes_seen: dict[tuple[str, int], int] = {}
        self._states_seen: dict[tuple[str, int], int] = {}
        self._sizes = Counter(_SIZES, _SIZES_HELP, ["model_name", "batch_size"], registry=None)
        self._queue = Gauge(
            _QUEUE, _QUEUE_HELP, ["model_name", "unit"], registry=None, multiprocess_mode="livesum"
        )
        self._states = Gauge(
            _WORKER_STATE,
            "A worker's state of each model version (1 LOADING, 2 AVAILABLE, 3 END, 4 UNLOADING).",
            ["model_name", "version"],
            registry=None,
            multiprocess_mode="liveall",
        )

    def start(self) -> None:
        """Copies every :data:`SYNC_SECONDS` in a daemon thread, for as long as this object lives."""
        ref = weakref.ref(self)
        stop = threading.Event()
        weakref.finalize(self, stop.set)

        def run() -> None:
            while not stop.wait(SYNC_SECONDS):
                state = ref()
                if state is None:
                    return
                try:
                    state.sync()
                except Exception:  # the next round tries again
                    logger.debug("copying the metrics to the shared folder failed", exc_info=True)
                del state

        threading.Thread(target=run, name="tfbundle-metrics-sync", daemon=True).start()

    def sync_batches(self, model: str) -> None:
        served = self._models.get(model)
        if served is None or not served.loaded:
            return
        by_size, _, _ = _batch_state(served)
        if by_size:
            with self._lock:
                self._add_sizes(model, by_size)

    def _add_sizes(self, model: str, by_size: Mapping[int, int]) -> None:
        for size, count in by_size.items():
            key = (model, size)
            seen = self._sizes_seen.get(key, 0)
            if count != seen:
                # A batcher made anew restarts its counts: count its batches from there.
                self._sizes.labels(model, str(size)).inc(count - seen if count > seen else count)
                self._sizes_seen[key] = count

    def sync(self) -> None:
        """Copies everything of every model."""
        with self._lock:
            for name, served in self._models.items():
                if served.loaded:  # the batchers are made at the end of the load
                    by_size, queued_requests, queued_batches = _batch_state(served)
                    self._add_sizes(name, by_size)
                else:
                    queued_requests = queued_batches = 0
                self._queue.labels(name, "requests").set(queued_requests)
                self._queue.labels(name, "batches").set(queued_batches)
                for version, s in served.states().items():
                    code = _STATE_CODES.get(s)
                    if code is not None and self._states_seen.get((name, version)) != code:
                        self._states.labels(name, str(version)).set(code)
                        self._states_seen[(name, version)] = code


class _WorkersCollector:
    """The page of a ``--workers`` worker: every worker's values, from the shared folder."""

    def __init__(self, path: str, shared: _SharedState) -> None:
        self._path = path
        self._shared = shared

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.multiprocess import MultiProcessCollector

        self._shared.sync()
        live = _live_workers(self._path)
        # version -> the state code of each live worker that reports it
        codes: dict[tuple[str, str], dict[str, int]] = {}
        for metric in MultiProcessCollector(None, self._path).collect():
            if metric.name != _WORKER_STATE:
                yield metric
                continue
            for sample in metric.samples:
                labels = sample.labels
                if labels.get("pid") in live:
                    key = (labels["model_name"], labels["version"])
                    codes.setdefault(key, {})[labels["pid"]] = int(sample.value)
        state = GaugeMetricFamily(_STATE, _STATE_HELP, labels=["model_name", "version", "state"])
        for (name, version), by_worker in sorted(codes.items(), key=_version_order):
            state.add_metric([name, version, _reduce(by_worker, live)], 1)
        yield state


def _version_order(item: tuple[tuple[str, str], Any]) -> tuple[str, int, str]:
    name, version = item[0]
    return name, int(version) if version.isdigit() else -1, version


def _reduce(by_worker: Mapping[str, int], live: set[str]) -> str:
    """One state of a version from the states of the live workers (see the module's docstring)."""
    states = [_STATE_NAMES.get(by_worker.get(pid, 0)) for pid in live]
    if all(s == "AVAILABLE" for s in states):
        return "AVAILABLE"
    if "UNLOADING" in states:
        return "UNLOADING"
    if "END" in states:
        return "END"
    return "LOADING"


def _live_workers(path: str) -> set[str]:
    """The pids of the workers alive now; the live gauges of those that have exited are removed."""
    live: set[str] = set()
    parent = os.getppid()
    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_FILE.fullmatch(os.path.basename(file))
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _is_sibling(pid, parent):
            live.add(str(pid))
        else:
            _mark_dead(path, pid)
    return live


def _is_sibling(pid: int, parent: int) -> bool:
    """Whether ``pid`` is a process running now, another child of this process's parent."""
    if not os.path.isdir("/proc/self"):  # no /proc (macOS): whether the process exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; the rest follows the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    return len(fields) > 1 and fields[0] not in (b"Z", b"X") and fields[1] == str(parent).encode()


def _mark_dead(path: str, pid: int) -> None:
    from prometheus_client.multiprocess import mark_process_dead

    with contextlib.suppress(FileNotFoundError):  # another worker removed them first
        mark_process_dead(pid, path)
