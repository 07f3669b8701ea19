"""Prometheus metrics of one server: plain counters updated on the event loop, rendered by a collector on scrape.

A prometheus_client Counter or Histogram takes a lock per update; at tens of thousands of requests a second
that is a visible share of a small model's request. Here a request costs a few dict and list updates (all on
the event loop's thread, so no lock is needed), and `/metrics` turns them into the exposition format through
a custom collector in a registry of the server's own.

  dlc_serve_requests_total{model,status}       inference requests answered, by HTTP status
  dlc_serve_errors_total{model,kind}           failed ones: bad_request, too_large, not_found, internal
  dlc_serve_request_duration_seconds{model}    histogram: whole body received -> response sent
  dlc_serve_batch_size{model}                  histogram: rows per ONNX Runtime run
  dlc_serve_run_duration_seconds{model}        histogram: time inside ONNX Runtime per run
  dlc_serve_inflight_requests                  gauge: inference requests being read, decoded, queued or run
  dlc_serve_inflight_bytes                     gauge: their bodies' bytes, against --max-inflight-bytes
  dlc_serve_open_connections                   gauge: connections within --max-connections
  dlc_serve_connections_closed_total{reason}   connections a limit closed: header_timeout, body_timeout,
                                               body_too_slow, header_too_large (431),
                                               evicted_idle (to make room), over_limit (answered 503),
                                               refused (closed unanswered, past the 503 backlog)

The errors' kinds include busy (503: the in-flight byte budget was spent).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
UNKNOWN_MODEL = ""  # the model label of requests naming no served model (keeps the label set bounded)


class Histogram:
    """Counts per bucket (not cumulative) and a sum; `observe` is a bisect and three additions."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        running, result = 0, []
        for bound, count in zip((*map(str, map(float, self.bounds)), "+Inf"), self.counts, strict=True):
            running += count
            result.append((bound, running))
        return result


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, budget=None) -> None:
        self.budget = budget  # app.Budget: its `requests` and `used` are the in-flight gauges
        self.connections = None  # connections.ConnectionGuard, when the server runs one
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batch_size: dict[str, Histogram] = {}
        self.run_time: dict[str, Histogram] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def ok(self, model: str, seconds: float) -> None:
        self.requests[model, "200"] += 1
        histogram = self.latency.get(model)
        if histogram is None:
            histogram = self.latency[model] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)

    def failed(self, model: str, status: int, kind: str) -> None:
        self.requests[model, str(status)] += 1
        self.errors[model, kind] += 1

    def batch(self, model: str, rows: int, seconds: float) -> None:
        """One runtime call; called on the event loop when its results are handed out."""
        if model not in self.batch_size:
            self.batch_size[model] = Histogram(BATCH_BUCKETS)
            self.run_time[model] = Histogram(LATENCY_BUCKETS)
        self.batch_size[model].observe(rows)
        self.run_time[model].observe(seconds)

    def collect(self):
        """The prometheus_client collector protocol: every metric family, from the counts so far."""
        requests = CounterMetricFamily(
            "dlc_serve_requests", "Inference requests answered, by model and HTTP status.", labels=["model", "status"]
        )
        for (model, status), count in list(self.requests.items()):
            requests.add_metric([model, status], count)
        yield requests
        errors = CounterMetricFamily(
            "dlc_serve_errors", "Inference requests that failed, by model and kind of error.", labels=["model", "kind"]
        )
        for (model, kind), count in list(self.errors.items()):
            errors.add_metric([model, kind], count)
        yield errors
        for name, doc, histograms in (
            ("dlc_serve_request_duration_seconds", "Time from a request's body to its response.", self.latency),
            ("dlc_serve_batch_size", "Rows in each ONNX Runtime run.", self.batch_size),
            ("dlc_serve_run_duration_seconds", "Time inside ONNX Runtime per run.", self.run_time),
        ):
            family = HistogramMetricFamily(name, doc, labels=["model"])
            for model, histogram in list(histograms.items()):
                family.add_metric([model], histogram.buckets(), histogram.total)
            yield family
        if self.budget is not None:
            yield GaugeMetricFamily(
                "dlc_serve_inflight_requests",
                "Inference requests being read, decoded, queued or run.",
                value=self.budget.requests,
            )
            yield GaugeMetricFamily(
                "dlc_serve_inflight_bytes", "Bytes of the request bodies in flight.", value=self.budget.used
            )
        guard = self.connections
        if guard is not None:
            yield GaugeMetricFamily(
                "dlc_serve_open_connections", "Connections within --max-connections.", value=guard.admitted
            )
            closed = CounterMetricFamily(
                "dlc_serve_connections_closed", "Connections closed by a limit, by reason.", labels=["reason"]
            )
            for reason, count in list(guard.closed.items()):
                closed.add_metric([reason], count)
            yield closed

    def render(self) -> bytes:
        return generate_latest(self.registry)
