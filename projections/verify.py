"""Do the read models say what a replay of the ledger says? (`ledger projections verify`)

Every license in the read models or in the ledger is answered twice at the same moment, once
from the read models and once by `Ledger.state` over the ledger's own facts, and so is every
stored state row at the moment it was written. Meaningful once the read models have caught up,
which is checked first: every fact in the ledger must have been applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ledger.service import Ledger
from ledger.store.eventstore import LedgerStore
from projections.readmodel import CATALOG, ReadModels
from schemas.times import format_time

_ABSENT = object()


def verify_projections(store: LedgerStore, ledger: Ledger, models: ReadModels,
                       as_of: datetime, tenant: str | None = None) -> list[str]:
    """The differences between read models and replay at `as_of`, first one first; [] if none.
    With `tenant`, only that tenant's licenses are compared (a tenant's compliance report names
    no other tenant's licenses); whether the read models caught up is always checked."""
    positions, in_ledger = _scan(store)
    problems = _coverage(positions, models.applied_positions())
    held = {(t, lic) for t in models.tenants() if tenant in (None, t) for lic in models.licenses(t)}
    pairs = {p for p in in_ledger if tenant in (None, p[0])} | held
    for tenant, license_id in sorted(pairs):
        where = f"tenant {tenant!r}, license {license_id!r}"
        problems += _compare(where, models.license_state(tenant, license_id, as_of),
                             ledger.state(tenant, license_id, as_of))
        stored = models.stored_state(tenant, license_id)
        if stored is not None:
            at, row = stored
            problems += _compare(f"{where} (stored row as of {format_time(at)})", row,
                                 ledger.state(tenant, license_id, at))
    return problems


def _scan(store: LedgerStore, page: int = 1000) -> tuple[list[int], set[tuple[str, str]]]:
    """Positions of the ledger's facts up to now, and its licenses."""
    top = store.max_position()
    positions: list[int] = []
    licenses: set[tuple[str, str]] = set()
    after = 0
    while facts := [f for f in store.facts_after(after, page) if (f.position or 0) <= top]:
        for fact in facts:
            positions.append(fact.position or 0)
            if fact.type != CATALOG:
                licenses.add((fact.tenant, fact.subject))
        after = positions[-1]
    return positions, licenses


def _coverage(positions: list[int], applied: set[int]) -> list[str]:
    problems = []
    missing = next((i for i, p in enumerate(positions) if p not in applied), None)
    if missing is not None:
        reached = positions[missing - 1] if missing else 0
        problems.append(f"read models are behind: applied up to {reached}, "
                        f"ledger at {positions[-1]}")
    foreign = sorted(applied.difference(positions))
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        problems.append(f"read models hold position {foreign[0]}{more}, which is no fact of "
                        "the ledger")
    return problems


def _compare(where: str, ours: dict[str, Any] | None, replayed: dict[str, Any] | None) -> list[str]:
    if replayed is None:
        return [] if ours is None else [
            f"{where}: in the read models, but a replay of the ledger has no such license"]
    if ours is None:
        return [f"{where}: missing from the read models (status {replayed['status']!r} in a "
                "replay of the ledger)"]
    return [f"{where}, field {field}: read model {_show(a)}, ledger replay {_show(b)}"
            for field, a, b in _differences(ours, replayed)]


def _differences(ours: Any, theirs: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            yield from _differences(ours.get(key, _ABSENT), theirs.get(key, _ABSENT),
                                    f"{path}.{key}" if path else str(key))
    elif ours != theirs:
        yield path, ours, theirs


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else repr(value)
