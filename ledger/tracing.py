"""Distributed tracing with OpenTelemetry, off unless the standard `OTEL_*` variables configure
an exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
`OTEL_TRACES_EXPORTER=otlp|console`). A trace follows one billing event:

    POST /v1/events (FastAPI's own request span, continuing the request's `traceparent`) or a
    billing.events record (W3C `traceparent` in the record's headers, else the envelope's
    CloudEvents distributed-tracing extension)
      -> ledger.ingest (judging and the store; linked to the envelopes' own `traceparent`)
      -> entitlements.events publish (the relay; `traceparent` in the record's headers)
      -> entitlements.events process -> read models apply (the projection worker)

The ledger stores facts, not trace context, so the hop through the store is bridged here: with
tracing on, each accepted event's position and the `traceparent` of the span that recorded it
are kept in a small table of the ledger's database (`trace_contexts`), which the relay reads.
With tracing off nothing is written and every span is the API's no-op."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind

from ledger.judging import Outcome
from ledger.service import Ledger
from ledger.store.sql import Database

TRACER = "ledger"
SCHEMA = ["CREATE TABLE IF NOT EXISTS trace_contexts (position BIGINT PRIMARY KEY, "
          "traceparent TEXT NOT NULL)"]


def configured(environ: dict[str, str] | None = None) -> bool:
    """Whether the standard OpenTelemetry variables ask for traces to be exported."""
    env = os.environ if environ is None else environ
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none" or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(exporter or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure(service: str) -> bool:
    """Install the SDK's tracer provider with the exporter the environment names; False (and
    nothing installed) when tracing is not configured. The service name defaults to
    `ledger-<role>` (`OTEL_SERVICE_NAME` overrides it)."""
    if not configured():
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME", f"ledger-{service}")}))
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER)


def traceparent_of(span: trace.Span) -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def context_from(headers: Sequence[tuple[str, bytes]] | None, envelope: Any = None) -> otel_context.Context:
    """The trace context a billing event arrived with: its Kafka record headers, else the
    envelope's CloudEvents `traceparent`, else none (a new trace)."""
    carrier = {k.lower(): v.decode("latin-1") for k, v in headers or () if isinstance(v, bytes)}
    if "traceparent" not in carrier and isinstance(envelope, dict) \
            and isinstance(envelope.get("traceparent"), str):
        carrier = {"traceparent": envelope["traceparent"], "tracestate": str(envelope.get("tracestate", ""))}
    return propagate.extract(carrier)


class TraceContexts:
    """position -> traceparent of the span that recorded the event, in the ledger's database."""

    def __init__(self, db: Database):
        self.db = db
        db.create_tables(SCHEMA)

    @classmethod
    def open(cls, url: str) -> TraceContexts:
        return cls(Database(url))

    def close(self) -> None:
        self.db.close()

    def keep(self, positions: Sequence[int], traceparent: str) -> None:
        with self.db.transaction() as cur:
            for position in positions:
                cur.execute("INSERT INTO trace_contexts (position, traceparent) VALUES (?, ?) "
                            "ON CONFLICT (position) DO NOTHING", (position, traceparent))

    def find(self, position: int) -> str | None:
        with self.db.reading() as cur:
            row = cur.execute("SELECT traceparent FROM trace_contexts WHERE position = ?",
                              (position,)).fetchone()
        return str(row[0]) if row else None


class TracedLedger(Ledger):
    """The ledger with each batch judged and recorded in a `ledger.ingest` span (a child of the
    current span), whose context is kept for the accepted events' positions."""

    def __init__(self, inner: Ledger, contexts: TraceContexts):
        super().__init__(inner.store)
        self.inner, self.contexts = inner, contexts

    def ingest(self, raws: Sequence[Any], default_tenant: str | None, *, enforce_tenant: bool = False,
               text: bool = True, workflow: bool = False) -> list[Outcome]:
        links = [Link(c) for c in _envelope_contexts(raws)]
        with tracer().start_as_current_span("ledger.ingest", links=links) as span:
            outcomes = self.inner.ingest(raws, default_tenant, enforce_tenant=enforce_tenant, text=text,
                                         workflow=workflow)
            span.set_attribute("ledger.envelopes", len(raws))
            span.set_attribute("ledger.accepted", sum(o.status == "accepted" for o in outcomes))
            positions = [o.fact.position for o in outcomes if o.fact is not None and o.fact.position]
            parent = traceparent_of(span)
            if positions and parent and span.get_span_context().is_valid:
                self.contexts.keep(positions, parent)
        return outcomes


