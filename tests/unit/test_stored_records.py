"""The stored records a write hands the library are its own `StoredEvent`s, equal field for
field to the ones its constructor builds (the write fills them without the frozen `__init__`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.bootstrap import bootstrap
from ledger.domain.facts import Fact
from ledger.settings import Settings
from ledger.store import streams
from schemas.times import ZonelessTimeError


def test_a_write_s_stored_records_equal_the_library_s_own(tmp_path: Path) -> None:
    wiring = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}", _env_file=None))  # type: ignore[call-arg]
    try:
        drafts = [Fact(tenant="acme", subject="lic", type="usage.recorded",
                       effective_at=datetime(2026, 3, d, tzinfo=UTC), recorded_at=datetime(2026, 3, 9, tzinfo=UTC),
                       source="s", source_event_id=f"u{d}", data={"feature": "api_calls", "quantity": d})
                  for d in (1, 2)]
        facts, stored = wiring.store._chained(drafts, {"acme": None})  # an empty chain
    finally:
        wiring.close()
    assert all(type(s) is StoredEvent for s in stored)
    assert stored == [StoredEvent(streams.chain_stream("acme"), f.sequence, streams.fact_topic(f.type), s.state)
                      for f, s in zip(facts, stored, strict=True)]
    assert [s.originator_version for s in stored] == [1, 2]


@pytest.mark.parametrize("kind", ["seat.assigned", "usage.recorded"])
def test_a_draft_appended_with_a_zoneless_time_is_refused_and_nothing_is_written(
        tmp_path: Path, kind: str) -> None:
    """`append` (tests and tools) once stored a zoneless effective time silently shifted by
    the machine's local zone, or, for usage, failed with a bare TypeError in the index row."""
    wiring = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}", _env_file=None))  # type: ignore[call-arg]
    try:
        aware = datetime(2026, 2, 2, tzinfo=UTC)
        data = {"feature": "api_calls", "quantity": 1} if kind == "usage.recorded" else {"user_id": "u"}
        drafts = [Fact(tenant="acme", subject="lic-1", type=kind, effective_at=moment,
                       recorded_at=aware, source="tool", source_event_id=f"t{n}", data=data)
                  for n, moment in enumerate([aware, datetime(2026, 2, 3)])]
        with pytest.raises(ZonelessTimeError, match=r"drafts\[1\] \(tool/t1\): field 'effective_at' must be an aware"):
            wiring.store.append(drafts)
        assert wiring.store.max_position() == 0  # not even the first, aware, draft
        assert [f.effective_at for f in wiring.store.append(drafts[:1])] == [aware]
    finally:
        wiring.close()
