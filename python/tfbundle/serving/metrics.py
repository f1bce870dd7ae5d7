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
  state (LOADING, AVAILABLE, END), TF Serving's ``ModelVersionStatus``.

Each worker process (``--workers``) counts its own requests: a scrape sees the process that
answered it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Metrics"]

# TF Serving's request latency buckets are exponential from 10 us; these cover 10 us .. ~80 s.
_LATENCY_BUCKETS = tuple(10.0 * 1.8**i for i in range(28))


class Metrics:
    """The metrics of one app, in a registry of their own (several apps may share a process)."""

    def __init__(self, models: Mapping[str, Any]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ["model_name", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for requests, by model, API and entrypoint.",
            ["model_name", "API", "entrypoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "tfbundle_serving_requests_in_flight",
            "Requests being answered now.",
            registry=self.registry,
        )
        self.registry.register(_ModelCollector(models))

    def observe(self, model: str, api: str, entrypoint: str, status: str, seconds: float) -> None:
        self.requests.labels(model, status).inc()
        if status == "OK":
            self.latency.labels(model, api, entrypoint).observe(seconds * 1e6)

    def page(self) -> tuple[bytes, str]:
        """The text exposition (body, content type)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ModelCollector:
    """Reads the batchers' counters and the versions' states at each scrape."""

    def __init__(self, models: Mapping[str, Any]) -> None:
        self._models = models

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        sizes = CounterMetricFamily(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Batches run, by size (padding included).",
            labels=["model_name", "batch_size"],
        )
        queue = GaugeMetricFamily(
            "tfbundle_serving_batch_queue",
            "Requests and batches waiting to run.",
            labels=["model_name", "unit"],
        )
        state = GaugeMetricFamily(
            "tfbundle_serving_model_version_state",
            "1 for each model version in its state (TF Serving's ModelVersionStatus).",
            labels=["model_name", "version", "state"],
        )
        for name, served in self._models.items():
            by_size: dict[int, int] = {}
            queued_requests = queued_batches = 0
            for stats in served.batch_stats():
                for size, count in stats.get("batch_sizes", {}).items():
                    by_size[size] = by_size.get(size, 0) + count
                queued_requests += stats.get("queued_requests", 0)
                queued_batches += stats.get("queued_batches", 0)
            for size, count in sorted(by_size.items()):
                sizes.add_metric([name, str(size)], count)
            queue.add_metric([name, "requests"], queued_requests)
            queue.add_metric([name, "batches"], queued_batches)
            for version, s in sorted(served.states().items()):
                state.add_metric([name, str(version), s], 1)
        yield sizes
        yield queue
        yield state
