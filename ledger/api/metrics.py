"""Prometheus metrics of one API instance, in a registry of its own (several apps may live in
one process, as in tests). Gauges that ask the stores are computed when scraped, each store
asked once per scrape and its failure reported as `..._up 0`, never as a failed scrape."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ledger.api.asking import STORE_WAIT, Asks

__all__ = ["CONTENT_TYPE", "Metrics"]

log = structlog.get_logger()


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
        self._stores = _Stores()
        self.registry.register(self._stores)

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
        """`position` and `watermark` are asked at each scrape; each should fail within the
        serving process's wait (the event store's: `newest_position`)."""
        self._stores.asks = {_EVENT_STORE: position, _READ_MODELS: watermark}

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True)
class _Store:
    """One store's gauges: `{prefix}_up` and `{prefix}_{value}`."""

    prefix: str
    called: str
    value: str
    documentation: str


_EVENT_STORE = _Store("ledger_event_store", "the event store", "position",
                      "Newest ledger position.")
_READ_MODELS = _Store("ledger_read_models", "the read models", "watermark",
                      "Changes the read models applied.")


class _Stores(Collector):
    """The event store's newest position and the read models' watermark, with whether each
    answered: a store that is down is `ledger_..._up 0` and its value is left out of that
    scrape (no sample, rather than a made-up one), while every other metric is still served.
    The two are asked at once (`asking.Asks`), and the scrape waits `wait` seconds at most for
    both (one PostgreSQL outage often takes both: by default they share a database), so it
    answers within a scraper's usual 10 s timeout, a store that hangs included."""

    def __init__(self, wait: float = STORE_WAIT) -> None:
        self.asks: dict[_Store, Callable[[], float]] = {}
        self.wait = wait
        self._asking = Asks("metrics")
        self._answered: dict[_Store, bool] = {}  # the last scrape's, to log each change once

    def collect(self) -> Iterator[Metric]:
        asking = {store: self._asking.start(store.prefix, ask) for store, ask in self.asks.items()}
        deadline = time.monotonic() + self.wait
        for store, under_way in asking.items():
            answer = under_way.answer(deadline)
            value = None if isinstance(answer, BaseException) else float(answer)
            self._log_change(store, answer)
            yield GaugeMetricFamily(f"{store.prefix}_up",
                                    f"1 if {store.called} answered this scrape, else 0.",
                                    value=0.0 if value is None else 1.0)
            if value is not None:
                yield GaugeMetricFamily(f"{store.prefix}_{store.value}", store.documentation,
                                        value=value)

    def _log_change(self, store: _Store, answer: float | BaseException) -> None:
        up = not isinstance(answer, BaseException)
        if self._answered.get(store, True) != up:
            if up:
                log.info("metrics.store_answers", store=store.called)
            else:
                log.warning("metrics.store_unreachable", store=store.called,
                            error=f"{type(answer).__name__}: {answer}"[:300],
                            hint=f"its {store.value} is left out of the scrapes until it answers")
        self._answered[store] = up
