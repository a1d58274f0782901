"""An ingest batch runs with the cyclic collector off (its objects all live until it commits),
and leaves the collector as it found it: on again after the batch, also after a failure, and
still off if the caller had turned it off."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import bootstrap
from ledger.collector import collector_paused
from ledger.settings import Settings
from tests.builders import catalog_envelope, envelope


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_a_batch_is_judged_and_recorded_with_the_collector_off_and_it_is_on_after(
        tmp_path: Path, collector_on: None) -> None:
    wiring = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}", _env_file=None))  # type: ignore[call-arg]
    seen: list[bool] = []
    write = wiring.store.write

    def watched(tenants: Any, judge: Any) -> Any:
        seen.append(gc.isenabled())
        return write(tenants, judge)

    wiring.store.write = watched  # type: ignore[method-assign]
    try:
        outcomes = wiring.ledger.ingest([catalog_envelope(id="c"), envelope(
            "license.granted", "2026-02-01", id="g", customer_id="c", plan="pro")], "acme")
    finally:
        wiring.close()
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert seen == [False]
    assert gc.isenabled()


def test_the_collector_is_on_again_after_a_block_that_raised(collector_on: None) -> None:
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("the batch failed")
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off(collector_on: None) -> None:
    gc.disable()
    with collector_paused():
        with collector_paused():  # a second batch in flight leaves it to the first
            pass
        assert not gc.isenabled()
    assert not gc.isenabled()
