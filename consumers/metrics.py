"""Prometheus metrics of the workers (`ledger consume`, `relay`, `project`), served on
`LEDGER_METRICS_PORT` when it is set (off by default). docs/metrics.md says what each means.

The instruments wrap the workers' parts from outside (the ledger a consumer ingests into,
the partition worker a loop hands batches to, the relay's `publish_next`) so the loops
themselves carry no measuring code. Every metric lives in the worker's own registry; gauges
that ask a store are computed when scraped."""

from __future__ import annotations

import time
from collections import Counter as TallyCounter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from consumers.partitions import PartitionWorker, take_each
from consumers.relay import Relay
from ledger.judging import Outcome
from ledger.service import Ledger

SECONDS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
SIZES = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class WorkerMetrics:
    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("ledger_worker_events", "Envelopes judged, by outcome and rejection code.",
                              ["worker", "status", "code"], registry=r)
        self.transitions = Counter("ledger_state_transitions", "Accepted ledger events, by type.",
                                   ["worker", "type"], registry=r)
        self.judge = Histogram("ledger_judge_duration_seconds",
                               "Judging and recording one batch (Ledger.ingest).", ["worker"],
                               registry=r, buckets=SECONDS)
        self.batch_size = Histogram("ledger_worker_batch_size", "Records or facts in one batch.",
                                    ["worker"], registry=r, buckets=SIZES)
        self.batch_duration = Histogram("ledger_worker_batch_duration_seconds",
                                        "Time to make one batch durable.", ["worker"], registry=r,
                                        buckets=SECONDS)
        self.lag = Gauge("ledger_consumer_lag", "Records in the partition after the last one taken.",
                         ["worker", "topic", "partition"], registry=r)
        self.failures = Counter("ledger_worker_batch_failures", "Batches that raised (then retried).",
                                ["worker"], registry=r)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve /metrics in a daemon thread (it dies with the process)."""
        start_http_server(port, addr=host, registry=self.registry)

    def gauge(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        Gauge(name, documentation, ["worker"], registry=self.registry).labels(self.worker) \
            .set_function(value)

    def observe_outcomes(self, raws: Sequence[Any], outcomes: Sequence[Outcome]) -> None:
        """Counted per batch, then one increment per label set: a label lookup per envelope was
        ~4 % of `consume`'s CPU (py-spy); the counters end at the same values."""
        events: TallyCounter[tuple[str, str]] = TallyCounter()
        transitions: TallyCounter[str] = TallyCounter()
        for raw, outcome in zip(raws, outcomes, strict=True):
            events[(outcome.status, outcome.code or "")] += 1
            if outcome.status == "accepted":
                kind = raw.get("type") if isinstance(raw, dict) else None
                transitions[str(kind or "unknown")] += 1
        for (status, code), count in events.items():
            self.events.labels(self.worker, status, code).inc(count)
        for kind, count in transitions.items():
            self.transitions.labels(self.worker, kind).inc(count)


class MeasuredLedger(Ledger):
    """The ledger as `ledger consume` uses it, with its batches counted and timed."""

    def __init__(self, inner: Ledger, metrics: WorkerMetrics):
        super().__init__(inner.store)
        self.inner, self.metrics = inner, metrics

    def ingest(self, raws: Sequence[Any], default_tenant: str | None, *, enforce_tenant: bool = False,
               text: bool = True, workflow: bool = False) -> list[Outcome]:
        with self.metrics.judge.labels(self.metrics.worker).time():
            outcomes = self.inner.ingest(raws, default_tenant, enforce_tenant=enforce_tenant, text=text,
                                         workflow=workflow)
        self.metrics.observe_outcomes(raws, outcomes)
        return outcomes


class MeasuredPartitions:
    """A partition worker whose batches are sized and timed, and the partition's lag read from
    the consumer's last fetch (`highwater`, no request: safe on the polling thread)."""

    def __init__(self, worker: PartitionWorker, consumer: Any, metrics: WorkerMetrics):
        self.worker, self.consumer, self.metrics = worker, consumer, metrics

    def tracked(self, key: str) -> int | None:
        return self.worker.tracked(key)

    def take(self, key: str, records: Sequence[Any]) -> None:
        self._measured({key: records}, lambda: self.worker.take(key, records))

    def take_all(self, batches: Mapping[str, Sequence[Any]]) -> set[str]:
        """Batches handed on as the worker takes them: together, sized and timed as one, if it
        takes several partitions' at once; else one by one (`partitions.take_each`), each
        measured."""
        together = getattr(self.worker, "take_all", None)
        if together is None:
            return set(take_each(self.take, batches))
        fenced: set[str] = set()
        self._measured(batches, lambda: fenced.update(together(batches)))
        return fenced

    def _measured(self, batches: Mapping[str, Sequence[Any]], take: Callable[[], object]) -> None:
        name = self.metrics.worker
        self.metrics.batch_size.labels(name).observe(sum(len(r) for r in batches.values()))
        started = time.perf_counter()
        try:
            take()
        except Exception:
            self.metrics.failures.labels(name).inc()
            raise
        self.metrics.batch_duration.labels(name).observe(time.perf_counter() - started)
        from kafka import TopicPartition

        for key, records in batches.items():
            topic, _, partition = key.rpartition(":")
            high = self.consumer.highwater(TopicPartition(topic, int(partition)))
            if high is not None:
                self.metrics.lag.labels(name, topic, partition).set(max(0, high - records[-1].offset - 1))


class MeasuredRelay(Relay):
    """The relay, with each page sized and timed."""

    metrics: WorkerMetrics

    def publish_next(self) -> int:
        started = time.perf_counter()
        try:
            published = super().publish_next()
        except Exception:
            self.metrics.failures.labels(self.metrics.worker).inc()
            raise
        if published:
            self.metrics.batch_size.labels(self.metrics.worker).observe(published)
            self.metrics.batch_duration.labels(self.metrics.worker).observe(time.perf_counter() - started)
        return published
