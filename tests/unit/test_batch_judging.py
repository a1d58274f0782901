"""A batch judges each envelope exactly as if it had come alone, also when the batch reuses a
license's fold after an accepted event (the cache that keeps lifecycle-heavy batches linear):
in time order, back-dated, over seat limits, after a suspension."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from tests.builders import catalog_envelope, envelope


def stream() -> list[dict[str, Any]]:
    out = [catalog_envelope(id="cat"), envelope("license.granted", "2026-02-01", id="g", customer_id="c",
                                                plan="pro", seats=2)]
    out += [envelope("seat.assigned", f"2026-02-{2 + k:02d}", id=f"s{k}", user_id=f"u{k}") for k in range(3)]
    out += [envelope("seat.released", "2026-02-10", id="r0", user_id="u0"),
            envelope("seat.assigned", "2026-02-01T12:00:00Z", id="back", user_id="u9"),  # back-dated
            envelope("license.suspended", "2026-02-11", id="sus"),
            envelope("seat.assigned", "2026-02-12", id="s-sus", user_id="u5"),
            envelope("license.reinstated", "2026-02-13", id="rei"),
            envelope("seat.assigned", "2026-02-14", id="s-late", user_id="u5"),
            envelope("seat.assigned", "2026-02-14", id="s-again", user_id="u5"),
            envelope("license.upgraded", "2026-02-15", id="up", plan="pro")]
    return out


def outcomes(url: str, batches: list[list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        return [(o.id, o.status, o.code) for b in batches for o in wiring.ledger.ingest(b, "acme")]
    finally:
        wiring.close()


def test_one_batch_gives_every_envelope_the_outcome_it_gets_alone(tmp_path: Path) -> None:
    events = stream()
    together = outcomes(f"sqlite:///{tmp_path / 'one.db'}", [events])
    alone = outcomes(f"sqlite:///{tmp_path / 'each.db'}", [[e] for e in events])
    assert together == alone
    statuses = {status for _, status, _ in together}
    assert {"accepted", "rejected"} <= statuses  # the stream exercises both
