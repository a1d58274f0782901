"""The API's store gauges (`ledger.api.metrics`): each store asked once per scrape, both at
once, within one deadline; one that fails or does not answer in time is `_up 0` and its value
is left out, and the scrape still answers with everything else."""

from __future__ import annotations

import threading
import time

from prometheus_client import generate_latest

from ledger.api.metrics import Metrics


def scraped(metrics: Metrics) -> tuple[str, float]:
    began = time.monotonic()
    text = generate_latest(metrics.registry).decode()
    return text, time.monotonic() - began


def test_both_stores_answering_give_their_values_and_up_1() -> None:
    metrics = Metrics()
    metrics.observe_stores(lambda: 41, lambda: 7)
    text, _ = scraped(metrics)
    assert "ledger_event_store_up 1.0" in text and "ledger_event_store_position 41.0" in text
    assert "ledger_read_models_up 1.0" in text and "ledger_read_models_watermark 7.0" in text


def test_a_failing_store_is_up_0_without_a_value_and_the_other_still_answers() -> None:
    def refused() -> float:
        raise ConnectionError("connection refused")

    metrics = Metrics()
    metrics.observe_stores(refused, lambda: 7)
    metrics.answered("GET", "/v1/check", 200, 0.001)
    text, _ = scraped(metrics)
    assert "ledger_event_store_up 0.0" in text
    assert "ledger_event_store_position " not in text
    assert "ledger_read_models_watermark 7.0" in text
    assert 'ledger_http_requests_total{method="GET",route="/v1/check",status="200"} 1.0' in text


def test_two_stores_that_hang_are_waited_for_together_within_one_deadline() -> None:
    release = threading.Event()

    def hangs() -> float:
        release.wait(10)
        return 1.0

    metrics = Metrics()
    metrics._stores.wait = 1.0
    metrics.observe_stores(hangs, hangs)
    try:
        text, took = scraped(metrics)
    finally:
        release.set()
    assert "ledger_event_store_up 0.0" in text and "ledger_read_models_up 0.0" in text
    assert "ledger_event_store_position " not in text and "ledger_read_models_watermark " not in text
    assert took < 1.8, took  # one wait for both, not one after the other (2.0 s)


def test_a_store_still_hung_from_an_earlier_scrape_is_waited_for_not_asked_again() -> None:
    release, asked = threading.Event(), []

    def hangs() -> float:
        asked.append(1)
        release.wait(10)
        return 3.0

    metrics = Metrics()
    metrics._stores.wait = 0.2
    metrics.observe_stores(hangs, lambda: 7)
    try:
        for _ in range(2):
            text, _ = scraped(metrics)
            assert "ledger_event_store_up 0.0" in text and "ledger_read_models_up 1.0" in text
        assert len(asked) == 1  # one thread behind the hung connection, not one per scrape
    finally:
        release.set()
    assert metrics._stores._asking.settled(5)  # the hung ask returned, its answer unread
    text, _ = scraped(metrics)  # so the store is asked anew
    assert "ledger_event_store_up 1.0" in text and "ledger_event_store_position 3.0" in text
    assert len(asked) == 2
