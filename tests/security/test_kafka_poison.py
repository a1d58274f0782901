"""Records JSON cannot build on `billing.events` (a 5,000-digit integer, 3,000 levels of
nesting) are rejections like any other, sent to the rejected topic with their original text;
they never stop `ledger consume` (a poison pill would stop it for good: it retries a batch)."""

from __future__ import annotations

import json

import pytest

from ledger.bootstrap import Wiring
from tests.builders import catalog_envelope
from tests.integration.kafka_topics import read_all
from tests.integration.test_kafka_inbound import consume, kafka, produce, seen, wiring  # noqa: F401

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

UNBUILDABLE = [b'{"specversion": "1.0", "data": {"seats": ' + b"9" * 5000 + b"}}",
               b"[" * 3000 + b"]" * 3000, b'{"a": ' * 3000 + b"1" + b"}" * 3000]


def test_records_json_cannot_build_are_rejected_and_the_consumer_goes_on(
        wiring: Wiring, kafka_bootstrap: str, kafka: dict[str, str]) -> None:  # noqa: F811
    sent = produce(kafka_bootstrap, kafka["inbound_topic"],
                   [*UNBUILDABLE, catalog_envelope(tenant="acme")])
    worker = consume(wiring, seen(len(sent)))
    assert worker.counts == {"rejected": len(UNBUILDABLE), "accepted": 1}
    rejected = [json.loads(r.value) for r in read_all(kafka_bootstrap, kafka["rejected_topic"])]
    assert len(rejected) == len(UNBUILDABLE)
    assert all(r["code"] == "invalid_event" and "not JSON" in r["message"] for r in rejected)
    assert sorted(r["envelope"].encode()[:20] for r in rejected) == sorted(u[:20] for u in UNBUILDABLE)
