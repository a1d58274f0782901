"""Prometheus metrics of one API instance, in a registry of its own (several apps may live in
one process, as in tests). Gauges that ask the stores are computed when scraped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("ledger_http_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("ledger_http_request_duration_seconds", "Time to answer.",
                                 ["route"], registry=self.registry,
                                 buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        self.checks = Counter("ledger_checks", "Check answers by reason.", ["reason"],
                              registry=self.registry)
        self.decision = Histogram("ledger_check_decision_seconds",
                                  "Deciding one check over the customer's states (policy evaluation).",
                                  registry=self.registry,
                                  buckets=(.00001, .000025, .00005, .0001, .00025, .0005, .001, .005))
        self.cache = Counter("ledger_check_cache", "Check cache lookups.", ["result"],
                             registry=self.registry)
        self.events = Counter("ledger_api_events", "Envelopes posted, by outcome.", ["status"],
                              registry=self.registry)
        self.reconciliation = Gauge("ledger_reconciliation_findings",
                                    "Reconciliation findings by code, as of the last run.",
                                    ["tenant", "code"], registry=self.registry)
        self._position = Gauge("ledger_event_store_position", "Newest ledger position.",
                               registry=self.registry)
        self._watermark = Gauge("ledger_read_models_watermark", "Read models' watermark.",
                                registry=self.registry)

        # Children by label values: `labels()` takes a lock and builds a key on every call,
        # a cost the check's hot path paid several times per request (issue 10).
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def answered(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one answered request."""
        key = (method, route, str(status))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(*key),
                                              self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def checked(self, reason: str, cached: bool, seconds: float) -> None:
        """Count one check answer by reason and cache result, and time its decision."""
        key = ("check", reason, "hit" if cached else "miss")
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.checks.labels(reason),
                                              self.cache.labels(key[2]))
        children[0].inc()
        children[1].inc()
        self.decision.observe(seconds)

    def observe_stores(self, position: Callable[[], float], watermark: Callable[[], float]) -> None:
        self._position.set_function(position)
        self._watermark.set_function(watermark)

    def render(self) -> bytes:
        return generate_latest(self.registry)
