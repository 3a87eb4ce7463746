"""GET /metrics: the server's and its queries' figures in Prometheus' text exposition format.

Each server has its own CollectorRegistry (never prometheus_client's global one, so servers in one
process do not mix). Request counts and pull/push latencies are recorded as they happen; the
per-query figures (records and bytes in and out, processing errors, lag per source partition, poll
latency) and the log size per topic are read from the engine at scrape time, so the query loop only
keeps its own per-batch counters (ksql.engine.metrics).

Metric names (documented in the README, read by the web console):

    ksql_query_records_in_total{query_id}            records read from the query's sources
    ksql_query_records_out_total{query_id}           records written to its sink
    ksql_query_bytes_in_total{query_id}              key and value bytes read
    ksql_query_bytes_out_total{query_id}             key and value bytes written
    ksql_query_processing_errors_total{query_id}     records skipped (unreadable, failed, unwritable)
    ksql_query_consumer_lag{query_id,topic,partition}  records of the source partition not processed
    ksql_query_poll_seconds{query_id}                histogram: polls that read records
    ksql_query_state{query_id,state}                 1 for the query's current state
    ksql_http_requests_total{endpoint,method,status} requests by route template (not raw path)
    ksql_pull_query_seconds                          histogram: pull queries, request to last row
    ksql_push_query_start_seconds                    histogram: push queries, request to streaming
    ksql_push_queries_open                           push queries running now
    ksql_topic_log_size_bytes{topic}                 bytes each topic takes in the log
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ksql.engine.describe import partition_lags

if TYPE_CHECKING:
    from server.core import KsqlServer

log = logging.getLogger("ksql.server.metrics")

QUERY_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "unmatched"  # the endpoint label of a request no route matches (raw paths are unbounded)


class ServerMetrics:
    """One server's metrics registry: its own counters and histograms, and the engine's figures."""

    def __init__(self, server: KsqlServer):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("ksql_http_requests", "HTTP requests by endpoint (route template), method and "
                                "status.", ["endpoint", "method", "status"], registry=self.registry)
        self.pull_latency = Histogram("ksql_pull_query_seconds", "Pull queries: from the request to the last row.",
                                      buckets=QUERY_LATENCY_BUCKETS, registry=self.registry)
        self.push_latency = Histogram("ksql_push_query_start_seconds", "Push queries: from the request until "
                                      "the query is running and its rows can stream.",
                                      buckets=QUERY_LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(EngineCollector(server))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class EngineCollector(Collector):
    """The per-query figures, open push queries and topic sizes, read from the engine at scrape time
    (without the engine lock: each figure is one read of a counter the query loop updates)."""

    def __init__(self, server: KsqlServer):
        self.server = server

    def describe(self) -> list[Metric]:
        return []  # the metrics depend on the queries running at scrape time

    def collect(self) -> Iterator[Metric]:
        engine, log_ = self.server.engine, self.server.log
        queries = list(engine.queries.values()) if engine is not None else []
        labels = ["query_id"]
        records_in = CounterMetricFamily("ksql_query_records_in", "Records read from the query's sources.", labels=labels)
        records_out = CounterMetricFamily("ksql_query_records_out", "Records written to the query's sink.",
                                          labels=labels)
        bytes_in = CounterMetricFamily("ksql_query_bytes_in", "Key and value bytes read.", labels=labels)
        bytes_out = CounterMetricFamily("ksql_query_bytes_out", "Key and value bytes written.", labels=labels)
        errors = CounterMetricFamily("ksql_query_processing_errors", "Records skipped: unreadable, failed in "
                                     "processing or unwritable (each is in the processing log).", labels=labels)
        lag = GaugeMetricFamily("ksql_query_consumer_lag", "Records of a source partition the query has not "
                                "processed yet.", labels=["query_id", "topic", "partition"])
        polls = HistogramMetricFamily("ksql_query_poll_seconds", "Polls that read records: read, process, write "
                                      "and commit one batch per partition.", labels=labels)
        state = GaugeMetricFamily("ksql_query_state", "1 for the query's current state.",
                                  labels=["query_id", "state"])
        for query in queries:
            qid = [query.query_id]
            metrics = query.metrics
            records_in.add_metric(qid, metrics.records_in)
            records_out.add_metric(qid, metrics.records_out)
            bytes_in.add_metric(qid, metrics.bytes_in)
            bytes_out.add_metric(qid, metrics.bytes_out)
            errors.add_metric(qid, query.reporter.failures)
            polls.add_metric(qid, metrics.cumulative_buckets(), metrics.poll_seconds)
            state.add_metric([query.query_id, query.state], 1)
            if engine is not None and log_ is not None:
                for topic, partition, behind in _lags(engine, query):
                    lag.add_metric([query.query_id, topic, str(partition)], behind)
        yield from (records_in, records_out, bytes_in, bytes_out, errors, lag, polls, state)
        open_push = GaugeMetricFamily("ksql_push_queries_open", "Push queries running now.")
        open_push.add_metric([], len(self.server.push.running()))
        yield open_push
        sizes = GaugeMetricFamily("ksql_topic_log_size_bytes", "Bytes each topic takes in the log.", labels=["topic"])
        for topic, size in _topic_sizes(log_):
            sizes.add_metric([topic], size)
        yield sizes


def _lags(engine: Any, query: Any) -> list[tuple[str, int, int]]:
    try:
        return partition_lags(engine, query)
    except Exception:  # noqa: BLE001 - a topic dropped mid-scrape: no lag to report for it
        log.debug("no lag for %s", query.query_id, exc_info=True)
        return []


def _topic_sizes(log_: Any) -> list[tuple[str, int]]:
    if log_ is None:
        return []
    sizes = []
    for topic in log_.list_topics():
        try:
            size = log_.size_bytes(topic)
        except Exception:  # noqa: BLE001 - deleted mid-scrape
            continue
        if size is not None:
            sizes.append((topic, size))
    return sizes


# request paths whose route template is remembered; the rest are matched again each time
MAX_CACHED_PATHS = 4096


class RequestMetrics:
    """ASGI middleware counting each HTTP request by route template, method and response status."""

    def __init__(self, app: ASGIApp, routes: list[Any], metrics: ServerMetrics):
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self._templates: dict[str, str] = {}  # path -> route template, for the paths seen (bounded)
        self._counters: dict[tuple[str, str, str], Any] = {}  # (template, method, status) -> labelled counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = "500"

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._counter(self._endpoint(scope), scope["method"], status).inc()

    def _counter(self, template: str, method: str, status: str) -> Any:
        labels = (template, method, status)
        counter = self._counters.get(labels)
        if counter is None:  # labels() looks the child up under a lock: once per combination
            counter = self._counters[labels] = self.metrics.requests.labels(*labels)
        return counter

    def _endpoint(self, scope: Scope) -> str:
        """The template of the route the request's path matches (e.g. /status/{command_id:path})."""
        path = scope["path"]
        template = self._templates.get(path)
        if template is None:
            template = self._match(scope)
            if len(self._templates) < MAX_CACHED_PATHS:
                self._templates[path] = template
        return template

    def _match(self, scope: Scope) -> str:
        probe = {**scope, "type": "http", "method": "GET"}  # a wrong method still names the route
        for route in self.routes:
            match, _ = route.matches(probe)
            if match != Match.NONE:
                return route.path
        return UNMATCHED
