"""What the API needs from the rest of the system, as protocols: the composition root passes
real parts, tests may pass their own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from ledger.api.asking import Asks
from ledger.api.cache import EntitlementCache
from ledger.api.metrics import Metrics
from ledger.api.remembered_keys import ApiKeys
from ledger.domain.state import LicenseState
from ledger.licensefile import KeyRing
from ledger.service import Ledger
from ledger.store.eventstore import LedgerStore
from projections.changes import Changes


class ReadModels(Protocol):
    def license_state(self, tenant: str, license_id: str, as_of: datetime) -> dict[str, Any] | None: ...
    def customer_states_and_next_change(self, tenant: str, customer_id: str, as_of: datetime
                                        ) -> tuple[list[LicenseState], datetime | None]: ...
    def changes_since(self, cursor: int) -> Changes: ...
    def changes_end(self) -> int: ...
    def watermark(self) -> int: ...
    def newest_applied(self) -> int: ...


class Follower(Protocol):
    def notify(self) -> None: ...
    def wait_for(self, position: int, timeout: float) -> Any: ...
    def lag_behind(self, position: int) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def failures(self) -> int: ...


class LedgerWiring(Protocol):
    """The parts of `ledger.bootstrap.Wiring` the API uses."""

    @property
    def ledger(self) -> Ledger: ...
    @property
    def store(self) -> LedgerStore: ...


# A probe answers {"ok": bool, ...}; it may raise, which reads as not ok.
Probe = Callable[[], dict[str, Any]]


@dataclass
class Ports:
    ledger: Ledger
    store: LedgerStore
    models: ReadModels
    keyring: KeyRing
    keys: ApiKeys
    cache: EntitlementCache
    metrics: Metrics
    clock: Callable[[], datetime]
    license_validity: timedelta
    follower: Follower | None = None
    kafka_probe: Probe | None = None
    write_wait: float = 5.0
    stopping: threading.Event = field(default_factory=threading.Event)  # set at shutdown
    asks: Asks = field(default_factory=lambda: Asks("health"))  # the stores, asked by /healthz


async def ports(request: Request) -> Ports:
    """The parts this app was built with (see `create_app`); async as it is pure, so no worker
    thread is spent on it."""
    found: Ports = request.app.state.ports
    return found


PortsDep = Annotated[Ports, Depends(ports)]
