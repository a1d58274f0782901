"""Rebuild the read models from the ledger's log (`ledger project --rebuild` from the ledger).

The read models are emptied and every fact is applied again from position 0, in batches that
each commit with their tracking record ("ledger", position). An interrupted rebuild is simply
started again (it empties the read models first). Readers see partial answers while it runs;
the ledger itself is untouched.
"""

from __future__ import annotations

import structlog

from ledger.store.eventstore import LedgerStore
from projections.embedded import Follower
from projections.readmodel import ReadModels

log = structlog.get_logger(__name__)


def rebuild_from_ledger(store: LedgerStore, models: ReadModels, *, batch: int = 500) -> int:
    """Empty the read models and apply the whole log; returns how many facts were applied."""
    models.clear()
    log.info("projections.rebuilding", ledger_at=store.max_position())
    applied = Follower(store, models, batch=batch).catch_up()
    log.info("projections.rebuilt", applied=applied)
    return applied
