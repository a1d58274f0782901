"""The composition root: every process builds its parts here, from settings, and nothing
happens at import time. Tests pass their own settings (a temp SQLite file, a fresh schema)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store.database import SERVE_STORE_DEADLINE, infrastructure, process_recorder
from ledger.store.eventstore import LedgerStore
from ledger.store.watchdog import Watchdog


@dataclass
class Wiring:
    settings: Settings
    store: LedgerStore
    ledger: Ledger

    def close(self) -> None:
        self.store.close()


def bootstrap(settings: Settings, clock: Callable[[], datetime] | None = None, *,
              store_wait: int | None = None) -> Wiring:
    """`store_wait`: seconds to wait for an event-store connection (a serving process passes
    `database.SERVE_STORE_WAIT`; workers keep the library's 30). A serving process's
    PostgreSQL transactions are also cut at `SERVE_STORE_DEADLINE` (`watchdog`)."""
    factory = infrastructure(settings.database_url, store_wait)
    recorder = process_recorder(factory, settings.database_url)
    if store_wait is not None and hasattr(recorder, "watchdog"):
        recorder.watchdog = Watchdog(SERVE_STORE_DEADLINE,
                                     "the event store's database (LEDGER_DATABASE_URL)",
                                     "event-store-watchdog")
    store = LedgerStore(recorder, clock=clock, factory=factory)
    return Wiring(settings=settings, store=store, ledger=Ledger(store))
