"""One billing event traced end to end across the real Kafka hops, with the SDK's in-memory
exporter: billing's span -> billing.events process -> ledger.ingest -> entitlements.events
publish -> entitlements.events process -> read models apply, every span the child of the one
before, in one trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from consumers.clients import ensure_topics, group_consumer, idempotent_producer
from consumers.inbound import InboundConsumer
from consumers.partitions import PartitionLoop
from consumers.project import Projector
from consumers.relay import Relay
from ledger import tracing
from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from projections.readmodel import ReadModels
from tests.builders import catalog_envelope, envelope
from tests.conftest import unique

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider, once (OpenTelemetry allows setting it only once)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    yield memory
    memory.shutdown()  # later tests' spans (FastAPI traces every request) are not kept


def test_a_billing_event_is_one_trace_through_consume_the_store_the_relay_and_the_projection(
        exporter: InMemorySpanExporter, tmp_path: Path, kafka_bootstrap: str) -> None:
    inbound, rejected, outbound = unique("in"), unique("rej"), unique("out")
    ensure_topics(kafka_bootstrap, [inbound, rejected, outbound], partitions=1)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    wiring.ledger.ingest([catalog_envelope()], "acme")  # untraced: the catalog was there before
    contexts = tracing.TraceContexts.open(url)
    models = ReadModels.open(f"sqlite:///{tmp_path / 'read.db'}")
    exporter.clear()

    with tracing.tracer().start_as_current_span("billing send") as billing:
        headers = list(_injected().items())
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    grant = envelope("license.granted", "2026-03-01", "lic-1", tenant="acme", customer_id="c-1", plan="pro")
    producer.send(inbound, key=b"lic-1", value=json.dumps(grant).encode(),
                  headers=[(k, v.encode()) for k, v in headers])
    producer.flush()
    producer.close()

    consumer = group_consumer(kafka_bootstrap, unique("g"), "test-consume")
    out = idempotent_producer(kafka_bootstrap, "test")
    consume = InboundConsumer(tracing.TracedLedger(wiring.ledger, contexts), out, rejected)
    PartitionLoop(consumer, inbound, tracing.traced_partitions(consume, "ledger consume"),
                  max_idle=3).run()
    consumer.close()
    assert consume.counts["accepted"] == 1

    Relay(wiring.store, tracing.TracedProducer(out, contexts), outbound).run(max_idle=1)
    out.close()
    projecting = group_consumer(kafka_bootstrap, unique("g"), "test-project")
    PartitionLoop(projecting, outbound,
                  tracing.traced_partitions(Projector(models), "read models apply"), max_idle=3).run()
    projecting.close()
    assert models.license_state("acme", "lic-1", datetime.now(UTC)) is not None

    spans = {s.name: s for s in exporter.get_finished_spans()}
    chain = [f"{inbound} process", "ledger consume", "ledger.ingest", f"{outbound} publish",
             f"{outbound} process", "read models apply"]
    assert set(chain) <= set(spans), sorted(spans)
    parent: ReadableSpan | trace.Span = billing
    for name in chain:
        span = spans[name]
        assert span.context is not None and span.parent is not None, name
        assert span.context.trace_id == billing.get_span_context().trace_id, name
        assert span.parent.span_id == parent.get_span_context().span_id, name
        parent = span
    assert spans["ledger.ingest"].attributes["ledger.accepted"] == 1
    models.close()
    contexts.close()
    wiring.close()


def _injected() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def test_a_posted_event_is_traced_from_the_request_into_the_ledger_and_links_the_envelopes_trace(
        exporter: InMemorySpanExporter, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ledger.api import ApiKeys, create_app
    from ledger.licensefile import KeyRing
    from ledger.licensefile.keys import SigningKey
    from projections.embedded import Follower

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    contexts = tracing.TraceContexts.open(url)
    wiring.ledger = tracing.TracedLedger(wiring.ledger, contexts)
    models, keys = ReadModels.open(url), ApiKeys.open(url)
    key = SigningKey.generate()
    app = create_app(wiring, models, KeyRing([key], key.key_id), keys=keys,
                     follower=Follower(wiring.store, models))
    admin = keys.create("acme", "admin").key
    exporter.clear()
    with tracing.tracer().start_as_current_span("billing request") as caller:
        headers = {"Authorization": f"Bearer {admin}", **_injected()}
    with tracing.tracer().start_as_current_span("billing event") as sender:
        grant = envelope("license.granted", "2026-03-01", "lic-1", customer_id="c-1", plan="pro")
        grant["traceparent"] = _injected()["traceparent"]
    answer = TestClient(app).post("/v1/events", json=[catalog_envelope(), grant], headers=headers)
    assert [r["status"] for r in answer.json()["results"]] == ["accepted", "accepted"]

    finished = exporter.get_finished_spans()
    spans = {s.name: s for s in finished}
    request, ingest = spans["POST /v1/events"], spans["ledger.ingest"]  # FastAPI's request span
    assert request.parent is not None and request.parent.span_id == caller.get_span_context().span_id
    by_id = {s.context.span_id: s for s in finished if s.context is not None}
    ancestors, span = [], ingest
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        ancestors.append(span.name)
    assert "POST /v1/events" in ancestors
    assert [link.context.span_id for link in ingest.links] == [sender.get_span_context().span_id]
    positions = [p for p in range(1, wiring.store.max_position() + 1) if contexts.find(p)]
    assert len(positions) == 2  # both accepted events keep the ingest span's context for the relay
    keys.close()
    models.close()
    contexts.close()
    wiring.close()
