"""Prometheus metrics of one app instance (its own registry, so tests can make many apps)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "korea_qa_requests", "HTTP requests by route and status.",
            ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "korea_qa_request_seconds", "HTTP request latency.", ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry)
        self._index_metrics()
        self.encoder_calls = Gauge("korea_qa_encoder_calls", "Model calls for query encoding.",
                                   registry=self.registry)
        self.cache_hits = Gauge("korea_qa_query_cache_hits", "Query embeddings from the cache.",
                                registry=self.registry)
        self.encoder_queue = Gauge(
            "korea_qa_encoder_queue_depth", "Questions waiting for the encoder thread.",
            registry=self.registry)
        self.search_in_flight = Gauge(
            "korea_qa_search_in_flight", "Search requests being answered now.",
            registry=self.registry)
        self.search_refused = Counter(
            "korea_qa_search_refused", "Search requests refused with 503: too many in flight.",
            registry=self.registry)
        self.resource_exhausted = Counter(
            "korea_qa_resource_exhausted", "Requests answered 503 because the process ran out "
            "of open files, disk space or memory.", ["resource"], registry=self.registry)
        # process_open_fds beside process_max_fds: the descriptor bound (docs/DESIGN.md), and
        # process_resident_memory_bytes.
        ProcessCollector(registry=self.registry)

    def _index_metrics(self) -> None:
        """Gauges of the loaded index."""
        self.index_passages = Gauge(
            "korea_qa_index_passages", "Passages in the loaded index.", registry=self.registry)
        self.index_articles = Gauge(
            "korea_qa_index_articles", "Articles in the loaded index.", registry=self.registry)
        self.index_segments = Gauge(
            "korea_qa_index_segments", "Segments the loaded index reads.", registry=self.registry)
        self.index_generation = Gauge(
            "korea_qa_index_generation", "Commits of the loaded index (each write adds one).",
            registry=self.registry)
        self.index_bytes = Gauge(
            "korea_qa_index_bytes", "Size of the loaded index files.", registry=self.registry)
        self.index_build_seconds = Gauge(
            "korea_qa_index_build_seconds", "How long the last full build took.",
            registry=self.registry)
        self.ready = Gauge("korea_qa_ready", "1 when the index is loaded and verified.",
                           registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