def _envelope_contexts(raws: Sequence[Any]) -> list[trace.SpanContext]:
    found = []
    for raw in raws:
        if isinstance(raw, dict) and isinstance(raw.get("traceparent"), str):
            span_context = trace.get_current_span(context_from(None, raw)).get_span_context()
            if span_context.is_valid:
                found.append(span_context)
    return found


class TracedProducer:
    """The relay's producer: each outbound record of a traced event is sent in an
    `entitlements.events publish` span, a child of the span that recorded the event, with
    `traceparent` in its headers; an event recorded untraced goes out as before."""

    def __init__(self, producer: Any, contexts: TraceContexts):
        self.producer, self.contexts = producer, contexts

    def send(self, topic: str, key: Any = None, value: bytes | None = None, **options: Any) -> Any:
        position = json.loads(value or b"{}").get("position")
        stored = self.contexts.find(position) if isinstance(position, int) else None
        if stored is None:  # recorded before tracing was on (or the catalog by the CLI): no trace
            return self.producer.send(topic, key=key, value=value, **options)
        with tracer().start_as_current_span(f"{topic} publish", context=propagate.extract(
                {"traceparent": stored}),
                                            kind=SpanKind.PRODUCER) as span:
            span.set_attribute("messaging.destination.name", topic)
            span.set_attribute("ledger.position", position if isinstance(position, int) else -1)
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            headers = [*(options.pop("headers", None) or []),
                       *((k, v.encode("latin-1")) for k, v in carrier.items())]
            return self.producer.send(topic, key=key, value=value, headers=headers, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)


class TracedPartitions:
    """A partition worker whose batch is processed in a `<topic> process` span that continues
    the trace of its first record that arrived with one, and the worker's step (`step`) in a
    child span linked to the other records' traces: one trace per batch continues into the
    ledger's or the read models' work, the others are linked to it."""

    def __init__(self, worker: Any, step: str):
        self.worker, self.step = worker, step

    def tracked(self, key: str) -> int | None:
        found: int | None = self.worker.tracked(key)
        return found

    def take(self, key: str, records: Sequence[Any]) -> None:
        with self._spans(key.rpartition(":")[0], records):
            self.worker.take(key, records)

    @contextmanager
    def _spans(self, topic: str, records: Sequence[Any]) -> Iterator[None]:
        arrived = [trace.get_current_span(context_from(r.headers, _envelope(r.value))).get_span_context()
                   for r in records]
        traced = [c for c in arrived if c.is_valid]
        parent = trace.set_span_in_context(trace.NonRecordingSpan(traced[0])) if traced else None
        with tracer().start_as_current_span(f"{topic} process", context=parent,
                                            kind=SpanKind.CONSUMER) as span:
            span.set_attribute("messaging.batch.message_count", len(records))
            with tracer().start_as_current_span(self.step, links=[Link(c) for c in traced[1:]]):
                yield


class TracedBatches(TracedPartitions):
    """A traced worker that takes several partitions' batches together (`ledger consume`): they
    are handed on together, in one span pair, so tracing on keeps the one transaction a poll."""

    def take_all(self, batches: Mapping[str, Sequence[Any]]) -> set[str]:
        records = [r for batch in batches.values() for r in batch]
        with self._spans(next(iter(batches)).rpartition(":")[0], records):
            fenced: set[str] = self.worker.take_all(batches)
        return fenced


def traced_partitions(worker: Any, step: str) -> TracedPartitions:
    """`worker` traced, taking batches together if it does (`consumers.partitions.take_all`)."""
    return TracedBatches(worker, step) if hasattr(worker, "take_all") else TracedPartitions(worker, step)


def _envelope(value: bytes | None) -> Any:
    try:
        return json.loads(value) if value else None
    except ValueError:
        return None

